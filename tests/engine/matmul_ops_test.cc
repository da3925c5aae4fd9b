// Gemm and MatMul: hand-checked cases in both flavours, shape and error
// checks, and the optimised kernels against the reference on random shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "enclave/engine/activation.h"
#include "tests/engine/kernel_test_util.h"

namespace serdab::engine {
namespace {

using testing::Const;
using testing::ExpectTensorEqual;
using testing::ExpectTensorNear;
using testing::FloatTensor;
using testing::In;
using testing::Int64Tensor;
using testing::MakeAttrs;
using testing::NoInput;
using testing::RandomFloatTensor;
using testing::RunKernel;
using testing::SetupKernel;
using testing::TestInput;

constexpr KernelFlavor kFlavors[] = {KernelFlavor::kReference, KernelFlavor::kOptimized};

void ExpectOp(const std::string& op, const Attributes& attrs, const std::vector<TestInput>& inputs,
              const Tensor& expected) {
  for (KernelFlavor flavor : kFlavors) {
    SCOPED_TRACE(flavor == KernelFlavor::kReference ? "reference" : "optimized");
    auto out = RunKernel(op, flavor, attrs, inputs);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectTensorNear((*out)[0], expected, 1e-5f, 1e-6f);
  }
}

// A = [[1,2,3],[4,5,6]], B = [[1,0],[0,1],[1,1]], A * B = [[4,5],[10,11]].
Tensor A23() { return FloatTensor({2, 3}, {1, 2, 3, 4, 5, 6}); }
Tensor A23T() { return FloatTensor({3, 2}, {1, 4, 2, 5, 3, 6}); }
Tensor B32() { return FloatTensor({3, 2}, {1, 0, 0, 1, 1, 1}); }
Tensor B32T() { return FloatTensor({2, 3}, {1, 0, 1, 0, 1, 1}); }

TEST(GemmTest, Plain) {
  ExpectOp("Gemm", {}, {In(A23()), Const(B32())}, FloatTensor({2, 2}, {4, 5, 10, 11}));
}

TEST(GemmTest, Transposes) {
  const Tensor expected = FloatTensor({2, 2}, {4, 5, 10, 11});
  ExpectOp("Gemm", MakeAttrs({{"transA", int64_t{1}}}), {In(A23T()), Const(B32())}, expected);
  ExpectOp("Gemm", MakeAttrs({{"transB", int64_t{1}}}), {In(A23()), Const(B32T())}, expected);
  ExpectOp("Gemm", MakeAttrs({{"transA", int64_t{1}}, {"transB", int64_t{1}}}),
           {In(A23T()), Const(B32T())}, expected);
}

TEST(GemmTest, AlphaBetaAndBroadcastC) {
  const Attributes ab = MakeAttrs({{"alpha", 2.f}, {"beta", 0.5f}});
  // C [N]: one value per column.
  ExpectOp("Gemm", ab, {In(A23()), Const(B32()), Const(FloatTensor({2}, {1, -2}))},
           FloatTensor({2, 2}, {8.5f, 9, 20.5f, 21}));
  // C [1,N] is the same.
  ExpectOp("Gemm", ab, {In(A23()), Const(B32()), Const(FloatTensor({1, 2}, {1, -2}))},
           FloatTensor({2, 2}, {8.5f, 9, 20.5f, 21}));
  // C [M,1]: one value per row.
  ExpectOp("Gemm", {}, {In(A23()), Const(B32()), Const(FloatTensor({2, 1}, {1, 2}))},
           FloatTensor({2, 2}, {5, 6, 12, 13}));
  // A scalar C.
  ExpectOp("Gemm", {}, {In(A23()), Const(B32()), Const(FloatTensor({}, {10}))},
           FloatTensor({2, 2}, {14, 15, 20, 21}));
  // A full C.
  ExpectOp("Gemm", ab, {In(A23()), Const(B32()), In(FloatTensor({2, 2}, {2, 4, 6, 8}))},
           FloatTensor({2, 2}, {9, 12, 23, 26}));
  // An omitted C.
  ExpectOp("Gemm", ab, {In(A23()), Const(B32()), NoInput()}, FloatTensor({2, 2}, {8, 10, 20, 22}));
}

TEST(GemmTest, LinearLayerAtBatchOne) {
  // PyTorch's Linear: x [1,K] times W^T with W [N,K], plus a bias [N].
  ExpectOp("Gemm", MakeAttrs({{"transB", int64_t{1}}}),
           {In(FloatTensor({1, 3}, {1, 2, 3})), Const(B32T()), Const(FloatTensor({2}, {1, 1}))},
           FloatTensor({1, 2}, {5, 6}));
}

TEST(GemmTest, FusedRelu) {
  Attributes attrs = MakeAttrs({{"alpha", -1.f}});
  Activation{Activation::Kind::kRelu}.ToAttributes(&attrs);
  ExpectOp("Gemm", attrs, {In(A23()), Const(B32()), Const(FloatTensor({2}, {5, 0}))},
           FloatTensor({2, 2}, {1, 0, 0, 0}));
}

TEST(GemmTest, Errors) {
  auto bad_k = SetupKernel("Gemm", KernelFlavor::kOptimized, {}, {In(A23()), Const(B32T())});
  EXPECT_EQ(bad_k.status().code(), Status::Code::kInvalidArgument);
  auto bad_c = SetupKernel("Gemm", KernelFlavor::kOptimized, {},
                           {In(A23()), Const(B32()), Const(FloatTensor({3}, {1, 2, 3}))});
  EXPECT_EQ(bad_c.status().code(), Status::Code::kInvalidArgument);
  auto rank = SetupKernel("Gemm", KernelFlavor::kOptimized, {},
                          {In(FloatTensor({1, 2, 3}, {1, 2, 3, 4, 5, 6})), Const(B32())});
  EXPECT_EQ(rank.status().code(), Status::Code::kInvalidArgument);
  auto ints = SetupKernel("Gemm", KernelFlavor::kReference, {},
                          {In(Int64Tensor({1, 1}, {1})), In(Int64Tensor({1, 1}, {1}))});
  EXPECT_EQ(ints.status().code(), Status::Code::kUnimplemented);
}

TEST(MatMulTest, Matrices) {
  ExpectOp("MatMul", {}, {In(A23()), In(B32())}, FloatTensor({2, 2}, {4, 5, 10, 11}));
}

TEST(MatMulTest, VectorPromotion) {
  // [3] x [3,2] -> [2]
  ExpectOp("MatMul", {}, {In(FloatTensor({3}, {1, 2, 3})), In(B32())}, FloatTensor({2}, {4, 5}));
  // [2,3] x [3] -> [2]
  ExpectOp("MatMul", {}, {In(A23()), In(FloatTensor({3}, {1, 1, 1}))}, FloatTensor({2}, {6, 15}));
  // [3] x [3] -> []
  ExpectOp("MatMul", {}, {In(FloatTensor({3}, {1, 2, 3})), In(FloatTensor({3}, {4, 5, 6}))},
           FloatTensor({}, {32}));
  // [3] x [2,3,2] -> [2,2]
  ExpectOp("MatMul", {},
           {In(FloatTensor({3}, {1, 2, 3})),
            In(FloatTensor({2, 3, 2}, {1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 2, 2}))},
           FloatTensor({2, 2}, {4, 5, 8, 10}));
}

TEST(MatMulTest, BatchBroadcast) {
  // A [2,1,2,2]: I and 2I. B [3,2,2]: (j+1) * [[1,2],[3,4]]. Out [2,3,2,2].
  Tensor a = FloatTensor({2, 1, 2, 2}, {1, 0, 0, 1, 2, 0, 0, 2});
  std::vector<float> bv, expected;
  for (int j = 0; j < 3; ++j) {
    for (float v : {1.f, 2.f, 3.f, 4.f}) bv.push_back(v * (j + 1));
  }
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (float v : {1.f, 2.f, 3.f, 4.f}) expected.push_back(v * (i + 1) * (j + 1));
    }
  }
  ExpectOp("MatMul", {}, {In(a), In(FloatTensor({3, 2, 2}, bv))},
           FloatTensor({2, 3, 2, 2}, expected));
}

