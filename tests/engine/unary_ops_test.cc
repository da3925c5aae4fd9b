#include <gtest/gtest.h>

#include <cmath>

#include "tests/engine/kernel_test_util.h"

namespace serdab::engine::testing {
namespace {

TEST(UnaryOpsTest, ComputeTheirFunctions) {
  const std::vector<float> x = {0.25f, 1.f, 4.f};
  struct Case {
    const char* op;
    float (*fn)(float);
  };
  for (const Case& c :
       {Case{"Exp", [](float v) { return std::exp(v); }},
        Case{"Log", [](float v) { return std::log(v); }},
        Case{"Sqrt", [](float v) { return std::sqrt(v); }}, Case{"Neg", [](float v) { return -v; }},
        Case{"Abs", [](float v) { return std::fabs(v); }},
        Case{"Reciprocal", [](float v) { return 1.f / v; }}}) {
    auto out = RunKernel(c.op, KernelFlavor::kReference, MakeAttrs(), {In(FloatTensor({3}, x))});
    ASSERT_TRUE(out.ok()) << c.op << ": " << out.status().ToString();
    for (int i = 0; i < 3; ++i) EXPECT_EQ((*out)[0].data<float>()[i], c.fn(x[i])) << c.op;
  }
}

// Expected values computed with numpy from the ONNX definitions.
TEST(UnaryOpsTest, ParameterisedActivations) {
  const Tensor x = FloatTensor({5}, {-2.f, -0.5f, 0.f, 1.f, 30.f});
  struct Case {
    const char* op;
    Attributes attrs;
    std::vector<float> expected;
  };
  for (const Case& c : {
           Case{"Elu", MakeAttrs(), {-0.8646647f, -0.3934693f, 0.f, 1.f, 30.f}},
           Case{"Elu", MakeAttrs({{"alpha", 2.f}}), {-1.7293295f, -0.7869387f, 0.f, 1.f, 30.f}},
           Case{"Selu", MakeAttrs(), {-1.5201665f, -0.6917582f, 0.f, 1.0507010f, 31.521030f}},
           Case{"Selu",
                MakeAttrs({{"alpha", 2.f}, {"gamma", 3.f}}),
                {-5.1879883f, -2.3608160f, 0.f, 3.f, 90.f}},
           Case{"Softplus", MakeAttrs(), {0.1269280f, 0.4740770f, 0.6931472f, 1.3132616f, 30.f}},
           Case{"ThresholdedRelu", MakeAttrs(), {0.f, 0.f, 0.f, 0.f, 30.f}},
           Case{"ThresholdedRelu", MakeAttrs({{"alpha", 0.5f}}), {0.f, 0.f, 0.f, 1.f, 30.f}},
       }) {
    auto out = RunKernel(c.op, KernelFlavor::kReference, c.attrs, {In(x)});
    ASSERT_TRUE(out.ok()) << c.op << ": " << out.status().ToString();
    ExpectTensorNear((*out)[0], FloatTensor({5}, c.expected), 1e-6f, 1e-6f);
  }
}

TEST(UnaryOpsTest, SoftplusNeitherOverflowsNorUnderflows) {
  auto out = RunKernel("Softplus", KernelFlavor::kReference, MakeAttrs(),
                       {In(FloatTensor({2}, {200.f, -80.f}))});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].data<float>()[0], 200.f);
  EXPECT_GT((*out)[0].data<float>()[1], 0.f);
}

TEST(UnaryOpsTest, NaNStaysNaN) {
  const float nan = std::nanf("");
  for (const char* op : {"Sqrt", "Log", "Elu", "Selu", "Softplus"}) {
    auto out = RunKernel(op, KernelFlavor::kReference, MakeAttrs(), {In(FloatTensor({1}, {nan}))});
    ASSERT_TRUE(out.ok()) << op << ": " << out.status().ToString();
    EXPECT_TRUE(std::isnan((*out)[0].data<float>()[0])) << op;
  }
  auto sqrt =
      RunKernel("Sqrt", KernelFlavor::kReference, MakeAttrs(), {In(FloatTensor({1}, {-1.f}))});
  ASSERT_TRUE(sqrt.ok());
  EXPECT_TRUE(std::isnan((*sqrt)[0].data<float>()[0]));
}

TEST(UnaryOpsTest, RefusesInt64) {
  auto out = RunKernel("Exp", KernelFlavor::kReference, MakeAttrs(), {In(Int64Tensor({1}, {2}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnimplemented);
}

TEST(PowTest, BroadcastsFloatAndInt64) {
  auto f =
      RunKernel("Pow", KernelFlavor::kReference, MakeAttrs(),
                {In(FloatTensor({2, 2}, {1.f, 2.f, 3.f, 4.f})), Const(FloatTensor({}, {2.f}))});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ExpectTensorEqual((*f)[0], FloatTensor({2, 2}, {1.f, 4.f, 9.f, 16.f}));
  auto i = RunKernel("Pow", KernelFlavor::kReference, MakeAttrs(),
                     {In(Int64Tensor({4}, {2, -3, 5, 2})), In(Int64Tensor({4}, {10, 3, 0, -1}))});
  ASSERT_TRUE(i.ok()) << i.status().ToString();
  ExpectTensorEqual((*i)[0], Int64Tensor({4}, {1024, -27, 1, 0}));
}

TEST(PowTest, FloatBaseIntExponentAndNaN) {
  auto out = RunKernel("Pow", KernelFlavor::kReference, MakeAttrs(),
                       {In(FloatTensor({3}, {2.f, -2.f, 0.5f})), In(Int64Tensor({3}, {3, 2, -1}))});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorEqual((*out)[0], FloatTensor({3}, {8.f, 4.f, 2.f}));
  // A negative base to a fractional power is NaN, as in numpy.
  out = RunKernel("Pow", KernelFlavor::kReference, MakeAttrs(),
                  {In(FloatTensor({1}, {-2.f})), In(FloatTensor({1}, {0.5f}))});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(std::isnan((*out)[0].data<float>()[0]));
  // An int64 base with a float exponent stays refused.
  out = RunKernel("Pow", KernelFlavor::kReference, MakeAttrs(),
                  {In(Int64Tensor({1}, {2})), In(FloatTensor({1}, {0.5f}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace serdab::engine::testing
