#!/usr/bin/env python3
"""Predicted speedups of pipelined placements over one enclave and the baselines.

For each model: generate it with `serdab zoo`, profile it inside sim enclaves
(`serdab profile --enclave sim`, sgx1 costs, 93.5 MiB EPC), then ask `serdab
plan` for the best placement over a cluster of identical enclave workers (this
machine's measured costs, 1 Gbit/s LAN) with at most 1, 2, 3 and 4 stages, and
print predicted fps with the speedup of the 2-, 3- and 4-enclave pipelines
over one enclave and over the baselines (equal-layer split, greedy EPC fill)
on the same four workers. Predictions only: measuring real pipelines is the
worker/orchestrator's job.
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
    args = parser.parse_args()
    serdab = os.path.join(args.bin, "serdab")
    print("| model | 1 enclave fps | 2 enclaves | 3 enclaves | 4 enclaves | "
          "speedup 2/3/4 vs one enclave | 4 vs equal split | 4 vs greedy EPC fill |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            onnx = os.path.join(tmp, model + ".onnx")
            profile = os.path.join(tmp, model + ".yaml")
            print(f"[{model}] zoo + profile in sim enclaves", file=sys.stderr, flush=True)
            run([serdab, "zoo", "--name", model, "--out", onnx, "--seed", "1"])
            out = run([serdab, "profile", "--model", onnx, "--out", profile, "--enclave", "sim",
                       "--repeat", str(args.repeat)])
            worker = dict(re.findall(r"(\w+): ([\d.e+]+)", out.splitlines()[-1]))
            cluster = os.path.join(tmp, "cluster.yaml")
            with open(cluster, "w") as f:
                f.write("default_link: {bandwidth_bytes_per_s: 1.25e8, rtt_ms: 0.5}\nworkers:\n")
                for i in range(4):
                    f.write("  - " + WORKER.format(name=f"enclave-{i + 1}",
                                                   swap=worker["page_swap_ns"],
                                                   ecall=worker["ecall_ns"],
                                                   aead=worker["aead_bytes_per_s"],
                                                   runtime=worker["runtime_bytes"]) + "\n")
            fps, baselines = {}, {}
            for stages in (1, 2, 3, 4):
                text = run([serdab, "plan", "--profile", profile, "--cluster", cluster,
                            "--max-stages", str(stages)])
                fps[stages] = float(re.search(r": ([\d.]+) fps", text).group(1))
                if stages == 4:
                    for name in ("equal-layer split", "greedy EPC fill"):
                        m = re.search(re.escape(name) + r"\s+([\d.]+)", text)
                        baselines[name] = float(m.group(1)) if m else float("nan")
            speedups = "/".join(f"{fps[k] / fps[1]:.2f}" for k in (2, 3, 4))
            print(f"| {model} | {fps[1]:.2f} | {fps[2]:.2f} | {fps[3]:.2f} | {fps[4]:.2f} | "
                  f"{speedups} | {fps[4] / baselines['equal-layer split']:.2f} | "
                  f"{fps[4] / baselines['greedy EPC fill']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
