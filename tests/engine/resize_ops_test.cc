// Reference kernels of Resize, Upsample and Pad. The PyTorch cases use the
// exact graphs torch.onnx.export (torch 1.13) writes for torch.nn.Upsample and
// F.interpolate, with expected values computed by PyTorch and pasted here.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/engine/kernel_test_util.h"

namespace serdab::engine::testing {
namespace {

constexpr KernelFlavor kRef = KernelFlavor::kReference;

Tensor Ints(const std::vector<int64_t>& values) {
  return Int64Tensor({static_cast<int64_t>(values.size())}, values);
}

Tensor Floats(const std::vector<float>& values) {
  return FloatTensor({static_cast<int64_t>(values.size())}, values);
}

Tensor EmptyFloats() { return FloatTensor({0}, {}); }

Tensor RunOne(const std::string& op, const Attributes& attrs, const std::vector<TestInput>& in,
              int opset) {
  auto out = RunKernel(op, kRef, attrs, in, opset);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? (*out)[0] : Tensor();
}

Status::Code SetupCode(const std::string& op, const Attributes& attrs,
                       const std::vector<TestInput>& in, int opset) {
  return SetupKernel(op, kRef, attrs, in, opset).status().code();
}

// The attributes torch.onnx.export writes for Resize at opsets 11 and 13.
Attributes ResizeAttrs(const std::string& mode, const std::string& coord,
                       const std::string& nearest = "floor") {
  return MakeAttrs({{"mode", mode},
                    {"coordinate_transformation_mode", coord},
                    {"nearest_mode", nearest},
                    {"cubic_coeff_a", -0.75f}});
}

// x = [[0.1, 0.7, -1.3], [2.5, 0.0, 1.9]] as 1x1x2x3.
Tensor TorchInput() { return FloatTensor({1, 1, 2, 3}, {0.1f, 0.7f, -1.3f, 2.5f, 0.0f, 1.9f}); }

// F.interpolate(x, scale_factor=2, mode="nearest").
Tensor TorchNearest2x() {
  return FloatTensor(
      {1, 1, 4, 6},
      {0.100000001f, 0.100000001f, 0.699999988f, 0.699999988f, -1.29999995f, -1.29999995f,
       0.100000001f, 0.100000001f, 0.699999988f, 0.699999988f, -1.29999995f, -1.29999995f,
       2.5f,         2.5f,         0.f,          0.f,          1.89999998f,  1.89999998f,
       2.5f,         2.5f,         0.f,          0.f,          1.89999998f,  1.89999998f});
}

// F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False).
Tensor TorchBilinear2x() {
  return FloatTensor(
      {1, 1, 4, 6},
      {0.100000001f, 0.25f,    0.550000012f, 0.200000003f, -0.799999952f, -1.29999995f,
       0.699999988f, 0.65625f, 0.568749964f, 0.268750012f, -0.243749976f, -0.49999997f,
       1.89999998f,  1.46875f, 0.606249988f, 0.40625f,     0.868749976f,  1.10000002f,
       2.5f,         1.875f,   0.625f,       0.474999994f, 1.42499995f,   1.89999998f});
}

TEST(ResizeTest, TorchNearestOpset11) {
  // Inputs X, roi (an empty constant), scales.
  Tensor out = RunOne("Resize", ResizeAttrs("nearest", "asymmetric"),
                      {In(TorchInput()), Const(EmptyFloats()), Const(Floats({1, 1, 2, 2}))}, 11);
  ExpectTensorNear(out, TorchNearest2x());
}

TEST(ResizeTest, TorchNearestOpset13) {
  Tensor out = RunOne("Resize", ResizeAttrs("nearest", "asymmetric"),
                      {In(TorchInput()), NoInput(), Const(Floats({1, 1, 2, 2}))}, 13);
  ExpectTensorNear(out, TorchNearest2x());
}

TEST(ResizeTest, TorchBilinearPytorchHalfPixelOpset11) {
  Tensor out = RunOne("Resize", ResizeAttrs("linear", "pytorch_half_pixel"),
                      {In(TorchInput()), Const(EmptyFloats()), Const(Floats({1, 1, 2, 2}))}, 11);
  ExpectTensorNear(out, TorchBilinear2x());
}

TEST(ResizeTest, TorchBilinearHalfPixelOpset13) {
  Tensor out = RunOne("Resize", ResizeAttrs("linear", "half_pixel"),
                      {In(TorchInput()), NoInput(), Const(Floats({1, 1, 2, 2}))}, 13);
  ExpectTensorNear(out, TorchBilinear2x());
}

TEST(ResizeTest, TorchBilinear3x3) {
  Tensor x = FloatTensor({1, 1, 3, 3}, {0.5f, -1.f, 2.f, 3.f, 0.25f, -0.75f, 1.5f, 4.f, -2.f});
  Tensor out = RunOne("Resize", ResizeAttrs("linear", "half_pixel"),
                      {In(x), NoInput(), Const(Floats({1, 1, 2, 2}))}, 13);
  ExpectTensorNear(
      out, FloatTensor({1, 1, 6, 6}, {0.5f,   0.125f,    -0.625f,    -0.25f,   1.25f,    2.f,
                                      1.125f, 0.671875f, -0.234375f, -0.1875f, 0.8125f,  1.3125f,
                                      2.375f, 1.765625f, 0.546875f,  -0.0625f, -0.0625f, -0.0625f,
                                      2.625f, 2.265625f, 1.546875f,  0.625f,   -0.5f,    -1.0625f,
                                      1.875f, 2.171875f, 2.765625f,  1.875f,   -0.5f,    -1.6875f,
                                      1.5f,   2.125f,    3.375f,     2.5f,     -0.5f,    -2.f}));
}

TEST(ResizeTest, TorchSizesBilinear) {
  // F.interpolate(x, size=(3, 5), mode="bilinear", align_corners=False).
  Tensor out = RunOne(
      "Resize", ResizeAttrs("linear", "pytorch_half_pixel"),
      {In(TorchInput()), Const(EmptyFloats()), Const(EmptyFloats()), Const(Ints({1, 1, 3, 5}))},
      11);
  ExpectTensorNear(
      out, FloatTensor({1, 1, 3, 5},
                       {0.100000001f, 0.340000004f, 0.699999869f, -0.500000119f, -1.29999995f,
                        1.29999995f, 0.919999957f, 0.349999994f, 0.319999993f, 0.300000012f, 2.5f,
                        1.49999988f, 1.13248824e-07f, 1.1400001f, 1.89999998f}));
}

TEST(ResizeTest, TorchSizesBilinearAlignCorners) {
  // F.interpolate(x, size=(3, 5), mode="bilinear", align_corners=True).
  Tensor out = RunOne("Resize", ResizeAttrs("linear", "align_corners"),
                      {In(TorchInput()), NoInput(), NoInput(), Const(Ints({1, 1, 3, 5}))}, 13);
  ExpectTensorNear(
      out, FloatTensor({1, 1, 3, 5},
                       {0.100000001f, 0.400000006f, 0.699999988f, -0.299999982f, -1.29999995f,
                        1.29999995f, 0.824999988f, 0.349999994f, 0.324999988f, 0.300000012f, 2.5f,
                        1.25f, 0.f, 0.949999988f, 1.89999998f}));
}

TEST(ResizeTest, TorchSizesNearest) {
  // F.interpolate(x, size=(3, 5), mode="nearest").
  Tensor out = RunOne("Resize", ResizeAttrs("nearest", "asymmetric"),
                      {In(TorchInput()), NoInput(), NoInput(), Const(Ints({1, 1, 3, 5}))}, 13);
  ExpectTensorNear(
      out,
      FloatTensor({1, 1, 3, 5}, {0.100000001f, 0.100000001f, 0.699999988f, 0.699999988f,
                                 -1.29999995f, 0.100000001f, 0.100000001f, 0.699999988f,
                                 0.699999988f, -1.29999995f, 2.5f, 2.5f, 0.f, 0.f, 1.89999998f}));
}

TEST(ResizeTest, Opset10NearestAndLinearAreAsymmetric) {
  Tensor x = FloatTensor({1, 1, 1, 2}, {0.f, 1.f});
  ExpectTensorNear(RunOne("Resize", MakeAttrs({{"mode", std::string("nearest")}}),
                          {In(x), Const(Floats({1, 1, 1, 2}))}, 10),
                   FloatTensor({1, 1, 1, 4}, {0.f, 0.f, 1.f, 1.f}));
  // Sources 0, 0.5, 1 and 1.5 (clamped to 1).
  ExpectTensorNear(RunOne("Resize", MakeAttrs({{"mode", std::string("linear")}}),
                          {In(x), Const(Floats({1, 1, 1, 2}))}, 10),
                   FloatTensor({1, 1, 1, 4}, {0.f, 0.5f, 1.f, 1.f}));
}

// Resizes [10, 20, 30, 40] along its last axis.
Tensor Resize1d(const std::string& coord, const std::string& nearest, float scale) {
  return RunOne("Resize", ResizeAttrs("nearest", coord, nearest),
                {In(FloatTensor({1, 4}, {10, 20, 30, 40})), NoInput(), Const(Floats({1, scale}))},
                13);
}

TEST(ResizeTest, NearestModesOnHalfwayPoints) {
  // half_pixel at scale 0.5 samples 0.5 and 2.5.
  ExpectTensorNear(Resize1d("half_pixel", "round_prefer_floor", 0.5f),
                   FloatTensor({1, 2}, {10, 30}));
  ExpectTensorNear(Resize1d("half_pixel", "round_prefer_ceil", 0.5f),
                   FloatTensor({1, 2}, {20, 40}));
}

TEST(ResizeTest, NearestModesTfHalfPixel) {
  // Sources (x + 0.5) / 2: 0.25, 0.75, 1.25, ..., 3.75.
  ExpectTensorNear(Resize1d("tf_half_pixel_for_nearest", "round_prefer_floor", 2.f),
                   FloatTensor({1, 8}, {10, 20, 20, 30, 30, 40, 40, 40}));
  ExpectTensorNear(Resize1d("tf_half_pixel_for_nearest", "floor", 2.f),
                   FloatTensor({1, 8}, {10, 10, 20, 20, 30, 30, 40, 40}));
  ExpectTensorNear(Resize1d("tf_half_pixel_for_nearest", "ceil", 2.f),
                   FloatTensor({1, 8}, {20, 20, 30, 30, 40, 40, 40, 40}));
}

TEST(ResizeTest, NearestAlignCorners) {
  // Sizes 4 -> 7: sources x / 2, halves round down.
  Tensor out = RunOne(
      "Resize", ResizeAttrs("nearest", "align_corners", "round_prefer_floor"),
      {In(FloatTensor({1, 4}, {10, 20, 30, 40})), NoInput(), NoInput(), Const(Ints({1, 7}))}, 13);
  ExpectTensorNear(out, FloatTensor({1, 7}, {10, 10, 20, 20, 30, 30, 40}));
}

TEST(ResizeTest, NearestInt64AndChannelScale) {
  // Nearest may scale any axis, including channels.
  Tensor x = Int64Tensor({1, 2, 1, 1}, {7, 9});
  Tensor out = RunOne("Resize", ResizeAttrs("nearest", "asymmetric"),
                      {In(x), NoInput(), Const(Floats({1, 2, 1, 2}))}, 13);
  ExpectTensorEqual(out, Int64Tensor({1, 4, 1, 2}, {7, 7, 7, 7, 9, 9, 9, 9}));
}

TEST(ResizeTest, Opset18Axes) {
  Attributes attrs = ResizeAttrs("nearest", "asymmetric");
  attrs.set("axes", std::vector<int64_t>{-1});
  Tensor out = RunOne("Resize", attrs,
                      {In(FloatTensor({1, 1, 1, 2}, {1, 2})), NoInput(), Const(Floats({2}))}, 18);
  ExpectTensorNear(out, FloatTensor({1, 1, 1, 4}, {1, 1, 2, 2}));
}

TEST(ResizeTest, ThreadsDoNotChangeLinearResult) {
  std::mt19937 rng(7);
  const std::vector<TestInput> in = {In(RandomFloatTensor({2, 3, 37, 53}, &rng)), NoInput(),
                                     Const(Floats({1, 1, 1.5f, 2.25f}))};
  const Attributes attrs = ResizeAttrs("linear", "half_pixel");
  auto one = RunKernel("Resize", kRef, attrs, in, 13, 1);
  auto four = RunKernel("Resize", kRef, attrs, in, 13, 4);
  ASSERT_TRUE(one.ok() && four.ok());
  EXPECT_EQ((*one)[0].shape(), (Shape{2, 3, 55, 119}));
  ExpectTensorEqual((*four)[0], (*one)[0]);
}

// The expected values below are the outputs of the ONNX backend tests
// (libonnx-testdata) of the same names.
Tensor Ramp4x4() {
  return FloatTensor({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
}

// test_resize_downsample_scales_linear_align_corners: the resized length in
// the coordinate formula is 4 * 0.6 = 2.4, not the rounded 2.
TEST(ResizeTest, AlignCornersUsesUnroundedLength) {
  Tensor out = RunOne("Resize", ResizeAttrs("linear", "align_corners"),
                      {In(FloatTensor({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8})), NoInput(),
                       Const(Floats({1, 1, 0.6f, 0.6f}))},
                      13);
  ExpectTensorNear(out, FloatTensor({1, 1, 1, 2}, {1.f, 3.1428571f}), 1e-6f, 1e-6f);
}

// test_resize_downsample_scales_cubic and ..._cubic_A_n0p5_exclude_outside.
TEST(ResizeTest, Cubic) {
  Tensor out = RunOne("Resize", ResizeAttrs("cubic", "half_pixel"),
                      {In(Ramp4x4()), NoInput(), Const(Floats({1, 1, 0.8f, 0.8f}))}, 13);
  ExpectTensorNear(
      out,
      FloatTensor({1, 1, 3, 3}, {1.4711914f, 2.78125f, 4.0825195f, 6.7114258f, 8.0214844f,
                                 9.3227539f, 11.916504f, 13.226562f, 14.527832f}),
      1e-5f, 1e-5f);
  Attributes attrs = ResizeAttrs("cubic", "half_pixel");
  attrs.set("cubic_coeff_a", -0.5f);
  attrs.set("exclude_outside", int64_t{1});
  out = RunOne("Resize", attrs, {In(Ramp4x4()), NoInput(), Const(Floats({1, 1, 0.8f, 0.8f}))}, 13);
  ExpectTensorNear(
      out,
      FloatTensor({1, 1, 3, 3}, {1.3681267f, 2.6695013f, 4.0133367f, 6.5736251f, 7.875f, 9.2188349f,
                                 11.948966f, 13.250341f, 14.594176f}),
      1e-5f, 1e-5f);
}

// test_resize_tf_crop_and_resize: samples outside the input take
// extrapolation_value.
TEST(ResizeTest, TfCropAndResize) {
  Attributes attrs = ResizeAttrs("linear", "tf_crop_and_resize");
  attrs.set("extrapolation_value", 10.f);
  Tensor out = RunOne("Resize", attrs,
                      {In(Ramp4x4()), Const(Floats({0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f})),
                       NoInput(), Const(Ints({1, 1, 3, 3}))},
                      13);
  ExpectTensorNear(out, FloatTensor({1, 1, 3, 3}, {7.6f, 10, 10, 12.4f, 10, 10, 10, 10, 10}), 1e-5f,
                   1e-5f);
  // Nearest extrapolates the same way, int64 included.
  attrs = ResizeAttrs("nearest", "tf_crop_and_resize");
  attrs.set("extrapolation_value", -1.f);
  out = RunOne("Resize", attrs,
               {In(Int64Tensor({1, 3}, {4, 5, 6})), Const(Floats({0, 0.5f, 1, 1.5f})), NoInput(),
                Const(Ints({1, 3}))},
               13);
  ExpectTensorEqual(out, Int64Tensor({1, 3}, {5, 6, -1}));
  // An extrapolation value past int64 saturates.
  attrs.set("extrapolation_value", 1e30f);
  out = RunOne("Resize", attrs,
               {In(Int64Tensor({1, 3}, {4, 5, 6})), Const(Floats({0, 0.5f, 1, 1.5f})), NoInput(),
                Const(Ints({1, 3}))},
               13);
  ExpectTensorEqual(out, Int64Tensor({1, 3}, {5, 6, std::numeric_limits<int64_t>::max()}));
}

// half_pixel_symmetric (opset 19) spreads the rounding of the output length
// over both ends: 4 * 0.6 = 2.4 rounds to 2, so the sources shift by
// 2 * (1 - 2 / 2.4) = 1/3.
TEST(ResizeTest, HalfPixelSymmetric) {
  Tensor out =
      RunOne("Resize", ResizeAttrs("linear", "half_pixel_symmetric"),
             {In(FloatTensor({1, 4}, {10, 20, 30, 40})), NoInput(), Const(Floats({1, 0.6f}))}, 19);
  const float shift = 2.f * (1.f - 2.f / 2.4f);
  const float s0 = shift + 0.5f / 0.6f - 0.5f, s1 = shift + 1.5f / 0.6f - 0.5f;
  ExpectTensorNear(out, FloatTensor({1, 2}, {10 + 10 * s0, 10 + 10 * s1}), 1e-4f, 1e-5f);
}

TEST(ResizeTest, RejectsUnsupportedAndInvalid) {
  Tensor x = FloatTensor({1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(SetupCode("Resize", ResizeAttrs("cubic", "half_pixel"),
                      {In(x), NoInput(), Const(Floats({1, 2, 2, 2}))}, 13),
            Status::Code::kUnimplemented);
  EXPECT_EQ(SetupCode("Resize", ResizeAttrs("linear", "half_pixel"),
                      {In(x), NoInput(), Const(Floats({1, 2, 2, 2}))}, 13),
            Status::Code::kUnimplemented);
  // tf_crop_and_resize needs a constant roi of two values per axis.
  EXPECT_EQ(SetupCode("Resize", ResizeAttrs("nearest", "tf_crop_and_resize"),
                      {In(x), NoInput(), Const(Floats({1, 1, 2, 2}))}, 13),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Resize", ResizeAttrs("nearest", "tf_crop_and_resize"),
                      {In(x), Const(Floats({0, 1})), Const(Floats({1, 1, 2, 2}))}, 13),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(
      SetupCode("Resize", ResizeAttrs("nearest", "tf_crop_and_resize"),
                {In(x), In(Floats({0, 0, 0, 0, 1, 1, 1, 1})), Const(Floats({1, 1, 2, 2}))}, 13),
      Status::Code::kUnimplemented);
  EXPECT_EQ(SetupCode("Resize", ResizeAttrs("nearest", "half_pixel"),
                      {In(x), NoInput(), In(Floats({1, 1, 2, 2}))}, 13),
            Status::Code::kUnimplemented);
  EXPECT_EQ(
      SetupCode("Resize", ResizeAttrs("nearest", "half_pixel"),
                {In(x), NoInput(), Const(Floats({1, 1, 2, 2})), Const(Ints({1, 1, 4, 4}))}, 13),
      Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Resize", ResizeAttrs("nearest", "half_pixel"),
                      {In(x), NoInput(), Const(Floats({1, 2}))}, 13),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Resize", ResizeAttrs("nearest", "bogus"),
                      {In(x), NoInput(), Const(Floats({1, 1, 2, 2}))}, 13),
            Status::Code::kInvalidArgument);
}

TEST(UpsampleTest, Opset7NearestScalesAttribute) {
  Attributes attrs =
      MakeAttrs({{"mode", std::string("nearest")}, {"scales", std::vector<float>{1, 1, 2, 2}}});
  Tensor out = RunOne("Upsample", attrs, {In(FloatTensor({1, 1, 2, 2}, {1, 2, 3, 4}))}, 7);
  ExpectTensorNear(out,
                   FloatTensor({1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
}

TEST(UpsampleTest, Opset9LinearScalesInput) {
  // Asymmetric sources 0, 0.5, 1, 1.5 (clamped to 1) on both axes.
  Tensor out =
      RunOne("Upsample", MakeAttrs({{"mode", std::string("linear")}}),
             {In(FloatTensor({1, 1, 2, 2}, {0, 1, 2, 3})), Const(Floats({1, 1, 2, 2}))}, 9);
  ExpectTensorNear(
      out, FloatTensor({1, 1, 4, 4}, {0, 0.5f, 1, 1, 1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 2, 2.5f, 3, 3}));
}

TEST(PadTest, Opset2AttributesConstant) {
  Attributes attrs = MakeAttrs({{"pads", std::vector<int64_t>{1, 0, 0, 1}}, {"value", 1.5f}});
  Tensor out = RunOne("Pad", attrs, {In(FloatTensor({2, 2}, {1, 2, 3, 4}))}, 2);
  ExpectTensorNear(out, FloatTensor({3, 3}, {1.5f, 1.5f, 1.5f, 1, 2, 1.5f, 3, 4, 1.5f}));
}

TEST(PadTest, Opset11ConstantValueInputInt64) {
  Tensor out =
      RunOne("Pad", {}, {In(Ints({1, 2})), Const(Ints({1, 2})), Const(Int64Tensor({}, {-7}))}, 11);
  ExpectTensorEqual(out, Ints({-7, 1, 2, -7, -7}));
}

TEST(PadTest, Opset11DefaultsToZeroNchw) {
  Tensor out =
      RunOne("Pad", {},
             {In(FloatTensor({1, 1, 1, 2}, {5, 6})), Const(Ints({0, 0, 1, 1, 0, 0, 0, 1}))}, 13);
  ExpectTensorNear(out, FloatTensor({1, 1, 2, 4}, {0, 0, 0, 0, 0, 5, 6, 0}));
}

TEST(PadTest, Reflect) {
  Tensor out = RunOne("Pad", MakeAttrs({{"mode", std::string("reflect")}}),
                      {In(FloatTensor({2, 3}, {1, 2, 3, 4, 5, 6})), Const(Ints({0, 2, 0, 1}))}, 13);
  ExpectTensorNear(out, FloatTensor({2, 6}, {3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}));
}

TEST(PadTest, ReflectWiderThanInput) {
  // As numpy.pad([1, 2, 3], (4, 0), "reflect").
  Tensor out = RunOne("Pad", MakeAttrs({{"mode", std::string("reflect")}}),
                      {In(Floats({1, 2, 3})), Const(Ints({4, 0}))}, 13);
  ExpectTensorNear(out, Floats({1, 2, 3, 2, 1, 2, 3}));
}

TEST(PadTest, Edge) {
  Tensor out = RunOne("Pad", MakeAttrs({{"mode", std::string("edge")}}),
                      {In(FloatTensor({2, 3}, {1, 2, 3, 4, 5, 6})), Const(Ints({1, 2, 0, 1}))}, 13);
  ExpectTensorNear(out,
                   FloatTensor({3, 6}, {1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6}));
}

TEST(PadTest, NegativePadsCrop) {
  Tensor x = Floats({1, 2, 3, 4, 5});
  ExpectTensorNear(RunOne("Pad", {}, {In(x), Const(Ints({-1, 2}))}, 13),
                   Floats({2, 3, 4, 5, 0, 0}));
  // Edge padding repeats the border of the cropped input.
  ExpectTensorNear(
      RunOne("Pad", MakeAttrs({{"mode", std::string("edge")}}), {In(x), Const(Ints({2, -2}))}, 13),
      Floats({1, 1, 1, 2, 3}));
}

TEST(PadTest, RejectsBadPads) {
  Tensor x = Floats({1, 2});
  EXPECT_EQ(SetupCode("Pad", {}, {In(x), Const(Ints({1}))}, 13), Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Pad", {}, {In(x), Const(Ints({-2, -1}))}, 13),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Pad", {}, {In(x), In(Ints({1, 1}))}, 13), Status::Code::kUnimplemented);
  EXPECT_EQ(SetupCode("Pad", MakeAttrs({{"mode", std::string("wrap")}}),
                      {In(x), Const(Ints({1, 1}))}, 19),
            Status::Code::kUnimplemented);
}

}  // namespace
}  // namespace serdab::engine::testing
