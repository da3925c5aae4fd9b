// Activations, Add/Sub/Mul/Div, PRelu, Equal, Min/Max/Sum, BatchNormalization
// and Softmax/LogSoftmax/Hardmax: hand-computed cases for both kernel flavours
// (the ops that have an optimised one), and optimised-vs-reference on random
// shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"
#include "tests/engine/kernel_test_util.h"

namespace serdab::engine::testing {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

class ElementwiseFlavorTest : public ::testing::TestWithParam<KernelFlavor> {
 protected:
  // Runs a one-input, one-output op and compares with `expected` values.
  void ExpectUnary(const std::string& op, const Attributes& attrs, const std::vector<float>& in,
                   const std::vector<float>& expected, int opset = 13) {
    const Shape shape = {static_cast<int64_t>(in.size())};
    auto out = RunKernel(op, GetParam(), attrs, {In(FloatTensor(shape, in))}, opset);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectTensorNear((*out)[0], FloatTensor(shape, expected), 1e-6f, 1e-6f);
  }

  Tensor RunOk(const std::string& op, const Attributes& attrs, const std::vector<TestInput>& inputs,
               int opset = 13) {
    auto out = RunKernel(op, GetParam(), attrs, inputs, opset);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? (*out)[0] : Tensor();
  }
};

INSTANTIATE_TEST_SUITE_P(Flavors, ElementwiseFlavorTest,
                         ::testing::Values(KernelFlavor::kReference, KernelFlavor::kOptimized),
                         [](const auto& info) {
                           return info.param == KernelFlavor::kReference ? "Reference"
                                                                         : "Optimized";
                         });

TEST_P(ElementwiseFlavorTest, Relu) {
  ExpectUnary("Relu", {}, {-2.f, -0.5f, 0.f, 1.5f}, {0.f, 0.f, 0.f, 1.5f});
}

TEST_P(ElementwiseFlavorTest, LeakyReluDefaultAndCustomAlpha) {
  ExpectUnary("LeakyRelu", {}, {-2.f, 0.f, 3.f}, {-0.02f, 0.f, 3.f});
  ExpectUnary("LeakyRelu", MakeAttrs({{"alpha", 0.5f}}), {-2.f, 0.f, 3.f}, {-1.f, 0.f, 3.f});
}

TEST_P(ElementwiseFlavorTest, ClipAttributesBeforeOpset11) {
  ExpectUnary("Clip", MakeAttrs({{"min", -1.f}, {"max", 2.f}}), {-3.f, -1.f, 0.5f, 2.f, 7.f},
              {-1.f, -1.f, 0.5f, 2.f, 2.f}, /*opset=*/6);
  ExpectUnary("Clip", MakeAttrs({{"max", 6.f}}), {-30.f, 7.f}, {-30.f, 6.f}, /*opset=*/6);
  ExpectUnary("Clip", {}, {-kInf, 1e30f, kInf}, {-kInf, 1e30f, kInf}, /*opset=*/6);
}

TEST_P(ElementwiseFlavorTest, ClipInputsFromOpset11) {
  const Tensor x = FloatTensor({5}, {-3.f, -1.f, 0.5f, 2.f, 7.f});
  ExpectTensorNear(RunOk("Clip", {}, {In(x), Const(ScalarFloat(0.f)), Const(ScalarFloat(6.f))}),
                   FloatTensor({5}, {0.f, 0.f, 0.5f, 2.f, 6.f}));
  // Only max given: min is omitted.
  ExpectTensorNear(RunOk("Clip", {}, {In(x), NoInput(), Const(ScalarFloat(1.f))}),
                   FloatTensor({5}, {-3.f, -1.f, 0.5f, 1.f, 1.f}));
  // Only min given.
  ExpectTensorNear(RunOk("Clip", {}, {In(x), Const(ScalarFloat(-2.f))}, /*opset=*/11),
                   FloatTensor({5}, {-2.f, -1.f, 0.5f, 2.f, 7.f}));
  // Neither: identity. Attributes are ignored from opset 11 on.
  ExpectTensorNear(RunOk("Clip", MakeAttrs({{"min", 0.f}}), {In(x)}), x);
}

TEST_P(ElementwiseFlavorTest, ClipRejectsRunTimeBounds) {
  const Tensor x = FloatTensor({2}, {1.f, 2.f});
  auto out = RunKernel("Clip", GetParam(), {}, {In(x), In(ScalarFloat(0.f))}, 13);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnimplemented);
  EXPECT_NE(out.status().message().find("min"), std::string::npos) << out.status().message();
  out = RunKernel("Clip", GetParam(), {}, {In(x), Const(FloatTensor({2}, {0.f, 1.f}))}, 13);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
}

