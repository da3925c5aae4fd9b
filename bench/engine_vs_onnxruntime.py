#!/usr/bin/python3
"""Serdab engine vs ONNX Runtime vs PyTorch on CPU: milliseconds per frame.

For each torchvision classification family, builds the model with seeded
random weights and random BatchNorm statistics, exports it once with
torch.onnx.export at opset 13 (batch 1, 224x224; inception_v3 299x299), and for
each thread count times, in this one process run, N rounds (--rounds) of
`serdab infer --threads T --warmup W --repeat R` (its reported median) and
ONNX Runtime's CPU execution provider on the same ONNX file and input, each
engine first in every other round
(bench/onnxruntime_time.mjs under Node.js: T intra-op threads, 1 inter-op
thread, all graph optimisations, W warm-up runs, median of R), then PyTorch once
(torch.set_num_threads(T), no_grad, warm-up, median of R). A shared VM's
speed drifts by tens of percent over minutes; within a round the two engines
run seconds apart, so the ratio a row reports is the median of the rounds'
ratios, and each engine's time the median of its rounds' medians. Serdab's and
ONNX Runtime's outputs must each agree with PyTorch's within the end-to-end
tolerance. Prints a Markdown table, the geometric mean of serdab/ORT per
thread count and the models above 1.2; exits 1 if any output disagrees or any
run fails.

ONNX Runtime is the benchmark's anchor only, never a dependency of the build
or the services. Install it (Node.js >= 18) with
  npm install --ignore-scripts --no-save --prefix bench/.onnxruntime onnxruntime-node
(`make bench` does); without it the script says so and exits 2.

Run with Debian's interpreter: /usr/bin/python3 bench/engine_vs_onnxruntime.py
"""

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import torch  # noqa: E402
import torchvision  # noqa: E402

import serdab_testing as st  # noqa: E402
from engine_vs_pytorch import (  # noqa: E402
    WARMUP_RUNS, add_timing_arguments, cpu_name, log, parse_timing_arguments, time_pytorch)
from test_torchvision_export import randomize_batchnorm  # noqa: E402

FAMILIES = ("resnet18,resnet50,vgg16,mobilenet_v2,mobilenet_v3_large,"
            "efficientnet_b0,squeezenet1_1,googlenet,inception_v3,densenet121,"
            "shufflenet_v2_x1_0,mnasnet1_0,alexnet,regnet_y_400mf,"
            "resnext50_32x4d,wide_resnet50_2")
INPUT_SIDE = {"inception_v3": 299}
OPSET = 13
SLOW_RATIO = 1.2
MIN_NODE_MAJOR = 18
ORT_PREFIX = os.path.join(HERE, ".onnxruntime")
ORT_PACKAGE = os.path.join(ORT_PREFIX, "node_modules", "onnxruntime-node", "package.json")
ORT_INSTALL = f"npm install --ignore-scripts --no-save --prefix {ORT_PREFIX} onnxruntime-node"
ORT_SCRIPT = os.path.join(HERE, "onnxruntime_time.mjs")


