"""The data plane against a hostile host: every worker of the test cluster
advertises a proxy (serdab-tamper-proxy) in front of itself, which relays
every RPC to it under the caller's own credentials, so TLS is out of the way.
Between two stages the proxy flips a bit in a frame, replays one or swaps two;
the frame is refused, counted, and the stream goes on with nothing accepted
twice. Everything the proxies relayed, and every worker process's memory
outside its emulated EPC, is then searched for a frame's pixels and for
runs of each layer's weights: none may be there, while the same search finds
the weights inside the enclaves' EPC. Last, a stale certificate: the CLI and
a worker refuse it with the file and the date."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import serdab_testing as st  # noqa: E402
import test_control_plane as cp  # noqa: E402
import test_data_plane as dp  # noqa: E402

import numpy as np  # noqa: E402

# Bytes per needle: 16 consecutive float32 values, which no other data in
# a process holds by chance.
NEEDLE_BYTES = 64
ATTACKED_STAGE = 1  # the hop from the first stage's worker into the second


class ProxiedCluster(cp.Cluster):
    """The control-plane test cluster with a tamper proxy in front of each
    worker; the proxies read their orders from one actions file."""

    def __init__(self):
        super().__init__()
        self.actions = self.path("actions.txt")
        self.proxy_ports = {}

    def act(self, line):
        tmp = self.actions + ".tmp"
        with open(tmp, "w") as f:
            f.write(line)
        os.replace(tmp, self.actions)

    def worker_args(self, name):
        """Starts the proxy in front of worker `name` (once: a restarted
        worker keeps its proxy) and has the worker advertise it."""
        key = name + "-proxy"
        if key not in self.procs or self.procs[key].poll() is not None:
            port_file = self.path(key + ".port")
            if os.path.exists(port_file):
                os.remove(port_file)
            identities = [f"orch={self.path('orch')}/node", f"alice={self.path('admin')}/user"]
            identities += [f"{n}={self.path('tls-' + n)}/node" for n, _ in self.WORKERS]
            argv = [cp.binary("serdab-tamper-proxy"), "--listen", "127.0.0.1:0",
                    "--port-file", port_file, "--tls-dir", self.path("tls-" + name),
                    "--upstream-port-file", self.path(name + ".port"),
                    "--stage", str(ATTACKED_STAGE), "--actions", self.actions,
                    "--record", self.path(name + ".record")]
            for identity in identities:
                argv += ["--identity", identity]
            self._start(key, argv)
            self.proxy_ports[name] = self._port(key)
        return ["--advertise", f"127.0.0.1:{self.proxy_ports[name]}"]


def weight_needles(c):
    """A run from the middle of each layer's weight matrix, as the ONNX file
    (and PyTorch) lay them out."""
    script = f"""
import numpy as np, onnx, sys
from onnx import numpy_helper
model = onnx.load({c.path('fc3.onnx')!r})
for init in model.graph.initializer:
    a = numpy_helper.to_array(init).astype(np.float32)
    if a.ndim == 2:
        np.save({c.path('')!r} + init.name.replace('/', '_') + '.npy', a)
"""
    st.run_command(["/usr/bin/python3", "-c", script], timeout=120)
    needles = {}
    for name in sorted(os.listdir(c.dir)):
        if name.endswith(".npy"):
            w = np.load(c.path(name))
            row = w.shape[0] // 2
            run = w[row, 100:100 + NEEDLE_BYTES // 4]
            needles["weights " + name[:-4]] = run.tobytes()
    assert len(needles) == 3, needles.keys()
    return needles


def input_needle(path):
    frame = np.fromfile(path, dtype=np.float32)
    middle = frame.size // 2
    return frame[middle:middle + NEEDLE_BYTES // 4].tobytes()


PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_runs(pagemap, start, end):
    """The [begin, end) runs of pages in [start, end) that are in memory
    (or swapped out): pages never touched hold nothing to find."""
    pages = (end - start) // PAGE
    pagemap.seek(start // PAGE * 8)
    entries = np.frombuffer(pagemap.read(pages * 8), dtype=np.uint64)
    there = ((entries >> np.uint64(62)) & np.uint64(3)) != 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], there.astype(np.int8), [0]))))
    for begin, stop in zip(edges[::2], edges[1::2]):
        yield start + int(begin) * PAGE, start + int(stop) * PAGE


def process_memory(pid):
    """The memory of `pid`, split into what its emulated EPCs map (each
    enclave's pages: what lies between a pair of "serdab-epc" label mappings)
    and everything else (the host's: heap, stacks, gRPC buffers, the EPC's
    sealed backing store)."""
    with open(f"/proc/{pid}/maps") as maps:
        lines = [line.split() for line in maps]
    spans = [[int(x, 16) for x in f[0].split("-")] + [f[5] if len(f) > 5 else ""] for f in lines]
    labels = [(start, end) for start, end, path in spans if "serdab-epc" in path]
    assert len(labels) % 2 == 0, labels
    enclaves = [(labels[i][1], labels[i + 1][0]) for i in range(0, len(labels), 2)]
    epc, host = [], []
    with open(f"/proc/{pid}/mem", "rb", 0) as mem, open(f"/proc/{pid}/pagemap", "rb", 0) as pagemap:
        for start, end, path in spans:
            if path in ("[vvar]", "[vsyscall]") or "serdab-epc" in path:
                continue
            inside = any(lo <= start < hi for lo, hi in enclaves)
            for begin, stop in resident_runs(pagemap, start, end):
                try:
                    mem.seek(begin)
                    data = mem.read(stop - begin)
                except OSError:
                    continue
                (epc if inside else host).append(data)
    return b"".join(epc), b"".join(host)


def find(haystack, needles):
    return sorted(name for name, needle in needles.items() if needle in haystack)


def expire_certificate(c, source_dir, out_dir, stem):
    """A copy of `source_dir` whose certificate (STEM.crt) the deployment's
    CA signed but which expired yesterday: a stale certificate."""
    shutil.copytree(source_dir, out_dir)
    crt = os.path.join(out_dir, stem + ".crt")
    script = f"""
import datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
ca_key = serialization.load_pem_private_key(open({c.path('root', 'ca.key')!r}, 'rb').read(), None)
ca = x509.load_pem_x509_certificate(open({c.path('root', 'ca.crt')!r}, 'rb').read())
old = x509.load_pem_x509_certificate(open({crt!r}, 'rb').read())
now = datetime.datetime.utcnow()
builder = (x509.CertificateBuilder().subject_name(old.subject).issuer_name(ca.subject)
           .public_key(old.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=30))
           .not_valid_after(now - datetime.timedelta(days=1)))
