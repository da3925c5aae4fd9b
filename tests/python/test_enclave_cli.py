"""The enclave and placement commands end to end, as a user runs them:
serdab ca, serdab infer --enclave sim, serdab profile and serdab plan."""

import json
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import serdab_testing as st  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_CLUSTER = os.path.join(REPO, "deploy", "examples", "cluster.yaml")


def test_infer_in_a_sim_enclave_with_a_deployment_root():
    with st.temp_dir() as tmp:
        ca, platform = os.path.join(tmp, "ca"), os.path.join(tmp, "platform")
        st.serdab_ok(["ca", "init", "--out", ca])
        assert stat.S_IMODE(os.stat(os.path.join(ca, "root.key")).st_mode) == 0o600
        st.serdab_ok(["ca", "issue-platform", "--ca", ca, "--out", platform, "--id", "edge-1"])
        model = os.path.join(tmp, "tiny.onnx")
        st.serdab_zoo("tiny", model, seed=3)
        x = st.random_input([1, 3, 32, 32], seed=4)
        st.write_tensor(os.path.join(tmp, "x.bin"), x)
        common = ["infer", "--model", model, "--input", os.path.join(tmp, "x.bin")]
        st.serdab_ok(common + ["--output", os.path.join(tmp, "native.bin")])
        r = st.serdab_ok(common + ["--output", os.path.join(tmp, "enclave.bin"), "--enclave",
                                   "sim", "--ca", ca, "--platform", platform, "--epc-mib", "16",
                                   "--stats"])
        stats = json.loads(r.stderr.strip().splitlines()[-1])
        for key in ("page_faults", "evictions", "ecalls", "mrenclave"):
            assert key in stats, f"--stats lacks {key}: {stats}"
        assert stats["ecalls"] >= 4, stats
        native = np.fromfile(os.path.join(tmp, "native.bin"), dtype=np.float32)
        enclave = np.fromfile(os.path.join(tmp, "enclave.bin"), dtype=np.float32)
        assert np.array_equal(native, enclave), "the enclave's output differs from native"


def test_infer_refuses_a_platform_from_another_root():
    with st.temp_dir() as tmp:
        for name in ("ca1", "ca2"):
            st.serdab_ok(["ca", "init", "--out", os.path.join(tmp, name)])
        platform = os.path.join(tmp, "platform")
        st.serdab_ok(["ca", "issue-platform", "--ca", os.path.join(tmp, "ca2"), "--out",
                      platform])
        model = os.path.join(tmp, "tiny.onnx")
        st.serdab_zoo("tiny", model)
        st.write_tensor(os.path.join(tmp, "x.bin"), st.random_input([1, 3, 32, 32], seed=1))
        r = st.run_serdab(["infer", "--model", model, "--input", os.path.join(tmp, "x.bin"),
                           "--output", os.path.join(tmp, "y.bin"), "--enclave", "sim",
                           "--ca", os.path.join(tmp, "ca1"), "--platform", platform])
        assert r.returncode == 1, r.describe()
        assert "untrusted_platform" in r.stderr, r.describe()
        assert len(r.stderr.strip().splitlines()) == 1, r.describe()


