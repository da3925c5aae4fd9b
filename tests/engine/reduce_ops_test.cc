// ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceSumSquare, ReduceLogSum and ReduceLogSumExp: each against a naive
// computation over random shapes and axes, and the axes, keepdims and
// noop_with_empty_axes rules of each opset.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
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

struct Reduction {
  const char* op;
  double init;
  std::function<double(double, double)> fold;  // (accumulator, element)
  std::function<double(double)> finish;
};

const std::vector<Reduction>& Reductions() {
  static const auto* all = new std::vector<Reduction>{
      {"ReduceSum", 0.0, [](double a, double x) { return a + x; }, [](double a) { return a; }},
      {"ReduceMax", -INFINITY, [](double a, double x) { return std::max(a, x); },
       [](double a) { return a; }},
      {"ReduceMin", INFINITY, [](double a, double x) { return std::min(a, x); },
       [](double a) { return a; }},
      {"ReduceProd", 1.0, [](double a, double x) { return a * x; }, [](double a) { return a; }},
      {"ReduceL1", 0.0, [](double a, double x) { return a + std::fabs(x); },
       [](double a) { return a; }},
      {"ReduceL2", 0.0, [](double a, double x) { return a + x * x; },
       [](double a) { return std::sqrt(a); }},
      {"ReduceSumSquare", 0.0, [](double a, double x) { return a + x * x; },
       [](double a) { return a; }},
      {"ReduceLogSum", 0.0, [](double a, double x) { return a + x; },
       [](double a) { return std::log(a); }},
      {"ReduceLogSumExp", 0.0, [](double a, double x) { return a + std::exp(x); },
       [](double a) { return std::log(a); }},
  };
  return *all;
}

// The reduction of x over the dimensions flagged in `reduce`, keepdims=1.
Tensor Naive(const Reduction& r, const Tensor& x, const std::vector<bool>& reduce) {
  Shape out_shape = x.shape();
  for (size_t d = 0; d < reduce.size(); ++d) {
    if (reduce[d]) out_shape[d] = 1;
  }
  std::vector<double> acc(NumElements(out_shape), r.init);
  const std::vector<int64_t> out_strides = Strides(out_shape);
  const std::vector<int64_t> in_strides = Strides(x.shape());
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    int64_t o = 0;
    for (size_t d = 0; d < reduce.size(); ++d) {
      const int64_t index = i / in_strides[d] % x.shape()[d];
      if (!reduce[d]) o += index * out_strides[d];
    }
    acc[o] = r.fold(acc[o], x.data<float>()[i]);
  }
  std::vector<float> values;
  for (double a : acc) values.push_back(static_cast<float>(r.finish(a)));
  return FloatTensor(out_shape, values);
}

TEST(ReduceOpsTest, MatchNaiveOnRandomShapesAndAxes) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 30; ++trial) {
    const int rank = 1 + trial % 4;
    Shape shape;
    for (int d = 0; d < rank; ++d) shape.push_back(1 + static_cast<int64_t>(rng() % 4));
    // Positive values keep ReduceLogSum defined.
    const Tensor x = RandomFloatTensor(shape, &rng, 0.5f, 1.5f);
    std::vector<bool> reduce(rank);
    std::vector<int64_t> axes;
    for (int d = 0; d < rank; ++d) {
      reduce[d] = rng() % 2 == 0;
      if (reduce[d]) axes.push_back(rng() % 2 ? d : d - rank);
    }
    if (axes.empty()) reduce.assign(rank, true);  // no axes: reduce everything
    for (const Reduction& r : Reductions()) {
      const Tensor expected = Naive(r, x, reduce);
      // Opset 13: ReduceSum's axes are an input, the others' an attribute.
      const bool input = std::string(r.op) == "ReduceSum";
      auto out = input ? RunKernel(r.op, kRef, {}, {In(x), Const(Ints(axes))}, 13)
                       : RunKernel(r.op, kRef, MakeAttrs({{"axes", axes}}), {In(x)}, 13);
      ASSERT_TRUE(out.ok()) << r.op << ": " << out.status().ToString();
      ExpectTensorNear((*out)[0], expected, 1e-6f, 1e-5f);
    }
  }
}

TEST(ReduceOpsTest, KeepdimsZeroDropsReducedDimensions) {
  const Tensor x = FloatTensor({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = RunKernel("ReduceMax", kRef,
                       MakeAttrs({{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}),
                       {In(x)}, 11);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({2}, {3, 6}));
  out = RunKernel("ReduceSum", kRef, MakeAttrs({{"keepdims", int64_t{0}}}), {In(x)}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({}, {21}));
}

TEST(ReduceOpsTest, NoopWithEmptyAxes) {
  const Tensor x = FloatTensor({2, 2}, {1, -2, 3, -4});
  const Attributes noop = MakeAttrs({{"noop_with_empty_axes", int64_t{1}}});
  auto out = RunKernel("ReduceSum", kRef, noop, {In(x)}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], x);
  out = RunKernel("ReduceSum", kRef, noop, {In(x), Const(Ints({}))}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], x);
  // L1 of an identity reduction is |x| (from opset 18, where it has the
  // attribute).
  out = RunKernel("ReduceL1", kRef, noop, {In(x)}, 18);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({2, 2}, {1, 2, 3, 4}));
}

TEST(ReduceOpsTest, LogSumExpIsStableAndMaxPropagatesNaN) {
  auto out = RunKernel("ReduceLogSumExp", kRef, {}, {In(FloatTensor({2}, {1000.f, 1000.f}))}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], FloatTensor({1}, {1000.6931f}), 1e-6f, 1e-6f);
  out = RunKernel("ReduceMax", kRef, {}, {In(FloatTensor({3}, {1.f, std::nanf(""), 2.f}))}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(std::isnan((*out)[0].data<float>()[0]));
}

TEST(ReduceOpsTest, RejectsBadAxes) {
  const Tensor x = FloatTensor({2, 2}, {1, 2, 3, 4});
  for (const std::vector<int64_t>& axes :
       {std::vector<int64_t>{2}, std::vector<int64_t>{-3}, std::vector<int64_t>{1, -1}}) {
    auto out = SetupKernel("ReduceProd", kRef, MakeAttrs({{"axes", axes}}), {In(x)}, 13);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
  }
  // Axes computed at run time decide the output shape: refused.
  auto out = SetupKernel("ReduceSum", kRef, {}, {In(x), In(Ints({0}))}, 13);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnimplemented);
  // Before opset 13 ReduceSum has no axes input.
  out = SetupKernel("ReduceSum", kRef, {}, {In(x), Const(Ints({0}))}, 11);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
  out = SetupKernel("ReduceSum", kRef, {}, {In(Int64Tensor({1}, {1}))}, 13);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnimplemented);
}

}  // namespace
}  // namespace serdab::engine::testing
