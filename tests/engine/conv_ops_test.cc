// Conv: hand-checked cases for the reference kernel (both flavours where the
// numbers are exact), shape and error checks, and the optimised kernel against
// the reference on many random configurations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "enclave/engine/activation.h"
#include "enclave/engine/ops/conv_params.h"
#include "tests/engine/kernel_test_util.h"

namespace serdab::engine {
namespace {

using testing::Const;
using testing::ExpectTensorEqual;
using testing::ExpectTensorNear;
using testing::FloatTensor;
using testing::In;
using testing::MakeAttrs;
using testing::NoInput;
using testing::RandomFloatTensor;
using testing::RunKernel;
using testing::SetupKernel;
using testing::TestInput;

constexpr KernelFlavor kFlavors[] = {KernelFlavor::kReference, KernelFlavor::kOptimized};

std::string FlavorName(KernelFlavor f) {
  return f == KernelFlavor::kReference ? "reference" : "optimized";
}

// 1..n as a [1,1,h,w] image.
Tensor Ramp(int64_t h, int64_t w) {
  std::vector<float> v(h * w);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i + 1);
  return FloatTensor({1, 1, h, w}, v);
}

Tensor Ones(Shape shape) { return FloatTensor(shape, std::vector<float>(NumElements(shape), 1.f)); }

// Runs Conv in both flavours and checks the result against `expected`.
void ExpectConv(const Attributes& attrs, const std::vector<TestInput>& inputs,
                const Tensor& expected, float tol = 1e-5f) {
  for (KernelFlavor flavor : kFlavors) {
    SCOPED_TRACE(FlavorName(flavor));
    auto out = RunKernel("Conv", flavor, attrs, inputs);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectTensorNear((*out)[0], expected, tol, tol);
  }
}

TEST(ConvTest, PadsOne) {
  // A 3x3 box filter over 1..9 with one pixel of zero padding.
  ExpectConv(MakeAttrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
             {In(Ramp(3, 3)), Const(Ones({1, 1, 3, 3}))},
             FloatTensor({1, 1, 3, 3}, {12, 21, 16, 27, 45, 33, 24, 39, 28}));
}

TEST(ConvTest, StrideTwoWithPads) {
  ExpectConv(MakeAttrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}},
                        {"strides", std::vector<int64_t>{2, 2}}}),
             {In(Ramp(3, 3)), Const(Ones({1, 1, 3, 3}))},
             FloatTensor({1, 1, 2, 2}, {12, 16, 24, 28}));
}

TEST(ConvTest, AsymmetricPadsAndStrides) {
  // pads top 0, left 1, bottom 1, right 0; stride 1 down, 2 across; 2x2 ones.
  ExpectConv(MakeAttrs({{"pads", std::vector<int64_t>{0, 1, 1, 0}},
                        {"strides", std::vector<int64_t>{1, 2}}}),
             {In(Ramp(3, 3)), Const(Ones({1, 1, 2, 2}))},
             FloatTensor({1, 1, 3, 2}, {5, 16, 11, 28, 7, 17}));
}

TEST(ConvTest, Dilation) {
  // Taps at rows and columns {0, 2, 4} of a 5x5 ramp 0..24: 108.
  std::vector<float> v(25);
  for (int i = 0; i < 25; ++i) v[i] = static_cast<float>(i);
  ExpectConv(MakeAttrs({{"dilations", std::vector<int64_t>{2, 2}}}),
             {In(FloatTensor({1, 1, 5, 5}, v)), Const(Ones({1, 1, 3, 3}))},
             FloatTensor({1, 1, 1, 1}, {108}));
}

TEST(ConvTest, GroupsAndBias) {
  // Two groups of one channel each: out0 = 2 * in0 + 1, out1 = 3 * in1 - 1.
  ExpectConv(MakeAttrs({{"group", int64_t{2}}}),
             {In(FloatTensor({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})),
              Const(FloatTensor({2, 1, 1, 1}, {2, 3})), Const(FloatTensor({2}, {1, -1}))},
             FloatTensor({1, 2, 2, 2}, {3, 5, 7, 9, 14, 17, 20, 23}));
}

TEST(ConvTest, TwoGroupsOfTwoChannels) {
  // Group 0 sums channels 0 and 1, group 1 takes channel 2 minus channel 3.
  ExpectConv(MakeAttrs({{"group", int64_t{2}}}),
             {In(FloatTensor({1, 4, 1, 2}, {1, 2, 10, 20, 100, 200, 1000, 2000})),
              Const(FloatTensor({2, 2, 1, 1}, {1, 1, 1, -1}))},
             FloatTensor({1, 2, 1, 2}, {11, 22, -900, -1800}));
}

TEST(ConvTest, AutoPadSameUpper) {
  // Total padding 1: SAME_UPPER puts it after the input.
  ExpectConv(MakeAttrs({{"auto_pad", std::string("SAME_UPPER")}}),
             {In(Ramp(3, 3)), Const(Ones({1, 1, 2, 2}))},
             FloatTensor({1, 1, 3, 3}, {12, 16, 9, 24, 28, 15, 15, 17, 9}));
}

TEST(ConvTest, AutoPadSameLower) {
  ExpectConv(MakeAttrs({{"auto_pad", std::string("SAME_LOWER")}}),
             {In(Ramp(3, 3)), Const(Ones({1, 1, 2, 2}))},
             FloatTensor({1, 1, 3, 3}, {1, 3, 5, 5, 12, 16, 11, 24, 28}));
}

TEST(ConvTest, AutoPadSameUpperStrided) {
  // out = ceil(5 / 2) = 3; total padding (3-1)*2 + 3 - 5 = 2, one each side.
  auto setup = SetupKernel(
      "Conv", KernelFlavor::kReference,
      MakeAttrs({{"auto_pad", std::string("SAME_UPPER")}, {"strides", std::vector<int64_t>{2, 2}}}),
      {In(Ramp(5, 5)), Const(Ones({1, 1, 3, 3}))});
  ASSERT_TRUE(setup.ok()) << setup.status().ToString();
  EXPECT_EQ(setup->outputs[0].shape, (Shape{1, 1, 3, 3}));
  // Centre output (1, 1) sums input rows 1..3, columns 1..3 of the 1..25 ramp.
  ExpectConv(
      MakeAttrs({{"auto_pad", std::string("SAME_UPPER")}, {"strides", std::vector<int64_t>{2, 2}}}),
      {In(Ramp(5, 5)), Const(Ones({1, 1, 3, 3}))},
      FloatTensor({1, 1, 3, 3}, {16, 33, 28, 69, 117, 87, 76, 123, 88}));
}

TEST(ConvTest, AutoPadValid) {
  ExpectConv(MakeAttrs({{"auto_pad", std::string("VALID")}, {"pads", std::vector<int64_t>{}}}),
             {In(Ramp(3, 3)), Const(Ones({1, 1, 2, 2}))},
             FloatTensor({1, 1, 2, 2}, {12, 16, 24, 28}));
}

TEST(ConvTest, MultiChannelWithBiasAndBatch) {
  // Two images, two input channels, 1x1 kernel: a per-pixel linear map.
  ExpectConv({},
             {In(FloatTensor({2, 2, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8})),
              Const(FloatTensor({3, 2, 1, 1}, {1, 0, 0, 1, 1, -1})),
              Const(FloatTensor({3}, {0.5f, 0, -1}))},
             FloatTensor({2, 3, 1, 2}, {1.5f, 2.5f, 3, 4, -3, -3, 5.5f, 6.5f, 7, 8, -3, -3}));
}