TEST(MatMulTest, Errors) {
  auto bad_k = SetupKernel("MatMul", KernelFlavor::kOptimized, {}, {In(A23()), In(A23())});
  EXPECT_EQ(bad_k.status().code(), Status::Code::kInvalidArgument);
  auto bad_batch = SetupKernel("MatMul", KernelFlavor::kOptimized, {},
                               {In(Tensor::Create(DataType::kFloat32, {2, 2, 3}).value()),
                                In(Tensor::Create(DataType::kFloat32, {3, 3, 4}).value())});
  EXPECT_EQ(bad_batch.status().code(), Status::Code::kInvalidArgument);
  auto scalar =
      SetupKernel("MatMul", KernelFlavor::kOptimized, {}, {In(FloatTensor({}, {1})), In(A23())});
  EXPECT_EQ(scalar.status().code(), Status::Code::kInvalidArgument);
}

// --- Optimised against reference ---------------------------------------------

void ExpectClose(const Tensor& opt, const Tensor& ref) {
  ASSERT_EQ(opt.shape(), ref.shape());
  float max_ref = 0.f, max_diff = 0.f;
  for (int64_t i = 0; i < ref.num_elements(); ++i) {
    max_ref = std::max(max_ref, std::fabs(ref.data<float>()[i]));
    const float d = std::fabs(opt.data<float>()[i] - ref.data<float>()[i]);
    ASSERT_FALSE(std::isnan(d)) << "element " << i << " is NaN";
    max_diff = std::max(max_diff, d);
  }
  EXPECT_LE(max_diff, 1e-4f * max_ref + 1e-5f) << "max|ref| = " << max_ref;
}

