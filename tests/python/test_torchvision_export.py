"""Models exported by torch.onnx.export run in the engine and match PyTorch.

Each case builds a PyTorch model with seeded random weights and non-trivial
BatchNorm statistics, exports it at one opset, runs it with `serdab infer` and
compares the output with PyTorch's. Half of the exports are constant-folded
by PyTorch (BatchNorm already fused into Conv); the other half keep the raw
graph (BatchNormalization nodes, Identity, Constant and shape arithmetic) so
the engine's own folding and fusion passes are exercised.
"""

import collections
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from torch import nn  # noqa: E402

import serdab_testing as st  # noqa: E402

THREADS = 2


def randomize_batchnorm(model, seed):
    """Gives every BatchNorm random affine parameters and running statistics,
    so that a wrong epsilon, mean or variance handling shows in the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.empty(n).uniform_(-0.2, 0.2, generator=gen))
                module.running_var.copy_(torch.empty(n).uniform_(0.5, 1.5, generator=gen))
                module.weight.copy_(torch.empty(n).uniform_(0.5, 1.5, generator=gen))
                module.bias.copy_(torch.empty(n).uniform_(-0.2, 0.2, generator=gen))
    return model


class ConvBnAct(nn.Sequential):
    def __init__(self, cin, cout, kernel=3, stride=1, act="silu"):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.SiLU() if act == "silu" else nn.LeakyReLU(0.1))


class TinyYolo(nn.Module):
    """A two-scale YOLO-style detector: Conv+BN+SiLU/LeakyReLU blocks,
    MaxPool (strided and SPP-style), nearest and bilinear upsampling, concat
    skips, and a decoding head that reshapes/permutes, applies sigmoid/exp to
    slices and concatenates both scales into [N, K, 5 + C]."""

    def __init__(self, height, width, num_classes=3, num_anchors=3):
        super().__init__()
        self.na, self.no = num_anchors, 5 + num_classes
        self.stem = ConvBnAct(3, 16, 3, 2, "silu")  # /2
        self.c2 = ConvBnAct(16, 32, 3, 1, "leaky")
        self.pool = nn.MaxPool2d(2, 2)  # /4
        self.c3 = ConvBnAct(32, 48, 3, 2, "silu")  # /8
        self.c4 = ConvBnAct(48, 64, 3, 2, "leaky")  # /16
        self.spp = nn.MaxPool2d(5, 1, 2)
        self.c5 = ConvBnAct(128, 64, 1, 1, "silu")  # /16
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.c6 = ConvBnAct(64 + 48, 48, 3, 1, "leaky")  # /8
        self.bilinear = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.c7 = ConvBnAct(48 + 32, 32, 3, 2, "silu")  # /4 -> /8
        self.head8 = nn.Conv2d(32, self.na * self.no, 1)
        self.head16 = nn.Conv2d(64, self.na * self.no, 1)
        gen = torch.Generator().manual_seed(5)
        anchors = torch.rand(self.na, 2, generator=gen) * 3 + 1
        for stride in (8, 16):
            h, w = height // stride, width // stride
            ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grid = torch.stack([xs, ys], -1).float().view(1, 1, h, w, 2)
            self.register_buffer(f"grid{stride}", grid)
            self.register_buffer(f"anchor{stride}",
                                 (anchors * stride).view(1, self.na, 1, 1, 2))

    def decode(self, t, stride):
        n, _, h, w = t.shape
        t = t.view(n, self.na, self.no, h, w).permute(0, 1, 3, 4, 2)
        xy = (t[..., 0:2].sigmoid() * 2 - 0.5 + getattr(self, f"grid{stride}")) * stride
        wh = t[..., 2:4].exp() * getattr(self, f"anchor{stride}")
        rest = t[..., 4:].sigmoid()
        return torch.cat([xy, wh, rest], -1).reshape(n, -1, self.no)

    def forward(self, x):
        x4 = self.pool(self.c2(self.stem(x)))
        p8 = self.c3(x4)
        p16 = self.c4(p8)
        s16 = self.c5(torch.cat([p16, self.spp(p16)], 1))
        n8 = self.c6(torch.cat([self.up(s16), p8], 1))
        r8 = self.c7(torch.cat([self.bilinear(n8), x4], 1))
        return torch.cat([self.decode(self.head8(r8), 8),
                          self.decode(self.head16(s16), 16)], 1)


class PadPoolMobileNetV3(nn.Module):
    """Reflect Pad, AveragePool(ceil_mode, count_include_pad=False), Softmax
    over channels of a 4-D tensor, then mobilenet_v3_small (HardSwish and
    HardSigmoid) whose logits are returned beside their Softmax."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ReflectionPad2d((1, 2, 3, 0))
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                 count_include_pad=False)
        self.net = torchvision.models.mobilenet_v3_small(num_classes=10)

    def forward(self, x):
        x = self.pool(self.pad(x))
        x = x * torch.softmax(x, dim=1) * 3
        logits = self.net(x)
        return torch.cat([logits, torch.softmax(logits, dim=1)], 1)


