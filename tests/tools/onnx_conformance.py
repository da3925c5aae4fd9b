"""Runs the ONNX backend tests that Debian ships (libonnx-testdata: the node,
pytorch-converted, pytorch-operator and simple suites) through `serdab infer`
and classifies each one.

A test counts when its model's first input and its only output are float32:
every other input becomes an initializer holding its test_data_set_0 value
(the way a deployed model carries its weights), the first input is fed from
test_data_set_0, and the output is compared with the expected one as ONNX's
own backend tests compare (rtol 1e-3, atol 1e-7, NaN equals NaN).

  pass     the output matches
  wrong    the engine ran and produced a different shape or value
  refused  the engine exited with an error (an op or attribute it does not
           support, or a model it judges invalid)
  crash    the engine died on a signal or ran past --timeout

The "vision op set" is what issue 10 asks the engine to cover for camera
models: the ops it supported before that issue (BASELINE_OPS) and the ones
the issue lists (ISSUE_10_OPS). The headline figure is the pass rate over the
tests whose ops all lie in that set. Run after a build:

  /usr/bin/python3 tests/tools/onnx_conformance.py [--vision] [--ops Conv,Pow]
      [--json out.json] [--serdab build/bin/serdab]

Exits 1 when any test gives a wrong result or crashes, 0 otherwise.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

DEFAULT_DATA_DIR = "/usr/share/libonnx-testdata/data"

RTOL = 1e-3
ATOL = 1e-7

# The ops the engine supported before issue 10.
BASELINE_OPS = frozenset("""
    Abs Add AveragePool BatchNormalization Cast Clip Concat Constant
    ConstantOfShape Conv Div Dropout Exp Expand Flatten Gather Gemm
    GlobalAveragePool GlobalMaxPool HardSigmoid HardSwish Identity LeakyRelu
    Log MatMul MaxPool Mul Neg Pad Pow Reciprocal ReduceMean Relu Reshape
    Resize Shape Sigmoid Slice Softmax Split Sqrt Squeeze Sub Tanh Transpose
    Unsqueeze Upsample
""".split())

# The ops issue 10 (Build 3) adds for detection and segmentation models.
ISSUE_10_OPS = frozenset("""
    ConvTranspose DepthToSpace Elu Equal GatherElements Hardmax LogSoftmax Max
    Min PRelu ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax
    ReduceMin ReduceProd ReduceSum ReduceSumSquare Selu Softplus
    ThresholdedRelu Tile TopK Sum
""".split())

VISION_OPS = BASELINE_OPS | ISSUE_10_OPS

OUTCOMES = ("pass", "wrong", "refused", "crash")


def graph_ops(graph):
    """Op types of a graph's nodes and of their subgraphs (If, Loop)."""
    ops = set()
    for node in graph.node:
        ops.add(node.op_type)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                ops |= graph_ops(attr.g)
            for g in attr.graphs:
                ops |= graph_ops(g)
    return ops


def load_tensor(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t


def elem_type(value_info):
    return value_info.type.tensor_type.elem_type


def prepare(test_dir, work_dir, wanted):
    """Writes the serdab form of a test into work_dir: model.onnx with one
    graph input, input.bin. Returns (ops, expected array), or None when the
    test is out of scope or wanted(ops) is false."""
    model = onnx.load(os.path.join(test_dir, "model.onnx"))
    graph = model.graph
    ops = graph_ops(graph)
    if not wanted(ops):
        return None
    initialized = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initialized]
    if not inputs or len(graph.output) != 1:
        return None
    if not all(v.type.HasField("tensor_type") for v in inputs):
        return None
    if elem_type(inputs[0]) != onnx.TensorProto.FLOAT:
        return None
    if elem_type(graph.output[0]) != onnx.TensorProto.FLOAT:
        return None
    data_dir = os.path.join(test_dir, "test_data_set_0")
    values = [load_tensor(os.path.join(data_dir, f"input_{i}.pb")) for i in range(len(inputs))]
    expected = numpy_helper.to_array(load_tensor(os.path.join(data_dir, "output_0.pb")))

    # Every input but the first becomes an initializer; the first gets the
    # concrete shape of its data, as a deployed model's input has.
    for value_info, value in zip(inputs[1:], values[1:]):
        value.name = value_info.name
        graph.initializer.append(value)
        graph.input.remove(value_info)
    first = numpy_helper.to_array(values[0]).astype(np.float32)
    dims = inputs[0].type.tensor_type.shape
    dims.ClearField("dim")
    for d in first.shape:
        dims.dim.add().dim_value = d
    onnx.save(model, os.path.join(work_dir, "model.onnx"))
    first.tofile(os.path.join(work_dir, "input.bin"))
    return ops, expected