TEST_P(ElementwiseFlavorTest, SigmoidTanh) {
  ExpectUnary("Sigmoid", {}, {-2.f, 0.f, 3.f}, {0.1192029f, 0.5f, 0.9525741f});
  ExpectUnary("Tanh", {}, {-2.f, 0.f, 0.5f}, {-0.9640276f, 0.f, 0.4621172f});
}

TEST_P(ElementwiseFlavorTest, HardSigmoidAndHardSwish) {
  // Defaults alpha 0.2, beta 0.5: 0.2 * x + 0.5 clamped to [0, 1].
  ExpectUnary("HardSigmoid", {}, {-5.f, -1.f, 0.f, 2.f, 4.f}, {0.f, 0.3f, 0.5f, 0.9f, 1.f});
  ExpectUnary("HardSigmoid", MakeAttrs({{"alpha", 0.5f}, {"beta", 0.25f}}), {-1.f, 1.f},
              {0.f, 0.75f});
  // x * clamp(x / 6 + 0.5, 0, 1).
  ExpectUnary("HardSwish", {}, {-4.f, -1.f, 0.f, 1.f, 3.f, 5.f},
              {0.f, -1.f / 3.f, 0.f, 2.f / 3.f, 3.f, 5.f}, /*opset=*/14);
}