def cpu_ticks():
    """(steal, total) jiffies of all CPUs from /proc/stat, or None off Linux.
    Steal is time the hypervisor gave our vCPUs to someone else: a run that
    loses much of it is slowed by the host, not by the engine."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal (guest times are inside user).
    return fields[7], sum(fields[:8])


def steal_share(run):
    """run()'s result and the share of CPU time stolen while it ran (None if
    unknown)."""
    before = cpu_ticks()
    result = run()
    after = cpu_ticks()
    if before is None or after is None or after[1] <= before[1]:
        return result, None
    return result, (after[0] - before[0]) / (after[1] - before[1])


class Row:
    """One model at one thread count: each engine's median (None where its
    runs failed), serdab/ORT (the median of the rounds' ratios) and the
    problems found (failures, outputs that disagree)."""

    def __init__(self, name, threads):
        self.name = name
        self.threads = threads
        self.serdab_ms = None
        self.ort_ms = None
        self.ort_ratio = None
        self.torch_ms = None
        self.serdab_steal = None  # median share of CPU time stolen during its rounds
        self.ort_steal = None
        self.problems = []


def failure_summary(error):
    """The exit status and stderr lines of a failed command, else the first
    line of the error."""
    lines = str(error).splitlines()
    kept = [line for line in lines if line.startswith(("exit status:", "stderr:"))]
    return "; ".join(kept or lines[:1])


def attempt(row, who, run):
    """run()'s result, or None when it fails: the failure is logged and noted
    in row.problems."""
    try:
        return run()
    except AssertionError as error:
        log(f"[{row.name}] threads {row.threads}: {who} FAILED\n{error}")
        row.problems.append(f"{who} failed: {failure_summary(error)}")
        return None


def build_model(name, seed):
    """The torchvision model with seeded random weights, in eval mode, and a
    seeded random input of its size."""
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    randomize_batchnorm(model, seed + 1000).eval()
    side = INPUT_SIDE.get(name, 224)
    return model, st.random_input((1, 3, side, side), seed + 2000)


def export(model, x, path):
    torch.onnx.export(model, torch.from_numpy(x), path, opset_version=OPSET,
                      do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL,
                      input_names=["input"], output_names=["output"])


def time_ort(path, input_path, input_shape, output_path, output_shape, threads, repeat):
    """ONNX Runtime's median ms and output, through bench/onnxruntime_time.mjs."""
    result = st.check_ok(st.run_command(
        ["node", ORT_SCRIPT, "--model", path, "--input", input_path,
         "--shape", ",".join(str(d) for d in input_shape), "--output", output_path,
         "--threads", threads, "--repeat", repeat, "--warmup", WARMUP_RUNS],
        timeout=3600))
    return st.parse_median_ms(result.stdout), st.read_tensor(output_path, output_shape)


def bench_model(name, threads_list, repeat, rounds, seed, workdir):
    """Returns one Row per thread count."""
    path = os.path.join(workdir, f"{name}.onnx")
    log(f"[{name}] building with random weights (seed {seed}), exporting at opset {OPSET}")
    model, x = build_model(name, seed)
    export(model, x, path)
    input_shape, output_shape = st.onnx_io_shapes(path)
    ort_input = os.path.join(workdir, f"{name}_ort_input.bin")
    ort_output = os.path.join(workdir, f"{name}_ort_output.bin")
    st.write_tensor(ort_input, x)
    rows = []
    for threads in threads_list:
        row = Row(name, threads)
        serdab_ms, ort_ms = [], []
        serdab_steal, ort_steal = [], []
        serdab_out = ort_out = None
        def run_serdab():
            nonlocal serdab_out
            timed, steal = steal_share(lambda: attempt(row, "serdab", lambda: st.serdab_infer(
                path, x, workdir, output_shape, threads=threads, repeat=repeat,
                timeout=3600, tag=name, warmup=WARMUP_RUNS)))
            if steal is not None:
                serdab_steal.append(steal)
            if timed is None:
                serdab_out = None
                return False
            serdab_out, ms, _ = timed
            serdab_ms.append(ms)
            return True

        def run_ort():
            nonlocal ort_out
            timed, steal = steal_share(lambda: attempt(row, "ONNX Runtime", lambda: time_ort(
                path, ort_input, input_shape, ort_output, output_shape, threads, repeat)))
            if steal is not None:
                ort_steal.append(steal)
            if timed is None:
                ort_out = None
                return False
            ms, ort_out = timed
            ort_ms.append(ms)
            return True

        for r in range(rounds):
            # Each engine goes first in every other round, so that neither
            # always runs in the other's wake (caches, the host's clock).
            order = (run_serdab, run_ort) if r % 2 == 0 else (run_ort, run_serdab)
            log(f"[{name}] threads {threads}, round {r + 1} of {rounds}: "
                f"{'serdab, then ONNX Runtime' if r % 2 == 0 else 'ONNX Runtime, then serdab'}, "
                f"{repeat} runs each")
            if not all(run() for run in order):
                break
        if serdab_ms:
            row.serdab_ms = statistics.median(serdab_ms)
        if ort_ms:
            row.ort_ms = statistics.median(ort_ms)
        if serdab_steal:
            row.serdab_steal = statistics.median(serdab_steal)
        if ort_steal:
            row.ort_steal = statistics.median(ort_steal)
        if serdab_out is not None and ort_out is not None:
            row.ort_ratio = statistics.median(a / b for a, b in zip(serdab_ms, ort_ms))
        log(f"[{name}] threads {threads}: PyTorch, {repeat} runs")
        row.torch_ms, expected = time_pytorch(model, torch.from_numpy(x), threads, repeat)
        for who, actual in (("serdab", serdab_out), ("ONNX Runtime", ort_out)):
            mismatch = actual is not None and st.tolerance_report(actual, expected)
            if mismatch:
                log(f"[{name}] threads {threads}: {who} OUTPUT DIFFERS: {mismatch}")
                row.problems.append(f"{who} output differs from PyTorch: {mismatch}")
        log(f"[{name}] threads {threads}: serdab {fmt_ms(row.serdab_ms)} ms, "
            f"ORT {fmt_ms(row.ort_ms)} ms (serdab/ORT by round: "
            f"{', '.join(f'{a / b:.2f}' for a, b in zip(serdab_ms, ort_ms))}), "
            f"PyTorch {row.torch_ms:.2f} ms; host steal {fmt_steal(row)}")
        rows.append(row)
    os.remove(path)
    return rows


def fmt_ms(ms):
    return "failed" if ms is None else f"{ms:.2f}"


def fmt_steal(row):
    """Median stolen share of CPU time in serdab's and ONNX Runtime's runs, in %."""
    def pct(share):
        return "-" if share is None else f"{100 * share:.0f}"
    return f"{pct(row.serdab_steal)} / {pct(row.ort_steal)}"


def fmt_ratio(num, den):
    return "-" if num is None or den is None else f"{num / den:.2f}"


def ort_version():
    with open(ORT_PACKAGE) as f:
        return json.load(f)["version"]


def markdown_table(rows, threads_list, repeat, rounds, load_before, load_after, node_version):
    lines = [
        f"Batch 1, opset {OPSET}, median of {repeat} runs after {WARMUP_RUNS} warm-up in "
        f"each of {rounds} rounds of serdab and ONNX Runtime, each first in every other "
        f"round (ms: the median of the "
        f"rounds' medians; serdab/ORT: the median of the rounds' ratios); "
        f"{cpu_name()} ({os.cpu_count()} CPUs); ONNX Runtime {ort_version()} "
        f"(onnxruntime-node, CPU EP, Node.js {node_version}); PyTorch {torch.__version__}, "
        f"torchvision {torchvision.__version__}; {time.strftime('%Y-%m-%d')}; "
        f"1-minute load average {load_before:.2f} before, {load_after:.2f} after. "
        f"Steal: the median share of the CPUs' time the hypervisor gave to other guests "
        f"during serdab's / ONNX Runtime's runs, in % (/proc/stat); a row with much "
        f"of it was slowed by the host.",
        "",
        "| model | threads | serdab ms | ORT ms | PyTorch ms | serdab/ORT | "
        "serdab/PyTorch | steal % | outputs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        outputs = "; ".join(p.split(":", 1)[0] for p in row.problems) or "agree"
        lines.append(
            f"| {row.name} | {row.threads} | {fmt_ms(row.serdab_ms)} | "
            f"{fmt_ms(row.ort_ms)} | {row.torch_ms:.2f} | "
            f"{'-' if row.ort_ratio is None else f'{row.ort_ratio:.2f}'} | "
            f"{fmt_ratio(row.serdab_ms, row.torch_ms)} | {fmt_steal(row)} | {outputs} |")
    lines.append("")
    for threads in threads_list:
        ratios = [(r.name, r.ort_ratio) for r in rows
                  if r.threads == threads and r.ort_ratio is not None]
        if not ratios:
            lines.append(f"- {threads} thread(s): no model has both timings.")
            continue
        geomean = math.exp(statistics.fmean(math.log(v) for _, v in ratios))
        slow = [f"{n} {v:.2f}" for n, v in ratios if v > SLOW_RATIO]
        lines.append(
            f"- {threads} thread(s): serdab/ORT geometric mean {geomean:.2f} over "
            f"{len(ratios)} models; {len(slow)} above {SLOW_RATIO}"
            + (f" ({', '.join(slow)})." if slow else "."))
    lines.append("")
    problems = [(r, p) for r in rows for p in r.problems]
    if problems:
        for row, problem in problems:
            lines.append(f"- {row.name} at {row.threads} thread(s): {problem}")
    else:
        lines.append(f"Serdab's and ONNX Runtime's outputs agree with PyTorch's on every "
                     f"row (max|diff| <= {st.RTOL:g} * max|ref| + {st.ATOL:g}).")
    return "\n".join(lines) + "\n"


def node_version_or_exit():
    """Node.js's version if it is >= 18 and onnxruntime-node is installed;
    otherwise says what to install and exits 2."""
    if shutil.which("node") is None:
        log(f"Node.js (>= {MIN_NODE_MAJOR}) is not on PATH; it runs the ONNX Runtime anchor")
        sys.exit(2)
    version = st.check_ok(st.run_command(["node", "--version"])).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        log(f"Node.js {version} is too old for onnxruntime-node; need >= {MIN_NODE_MAJOR}")
        sys.exit(2)
    if not os.path.isfile(ORT_PACKAGE):
        log(f"onnxruntime-node is not installed under {ORT_PREFIX}; install it with:\n"
            f"  {ORT_INSTALL}")
        sys.exit(2)
    return version


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=FAMILIES,
                        help="comma-separated torchvision.models names (default: the "
                             f"{len(FAMILIES.split(','))} families of issue 11: {FAMILIES})")
    add_timing_arguments(parser, repeat=9, seed_help="weight and input seed")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of serdab and ONNX Runtime per model and thread count, "
                             "each engine first in every other round (default 5)")
    args, models, threads_list, load_before = parse_timing_arguments(parser)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    unknown = [m for m in models if not hasattr(torchvision.models, m)]
    if unknown:
        parser.error(f"not in torchvision.models: {', '.join(unknown)}")
    node_version = node_version_or_exit()
    log(f"serdab: {st.serdab_binary()}; ONNX Runtime {ort_version()}, Node.js {node_version}")
    # torch.onnx.export warns about traced shape computations and torchvision
    # about googlenet's and inception_v3's future default initialisation; the
    # weights are random and the check is on the numbers, so both are noise.
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)

    rows = []
    with st.temp_dir(prefix="serdab_bench_ort_") as workdir:
        for name in models:
            rows.extend(bench_model(name, threads_list, args.repeat, args.rounds, args.seed,
                                    workdir))
    table = markdown_table(rows, threads_list, args.repeat, args.rounds, load_before,
                           os.getloadavg()[0], node_version)
    print(table, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    return 1 if any(row.problems for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
