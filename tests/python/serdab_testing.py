"""Shared helpers for Serdab's end-to-end Python checks.

The test files (tests/python/test_*.py) import this module; CTest runs each
test file as one test with /usr/bin/python3. Only the standard library, numpy
and (where a test needs them) torch/onnx are used.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

# CTest sets SERDAB_BIN to <build>/bin; a developer running a test by hand
# gets the default build directory.
DEFAULT_BIN_DIR = "/work/main/build/bin"

# Results must agree with PyTorch within max|diff| <= RTOL * max|ref| + ATOL.
RTOL = 1e-4
ATOL = 1e-5

DEFAULT_TIMEOUT_S = 600


def bin_dir():
    return os.environ.get("SERDAB_BIN") or DEFAULT_BIN_DIR


def serdab_binary():
    """Path of the serdab CLI; raises with a clear message if it is missing."""
    path = os.path.join(bin_dir(), "serdab")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            f"serdab binary not found at {path} (set SERDAB_BIN to the "
            "directory holding it, e.g. <build>/bin)")
    return path


class CommandResult:
    """Outcome of one finished command: exit status, output and wall time."""

    def __init__(self, argv, returncode, stdout, stderr, seconds):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds

    def describe(self):
        return (f"command: {' '.join(self.argv)}\n"
                f"exit status: {describe_returncode(self.returncode)}\n"
                f"stdout: {self.stdout.strip()[-2000:]!r}\n"
                f"stderr: {self.stderr.strip()[-2000:]!r}")


def describe_returncode(returncode):
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"{returncode} (killed by {name})"
    return str(returncode)


def run_command(argv, timeout=DEFAULT_TIMEOUT_S):
    """Runs argv, capturing stdout and stderr as text; never raises on a
    non-zero exit. A command that outlives the timeout is killed and reported
    as a failure."""
    argv = [str(a) for a in argv]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"command timed out after {timeout} s: {' '.join(argv)}\n"
            f"stderr so far: {(e.stderr or b'').decode(errors='replace')[-2000:]!r}"
        ) from None
    return CommandResult(argv, proc.returncode,
                         proc.stdout.decode(errors="replace"),
                         proc.stderr.decode(errors="replace"),
                         time.monotonic() - start)


def run_serdab(args, timeout=DEFAULT_TIMEOUT_S):
    return run_command([serdab_binary()] + list(args), timeout=timeout)


def check_ok(result):
    """Asserts a command succeeded and returns it."""
    if result.returncode != 0:
        raise AssertionError("command failed\n" + result.describe())
    return result


def serdab_ok(args, timeout=DEFAULT_TIMEOUT_S):
    return check_ok(run_serdab(args, timeout=timeout))


def serdab_zoo(name, out_path, seed=None, timeout=DEFAULT_TIMEOUT_S,
               pixel_input=False):
    args = ["zoo", "--name", name, "--out", out_path]
    if seed is not None:
        args += ["--seed", str(seed)]
    if pixel_input:
        args += ["--pixel-input"]
    serdab_ok(args, timeout=timeout)
    return out_path


def serdab_infer(model_path, input_array, workdir, output_shape, threads=2,
                 repeat=None, timeout=DEFAULT_TIMEOUT_S, tag="run", warmup=None):
    """Runs `serdab infer` on one input (with `repeat`, timed after `warmup`
    untimed runs); returns (output array, median_ms or None, CommandResult)."""
    in_path = os.path.join(workdir, f"{tag}_input.bin")
    out_path = os.path.join(workdir, f"{tag}_output.bin")
    write_tensor(in_path, input_array)
    if os.path.exists(out_path):
        os.remove(out_path)
    args = ["infer", "--model", model_path, "--input", in_path, "--output",
            out_path, "--threads", str(threads)]
    if repeat is not None:
        args += ["--repeat", str(repeat)]
    if warmup is not None:
        args += ["--warmup", str(warmup)]
    result = serdab_ok(args, timeout=timeout)
    output = read_tensor(out_path, output_shape)
    median = parse_median_ms(result.stdout) if repeat is not None else None
    return output, median, result


def parse_median_ms(stdout):
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("median_ms:"):
            return float(line.split(":", 1)[1])
    raise AssertionError(f"no 'median_ms:' line in output: {stdout!r}")


def write_tensor(path, array):
    """Writes a tensor as raw little-endian float32, or as raw bytes when it
    holds uint8 pixels."""
    dtype = "u1" if array.dtype == np.uint8 else "<f4"
    np.ascontiguousarray(array, dtype=dtype).tofile(path)


def read_tensor(path, shape):
    """Reads raw little-endian float32 and checks the byte count matches."""
    expected = int(np.prod(shape)) * 4
    actual = os.path.getsize(path)
    if actual != expected:
        raise AssertionError(
            f"{path}: expected {expected} bytes for shape {list(shape)}, "
            f"got {actual}")
    return np.fromfile(path, dtype="<f4").reshape(shape)


def random_input(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def tolerance_report(actual, expected, rtol=RTOL, atol=ATOL):
    """Returns None when actual matches expected under
    max|diff| <= rtol * max|expected| + atol, else a readable description."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return f"shape mismatch: got {list(actual.shape)}, expected {list(expected.shape)}"
    if not np.all(np.isfinite(actual)):
        bad = np.argwhere(~np.isfinite(actual))[0]
        return (f"non-finite output at index {tuple(int(i) for i in bad)}: "
                f"{actual[tuple(bad)]}")
    max_ref = float(np.max(np.abs(expected))) if expected.size else 0.0
    diff = np.abs(actual - expected)
    max_diff = float(np.max(diff)) if diff.size else 0.0
    bound = rtol * max_ref + atol
    if max_diff <= bound:
        return None
    over = np.argwhere(diff > bound)
    first = tuple(int(i) for i in over[0])
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
    return (f"max|diff| = {max_diff:.6g} > bound {bound:.6g} "
            f"(max|ref| = {max_ref:.6g}); {len(over)} of {diff.size} elements "
            f"out of tolerance; first at {first}: got {actual[first]:.8g}, "
            f"expected {expected[first]:.8g}; worst at {worst}: got "
            f"{actual[worst]:.8g}, expected {expected[worst]:.8g}")