TEST_P(ElementwiseFlavorTest, ActivationRejectsInt64) {
  auto out = RunKernel("Relu", GetParam(), {}, {In(Int64Tensor({2}, {-1, 2}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnimplemented);
}

TEST_P(ElementwiseFlavorTest, AddSameShapeAndFlops) {
  const std::vector<TestInput> inputs = {In(FloatTensor({2, 2}, {1.f, 2.f, 3.f, 4.f})),
                                         In(FloatTensor({2, 2}, {10.f, 20.f, 30.f, 40.f}))};
  ExpectTensorNear(RunOk("Add", {}, inputs), FloatTensor({2, 2}, {11.f, 22.f, 33.f, 44.f}));
  auto kut = SetupKernel("Add", GetParam(), {}, inputs);
  ASSERT_TRUE(kut.ok());
  EXPECT_EQ(kut->kernel->Flops(), 4);
}

TEST_P(ElementwiseFlavorTest, BroadcastRowAndColumn) {
  // [2,1] - [3] -> [2,3]
  ExpectTensorNear(
      RunOk("Sub", {},
            {In(FloatTensor({2, 1}, {10.f, 20.f})), In(FloatTensor({3}, {1.f, 2.f, 3.f}))}),
      FloatTensor({2, 3}, {9.f, 8.f, 7.f, 19.f, 18.f, 17.f}));
  // [3] / [2,1] -> [2,3]
  ExpectTensorNear(
      RunOk("Div", {},
            {In(FloatTensor({3}, {2.f, 4.f, 8.f})), In(FloatTensor({2, 1}, {2.f, 4.f}))}),
      FloatTensor({2, 3}, {1.f, 2.f, 4.f, 0.5f, 1.f, 2.f}));
  // Scalar * [2,2]
  ExpectTensorNear(
      RunOk("Mul", {}, {In(ScalarFloat(3.f)), In(FloatTensor({2, 2}, {1.f, 2.f, 3.f, 4.f}))}),
      FloatTensor({2, 2}, {3.f, 6.f, 9.f, 12.f}));
  // Both scalars.
  ExpectTensorNear(RunOk("Add", {}, {In(ScalarFloat(3.f)), In(ScalarFloat(4.f))}),
                   ScalarFloat(7.f));
}

TEST_P(ElementwiseFlavorTest, PerChannelMul) {
  // [1,2,1,1] * [2,2,1,3]: the squeeze-excitation scale.
  const Tensor x =
      FloatTensor({2, 2, 1, 3}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f, 10.f, 11.f, 12.f});
  const Tensor s = FloatTensor({1, 2, 1, 1}, {2.f, -1.f});
  const Tensor expected = FloatTensor(
      {2, 2, 1, 3}, {2.f, 4.f, 6.f, -4.f, -5.f, -6.f, 14.f, 16.f, 18.f, -10.f, -11.f, -12.f});
  ExpectTensorNear(RunOk("Mul", {}, {In(x), Const(s)}), expected);
  ExpectTensorNear(RunOk("Mul", {}, {Const(s), In(x)}), expected);
  // [2,1,1] against [2,2,1,3] aligns to the trailing dimensions the same way.
  ExpectTensorNear(RunOk("Mul", {}, {In(x), Const(FloatTensor({2, 1, 1}, {2.f, -1.f}))}), expected);
}

TEST_P(ElementwiseFlavorTest, Int64Arithmetic) {
  const Tensor a = Int64Tensor({4}, {7, -7, 7, -7});
  const Tensor b = Int64Tensor({4}, {2, 2, -2, -2});
  // Division truncates toward zero.
  ExpectTensorNear(RunOk("Div", {}, {In(a), In(b)}), Int64Tensor({4}, {3, -3, -3, 3}));
  ExpectTensorNear(RunOk("Mul", {}, {In(a), In(Int64Tensor({}, {-3}))}),
                   Int64Tensor({4}, {-21, 21, -21, 21}));
  ExpectTensorNear(RunOk("Add", {}, {In(Int64Tensor({1}, {1})), In(a)}),
                   Int64Tensor({4}, {8, -6, 8, -6}));
  ExpectTensorNear(RunOk("Sub", {}, {In(a), In(b)}), Int64Tensor({4}, {5, -9, 9, -5}));
  const int64_t min = std::numeric_limits<int64_t>::min();
  ExpectTensorNear(RunOk("Div", {}, {In(Int64Tensor({1}, {min})), In(Int64Tensor({1}, {-1}))}),
                   Int64Tensor({1}, {min}));
}

TEST_P(ElementwiseFlavorTest, Int64DivisionByZeroIsAnError) {
  auto out = RunKernel("Div", GetParam(), {},
                       {In(Int64Tensor({2}, {1, 2})), In(Int64Tensor({2}, {1, 0}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(out.status().message().find("division by zero"), std::string::npos);
}

TEST_P(ElementwiseFlavorTest, BinaryRejectsBadInputs) {
  auto out = RunKernel("Add", GetParam(), {},
                       {In(FloatTensor({2}, {1.f, 2.f})), In(FloatTensor({3}, {1.f, 2.f, 3.f}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(out.status().message().find("[2]"), std::string::npos) << out.status().message();
  out = RunKernel("Add", GetParam(), {},
                  {In(FloatTensor({2}, {1.f, 2.f})), In(Int64Tensor({2}, {1, 2}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
}

// The flat index of an output element in an input broadcast to out_shape.
int64_t BroadcastSource(const Shape& in, const Shape& out, int64_t flat) {
  int64_t src = 0;
  int64_t in_stride = 1;
  for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
    const int64_t i = flat % out[d];
    flat /= out[d];
    const int in_d = d - static_cast<int>(out.size() - in.size());
    if (in_d < 0) continue;
    if (in[in_d] != 1) src += i * in_stride;
    in_stride *= in[in_d];
  }
  return src;
}

// A random out shape and two input shapes that broadcast to it.
void RandomBroadcastShapes(std::mt19937* rng, Shape* a, Shape* b) {
  std::uniform_int_distribution<int> rank_dist(0, 5);
  std::uniform_int_distribution<int64_t> dim_dist(1, 7);
  std::bernoulli_distribution ones(0.35);
  const int rank = rank_dist(*rng);
  Shape out;
  for (int d = 0; d < rank; ++d) out.push_back(dim_dist(*rng));
  for (Shape* s : {a, b}) {
    const int drop = std::uniform_int_distribution<int>(0, rank)(*rng) / 2;
    s->clear();
    for (int d = drop; d < rank; ++d) s->push_back(ones(*rng) ? 1 : out[d]);
  }
}

template <typename T, typename Op>
Tensor NaiveBroadcast(const Tensor& a, const Tensor& b, const Shape& out_shape, Op op) {
  Tensor out = Tensor::Create(a.dtype(), out_shape).value();
  for (int64_t i = 0; i < out.num_elements(); ++i) {
    out.data<T>()[i] = op(a.data<T>()[BroadcastSource(a.shape(), out_shape, i)],
                          b.data<T>()[BroadcastSource(b.shape(), out_shape, i)]);
  }
  return out;
}

Shape BroadcastOutShape(const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()), 1);
  for (size_t d = 0; d < out.size(); ++d) {
    const int64_t ad = d + a.size() < out.size() ? 1 : a[d + a.size() - out.size()];
    const int64_t bd = d + b.size() < out.size() ? 1 : b[d + b.size() - out.size()];
    out[d] = ad == 1 ? bd : ad;
  }
  return out;
}

// Random broadcasts (plus the large shapes the models use, which split across
// threads): both flavours must equal an independent per-element computation
// bit for bit, with 1 and 3 threads.
TEST(BinaryOpsRandomTest, MatchesNaiveBroadcastBitForBit) {
  std::mt19937 rng(1234);
  std::vector<std::pair<Shape, Shape>> cases = {
      {{1, 16, 56, 56}, {1, 16, 56, 56}},  // residual Add
      {{2, 32, 28, 28}, {1, 32, 1, 1}},    // squeeze-excitation Mul
      {{1, 24, 1, 1}, {1, 24, 48, 48}},   {{64, 1, 33}, {1, 40, 33}}, {{50000}, {}},
  };
  while (cases.size() < 40) {
    Shape a, b;
    RandomBroadcastShapes(&rng, &a, &b);
    cases.push_back({a, b});
  }
  const char* ops[] = {"Add", "Sub", "Mul", "Div"};
  for (const auto& [a_shape, b_shape] : cases) {
    const Shape out_shape = BroadcastOutShape(a_shape, b_shape);
    const Tensor a = RandomFloatTensor(a_shape, &rng, -2.f, 2.f);
    const Tensor b = RandomFloatTensor(b_shape, &rng, 0.5f, 3.f);
    const Tensor expected[] = {
        NaiveBroadcast<float>(a, b, out_shape, [](float x, float y) { return x + y; }),
        NaiveBroadcast<float>(a, b, out_shape, [](float x, float y) { return x - y; }),
        NaiveBroadcast<float>(a, b, out_shape, [](float x, float y) { return x * y; }),
        NaiveBroadcast<float>(a, b, out_shape, [](float x, float y) { return x / y; }),
    };
    for (int op = 0; op < 4; ++op) {
      for (KernelFlavor flavor : {KernelFlavor::kReference, KernelFlavor::kOptimized}) {
        for (int threads : {1, 3}) {
          SCOPED_TRACE(std::string(ops[op]) + " " + ShapeToString(a_shape) + " " +
                       ShapeToString(b_shape) + " threads " + std::to_string(threads) +
                       (flavor == KernelFlavor::kReference ? " reference" : " optimized"));
          auto out = RunKernel(ops[op], flavor, {}, {In(a), In(b)}, 13, threads);
          ASSERT_TRUE(out.ok()) << out.status().ToString();
          ExpectTensorEqual((*out)[0], expected[op]);
        }
      }
    }
  }
}

TEST(BinaryOpsRandomTest, Int64MatchesNaiveBroadcast) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int64_t> value(-1000, 1000);
  for (int c = 0; c < 20; ++c) {
    Shape a_shape, b_shape;
    RandomBroadcastShapes(&rng, &a_shape, &b_shape);
    const Shape out_shape = BroadcastOutShape(a_shape, b_shape);
    Tensor a = Tensor::Create(DataType::kInt64, a_shape).value();
    Tensor b = Tensor::Create(DataType::kInt64, b_shape).value();
    for (int64_t i = 0; i < a.num_elements(); ++i) a.data<int64_t>()[i] = value(rng);
    for (int64_t i = 0; i < b.num_elements(); ++i) {
      const int64_t v = value(rng);
      b.data<int64_t>()[i] = v == 0 ? 7 : v;
    }
    const Tensor sum =
        NaiveBroadcast<int64_t>(a, b, out_shape, [](int64_t x, int64_t y) { return x + y; });
    const Tensor quotient =
        NaiveBroadcast<int64_t>(a, b, out_shape, [](int64_t x, int64_t y) { return x / y; });
    for (KernelFlavor flavor : {KernelFlavor::kReference, KernelFlavor::kOptimized}) {
      SCOPED_TRACE(ShapeToString(a_shape) + " " + ShapeToString(b_shape));
      auto out = RunKernel("Add", flavor, {}, {In(a), In(b)}, 13, 3);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      ExpectTensorEqual((*out)[0], sum);
      out = RunKernel("Div", flavor, {}, {In(a), In(b)}, 13, 3);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      ExpectTensorEqual((*out)[0], quotient);
    }
  }
}

// The optimised activations use the vectorised ApplyActivation, whose exp and
// tanh may differ from std::exp/std::tanh in the last bits.
TEST(ActivationOpsRandomTest, OptimizedMatchesReference) {
  std::mt19937 rng(42);
  std::vector<Shape> shapes = {{1, 32, 112, 112}, {1, 96, 56, 56}, {3, 50001}, {7}, {}};
  std::uniform_int_distribution<int> rank_dist(1, 4);
  std::uniform_int_distribution<int64_t> dim_dist(1, 40);
  while (shapes.size() < 24) {
    Shape s;
    for (int d = rank_dist(rng); d > 0; --d) s.push_back(dim_dist(rng));
    shapes.push_back(s);
  }
  struct Case {
    const char* op;
    Attributes attrs;
    int opset;
  };
  const std::vector<Case> cases = {
      {"Relu", {}, 13},
      {"LeakyRelu", MakeAttrs({{"alpha", 0.1f}}), 13},
      {"Clip", MakeAttrs({{"min", -0.5f}, {"max", 0.75f}}), 6},
      {"Sigmoid", {}, 13},
      {"HardSigmoid", {}, 13},
      {"HardSwish", {}, 14},
      {"Tanh", {}, 13},
  };
  for (const Shape& shape : shapes) {
    const Tensor x = RandomFloatTensor(shape, &rng, -8.f, 8.f);
    for (const Case& c : cases) {
      auto ref = RunKernel(c.op, KernelFlavor::kReference, c.attrs, {In(x)}, c.opset);
      ASSERT_TRUE(ref.ok()) << ref.status().ToString();
      for (int threads : {1, 3}) {
        SCOPED_TRACE(std::string(c.op) + " " + ShapeToString(shape) + " threads " +
                     std::to_string(threads));
        auto opt = RunKernel(c.op, KernelFlavor::kOptimized, c.attrs, {In(x)}, c.opset, threads);
        ASSERT_TRUE(opt.ok()) << opt.status().ToString();
        ExpectTensorNear((*opt)[0], (*ref)[0], 1e-6f, 1e-5f);
      }
    }
  }
}

TEST_P(ElementwiseFlavorTest, AddWithAFusedActivation) {
  Attributes attrs;
  Activation{Activation::Kind::kRelu}.ToAttributes(&attrs);
  const std::vector<TestInput> inputs = {In(FloatTensor({2, 2}, {1.f, -2.f, 3.f, -40.f})),
                                         In(FloatTensor({2, 2}, {10.f, 1.f, -30.f, 4.f}))};
  ExpectTensorNear(RunOk("Add", attrs, inputs), FloatTensor({2, 2}, {11.f, 0.f, 0.f, 0.f}));
}

TEST_P(ElementwiseFlavorTest, AFusedActivationOnlyFollowsAFloatAdd) {
  Attributes attrs;
  Activation{Activation::Kind::kRelu}.ToAttributes(&attrs);
  auto sub = RunKernel("Sub", GetParam(), attrs,
                       {In(FloatTensor({1}, {1.f})), In(FloatTensor({1}, {2.f}))});
  ASSERT_FALSE(sub.ok());
  EXPECT_NE(sub.status().message().find("float32 Add"), std::string::npos)
      << sub.status().ToString();
  auto ints =
      RunKernel("Add", GetParam(), attrs, {In(Int64Tensor({1}, {1})), In(Int64Tensor({1}, {2}))});
  ASSERT_FALSE(ints.ok());
  attrs.set(Activation::kAttrKind, std::string("cube"));
  auto unknown = RunKernel("Add", GetParam(), attrs,
                           {In(FloatTensor({1}, {1.f})), In(FloatTensor({1}, {2.f}))});
  ASSERT_FALSE(unknown.ok());
}

TEST_P(ElementwiseFlavorTest, BatchNormalization) {
  // X [1,2,1,2]; channel 0: scale 2, B 1, mean 1, var 3 (eps 1): (x-1)/2*2+1.
  // channel 1: scale 1, B 0, mean 0, var 0.25 - 1e-5 (default eps): x/0.5.
  const Tensor x = FloatTensor({1, 2, 1, 2}, {3.f, 5.f, -1.f, 0.5f});
  auto out =
      RunKernel("BatchNormalization", GetParam(), MakeAttrs({{"epsilon", 1.f}}),
                {In(x), Const(FloatTensor({2}, {2.f, 1.f})), Const(FloatTensor({2}, {1.f, 0.f})),
                 Const(FloatTensor({2}, {1.f, 0.f})), Const(FloatTensor({2}, {3.f, 0.f}))},
                9);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], FloatTensor({1, 2, 1, 2}, {3.f, 5.f, -1.f, 0.5f}), 1e-6f, 1e-6f);

  out = RunKernel("BatchNormalization", GetParam(), {},
                  {In(x), Const(FloatTensor({2}, {1.f, 1.f})), Const(FloatTensor({2}, {0.f, 0.f})),
                   Const(FloatTensor({2}, {0.f, 0.f})),
                   Const(FloatTensor({2}, {0.25f - 1e-5f, 0.25f - 1e-5f}))},
                  15);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], FloatTensor({1, 2, 1, 2}, {6.f, 10.f, -2.f, 1.f}), 1e-5f, 1e-5f);
}

// The optimised kernel's vector and tail elements, on 1 and 3 threads, give
// the reference's bits, with and without an activation fused after it.
TEST(NormalizationOpsTest, OptimisedBatchNormalizationMatchesTheReferenceBits) {
  std::mt19937 rng(4);
  const Tensor x = RandomFloatTensor({2, 5, 7, 9}, &rng, -3.f, 3.f);
  const std::vector<TestInput> inputs = {
      In(x), Const(RandomFloatTensor({5}, &rng)), Const(RandomFloatTensor({5}, &rng)),
      Const(RandomFloatTensor({5}, &rng)), Const(RandomFloatTensor({5}, &rng, 0.1f, 2.f))};
  for (Activation::Kind kind : {Activation::Kind::kNone, Activation::Kind::kRelu}) {
    Attributes attrs = MakeAttrs({{"epsilon", 1e-3f}});
    Activation{kind}.ToAttributes(&attrs);
    auto ref = RunKernel("BatchNormalization", KernelFlavor::kReference, attrs, inputs, 15);
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    for (int threads : {1, 3}) {
      auto opt =
          RunKernel("BatchNormalization", KernelFlavor::kOptimized, attrs, inputs, 15, threads);
      ASSERT_TRUE(opt.ok()) << opt.status().ToString();
      ExpectTensorEqual((*opt)[0], (*ref)[0]);
    }
  }
}

TEST(NormalizationOpsTest, BatchNormalizationTrainingOutputsAreUnsupported) {
  const Tensor c = FloatTensor({1}, {1.f});
  auto out =
      RunKernel("BatchNormalization", KernelFlavor::kReference, {},
                {In(FloatTensor({1, 1, 1, 1}, {1.f})), Const(c), Const(c), Const(c), Const(c)}, 9,
                1, /*num_outputs=*/3);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnimplemented);
}

// Values from torch.softmax on the same input.
TEST(NormalizationOpsTest, SoftmaxAxisSemanticsByOpset) {
  const Tensor x =
      FloatTensor({2, 2, 3}, {1.f, 2.f, 3.f, 0.f, -1.f, 4.f, 2.f, 2.f, 2.f, 5.f, 0.f, 1.f});
  // Opset 11, axis 1 (the default): softmax over the 6 trailing elements.
  auto out = RunKernel("Softmax", KernelFlavor::kReference, {}, {In(x)}, 11);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0],
                   FloatTensor({2, 2, 3}, {0.0315496f, 0.0857608f, 0.233122f, 0.0116065f,
                                           0.0042698f, 0.6336913f, 0.0423931f, 0.0423931f,
                                           0.0423931f, 0.8514879f, 0.0057373f, 0.0155955f}),
                   1e-6f, 1e-5f);
  // Opset 13, axis 1: along dimension 1 only.
  out = RunKernel("Softmax", KernelFlavor::kReference, MakeAttrs({{"axis", int64_t{1}}}), {In(x)},
                  13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0],
                   FloatTensor({2, 2, 3}, {0.7310586f, 0.9525741f, 0.2689414f, 0.2689414f,
                                           0.0474259f, 0.7310586f, 0.0474259f, 0.880797f,
                                           0.7310586f, 0.9525741f, 0.1192029f, 0.2689414f}),
                   1e-6f, 1e-5f);
  // Opset 13 default axis -1; opset 11 with axis -1 gives the same here.
  const Tensor last =
      FloatTensor({2, 2, 3}, {0.0900306f, 0.2447285f, 0.6652409f, 0.017868f, 0.0065733f, 0.9755587f,
                              1.f / 3.f, 1.f / 3.f, 1.f / 3.f, 0.9755587f, 0.0065733f, 0.017868f});
  out = RunKernel("Softmax", KernelFlavor::kReference, {}, {In(x)}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], last, 1e-6f, 1e-5f);
  out = RunKernel("Softmax", KernelFlavor::kReference, MakeAttrs({{"axis", int64_t{-1}}}), {In(x)},
                  11);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], last, 1e-6f, 1e-5f);
}

