#include "cli/zoo/model_zoo.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "cli/zoo/onnx_builder.h"

namespace serdab::zoo {
namespace {

constexpr int64_t kOpset = 13;
// torchvision's BatchNorm2d defaults; ONNX's momentum is 1 - PyTorch's.
constexpr float kBatchNormEpsilon = 1e-5f;
constexpr float kBatchNormMomentum = 0.9f;

// Weights are uniform in +-sqrt(3 * gain / fan_in), i.e. variance gain/fan_in.
// Kaiming's gain 2 keeps the signal's second moment through a rectifier; a
// layer whose output is not rectified takes gain 1. The conv that closes a
// residual branch takes gain 1/2: with random (untrained) BatchNorm statistics
// nothing renormalises the sum x + f(x), and at full gain its variance would
// roughly double per block, reaching logits in the 1e4 range in resnet50.
constexpr double kGainRectified = 2.0;
constexpr double kGainLinear = 1.0;
constexpr double kGainResidual = 0.5;

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Fnv1a64(const std::string& text) {
  uint64_t hash = 0xCBF29CE484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001B3ull;
  }
  return hash;
}

// xoshiro256**: the same stream on every platform and standard library, which
// the <random> distributions do not promise.
class Random {
 public:
  explicit Random(uint64_t seed) {
    for (uint64_t& word : state_) word = SplitMix64(&seed);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // Uniform in [lo, hi), computed in double and rounded once to float.
  float Uniform(double lo, double hi) {
    const double unit = static_cast<double>(Next() >> 11) * 0x1.0p-53;
    return static_cast<float>(lo + (hi - lo) * unit);
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

enum class Act { kNone, kRelu, kRelu6, kSilu };

// A value in the graph with its NCHW extent (batch 1). After Flatten, `channels`
// holds the feature count and height = width = 1.
struct Feature {
  std::string value;
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
};

// Emits torchvision layers and their weights. Each initializer draws from its
// own stream, seeded by the model seed and the initializer's name, so a
// tensor's values do not depend on the order layers are written in.
//
// The first error sticks: later calls do nothing and Finish() reports it. This
// keeps the model definitions below readable as straight-line code; any error
// is a bug in a definition, not a user mistake.
class GraphWriter {
 public:
  GraphWriter(const std::string& graph_name, uint64_t seed, const ZooOptions& options)
      : builder_(std::make_unique<OnnxBuilder>(graph_name, kOpset)),
        seed_(seed),
        pixel_input_(options.pixel_input) {}

  Feature Input(int64_t channels, int64_t height, int64_t width) {
    if (!pixel_input_) {
      Keep(builder_->AddInput("input", {1, channels, height, width}));
      return {"input", channels, height, width};
    }
    // torchvision's ToTensor then Normalize with ImageNet's statistics, as
    // PyTorch exports (x.permute(0, 3, 1, 2).float() / 255 - mean) / std.
    if (channels != 3) return Fail("pixel input: the model does not take RGB");
    Keep(builder_->AddInput("input", {1, height, width, channels}, OnnxBuilder::InputType::kUint8));
    Keep(builder_->AddFloatConstant("pixel.scale", {}, {255.f}).status());
    Keep(builder_->AddFloatConstant("pixel.mean", {1, 3, 1, 1}, {0.485f, 0.456f, 0.406f}).status());
    Keep(builder_->AddFloatConstant("pixel.std", {1, 3, 1, 1}, {0.229f, 0.224f, 0.225f}).status());
    std::string x = Node("Transpose", "pixel.planes", {"input"}, {{"perm", {0, 3, 1, 2}}});
    x = Node("Cast", "pixel.float", {x}, {{"to", int64_t{1}}});
    x = Node("Div", "pixel.unit", {x, "pixel.scale"});
    x = Node("Sub", "pixel.centred", {x, "pixel.mean"});
    x = Node("Div", "pixel.normalised", {x, "pixel.std"});
    return {x, channels, height, width};
  }

  // nn.Conv2d padded by (kernel - 1) / 2 on every side, as all convs in these
  // models are.
  Feature Conv(const std::string& module, const Feature& x, int64_t out_channels, int64_t kernel,
               int64_t stride, int64_t groups, bool bias, double gain) {
    if (!status_.ok()) return x;
    if (x.channels % groups != 0 || out_channels % groups != 0) {
      return Fail(module + ": channels not divisible by groups");
    }
    const int64_t fan_in = x.channels / groups * kernel * kernel;
    Uniform(module + ".weight", {out_channels, x.channels / groups, kernel, kernel},
            std::sqrt(3.0 * gain / static_cast<double>(fan_in)));
    std::vector<std::string> inputs = {x.value, module + ".weight"};
    if (bias) {
      Uniform(module + ".bias", {out_channels}, 1.0 / std::sqrt(static_cast<double>(fan_in)));
      inputs.push_back(module + ".bias");
    }
    const int64_t pad = (kernel - 1) / 2;
    const std::string out = Node("Conv", module, inputs,
                                 {{"dilations", {1, 1}},
                                  {"group", groups},
                                  {"kernel_shape", {kernel, kernel}},
                                  {"pads", {pad, pad, pad, pad}},
                                  {"strides", {stride, stride}}});
    return {out, out_channels, OutExtent(x.height, kernel, stride, pad),
            OutExtent(x.width, kernel, stride, pad)};
  }

  // nn.BatchNorm2d in eval mode, with statistics that are not the identity.
  Feature BatchNorm(const std::string& module, const Feature& x) {
    if (!status_.ok()) return x;
    const std::vector<int64_t> shape = {x.channels};
    Uniform(module + ".weight", shape, 0.5, 1.5);
    Uniform(module + ".bias", shape, -0.2, 0.2);
    Uniform(module + ".running_mean", shape, -0.1, 0.1);
    Uniform(module + ".running_var", shape, 0.5, 1.5);
    const std::string out =
        Node("BatchNormalization", module,
             {x.value, module + ".weight", module + ".bias", module + ".running_mean",
              module + ".running_var"},
             {{"epsilon", kBatchNormEpsilon}, {"momentum", kBatchNormMomentum}});
    return Like(x, out);
  }

  Feature Activation(Act act, const std::string& name, const Feature& x) {
    if (!status_.ok()) return x;
    switch (act) {
      case Act::kNone:
        return x;
      case Act::kRelu:
        return Like(x, Node("Relu", name, {x.value}));
      case Act::kRelu6:
        DefineRelu6Bounds();
        return Like(x, Node("Clip", name, {x.value, "relu6.min", "relu6.max"}));
      case Act::kSilu: {
        // Opset 13 has no SiLU; x * sigmoid(x) is how PyTorch exports it.
        const Feature gate = Sigmoid(name + ".sigmoid", x);
        return Mul(name, x, gate);
      }
    }
    return x;
  }

  // torchvision's Conv2dNormActivation: submodules .0 (conv, no bias), .1
  // (BatchNorm) and .2 (the activation, when there is one).
  Feature ConvNormAct(const std::string& module, const Feature& x, int64_t out_channels,
                      int64_t kernel, int64_t stride, int64_t groups, Act act, double gain) {
    Feature y = Conv(module + ".0", x, out_channels, kernel, stride, groups, false, gain);
    y = BatchNorm(module + ".1", y);
    return Activation(act, module + ".2", y);
  }

  Feature Sigmoid(const std::string& name, const Feature& x) {
    return Like(x, Node("Sigmoid", name, {x.value}));
  }

  // Element-wise product; `b` may broadcast over `a`'s spatial extent.
  Feature Mul(const std::string& name, const Feature& a, const Feature& b) {
    return Like(a, Node("Mul", name, {a.value, b.value}));
  }

  Feature Add(const std::string& name, const Feature& a, const Feature& b) {
    if (a.channels != b.channels || a.height != b.height || a.width != b.width) {
      return Fail(name + ": residual operands differ in shape");
    }
    return Like(a, Node("Add", name, {a.value, b.value}));
  }

  Feature MaxPool(const std::string& name, const Feature& x, int64_t kernel, int64_t stride,
                  int64_t pad) {
    const std::string out = Node("MaxPool", name, {x.value},
                                 {{"ceil_mode", 0},
                                  {"kernel_shape", {kernel, kernel}},
                                  {"pads", {pad, pad, pad, pad}},
                                  {"strides", {stride, stride}}});
    return {out, x.channels, OutExtent(x.height, kernel, stride, pad),
            OutExtent(x.width, kernel, stride, pad)};
  }

  Feature GlobalAveragePool(const std::string& name, const Feature& x) {
    return {Node("GlobalAveragePool", name, {x.value}), x.channels, 1, 1};
  }

  Feature Flatten(const std::string& name, const Feature& x) {
    return {Node("Flatten", name, {x.value}, {{"axis", 1}}), x.channels * x.height * x.width, 1, 1};
  }

  // nn.Linear as Gemm(x, W^T) + b. `output` names the result ("" for the
  // module name).
  Feature Linear(const std::string& module, const Feature& x, int64_t out_features, double gain,
                 const std::string& output = "") {
    if (!status_.ok()) return x;
    if (x.height != 1 || x.width != 1) return Fail(module + ": input is not flattened");
    const double fan_in = static_cast<double>(x.channels);
    Uniform(module + ".weight", {out_features, x.channels}, std::sqrt(3.0 * gain / fan_in));
    Uniform(module + ".bias", {out_features}, 1.0 / std::sqrt(fan_in));
    const std::string out = Node("Gemm", module, {x.value, module + ".weight", module + ".bias"},
                                 {{"alpha", 1.0f}, {"beta", 1.0f}, {"transB", 1}}, output);
    return {out, out_features, 1, 1};
  }

  // Declares `x` (a [1, classes] tensor) as the graph output.
  void Output(const Feature& x) {
    if (!status_.ok()) return;
    Keep(builder_->AddOutput(x.value, {1, x.channels}));
  }

  Result<std::unique_ptr<OnnxBuilder>> Finish() {
    if (!status_.ok()) return status_;
    return std::move(builder_);
  }

 private:
  // Records a bug in a model definition; the caller's result is then unused.
  Feature Fail(const std::string& message) {
    Keep(Status::Internal(message));
    return {};
  }

  static int64_t OutExtent(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
    return (in + 2 * pad - kernel) / stride + 1;
  }

  static Feature Like(const Feature& x, const std::string& value) {
    return {value, x.channels, x.height, x.width};
  }

  void Keep(const Status& status) {
    if (status_.ok() && !status.ok()) status_ = status;
  }

  std::string Node(const std::string& op_type, const std::string& name,
                   const std::vector<std::string>& inputs,
                   const std::vector<OnnxAttribute>& attributes = {},
                   const std::string& output = "") {
    if (!status_.ok()) return "";
    Result<std::string> out = builder_->AddNode(op_type, name, inputs, attributes, output);
    if (!out.ok()) {
      Keep(out.status());
      return "";
    }
    return std::move(out).value();
  }

  void Uniform(const std::string& name, const std::vector<int64_t>& shape, double bound) {
    Uniform(name, shape, -bound, bound);
  }

  void Uniform(const std::string& name, const std::vector<int64_t>& shape, double lo, double hi) {
    if (!status_.ok()) return;
    uint64_t mix = seed_;
    Random random(SplitMix64(&mix) ^ Fnv1a64(name));
    Keep(builder_->AddFloatInitializer(name, shape,
                                       [&random, lo, hi] { return random.Uniform(lo, hi); }));
  }

  // ReLU6's clip bounds, shared by every Clip node of the model. Constant
  // nodes rather than initializers, so that the initializers are exactly the
  // torchvision state_dict.
  void DefineRelu6Bounds() {
    if (relu6_bounds_defined_) return;
    Keep(builder_->AddFloatConstant("relu6.min", {}, {0.0f}).status());
    Keep(builder_->AddFloatConstant("relu6.max", {}, {6.0f}).status());
    relu6_bounds_defined_ = true;
  }

  std::unique_ptr<OnnxBuilder> builder_;
  uint64_t seed_;
  bool pixel_input_;
  Status status_;
  bool relu6_bounds_defined_ = false;
};

// torchvision.models.vgg16: configuration "D", no BatchNorm. Each block of
// 3x3 convs is followed by a 2x2 max pool.
Status BuildVgg16(GraphWriter& w) {
  struct Block {
    int64_t channels, convs;
  };
  const Block blocks[] = {{64, 2}, {128, 2}, {256, 3}, {512, 3}, {512, 3}};
  Feature x = w.Input(3, 224, 224);
  int index = 0;  // position in torchvision's `features` Sequential
  for (const Block& block : blocks) {
    for (int64_t i = 0; i < block.convs; ++i) {
      x = w.Conv("features." + std::to_string(index), x, block.channels, 3, 1, 1, true,
                 kGainRectified);
      x = w.Activation(Act::kRelu, "features." + std::to_string(index + 1), x);
      index += 2;
    }
    x = w.MaxPool("features." + std::to_string(index++), x, 2, 2, 0);
  }
  // AdaptiveAvgPool2d((7, 7)) is the identity on the 7x7 map a 224x224 input
  // gives, so it is left out.
  if (x.height != 7 || x.width != 7) return Status::Internal("vgg16: features are not 7x7");
  x = w.Flatten("flatten", x);
  x = w.Linear("classifier.0", x, 4096, kGainRectified);
  x = w.Activation(Act::kRelu, "classifier.1", x);
  x = w.Linear("classifier.3", x, 4096, kGainRectified);
  x = w.Activation(Act::kRelu, "classifier.4", x);
  x = w.Linear("classifier.6", x, 1000, kGainLinear, "output");
  w.Output(x);
  return Status::Ok();
}

// One torchvision BasicBlock (bottleneck = false) or Bottleneck (true, with
// the stride on the 3x3 conv as in torchvision's "ResNet V1.5").
Feature ResNetBlock(GraphWriter& w, const std::string& module, const Feature& x, int64_t planes,
                    int64_t stride, bool bottleneck) {
  const int64_t out_channels = bottleneck ? planes * 4 : planes;
  Feature y;
  if (bottleneck) {
    y = w.Conv(module + ".conv1", x, planes, 1, 1, 1, false, kGainRectified);
    y = w.BatchNorm(module + ".bn1", y);
    y = w.Activation(Act::kRelu, module + ".relu1", y);
    y = w.Conv(module + ".conv2", y, planes, 3, stride, 1, false, kGainRectified);
    y = w.BatchNorm(module + ".bn2", y);
    y = w.Activation(Act::kRelu, module + ".relu2", y);
    y = w.Conv(module + ".conv3", y, out_channels, 1, 1, 1, false, kGainResidual);
    y = w.BatchNorm(module + ".bn3", y);
  } else {
    y = w.Conv(module + ".conv1", x, planes, 3, stride, 1, false, kGainRectified);
    y = w.BatchNorm(module + ".bn1", y);
    y = w.Activation(Act::kRelu, module + ".relu1", y);
    y = w.Conv(module + ".conv2", y, planes, 3, 1, 1, false, kGainResidual);
    y = w.BatchNorm(module + ".bn2", y);
  }
  Feature identity = x;
  if (stride != 1 || x.channels != out_channels) {
    identity = w.Conv(module + ".downsample.0", x, out_channels, 1, stride, 1, false, kGainLinear);
    identity = w.BatchNorm(module + ".downsample.1", identity);
  }
  y = w.Add(module + ".add", y, identity);
  return w.Activation(Act::kRelu, module + (bottleneck ? ".relu3" : ".relu2"), y);
}

Status BuildResNet(GraphWriter& w, const std::vector<int>& blocks, bool bottleneck) {
  Feature x = w.Input(3, 224, 224);
  x = w.Conv("conv1", x, 64, 7, 2, 1, false, kGainRectified);
  x = w.BatchNorm("bn1", x);
  x = w.Activation(Act::kRelu, "relu", x);
  x = w.MaxPool("maxpool", x, 3, 2, 1);
  for (size_t layer = 0; layer < blocks.size(); ++layer) {
    const int64_t planes = int64_t{64} << layer;
    for (int block = 0; block < blocks[layer]; ++block) {
      const int64_t stride = (layer > 0 && block == 0) ? 2 : 1;
      const std::string module = "layer" + std::to_string(layer + 1) + "." + std::to_string(block);
      x = ResNetBlock(w, module, x, planes, stride, bottleneck);
    }
  }
  x = w.GlobalAveragePool("avgpool", x);
  x = w.Flatten("flatten", x);
  x = w.Linear("fc", x, 1000, kGainLinear, "output");
  w.Output(x);
  return Status::Ok();
}

Status BuildResNet18(GraphWriter& w) { return BuildResNet(w, {2, 2, 2, 2}, false); }
Status BuildResNet50(GraphWriter& w) { return BuildResNet(w, {3, 4, 6, 3}, true); }

// torchvision.models.mobilenet_v2 (width 1.0).
Status BuildMobileNetV2(GraphWriter& w) {
  struct Stage {
    int64_t expand_ratio, channels, repeats, stride;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  Feature x = w.Input(3, 224, 224);
  x = w.ConvNormAct("features.0", x, 32, 3, 2, 1, Act::kRelu6, kGainRectified);
  int index = 1;
  for (const Stage& stage : stages) {
    for (int64_t i = 0; i < stage.repeats; ++i, ++index) {
      // InvertedResidual: [expand 1x1] -> depthwise 3x3 -> project 1x1 + BN.
      const std::string module = "features." + std::to_string(index) + ".conv";
      const int64_t stride = i == 0 ? stage.stride : 1;
      const bool residual = stride == 1 && x.channels == stage.channels;
      const int64_t hidden = x.channels * stage.expand_ratio;
      int layer = 0;
      Feature y = x;
      if (stage.expand_ratio != 1) {
        y = w.ConvNormAct(module + "." + std::to_string(layer++), y, hidden, 1, 1, 1, Act::kRelu6,
                          kGainRectified);
      }
      y = w.ConvNormAct(module + "." + std::to_string(layer++), y, hidden, 3, stride, hidden,
                        Act::kRelu6, kGainRectified);
      y = w.Conv(module + "." + std::to_string(layer++), y, stage.channels, 1, 1, 1, false,
                 residual ? kGainResidual : kGainLinear);
      y = w.BatchNorm(module + "." + std::to_string(layer++), y);
      x = residual ? w.Add("features." + std::to_string(index) + ".add", x, y) : y;
    }
  }
  x = w.ConvNormAct("features." + std::to_string(index), x, 1280, 1, 1, 1, Act::kRelu6,
                    kGainRectified);
  x = w.GlobalAveragePool("avgpool", x);
  x = w.Flatten("flatten", x);
  x = w.Linear("classifier.1", x, 1000, kGainLinear, "output");
  w.Output(x);
  return Status::Ok();
}

// torchvision.models.efficientnet_b0 (width and depth 1.0, so no channel
// rounding applies).
Status BuildEfficientNetB0(GraphWriter& w) {
  struct Stage {
    int64_t expand_ratio, kernel, stride, in_channels, out_channels, repeats;
  };
  const Stage stages[] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},
                          {6, 3, 2, 40, 80, 3},  {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4},
                          {6, 3, 1, 192, 320, 1}};
  Feature x = w.Input(3, 224, 224);
  x = w.ConvNormAct("features.0", x, 32, 3, 2, 1, Act::kSilu, kGainRectified);
  int index = 1;
  for (const Stage& stage : stages) {
    for (int64_t i = 0; i < stage.repeats; ++i) {
      // MBConv: [expand 1x1] -> depthwise kxk -> squeeze-excitation -> project.
      const std::string prefix = "features." + std::to_string(index) + "." + std::to_string(i);
      const std::string module = prefix + ".block";
      const int64_t in_channels = i == 0 ? stage.in_channels : stage.out_channels;
      const int64_t stride = i == 0 ? stage.stride : 1;
      const bool residual = stride == 1 && in_channels == stage.out_channels;
      const int64_t expanded = in_channels * stage.expand_ratio;
      if (x.channels != in_channels) return Status::Internal(prefix + ": channel mismatch");
      int layer = 0;
      Feature y = x;
      if (expanded != in_channels) {
        y = w.ConvNormAct(module + "." + std::to_string(layer++), y, expanded, 1, 1, 1, Act::kSilu,
                          kGainRectified);
      }
      y = w.ConvNormAct(module + "." + std::to_string(layer++), y, expanded, stage.kernel, stride,
                        expanded, Act::kSilu, kGainRectified);

      const std::string se = module + "." + std::to_string(layer++);
      Feature scale = w.GlobalAveragePool(se + ".avgpool", y);
      scale = w.Conv(se + ".fc1", scale, std::max<int64_t>(1, in_channels / 4), 1, 1, 1, true,
                     kGainRectified);
      scale = w.Activation(Act::kSilu, se + ".activation", scale);
      scale = w.Conv(se + ".fc2", scale, expanded, 1, 1, 1, true, kGainLinear);
      scale = w.Sigmoid(se + ".scale_activation", scale);
      y = w.Mul(se, y, scale);

      y = w.ConvNormAct(module + "." + std::to_string(layer++), y, stage.out_channels, 1, 1, 1,
                        Act::kNone, residual ? kGainResidual : kGainLinear);
      x = residual ? w.Add(prefix + ".add", x, y) : y;
    }
    ++index;
  }
  x = w.ConvNormAct("features." + std::to_string(index), x, 1280, 1, 1, 1, Act::kSilu,
                    kGainRectified);
  x = w.GlobalAveragePool("avgpool", x);
  x = w.Flatten("flatten", x);
  x = w.Linear("classifier.1", x, 1000, kGainLinear, "output");
  w.Output(x);
  return Status::Ok();
}

// The small CNN that tests/python/zoo_models.py defines as TinyNet.
Status BuildTiny(GraphWriter& w) {
  Feature x = w.Input(3, 32, 32);
  x = w.Conv("conv1", x, 16, 3, 1, 1, false, kGainRectified);
  x = w.BatchNorm("bn1", x);
  x = w.Activation(Act::kRelu, "relu1", x);
  Feature y = w.Conv("conv2", x, 16, 3, 1, 1, false, kGainRectified);
  y = w.BatchNorm("bn2", y);
  y = w.Activation(Act::kRelu, "relu2", y);
  y = w.Conv("conv3", y, 16, 3, 1, 1, false, kGainResidual);
  y = w.BatchNorm("bn3", y);
  x = w.Add("add", x, y);
  x = w.Activation(Act::kRelu, "relu3", x);
  x = w.MaxPool("pool", x, 2, 2, 0);
  x = w.Conv("conv4", x, 32, 3, 2, 1, true, kGainRectified);
  x = w.Activation(Act::kRelu, "relu4", x);
  x = w.GlobalAveragePool("avgpool", x);
  x = w.Flatten("flatten", x);
  x = w.Linear("fc", x, 10, kGainLinear, "output");
  w.Output(x);
  return Status::Ok();
}

struct ModelSpec {
  const char* name;
  const char* description;
  Status (*build)(GraphWriter&);
};

constexpr ModelSpec kModels[] = {
    {"vgg16", "VGG-16: 13 convs, 3 linear, 138.4M params, 1x3x224x224 -> 1000", BuildVgg16},
    {"resnet18", "ResNet-18: basic residual blocks, 11.7M params, 1x3x224x224 -> 1000",
     BuildResNet18},
    {"resnet50", "ResNet-50: bottleneck residual blocks, 25.6M params, 1x3x224x224 -> 1000",
     BuildResNet50},
    {"mobilenet_v2", "MobileNetV2: inverted residuals, ReLU6, 3.5M params, 1x3x224x224 -> 1000",
     BuildMobileNetV2},
    {"efficientnet_b0",
     "EfficientNet-B0: MBConv, SiLU, squeeze-excitation, 5.3M params, "
     "1x3x224x224 -> 1000",
     BuildEfficientNetB0},
    {"tiny", "small test CNN: 4 convs, a residual add, 10K params, 1x3x32x32 -> 10", BuildTiny},
};

const ModelSpec* FindModel(const std::string& name) {
  for (const ModelSpec& spec : kModels) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

Result<std::unique_ptr<OnnxBuilder>> BuildGraph(const std::string& name, uint64_t seed,
                                                const ZooOptions& options) {
  const ModelSpec* spec = FindModel(name);
  if (spec == nullptr) {
    std::string known;
    for (const ModelSpec& model : kModels) {
      known += (known.empty() ? "" : ", ") + std::string(model.name);
    }
    return Status::NotFound("unknown zoo model '" + name + "' (known: " + known + ")");
  }
  GraphWriter writer(name, seed, options);
  SERDAB_RETURN_IF_ERROR(spec->build(writer).WithContext(name));
  Result<std::unique_ptr<OnnxBuilder>> builder = writer.Finish();
  if (!builder.ok()) return builder.status().WithContext(name);
  return builder;
}

}  // namespace

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (const ModelSpec& spec : kModels) names.emplace_back(spec.name);
  return names;
}

std::string DescribeModel(const std::string& name) {
  const ModelSpec* spec = FindModel(name);
  return spec == nullptr ? "" : spec->description;
}

Result<std::string> BuildModel(const std::string& name, uint64_t seed, const ZooOptions& options) {
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<OnnxBuilder> builder, BuildGraph(name, seed, options));
  return builder->Serialize();
}

Status WriteModel(const std::string& name, uint64_t seed, const std::string& path,
                  const ZooOptions& options) {
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<OnnxBuilder> builder, BuildGraph(name, seed, options));
  // Serializing straight to the file avoids holding a second copy of the
  // weights in memory.
  const std::string temp_path = path + ".tmp";
  Status status = builder->SerializeToFile(temp_path);
  if (status.ok()) {
    std::error_code error;
    std::filesystem::rename(temp_path, path, error);
    if (error) {
      status =
          Status::IoError("cannot rename " + temp_path + " to " + path + ": " + error.message());
    }
  }
  if (!status.ok()) {
    std::error_code ignored;
    std::filesystem::remove(temp_path, ignored);
  }
  return status;
}

}  // namespace serdab::zoo
