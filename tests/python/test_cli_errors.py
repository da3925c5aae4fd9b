"""The CLI's error contract: every bad model, input or command line ends in a
non-zero exit status (never a signal) and one line on stderr that names the
problem."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import serdab_testing as st  # noqa: E402

TIMEOUT_S = 60
INPUT_SHAPE = [1, 3, 8, 8]
INPUT_BYTES = 1 * 3 * 8 * 8 * 4


def save_model(nodes, path, inputs, outputs, initializers=(), opset=13):
    graph = helper.make_graph(nodes, "cli_errors", inputs, outputs,
                              initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="serdab-tests")
    onnx.save(model, path)
    return path


def conv_relu_model(path):
    """A valid model: Conv(3->4, 3x3, pad 1) + Relu on [1, 3, 8, 8]."""
    rng = np.random.default_rng(3)
    weight = numpy_helper.from_array(
        rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv.weight")
    bias = numpy_helper.from_array(
        rng.standard_normal(4).astype(np.float32), "conv.bias")
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"],
                         name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["output"], name="relu"),
    ]
    return save_model(
        nodes, path,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, INPUT_SHAPE)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 8, 8])],
        [weight, bias])


def write_input(tmp, nbytes=INPUT_BYTES):
    path = os.path.join(tmp, "input.bin")
    st.write_tensor(path, np.ones(nbytes // 4, np.float32))
    with open(path, "ab") as f:
        f.write(b"\0" * (nbytes % 4))
    return path


def expect_error(args, *keywords, exit_codes=range(1, 128)):
    """Runs serdab expecting a clean failure: an exit status in exit_codes (by
    default 1..127: not a signal, not a shell's 128+N), exactly one non-empty
    line on stderr, and every keyword (case-insensitive) in that line."""
    result = st.run_serdab(args, timeout=TIMEOUT_S)
    if result.returncode not in exit_codes:
        raise AssertionError(f"expected a clean error exit ({exit_codes})\n" +
                             result.describe())
    message = result.stderr.strip("\n")
    if not message or "\n" in message:
        raise AssertionError("expected exactly one line on stderr\n" + result.describe())
    missing = [k for k in keywords if str(k).lower() not in message.lower()]
    if missing:
        raise AssertionError(f"stderr does not mention {missing}\n" + result.describe())
    print(f"  exit {result.returncode}: {message}", flush=True)
    return message


def infer_args(model, input_path, output_path, *extra):
    return ["infer", "--model", model, "--input", input_path,
            "--output", output_path, "--threads", "2", *extra]


def test_valid_model_runs():
    """The reference model the other cases corrupt is itself fine."""
    with st.temp_dir() as tmp:
        model = conv_relu_model(os.path.join(tmp, "ok.onnx"))
        x = st.random_input(INPUT_SHAPE, seed=4)
        actual, _, _ = st.serdab_infer(model, x, tmp, [1, 4, 8, 8])
        loaded = onnx.load(model)
        w = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy())
             for t in loaded.graph.initializer}
        expected = torch.relu(torch.nn.functional.conv2d(
            torch.from_numpy(x), w["conv.weight"], w["conv.bias"], padding=1)).numpy()
        st.assert_close(actual, expected, "conv+relu model")


def test_layers_on_valid_model():
    with st.temp_dir() as tmp:
        model = conv_relu_model(os.path.join(tmp, "ok.onnx"))
        st.serdab_ok(["layers", "--model", model], timeout=TIMEOUT_S)
        listing = st.serdab_ok(["layers", "--model", model, "--json"], timeout=TIMEOUT_S)
        try:
            json.loads(listing.stdout)
        except ValueError as e:
            raise AssertionError(f"serdab layers --json printed invalid JSON ({e}):\n"
                                 f"{listing.stdout[:2000]}") from None


def test_garbage_model_file():
    with st.temp_dir() as tmp:
        model = os.path.join(tmp, "garbage.onnx")
        with open(model, "wb") as f:
            f.write(b"this is not an ONNX model\n" * 100)
        expect_error(infer_args(model, write_input(tmp), os.path.join(tmp, "y.bin")),
                     "garbage.onnx")
        expect_error(["layers", "--model", model], "garbage.onnx")


def test_truncated_model_file():
    with st.temp_dir() as tmp:
        whole = conv_relu_model(os.path.join(tmp, "whole.onnx"))
        with open(whole, "rb") as f:
            data = f.read()
        model = os.path.join(tmp, "truncated.onnx")
        with open(model, "wb") as f:
            f.write(data[:len(data) // 2])
        expect_error(infer_args(model, write_input(tmp), os.path.join(tmp, "y.bin")),
                     "truncated.onnx")


def test_unsupported_made_up_op():
    with st.temp_dir() as tmp:
        nodes = [
            helper.make_node("Relu", ["input"], ["r"], name="relu"),
            helper.make_node("FooBar", ["r"], ["output"], name="my_foobar_node"),
        ]
        model = save_model(
            nodes, os.path.join(tmp, "foobar.onnx"),
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, INPUT_SHAPE)],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, INPUT_SHAPE)])
        expect_error(infer_args(model, write_input(tmp), os.path.join(tmp, "y.bin")),
                     "FooBar", "my_foobar_node")


def test_unsupported_real_op():
    """NonMaxSuppression is valid ONNX that the engine does not implement."""
    with st.temp_dir() as tmp:
        scores = numpy_helper.from_array(
            np.linspace(0.1, 0.9, 6, dtype=np.float32).reshape(1, 1, 6), "scores")
        nodes = [
            helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["selected"],
                             name="nms_node"),
            helper.make_node("Cast", ["selected"], ["output"], name="cast",
                             to=TensorProto.FLOAT),
        ]
        model = save_model(
            nodes, os.path.join(tmp, "nms.onnx"),
            [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 6, 4])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3])],
            [scores])
        expect_error(infer_args(model, write_input(tmp, 6 * 4 * 4),
                                os.path.join(tmp, "y.bin")),
                     "NonMaxSuppression", "nms_node")


def test_huge_declared_tensor():
    """An initializer whose dims claim ~4 PiB but which holds no data: refused
    with one line naming it, never std::bad_alloc and SIGABRT."""
    with st.temp_dir() as tmp:
        weight = TensorProto()
        weight.name = "huge.weight"
        weight.data_type = TensorProto.FLOAT
        weight.dims.extend([1 << 20, 1 << 20, 1 << 10, 1, 1])
        weight.raw_data = b""
        nodes = [helper.make_node("Conv", ["input", "huge.weight"], ["output"], name="conv")]
        model = save_model(
            nodes, os.path.join(tmp, "huge.onnx"),
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, INPUT_SHAPE)],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)],
            [weight])
        expect_error(["layers", "--model", model], "huge.onnx", "huge.weight", "limit",
                     exit_codes=(1, 2))
        expect_error(infer_args(model, write_input(tmp), os.path.join(tmp, "y.bin")),
                     "huge.weight", exit_codes=(1, 2))


def test_wrong_input_size():
    with st.temp_dir() as tmp:
        model = conv_relu_model(os.path.join(tmp, "ok.onnx"))
        for size in (700, INPUT_BYTES + 4):
            expect_error(infer_args(model, write_input(tmp, size),
                                    os.path.join(tmp, "y.bin")),
                         str(INPUT_BYTES), str(size))


def test_missing_files():
    with st.temp_dir() as tmp:
        model = conv_relu_model(os.path.join(tmp, "ok.onnx"))
        missing_model = os.path.join(tmp, "no_such_model.onnx")
        expect_error(infer_args(missing_model, write_input(tmp), os.path.join(tmp, "y.bin")),
                     "no_such_model.onnx")
        missing_input = os.path.join(tmp, "no_such_input.bin")
        expect_error(infer_args(model, missing_input, os.path.join(tmp, "y.bin")),
                     "no_such_input.bin")
        unwritable = os.path.join(tmp, "no_such_dir", "y.bin")
        expect_error(infer_args(model, write_input(tmp), unwritable), "no_such_dir")
        expect_error(["layers", "--model", missing_model], "no_such_model.onnx")


def test_bad_command_lines():
    with st.temp_dir() as tmp:
        model = conv_relu_model(os.path.join(tmp, "ok.onnx"))
        x = write_input(tmp)
        y = os.path.join(tmp, "y.bin")
        expect_error(infer_args(model, x, y, "--bogus-flag"), "--bogus-flag")
        expect_error(["infer", "--model", model, "--output", y], "--input")
        expect_error(["infer", "--model", model, "--input", x, "--output", y,
                      "--threads", "abc"], "--threads", "abc")
        expect_error(["frobnicate"], "frobnicate")
        expect_error(["zoo", "--name", "no_such_net", "--out", os.path.join(tmp, "z.onnx")],
                     "no_such_net")


def test_usage_errors_exit_2():
    """A bad command line is a usage error: exit status 2 and one line that
    names the (sub)command and the flag or argument at fault."""
    with st.temp_dir() as tmp:
        model = conv_relu_model(os.path.join(tmp, "ok.onnx"))
        x = write_input(tmp)
        y = os.path.join(tmp, "y.bin")
        infer = ["infer", "--model", model, "--input", x, "--output", y]
        cases = [
            (infer + ["--threads", "0"], "serdab infer:", "--threads", "0"),
            (infer + ["--threads=257"], "--threads", "257"),
            (infer + ["--threads", "0x10"], "--threads", "0x10"),
            (infer + ["--repeat", "99999999999999999999"], "--repeat"),
            (infer + ["--repeat", "3", "--warmup", "0"], "--warmup", "0"),
            (infer + ["--enclave", "tee"], "--enclave", "tee"),
            (infer + ["--epc-mib", "lots"], "--epc-mib", "lots"),
            (infer + ["stray"], "stray"),
            (["infer", "--modle", model], "--modle"),
            (["layers"], "--model"),
            (["zoo", "--name", "tiny", "--out", os.path.join(tmp, "z.onnx"), "--seed", "-1"],
             "--seed", "-1"),
            (["zoo", "--seed", "3"], "--name", "--out"),
            (["profile", "--model", model, "--out", y, "--repeat", "0"], "--repeat"),
            (["plan", "--cluster", y, "--objective", "fastest"], "--objective", "fastest"),
            (["plan", "--cluster", y, "--max-stages", "1025"], "--max-stages", "1025"),
            (["ca"], "serdab ca:", "subcommand"),
            (["ca", "frobnicate"], "frobnicate"),
            (["ca", "init"], "serdab ca init:", "--out"),
            (["ca", "init", "--ot", tmp], "--ot"),
            (["ca", "issue-node", "--ca", tmp, "--name", "n", "--role", "admin", "--out", tmp],
             "serdab ca issue-node:", "--role", "admin"),
            (["ca", "issue-user", "--ca", tmp, "--name", "n", "--role", "viewer", "--out", tmp,
              "--days", "3651"], "serdab ca issue-user:", "--days", "3651"),
            (["enclave", "sign", "--key", tmp, "--out", y, "--svn", "65536"],
             "serdab enclave sign:", "--svn", "65536"),
            (["enclave", "measure", "--epc-mib"], "--epc-mib"),
        ]
        for args, *keywords in cases:
            expect_error(args, *keywords, exit_codes=(2,))


def test_flag_forms():
    """--name value and --name=value are the same; integers are decimal even
    with leading zeros."""
    with st.temp_dir() as tmp:
        paths = [os.path.join(tmp, f"{i}.onnx") for i in range(3)]
        st.serdab_ok(["zoo", "--name", "tiny", "--out", paths[0], "--seed", "10"])
        st.serdab_ok(["zoo", "--name=tiny", f"--out={paths[1]}", "--seed=10"])
        st.serdab_ok(["zoo", "--name", "tiny", "--out", paths[2], "--seed", "010"])
        contents = []
        for path in paths:
            with open(path, "rb") as f:
                contents.append(f.read())
        assert contents[0] == contents[1] == contents[2], "the flag forms wrote different models"


def test_help_on_stdout():
    """--help on every command and subcommand prints its flags on stdout and
    exits 0."""
    for command in (["infer"], ["layers"], ["zoo"], ["profile"], ["plan"], ["ca"],
                    ["ca", "init"], ["ca", "issue-platform"], ["ca", "issue-node"],
                    ["ca", "issue-user"], ["enclave"], ["enclave", "keygen"],
                    ["enclave", "measure"], ["enclave", "sign"]):
        result = st.run_serdab(command + ["--help"], timeout=TIMEOUT_S)
        name = "serdab " + " ".join(command)
        if result.returncode != 0 or result.stderr or name not in result.stdout:
            raise AssertionError(f"expected the help of '{name}' on stdout, exit 0\n" +
                                 result.describe())
        if "--help" not in result.stdout:
            raise AssertionError(f"'{name} --help' lists no flags\n" + result.describe())


def test_no_arguments_is_an_error():
    result = st.run_serdab([], timeout=TIMEOUT_S)
    if not 0 < result.returncode < 128:
        raise AssertionError("expected a clean error exit (1..127)\n" + result.describe())


if __name__ == "__main__":
    st.run_tests(globals())