class ZeroPadAvgPool(nn.Module):
    """AvgPool2d with count_include_pad=True (inception_v3's branch pools),
    which PyTorch exports as a zero Pad then an unpadded AveragePool, and an
    explicit asymmetric zero pad before a strided one: the engine fuses each
    pair into one AveragePool."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 1, 1)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.pool(self.conv(x))
        x = nn.functional.avg_pool2d(nn.functional.pad(x, (0, 1, 2, 1)), 3, stride=2)
        return self.head(x).flatten(1)


def torchvision_model(name):
    return lambda: getattr(torchvision.models, name)()


# One export checked against PyTorch. `splits` cuts the output's last axis
# into parts compared separately, so that small parts (scores, softmax) are
# not judged against the scale of large ones (box sizes, logits).
Case = collections.namedtuple("Case", "name factory shape opset folded splits",
                              defaults=[()])

CASES = [
    Case("resnet18", torchvision_model("resnet18"), (1, 3, 224, 224), 11, True),
    Case("resnet18", torchvision_model("resnet18"), (1, 3, 224, 224), 13, False),
    Case("mobilenet_v2", torchvision_model("mobilenet_v2"), (1, 3, 224, 224), 11, False),
    Case("mobilenet_v2", torchvision_model("mobilenet_v2"), (1, 3, 224, 224), 13, True),
    Case("efficientnet_b0", torchvision_model("efficientnet_b0"), (1, 3, 224, 224), 11, True),
    Case("efficientnet_b0", torchvision_model("efficientnet_b0"), (1, 3, 224, 224), 13, False),
    # One export of vgg11_bn (half a GB of weights: 30 s each): raw BatchNorm
    # is exercised by the raw exports above.
    Case("vgg11_bn", torchvision_model("vgg11_bn"), (1, 3, 224, 224), 13, True),
    Case("tiny_yolo", lambda: TinyYolo(96, 160), (1, 3, 96, 160), 11, True, (2, 4, 5)),
    Case("tiny_yolo", lambda: TinyYolo(96, 160), (1, 3, 96, 160), 13, False, (2, 4, 5)),
    # HardSwish became an ONNX op at opset 14; at 11 it is HardSigmoid * x.
    Case("pad_pool_mobilenet_v3", PadPoolMobileNetV3, (1, 3, 117, 101), 11, True, (10,)),
    Case("pad_pool_mobilenet_v3", PadPoolMobileNetV3, (1, 3, 117, 101), 14, False, (10,)),
    Case("zero_pad_avg_pool", ZeroPadAvgPool, (1, 3, 35, 33), 11, False),
    Case("zero_pad_avg_pool", ZeroPadAvgPool, (1, 3, 35, 33), 13, True),
]


def export(model, x, path, opset, folded):
    """Folded exports are what most users ship; raw exports keep
    BatchNormalization (TrainingMode.PRESERVE on an eval-mode model skips
    PyTorch's Conv+BN fusion) and all shape arithmetic."""
    mode = torch.onnx.TrainingMode.EVAL if folded else torch.onnx.TrainingMode.PRESERVE
    torch.onnx.export(model, x, path, opset_version=opset,
                      do_constant_folding=folded, training=mode,
                      input_names=["input"], output_names=["output"])


def check_case(case, seed):
    torch.manual_seed(seed)
    model = randomize_batchnorm(case.factory(), seed + 1000).eval()
    x = st.random_input(case.shape, seed + 2000)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    label = (f"{case.name} opset {case.opset} "
             f"({'folded' if case.folded else 'raw'} export)")
    with st.temp_dir() as tmp:
        path = os.path.join(tmp, f"{case.name}_opset{case.opset}.onnx")
        export(model, torch.from_numpy(x), path, case.opset, case.folded)
        st.write_tensor(os.path.join(tmp, "expected.bin"), expected)
        actual, _, _ = st.serdab_infer(path, x, tmp, expected.shape,
                                       threads=THREADS)
        print(f"  {label}: max|diff| {st.max_abs_diff(actual, expected):.3g}, "
              f"max|ref| {np.abs(expected).max():.3g}", flush=True)
        bounds = [0, *case.splits, expected.shape[-1]]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            part = f"{label}, output[..., {lo}:{hi}]" if case.splits else label
            st.assert_close(actual[..., lo:hi], expected[..., lo:hi], part)


def make_test(case, seed):
    return lambda: check_case(case, seed)


# torch.onnx.export warns about every traced shape computation; the checks
# here are on the numbers, so the warnings are noise.
warnings.filterwarnings("ignore", category=UserWarning)
torch.set_num_threads(THREADS)
for index, case in enumerate(CASES):
    globals()[f"test_{case.name}_opset{case.opset}"] = make_test(case, seed=100 + index)

if __name__ == "__main__":
    st.run_tests(globals())