TEST(NormalizationOpsTest, SoftmaxIsStableForLargeInputs) {
  auto out = RunKernel("Softmax", KernelFlavor::kReference, {},
                       {In(FloatTensor({1, 3}, {1000.f, 1000.f, -1000.f}))}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], FloatTensor({1, 3}, {0.5f, 0.5f, 0.f}));
}

TEST(NormalizationOpsTest, SoftmaxRejectsBadAxis) {
  auto out = RunKernel("Softmax", KernelFlavor::kReference, MakeAttrs({{"axis", int64_t{3}}}),
                       {In(FloatTensor({1, 3}, {1.f, 2.f, 3.f}))}, 13);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
}

// LogSoftmax is log(Softmax) under the same axis rules; Hardmax marks the
// first maximum along them.
TEST(NormalizationOpsTest, LogSoftmaxAndHardmaxFollowSoftmaxAxes) {
  const Tensor x =
      FloatTensor({2, 2, 3}, {1.f, 2.f, 3.f, 0.f, -1.f, 4.f, 2.f, 2.f, 2.f, 5.f, 0.f, 1.f});
  for (int opset : {11, 13}) {
    for (int64_t axis : {0, 1, -1}) {
      const Attributes attrs = MakeAttrs({{"axis", axis}});
      auto softmax = RunKernel("Softmax", KernelFlavor::kReference, attrs, {In(x)}, opset);
      auto log_softmax = RunKernel("LogSoftmax", KernelFlavor::kReference, attrs, {In(x)}, opset);
      ASSERT_TRUE(softmax.ok() && log_softmax.ok()) << log_softmax.status().ToString();
      Tensor expected = (*softmax)[0];
      for (int64_t i = 0; i < expected.num_elements(); ++i) {
        expected.data<float>()[i] = std::log(expected.data<float>()[i]);
      }
      ExpectTensorNear((*log_softmax)[0], expected, 1e-5f, 1e-5f);
    }
  }
  // Opset 13, axis 1; ties go to the first maximum.
  auto hardmax = RunKernel("Hardmax", KernelFlavor::kReference, MakeAttrs({{"axis", int64_t{1}}}),
                           {In(x)}, 13);
  ASSERT_TRUE(hardmax.ok()) << hardmax.status().ToString();
  ExpectTensorEqual((*hardmax)[0], FloatTensor({2, 2, 3}, {1.f, 1.f, 0.f, 0.f, 0.f, 1.f, 0.f, 1.f,
                                                           1.f, 1.f, 0.f, 0.f}));
  // Opset 11, axis 1: one maximum over the 6 trailing elements.
  hardmax = RunKernel("Hardmax", KernelFlavor::kReference, {}, {In(x)}, 11);
  ASSERT_TRUE(hardmax.ok()) << hardmax.status().ToString();
  ExpectTensorEqual((*hardmax)[0], FloatTensor({2, 2, 3}, {0.f, 0.f, 0.f, 0.f, 0.f, 1.f, 0.f, 0.f,
                                                           0.f, 1.f, 0.f, 0.f}));
}