TEST(ConvTest, RunTimeWeightAndBias) {
  // The weight and bias are graph inputs, not initializers.
  ExpectConv(MakeAttrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
             {In(Ramp(3, 3)), In(Ones({1, 1, 3, 3})), In(FloatTensor({1}, {-45}))},
             FloatTensor({1, 1, 3, 3}, {-33, -24, -29, -18, 0, -12, -21, -6, -17}));
}

struct ActivationCase {
  std::string name;
  float alpha, beta;
  std::vector<float> expected;  // for inputs -2, -0.5, 0.5, 2
};

TEST(ConvTest, FusedActivations) {
  const std::vector<ActivationCase> cases = {
      {"none", 0, 0, {-2, -0.5f, 0.5f, 2}},
      {"relu", 0, 0, {0, 0, 0.5f, 2}},
      {"clip", -1, 1, {-1, -0.5f, 0.5f, 1}},
      {"leaky_relu", 0.1f, 0, {-0.2f, -0.05f, 0.5f, 2}},
      {"sigmoid", 0, 0, {0.11920292f, 0.37754067f, 0.62245933f, 0.88079708f}},
      {"silu", 0, 0, {-0.23840584f, -0.18877033f, 0.31122967f, 1.76159416f}},
      {"hard_sigmoid", 0.2f, 0.5f, {0.1f, 0.4f, 0.6f, 0.9f}},
      {"hard_swish", 0, 0, {-0.33333333f, -0.20833333f, 0.29166667f, 1.66666667f}},
      {"tanh", 0, 0, {-0.96402758f, -0.46211716f, 0.46211716f, 0.96402758f}},
  };
  for (const ActivationCase& c : cases) {
    SCOPED_TRACE(c.name);
    Attributes attrs = MakeAttrs({{Activation::kAttrKind, c.name},
                                  {Activation::kAttrAlpha, c.alpha},
                                  {Activation::kAttrBeta, c.beta}});
    // A 1x1 conv with weight 1 and bias -0.5 yields -2, -0.5, 0.5, 2.
    ExpectConv(attrs,
               {In(FloatTensor({1, 1, 2, 2}, {-1.5f, 0, 1, 2.5f})),
                Const(FloatTensor({1, 1, 1, 1}, {1})), Const(FloatTensor({1}, {-0.5f}))},
               FloatTensor({1, 1, 2, 2}, c.expected), 2e-6f);
  }
}

TEST(ConvTest, ShapeAndFlops) {
  auto kut = SetupKernel("Conv", KernelFlavor::kOptimized,
                         MakeAttrs({{"pads", std::vector<int64_t>{3, 3, 3, 3}},
                                    {"strides", std::vector<int64_t>{2, 2}},
                                    {"kernel_shape", std::vector<int64_t>{7, 7}}}),
                         {In(Tensor::Create(DataType::kFloat32, {1, 3, 224, 224}).value()),
                          Const(Tensor::Create(DataType::kFloat32, {64, 3, 7, 7}).value())});
  ASSERT_TRUE(kut.ok()) << kut.status().ToString();
  EXPECT_EQ(kut->outputs[0].shape, (Shape{1, 64, 112, 112}));
  EXPECT_EQ(kut->kernel->Flops(), int64_t{2} * 64 * 112 * 112 * 3 * 49);
}

Status SetupStatus(const Attributes& attrs, Shape x, Shape w) {
  auto kut = SetupKernel("Conv", KernelFlavor::kOptimized, attrs,
                         {In(Tensor::Create(DataType::kFloat32, x).value()),
                          Const(Tensor::Create(DataType::kFloat32, w).value())});
  return kut.ok() ? Status::Ok() : kut.status();
}

TEST(ConvTest, RejectsBadModels) {
  Status s = SetupStatus(MakeAttrs({{"group", int64_t{3}}}), {1, 64, 8, 8}, {3, 21, 3, 3});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("input channels 64 not divisible by group 3"), std::string::npos)
      << s.message();

  s = SetupStatus({}, {1, 8, 8, 8}, {4, 4, 3, 3});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("does not match input channels"), std::string::npos) << s.message();

  s = SetupStatus(MakeAttrs({{"kernel_shape", std::vector<int64_t>{5, 5}}}), {1, 3, 8, 8},
                  {4, 3, 3, 3});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.message();

  s = SetupStatus(MakeAttrs({{"auto_pad", std::string("SAME")}}), {1, 3, 8, 8}, {4, 3, 3, 3});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.message();

  s = SetupStatus(MakeAttrs({{"strides", std::vector<int64_t>{0, 1}}}), {1, 3, 8, 8}, {4, 3, 3, 3});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.message();

  s = SetupStatus({}, {1, 3, 2, 2}, {4, 3, 3, 3});  // kernel larger than the input
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.message();

  s = SetupStatus(MakeAttrs({{"serdab.activation", std::string("gelu")}}), {1, 3, 8, 8},
                  {4, 3, 3, 3});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.message();
}

TEST(ConvTest, OneDimensional) {
  // A width-3 box filter over 1..5, one zero of padding each side, stride 2.
  ExpectConv(
      MakeAttrs({{"pads", std::vector<int64_t>{1, 1}}, {"strides", std::vector<int64_t>{2}}}),
      {In(FloatTensor({1, 1, 5}, {1, 2, 3, 4, 5})), Const(Ones({1, 1, 3}))},
      FloatTensor({1, 1, 3}, {3, 9, 9}));
}

// A 1-D convolution is the 2-D one over rows of height 1.
TEST(ConvTest, OneDimensionalMatchesTwoDimensional) {
  std::mt19937 rng(5);
  const Tensor x = RandomFloatTensor({2, 4, 11}, &rng);
  const Tensor w = RandomFloatTensor({6, 2, 3}, &rng);
  const Tensor b = RandomFloatTensor({6}, &rng);
  const Attributes attrs1 = MakeAttrs({{"group", int64_t{2}},
                                       {"pads", std::vector<int64_t>{2, 1}},
                                       {"dilations", std::vector<int64_t>{2}}});
  const Attributes attrs2 = MakeAttrs({{"group", int64_t{2}},
                                       {"pads", std::vector<int64_t>{0, 2, 0, 1}},
                                       {"dilations", std::vector<int64_t>{1, 2}}});
  auto as_2d = [](const Tensor& t) {
    Shape s = t.shape();
    s.insert(s.begin() + 2, 1);
    return FloatTensor(s, testing::ToVector<float>(t));
  };
  auto two = RunKernel("Conv", KernelFlavor::kReference, attrs2,
                       {In(as_2d(x)), Const(as_2d(w)), Const(b)});
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  const Tensor expected = FloatTensor({2, 6, 10}, testing::ToVector<float>((*two)[0]));
  ExpectConv(attrs1, {In(x), Const(w), Const(b)}, expected);
}

// 0..26 as a 3x3x3 volume through a 2x2x2 kernel of ones: each output is the
// sum of a cube (numpy).
TEST(ConvTest, ThreeDimensional) {
  std::vector<float> v(27);
  for (int i = 0; i < 27; ++i) v[i] = static_cast<float>(i);
  ExpectConv({}, {In(FloatTensor({1, 1, 3, 3, 3}, v)), Const(Ones({1, 1, 2, 2, 2}))},
             FloatTensor({1, 1, 2, 2, 2}, {52, 60, 76, 84, 124, 132, 148, 156}));
}

