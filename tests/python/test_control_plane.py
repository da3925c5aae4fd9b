"""The control plane end to end: a real serdab-orchestrator and three real
serdab-worker daemons on loopback ports, talking gRPC over mutual TLS, driven
through the serdab CLI as a user would.

Covers registration and liveness, who may do what (admin, viewer, a
certificate from another root), apply/get/describe/delete/watch, plan errors
(file:line:col and field, nothing stored, including plans no placement
satisfies), attestation verdicts, apply --wait to Ready through the
coordinator enclave (profile, place, provision, wire), no weight bytes on the
orchestrator's side, and what happens when the orchestrator is killed, a
stage's worker is lost and comes back, or restarts quickly.

When a cluster's block fails, the tail of each daemon's log goes to stderr;
with SERDAB_KEEP_LOGS=DIR the whole logs are copied to DIR as well."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import serdab_testing as st  # noqa: E402

import numpy as np  # noqa: E402

HEARTBEAT_MS = 300
# Small enclaves, so that a worker process hosts several within the default
# vm.max_map_count (each EPC page the emulation pages is a mapping).
EPC_MIB = "16"
# Long enough that a worker busy profiling a model on both cores still
# heartbeats in time.
TIMEOUT_MS = 3000
WAIT_S = 30
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_PLAN = os.path.join(REPO, "deploy", "examples", "plan.yaml")


def binary(name):
    return os.path.join(st.bin_dir(), name)


def wait_for(what, predicate, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


_CREDENTIALS = None


def credentials(workers):
    """A directory with the deployment root, the orchestrator's, alice's
    (admin) and bob's (viewer) credentials, and each named worker's platform
    and TLS certificates: issued once per test process, with the CLI, and
    copied into each cluster (a dozen CLI runs per cluster otherwise)."""
    global _CREDENTIALS
    if _CREDENTIALS is None:
        _CREDENTIALS = tempfile.TemporaryDirectory(prefix="serdab-ca-")
        d = _CREDENTIALS.name
        st.serdab_ok(["ca", "init", "--out", os.path.join(d, "root")])
        st.serdab_ok(["ca", "issue-platform", "--ca", os.path.join(d, "root"),
                      "--out", os.path.join(d, "plat-orch"), "--id", "orch"])
        st.serdab_ok(["ca", "issue-node", "--ca", os.path.join(d, "root"), "--name", "orch",
                      "--role", "orchestrator", "--out", os.path.join(d, "orch"),
                      "--host", "127.0.0.1", "--platform", os.path.join(d, "plat-orch")])
        st.serdab_ok(["ca", "issue-user", "--ca", os.path.join(d, "root"), "--name", "alice",
                      "--role", "admin", "--out", os.path.join(d, "admin")])
        st.serdab_ok(["ca", "issue-user", "--ca", os.path.join(d, "root"), "--name", "bob",
                      "--role", "viewer", "--out", os.path.join(d, "viewer")])
    d = _CREDENTIALS.name
    for name in workers:
        if os.path.isdir(os.path.join(d, "tls-" + name)):
            continue
        st.serdab_ok(["ca", "issue-platform", "--ca", os.path.join(d, "root"),
                      "--out", os.path.join(d, "plat-" + name), "--id", name])
        st.serdab_ok(["ca", "issue-node", "--ca", os.path.join(d, "root"), "--name", name,
                      "--role", "worker", "--out", os.path.join(d, "tls-" + name),
                      "--host", "127.0.0.1", "--platform", os.path.join(d, "plat-" + name)])
    return d


class Cluster:
    """A CA, an orchestrator and workers in a temporary directory. Every
    process it starts is stopped by pid when the block ends, even on failure."""

    WORKERS = [("edge-1", "edge"), ("edge-2", "edge"), ("cloud-1", "cloud")]

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="serdab-cp-")
        self.dir = self.tmp.name
        self.procs = {}
        self.orchestrator_port = 0

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def __enter__(self):
        # Python skips __exit__ when __enter__ raises: stop what started here.
        try:
            return self._set_up()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise

    def _set_up(self):
        names = [name for name, _ in self.WORKERS]
        issued = credentials(names)
        for entry in ["root", "plat-orch", "orch", "admin", "viewer"] + \
                [prefix + name for name in names for prefix in ("plat-", "tls-")]:
            shutil.copytree(os.path.join(issued, entry), self.path(entry))
        self.start_orchestrator()
        for name, tier in self.WORKERS:
            self.start_worker(name, tier)
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            # What the daemons said, for whoever reads the failure.
            for key in self.procs:
                with open(self.path(key + ".log"), errors="replace") as f:
                    tail = f.read()[-2500:]
                sys.stderr.write(f"--- {key}.log (tail) ---\n{tail}\n")
            keep = os.environ.get("SERDAB_KEEP_LOGS")
            if keep:
                os.makedirs(keep, exist_ok=True)
                for key in self.procs:
                    shutil.copy(self.path(key + ".log"), keep)
                sys.stderr.write(f"(the daemons' whole logs are in {keep})\n")
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        self.tmp.cleanup()

    def _start(self, key, argv):
        log = open(self.path(key + ".log"), "ab")
        self.procs[key] = subprocess.Popen([str(a) for a in argv], stdout=log, stderr=log)
        log.close()

    def _port(self, key):
        port_file = self.path(key + ".port")

        def read():
            if self.procs[key].poll() is not None:
                raise AssertionError(f"{key} exited ({self.procs[key].returncode}):\n" +
                                     open(self.path(key + ".log")).read()[-3000:])
            try:
                text = open(port_file).read().strip()
                return int(text) if text else 0
            except FileNotFoundError:
                return 0
        return wait_for(f"{key} to serve", read)

    def start_orchestrator(self):
        port_file = self.path("orchestrator.port")
        if os.path.exists(port_file):
            os.remove(port_file)
        self._start("orchestrator", [
            binary("serdab-orchestrator"), "--state-dir", self.path("orchestrator-state"),
            "--tls-dir", self.path("orch"), "--root", self.path("root", "root.pub"),
            "--platform-dir", self.path("plat-orch"), "--profile-repeats", "1",
            "--listen", f"127.0.0.1:{self.orchestrator_port}", "--port-file", port_file,
            "--heartbeat-interval-ms", HEARTBEAT_MS, "--heartbeat-timeout-ms", TIMEOUT_MS])
        self.orchestrator_port = self._port("orchestrator")

    def start_worker(self, name, tier):
        port_file = self.path(name + ".port")
        if os.path.exists(port_file):
            os.remove(port_file)
        self._start(name, [
            binary("serdab-worker"), "--platform", self.path("plat-" + name),
            "--state-dir", self.path("state-" + name), "--tls-dir", self.path("tls-" + name),
            "--listen", "127.0.0.1:0", "--port-file", port_file,
            "--orchestrator", f"127.0.0.1:{self.orchestrator_port}",
            "--label", f"tier={tier}", "--label", "site=home", "--epc-mib", EPC_MIB,
            *self.worker_args(name)])
        self._port(name)

    def worker_args(self, name):
        """More arguments for worker `name`'s command line: none here;
        clusters that differ (a proxy in front, metrics) add theirs."""
        return []

    def kill(self, key):
        proc = self.procs[key]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def cli(self, args, user="admin", timeout=120):
        return st.run_serdab(list(args) + [
            "--orchestrator", f"127.0.0.1:{self.orchestrator_port}",
            "--credentials", self.path(user)], timeout=timeout)

    def cli_ok(self, args, user="admin", timeout=120):
        return st.check_ok(self.cli(args, user, timeout))

    def workers(self):
        reply = json.loads(self.cli_ok(["get", "workers", "-o", "json"], "viewer").stdout)
        return {w["name"]: w for w in reply.get("workers", [])}

    def deployments(self):
        reply = json.loads(self.cli_ok(["get", "deployments", "-o", "json"], "viewer").stdout)
        return {d["name"]: d for d in reply.get("deployments", [])}

    def wait_ready(self, names):
        wait_for(f"workers {names} Ready", lambda: all(
            self.workers().get(n, {}).get("state") == "Ready" for n in names))


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class MeteredCluster(Cluster):
    """The test cluster with each worker serving its Prometheus metrics."""

    def __init__(self):
        super().__init__()
        self.metrics = {}

    def worker_args(self, name):
        self.metrics[name] = st.free_port()
        return ["--metrics-addr", f"127.0.0.1:{self.metrics[name]}"]

    def scrape(self, worker):
        """`worker`'s metrics, as Prometheus reads them."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics[worker]}/metrics",
                                    timeout=30) as r:
            return r.read().decode()


