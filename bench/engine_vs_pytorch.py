#!/usr/bin/python3
"""Serdab engine vs PyTorch CPU: milliseconds per frame at batch 1.

For each zoo model, writes the ONNX file once (`serdab zoo`), loads its
torchvision twin with the same weights, and for each thread count times
`serdab infer --repeat R --threads T` (its reported median) and then PyTorch on
the same input (torch.set_num_threads(T), no_grad, warm-up, median of R runs),
one right after the other in this one process run. Both outputs must agree
within the end-to-end tolerance. Prints a Markdown table.

Run with Debian's interpreter: /usr/bin/python3 bench/engine_vs_pytorch.py
"""

import argparse
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import torch  # noqa: E402

import serdab_testing as st  # noqa: E402
import zoo_models  # noqa: E402

DEFAULT_MODELS = "resnet50,vgg16,mobilenet_v2,efficientnet_b0"
WARMUP_RUNS = 3


def log(message):
    print(message, file=sys.stderr, flush=True)


def time_pytorch(model, x, threads, repeat):
    torch.set_num_threads(threads)
    with torch.no_grad():
        for _ in range(WARMUP_RUNS):
            output = model(x)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            output = model(x)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), output.numpy()


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def bench_model(name, threads_list, repeat, seed, workdir):
    """Returns rows (name, threads, engine ms, pytorch ms, mismatch or None)."""
    path = os.path.join(workdir, f"{name}.onnx")
    log(f"[{name}] generating zoo model (seed {seed})")
    st.serdab_zoo(name, path, seed=seed)
    input_shape, output_shape = st.onnx_io_shapes(path)
    x = st.random_input(input_shape, seed=seed + 1)
    twin = zoo_models.load_torch_twin(name, path)
    rows = []
    for threads in threads_list:
        log(f"[{name}] threads {threads}: engine, {repeat} runs")
        actual, engine_ms, _ = st.serdab_infer(
            path, x, workdir, output_shape, threads=threads, repeat=repeat,
            timeout=3600, tag=name, warmup=WARMUP_RUNS)
        log(f"[{name}] threads {threads}: PyTorch, {repeat} runs")
        torch_ms, expected = time_pytorch(twin, torch.from_numpy(x), threads, repeat)
        mismatch = st.tolerance_report(actual, expected)
        if mismatch:
            log(f"[{name}] threads {threads}: OUTPUTS DIFFER: {mismatch}")
        log(f"[{name}] threads {threads}: engine {engine_ms:.2f} ms, "
            f"PyTorch {torch_ms:.2f} ms")
        rows.append((name, threads, engine_ms, torch_ms, mismatch))
    os.remove(path)
    return rows


def markdown_table(rows, repeat, load_before, load_after):
    lines = [
        f"Batch 1, median of {repeat} runs; {cpu_name()} ({os.cpu_count()} CPUs); "
        f"PyTorch {torch.__version__}; {time.strftime('%Y-%m-%d')}; 1-minute load "
        f"average {load_before:.2f} before, {load_after:.2f} after.",
        "",
        "| model | threads | engine ms | PyTorch ms | ratio engine/PyTorch |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, threads, engine_ms, torch_ms, _ in rows:
        lines.append(f"| {name} | {threads} | {engine_ms:.2f} | {torch_ms:.2f} | "
                     f"{engine_ms / torch_ms:.2f} |")
    mismatches = [(n, t, m) for n, t, _, _, m in rows if m]
    lines.append("")
    if mismatches:
        for name, threads, problem in mismatches:
            lines.append(f"OUTPUTS DIFFER for {name} at {threads} threads: {problem}")
    else:
        lines.append(f"Engine and PyTorch outputs agree on every row "
                     f"(max|diff| <= {st.RTOL:g} * max|ref| + {st.ATOL:g}).")
    return "\n".join(lines) + "\n"


def add_timing_arguments(parser, repeat, seed_help):
    """The options both engine benches take besides --models."""
    parser.add_argument("--threads", default="1,2",
                        help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=repeat,
                        help=f"timed runs per measurement (default {repeat})")
    parser.add_argument("--seed", type=int, default=7, help=seed_help)
    parser.add_argument("--markdown", metavar="FILE", help="also write the table here")
    parser.add_argument("--bin", metavar="DIR",
                        help="directory holding serdab (default $SERDAB_BIN or "
                             f"{st.DEFAULT_BIN_DIR})")


def parse_timing_arguments(parser):
    """Parses the command line; returns (args, models, thread counts, the
    1-minute load average before the bench), warning when the machine is
    busy."""
    args = parser.parse_args()
    if args.bin:
        os.environ["SERDAB_BIN"] = args.bin
    models = [m for m in args.models.split(",") if m]
    threads_list = [int(t) for t in args.threads.split(",") if t]
    if args.repeat < 1 or not models or not threads_list or min(threads_list) < 1:
        parser.error("need at least one model, thread counts >= 1 and --repeat >= 1")
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        log(f"warning: 1-minute load average is {load_before:.2f}; other work on "
            "this machine skews the timings")
    return args, models, threads_list, load_before


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS,
                        help=f"comma-separated zoo names (default {DEFAULT_MODELS})")
    add_timing_arguments(parser, repeat=20, seed_help="zoo weight seed")
    args, models, threads_list, load_before = parse_timing_arguments(parser)
    log(f"serdab: {st.serdab_binary()}")

    rows = []
    with st.temp_dir(prefix="serdab_bench_") as workdir:
        for name in models:
            rows.extend(bench_model(name, threads_list, args.repeat, args.seed, workdir))
    table = markdown_table(rows, args.repeat, load_before, os.getloadavg()[0])
    print(table, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    return 1 if any(row[4] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