def compare(actual_path, expected):
    actual = np.fromfile(actual_path, dtype="<f4")
    if actual.size != expected.size:
        return f"output has {actual.size} elements, expected {expected.size}"
    actual = actual.reshape(expected.shape)
    expected = expected.astype(np.float32)
    if not np.allclose(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True):
        bad = ~np.isclose(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True)
        i = np.argwhere(bad)[0]
        return (f"{int(bad.sum())} of {expected.size} elements differ, "
                f"first at {tuple(int(v) for v in i)}: {actual[tuple(i)]} vs {expected[tuple(i)]}")
    return None


def run_test(serdab, test_dir, timeout_s, wanted):
    """One test's record: name, ops, outcome, detail; None if it is out of
    scope or wanted(ops) is false."""
    name = os.path.relpath(test_dir, os.path.dirname(os.path.dirname(test_dir)))
    with tempfile.TemporaryDirectory(prefix="onnx_conf_") as work:
        prepared = prepare(test_dir, work, wanted)
        if prepared is None:
            return None
        ops, expected = prepared
        record = {"name": name, "ops": sorted(ops)}
        out_path = os.path.join(work, "output.bin")
        cmd = [serdab, "infer", "--model", os.path.join(work, "model.onnx"),
               "--input", os.path.join(work, "input.bin"), "--output", out_path]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return dict(record, outcome="crash", detail=f"timed out after {timeout_s} s")
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
            return dict(record, outcome="crash", detail=f"killed by {sig}")
        if proc.returncode != 0:
            detail = proc.stderr.strip().replace(work + os.sep, "")
            return dict(record, outcome="refused", detail=detail)
        mismatch = compare(out_path, expected)
        if mismatch:
            return dict(record, outcome="wrong", detail=mismatch)
        return dict(record, outcome="pass", detail="")


def summarize(records):
    counts = collections.Counter(r["outcome"] for r in records)
    return {o: counts.get(o, 0) for o in OUTCOMES} | {"total": len(records)}


def format_counts(c):
    return (f"total {c['total']}: pass {c['pass']}, wrong {c['wrong']}, "
            f"refused {c['refused']}, crash {c['crash']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA_DIR,
                        help="directory of ONNX test suites (default: %(default)s)")
    default_bin = os.path.join(os.environ.get("SERDAB_BIN", "build/bin"), "serdab")
    parser.add_argument("--serdab", default=default_bin, help="serdab binary (%(default)s)")
    parser.add_argument("--ops", help="comma-separated op types: only tests that use one of them")
    parser.add_argument("--vision", action="store_true",
                        help="only tests whose ops all lie in the vision op set")
    parser.add_argument("--tests", help="comma-separated test names: only these")
    parser.add_argument("--json", metavar="OUT", help="also write every record as JSON here")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="tests run at once (default: the number of CPUs)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per test")
    parser.add_argument("--verbose", action="store_true", help="print every non-passing test")
    args = parser.parse_args()

    if not os.path.isdir(args.data):
        sys.exit(f"onnx_conformance: no test data in {args.data} "
                 "(apt-get install libonnx-testdata)")
    if not os.access(args.serdab, os.X_OK):
        sys.exit(f"onnx_conformance: no serdab binary at {args.serdab}")
    dirs = sorted(os.path.join(args.data, suite, d) for suite in os.listdir(args.data)
                  for d in os.listdir(os.path.join(args.data, suite))
                  if os.path.isfile(os.path.join(args.data, suite, d, "model.onnx")))
    if args.tests:
        names = set(args.tests.split(","))
        dirs = [d for d in dirs if os.path.basename(d) in names]

    wanted_ops = set(args.ops.split(",")) if args.ops else None

    def wanted(ops):
        if wanted_ops is not None and not wanted_ops & ops:
            return False
        return not args.vision or ops <= VISION_OPS

    def run(test_dir):
        return run_test(args.serdab, test_dir, args.timeout, wanted)

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        records = [r for r in pool.map(run, dirs) if r]
    vision = [r for r in records if set(r["ops"]) <= VISION_OPS]

    by_op = collections.defaultdict(list)
    for r in records:
        for op in r["ops"]:
            by_op[op].append(r)
    print(f"{'op':<24}{'tests':>6}{'pass':>6}{'wrong':>6}{'refused':>8}{'crash':>6}  vision")
    for op in sorted(by_op):
        c = summarize(by_op[op])
        print(f"{op:<24}{c['total']:>6}{c['pass']:>6}{c['wrong']:>6}{c['refused']:>8}"
              f"{c['crash']:>6}  {'yes' if op in VISION_OPS else 'no'}")
    for r in records:
        if r["outcome"] in ("wrong", "crash") or (args.verbose and r["outcome"] != "pass"):
            print(f"{r['outcome']}: {r['name']}: {r['detail']}")

    summary = summarize(records)
    vision_summary = summarize(vision)
    rate = 100.0 * vision_summary["pass"] / vision_summary["total"] if vision else 0.0
    print(f"summary: {format_counts(summary)}")
    print(f"vision op set: {format_counts(vision_summary)}; pass rate {rate:.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "vision": vision_summary | {"pass_rate": rate},
                       "tests": records}, f, indent=1)
    return 1 if summary["wrong"] or summary["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