def plan_text(name="lobby", selector="{site: home}", max_stages=3, extra="", order="[edge, cloud]",
              attestation="{allow_simulation: true, allow_debug: true, any_measurement: true}",
              model="tiny"):
    return f"""apiVersion: serdab/v1
kind: Deployment
metadata: {{name: {name}}}
model: {{zoo: {model}}}
workers:
  selector: {selector}
  order: {order}
placement: {{max_stages: {max_stages}}}
attestation: {attestation}
{extra}"""


def measurement(epc_mib=EPC_MIB):
    out = st.serdab_ok(["enclave", "measure", "--epc-mib", epc_mib]).stdout
    return out.split()[1]


def expect_failure(result, *needles):
    if not 0 < result.returncode < 128:
        raise AssertionError("expected a clean failure\n" + result.describe())
    lines = result.stderr.strip().splitlines()
    if len(lines) != 1:
        raise AssertionError("expected one line on stderr\n" + result.describe())
    for needle in needles:
        if needle not in lines[0]:
            raise AssertionError(f"{needle!r} not in the error\n" + result.describe())


class OneThreadCloudCluster(Cluster):
    """cloud-1 computes with one thread (`--threads 1`)."""

    def worker_args(self, name):
        return ["--threads", "1"] if name == "cloud-1" else []


