"""PyTorch twins of the `serdab zoo` models, for tests that compare outputs.

`load_torch_twin(name, onnx_path)` returns the PyTorch model that a zoo ONNX
file was written from, in eval mode, with the file's weights loaded by name.
The zoo names its initializers after the torchvision state_dict keys, so the
load is strict: every initializer must be a parameter or buffer of the model
and every parameter and buffer (except BatchNorm's num_batches_tracked, which
inference does not use) must come from the file.
"""

import onnx
import torch
import torchvision
from onnx import numpy_helper
from torch import nn

TORCHVISION_MODELS = ("vgg16", "resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0")
ZOO_MODELS = TORCHVISION_MODELS + ("tiny",)


class TinyNet(nn.Module):
    """The zoo's `tiny` model: a small CNN covering the common CNN ops.

    Conv+BatchNorm+ReLU, a residual Add, MaxPool, a biased Conv, global
    average pooling, Flatten and a Linear layer; input 1x3x32x32, 10 classes.
    Module names are the zoo file's initializer prefixes.
    """

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv4 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(x)))
        y = self.bn3(self.conv3(y))
        x = torch.relu(x + y)
        x = self.pool(x)
        x = torch.relu(self.conv4(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def input_shape(name):
    """The NCHW shape of the zoo model's input."""
    _check_name(name)
    return (1, 3, 32, 32) if name == "tiny" else (1, 3, 224, 224)


def build_torch_model(name):
    """The untrained PyTorch model for a zoo name, in eval mode."""
    _check_name(name)
    model = TinyNet() if name == "tiny" else getattr(torchvision.models, name)(weights=None)
    return model.eval()


def load_torch_twin(name, onnx_path):
    """The PyTorch model for `name` carrying the weights of the zoo file `onnx_path`."""
    model = build_torch_model(name)
    graph = onnx.load(onnx_path).graph
    expected = model.state_dict()
    state = {}
    for initializer in graph.initializer:
        if initializer.name not in expected:
            raise ValueError(f"{onnx_path}: initializer {initializer.name!r} is not a "
                             f"parameter or buffer of {name}")
        array = numpy_helper.to_array(initializer)
        if tuple(array.shape) != tuple(expected[initializer.name].shape):
            raise ValueError(f"{onnx_path}: initializer {initializer.name!r} has shape "
                             f"{tuple(array.shape)}, {name} expects "
                             f"{tuple(expected[initializer.name].shape)}")
        state[initializer.name] = torch.from_numpy(array.copy())
    missing = [key for key in expected
               if key not in state and not key.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{onnx_path}: no initializer for {len(missing)} {name} "
                         f"weights, e.g. {missing[:5]}")
    for key, value in expected.items():
        if key.endswith("num_batches_tracked"):
            state[key] = value.clone()
    model.load_state_dict(state, strict=True)
    return model.eval()


def _check_name(name):
    if name not in ZOO_MODELS:
        raise ValueError(f"unknown zoo model {name!r}; known: {', '.join(ZOO_MODELS)}")