for ext in old.extensions:
    builder = builder.add_extension(ext.value, ext.critical)
cert = builder.sign(ca_key, hashes.SHA256())
open({crt!r}, 'wb').write(cert.public_bytes(serialization.Encoding.PEM))
"""
    st.check_ok(st.run_command(["/usr/bin/python3", "-c", script], timeout=60))
    return out_dir


def stream_file(c, plan, video, extra=()):
    return c.cli(["stream", "-f", plan, "--source", video, "--status", "off", *extra])


def summary_counts(stderr):
    line = next(s for s in stderr.splitlines() if s.strip().startswith("cam1 "))
    m = re.search(r"in (\d+)\s+out (\d+)\s+dropped (\d+)\s+rejected (\d+)", line)
    assert m, line
    return tuple(int(x) for x in m.groups())


def test_a_hostile_host_gets_nothing():
    with ProxiedCluster() as c:
        plan = dp.apply_pipeline(c)
        video = dp.make_video(c.path("door.mp4"), 2)
        inputs = c.path("inputs")
        os.mkdir(inputs)

        # Through the proxies untouched: every frame, once, in order.
        r = st.check_ok(stream_file(c, plan, video, ["--save-inputs", inputs]))
        dp.check_one_result_per_frame(r, "cam1", 30)

        # A bit flipped between stages 0 and 1: that frame is refused and
        # counted, every other frame gets its result.
        c.act("flip 5")
        r = st.check_ok(stream_file(c, plan, video))
        frames = [x["frame"] for x in dp.results(r.stdout)]
        assert frames == [f for f in range(30) if f != 5], (frames, r.describe())
        assert summary_counts(r.stderr) == (30, 29, 0, 1), r.stderr

        # A frame sent twice: the next stage processes the first copy and
        # refuses the second. Both answers carry the frame's number on that
        # pipe, and the previous stage passes on whichever comes first:
        # usually the refusal, as the result has a stage still to cross.
        # Either way the frame is never answered twice.
        c.act("replay 7")
        r = st.check_ok(stream_file(c, plan, video))
        frames = [x["frame"] for x in dp.results(r.stdout)]
        assert frames in (list(range(30)), [f for f in range(30) if f != 7]), frames
        assert summary_counts(r.stderr) == (30, len(frames), 0, 30 - len(frames)), r.stderr

        # Two frames swapped: the later one is processed, the earlier one,
        # now older than what the session accepted, refused; nothing twice.
        c.act("reorder 9")
        r = st.check_ok(stream_file(c, plan, video))
        frames = [x["frame"] for x in dp.results(r.stdout)]
        assert frames == [f for f in range(30) if f != 9], (frames, r.describe())
        assert summary_counts(r.stderr) == (30, 29, 0, 1), r.stderr
        c.act("")

        # A stale certificate: one clear line naming the file and the date,
        # before any connection.
        expire_certificate(c, c.path("admin"), c.path("stale-admin"), "user")
        r = c.cli(["stream", "-f", plan, "--source", video], "stale-admin")
        cp.expect_failure(r, "user.crt: the certificate expired on")
        stale = expire_certificate(c, c.path("tls-edge-1"), c.path("stale-node"), "node")
        r = st.run_command([cp.binary("serdab-worker"), "--platform", c.path("plat-edge-1"),
                            "--state-dir", c.path("stale-state"), "--tls-dir", stale,
                            "--listen", "127.0.0.1:0",
                            "--orchestrator", f"127.0.0.1:{c.orchestrator_port}"], timeout=60)
        assert r.returncode != 0 and "node.crt: the certificate expired on" in r.stdout + r.stderr, \
            r.describe()

        # What the hosts saw. The proxies relayed everything the workers
        # received and sent (provisioning, sessions, frames, results).
        needles = weight_needles(c)
        needles["a frame's pixels"] = input_needle(os.path.join(inputs, "cam1-0.f32"))
        for name, _ in c.WORKERS:
            with open(c.path(name + ".record"), "rb") as f:
                relayed = f.read()
            assert len(relayed) > 30 * 3 * dp.HEIGHT * dp.WIDTH * 4, (name, len(relayed))
            assert find(relayed, needles) == [], (name, find(relayed, needles))

        # Each worker's memory outside its EPC holds none of it; inside the
        # EPCs the search finds every layer's weights, so it would have
        # found them outside too.
        found_in_epc = set()
        for name, _ in c.WORKERS:
            epc, host = process_memory(c.procs[name].pid)
            assert len(host) > 1 << 20, (name, len(host))
            assert find(host, needles) == [], (name, find(host, needles))
            found_in_epc.update(find(epc, needles))
        weights = sorted(n for n in needles if n.startswith("weights"))
        assert sorted(found_in_epc & set(weights)) == weights, found_in_epc


if __name__ == "__main__":
    st.run_tests(globals())