TEST(NormalizationOpsTest, LogSoftmaxIsStableForLargeInputs) {
  auto out = RunKernel("LogSoftmax", KernelFlavor::kReference, {},
                       {In(FloatTensor({1, 3}, {1000.f, 1000.f, -1000.f}))}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], FloatTensor({1, 3}, {-0.6931472f, -0.6931472f, -2000.6931f}));
}

TEST(BinaryOpsTest, PReluBroadcastsSlopePerChannel) {
  auto out = RunKernel("PRelu", KernelFlavor::kReference, {},
                       {In(FloatTensor({1, 2, 2}, {-1.f, 2.f, -3.f, 4.f})),
                        Const(FloatTensor({2, 1}, {0.5f, 0.25f}))});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({1, 2, 2}, {-0.5f, 2.f, -0.75f, 4.f}));
  // Before opset 7 a 1-D slope is per channel, whatever the rank.
  out = RunKernel("PRelu", KernelFlavor::kReference, {},
                  {In(FloatTensor({1, 2, 1, 2}, {-1.f, 2.f, -3.f, 4.f})),
                   Const(FloatTensor({2}, {0.5f, 0.25f}))},
                  6);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({1, 2, 1, 2}, {-0.5f, 2.f, -0.75f, 4.f}));
  // The slope may not make the output larger than the input.
  auto bad =
      RunKernel("PRelu", KernelFlavor::kReference, {},
                {In(FloatTensor({2}, {-1.f, 2.f})), Const(FloatTensor({2, 2}, {1, 1, 1, 1}))});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
}