def test_workers_register_heartbeat_and_roles():
    with OneThreadCloudCluster() as c:
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        workers = c.workers()
        assert workers["edge-1"]["labels"] == {"tier": "edge", "site": "home"}, workers
        assert workers["cloud-1"]["capacity"]["epc_bytes"] == str(16 << 20), workers
        # Threads: --threads, else the CPUs the worker may run on (inherited
        # from this process's affinity).
        assert int(workers["cloud-1"]["capacity"]["threads"]) == 1, workers
        assert int(workers["edge-1"]["capacity"]["threads"]) == len(os.sched_getaffinity(0)), \
            workers
        assert len(workers["edge-2"]["platform_key"]) == 64, workers
        table = c.cli_ok(["get", "workers", "-o", "wide"], "viewer").stdout
        assert "edge-2" in table and "Ready" in table and "AES-NI" in table, table

        # A viewer reads but may not apply.
        plan = write(c.path("plan.yaml"), plan_text())
        expect_failure(c.cli(["apply", "-f", plan], "viewer"), "viewer 'bob'", "admins only")
        assert c.deployments() == {}

        # A certificate from another deployment root gets no connection at all.
        st.serdab_ok(["ca", "init", "--out", c.path("other-root")])
        st.serdab_ok(["ca", "issue-user", "--ca", c.path("other-root"), "--name", "mallory",
                      "--role", "admin", "--out", c.path("other-admin")])
        result = c.cli(["get", "workers"], "other-admin")
        expect_failure(result)
        result = c.cli(["apply", "-f", plan], "other-admin")
        expect_failure(result)
        assert c.deployments() == {}

        # A worker that stops heartbeating becomes NotReady, and Ready again
        # once it is back.
        c.kill("edge-2")
        wait_for("edge-2 NotReady", lambda: c.workers()["edge-2"]["state"] == "NotReady")
        assert c.workers()["edge-1"]["state"] == "Ready"
        c.start_worker("edge-2", "edge")
        c.wait_ready(["edge-2"])
        assert c.workers()["edge-2"]["state"] == "Ready"


