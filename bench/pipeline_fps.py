"""Pipeline fps through the data plane, measured against the partitioner's
prediction: a real orchestrator and four workers on loopback (mutual TLS,
sgx1 enclaves of 93.5 MiB), a zoo model applied with max_stages 1 to 4, and
`serdab stream` feeding each placement the same video (block policy: every
frame processed). One enclave (max_stages 1) is the baseline.

Two clocks per stage, as the enclaves keep them (enclave/epc/epc_stats.h):
the wall time of its process ECALLs, and the TEE-equivalent time: that,
less what the EPC emulation spent paging on this host, plus what sgx1 would
pay for the same swaps and ECALLs (from each worker's Prometheus counters,
per frame). The planner predicts the second, so prediction errors are
computed against it; the TEE-equivalent fps is 1 / the slowest stage.

On a machine with fewer cores than stages' threads, the workers share the
cores: the CPU-bound ceiling of the wall-clock fps is cores / the CPU time
the stage workers' processes spend per frame (user and system, from
/proc/PID/stat over the measured frames). A stage's ECALL wall time is no
measure of its CPU: while stages share cores it includes the time its
threads waited for one.

With `--threads N` every worker computes with N threads (the orchestrator
profiles and plans with that many), and `--pin` runs worker i on CPU i mod
the CPU count, so that stages on different workers do not share a core on a
machine with a core per stage (the table names each stage's CPU).

With `--fps F` the client feeds the video in real time at F frames a second
instead of as fast as the pipeline takes them. Below the pipeline's rate a
frame has left every stage before the next arrives, so no two stages run at
once: on a machine with fewer cores than stages (or cores that share caches
and memory bandwidth) that is how to see what each stage costs on a machine
of its own, which is what the planner predicts. The stage times are then the
figures to compare; the fps columns only echo F.

Run after a build:  /usr/bin/python3 bench/pipeline_fps.py [--model resnet50]
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import serdab_testing as st  # noqa: E402
import test_control_plane as cp  # noqa: E402

WARMUP_FRAMES = 3


class BenchCluster(cp.MeteredCluster):
    """The test cluster with `workers` workers (the last in the cloud tier),
    each serving its metrics."""

    def __init__(self, threads=0, pin=False, workers=4):
        self.WORKERS = [(f"edge-{i + 1}", "edge") for i in range(workers - 1)] + \
            [("cloud-1", "cloud")]
        super().__init__()
        self.threads = threads
        self.pin = pin

    def cpu_of(self, worker):
        """The CPU `worker` is pinned to, or None."""
        names = [name for name, _ in self.WORKERS]
        return names.index(worker) % os.cpu_count() if self.pin and worker in names else None

    def worker_args(self, name):
        args = super().worker_args(name)
        return args + (["--threads", str(self.threads)] if self.threads else [])

    def _start(self, key, argv):
        cpu = self.cpu_of(key)
        super()._start(key, argv if cpu is None else ["taskset", "-c", str(cpu), *argv])

    def cpu_seconds(self, worker):
        """User and system CPU time of `worker`'s process so far."""
        with open(f"/proc/{self.procs[worker].pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def busy_seconds(self, worker):
        """Seconds `worker` has spent in process ECALLs."""
        m = re.search(r"^serdab_data_plane_busy_seconds_total (\S+)$", self.scrape(worker), re.M)
        return float(m.group(1)) if m else 0.0

    def clocks(self, worker):
        """Per enclave on `worker`: emulation and priced seconds, and swaps."""
        text = self.scrape(worker)
        out = {}
        for m in re.finditer(r'serdab_enclave_clock_seconds_total\{enclave="([^"]+)",'
                             r'clock="(\w+)"\} (\S+)', text):
            out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
        for m in re.finditer(r'serdab_enclave_page_swaps_total\{enclave="([^"]+)"\} (\S+)', text):
            out.setdefault(m.group(1), {})["swaps"] = float(m.group(2))
        return out


def stream(c, plan, video, frames, paced):
    r = st.check_ok(st.run_serdab([
        "stream", "-f", plan, "--source", video, "--status", "off", "--frames", str(frames),
        *(["--realtime"] if paced else []),
        "--orchestrator", f"127.0.0.1:{c.orchestrator_port}", "--credentials", c.path("admin")],
        timeout=3600))
    return r, [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


CLASSIFIER_EXTRA = ("preprocess: {resize: [224, 224], mean: [0.485, 0.456, 0.406], "
                    "std: [0.229, 0.224, 0.225]}\n")


def detector_extra(c):
    """torchvision's ssdlite320 heads with random weights (the detection
    test's model): the plan's preprocessing and postprocess: for it."""
    import test_detection as td
    td.export(td.SsdHeads(td.randomised_ssd()).eval(), (1, 3, 320, 320), c.path("ssdlite.onnx"))
    return ("preprocess: {resize: [320, 320], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n"
            "postprocess:\n  kind: detect\n  detect:\n"
            f"    score_threshold: {td.SSD_SCORE}\n    iou_threshold: {td.SSD_IOU}\n"
            f"    max_detections: {td.SSD_MAX}\n"
            "    ssd: {feature_maps: [20, 10, 5, 3, 2, 1], aspect_ratios: [[2, 3], [2, 3], "
            "[2, 3], [2, 3], [2, 3], [2, 3]], min_ratio: 0.2, max_ratio: 0.95}\n")


def measure(c, model, stages, video, frames, extra=CLASSIFIER_EXTRA, max_shards=0, paced=False,
            profile_each=False):
    # `model`: a zoo name, or a model section of its own ("{path: FILE}").
    text = cp.plan_text(model=model, max_stages=stages, extra=extra)
    if profile_each:
        order = "  order: [edge, cloud]\n"
        assert order in text, "the plan's workers section changed: set profile: each another way"
        text = text.replace(order, order + "  profile: each\n")
    if max_shards > 1:
        text = text.replace(f"{{max_stages: {stages}}}",
                            f"{{max_stages: {stages}, max_shards: {max_shards}}}")
    if model.startswith("{"):
        text = text.replace(f"model: {{zoo: {model}}}", f"model: {model}")
    plan = cp.write(c.path(f"plan-{stages}.yaml"), text)
    c.cli_ok(["apply", "-f", plan, "--wait", "--timeout", "3600"], timeout=3600)
    d = next(x for x in json.loads(c.cli_ok(["get", "deployments", "-o", "json"]).stdout)
             ["deployments"] if x["name"] == "lobby")
    # Warm up (sessions, first-touch pages), then count the clocks over the
    # measured frames only.
    stream(c, plan, video, WARMUP_FRAMES, paced)
    before = {s["worker"]: c.clocks(s["worker"]) for s in d["stages"]}
    busy_before = [c.busy_seconds(s["worker"]) for s in d["stages"]]
    stage_cpu_before = [c.cpu_seconds(s["worker"]) for s in d["stages"]]
    r, results = stream(c, plan, video, frames, paced)
    stage_cpu_after = [c.cpu_seconds(s["worker"]) for s in d["stages"]]
    after = {s["worker"]: c.clocks(s["worker"]) for s in d["stages"]}
    n = len(results)
    fps = float(re.search(r"(\d+\.\d+) fps", r.stderr).group(1))
    # Each stage worker's time in process ECALLs per frame (a sharded
    # layer's shards each their own; the results carry one per position).
    busy = [1e3 * (c.busy_seconds(s["worker"]) - b) / n for s, b in zip(d["stages"], busy_before)]
    # The same per frame, from the stage times each result carries: their
    # median, which a frame that waited for a core (the scheduler, another
    # tenant of the VM) does not move the way it moves the mean.
    per_frame = [x["stage_ms"] for x in results if len(x.get("stage_ms", [])) == len(d["stages"])]
    p50 = [sorted(f[i] for f in per_frame)[len(per_frame) // 2] if per_frame else None
           for i in range(len(d["stages"]))]
    tee, tee_p50, tee_cpu, swaps = [], [], [], []
    for i, s in enumerate(d["stages"]):
        a, b = after[s["worker"]][s["enclave"]], before[s["worker"]].get(s["enclave"], {})
        delta = {k: a[k] - b.get(k, 0) for k in a}
        priced_less_emulated = 1e3 * (delta.get("priced", 0) - delta.get("emulation", 0)) / n
        tee.append(busy[i] + priced_less_emulated)
        tee_p50.append(None if p50[i] is None else p50[i] + priced_less_emulated)
        # The same from the stage worker's CPU time instead of the ECALL's
        # wall time: what the client or another stage ran on its core while
        # it waited is not its cost (one engine thread per worker only).
        tee_cpu.append(1e3 * (stage_cpu_after[i] - stage_cpu_before[i]) / n + priced_less_emulated)
        swaps.append(delta.get("swaps", 0) / n)
    cpu_ms = 1e3 * (sum(stage_cpu_after) - sum(stage_cpu_before)) / n
    return {
        "stages": len(d["stages"]),
        "layers": [f"[{s['begin']}, {s['end'] if s['end'] >= 0 else 'end'})"
                   + (f" s{s.get('replica', 0)}/{s['shards']}" if s.get("shards") else "")
                   for s in d["stages"]],
        "predicted_fps": d["predicted_fps"],
        "measured_fps": fps,
        "tee_fps": 1000 / max(tee),
        "stage_ms": [round(b, 1) for b in busy],
        "stage_tee_ms": [round(t, 1) for t in tee],
        "stage_tee_p50_ms": [None if t is None else round(t, 1) for t in tee_p50],
        "stage_tee_cpu_ms": [round(t, 1) for t in tee_cpu],
        "tee_cpu_fps": 1000 / max(tee_cpu),
        "swaps_per_frame": [round(x) for x in swaps],
        "predicted_stage_ms": [round(s["predicted_ms"], 1) for s in d["stages"]],
        "cpu_ms_per_frame": round(cpu_ms, 1),
        "cpu_ceiling_fps": os.cpu_count() * 1000 / cpu_ms,
        "latency_p50_ms": sorted(x["latency_ms"] for x in results)[n // 2],
        "stage_cpus": [c.cpu_of(s["worker"]) for s in d["stages"]],
        "decode_p50_ms": float(re.search(r"decode p50 ([\d.]+) ms", r.stderr).group(1)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--detector", action="store_true",
                        help="instead of a zoo model: torchvision's ssdlite320 heads (random "
                             "weights), 640x480 frames, boxes decoded by the client")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--stages", default="1,2,3,4", help="comma-separated max_stages to run")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads per enclave (default: each worker's CPU count)")
    parser.add_argument("--pin", action="store_true", help="pin worker i to CPU i mod CPUs")
    parser.add_argument("--workers", type=int, default=4,
                        help="workers in the cluster (at least the largest --stages)")
    parser.add_argument("--max-shards", type=int, default=0,
                        help="let the planner split a layer across up to this many workers")
    parser.add_argument("--video-size", default="640x480",
                        help="the generated video's WxH; the model's own input size (224x224) "
                             "leaves the client, which shares the cores, the least to do")
    parser.add_argument("--profile-each-worker", action="store_true",
                        help="plan with workers: {profile: each}: every worker profiled on "
                             "its own core, not one profile for workers of one CPU model")
    parser.add_argument("--fps", type=float, default=0,
                        help="feed the video in real time at this rate (below the pipeline's, "
                             "no two stages run at once); default: as fast as it goes")
    args = parser.parse_args()
    cp.EPC_MIB = "93.5"
    # Profiling a large model keeps both cores busy: heartbeats may wait.
    cp.TIMEOUT_MS = 30000
    rows = []
    with BenchCluster(args.threads, args.pin, args.workers) as c:
        c.wait_ready([name for name, _ in c.WORKERS])
        video = c.path("video.mp4")
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc=size={args.video_size}:rate={args.fps or 15}", "-t",
                        str(args.frames / (args.fps or 15) + 1),
                        "-pix_fmt", "yuv420p", video], check=True)
        model, extra = args.model, CLASSIFIER_EXTRA
        if args.detector:
            model, extra = "{path: ssdlite.onnx}", detector_extra(c)
            args.model = "ssdlite320_mobilenet_v3_large (heads)"
        for stages in (int(x) for x in args.stages.split(",")):
            rows.append(measure(c, model, stages, video, args.frames, extra, args.max_shards,
                                paced=args.fps > 0, profile_each=args.profile_each_worker))
            print(json.dumps(rows[-1]), flush=True)
    base_tee = rows[0]["tee_fps"]
    base = rows[0]["measured_fps"]
    threads = f"{args.threads} threads per enclave" if args.threads else "threads: CPUs per worker"
    print(f"\n{args.model}, sgx1 enclaves of 93.5 MiB, {os.cpu_count()} cores, {threads}, "
          f"{'workers pinned, ' if args.pin else ''}{args.frames} frames per run after "
          f"{WARMUP_FRAMES} warm-up frames"
          f"{f', fed in real time at {args.fps:g} fps' if args.fps else ''}"
          f"{', every worker profiled' if args.profile_each_worker else ''}\n")
    print("| stages | layers | predicted fps | TEE-equivalent fps | error | speedup (TEE) | "
          "wall fps | CPU ms/frame | CPU-bound ceiling | speedup (wall) | "
          "stage ms: TEE (predicted) [wall] | swaps/frame | stage CPUs | client decode p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        err = 100 * (r["tee_fps"] - r["predicted_fps"]) / r["predicted_fps"]
        stage = ", ".join(f"{t} ({p}) [{w}]" for t, p, w in
                          zip(r["stage_tee_ms"], r["predicted_stage_ms"], r["stage_ms"]))
        print(f"| {r['stages']} | {' '.join(r['layers'])} | {r['predicted_fps']:.1f} | "
              f"{r['tee_fps']:.1f} | {err:+.0f}% | {r['tee_fps'] / base_tee:.2f}x | "
              f"{r['measured_fps']:.2f} | {r['cpu_ms_per_frame']} | {r['cpu_ceiling_fps']:.2f} | "
              f"{r['measured_fps'] / base:.2f}x | {stage} | "
              f"{', '.join(str(x) for x in r['swaps_per_frame'])} | "
              f"{', '.join('any' if x is None else str(x) for x in r['stage_cpus'])} | "
              f"{r['decode_p50_ms']:.2f} |")
    if args.fps:
        # A worker's CPU time per frame then also counts what it spends idle
        # between frames (heartbeats, gRPC's pollers): no measure of a stage.
        print("\nEach stage's TEE-equivalent time per frame from the median of the frames' "
              "own stage times (the clock's pricing as above):\n")
        print("| stages | stage ms: TEE p50 (predicted) | TEE fps | error |")
        print("|---|---|---|---|")
        for r in rows:
            if None in r["stage_tee_p50_ms"]:
                continue
            fps = 1000 / max(r["stage_tee_p50_ms"])
            err = 100 * (fps - r["predicted_fps"]) / r["predicted_fps"]
            stage = ", ".join(f"{t} ({p})" for t, p in
                              zip(r["stage_tee_p50_ms"], r["predicted_stage_ms"]))
            print(f"| {r['stages']} | {stage} | {fps:.1f} | {err:+.0f}% |")
        return
    print("\nThe TEE-equivalent clock from each stage worker's CPU time per frame instead of its "
          "ECALLs' wall time (meaningful with --threads 1):\n")
    print("| stages | stage ms: TEE by CPU time (predicted) | TEE fps by CPU time | error |")
    print("|---|---|---|---|")
    for r in rows:
        err = 100 * (r["tee_cpu_fps"] - r["predicted_fps"]) / r["predicted_fps"]
        stage = ", ".join(f"{t} ({p})" for t, p in
                          zip(r["stage_tee_cpu_ms"], r["predicted_stage_ms"]))
        print(f"| {r['stages']} | {stage} | {r['tee_cpu_fps']:.1f} | {err:+.0f}% |")


if __name__ == "__main__":
    main()
