// Reference kernels of the data-movement and shape ops, against hand-computed
// (or numpy-computed) outputs, for every opset variant the exporters produce.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "tests/engine/kernel_test_util.h"

namespace serdab::engine::testing {
namespace {

constexpr KernelFlavor kRef = KernelFlavor::kReference;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// A 1-D int64 tensor, the form of every shape-like input.
Tensor Ints(const std::vector<int64_t>& values) {
  return Int64Tensor({static_cast<int64_t>(values.size())}, values);
}

// 0, 1, 2, ... as float32 in `shape`.
Tensor Iota(const Shape& shape) {
  std::vector<float> v(NumElements(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return FloatTensor(shape, v);
}

// Runs a one-output kernel and returns its output (an undefined tensor after
// a test failure).
Tensor RunOne(const std::string& op, const Attributes& attrs, const std::vector<TestInput>& in,
              int opset = 13) {
  auto out = RunKernel(op, kRef, attrs, in, opset);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? (*out)[0] : Tensor();
}

Status::Code SetupCode(const std::string& op, const Attributes& attrs,
                       const std::vector<TestInput>& in, int opset = 13, int num_outputs = 1) {
  return SetupKernel(op, kRef, attrs, in, opset, 1, num_outputs).status().code();
}

TEST(ReshapeTest, ZeroCopiesDimensionAndMinusOneIsInferred) {
  Tensor out = RunOne("Reshape", {}, {In(Iota({2, 3, 4})), Const(Ints({0, -1}))});
  ExpectTensorEqual(out, Iota({2, 12}));
}

TEST(ReshapeTest, AllowZeroKeepsLiteralZero) {
  Tensor out = RunOne("Reshape", MakeAttrs({{"allowzero", int64_t{1}}}),
                      {In(FloatTensor({0, 3}, {})), Const(Ints({3, 0}))}, 14);
  EXPECT_EQ(out.shape(), (Shape{3, 0}));
}

TEST(ReshapeTest, Int64Data) {
  Tensor out = RunOne("Reshape", {}, {In(Ints({1, 2, 3, 4})), Const(Ints({2, -1}))});
  ExpectTensorEqual(out, Int64Tensor({2, 2}, {1, 2, 3, 4}));
}

TEST(ReshapeTest, RejectsBadShapes) {
  EXPECT_EQ(SetupCode("Reshape", {}, {In(Iota({2, 3})), Const(Ints({-1, -1}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Reshape", {}, {In(Iota({2, 3})), Const(Ints({4, -1}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Reshape", {}, {In(Iota({2, 3})), Const(Ints({5}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Reshape", {}, {In(Iota({2, 3})), In(Ints({6}))}),
            Status::Code::kUnimplemented);
}

TEST(FlattenTest, DefaultNegativeAndZeroAxis) {
  EXPECT_EQ(RunOne("Flatten", {}, {In(Iota({2, 3, 4}))}).shape(), (Shape{2, 12}));
  ExpectTensorEqual(RunOne("Flatten", MakeAttrs({{"axis", int64_t{-1}}}), {In(Iota({2, 3, 4}))}),
                    Iota({6, 4}));
  EXPECT_EQ(RunOne("Flatten", MakeAttrs({{"axis", int64_t{0}}}), {In(Iota({2, 3}))}).shape(),
            (Shape{1, 6}));
  EXPECT_EQ(RunOne("Flatten", MakeAttrs({{"axis", int64_t{2}}}), {In(Iota({2, 3}))}).shape(),
            (Shape{6, 1}));
  EXPECT_EQ(SetupCode("Flatten", MakeAttrs({{"axis", int64_t{3}}}), {In(Iota({2, 3}))}),
            Status::Code::kInvalidArgument);
}

TEST(TransposeTest, DefaultPermReverses) {
  Tensor out = RunOne("Transpose", {}, {In(Iota({2, 3}))});
  ExpectTensorEqual(out, FloatTensor({3, 2}, {0, 3, 1, 4, 2, 5}));
}

TEST(TransposeTest, NchwToNhwcInt64) {
  // x[0][c][h][w] = 100c + 10h + w.
  Tensor x = Int64Tensor({1, 2, 2, 3}, {0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112});
  Tensor out =
      RunOne("Transpose", MakeAttrs({{"perm", std::vector<int64_t>{0, 2, 3, 1}}}), {In(x)});
  ExpectTensorEqual(out,
                    Int64Tensor({1, 2, 3, 2}, {0, 100, 1, 101, 2, 102, 10, 110, 11, 111, 12, 112}));
}

TEST(TransposeTest, DetectorHeadPermMatchesIndexFormula) {
  // YOLO heads reshape to [1, anchors, outputs, h, w] and move outputs last.
  const Shape in_shape = {1, 3, 5, 2, 4};
  Tensor out = RunOne("Transpose", MakeAttrs({{"perm", std::vector<int64_t>{0, 1, 3, 4, 2}}}),
                      {In(Iota(in_shape))});
  ASSERT_EQ(out.shape(), (Shape{1, 3, 2, 4, 5}));
  const float* p = out.data<float>();
  for (int a = 0; a < 3; ++a) {
    for (int h = 0; h < 2; ++h) {
      for (int w = 0; w < 4; ++w) {
        for (int o = 0; o < 5; ++o) {
          EXPECT_EQ(*p++, static_cast<float>(((a * 5 + o) * 2 + h) * 4 + w));
        }
      }
    }
  }
}

// The kernels merge dimensions that stay contiguous; random shapes with many
// size-1 and mergeable dimensions check that against the index formula.
TEST(TransposeTest, RandomShapesMatchIndexFormula) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 200; ++trial) {
    const int rank = 1 + static_cast<int>(rng() % 5);
    Shape shape(rank);
    for (int64_t& d : shape) d = 1 + static_cast<int64_t>(rng() % 4);
    std::vector<int64_t> perm(rank);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    Tensor out = RunOne("Transpose", MakeAttrs({{"perm", perm}}), {In(Iota(shape))});
    const std::vector<int64_t> in_strides = Strides(shape);
    const std::vector<int64_t> out_strides = Strides(out.shape());
    for (int64_t i = 0; i < out.num_elements(); ++i) {
      int64_t src = 0;
      for (int d = 0; d < rank; ++d)
        src += (i / out_strides[d] % shape[perm[d]]) * in_strides[perm[d]];
      ASSERT_EQ(out.data<float>()[i], static_cast<float>(src)) << "trial " << trial;
    }
  }
}

TEST(TransposeTest, RejectsNonPermutation) {
  EXPECT_EQ(
      SetupCode("Transpose", MakeAttrs({{"perm", std::vector<int64_t>{0, 0}}}), {In(Iota({2, 3}))}),
      Status::Code::kInvalidArgument);
}

TEST(ConcatTest, FloatAlongAxisOne) {
  Tensor a = FloatTensor({2, 1}, {1, 2});
  Tensor b = FloatTensor({2, 2}, {3, 4, 5, 6});
  Tensor out = RunOne("Concat", MakeAttrs({{"axis", int64_t{1}}}), {In(a), In(b)});
  ExpectTensorEqual(out, FloatTensor({2, 3}, {1, 3, 4, 2, 5, 6}));
}

TEST(ConcatTest, Int64ShapePiecesWithNegativeAxis) {
  Tensor out = RunOne("Concat", MakeAttrs({{"axis", int64_t{-1}}}),
                      {Const(Ints({1, 3})), In(Ints({-1})), Const(Ints({85}))});
  ExpectTensorEqual(out, Ints({1, 3, -1, 85}));
}

TEST(ConcatTest, RejectsMismatches) {
  const Attributes axis0 = MakeAttrs({{"axis", int64_t{0}}});
  EXPECT_EQ(SetupCode("Concat", axis0, {In(Iota({2, 3})), In(Iota({2, 4}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Concat", axis0, {In(Iota({2})), In(Ints({1}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Concat", {}, {In(Iota({2}))}), Status::Code::kInvalidArgument);
}

TEST(SliceTest, Opset9Attributes) {
  Attributes attrs = MakeAttrs({{"starts", std::vector<int64_t>{1}},
                                {"ends", std::vector<int64_t>{3}},
                                {"axes", std::vector<int64_t>{1}}});
  Tensor out = RunOne("Slice", attrs, {In(Iota({2, 4}))}, 9);
  ExpectTensorEqual(out, FloatTensor({2, 2}, {1, 2, 5, 6}));
}

TEST(SliceTest, NegativeStartAndHugeEnd) {
  Tensor out = RunOne("Slice", {}, {In(Iota({10})), Const(Ints({-3})), Const(Ints({kMax}))});
  ExpectTensorEqual(out, FloatTensor({3}, {7, 8, 9}));
}

TEST(SliceTest, EndsPastTheDimensionAreClamped) {
  Tensor out =
      RunOne("Slice", {}, {In(Iota({2, 3})), Const(Ints({0, 1})), Const(Ints({100, 100}))});
  ExpectTensorEqual(out, FloatTensor({2, 2}, {1, 2, 4, 5}));
}

TEST(SliceTest, NegativeStepReverses) {
  Tensor out = RunOne(
      "Slice", {},
      {In(Iota({5})), Const(Ints({-1})), Const(Ints({kMin})), Const(Ints({0})), Const(Ints({-1}))});
  ExpectTensorEqual(out, FloatTensor({5}, {4, 3, 2, 1, 0}));
}

TEST(SliceTest, NegativeStepOnInnerAxisWithStride) {
  // x = [[0..5], [6..11]]; columns 5, 3 (end 0 is exclusive) of each row.
  Tensor out = RunOne(
      "Slice", {},
      {In(Iota({2, 6})), Const(Ints({5})), Const(Ints({0})), Const(Ints({-1})), Const(Ints({-2}))});
  ExpectTensorEqual(out, FloatTensor({2, 3}, {5, 3, 1, 11, 9, 7}));
}

TEST(SliceTest, StepsOnTwoAxes) {
  // YOLOv5's Focus layer: x[..., ::2, 1::2].
  Tensor out = RunOne("Slice", {},
                      {In(Iota({1, 1, 4, 4})), Const(Ints({0, 1})), Const(Ints({kMax, kMax})),
                       Const(Ints({2, 3})), Const(Ints({2, 2}))});
  ExpectTensorEqual(out, FloatTensor({1, 1, 2, 2}, {1, 3, 9, 11}));
}

TEST(SliceTest, Int64ShapeVector) {
  Tensor out =
      RunOne("Slice", {},
             {In(Ints({1, 3, 224, 320})), Const(Ints({2})), Const(Ints({4})), Const(Ints({0}))});
  ExpectTensorEqual(out, Ints({224, 320}));
}

TEST(SliceTest, EmptyRange) {
  Tensor out = RunOne("Slice", {}, {In(Iota({5})), Const(Ints({3})), Const(Ints({1}))});
  EXPECT_EQ(out.shape(), (Shape{0}));
}

TEST(SliceTest, RandomInRangeSlicesMatchEnumeration) {
  std::mt19937 rng(2);
  for (int trial = 0; trial < 200; ++trial) {
    const int rank = 1 + static_cast<int>(rng() % 4);
    Shape shape(rank);
    for (int64_t& d : shape) d = 1 + static_cast<int64_t>(rng() % 5);
    std::vector<int64_t> starts, ends, axes, steps;
    std::vector<std::vector<int64_t>> picked(rank);
    for (int d = 0; d < rank; ++d) {
      for (int64_t i = 0; i < shape[d]; ++i) picked[d].push_back(i);
      if (rng() % 3 == 0) continue;
      const int64_t step = static_cast<int64_t>(rng() % 3) + 1;
      const bool backward = rng() % 2 == 0;
      const int64_t a = static_cast<int64_t>(rng() % shape[d]);
      const int64_t b = static_cast<int64_t>(rng() % (shape[d] + 1)) - (backward ? 1 : 0);
      axes.push_back(d);
      starts.push_back(a);
      // -1 would count from the end; "through index 0" is spelled INT64_MIN.
      ends.push_back(b < 0 ? kMin : b);
      steps.push_back(backward ? -step : step);
      picked[d].clear();
      for (int64_t i = a; backward ? i > b : i < b; i += steps.back()) picked[d].push_back(i);
    }
    if (axes.empty()) continue;
    Tensor out = RunOne("Slice", {},
                        {In(Iota(shape)), Const(Ints(starts)), Const(Ints(ends)), Const(Ints(axes)),
                         Const(Ints(steps))});
    Shape expected_shape(rank);
    for (int d = 0; d < rank; ++d) expected_shape[d] = static_cast<int64_t>(picked[d].size());
    ASSERT_EQ(out.shape(), expected_shape) << "trial " << trial;
    const std::vector<int64_t> in_strides = Strides(shape);
    const std::vector<int64_t> out_strides = Strides(expected_shape);
    for (int64_t i = 0; i < out.num_elements(); ++i) {
      int64_t src = 0;
      for (int d = 0; d < rank; ++d) {
        src += picked[d][i / out_strides[d] % expected_shape[d]] * in_strides[d];
      }
      ASSERT_EQ(out.data<float>()[i], static_cast<float>(src)) << "trial " << trial;
    }
  }
}

TEST(SliceTest, RejectsBadInputs) {
  EXPECT_EQ(SetupCode("Slice", {},
                      {In(Iota({5})), Const(Ints({0})), Const(Ints({5})), Const(Ints({0})),
                       Const(Ints({0}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Slice", {}, {In(Iota({5})), In(Ints({0})), Const(Ints({5}))}),
            Status::Code::kUnimplemented);
  EXPECT_EQ(
      SetupCode("Slice", {}, {In(Iota({5})), Const(Ints({0})), Const(Ints({5})), Const(Ints({1}))}),
      Status::Code::kInvalidArgument);
}

TEST(SplitTest, Opset11SplitAttribute) {
  auto out = RunKernel("Split", kRef,
                       MakeAttrs({{"axis", int64_t{1}}, {"split", std::vector<int64_t>{1, 2}}}),
                       {In(Iota({2, 3}))}, 11, 1, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({2, 1}, {0, 3}));
  ExpectTensorEqual((*out)[1], FloatTensor({2, 2}, {1, 2, 4, 5}));
}

TEST(SplitTest, Opset13SplitInput) {
  auto out = RunKernel("Split", kRef, {}, {In(Iota({3, 2})), Const(Ints({2, 1}))}, 13, 1, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({2, 2}, {0, 1, 2, 3}));
  ExpectTensorEqual((*out)[1], FloatTensor({1, 2}, {4, 5}));
}

TEST(SplitTest, EqualPartsOnNegativeAxisInt64) {
  auto out = RunKernel("Split", kRef, MakeAttrs({{"axis", int64_t{-1}}}),
                       {In(Int64Tensor({1, 6}, {10, 11, 12, 13, 14, 15}))}, 13, 1, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], Int64Tensor({1, 2}, {10, 11}));
  ExpectTensorEqual((*out)[1], Int64Tensor({1, 2}, {12, 13}));
  ExpectTensorEqual((*out)[2], Int64Tensor({1, 2}, {14, 15}));
}

TEST(SplitTest, Opset18NumOutputsLastPartSmaller) {
  auto out =
      RunKernel("Split", kRef, MakeAttrs({{"num_outputs", int64_t{3}}}), {In(Iota({7}))}, 18, 1, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({3}, {0, 1, 2}));
  ExpectTensorEqual((*out)[1], FloatTensor({3}, {3, 4, 5}));
  ExpectTensorEqual((*out)[2], FloatTensor({1}, {6}));
}

TEST(SplitTest, RejectsUnevenOrWrongSizes) {
  EXPECT_EQ(SetupCode("Split", {}, {In(Iota({5}))}, 13, 2), Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Split", {}, {In(Iota({5})), Const(Ints({2, 2}))}, 13, 2),
            Status::Code::kInvalidArgument);
}

TEST(SqueezeTest, Opset11AxesAttributeNegative) {
  Tensor out = RunOne("Squeeze", MakeAttrs({{"axes", std::vector<int64_t>{-1}}}),
                      {In(Iota({2, 1, 3, 1}))}, 11);
  ExpectTensorEqual(out, Iota({2, 1, 3}));
}

TEST(SqueezeTest, Opset13AxesInput) {
  Tensor out = RunOne("Squeeze", {}, {In(Iota({1, 3, 1})), Const(Ints({0}))});
  EXPECT_EQ(out.shape(), (Shape{3, 1}));
}

TEST(SqueezeTest, NoAxesDropsAllOnes) {
  EXPECT_EQ(RunOne("Squeeze", {}, {In(Iota({1, 3, 1, 2}))}).shape(), (Shape{3, 2}));
}

TEST(SqueezeTest, RejectsDimensionNotOne) {
  EXPECT_EQ(SetupCode("Squeeze", {}, {In(Iota({2, 3})), Const(Ints({1}))}),
            Status::Code::kInvalidArgument);
}

TEST(UnsqueezeTest, Opset11AxesAttribute) {
  Tensor out =
      RunOne("Unsqueeze", MakeAttrs({{"axes", std::vector<int64_t>{0}}}), {In(Iota({2, 3}))}, 11);
  ExpectTensorEqual(out, Iota({1, 2, 3}));
}

TEST(UnsqueezeTest, Opset13Int64ScalarToVector) {
  Tensor out = RunOne("Unsqueeze", {}, {In(Int64Tensor({}, {7})), Const(Ints({0}))});
  ExpectTensorEqual(out, Ints({7}));
}

TEST(UnsqueezeTest, NegativeAxesCountInOutputRank) {
  Tensor out = RunOne("Unsqueeze", {}, {In(Iota({2, 3})), Const(Ints({1, -1}))});
  EXPECT_EQ(out.shape(), (Shape{2, 1, 3, 1}));
  EXPECT_EQ(SetupCode("Unsqueeze", {}, {In(Iota({2})), Const(Ints({0, -3}))}),
            Status::Code::kInvalidArgument);
}

TEST(IdentityTest, CopiesInt64) {
  ExpectTensorEqual(RunOne("Identity", {}, {In(Ints({4, 5}))}), Ints({4, 5}));
}

TEST(DropoutTest, InferenceIsIdentity) {
  ExpectTensorEqual(RunOne("Dropout", MakeAttrs({{"ratio", 0.5f}}), {In(Iota({2, 2}))}, 7),
                    Iota({2, 2}));
  ExpectTensorEqual(
      RunOne("Dropout", {}, {In(Iota({3})), Const(ScalarFloat(0.1f)), Const(Int64Tensor({}, {0}))},
             12),
      Iota({3}));
}

TEST(DropoutTest, MaskAndTrainingModeAreUnsupported) {
  EXPECT_EQ(SetupCode("Dropout", {}, {In(Iota({3}))}, 13, 2), Status::Code::kUnimplemented);
  EXPECT_EQ(SetupCode("Dropout", {}, {In(Iota({3})), NoInput(), Const(Int64Tensor({}, {1}))}, 13),
            Status::Code::kUnimplemented);
}

TEST(ShapeTest, WholeShape) {
  ExpectTensorEqual(RunOne("Shape", {}, {In(Iota({2, 3, 4}))}), Ints({2, 3, 4}));
}

TEST(ShapeTest, Opset15StartAndEnd) {
  ExpectTensorEqual(RunOne("Shape", MakeAttrs({{"start", int64_t{1}}}), {In(Iota({2, 3, 4}))}, 15),
                    Ints({3, 4}));
  ExpectTensorEqual(RunOne("Shape", MakeAttrs({{"end", int64_t{-1}}}), {In(Iota({2, 3, 4}))}, 15),
                    Ints({2, 3}));
  EXPECT_EQ(RunOne("Shape", MakeAttrs({{"start", int64_t{5}}}), {In(Iota({2}))}, 15).shape(),
            (Shape{0}));
}

TEST(GatherTest, ScalarIndexReducesRank) {
  Tensor out = RunOne("Gather", {}, {In(Ints({1, 3, 224, 224})), Const(Int64Tensor({}, {1}))});
  ExpectTensorEqual(out, Int64Tensor({}, {3}));
}

TEST(GatherTest, FloatAxisOneWithNegativeIndices) {
  // data = [[0, 1, 2], [3, 4, 5]], indices = [[2, -3], [-1, 1]].
  Tensor out = RunOne("Gather", MakeAttrs({{"axis", int64_t{1}}}),
                      {In(Iota({2, 3})), In(Int64Tensor({2, 2}, {2, -3, -1, 1}))});
  ExpectTensorEqual(out, FloatTensor({2, 2, 2}, {2, 0, 2, 1, 5, 3, 5, 4}));
}

TEST(GatherTest, NegativeAxisSelectsRows) {
  Tensor out =
      RunOne("Gather", MakeAttrs({{"axis", int64_t{-2}}}), {In(Iota({3, 2})), Const(Ints({2, 0}))});
  ExpectTensorEqual(out, FloatTensor({2, 2}, {4, 5, 0, 1}));
}

TEST(GatherTest, OutOfRangeIndices) {
  EXPECT_EQ(SetupCode("Gather", {}, {In(Iota({3})), Const(Ints({3}))}), Status::Code::kOutOfRange);
  auto out = RunKernel("Gather", kRef, {}, {In(Iota({3})), In(Ints({-4}))});
  EXPECT_EQ(out.status().code(), Status::Code::kOutOfRange);
}

TEST(ConstantTest, TensorValue) {
  Tensor value = Int64Tensor({2}, {5, -6});
  ExpectTensorEqual(RunOne("Constant", MakeAttrs({{"value", value}}), {}), value);
}

TEST(ConstantTest, ScalarAndListValues) {
  ExpectTensorEqual(RunOne("Constant", MakeAttrs({{"value_float", 2.5f}}), {}), ScalarFloat(2.5f));
  ExpectTensorEqual(
      RunOne("Constant", MakeAttrs({{"value_floats", std::vector<float>{1.f, -2.f}}}), {}),
      FloatTensor({2}, {1.f, -2.f}));
  ExpectTensorEqual(RunOne("Constant", MakeAttrs({{"value_int", int64_t{-3}}}), {}),
                    Int64Tensor({}, {-3}));
  ExpectTensorEqual(
      RunOne("Constant", MakeAttrs({{"value_ints", std::vector<int64_t>{1, 2, 3}}}), {}),
      Ints({1, 2, 3}));
  EXPECT_EQ(SetupCode("Constant", {}, {}), Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Constant", MakeAttrs({{"value_string", std::string("x")}}), {}),
            Status::Code::kUnimplemented);
}

Attributes CastTo(int64_t to) { return MakeAttrs({{"to", to}}); }

TEST(CastTest, FloatToInt64TruncatesTowardZero) {
  Tensor x = FloatTensor({5}, {1.7f, -1.7f, 0.5f, -0.5f, 3.f});
  ExpectTensorEqual(RunOne("Cast", CastTo(7), {In(x)}), Ints({1, -1, 0, 0, 3}));
}

TEST(CastTest, Int64ToFloatAndDouble) {
  Tensor x = Ints({-2, 0, 224});
  const Tensor expected = FloatTensor({3}, {-2.f, 0.f, 224.f});
  ExpectTensorEqual(RunOne("Cast", CastTo(1), {In(x)}), expected);
  ExpectTensorEqual(RunOne("Cast", CastTo(11), {In(x)}), expected);
}

TEST(CastTest, FloatToFloatTypes) {
  Tensor x = FloatTensor({2}, {0.25f, -3.5f});
  ExpectTensorEqual(RunOne("Cast", CastTo(1), {In(x)}), x);
  ExpectTensorEqual(RunOne("Cast", CastTo(10), {In(x)}), x);
}

TEST(CastTest, ToBoolIsZeroOrOne) {
  ExpectTensorEqual(RunOne("Cast", CastTo(9), {In(FloatTensor({3}, {0.f, 0.5f, -2.f}))}),
                    Ints({0, 1, 1}));
  ExpectTensorEqual(RunOne("Cast", CastTo(9), {In(Ints({0, 7, -1}))}), Ints({0, 1, 1}));
}

TEST(CastTest, NarrowIntegersWrap) {
  Tensor x = Ints({300, -1, (int64_t{1} << 32) + 5});
  ExpectTensorEqual(RunOne("Cast", CastTo(2), {In(x)}), Ints({44, 255, 5}));
  ExpectTensorEqual(RunOne("Cast", CastTo(3), {In(x)}), Ints({44, -1, 5}));
  ExpectTensorEqual(RunOne("Cast", CastTo(6), {In(x)}), Ints({300, -1, 5}));
  ExpectTensorEqual(RunOne("Cast", CastTo(7), {In(x)}), x);
  ExpectTensorEqual(RunOne("Cast", CastTo(12), {In(Ints({-1}))}), Ints({4294967295}));
  ExpectTensorEqual(RunOne("Cast", CastTo(5), {In(FloatTensor({1}, {-32769.9f}))}), Ints({32767}));
}

TEST(CastTest, RejectsUnknownTarget) {
  EXPECT_EQ(SetupCode("Cast", CastTo(8), {In(Iota({2}))}), Status::Code::kUnimplemented);
  EXPECT_EQ(SetupCode("Cast", {}, {In(Iota({2}))}), Status::Code::kInvalidArgument);
}

TEST(ConstantOfShapeTest, DefaultIsFloatZero) {
  ExpectTensorEqual(RunOne("ConstantOfShape", {}, {Const(Ints({2, 3}))}),
                    FloatTensor({2, 3}, {0, 0, 0, 0, 0, 0}));
}

TEST(ConstantOfShapeTest, Int64ValueAndScalarShape) {
  const Attributes attrs = MakeAttrs({{"value", Int64Tensor({1}, {5})}});
  ExpectTensorEqual(RunOne("ConstantOfShape", attrs, {Const(Ints({3}))}), Ints({5, 5, 5}));
  ExpectTensorEqual(RunOne("ConstantOfShape", attrs, {Const(Ints({}))}), Int64Tensor({}, {5}));
  EXPECT_EQ(SetupCode("ConstantOfShape", attrs, {In(Ints({3}))}), Status::Code::kUnimplemented);
}

TEST(ExpandTest, BroadcastsToLargerRank) {
  Tensor out = RunOne("Expand", {}, {In(FloatTensor({3, 1}, {1, 2, 3})), Const(Ints({2, 1, 4}))});
  ExpectTensorEqual(out, FloatTensor({2, 3, 4}, {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                                 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}));
}

TEST(ExpandTest, Int64AndSmallerTargetShape) {
  ExpectTensorEqual(RunOne("Expand", {}, {In(Ints({9})), Const(Ints({3}))}), Ints({9, 9, 9}));
  // The target may have lower rank than the input; its 1s keep input dims.
  Tensor out = RunOne("Expand", {}, {In(Iota({2, 1, 2})), Const(Ints({3, 1}))});
  ExpectTensorEqual(out, FloatTensor({2, 3, 2}, {0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3}));
  EXPECT_EQ(SetupCode("Expand", {}, {In(Iota({2, 3})), Const(Ints({4, 3}))}),
            Status::Code::kInvalidArgument);
}

TEST(TileTest, RepeatsEachDimension) {
  Tensor out = RunOne("Tile", {}, {In(FloatTensor({2, 2}, {1, 2, 3, 4})), Const(Ints({2, 3}))});
  ExpectTensorEqual(out, FloatTensor({4, 6}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4,
                                              1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  ExpectTensorEqual(RunOne("Tile", {}, {In(Ints({7, 8})), Const(Ints({2}))}), Ints({7, 8, 7, 8}));
  EXPECT_EQ(RunOne("Tile", {}, {In(Iota({2, 3})), Const(Ints({0, 1}))}).shape(), (Shape{0, 3}));
}

TEST(TileTest, RejectsBadRepeats) {
  EXPECT_EQ(SetupCode("Tile", {}, {In(Iota({2, 3})), Const(Ints({2}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Tile", {}, {In(Iota({2, 3})), Const(Ints({1, -1}))}),
            Status::Code::kInvalidArgument);
  // Within the per-dimension bound, but the output is far over the limits.
  EXPECT_EQ(SetupCode("Tile", {}, {In(Iota({2, 3})), Const(Ints({int64_t{1} << 31, 1 << 30}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Tile", {}, {In(Iota({2, 3})), Const(Ints({kMax, 1}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("Tile", {}, {In(Iota({2, 3})), In(Ints({1, 1}))}),
            Status::Code::kUnimplemented);
}

// Expected values from numpy's reshape/transpose definition in the ONNX spec.
TEST(DepthToSpaceTest, DcrAndCrdModes) {
  const Attributes dcr = MakeAttrs({{"blocksize", int64_t{2}}});
  ExpectTensorEqual(
      RunOne("DepthToSpace", dcr, {In(Iota({1, 8, 1, 2}))}),
      FloatTensor({1, 2, 2, 4}, {0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15}));
  const Attributes crd = MakeAttrs({{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}});
  ExpectTensorEqual(
      RunOne("DepthToSpace", crd, {In(Iota({1, 8, 1, 2}))}),
      FloatTensor({1, 2, 2, 4}, {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15}));
}

TEST(DepthToSpaceTest, RejectsBadBlocks) {
  for (int64_t b : {int64_t{0}, int64_t{3}, kMax}) {
    EXPECT_EQ(SetupCode("DepthToSpace", MakeAttrs({{"blocksize", b}}), {In(Iota({1, 8, 1, 2}))}),
              Status::Code::kInvalidArgument)
        << b;
  }
  EXPECT_EQ(SetupCode("DepthToSpace", {}, {In(Iota({1, 8, 1, 2}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(
      SetupCode("DepthToSpace", MakeAttrs({{"blocksize", int64_t{2}}}), {In(Iota({8, 1, 2}))}),
      Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("DepthToSpace",
                      MakeAttrs({{"blocksize", int64_t{2}}, {"mode", std::string("RCD")}}),
                      {In(Iota({1, 8, 1, 2}))}),
            Status::Code::kInvalidArgument);
}

TEST(GatherElementsTest, AlongEachAxisWithNegativeIndices) {
  const Tensor data = FloatTensor({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor out = RunOne("GatherElements", MakeAttrs({{"axis", int64_t{0}}}),
                      {In(data), In(Int64Tensor({2, 3}, {1, 2, 0, 2, 0, -3}))});
  ExpectTensorEqual(out, FloatTensor({2, 3}, {4, 8, 3, 7, 2, 3}));
  out = RunOne("GatherElements", MakeAttrs({{"axis", int64_t{1}}}),
               {In(data), In(Int64Tensor({3, 2}, {0, 0, 1, 0, -1, 2}))});
  ExpectTensorEqual(out, FloatTensor({3, 2}, {1, 1, 5, 4, 9, 9}));
}

TEST(GatherElementsTest, RejectsBadIndices) {
  const Tensor data = FloatTensor({2, 2}, {1, 2, 3, 4});
  auto out = RunKernel("GatherElements", kRef, {}, {In(data), In(Int64Tensor({1, 2}, {0, 2}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kOutOfRange);
  out = RunKernel("GatherElements", kRef, {}, {In(data), In(Int64Tensor({1, 2}, {-3, 0}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kOutOfRange);
  // Indices larger than the data off the axis, or of another rank.
  EXPECT_EQ(SetupCode("GatherElements", {}, {In(data), In(Int64Tensor({1, 3}, {0, 0, 0}))}),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SetupCode("GatherElements", {}, {In(data), In(Ints({0}))}),
            Status::Code::kInvalidArgument);
}

TEST(TopKTest, LargestSmallestAndTies) {
  const Tensor x = FloatTensor({2, 4}, {1, 3, 3, 2, 0, -1, 5, 5});
  auto out = RunKernel("TopK", kRef, {}, {In(x), Const(Ints({3}))}, 13, 1, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({2, 3}, {3, 3, 2, 5, 5, 0}));
  ExpectTensorEqual((*out)[1], Int64Tensor({2, 3}, {1, 2, 3, 2, 3, 0}));
  out = RunKernel("TopK", kRef, MakeAttrs({{"largest", int64_t{0}}, {"axis", int64_t{0}}}),
                  {In(x), Const(Ints({1}))}, 13, 1, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({1, 4}, {0, -1, 3, 2}));
  ExpectTensorEqual((*out)[1], Int64Tensor({1, 4}, {1, 1, 0, 0}));
  // Opset 1's k attribute; unsorted keeps index order.
  out = RunKernel("TopK", kRef, MakeAttrs({{"k", int64_t{2}}}), {In(Iota({4}))}, 9, 1, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({2}, {3, 2}));
  out = RunKernel("TopK", kRef, MakeAttrs({{"sorted", int64_t{0}}}),
                  {In(FloatTensor({4}, {1, 4, 2, 3})), Const(Ints({2}))}, 13, 1, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({2}, {4, 3}));
  ExpectTensorEqual((*out)[1], Ints({1, 3}));
}

TEST(TopKTest, RejectsBadK) {
  for (int64_t k : {int64_t{-1}, int64_t{5}}) {
    EXPECT_EQ(SetupCode("TopK", {}, {In(Iota({4})), Const(Ints({k}))}, 13, 2),
              Status::Code::kInvalidArgument);
  }
  EXPECT_EQ(SetupCode("TopK", {}, {In(Iota({4})), In(Ints({1}))}, 13, 2),
            Status::Code::kUnimplemented);
  EXPECT_EQ(SetupCode("TopK", {}, {In(Iota({4})), Const(Ints({1}))}, 13, 1),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace serdab::engine::testing