def max_abs_diff(actual, expected):
    return float(np.max(np.abs(np.asarray(actual, np.float64) -
                                np.asarray(expected, np.float64))))


def assert_close(actual, expected, what, rtol=RTOL, atol=ATOL):
    problem = tolerance_report(actual, expected, rtol, atol)
    if problem is not None:
        raise AssertionError(f"{what}: {problem}")


def onnx_io_shapes(model_path):
    """(first input shape, first output shape) of an ONNX file, skipping graph
    inputs that are initializers (older exports list weights as inputs)."""
    import onnx
    model = onnx.load(model_path, load_external_data=False)
    init_names = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init_names]

    def dims(value_info):
        return [d.dim_value for d in value_info.type.tensor_type.shape.dim]

    return dims(inputs[0]), dims(model.graph.output[0])


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def temp_dir(prefix="serdab_test_"):
    """A scratch directory, removed afterwards unless SERDAB_KEEP_TMP=1 (then
    the model and tensors that reproduce a failure stay for inspection)."""
    path = tempfile.mkdtemp(prefix=prefix)
    keep = os.environ.get("SERDAB_KEEP_TMP") == "1"
    try:
        yield path
    except BaseException:
        if not keep:
            print("  (rerun with SERDAB_KEEP_TMP=1 to keep the model and tensors "
                  "of this failure)", flush=True)
        raise
    finally:
        if keep:
            print(f"  kept scratch directory {path}", flush=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


def run_tests(module_globals, argv=None):
    """Runs the module's test_* functions in definition order, printing
    PASS/FAIL per test and a final 'N passed, M failed' line; exits non-zero if
    any failed. Command-line arguments, if any, select tests whose name
    contains one of them."""
    argv = sys.argv[1:] if argv is None else argv
    tests = [(name, fn) for name, fn in module_globals.items()
             if name.startswith("test_") and callable(fn)]
    if argv:
        tests = [(n, f) for n, f in tests if any(a in n for a in argv)]
    passed = failed = 0
    for name, fn in tests:
        start = time.monotonic()
        try:
            fn()
        except Exception:  # A test failure of any kind is reported, not fatal.
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - start:.1f} s)", flush=True)
            print(traceback.format_exc().rstrip(), flush=True)
        else:
            passed += 1
            print(f"PASS {name} ({time.monotonic() - start:.1f} s)", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not tests else 0)