// A 3-D convolution of depth 1 is the 2-D one.
TEST(ConvTest, ThreeDimensionalOfDepthOneMatchesTwoDimensional) {
  std::mt19937 rng(9);
  const Tensor x = RandomFloatTensor({1, 4, 7, 6}, &rng);
  const Tensor w = RandomFloatTensor({6, 2, 3, 2}, &rng);
  const Tensor b = RandomFloatTensor({6}, &rng);
  const Attributes attrs2 = MakeAttrs({{"group", int64_t{2}},
                                       {"pads", std::vector<int64_t>{1, 0, 2, 1}},
                                       {"strides", std::vector<int64_t>{2, 1}},
                                       {"dilations", std::vector<int64_t>{1, 2}}});
  const Attributes attrs3 = MakeAttrs({{"group", int64_t{2}},
                                       {"pads", std::vector<int64_t>{0, 1, 0, 0, 2, 1}},
                                       {"strides", std::vector<int64_t>{1, 2, 1}},
                                       {"dilations", std::vector<int64_t>{1, 1, 2}}});
  auto as_3d = [](const Tensor& t) {
    Shape s = t.shape();
    s.insert(s.begin() + 2, 1);
    return FloatTensor(s, testing::ToVector<float>(t));
  };
  auto two = RunKernel("Conv", KernelFlavor::kReference, attrs2, {In(x), Const(w), Const(b)});
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  ExpectConv(attrs3, {In(as_3d(x)), Const(as_3d(w)), Const(b)}, as_3d((*two)[0]));
}

