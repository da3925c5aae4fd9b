#!/usr/bin/env python3
"""Predicted speedups of pipelined placements over one enclave and the baselines.

For each model: generate it with `serdab zoo`, profile it inside sim enclaves
(`serdab profile --enclave sim`, sgx1 costs, 93.5 MiB EPC), then ask `serdab
plan` for the best placement over clusters of 1, 2, ... identical enclave
workers (this machine's measured costs, 1 Gbit/s LAN; up to --enclaves of them,
default 4), and print predicted fps with the speedup of each pipeline over one
enclave and over the baselines (equal-layer split, greedy EPC fill) on all the
workers. With --max-shards K, plans may also split one Gemm, MatMul or Conv
layer across up to K of the workers (serdab plan --max-shards), so that e.g.
vgg16's 411 MB fc layer can be compared with and without sharding on the same
number of enclaves.
Predictions only: measuring real pipelines is the worker/orchestrator's job.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

WORKER = ("{{name: {name}, kind: enclave, epc_bytes: 98041856, page_swap_ns: {swap}, "
          "ecall_ns: {ecall}, aead_bytes_per_s: {aead}, threads: 2, speed_factor: 1.0, "
          "runtime_bytes: {runtime}}}")


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    return out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="vgg16,resnet50,mobilenet_v2,efficientnet_b0")
    parser.add_argument("--bin", default=os.environ.get("SERDAB_BIN", "build/bin"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--enclaves", type=int, default=4,
                        help="plan over this many workers, with 1 to this many stages")
    parser.add_argument("--max-shards", type=int, default=0,
                        help="let serdab plan shard a layer across up to this many workers "
                             "(0: no sharding)")
    args = parser.parse_args()
    serdab = os.path.join(args.bin, "serdab")
    counts = range(1, args.enclaves + 1)
    top = args.enclaves
    print("| model | 1 enclave fps | " + " | ".join(f"{k} enclaves" for k in counts[1:]) +
          f" | speedup {'/'.join(str(k) for k in counts[1:])} vs one enclave | "
          f"{top} vs equal split | {top} vs greedy EPC fill |")
    print("|---|" + "---:|" * len(counts) + "---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            onnx = os.path.join(tmp, model + ".onnx")
            profile = os.path.join(tmp, model + ".yaml")
            print(f"[{model}] zoo + profile in sim enclaves", file=sys.stderr, flush=True)
            run([serdab, "zoo", "--name", model, "--out", onnx, "--seed", "1"])
            out = run([serdab, "profile", "--model", onnx, "--out", profile, "--enclave", "sim",
                       "--repeat", str(args.repeat)])
            worker = dict(re.findall(r"(\w+): ([\d.e+]+)", out.splitlines()[-1]))
            fps, baselines = {}, {}
            for enclaves in counts:
                # A cluster of exactly this many workers: a sharded stage takes several, so
                # a stage limit alone would not bound the enclaves a plan uses.
                cluster = os.path.join(tmp, f"cluster-{enclaves}.yaml")
                with open(cluster, "w") as f:
                    f.write("default_link: {bandwidth_bytes_per_s: 1.25e8, rtt_ms: 0.5}\n"
                            "workers:\n")
                    for i in range(enclaves):
                        f.write("  - " + WORKER.format(name=f"enclave-{i + 1}",
                                                       swap=worker["page_swap_ns"],
                                                       ecall=worker["ecall_ns"],
                                                       aead=worker["aead_bytes_per_s"],
                                                       runtime=worker["runtime_bytes"]) + "\n")
                text = run([serdab, "plan", "--profile", profile, "--cluster", cluster,
                            "--max-shards", str(args.max_shards)])
                fps[enclaves] = float(re.search(r": ([\d.]+) fps", text).group(1))
                if enclaves == top:
                    for name in ("equal-layer split", "greedy EPC fill"):
                        m = re.search(re.escape(name) + r"\s+([\d.]+)", text)
                        baselines[name] = float(m.group(1)) if m else float("nan")
            speedups = "/".join(f"{fps[k] / fps[1]:.2f}" for k in counts[1:])
            print(f"| {model} | " + " | ".join(f"{fps[k]:.2f}" for k in counts) +
                  f" | {speedups} | {fps[top] / baselines['equal-layer split']:.2f} | "
                  f"{fps[top] / baselines['greedy EPC fill']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