def test_signed_enclave_and_platform_types():
    with st.temp_dir() as tmp:
        ca, platform = os.path.join(tmp, "ca"), os.path.join(tmp, "platform")
        st.serdab_ok(["ca", "init", "--out", ca])
        r = st.serdab_ok(["ca", "issue-platform", "--ca", ca, "--out", platform])
        assert "(sim)" in r.stdout, r.describe()
        signer = os.path.join(tmp, "signer")
        st.serdab_ok(["enclave", "keygen", "--out", signer])
        assert stat.S_IMODE(os.stat(os.path.join(signer, "signer.key")).st_mode) == 0o600
        sig = os.path.join(tmp, "enclave.sig")
        signed = st.serdab_ok(["enclave", "sign", "--key", signer, "--epc-mib", "16", "--svn",
                               "3", "--out", sig])
        measured = st.serdab_ok(["enclave", "measure", "--epc-mib", "16"])
        mrenclave = measured.stdout.split()[1]
        assert f"mrenclave {mrenclave}" in signed.stdout, (signed.describe(), measured.describe())

        model = os.path.join(tmp, "tiny.onnx")
        st.serdab_zoo("tiny", model, seed=3)
        st.write_tensor(os.path.join(tmp, "x.bin"), st.random_input([1, 3, 32, 32], seed=4))
        common = ["infer", "--model", model, "--input", os.path.join(tmp, "x.bin"), "--output",
                  os.path.join(tmp, "y.bin"), "--enclave", "sim", "--ca", ca]
        r = st.serdab_ok(common + ["--platform", platform, "--epc-mib", "16",
                                   "--enclave-signature", sig, "--stats"])
        stats = json.loads(r.stderr.strip().splitlines()[-1])
        assert stats["mrenclave"] == mrenclave and stats["isv_svn"] == 3, stats
        assert stats["mrsigner"] != "0" * 64 and not stats["debug"], stats
        assert stats["backend"] == "sim" and stats["protects_data_from_host"] is False, stats

        # The signature covers the configuration: another EPC size is refused.
        r = st.run_serdab(common + ["--platform", platform, "--epc-mib", "24",
                                    "--enclave-signature", sig])
        assert r.returncode == 1 and "since it was signed" in r.stderr, r.describe()
        # A platform certified as hardware does not run the sim backend.
        hw = os.path.join(tmp, "hw")
        r = st.serdab_ok(["ca", "issue-platform", "--ca", ca, "--out", hw, "--type", "sgx"])
        assert "(sgx)" in r.stdout, r.describe()
        r = st.run_serdab(common + ["--platform", hw])
        assert r.returncode == 1 and "certified as sim" in r.stderr, r.describe()
        r = st.run_serdab(["ca", "issue-platform", "--ca", ca, "--out", hw, "--type", "tdx"])
        assert r.returncode == 2 and "--type" in r.stderr, r.describe()


def test_profile_and_plan():
    with st.temp_dir() as tmp:
        os.environ["SERDAB_CACHE"] = os.path.join(tmp, "cache")
        model = os.path.join(tmp, "resnet18.onnx")
        st.serdab_zoo("resnet18", model)
        profile = os.path.join(tmp, "resnet18.yaml")
        r = st.serdab_ok(["profile", "--model", model, "--out", profile, "--enclave", "sim",
                          "--repeat", "1"], timeout=600)
        assert "kind: enclave" in r.stdout and "page_swap_ns" in r.stdout, r.describe()
        again = st.serdab_ok(["profile", "--model", model, "--out", profile + ".2", "--enclave",
                              "sim", "--repeat", "1"])
        assert "using the cached profile" in again.stderr, again.describe()
        with open(profile) as a, open(profile + ".2") as b:
            assert a.read() == b.read(), "the cached profile differs from the measured one"
        r = st.serdab_ok(["plan", "--profile", profile, "--cluster", EXAMPLE_CLUSTER,
                          "--privacy-layers", "4"])
        assert "placement of 'resnet18' for throughput" in r.stdout, r.describe()
        for baseline in ("one enclave", "equal-layer split", "greedy EPC fill"):
            assert baseline in r.stdout, r.describe()
        r = st.serdab_ok(["plan", "--profile", profile, "--cluster", EXAMPLE_CLUSTER,
                          "--objective", "latency", "--json"])
        plan = json.loads(r.stdout)
        assert plan["stages"], plan


def test_plan_names_an_impossible_constraint():
    with st.temp_dir() as tmp:
        os.environ["SERDAB_CACHE"] = os.path.join(tmp, "cache")
        model = os.path.join(tmp, "tiny.onnx")
        st.serdab_zoo("tiny", model)
        cluster = os.path.join(tmp, "cluster.yaml")
        with open(cluster, "w") as f:
            f.write("workers:\n  - {name: small, kind: enclave, epc_bytes: 4096, "
                    "page_swap_ns: 20000, ecall_ns: 3000, aead_bytes_per_s: 1e9}\n")
        r = st.run_serdab(["plan", "--model", model, "--cluster", cluster, "--no-paging"])
        assert r.returncode == 1, r.describe()
        assert "paging is disallowed" in r.stderr and "4.0 KiB" in r.stderr, r.describe()
        with open(cluster, "w") as f:
            f.write("workers:\n  - {name: small, kind: enclave, epc_bytes: many}\n")
        r = st.run_serdab(["plan", "--model", model, "--cluster", cluster])
        assert r.returncode == 1 and "cluster.yaml:2" in r.stderr, r.describe()


if __name__ == "__main__":
    st.run_tests(globals())
