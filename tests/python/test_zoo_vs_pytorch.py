"""Every `serdab zoo` model computes what its torchvision twin computes.

The zoo writes ONNX graphs with torchvision architectures and seeded random
weights whose initializer names are the state_dict keys; zoo_models.py loads
those weights into the matching torchvision module. The same random input
must give the same output from the engine and from PyTorch.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import serdab_testing as st  # noqa: E402
import zoo_models  # noqa: E402

THREADS = 2
SEED = 7
ZOO_MODELS = ["tiny", "resnet18", "mobilenet_v2", "efficientnet_b0",
              "resnet50", "vgg16"]


def check_zoo_model(name):
    with st.temp_dir() as tmp:
        path = st.serdab_zoo(name, os.path.join(tmp, f"{name}.onnx"), seed=SEED)
        input_shape, output_shape = st.onnx_io_shapes(path)
        x = st.random_input(input_shape, seed=SEED + 1)
        twin = zoo_models.load_torch_twin(name, path)
        with torch.no_grad():
            expected = twin(torch.from_numpy(x)).numpy()
        if list(expected.shape) != list(output_shape):
            raise AssertionError(
                f"zoo {name}: ONNX output shape {output_shape} differs from "
                f"the torchvision twin's {list(expected.shape)}")
        st.write_tensor(os.path.join(tmp, "expected.bin"), expected)
        actual, _, _ = st.serdab_infer(path, x, tmp, expected.shape,
                                       threads=THREADS)
        print(f"  zoo {name}: input {input_shape}, output {output_shape}, "
              f"max|diff| {st.max_abs_diff(actual, expected):.3g}, "
              f"max|ref| {np.abs(expected).max():.3g}", flush=True)
        st.assert_close(actual, expected, f"zoo {name} (seed {SEED})")


def test_zoo_pixel_input_normalises_as_torchvision_does():
    """With --pixel-input the model takes uint8 RGB, N x H x W x 3, and
    computes what torchvision's ToTensor and Normalize feeding the twin do."""
    name = "mobilenet_v2"
    with st.temp_dir() as tmp:
        path = st.serdab_zoo(name, os.path.join(tmp, f"{name}.onnx"), seed=SEED,
                             pixel_input=True)
        input_shape, output_shape = st.onnx_io_shapes(path)
        if input_shape != [1, 224, 224, 3]:
            raise AssertionError(f"pixel input shape {input_shape}, not [1, 224, 224, 3]")
        pixels = np.random.default_rng(SEED).integers(0, 256, size=input_shape, dtype=np.uint8)
        twin = zoo_models.load_torch_twin(name, path)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        planes = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            expected = twin((planes - mean) / std).numpy()
        actual, _, _ = st.serdab_infer(path, pixels, tmp, output_shape, threads=THREADS)
        print(f"  zoo {name} pixel input: max|diff| {st.max_abs_diff(actual, expected):.3g}, "
              f"max|ref| {np.abs(expected).max():.3g}", flush=True)
        st.assert_close(actual, expected, f"zoo {name} with pixel input")


def test_zoo_seed_is_deterministic():
    with st.temp_dir() as tmp:
        first = st.serdab_zoo("tiny", os.path.join(tmp, "a.onnx"), seed=SEED)
        again = st.serdab_zoo("tiny", os.path.join(tmp, "b.onnx"), seed=SEED)
        other = st.serdab_zoo("tiny", os.path.join(tmp, "c.onnx"), seed=SEED + 1)
        with open(first, "rb") as f:
            first_bytes = f.read()
        with open(again, "rb") as f:
            again_bytes = f.read()
        with open(other, "rb") as f:
            other_bytes = f.read()
        if first_bytes != again_bytes:
            raise AssertionError(
                f"zoo tiny with seed {SEED} twice gave different files "
                f"({len(first_bytes)} and {len(again_bytes)} bytes)")
        if first_bytes == other_bytes:
            raise AssertionError(
                f"zoo tiny with seeds {SEED} and {SEED + 1} gave identical files")


def make_test(name):
    return lambda: check_zoo_model(name)


torch.set_num_threads(THREADS)
for model_name in ZOO_MODELS:
    globals()[f"test_zoo_{model_name}"] = make_test(model_name)

if __name__ == "__main__":
    st.run_tests(globals())