def test_apply_get_describe_delete():
    with Cluster() as c:
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        plan = write(c.path("plan.yaml"), plan_text())
        out = c.cli_ok(["apply", "-f", plan, "--dry-run"]).stdout
        assert "lobby would be created (dry run;" in out and "edge-1, edge-2, cloud-1" in out, out
        assert c.deployments() == {}, "a dry run stored something"

        assert "lobby created" in c.cli_ok(["apply", "-f", plan]).stdout
        assert "lobby unchanged" in c.cli_ok(["apply", "-f", plan]).stdout
        # Comments and formatting are not changes.
        write(plan, "# the lobby\n" + plan_text().replace("{max_stages: 3}",
                                                            "{max_stages: 3, objective: throughput}"))
        assert "lobby unchanged" in c.cli_ok(["apply", "-f", plan]).stdout
        write(plan, plan_text(max_stages=2))
        out = c.cli_ok(["apply", "-f", plan]).stdout
        assert "lobby configured" in out and "generation 2" in out, out

        d = c.deployments()["lobby"]
        assert d["generation"] == "2" and d["phase"] in ("Pending", "Ready"), d
        described = c.cli_ok(["describe", "deployment", "lobby"], "viewer").stdout
        for needle in ["Name:         lobby", "Generation:   2", "Accepted", "Max stages:   2",
                       "Created", "Configured", "zoo tiny"]:
            assert needle in described, (needle, described)

        # Two plans in one file are applied in order.
        two = write(c.path("two.yaml"), plan_text("door-a") + "---\n" + plan_text("door-b"))
        out = c.cli_ok(["apply", "-f", two]).stdout
        assert "door-a created" in out and "door-b created" in out, out
        assert set(c.deployments()) == {"lobby", "door-a", "door-b"}

        expect_failure(c.cli(["delete", "deployment", "lobby"], "viewer"), "admins only")
        wait_for("lobby's enclaves", lambda: all(
            os.path.isdir(c.path("state-" + w, "enclaves", "lobby")) for w in
            ["edge-1", "edge-2", "cloud-1"]))
        assert "deleted" in c.cli_ok(["delete", "deployment", "lobby"]).stdout
        # Its enclaves are destroyed on every worker before it is gone.
        wait_for("lobby gone", lambda: "lobby" not in c.deployments())
        for w in ["edge-1", "edge-2", "cloud-1"]:
            assert not os.path.exists(c.path("state-" + w, "enclaves", "lobby")), w
        # And the coordinator no longer keeps its model.
        grants = c.path("orchestrator-state", "coordinator", "grants")
        assert not os.path.exists(os.path.join(grants, "lobby.sealed")), os.listdir(grants)
        assert os.path.exists(os.path.join(grants, "door-a.sealed")), os.listdir(grants)
        wait_for("door-a's enclave, untouched",
                 lambda: os.path.isdir(c.path("state-edge-1", "enclaves", "door-a")))
        expect_failure(c.cli(["delete", "deployment", "lobby"]), "no deployment named 'lobby'")
        expect_failure(c.cli(["describe", "deployment", "lobby"], "viewer"), "lobby")
        assert set(c.deployments()) == {"door-a", "door-b"}

        # The event log tells the story, to a viewer, with ids to resume from.
        watch = subprocess.Popen(
            [st.serdab_binary(), "watch", "--orchestrator", f"127.0.0.1:{c.orchestrator_port}",
             "--credentials", c.path("viewer")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(1.5)
            c.cli_ok(["delete", "deployment", "door-a"])
            wait_for("door-a gone", lambda: "door-a" not in c.deployments())
        finally:
            watch.send_signal(signal.SIGINT)
            out, _ = watch.communicate(timeout=30)
        text = out.decode()
        for needle in ["Registered", "Created", "Configured", "Attested", "Deleting", "Deleted",
                       "door-a"]:
            assert needle in text, (needle, text)


# Each malformed plan, the field its one-line error must name and the
# location (file:line:col) it must point at.
MALFORMED = [
    ("bad-yaml", "apiVersion: serdab/v1\nkind: [Deployment\n", None, ":3:1"),
    ("unknown-top-level", plan_text(extra="replicas: 3\n"), "replicas", ":10:1"),
    ("unknown-nested", plan_text().replace("{max_stages: 3}", "{max_stages: 3, objetive: x}"),
     "placement.objetive", ":8:"),
    ("wrong-type", plan_text().replace("{max_stages: 3}", '{max_stages: "three"}'),
     "placement.max_stages", ":8:"),
    ("missing-model", plan_text().replace("model: {zoo: tiny}\n", ""), "model", ":1:1"),
    ("zoo-and-path", plan_text().replace("{zoo: tiny}", "{zoo: tiny, path: m.onnx}"),
     "model", ":4:"),
    ("bad-api-version", plan_text().replace("serdab/v1", "serdab/v9"), "apiVersion", ":1:"),
    ("bad-kind", plan_text().replace("kind: Deployment", "kind: Pod"), "kind", ":2:"),
    ("stages-out-of-range", plan_text(max_stages=40), "placement.max_stages", ":8:"),
    ("negative-fps", plan_text(extra="streams: [{name: a, source: x, fps: -1}]\n"),
     "streams[0].fps", ":10:"),
    ("bad-overload", plan_text(extra="streams: [{name: a, source: x, fps: 5, on_overload: x}]\n"),
     "streams[0].on_overload", ":10:"),
    ("bad-name", plan_text(name="Lobby_1"), "metadata.name", ":3:"),
    ("bad-measurement", plan_text().replace("any_measurement: true", "measurements: [abc]"),
     "attestation.measurements[0]", ":9:"),
    ("no-matching-workers", plan_text(selector="{site: office}"), "workers.selector", ":6:"),
    # Checks that need the cluster: the model's profile on these workers.
    ("impossible-latency", plan_text().replace("{max_stages: 3}",
                                               "{max_stages: 3, slo: {max_latency_ms: 0.001}}"),
     "placement.slo.max_latency_ms", ":8:"),
    ("impossible-fps", plan_text().replace("{max_stages: 3}",
                                           "{max_stages: 3, slo: {min_fps: 1000000}}"),
     "placement.slo.min_fps", ":8:"),
    # A convolution whose output alone (123 MB) is larger than an EPC,
    # however much of its (small) weight streams; resnet50 now fits one
    # enclave by streaming some of its weights.
    ("epc-too-small", plan_text().replace("{zoo: tiny}", "{path: wide.onnx}").replace(
        "{max_stages: 3}", "{max_stages: 1, allow_paging: false}"),
     "placement.allow_paging", ":8:"),
    ("empty-file", "", None, "empty-file.yaml"),
]


def write_wide_activation_model(path):
    """One convolution, 3 -> 48 channels on an 800x800 image: a tiny weight
    and 123 MB of output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = np.random.default_rng(3).standard_normal((48, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 800, 800])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 48, 800, 800])],
        [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_plan_errors_are_located_and_store_nothing():
    with Cluster() as c:
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        write_wide_activation_model(c.path("wide.onnx"))
        good = write(c.path("good.yaml"), plan_text())
        c.cli_ok(["apply", "-f", good])

        def desired():
            return {n: (d["generation"], d["plan_digest"]) for n, d in c.deployments().items()}
        before = desired()
        for name, text, field, where in MALFORMED:
            path = write(c.path(name + ".yaml"), text)
            result = c.cli(["apply", "-f", path])
            needles = [os.path.basename(path) + (where if where.startswith(":") else "")]
            if field is not None:
                needles.append(f"field '{field}'")
            try:
                expect_failure(result, *needles)
            except AssertionError as e:
                raise AssertionError(f"plan {name}: {e}") from None
        assert desired() == before, "a malformed plan changed the orchestrator's state"


def attestations(c, name):
    d = c.deployments().get(name, {})
    return {a["worker"]: a for a in d.get("attestations", [])}, d


def test_workers_are_attested_against_the_plan_and_the_root():
    with Cluster() as c:
        # A fourth box whose TLS certificate is from the deployment's CA (so
        # it can register) but whose platform is certified by another root.
        st.serdab_ok(["ca", "init", "--out", c.path("other-root")])
        st.serdab_ok(["ca", "issue-platform", "--ca", c.path("other-root"),
                      "--out", c.path("plat-rogue"), "--id", "rogue"])
        st.serdab_ok(["ca", "issue-node", "--ca", c.path("root"), "--name", "rogue",
                      "--role", "worker", "--out", c.path("tls-rogue"), "--host", "127.0.0.1",
                      "--platform", c.path("plat-rogue")])
        c.start_worker("rogue", "edge")
        names = ["edge-1", "edge-2", "cloud-1", "rogue"]
        c.wait_ready(names)

        good = measurement()
        # The workers run unsigned enclaves, which are debug enclaves.
        attestation = f'{{allow_simulation: true, allow_debug: true, measurements: ["{good}"]}}'
        c.cli_ok(["apply", "-f", write(c.path("plan.yaml"), plan_text(attestation=attestation))])
        verdicts, d = wait_for("all four workers checked",
                               lambda: (lambda v: v if len(v[0]) == 4 else None)(
                                   attestations(c, "lobby")))
        for name in ["edge-1", "edge-2", "cloud-1"]:
            assert verdicts[name]["attested"], verdicts[name]
            assert verdicts[name]["mrenclave"] == good, verdicts[name]
            assert verdicts[name]["platform"] == name, verdicts[name]
        assert not verdicts["rogue"].get("attested"), verdicts["rogue"]
        assert "platform" in verdicts["rogue"]["reason"], verdicts["rogue"]
        conditions = {x["type"]: x for x in d["conditions"]}
        assert conditions["WorkersAttested"]["status"] == "False", conditions
        assert "rogue" in conditions["WorkersAttested"]["message"], conditions
        described = c.cli_ok(["describe", "deployment", "lobby"], "viewer").stdout
        assert "AttestationFailed" in described and "gets no partition" in described, described

        # A plan that lists another measurement trusts none of them.
        other = "ab" * 32
        attestation = f'{{allow_simulation: true, allow_debug: true, measurements: ["{other}"]}}'
        c.cli_ok(["apply", "-f", write(c.path("plan.yaml"), plan_text(attestation=attestation))])

        def refused():
            v, dep = attestations(c, "lobby")
            if dep.get("generation") != "2" or len(v) != 4:
                return None
            return (v, dep) if not any(a.get("attested") for a in v.values()) else None
        verdicts, d = wait_for("every worker refused", refused)
        assert "measurement" in verdicts["edge-1"]["reason"], verdicts["edge-1"]
        ready = {x["type"]: x for x in d["conditions"]}["Ready"]
        assert ready["reason"] == "NoAttestedWorker", ready

        # And a plan that refuses simulation does not even hand its model to
        # the coordinator, which runs in a sim enclave too: nothing changes.
        attestation = f'{{allow_simulation: false, allow_debug: true, measurements: ["{good}"]}}'
        expect_failure(c.cli(["apply", "-f", write(c.path("plan.yaml"),
                                                   plan_text(attestation=attestation))]),
                       "coordinator enclave", "simulation")
        assert c.deployments()["lobby"]["generation"] == "2"

        # A worker the plan stops selecting loses the deployment's enclave.
        assert os.path.isdir(c.path("state-cloud-1", "enclaves", "lobby"))
        c.cli_ok(["apply", "-f", write(c.path("plan.yaml"), plan_text(order="[edge]"))])
        wait_for("cloud-1's enclave destroyed",
                 lambda: not os.path.exists(c.path("state-cloud-1", "enclaves", "lobby")))
        wait_for("the edge workers only", lambda: set(attestations(c, "lobby")[0]) ==
                 {"edge-1", "edge-2", "rogue"})


def weight_samples(model_path, count=32, size=64):
    """Runs of `size` bytes from the model's largest initializers: what a
    leak of the weights would contain."""
    import onnx  # noqa: E402 (only this test needs it)
    from onnx import numpy_helper
    model = onnx.load(model_path)
    arrays = sorted((numpy_helper.to_array(t) for t in model.graph.initializer),
                    key=lambda a: a.nbytes, reverse=True)[:4]
    samples = []
    for a in arrays:
        data = a.tobytes()
        step = max(size, len(data) // (count // len(arrays)))
        samples += [data[i:i + size] for i in range(0, len(data) - size, step)]
    return samples


def test_no_weight_bytes_reach_the_orchestrators_state_or_logs():
    with Cluster() as c:
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        plan = plan_text().replace("{zoo: tiny}", "{zoo: resnet18, seed: 1}")
        # The whole path: profiling, the coordinator's grant, provisioning.
        out = c.cli_ok(["apply", "-f", write(c.path("plan.yaml"), plan), "--wait"]).stdout
        assert "lobby Ready" in out, out
        model = st.serdab_zoo("resnet18", c.path("resnet18.onnx"), seed=1)
        samples = weight_samples(model)
        assert len(samples) >= 16, len(samples)
        files = [c.path("orchestrator.log")]
        for root, _, names in os.walk(c.path("orchestrator-state")):
            files += [os.path.join(root, n) for n in names]
        assert any("grants" in f for f in files), files
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            for sample in samples:
                assert sample not in data, f"{path} holds weight bytes"


def test_state_survives_kill_9_of_the_orchestrator():
    with Cluster() as c:
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        c.cli_ok(["apply", "-f", write(c.path("plan.yaml"), plan_text()), "--wait"])

        # What the user applied, and what was found, as describe shows it
        # (events and attestation times may move on after the restart).
        def summary():
            text = c.cli_ok(["describe", "deployment", "lobby"], "viewer").stdout
            keys = ("Name:", "Generation:", "Phase:", "Plan digest:", "Created:", "Model:",
                    "Tiers:", "Max stages:", "Attestation:", "  edge-", "  cloud-",
                    "Coordinator:", "Stages:", "  0 ", "  1 ", "  2 ", "Rollout:")
            return [line for line in text.splitlines() if line.startswith(keys)]
        described = summary()
        c.kill("orchestrator")
        c.start_orchestrator()
        again = summary()
        assert again == described, (described, again)
        # The workers' links retried while it was down; they are Ready again
        # without being restarted.
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        assert "lobby unchanged" in c.cli_ok(["apply", "-f", c.path("plan.yaml")]).stdout


def stages(c, name="lobby"):
    d = c.deployments().get(name, {})
    return d, [(x["worker"], x.get("begin", 0), x["end"], x["state"]) for x in d.get("stages", [])]


def streams_a_file_with_the_same_top5_as_serdab_infer(c, plan, frames=4):
    """`serdab stream` through the deployment: each frame's top-5 is that of
    `serdab infer` with the whole model on the same preprocessed frame."""
    model = st.serdab_zoo("resnet50", c.path("resnet50.onnx"), seed=1)
    video = c.path("door.mp4")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=5", "-t", "2", "-pix_fmt", "yuv420p", video],
                   check=True, timeout=60)
    inputs = c.path("inputs")
    os.mkdir(inputs)
    r = st.check_ok(c.cli(["stream", "-f", plan, "--source", video, "--status", "off",
                           "--frames", str(frames), "--save-inputs", inputs], "admin"))
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert [x["frame"] for x in lines] == list(range(frames)), r.describe()
    for line in lines:
        frame = np.fromfile(os.path.join(inputs, f"cam1-{line['frame']}.f32"),
                            dtype=np.float32).reshape(1, 3, 224, 224)
        logits = st.serdab_infer(model, frame, c.dir, (1, 1000))[0].reshape(-1)
        expected = list(np.argsort(-logits, kind="stable")[:5])
        assert [t["class"] for t in line["top"]] == expected, (line, logits[expected])


def test_resnet50_is_placed_provisioned_and_survives_the_orchestrator():
    with Cluster() as c:
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        plan = write(c.path("plan.yaml"), plan_text(
            model="resnet50, seed: 1",
            extra="preprocess: {resize: [224, 224], mean: [0.485, 0.456, 0.406], "
                  "std: [0.229, 0.224, 0.225]}\n"))
        out = c.cli_ok(["apply", "-f", plan, "--dry-run"]).stdout
        assert "predicted:" in out and "fps" in out, out
        assert c.deployments() == {}, "a dry run stored something"
        result = c.cli_ok(["apply", "-f", plan, "--wait", "--timeout", "600"])
        assert "lobby Ready:" in result.stdout, result.describe()
        assert "Provisioning" in result.stdout, result.describe()

        # On all three workers (a worker that missed a heartbeat under load
        # would have been left out, and is used again once it is back).
        def three_stages():
            d, placed = stages(c)
            return (d, placed) if d.get("phase") == "Ready" and len(placed) == 3 else None
        d, placed = wait_for("lobby on three stages", three_stages, timeout=300)
        assert d["phase"] == "Ready", d
        assert [w for w, *_ in placed] == ["edge-1", "edge-2", "cloud-1"], placed
        assert all(state == "Provisioned" for *_, state in placed), placed
        assert placed[0][1] == 0 and placed[-1][2] == -1, placed
        assert placed[0][2] == placed[1][1] and placed[1][2] == placed[2][1], placed
        verdicts = {a["worker"]: a for a in d["attestations"]}
        for x in d["stages"]:
            assert x["mrenclave"] == verdicts[x["worker"]]["mrenclave"], (x, verdicts)
        described = c.cli_ok(["describe", "deployment", "lobby"], "viewer").stdout
        for needle in ["Phase:        Ready", "Stages:       rollout", "Provisioned",
                       "Coordinator:  enclave", "Rollout:      profile"]:
            assert needle in described, (needle, described)
        # Each stage's enclave is owned by the coordinator, not the worker.
        for w in ["edge-1", "edge-2", "cloud-1"]:
            assert os.path.exists(c.path("state-" + w, "enclaves", "lobby", "partition.sealed")), w

        # kill -9 of the orchestrator changes nothing the user can see, and
        # nothing is provisioned again.
        before = c.cli_ok(["describe", "deployment", "lobby"], "viewer").stdout
        c.kill("orchestrator")
        c.start_orchestrator()
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        wait_for("lobby Ready", lambda: c.deployments()["lobby"]["phase"] == "Ready")
        after = c.cli_ok(["describe", "deployment", "lobby"], "viewer").stdout
        keep = ("Phase:", "Generation:", "Stages:", "  0 ", "  1 ", "  2 ", "Coordinator:")
        assert [l for l in before.splitlines() if l.startswith(keep)] == \
            [l for l in after.splitlines() if l.startswith(keep)], (before, after)
        # Frames through the three stages give what the whole model gives.
        streams_a_file_with_the_same_top5_as_serdab_infer(c, plan)



def test_a_lost_worker_is_replaced_and_rejoins():
    with Cluster() as c:
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        c.cli_ok(["apply", "-f", write(c.path("plan.yaml"), plan_text()), "--wait"])
        d, placed = stages(c)
        lost = placed[-1][0]  # the last stage's worker
        rollout = int(d["rollout"])

        # kill -9 of a stage's worker: NotReady, and the deployment is placed
        # again on the workers left, with no human.
        c.kill(lost)
        wait_for(f"{lost} NotReady", lambda: c.workers()[lost]["state"] == "NotReady")

        def replaced():
            d, placed = stages(c)
            workers = [w for w, *_ in placed]
            return (d, placed) if d.get("phase") == "Ready" and lost not in workers else None
        d, placed = wait_for(f"lobby re-placed without {lost}", replaced, timeout=120)
        assert int(d["rollout"]) > rollout, d
        assert placed[0][1] == 0 and placed[-1][2] == -1, placed
        assert all(state == "Provisioned" for *_, state in placed), placed

        # The killed worker comes back and rejoins: attested again, and the
        # deployment placed again among all three.
        c.start_worker(lost, dict(Cluster.WORKERS)[lost])
        c.wait_ready([lost])

        def rejoined():
            d = c.deployments()["lobby"]
            verdicts = {a["worker"]: a.get("attested") for a in d.get("attestations", [])}
            return d if d["phase"] == "Ready" and verdicts.get(lost) and \
                int(d["rollout"]) > rollout + 1 else None
        wait_for(f"{lost} back in lobby's placement", rejoined, timeout=120)


def test_a_restarted_worker_is_wired_again_without_the_model():
    with Cluster() as c:
        c.wait_ready(["edge-1", "edge-2", "cloud-1"])
        c.cli_ok(["apply", "-f", write(c.path("plan.yaml"), plan_text()), "--wait"])
        before = c.deployments()["lobby"]
        stage = next(x for x in before["stages"] if x["worker"] == "edge-1")
        # A quick restart: the worker comes back before it is missed, and
        # restores its enclave's partition from the sealed copy on its disk.
        c.kill("edge-1")
        c.start_worker("edge-1", "edge")

        def rewired():
            d = c.deployments()["lobby"]
            s = next((x for x in d.get("stages", []) if x["worker"] == "edge-1"), None)
            return d if (d["phase"] == "Ready" and s and s["instance"] != stage["instance"])\
                else None
        d = wait_for("edge-1's new enclave wired", rewired, timeout=120)
        described = c.cli_ok(["describe", "deployment", "lobby"], "viewer").stdout
        # Wired again in place: the same rollout, no partition sent again.
        assert "Rewired" in described, described
        assert d["rollout"] == before["rollout"], (before, d)
        assert all(x["state"] == "Provisioned" for x in d["stages"]), d


if __name__ == "__main__":
    st.run_tests(globals())
