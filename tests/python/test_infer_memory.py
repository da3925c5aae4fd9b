"""`serdab infer` keeps one copy of the weights plus modest activations: its
peak RSS on the zoo's resnet50 stays within 1.6 x weight bytes + 64 MiB over
what the same binary takes to run a command that loads no model (its shared
libraries: gRPC, FFmpeg, ...), so that the check is about the engine."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import onnx  # noqa: E402

import serdab_testing as st  # noqa: E402

MIB = 1 << 20
WEIGHT_FACTOR = 1.6
SLACK_BYTES = 64 * MIB

# Runs in a fresh interpreter whose only child is the command, so that
# RUSAGE_CHILDREN's peak RSS (KiB on Linux) is that command's alone.
MEASURE_CHILD = r"""
import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"returncode": proc.returncode, "maxrss_kib": usage.ru_maxrss,
                  "stdout": proc.stdout.decode(errors="replace")[-2000:],
                  "stderr": proc.stderr.decode(errors="replace")[-2000:]}))
"""


def weight_bytes(model_path):
    model = onnx.load(model_path, load_external_data=False)
    total = 0
    for tensor in model.graph.initializer:
        itemsize = np.dtype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[tensor.data_type]).itemsize
        total += int(np.prod(tensor.dims, dtype=np.int64)) * itemsize
    return total


def peak_rss_bytes(argv):
    proc = subprocess.run([sys.executable, "-c", MEASURE_CHILD, *argv],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=st.DEFAULT_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"measuring helper failed: {proc.stderr.decode()[-2000:]}")
    report = json.loads(proc.stdout)
    if report["returncode"] != 0:
        raise AssertionError(
            f"command failed with status {report['returncode']}: {' '.join(argv)}\n"
            f"stderr: {report['stderr']!r}")
    return report["maxrss_kib"] * 1024


def test_resnet50_peak_rss():
    with st.temp_dir() as tmp:
        model = st.serdab_zoo("resnet50", os.path.join(tmp, "resnet50.onnx"), seed=7)
        input_shape, _ = st.onnx_io_shapes(model)
        x_path = os.path.join(tmp, "input.bin")
        st.write_tensor(x_path, st.random_input(input_shape, seed=8))
        weights = weight_bytes(model)
        baseline = peak_rss_bytes([st.serdab_binary(), "zoo", "--list"])
        limit = baseline + WEIGHT_FACTOR * weights + SLACK_BYTES
        peak = peak_rss_bytes([st.serdab_binary(), "infer", "--model", model,
                               "--input", x_path, "--output",
                               os.path.join(tmp, "output.bin"), "--threads", "2"])
        print(f"  resnet50: weights {weights / MIB:.1f} MiB, file "
              f"{os.path.getsize(model) / MIB:.1f} MiB, peak RSS {peak / MIB:.1f} MiB, "
              f"binary without a model {baseline / MIB:.1f} MiB, limit {limit / MIB:.1f} MiB "
              f"({(peak - baseline) / weights:.2f} x weights over it)", flush=True)
        if peak > limit:
            raise AssertionError(
                f"serdab infer on resnet50 peaked at {peak / MIB:.1f} MiB RSS, over "
                f"the limit {baseline / MIB:.1f} MiB (no model) + {WEIGHT_FACTOR} x "
                f"{weights / MIB:.1f} MiB weights + {SLACK_BYTES // MIB} MiB = "
                f"{limit / MIB:.1f} MiB")


if __name__ == "__main__":
    st.run_tests(globals())
