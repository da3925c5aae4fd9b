// The GEMM micro-kernels against plain loops: every row and column count a
// caller can pass, reductions with and without a tail of less than a
// vector, and dot products whose blocking must not change the bits.
#include "enclave/engine/optimized/sgemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "enclave/engine/activation.h"
#include "tests/engine/kernel_test_util.h"

namespace serdab::engine {
namespace {

using serdab::engine::testing::RandomFloats;

// C = bias + A * B^T, B^T given as n rows of k, summed in double.
std::vector<double> DotReference(int64_t m, int64_t n, int64_t k, const std::vector<float>& a,
                                 const std::vector<float>& bt, const std::vector<float>& bias) {
  std::vector<double> c(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias[i];
      for (int64_t t = 0; t < k; ++t) acc += double(a[i * k + t]) * bt[j * k + t];
      c[i * n + j] = acc;
    }
  }
  return c;
}

TEST(GemmDotTest, MatchesPlainLoopsForEveryBlockShape) {
  for (int64_t m : {1, 2, 3, 4, 5, 7, 8, 9, 17}) {
    for (int64_t n : {1, 2, 3, 4, 5, 6, 7}) {
      for (int64_t k : {1, 15, 16, 33, 300}) {
        const auto a = RandomFloats(m * k, 1), bt = RandomFloats(n * k, 2),
                   bias = RandomFloats(m, 3);
        std::vector<float> c(m * n, NAN);
        GemmDot(m, n, k, a.data(), k, bt.data(), k, c.data(), n, bias.data());
        const auto want = DotReference(m, n, k, a, bt, bias);
        for (int64_t i = 0; i < m * n; ++i) {
          ASSERT_NEAR(c[i], want[i], 1e-5 * k)
              << "m " << m << " n " << n << " k " << k << " at " << i;
        }
      }
    }
  }
}

// A row's dot products do not depend on the rows and columns computed
// beside it: the Conv's dot columns and a Gemm's batch-1 columns are
// blocked differently and must give the same bits as one at a time.
TEST(GemmDotTest, BlockingDoesNotChangeTheBits) {
  const int64_t m = 11, n = 7, k = 1000;
  const auto a = RandomFloats(m * k, 4), bt = RandomFloats(n * k, 5);
  std::vector<float> blocked(m * n);
  GemmDot(m, n, k, a.data(), k, bt.data(), k, blocked.data(), n, nullptr);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float one = 0;
      GemmDot(1, 1, k, a.data() + i * k, k, bt.data() + j * k, k, &one, 1, nullptr);
      EXPECT_EQ(one, blocked[i * n + j]) << i << ", " << j;
    }
  }
}

TEST(GemmTileTest, MatchesPlainLoopsForEveryTileShape) {
  for (int64_t m = 1; m <= kGemmMr; ++m) {
    for (int64_t n : {1, 15, 16, 17, 31, 32, 33, 47, 48}) {
      for (int64_t k : {1, 7, 64}) {
        const int64_t ldb = 50, ldc = 52;
        const auto a = RandomFloats(m * k, 6), b = RandomFloats(k * ldb, 7),
                   bias = RandomFloats(m, 8);
        for (GemmInit init : {GemmInit::kZero, GemmInit::kRowBias, GemmInit::kLoadC}) {
          auto c = RandomFloats(m * ldc, 9);
          const auto before = c;
          GemmB gb;
          gb.data = b.data();
          gb.stride = ldb;
          GemmTile(m, n, k, a.data(), k, gb, c.data(), ldc, init, bias.data());
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < ldc; ++j) {
              if (j >= n) {
                ASSERT_EQ(c[i * ldc + j], before[i * ldc + j]) << "wrote past column " << n;
                continue;
              }
              double acc = init == GemmInit::kZero      ? 0.0
                           : init == GemmInit::kRowBias ? bias[i]
                                                        : before[i * ldc + j];
              for (int64_t t = 0; t < k; ++t) acc += double(a[i * k + t]) * b[t * ldb + j];
              ASSERT_NEAR(c[i * ldc + j], acc, 1e-5 * (k + 1)) << m << "x" << n << " k " << k;
            }
          }
        }
      }
    }
  }
}

// The epilogue gives the bits of storing the tile and then adding the
// residual and clamping it as ApplyActivationToSum does, NaNs and signed
// zeros included.
TEST(GemmTileTest, AnEpilogueGivesTheBitsOfApplyingItAfterwards) {
  const int64_t k = 9, ldb = 48, ldc = 50;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t m : {1, 5, 8}) {
    for (int64_t n : {7, 16, 33, 48}) {
      const auto a = RandomFloats(m * k, 11), b = RandomFloats(k * ldb, 12);
      auto residual = RandomFloats(m * ldc, 13);
      residual[0] = nan;
      residual[ldc - 1] = -0.f;
      if (n > 2) residual[2] = -std::numeric_limits<float>::infinity();
      GemmB gb;
      gb.data = b.data();
      gb.stride = ldb;
      for (const Activation& act : {Activation{Activation::Kind::kNone, 0.f, 0.f},
                                    Activation{Activation::Kind::kRelu, 0.f, 0.f},
                                    Activation{Activation::Kind::kClip, -0.25f, 0.5f}}) {
        for (bool with_residual : {false, true}) {
          SCOPED_TRACE(std::string(Activation::KindName(act.kind)) + " " + std::to_string(m) + "x" +
                       std::to_string(n) + (with_residual ? " residual" : ""));
          std::vector<float> want(m * ldc, 0.f), got(m * ldc, 0.f);
          GemmTile(m, n, k, a.data(), k, gb, want.data(), ldc, GemmInit::kZero, nullptr);
          for (int64_t i = 0; i < m; ++i) {
            if (with_residual) {
              ApplyActivationToSum(act, residual.data() + i * ldc, want.data() + i * ldc, n);
            } else {
              ApplyActivation(act, want.data() + i * ldc, n);
            }
          }
          GemmEpilogue epilogue;
          epilogue.residual = with_residual ? residual.data() : nullptr;
          epilogue.clamp = !act.is_none();
          epilogue.lo = act.kind == Activation::Kind::kClip ? act.alpha : 0.f;
          epilogue.hi = act.kind == Activation::Kind::kClip
                            ? act.beta
                            : std::numeric_limits<float>::infinity();
          GemmTile(m, n, k, a.data(), k, gb, got.data(), ldc, GemmInit::kZero, nullptr, nullptr,
                   &epilogue);
          ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
        }
      }
    }
  }
}

}  // namespace
}  // namespace serdab::engine
