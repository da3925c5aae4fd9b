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

}  // namespace
}  // namespace serdab::engine::testing