TEST(BinaryOpsTest, EqualGivesInt64Booleans) {
  auto f = RunKernel("Equal", KernelFlavor::kReference, {},
                     {In(FloatTensor({2, 2}, {1.f, 2.f, 3.f, std::nanf("")})),
                      In(FloatTensor({2}, {1.f, std::nanf("")}))});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ExpectTensorEqual((*f)[0], Int64Tensor({2, 2}, {1, 0, 0, 0}));
  auto i = RunKernel("Equal", KernelFlavor::kReference, {},
                     {In(Int64Tensor({3}, {4, 5, 6})), In(Int64Tensor({}, {5}))});
  ASSERT_TRUE(i.ok()) << i.status().ToString();
  ExpectTensorEqual((*i)[0], Int64Tensor({3}, {0, 1, 0}));
}

TEST(BinaryOpsTest, VariadicMinMaxSumBroadcast) {
  const float nan = std::nanf("");
  const std::vector<TestInput> in = {In(FloatTensor({2, 1}, {1.f, 5.f})),
                                     In(FloatTensor({3}, {3.f, 2.f, nan})),
                                     Const(FloatTensor({}, {4.f}))};
  auto min = RunKernel("Min", KernelFlavor::kReference, {}, in, 13);
  auto max = RunKernel("Max", KernelFlavor::kReference, {}, in, 13);
  auto sum = RunKernel("Sum", KernelFlavor::kReference, {}, in, 13);
  ASSERT_TRUE(min.ok() && max.ok() && sum.ok()) << min.status().ToString();
  ExpectTensorNear((*min)[0], FloatTensor({2, 3}, {1.f, 1.f, nan, 3.f, 2.f, nan}));
  ExpectTensorNear((*max)[0], FloatTensor({2, 3}, {4.f, 4.f, nan, 5.f, 5.f, nan}));
  ExpectTensorNear((*sum)[0], FloatTensor({2, 3}, {8.f, 7.f, nan, 12.f, 11.f, nan}));
  // One input is a copy; int64 works too.
  auto one = RunKernel("Max", KernelFlavor::kReference, {}, {In(FloatTensor({2}, {1.f, -1.f}))});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ExpectTensorEqual((*one)[0], FloatTensor({2}, {1.f, -1.f}));
  auto ints = RunKernel("Sum", KernelFlavor::kReference, {},
                        {In(Int64Tensor({2}, {1, 2})), In(Int64Tensor({2}, {10, 20}))});
  ASSERT_TRUE(ints.ok()) << ints.status().ToString();
  ExpectTensorEqual((*ints)[0], Int64Tensor({2}, {11, 22}));
}

TEST(BinaryOpsTest, VariadicRejectsMismatches) {
  auto types = RunKernel("Sum", KernelFlavor::kReference, {},
                         {In(FloatTensor({1}, {1.f})), In(Int64Tensor({1}, {1}))});
  ASSERT_FALSE(types.ok());
  EXPECT_EQ(types.status().code(), Status::Code::kInvalidArgument);
  auto shapes =
      RunKernel("Min", KernelFlavor::kReference, {},
                {In(FloatTensor({2}, {1.f, 2.f})), In(FloatTensor({3}, {1.f, 2.f, 3.f}))});
  ASSERT_FALSE(shapes.ok());
  EXPECT_EQ(shapes.status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace serdab::engine::testing