void CompareFlavors(const std::string& op, const Attributes& attrs,
                    const std::vector<TestInput>& inputs, int threads) {
  auto ref = RunKernel(op, KernelFlavor::kReference, attrs, inputs);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  auto opt = RunKernel(op, KernelFlavor::kOptimized, attrs, inputs, 13, threads);
  ASSERT_TRUE(opt.ok()) << opt.status().ToString();
  ExpectClose((*opt)[0], (*ref)[0]);
  auto again = RunKernel(op, KernelFlavor::kOptimized, attrs, inputs, 13, threads);
  ASSERT_TRUE(again.ok());
  ExpectTensorEqual((*again)[0], (*opt)[0]);
}

TEST(GemmOptimizedTest, RandomShapes) {
  std::mt19937 rng(11);
  auto pick = [&](std::vector<int64_t> v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
  };
  const Activation::Kind kinds[] = {Activation::Kind::kNone, Activation::Kind::kRelu,
                                    Activation::Kind::kSigmoid, Activation::Kind::kTanh};
  for (int i = 0; i < 60; ++i) {
    const int64_t m = pick({1, 1, 2, 7, 8, 9, 33});
    const int64_t k = pick({1, 5, 16, 17, 100, 300});
    const int64_t n = pick({1, 3, 16, 47, 48, 49, 130, 200});
    const bool ta = pick({0, 1}), tb = pick({0, 1});
    const int64_t c_kind = pick({0, 1, 2, 3, 4});
    const int threads = static_cast<int>(pick({1, 2, 3}));
    SCOPED_TRACE("m=" + std::to_string(m) + " k=" + std::to_string(k) + " n=" + std::to_string(n) +
                 " transA=" + std::to_string(ta) + " transB=" + std::to_string(tb) + " C kind " +
                 std::to_string(c_kind) + " threads=" + std::to_string(threads));
    Attributes attrs = MakeAttrs({{"transA", int64_t{ta}},
                                  {"transB", int64_t{tb}},
                                  {"alpha", pick({0, 1}) ? 1.f : 0.75f},
                                  {"beta", pick({0, 1}) ? 1.f : -1.5f}});
    Activation{kinds[pick({0, 1, 2, 3})]}.ToAttributes(&attrs);
    std::vector<TestInput> inputs = {
        In(RandomFloatTensor(ta ? Shape{k, m} : Shape{m, k}, &rng)),
        Const(RandomFloatTensor(tb ? Shape{n, k} : Shape{k, n}, &rng))};
    const Shape c_shapes[] = {{}, {n}, {m, 1}, {m, n}};
    if (c_kind > 0) inputs.push_back(Const(RandomFloatTensor(c_shapes[c_kind - 1], &rng)));
    CompareFlavors("Gemm", attrs, inputs, threads);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(GemmOptimizedTest, LargeMatrixVector) {
  // A scaled-down VGG classifier layer: M=1, transB=1, K not a multiple of 16.
  std::mt19937 rng(5);
  Attributes attrs = MakeAttrs({{"transB", int64_t{1}}});
  Activation{Activation::Kind::kRelu}.ToAttributes(&attrs);
  for (int threads : {1, 2, 3}) {
    CompareFlavors(
        "Gemm", attrs,
        {In(RandomFloatTensor({1, 2501}, &rng)), Const(RandomFloatTensor({409, 2501}, &rng)),
         Const(RandomFloatTensor({409}, &rng))},
        threads);
  }
}

TEST(MatMulOptimizedTest, RandomShapes) {
  std::mt19937 rng(13);
  auto pick = [&](std::vector<int64_t> v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
  };
  for (int i = 0; i < 60; ++i) {
    const int64_t m = pick({1, 3, 8, 20}), k = pick({1, 7, 64, 65}), n = pick({1, 2, 17, 48, 100});
    Shape a = {m, k}, b = {k, n};
    switch (pick({0, 1, 2, 3, 4, 5})) {
      case 1:
        a = {k};
        break;
      case 2:
        b = {k};
        break;
      case 3:
        a = {2, 3, m, k};
        b = {3, k, n};
        break;
      case 4:
        a = {2, 1, m, k};
        b = {1, 4, k, n};
        break;
      case 5:
        a = {3, m, k};
        break;
    }
    const int threads = static_cast<int>(pick({1, 2, 3}));
    SCOPED_TRACE(ShapeToString(a) + " x " + ShapeToString(b) +
                 " threads=" + std::to_string(threads));
    Attributes attrs;
    if (pick({0, 1})) Activation{Activation::Kind::kRelu}.ToAttributes(&attrs);
    CompareFlavors("MatMul", attrs,
                   {In(RandomFloatTensor(a, &rng)), In(RandomFloatTensor(b, &rng))}, threads);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace serdab::engine
