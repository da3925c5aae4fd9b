"""--metrics-addr end to end: a real serdab-orchestrator and a real
serdab-worker that registers with it, both on loopback (plaintext gRPC), each
serving Prometheus metrics. Their /metrics pages are scraped over HTTP, must
show the worker registered and Ready and the calls that did it, and, where
promtool is installed, must pass `promtool check metrics`. Takes a few
seconds."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import serdab_testing as st  # noqa: E402

WAIT_S = 20
PROMTOOL = shutil.which("promtool")


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


def scrape(port):
    """The /metrics page and its Content-Type, or None while nothing serves."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode(), r.headers["Content-Type"]
    except (urllib.error.URLError, ConnectionError):
        return None


def check_with_promtool(text, who):
    if PROMTOOL is None:
        return
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
    if result.returncode != 0:
        raise AssertionError(f"promtool check metrics refused {who}'s page:\n"
                             f"{result.stdout}{result.stderr}\n{text}")


def test_daemons_serve_metrics_that_promtool_accepts():
    procs = []
    with tempfile.TemporaryDirectory(prefix="serdab_metrics_") as tmp:
        path = lambda *p: os.path.join(tmp, *p)  # noqa: E731
        try:
            st.serdab_ok(["ca", "init", "--out", path("root")])
            for name in ("orch", "w1"):
                st.serdab_ok(["ca", "issue-platform", "--ca", path("root"),
                              "--out", path("plat-" + name), "--id", name])
            orch_metrics, worker_metrics = st.free_port(), st.free_port()

            def start(name, argv):
                log = open(path(name + ".log"), "wb")
                procs.append(subprocess.Popen([str(a) for a in argv], stdout=log, stderr=log))
                log.close()
                port_file = path(name + ".port")

                def port():
                    if procs[-1].poll() is not None:
                        raise AssertionError(f"{name} exited:\n" +
                                             open(path(name + ".log")).read()[-3000:])
                    text = open(port_file).read().strip() if os.path.exists(port_file) else ""
                    return int(text) if text else 0
                return wait_for(f"{name} to serve", port)

            orch_port = start("orchestrator", [
                binary("serdab-orchestrator"), "--state-dir", path("orch-state"), "--insecure",
                "--listen", "127.0.0.1:0", "--port-file", path("orchestrator.port"),
                "--root", path("root", "root.pub"), "--platform-dir", path("plat-orch"),
                "--heartbeat-interval-ms", 300, "--heartbeat-timeout-ms", 3000,
                "--metrics-addr", f"127.0.0.1:{orch_metrics}"])
            start("worker", [
                binary("serdab-worker"), "--platform", path("plat-w1"),
                "--state-dir", path("w1-state"), "--insecure", "--listen", "127.0.0.1:0",
                "--port-file", path("worker.port"), "--orchestrator", f"127.0.0.1:{orch_port}",
                "--name", "w1", "--epc-mib", 16, "--metrics-addr", f"127.0.0.1:{worker_metrics}"])

            # The call is counted once it has returned, a moment after its
            # handler made the worker Ready: wait for both.
            ready = ('serdab_orchestrator_workers{state="Ready"} 1\n',
                     'serdab_rpcs_total{service="serdab.v1.Orchestrator",'
                     'method="RegisterWorker",code="OK"} 1\n')
            text, content_type = wait_for(
                "the orchestrator's metrics to show the worker Ready and its registration",
                lambda: (lambda s: s if s and all(r in s[0] for r in ready) else None)(
                    scrape(orch_metrics)))
            assert content_type == "text/plain; version=0.0.4; charset=utf-8", content_type
            for needle in ('serdab_orchestrator_workers{state="NotReady"} 0\n',
                           'serdab_orchestrator_deployments{phase="Ready"} 0\n'):
                assert needle in text, f"{needle!r} not in\n{text}"
            check_with_promtool(text, "the orchestrator")

            text, _ = scrape(worker_metrics)
            assert "serdab_worker_enclaves 0\n" in text, text
            check_with_promtool(text, "the worker")

            # Both stop cleanly, metrics server included, on SIGTERM.
            for proc in reversed(procs):
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=10) == 0, f"{proc.args[0]} exited {proc.returncode}"
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)


if __name__ == "__main__":
    st.run_tests(globals())
