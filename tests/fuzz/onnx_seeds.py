"""Writes the seed models of onnx_import_fuzz: small graphs that together use
every op family the engine supports, so that the fuzzer mutates graphs that
import, infer shapes and fold rather than rediscovering the protobuf.

Usage: /usr/bin/python3 tests/fuzz/onnx_seeds.py OUT_DIR
(tests/fuzz/corpus/onnx_import_fuzz/ holds its output; ONNX does not change
under us, so the seeds are kept rather than regenerated on every run.)
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def weights(name, shape):
    values = np.arange(int(np.prod(shape)), dtype=np.float32) % 7 - 3
    return numpy_helper.from_array((0.1 * values).reshape(shape).astype(np.float32), name)


def ints(name, values, scalar=False):
    array = np.array(values[0] if scalar else values, dtype=np.int64)
    return numpy_helper.from_array(array, name)


def model(nodes, inputs, initializers=(), opset=13):
    graph = helper.make_graph(
        nodes, "seed",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
         for name, shape in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             producer_name="serdab-fuzz-seeds")


def conv_net():
    """Conv -> BatchNormalization -> Relu -> MaxPool -> Flatten -> Gemm -> Softmax."""
    return model([
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fc_b"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["y"]),
    ], [("x", [1, 2, 6, 6])], [
        weights("w", [4, 2, 3, 3]), weights("b", [4]), weights("scale", [4]),
        weights("bias", [4]), weights("mean", [4]),
        numpy_helper.from_array(np.full(4, 0.5, np.float32), "var"),
        weights("fc", [5, 36]), weights("fc_b", [5]),
    ])


def shape_arithmetic():
    """What exporters emit for x.view(x.size(0), -1)."""
    return model([
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ], [("x", [1, 3, 4, 4])], [ints("zero", [0], scalar=True), ints("axes", [0]),
                               ints("rest", [-1])])


def broadcasting():
    """ConstantOfShape and Expand from constant shapes, then broadcasting arithmetic."""
    return model([
        helper.make_node("ConstantOfShape", ["shape"], ["ones"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.5])),
        helper.make_node("Expand", ["x", "shape"], ["e"]),
        helper.make_node("Add", ["e", "ones"], ["a"]),
        helper.make_node("Mul", ["a", "e"], ["mu"]),
        helper.make_node("Sub", ["mu", "ones"], ["su"]),
        helper.make_node("Div", ["su", "ones"], ["d"]),
        helper.make_node("Pow", ["d", "two"], ["y"]),
    ], [("x", [1, 3])], [ints("shape", [2, 3]), weights("two", [1])])


def resampling():
    """Pad -> Resize -> AveragePool -> GlobalAveragePool."""
    return model([
        helper.make_node("Constant", [], ["scales"],
                         value=helper.make_tensor("s", TensorProto.FLOAT, [4], [1, 1, 2, 2])),
        helper.make_node("Pad", ["x", "pads"], ["p"]),
        helper.make_node("Resize", ["p", "roi", "scales"], ["r"], mode="nearest"),
        helper.make_node("AveragePool", ["r"], ["a"], kernel_shape=[3, 3]),
        helper.make_node("GlobalAveragePool", ["a"], ["y"]),
    ], [("x", [1, 1, 4, 4])], [ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]), weights("roi", [0])])


def upsample():
    """Upsample (opset 9) -> GlobalMaxPool."""
    return model([
        helper.make_node("Constant", [], ["scales"],
                         value=helper.make_tensor("s", TensorProto.FLOAT, [4], [1, 1, 2, 3])),
        helper.make_node("Upsample", ["x", "scales"], ["u"], mode="nearest"),
        helper.make_node("GlobalMaxPool", ["u"], ["y"]),
    ], [("x", [1, 1, 2, 2])], opset=9)


def reshuffling():
    """Transpose -> MatMul -> Split -> Slice -> Concat -> Squeeze."""
    slice_inputs = ["starts", "ends", "axes", "steps"]
    return model([
        helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
        helper.make_node("MatMul", ["t", "w"], ["mm"]),
        helper.make_node("Split", ["mm", "split"], ["l", "r"], axis=1),
        helper.make_node("Slice", ["l"] + slice_inputs, ["sl"]),
        helper.make_node("Slice", ["r"] + slice_inputs, ["sr"]),
        helper.make_node("Concat", ["sl", "sr"], ["c"], axis=1),
        helper.make_node("Squeeze", ["c", "axes"], ["y"]),
    ], [("x", [2, 3])], [
        weights("w", [2, 4]), ints("split", [2, 2]), ints("starts", [0]), ints("ends", [1]),
        ints("axes", [0]), ints("steps", [1]),
    ])


def elementwise():
    """Every unary and activation op in a chain, then Clip, Cast, ReduceMean,
    Dropout and Identity."""
    ops = ["Abs", "Sqrt", "Exp", "Log", "Neg", "Reciprocal", "Sigmoid", "Tanh", "Relu",
           "LeakyRelu", "HardSigmoid", "HardSwish"]
    nodes = [helper.make_node(op, ["x" if i == 0 else f"u{i - 1}"], [f"u{i}"])
             for i, op in enumerate(ops)]
    nodes += [
        helper.make_node("Clip", [f"u{len(ops) - 1}", "lo", "hi"], ["clip"]),
        helper.make_node("Cast", ["clip"], ["cast"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["cast"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Dropout", ["mean"], ["drop"]),
        helper.make_node("Identity", ["drop"], ["y"]),
    ]
    return model(nodes, [("x", [1, 4])], [weights("lo", [1]), weights("hi", [1])])


def constants():
    """Constant nodes of each attribute kind, folded into the graph."""
    return model([
        helper.make_node("Constant", [], ["shape"],
                         value=helper.make_tensor("s", TensorProto.INT64, [1], [4])),
        helper.make_node("Reshape", ["x", "shape"], ["flat"]),
        helper.make_node("Constant", [], ["half"], value_float=0.5),
        helper.make_node("Constant", [], ["ints"], value_ints=[1, 2, 3, 4]),
        helper.make_node("Cast", ["ints"], ["ints_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["flat", "half"], ["scaled"]),
        helper.make_node("Add", ["scaled", "ints_f"], ["y"]),
    ], [("x", [2, 2])])


def typed_data():
    """Initializers in the typed fields (int32_data, double_data) rather than raw_data."""
    return model([
        helper.make_node("Cast", ["i32"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["x", "f"], ["a"]),
        helper.make_node("Mul", ["a", "d"], ["y"]),
    ], [("x", [1, 3])], [
        helper.make_tensor("i32", TensorProto.INT32, [3], [1, -2, 3]),
        helper.make_tensor("d", TensorProto.DOUBLE, [3], [0.5, 1.5, -2.5]),
    ])


def pixels():
    """A uint8 N x H x W x 3 input: Transpose -> Cast -> Div -> Sub -> Div, which
    FusePixelInput folds into one table lookup, then a Conv."""
    graph = helper.make_graph([
        helper.make_node("Transpose", ["x"], ["planes"], perm=[0, 3, 1, 2]),
        helper.make_node("Cast", ["planes"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["f", "scale"], ["unit"]),
        helper.make_node("Sub", ["unit", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["normal"]),
        helper.make_node("Conv", ["normal", "w"], ["y"], pads=[1, 1, 1, 1]),
    ], "seed", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 4, 5, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[
            numpy_helper.from_array(np.array(255, dtype=np.float32), "scale"),
            numpy_helper.from_array(
                np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1), "mean"),
            numpy_helper.from_array(
                np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1), "std"),
            weights("w", [2, 3, 3, 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                             producer_name="serdab-fuzz-seeds")


SEEDS = {
    "conv_net": conv_net, "shape_arithmetic": shape_arithmetic,
    "broadcasting": broadcasting, "resampling": resampling, "upsample": upsample,
    "reshuffling": reshuffling, "elementwise": elementwise, "constants": constants,
    "typed_data": typed_data, "pixels": pixels,
}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: onnx_seeds.py OUT_DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, build in SEEDS.items():
        onnx.save(build(), os.path.join(sys.argv[1], name + ".onnx"))


if __name__ == "__main__":
    main()