TEST(ConvTest, WrongGeometryForTheRank) {
  // A 1-D convolution takes one stride and two pads; W has X's rank.
  EXPECT_EQ(SetupStatus(MakeAttrs({{"strides", std::vector<int64_t>{1, 1}}}), {1, 3, 16}, {4, 3, 3})
                .code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(
      SetupStatus(MakeAttrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}), {1, 3, 16}, {4, 3, 3})
          .code(),
      Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupStatus({}, {1, 3, 16}, {4, 3, 3, 3}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupStatus({}, {1, 3, 4, 4, 4, 4}, {4, 3, 1, 1, 1, 1}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupStatus(MakeAttrs({{"dilations", std::vector<int64_t>{1, 1}}}), {1, 3, 4, 4, 4},
                        {4, 3, 1, 1, 1})
                .code(),
            Status::Code::kInvalidArgument);
}

// --- ConvTranspose --------------------------------------------------------------

Tensor RunConvTranspose(const Attributes& attrs, const std::vector<TestInput>& inputs) {
  auto out = RunKernel("ConvTranspose", KernelFlavor::kReference, attrs, inputs);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? (*out)[0] : Tensor();
}

TEST(ConvTransposeTest, OneDimensionalStrideAndBias) {
  // Each input element writes its kernel [1, 1] at 2 * position.
  Tensor out = RunConvTranspose(MakeAttrs({{"strides", std::vector<int64_t>{2}}}),
                                {In(FloatTensor({1, 1, 3}, {1, 2, 3})), Const(Ones({1, 1, 2})),
                                 Const(FloatTensor({1}, {0.5f}))});
  ExpectTensorEqual(out, FloatTensor({1, 1, 6}, {1.5f, 1.5f, 2.5f, 2.5f, 3.5f, 3.5f}));
}

// The example of the ONNX operator documentation: 0..8 through a 3x3 kernel of
// ones into two output channels.
TEST(ConvTransposeTest, TwoDimensionalPadsAndOutputShape) {
  const Tensor x = FloatTensor({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  const std::vector<float> plane = {0,  1,  3, 3,  2,  3,  8,  15, 12, 7,  9,  21, 36,
                                    27, 15, 9, 20, 33, 24, 13, 6,  13, 21, 15, 8};
  std::vector<float> both = plane;
  both.insert(both.end(), plane.begin(), plane.end());
  ExpectTensorEqual(RunConvTranspose({}, {In(x), Const(Ones({1, 2, 3, 3}))}),
                    FloatTensor({1, 2, 5, 5}, both));
  // Pads crop the full output; output_shape crops it the same way.
  const Tensor center = FloatTensor({1, 1, 3, 3}, {8, 15, 12, 21, 36, 27, 20, 33, 24});
  ExpectTensorEqual(RunConvTranspose(MakeAttrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
                                     {In(x), Const(Ones({1, 1, 3, 3}))}),
                    center);
  ExpectTensorEqual(RunConvTranspose(MakeAttrs({{"output_shape", std::vector<int64_t>{3, 3}}}),
                                     {In(x), Const(Ones({1, 1, 3, 3}))}),
                    center);
}

// Depth 1 in 3-D is the 2-D transposed convolution; groups split the channels.
TEST(ConvTransposeTest, ThreeDimensionalAndGroups) {
  std::mt19937 rng(3);
  const Tensor x = RandomFloatTensor({1, 4, 3, 4}, &rng);
  const Tensor w = RandomFloatTensor({4, 3, 2, 3}, &rng);
  const Attributes attrs2 = MakeAttrs({{"group", int64_t{2}},
                                       {"strides", std::vector<int64_t>{2, 1}},
                                       {"dilations", std::vector<int64_t>{1, 2}},
                                       {"output_padding", std::vector<int64_t>{1, 0}}});
  const Attributes attrs3 = MakeAttrs({{"group", int64_t{2}},
                                       {"strides", std::vector<int64_t>{1, 2, 1}},
                                       {"dilations", std::vector<int64_t>{1, 1, 2}},
                                       {"output_padding", std::vector<int64_t>{0, 1, 0}}});
  const Tensor two = RunConvTranspose(attrs2, {In(x), Const(w)});
  ASSERT_EQ(two.shape(), (Shape{1, 6, 7, 8}));
  auto as_3d = [](const Tensor& t) {
    Shape s = t.shape();
    s.insert(s.begin() + 2, 1);
    return FloatTensor(s, testing::ToVector<float>(t));
  };
  ExpectTensorNear(RunConvTranspose(attrs3, {In(as_3d(x)), Const(as_3d(w))}), as_3d(two));
  // Group 2 is group 1 on each half of the channels.
  const Tensor half = RunConvTranspose(
      MakeAttrs({{"strides", std::vector<int64_t>{2, 1}},
                 {"dilations", std::vector<int64_t>{1, 2}},
                 {"output_padding", std::vector<int64_t>{1, 0}}}),
      {In(FloatTensor({1, 2, 3, 4}, std::vector<float>(x.data<float>(), x.data<float>() + 24))),
       Const(
           FloatTensor({2, 3, 2, 3}, std::vector<float>(w.data<float>(), w.data<float>() + 36)))});
  ExpectTensorNear(
      half, FloatTensor({1, 3, 7, 8},
                        std::vector<float>(two.data<float>(), two.data<float>() + 3 * 7 * 8)));
}

TEST(ConvTransposeTest, RejectsBadModels) {
  const Tensor x = FloatTensor({1, 1, 3, 3}, std::vector<float>(9, 1.f));
  for (const Attributes& attrs : {
           MakeAttrs({{"strides", std::vector<int64_t>{0, 1}}}),
           MakeAttrs({{"strides", std::vector<int64_t>{1}}}),
           MakeAttrs({{"pads", std::vector<int64_t>{3, 3, 3, 3}}}),
           MakeAttrs({{"output_shape", std::vector<int64_t>{-5, 3}}}),
           MakeAttrs({{"output_shape", std::vector<int64_t>{int64_t{1} << 40, 3}}}),
           MakeAttrs({{"group", int64_t{2}}}),
           MakeAttrs({{"auto_pad", std::string("SAME")}}),
       }) {
    auto out = SetupKernel("ConvTranspose", KernelFlavor::kReference, attrs,
                           {In(x), Const(Ones({1, 1, 3, 3}))});
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument) << out.status().ToString();
  }
  // Strides that make the output too large for the limits.
  auto out = SetupKernel("ConvTranspose", KernelFlavor::kReference,
                         MakeAttrs({{"strides", std::vector<int64_t>{int64_t{1} << 31, 1 << 20}}}),
                         {In(x), Const(Ones({1, 1, 3, 3}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
}

// --- Optimised against reference ---------------------------------------------

struct RandomConv {
  int64_t batch, cin, cout, h, w, kh, kw, sh, sw, dh, dw, group;
  std::vector<int64_t> pads;  // top, left, bottom, right
  std::string auto_pad = "NOTSET";
  bool bias = true;
  bool const_weight = true;
  std::string activation = "none";
  bool residual = false;  // a fused residual input (conv_params.h)
  int threads = 1;

  std::string ToString() const {
    std::string s =
        "x[" + std::to_string(batch) + "," + std::to_string(cin) + "," + std::to_string(h) + "," +
        std::to_string(w) + "] cout=" + std::to_string(cout) + " k=" + std::to_string(kh) + "x" +
        std::to_string(kw) + " s=" + std::to_string(sh) + "," + std::to_string(sw) +
        " d=" + std::to_string(dh) + "," + std::to_string(dw) + " g=" + std::to_string(group) +
        " pads=" + ShapeToString(pads) + " " + auto_pad + (bias ? " bias" : "") +
        (const_weight ? "" : " runtime-weight") + " act=" + activation +
        (residual ? " residual" : "") + " threads=" + std::to_string(threads);
    return s;
  }
};

// Largest magnitude of a tensor's elements.
float MaxAbs(const Tensor& t) {
  float m = 0.f;
  for (int64_t i = 0; i < t.num_elements(); ++i) m = std::max(m, std::fabs(t.data<float>()[i]));
  return m;
}

// max|opt - ref| <= 1e-4 * scale + 1e-5, scale being max|ref| or, if larger,
// the largest sum before the activation (`sums`): GEMM reassociation and
// Winograd's transforms change the rounding of the sums, never more than
// that, and an activation that squeezes them (a saturated tanh) does not
// squeeze the rounding of the sums near zero, where it is linear.
void ExpectClose(const Tensor& opt, const Tensor& ref, float sums = 0.f) {
  ASSERT_EQ(opt.shape(), ref.shape());
  float max_ref = sums, max_diff = 0.f;
  for (int64_t i = 0; i < ref.num_elements(); ++i) {
    max_ref = std::max(max_ref, std::fabs(ref.data<float>()[i]));
    const float d = std::fabs(opt.data<float>()[i] - ref.data<float>()[i]);
    ASSERT_FALSE(std::isnan(d)) << "element " << i << " is NaN";
    max_diff = std::max(max_diff, d);
  }
  EXPECT_LE(max_diff, 1e-4f * max_ref + 1e-5f) << "max|ref| = " << max_ref;
}

// Sets *result, if given, to the optimised kernel's output.
void CheckAgainstReference(const RandomConv& c, std::mt19937* rng, Tensor* result = nullptr) {
  SCOPED_TRACE(c.ToString());
  Attributes attrs = MakeAttrs({{"strides", std::vector<int64_t>{c.sh, c.sw}},
                                {"dilations", std::vector<int64_t>{c.dh, c.dw}},
                                {"group", c.group},
                                {"auto_pad", c.auto_pad}});
  if (c.auto_pad == "NOTSET") attrs.set("pads", c.pads);
  Activation act;
  if (c.activation == "clip") {
    act = {Activation::Kind::kClip, -0.5f, 0.7f};
  } else if (c.activation == "leaky_relu") {
    act = {Activation::Kind::kLeakyRelu, 0.1f, 0.f};
  } else if (c.activation == "hard_sigmoid") {
    act = {Activation::Kind::kHardSigmoid, 0.2f, 0.5f};
  } else {
    for (auto kind :
         {Activation::Kind::kNone, Activation::Kind::kRelu, Activation::Kind::kSigmoid,
          Activation::Kind::kSilu, Activation::Kind::kHardSwish, Activation::Kind::kTanh}) {
      if (c.activation == Activation::KindName(kind)) act.kind = kind;
    }
  }
  act.ToAttributes(&attrs);

  Tensor x = RandomFloatTensor({c.batch, c.cin, c.h, c.w}, rng);
  Tensor w = RandomFloatTensor({c.cout, c.cin / c.group, c.kh, c.kw}, rng);
  std::vector<TestInput> inputs = {In(x), c.const_weight ? Const(w) : In(w)};
  if (c.bias) inputs.push_back(Const(RandomFloatTensor({c.cout}, rng)));
  if (c.residual) {
    auto plain = SetupKernel("Conv", KernelFlavor::kReference, attrs, inputs);
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    if (!c.bias) inputs.push_back(NoInput());
    inputs.push_back(In(RandomFloatTensor(plain->outputs[0].shape, rng)));
    attrs.set(kConvResidualAttr, int64_t{1});
  }

  auto ref = RunKernel("Conv", KernelFlavor::kReference, attrs, inputs);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  float sums = 0.f;
  if (!act.is_none()) {
    Attributes linear = attrs;
    Activation{}.ToAttributes(&linear);
    auto pre = RunKernel("Conv", KernelFlavor::kReference, linear, inputs);
    ASSERT_TRUE(pre.ok()) << pre.status().ToString();
    sums = MaxAbs((*pre)[0]);
  }
  auto opt = RunKernel("Conv", KernelFlavor::kOptimized, attrs, inputs, 13, c.threads);
  ASSERT_TRUE(opt.ok()) << opt.status().ToString();
  ExpectClose((*opt)[0], (*ref)[0], sums);
  // Same thread count, same bits.
  auto again = RunKernel("Conv", KernelFlavor::kOptimized, attrs, inputs, 13, c.threads);
  ASSERT_TRUE(again.ok());
  ExpectTensorEqual((*again)[0], (*opt)[0]);
  if (result != nullptr) *result = (*opt)[0];
}

// Checks each variant of one case against the reference, on the same
// inputs (drawn from `seed`), and expects every variant to give the bits of
// the first.
void CheckSameBits(const std::vector<RandomConv>& variants, uint32_t seed) {
  Tensor first;
  for (const RandomConv& c : variants) {
    std::mt19937 same_inputs(seed);
    Tensor out;
    CheckAgainstReference(c, &same_inputs, &out);
    if (::testing::Test::HasFatalFailure()) return;
    if (!first.defined()) {
      first = out;
    } else {
      SCOPED_TRACE(c.ToString() + " against " + variants.front().ToString());
      ExpectTensorEqual(out, first);
    }
  }
}

// Each case at 1, 2 and 3 threads, which cut the work differently and must
// give the same bits (CheckSameBits).
void CheckSameBitsAtEachThreadCount(const std::vector<RandomConv>& cases, std::mt19937* rng) {
  for (const RandomConv& base : cases) {
    std::vector<RandomConv> variants;
    for (int threads : {1, 2, 3}) {
      variants.push_back(base);
      variants.back().threads = threads;
    }
    CheckSameBits(variants, (*rng)());
    if (::testing::Test::HasFatalFailure()) return;
  }
}

RandomConv Make(int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t k, int64_t s, int64_t pad,
                int64_t group = 1) {
  RandomConv c{1, cin, cout, h, w, k, k, s, s, 1, 1, group, {pad, pad, pad, pad}};
  return c;
}

// The layer shapes the models need, at reduced channel counts.
TEST(ConvOptimizedTest, ModelShapedLayers) {
  std::mt19937 rng(1);
  std::vector<RandomConv> cases = {
      Make(3, 16, 32, 32, 7, 2, 3),       // ResNet stem
      Make(16, 24, 14, 14, 1, 1, 0),      // 1x1
      Make(16, 24, 14, 14, 1, 2, 0),      // 1x1 stride 2 (downsample)
      Make(16, 16, 14, 14, 3, 1, 1),      // 3x3
      Make(16, 20, 15, 15, 3, 2, 1),      // 3x3 stride 2, odd size
      Make(24, 24, 7, 7, 3, 1, 1),        // 7x7 map: wide planes
      Make(3, 8, 33, 31, 3, 2, 1),        // MobileNet stem
      Make(24, 24, 16, 16, 3, 1, 1, 24),  // depthwise 3x3
      Make(24, 24, 17, 17, 3, 2, 1, 24),  // depthwise 3x3 stride 2
      Make(40, 40, 14, 14, 5, 1, 2, 40),  // depthwise 5x5
      Make(40, 40, 15, 15, 5, 2, 2, 40),  // depthwise 5x5 stride 2
      Make(8, 16, 9, 9, 3, 1, 1, 8),      // depthwise, multiplier 2
      Make(16, 32, 12, 12, 3, 1, 1, 4),   // grouped
      Make(8, 4, 1, 1, 1, 1, 0),          // squeeze-excite reduce: one pixel
      Make(4, 8, 1, 1, 1, 1, 0),          // squeeze-excite expand
      Make(5, 70, 9, 7, 1, 1, 0),         // rows not a multiple of the tile
  };
  cases[1].activation = "relu";
  cases[3].activation = "clip";
  cases[7].activation = "hard_swish";
  cases[9].activation = "silu";
  cases[13].activation = "silu";
  cases[14].activation = "sigmoid";
  for (size_t i = 0; i < cases.size(); ++i) {
    for (int threads : {1, 2, 3}) {
      RandomConv c = cases[i];
      c.threads = threads;
      c.bias = i % 3 != 2;
      CheckAgainstReference(c, &rng);
    }
  }
}

// Depthwise layers of every map size: up to 28 wide they take
// DepthwiseChannelLanes, wider ones the padded row kernel, which computes
// four, two or one output rows at a time with partial sums per kernel row
// (map heights that leave every remainder), stride 1 and 2.
TEST(ConvOptimizedTest, DepthwiseRowGroups) {
  std::mt19937 rng(11);
  for (int64_t k : {3, 5}) {
    for (int64_t s : {1, 2}) {
      for (int64_t side : {3, 5, 7, 9, 13, 14, 15, 28, 29, 35, 57}) {
        for (int64_t channels : {1, 6, 17}) {
          RandomConv c = Make(channels, channels, side, side, k, s, k / 2, channels);
          c.threads = static_cast<int>(1 + channels % 3);
          c.activation = side % 2 == 0 ? "relu" : "none";
          CheckAgainstReference(c, &rng);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
  // Non-square maps and a height of one or two rows.
  for (const auto& [h, w] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 7}, {2, 19}, {6, 33}, {11, 4}}) {
    for (int64_t k : {3, 5}) {
      for (int64_t s : {1, 2}) {
        CheckAgainstReference(Make(8, 8, h, w, k, s, k / 2, 8), &rng);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

// DepthwiseChannelLanes: channel counts that leave every tail of a vector
// of 16, maps tall enough to be cut into bands of rows (100x20), strides 1
// and 2, a dilation, a 7x7 kernel (its general path), a residual and an
// activation; the same bits at 1, 2 and 3 threads.
TEST(ConvOptimizedTest, DepthwiseChannelLanes) {
  std::mt19937 rng(13);
  std::vector<RandomConv> cases;
  for (int64_t channels : {1, 15, 16, 33}) {
    for (const auto& [h, w] :
         std::vector<std::pair<int64_t, int64_t>>{{7, 7}, {100, 20}, {28, 28}}) {
      for (int64_t s : {1, 2}) cases.push_back(Make(channels, channels, h, w, 3, s, 1, channels));
    }
  }
  RandomConv dilated = Make(24, 24, 14, 14, 3, 1, 2, 24);
  dilated.dh = dilated.dw = 2;
  cases.push_back(dilated);
  cases.push_back(Make(20, 20, 11, 13, 7, 1, 3, 20));
  RandomConv uneven = Make(18, 18, 9, 12, 5, 2, 2, 18);
  uneven.pads = {1, 2, 2, 0};
  uneven.residual = true;
  uneven.activation = "silu";
  cases.push_back(uneven);
  for (size_t i = 0; i < cases.size(); ++i) {
    cases[i].bias = i % 4 != 3;
    if (cases[i].activation == "none") cases[i].activation = i % 2 == 0 ? "relu" : "none";
    CheckAgainstReference(cases[i], &rng);
    if (::testing::Test::HasFatalFailure()) return;
  }
  CheckSameBitsAtEachThreadCount(cases, &rng);
}

TEST(ConvOptimizedTest, RandomConfigurations) {
  std::mt19937 rng(7);
  auto pick = [&](std::vector<int64_t> v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
  };
  const std::vector<std::string> activations = {"none",         "relu",       "clip",
                                                "leaky_relu",   "sigmoid",    "silu",
                                                "hard_sigmoid", "hard_swish", "tanh"};
  int checked = 0;
  while (checked < 80) {
    RandomConv c;
    c.batch = pick({1, 1, 1, 2});
    const int64_t kind = pick({0, 1, 2});  // dense, depthwise, grouped
    c.kh = pick({1, 2, 3, 3, 5, 7});
    c.kw = pick({0, 1}) ? c.kh : pick({1, 3, 5});
    c.sh = pick({1, 1, 2, 3});
    c.sw = pick({0, 1}) ? c.sh : pick({1, 2});
    c.dh = pick({1, 1, 1, 2});
    c.dw = pick({1, 1, 2});
    c.h = pick({1, 2, 5, 7, 8, 13, 16, 23});
    c.w = pick({1, 3, 7, 9, 14, 16, 31});
    if (kind == 1) {
      c.cin = pick({1, 3, 8, 17});
      c.group = c.cin;
      c.cout = c.cin * pick({1, 1, 2});
    } else if (kind == 2) {
      c.group = pick({2, 3});
      c.cin = c.group * pick({1, 2, 5});
      c.cout = c.group * pick({1, 3, 8});
    } else {
      c.group = 1;
      c.cin = pick({1, 3, 4, 16, 37});
      c.cout = pick({1, 5, 8, 16, 24, 50});
    }
    c.pads = {pick({0, 1, 2}), pick({0, 1, 3}), pick({0, 1, 2}), pick({0, 2})};
    c.auto_pad = pick({0, 0, 0, 1, 2, 3}) == 0
                     ? "NOTSET"
                     : std::vector<std::string>{"NOTSET", "SAME_UPPER", "SAME_LOWER",
                                                "VALID"}[pick({1, 2, 3})];
    c.bias = pick({0, 1});
    c.const_weight = pick({0, 1, 1, 1});
    c.activation = activations[pick({0, 1, 2, 3, 4, 5, 6, 7, 8})];
    c.residual = pick({0, 0, 1}) == 1;
    c.threads = static_cast<int>(pick({1, 2, 3}));
    // Skip configurations whose kernel does not fit the (padded) input.
    const bool explicit_pads = c.auto_pad == "NOTSET";
    const bool valid = c.auto_pad == "VALID";
    const int64_t ph = explicit_pads ? c.pads[0] + c.pads[2] : 0;
    const int64_t pw = explicit_pads ? c.pads[1] + c.pads[3] : 0;
    const int64_t span_h = (c.kh - 1) * c.dh + 1, span_w = (c.kw - 1) * c.dw + 1;
    if ((explicit_pads || valid) && (c.h + ph < span_h || c.w + pw < span_w)) continue;
    CheckAgainstReference(c, &rng);
    if (::testing::Test::HasFatalFailure()) return;
    ++checked;
  }
}

TEST(ConvOptimizedTest, LargerLayers) {
  // Enough channels and pixels for several work units per thread and the
  // channel-block split.
  std::mt19937 rng(3);
  std::vector<RandomConv> cases = {
      Make(64, 64, 28, 28, 3, 1, 1),
      Make(128, 96, 7, 7, 3, 1, 1),
      Make(96, 200, 14, 14, 1, 1, 0),
      Make(32, 64, 56, 56, 1, 1, 0),
      Make(64, 64, 30, 30, 3, 2, 1),
      Make(144, 144, 28, 28, 3, 1, 1, 144),
      Make(32, 32, 50, 50, 3, 1, 1, 32),  // depthwise, four vector blocks a row
      Make(24, 24, 61, 61, 5, 2, 2, 24),  // depthwise 5x5 stride 2, odd row count
      Make(3, 32, 64, 64, 3, 2, 1),
      // Small maps with many output channels: packed pixel columns, the
      // last few as dot products.
      Make(32, 64, 14, 14, 3, 1, 1),
      Make(24, 128, 9, 9, 5, 1, 2, 2),
      Make(40, 72, 15, 15, 3, 2, 1),
      Make(16, 64, 6, 6, 3, 1, 0),
      // Columns of four tiles over half of L2 (K = 1440, 1536, 2304): units
      // of one or two tiles, the last with packed pixels and dot columns.
      Make(160, 24, 14, 14, 3, 1, 1),
      Make(160, 72, 9, 9, 3, 1, 1),
      Make(1536, 20, 7, 7, 1, 1, 0),
      Make(256, 64, 14, 14, 3, 1, 1),
      // A 1x7 on a 17x17 map (as inception_v3's, with fewer output
      // channels than the lanes schedule takes): 289 pixels packed from
      // planes 23 columns wide.
      RandomConv{1, 48, 48, 17, 17, 1, 7, 1, 1, 1, 1, 1, {0, 3, 0, 3}},
      // Planes over 2 MB: built band by band (12 output channels, too few
      // for Winograd).
      Make(64, 12, 100, 100, 3, 1, 1),
      Make(48, 8, 121, 121, 3, 2, 1),
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    RandomConv c = cases[i];
    c.threads = 2;
    c.activation = "relu";
    c.residual = i % 2 == 0;
    CheckAgainstReference(c, &rng);
  }
}

// GEMM tiles whose columns are plane positions (padded or strided layers,
// planes wider than the output) are stored straight to output rows at least
// a tile wide, on both sides of a row's end (GemmEpilogue::row_gap): stems
// with K = 27 as squeezenet's and VGG's, a 3x3 in bands, an activation the
// tiles apply and one applied afterwards, no bias; and, with a residual,
// through the tile buffer as before. Each must give the same bits at 1, 2
// and 3 threads.
TEST(ConvOptimizedTest, TilesStoredAcrossOutputRows) {
  std::mt19937 rng(17);
  std::vector<RandomConv> cases = {
      Make(3, 16, 99, 99, 3, 2, 0),    // 49 wide from planes 50 wide
      Make(3, 8, 60, 100, 3, 1, 1),    // 100 wide from 102
      Make(5, 12, 40, 52, 3, 1, 1),    // 52 wide from 54
      Make(4, 10, 64, 97, 5, 2, 2),    // 49 wide from 51
      Make(16, 8, 100, 100, 3, 1, 1),  // planes over L2 / 4: in bands
      Make(3, 16, 50, 98, 3, 1, 1),
  };
  cases[0].activation = "relu";
  cases[1].activation = "clip";
  cases[2].activation = "sigmoid";
  cases[3].bias = false;
  cases[4].activation = "relu";
  cases[5].activation = "relu";
  cases[5].residual = true;
  CheckSameBitsAtEachThreadCount(cases, &rng);
}

// The schedule with output channels in the vector lanes
// (conv_channel_lanes.h): kernels of 7 taps or more, maps of 14x14 and more,
// 64 output channels and more. Partial blocks of output channels (80, 130) and
// of input channels (20 = 14 + 6), maps cut into several chunks of positions
// (40x30 = 1200), strides, dilations, asymmetric pads, a batch of two,
// run-time weights, no bias, residuals and activations (a sigmoid, which
// vector code rounds differently from scalar code); each at 1, 2 and 3
// threads, which cut the work differently and must give the same bits.
TEST(ConvOptimizedTest, ChannelLanes) {
  std::mt19937 rng(13);
  std::vector<RandomConv> cases = {
      Make(20, 80, 14, 14, 3, 1, 1),
      Make(16, 130, 16, 15, 3, 1, 1),
      Make(15, 64, 40, 30, 3, 1, 1),
      Make(24, 64, 33, 29, 3, 2, 1),
      Make(32, 96, 20, 18, 5, 1, 2),
      Make(3, 64, 64, 64, 7, 2, 3),  // ResNet's stem: K = 147, blocks of 2 + 1 channels
      RandomConv{2, 18, 72, 19, 23, 3, 5, 1, 2, 2, 1, 1, {1, 0, 2, 3}},
      RandomConv{1, 24, 64, 17, 17, 1, 7, 1, 1, 1, 1, 1, {0, 3, 0, 3}},  // inception_v3's 1x7
      RandomConv{1, 40, 96, 17, 17, 7, 1, 1, 1, 1, 1, 1, {3, 0, 3, 0}},  // and 7x1
  };
  cases[1].bias = false;
  cases[2].activation = "relu";
  cases[2].residual = true;
  cases[3].const_weight = false;
  cases[4].activation = "hard_swish";
  cases[6].residual = true;
  cases[6].activation = "clip";
  cases[7].activation = "sigmoid";
  cases[7].bias = false;
  CheckSameBitsAtEachThreadCount(cases, &rng);
}

// 3x3 stride-1 layers run as Winograd F(4x4, 3x3) (winograd.h): in bands of
// tile rows on maps of 49 tiles and more (from 16 channels a side), split by
// output channels on maps of 16-48 tiles (15x14, 12x45; from 64 channels).
// Blocks of output channels end short (70, 100, 120 and 160 are not
// multiples of 8); map sizes that are not multiples of 4 leave the last
// tiles' rows and columns outside; asymmetric pads shift the patches; rows
// of 13 and 18 tiles take a vector of 16 and a part; an activation that is
// not idempotent shows a band applying it twice; a residual is summed per
// output row. 1, 2 and 3 threads cut the tiles differently and must give the
// same bits, and so must a run-time weight, transformed at every run, and
// the same weight as a constant, transformed once at Setup.
TEST(ConvOptimizedTest, WinogradLayers) {
  std::mt19937 rng(5);
  std::vector<RandomConv> cases = {
      Make(100, 100, 28, 28, 3, 1, 1), Make(104, 120, 29, 31, 3, 1, 1),
      Make(128, 96, 30, 33, 3, 1, 0),  Make(72, 160, 37, 28, 3, 1, 1),
      Make(64, 70, 15, 14, 3, 1, 1),   Make(64, 72, 12, 45, 3, 1, 1),
      Make(64, 72, 13, 50, 3, 1, 1),   Make(64, 64, 13, 70, 3, 1, 1),
      Make(24, 40, 30, 29, 3, 1, 1),
  };
  cases[1].pads = {0, 1, 2, 0};
  cases[2].batch = 2;
  cases[2].bias = false;
  cases[0].activation = "sigmoid";
  cases[1].activation = "relu";
  cases[1].residual = true;
  cases[3].activation = "tanh";
  cases[3].residual = true;
  cases[4].activation = "hard_swish";
  cases[4].residual = true;
  cases[5].activation = "silu";
  cases[6].residual = true;
  cases[7].activation = "clip";
  cases[8].activation = "sigmoid";
  cases[8].bias = false;
  for (const RandomConv& base : cases) {
    std::vector<RandomConv> variants;
    for (bool const_weight : {true, false}) {
      for (int threads : {1, 2, 3}) {
        variants.push_back(base);
        variants.back().const_weight = const_weight;
        variants.back().threads = threads;
      }
    }
    CheckSameBits(variants, rng());
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// Which layers run as Winograd, seen through the weight they prepare: 36/9
// of the layer's weight, held for a constant weight only.
TEST(ConvOptimizedTest, WinogradPreparesAConstantWeightOnce) {
  std::mt19937 rng(6);
  const Attributes attrs = MakeAttrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  auto prepared = [&](int64_t cin, int64_t cout, int64_t size, bool constant) -> size_t {
    const Tensor x = RandomFloatTensor({1, cin, size, size}, &rng);
    const Tensor w = RandomFloatTensor({cout, cin, 3, 3}, &rng);
    auto kut =
        SetupKernel("Conv", KernelFlavor::kOptimized, attrs, {In(x), constant ? Const(w) : In(w)});
    EXPECT_TRUE(kut.ok()) << kut.status().ToString();
    return kut.ok() ? kut->kernel->PreparedWeightBytes() : 0;
  };
  EXPECT_EQ(prepared(128, 128, 28, true), size_t{36} * 128 * 128 * sizeof(float));
  EXPECT_EQ(prepared(128, 128, 28, false), 0u);
  EXPECT_EQ(prepared(64, 96, 14, true), size_t{36} * 96 * 64 * sizeof(float));
  // From 16 channels a side on maps of 49 tiles and more (25x25).
  EXPECT_EQ(prepared(32, 128, 28, true), size_t{36} * 128 * 32 * sizeof(float));
  EXPECT_EQ(prepared(128, 16, 25, true), size_t{36} * 16 * 128 * sizeof(float));
  // Fewer channels on a side, or a map under 14x14: the lanes or GEMM schedules.
  EXPECT_EQ(prepared(8, 128, 28, true), 0u);
  EXPECT_EQ(prepared(48, 128, 24, true), 0u);
  EXPECT_EQ(prepared(256, 256, 13, true), 0u);
}

// Both schedules sum bias + w * x over (c, ky, kx) in order, one FMA a term:
// a layer of 64 output channels (lanes) and its first 32 as a layer of their
// own (the GEMM schedule: too few for lanes) agree to the bit, so that a
// layer and the slices the planner cuts from it (output_slice.h) may take
// either schedule.
TEST(ConvOptimizedTest, ChannelLanesGiveTheGemmBits) {
  std::mt19937 rng(17);
  const Attributes attrs = MakeAttrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const Tensor x = RandomFloatTensor({1, 32, 20, 20}, &rng);
  const Tensor w = RandomFloatTensor({64, 32, 3, 3}, &rng);
  const Tensor b = RandomFloatTensor({64}, &rng);
  auto lanes = RunKernel("Conv", KernelFlavor::kOptimized, attrs, {In(x), Const(w), Const(b)});
  ASSERT_TRUE(lanes.ok()) << lanes.status().ToString();
  const int64_t half = 32 * 32 * 9;
  Tensor w_half = RandomFloatTensor({32, 32, 3, 3}, &rng);
  std::copy(w.data<float>(), w.data<float>() + half, w_half.data<float>());
  Tensor b_half = RandomFloatTensor({32}, &rng);
  std::copy(b.data<float>(), b.data<float>() + 32, b_half.data<float>());
  auto gemm =
      RunKernel("Conv", KernelFlavor::kOptimized, attrs, {In(x), Const(w_half), Const(b_half)});
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
  const float* got = (*lanes)[0].data<float>();
  const float* want = (*gemm)[0].data<float>();
  const int64_t n = (*gemm)[0].num_elements();
  int64_t differing = 0;
  for (int64_t i = 0; i < n; ++i) differing += got[i] != want[i];
  EXPECT_EQ(differing, 0) << "of " << n << " outputs";
}

// A fused residual gives the bits of the Conv alone followed by an Add and
// the activation, on every path of the optimised kernel and the reference.
TEST(ConvOptimizedTest, AResidualIsAddedBeforeTheActivation) {
  std::mt19937 rng(5);
  std::vector<RandomConv> cases = {
      Make(16, 24, 14, 14, 1, 1, 0),      // 1x1: the input read in place
      Make(16, 64, 56, 56, 1, 1, 0),      // 1x1: the input copied into panels
      Make(32, 64, 28, 28, 1, 2, 0),      // 1x1 stride 2: whole-image planes
      Make(16, 64, 14, 14, 3, 1, 1),      // output channels in the lanes
      Make(16, 16, 20, 20, 3, 1, 1),      // planes wider than the output
      Make(32, 64, 7, 7, 3, 1, 1),        // packed pixels and dot columns
      Make(64, 16, 100, 100, 3, 1, 1),    // band by band
      Make(24, 24, 16, 16, 3, 1, 1, 24),  // depthwise, padded rows
      Make(8, 8, 9, 9, 3, 3, 1, 8),       // depthwise, stride 3
      Make(16, 32, 12, 12, 3, 1, 1, 4),   // grouped
  };
  cases.back().batch = 2;
  for (KernelFlavor flavor : kFlavors) {
    for (const RandomConv& c : cases) {
      for (int threads : {1, 2}) {
        SCOPED_TRACE(FlavorName(flavor) + " " + c.ToString() + " threads " +
                     std::to_string(threads));
        Attributes attrs = MakeAttrs(
            {{"strides", std::vector<int64_t>{c.sh, c.sw}}, {"pads", c.pads}, {"group", c.group}});
        std::vector<TestInput> inputs = {
            In(RandomFloatTensor({c.batch, c.cin, c.h, c.w}, &rng)),
            Const(RandomFloatTensor({c.cout, c.cin / c.group, c.kh, c.kw}, &rng)),
            Const(RandomFloatTensor({c.cout}, &rng))};
        auto alone = RunKernel("Conv", flavor, attrs, inputs, 13, threads);
        ASSERT_TRUE(alone.ok()) << alone.status().ToString();
        const Tensor r = RandomFloatTensor((*alone)[0].shape(), &rng);
        inputs.push_back({});
        attrs.set(kConvResidualAttr, int64_t{1});
        // Those the optimised tiles apply in registers; the others, applied
        // over a block as before, compute exp and tanh in ways other than
        // the standard library's (CheckAgainstReference covers them).
        for (const Activation& act : {Activation{Activation::Kind::kNone, 0.f, 0.f},
                                      Activation{Activation::Kind::kRelu, 0.f, 0.f},
                                      Activation{Activation::Kind::kClip, -0.5f, 0.7f}}) {
          SCOPED_TRACE(Activation::KindName(act.kind));
          Attributes with_act = attrs;
          if (!act.is_none()) act.ToAttributes(&with_act);
          // A copy, in case the output is computed in the residual's buffer.
          auto residual = r.Clone();
          ASSERT_TRUE(residual.ok());
          inputs.back() = In(*std::move(residual));
          auto fused = RunKernel("Conv", flavor, with_act, inputs, 13, threads);
          ASSERT_TRUE(fused.ok()) << fused.status().ToString();
          auto cloned = (*alone)[0].Clone();  // Tensors share their buffer when copied
          ASSERT_TRUE(cloned.ok());
          Tensor want = *std::move(cloned);
          for (int64_t i = 0; i < want.num_elements(); ++i) {
            want.data<float>()[i] =
                ActivationReference(act, want.data<float>()[i] + r.data<float>()[i]);
          }
          ExpectTensorEqual((*fused)[0], want);
        }
      }
    }
  }
}

// A Conv whose Setup must fail.
struct RejectedConv {
  const Attributes* attrs;
  std::vector<TestInput> inputs;
};

// Each case is refused as an invalid argument by both flavours.
void ExpectRejected(const std::vector<RejectedConv>& cases) {
  for (KernelFlavor flavor : kFlavors) {
    for (size_t i = 0; i < cases.size(); ++i) {
      SCOPED_TRACE(FlavorName(flavor) + " case " + std::to_string(i));
      auto out = SetupKernel("Conv", flavor, *cases[i].attrs, cases[i].inputs);
      ASSERT_FALSE(out.ok());
      EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
    }
  }
}

TEST(ConvTest, RejectsAResidualOfTheWrongShapeOrWithoutItsAttribute) {
  const Attributes plain = MakeAttrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  Attributes residual = plain;
  residual.set(kConvResidualAttr, int64_t{1});
  const Tensor x = Ramp(4, 4);
  const Tensor w = Ones({2, 1, 3, 3});
  const std::vector<RejectedConv> cases = {
      // A fourth input on a plain Conv, and the attribute without the input.
      {&plain, {In(x), Const(w), NoInput(), In(Ones({1, 2, 4, 4}))}},
      {&residual, {In(x), Const(w)}},
      // Not the output's shape: another channel count, a broadcast.
      {&residual, {In(x), Const(w), NoInput(), In(Ones({1, 1, 4, 4}))}},
      {&residual, {In(x), Const(w), NoInput(), In(Ones({1, 2, 1, 1}))}},
  };
  ExpectRejected(cases);
}

// An input BatchNormalization (graph_passes.h: FuseInputBatchNorm) on the
// optimised 1x1 paths: units of 64 channels and more, fewer (copying into
// panels all the same), dot columns; with and without its Relu and a
// residual. The optimised kernel agrees with the reference and gives the
// same bits at every thread count; a 3x3 one runs the reference.
TEST(ConvOptimizedTest, AnInputBatchNormalizationMatchesTheReference) {
  std::mt19937 rng(17);
  struct Case {
    int64_t cin, cout, side, kernel;
    bool relu, residual;
  };
  const Case cases[] = {
      {16, 64, 56, 1, true, false},  {32, 24, 14, 1, true, true}, {48, 16, 7, 1, false, false},
      {24, 128, 28, 1, false, true}, {8, 8, 9, 3, true, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.cin) + "->" + std::to_string(c.cout) + " at " +
                 std::to_string(c.side) + " kernel " + std::to_string(c.kernel) +
                 (c.relu ? " relu" : "") + (c.residual ? " residual" : ""));
    Attributes attrs = MakeAttrs({{"pads", std::vector<int64_t>(4, c.kernel / 2)}});
    attrs.set(kConvInputAffineAttr, int64_t{1});
    if (c.relu) attrs.set(kConvInputReluAttr, int64_t{1});
    if (c.residual) attrs.set(kConvResidualAttr, int64_t{1});
    std::vector<TestInput> inputs = {
        In(RandomFloatTensor({1, c.cin, c.side, c.side}, &rng)),
        Const(RandomFloatTensor({c.cout, c.cin, c.kernel, c.kernel}, &rng)),
        Const(RandomFloatTensor({c.cout}, &rng)),
        c.residual ? In(RandomFloatTensor({1, c.cout, c.side, c.side}, &rng)) : NoInput(),
        Const(RandomFloatTensor({c.cin}, &rng)),
        Const(RandomFloatTensor({c.cin}, &rng))};
    auto ref = RunKernel("Conv", KernelFlavor::kReference, attrs, inputs, 13, 1);
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    std::optional<Tensor> first;
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE("threads " + std::to_string(threads));
      auto opt = RunKernel("Conv", KernelFlavor::kOptimized, attrs, inputs, 13, threads);
      ASSERT_TRUE(opt.ok()) << opt.status().ToString();
      ExpectTensorNear((*opt)[0], (*ref)[0], 1e-4f, 1e-4f);
      if (first.has_value()) {
        ExpectTensorEqual((*opt)[0], *first);
      } else {
        first = (*opt)[0];
      }
    }
  }
}

TEST(ConvTest, RejectsAMalformedInputBatchNormalization) {
  Attributes affine;
  affine.set(kConvInputAffineAttr, int64_t{1});
  Attributes relu_alone;
  relu_alone.set(kConvInputReluAttr, int64_t{1});
  const Tensor x = Ramp(4, 4);
  const Tensor w = Ones({2, 1, 1, 1});
  const std::vector<RejectedConv> cases = {
      // The attribute without its inputs, and a Relu without the attribute.
      {&affine, {In(x), Const(w)}},
      {&relu_alone, {In(x), Const(w)}},
      // Coefficients of another size, and a fourth input without a residual.
      {&affine, {In(x), Const(w), NoInput(), NoInput(), Const(Ones({2})), Const(Ones({1}))}},
      {&affine,
       {In(x), Const(w), NoInput(), In(Ones({1, 2, 4, 4})), Const(Ones({1})), Const(Ones({1}))}},
  };
  ExpectRejected(cases);
}

}  // namespace
}  // namespace serdab::engine
