// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool and ReduceMean:
// hand-computed (or torch.nn.functional-computed) cases for both flavours, and
// optimised-vs-reference on random configurations. MaxPool, GlobalAveragePool
// and ReduceMean must match the reference exactly; the optimised AveragePool
// sums in another order and must match within float rounding.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"
#include "tests/engine/kernel_test_util.h"

namespace serdab::engine::testing {
namespace {

// 0, 1, 2, ... in an [1, 1, h, w] tensor.
Tensor Iota(int64_t h, int64_t w) {
  std::vector<float> v(h * w);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return FloatTensor({1, 1, h, w}, v);
}

class PoolingFlavorTest : public ::testing::TestWithParam<KernelFlavor> {
 protected:
  void ExpectPool(const std::string& op, const Attributes& attrs, const Tensor& x,
                  const Tensor& expected, int opset = 13) {
    for (int threads : {1, 2}) {
      auto out = RunKernel(op, GetParam(), attrs, {In(x)}, opset, threads);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      ExpectTensorNear((*out)[0], expected, 1e-5f, 1e-6f);
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Flavors, PoolingFlavorTest,
                         ::testing::Values(KernelFlavor::kReference, KernelFlavor::kOptimized),
                         [](const auto& info) {
                           return info.param == KernelFlavor::kReference ? "Reference"
                                                                         : "Optimized";
                         });

using Ints = std::vector<int64_t>;

TEST_P(PoolingFlavorTest, MaxPoolBasic) {
  // Two planes: the second is the first negated, so its maxima are the minima.
  std::vector<float> v;
  for (int i = 0; i < 16; ++i) v.push_back(static_cast<float>(i));
  for (int i = 0; i < 16; ++i) v.push_back(static_cast<float>(-i));
  ExpectPool("MaxPool", MakeAttrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}),
             FloatTensor({1, 2, 4, 4}, v),
             FloatTensor({1, 2, 2, 2}, {5.f, 7.f, 13.f, 15.f, 0.f, -2.f, -8.f, -10.f}));
}

TEST_P(PoolingFlavorTest, MaxPoolCeilMode) {
  // 5x5, kernel 2, stride 2, no pads: ceil_mode adds a last, partial window.
  ExpectPool(
      "MaxPool",
      MakeAttrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}}),
      Iota(5, 5), FloatTensor({1, 1, 3, 3}, {6.f, 8.f, 9.f, 16.f, 18.f, 19.f, 21.f, 23.f, 24.f}));
  // With pads 1 ceil_mode would give 4 windows per axis, but the 4th would
  // start in the end padding (at 6 >= 5 + 1), so there are 3 (as in PyTorch).
  ExpectPool("MaxPool",
             MakeAttrs({{"kernel_shape", Ints{2, 2}},
                        {"strides", Ints{2, 2}},
                        {"pads", Ints{1, 1, 1, 1}},
                        {"ceil_mode", int64_t{1}}}),
             Iota(5, 5),
             FloatTensor({1, 1, 3, 3}, {0.f, 2.f, 4.f, 10.f, 12.f, 14.f, 20.f, 22.f, 24.f}));
}

TEST_P(PoolingFlavorTest, MaxPoolDilation) {
  // Values and expectations from torch.nn.functional.max_pool2d.
  const Tensor x = FloatTensor(
      {1, 1, 7, 7}, {0.f,  14.f, 5.f,  19.f, 10.f, 1.f,  15.f, 6.f, 20.f, 11.f, 2.f,  16.f, 7.f,
                     21.f, 12.f, 3.f,  17.f, 8.f,  22.f, 13.f, 4.f, 18.f, 9.f,  0.f,  14.f, 5.f,
                     19.f, 10.f, 1.f,  15.f, 6.f,  20.f, 11.f, 2.f, 16.f, 7.f,  21.f, 12.f, 3.f,
                     17.f, 8.f,  22.f, 13.f, 4.f,  18.f, 9.f,  0.f, 14.f, 5.f});
  ExpectPool(
      "MaxPool",
      MakeAttrs(
          {{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}, {"dilations", Ints{2, 2}}}),
      x, FloatTensor({1, 1, 5, 5}, {20.f, 18.f, 20.f, 21.f, 19.f, 20.f, 22.f, 20.f, 22.f,
                                    20.f, 21.f, 18.f, 21.f, 22.f, 19.f, 20.f, 22.f, 20.f,
                                    22.f, 20.f, 21.f, 18.f, 21.f, 22.f, 19.f}));
  ExpectPool("MaxPool",
             MakeAttrs({{"kernel_shape", Ints{3, 3}},
                        {"strides", Ints{2, 2}},
                        {"pads", Ints{1, 1, 1, 1}},
                        {"dilations", Ints{2, 2}},
                        {"ceil_mode", int64_t{1}}}),
             x, FloatTensor({1, 1, 3, 3}, {20.f, 20.f, 19.f, 21.f, 21.f, 19.f, 21.f, 21.f, 19.f}));
}

TEST_P(PoolingFlavorTest, MaxPoolAutoPad) {
  // 1x5 row, kernel 1x2, stride 1: SAME pads one column, at the end for
  // SAME_UPPER and at the start for SAME_LOWER; VALID pads nothing.
  const Tensor x = FloatTensor({1, 1, 1, 5}, {3.f, 1.f, 4.f, 1.f, 5.f});
  const Attributes base = MakeAttrs({{"kernel_shape", Ints{1, 2}}});
  Attributes upper = base, lower = base, valid = base;
  upper.set("auto_pad", std::string("SAME_UPPER"));
  lower.set("auto_pad", std::string("SAME_LOWER"));
  valid.set("auto_pad", std::string("VALID"));
  ExpectPool("MaxPool", upper, x, FloatTensor({1, 1, 1, 5}, {3.f, 4.f, 4.f, 5.f, 5.f}));
  ExpectPool("MaxPool", lower, x, FloatTensor({1, 1, 1, 5}, {3.f, 3.f, 4.f, 4.f, 5.f}));
  ExpectPool("MaxPool", valid, x, FloatTensor({1, 1, 1, 4}, {3.f, 4.f, 4.f, 5.f}));
  // SAME with stride 2: out = ceil(5 / 2) = 3, total pad (3-1)*2+2-5 = 1.
  upper.set("strides", Ints{1, 2});
  ExpectPool("MaxPool", upper, x, FloatTensor({1, 1, 1, 3}, {3.f, 4.f, 5.f}));
}

TEST_P(PoolingFlavorTest, AveragePoolPadsAndCeilMode) {
  // 6x6 iota, kernel 3, stride 2, pads 1; expectations from
  // torch.nn.functional.avg_pool2d. With ceil_mode the last window starts at 5
  // and covers input 5 and padding 6 only: with count_include_pad its divisor
  // along that axis is 2, not 3.
  const Tensor x = Iota(6, 6);
  Attributes attrs = MakeAttrs(
      {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}});
  attrs.set("count_include_pad", int64_t{1});
  ExpectPool("AveragePool", attrs, x,
             FloatTensor({1, 1, 3, 3}, {1.5555556f, 3.3333333f, 4.6666665f, 8.333333f, 14.f, 16.f,
                                        16.333334f, 26.f, 28.f}));
  attrs.set("ceil_mode", int64_t{1});
  ExpectPool("AveragePool", attrs, x,
             FloatTensor({1, 1, 4, 4},
                         {1.5555556f, 3.3333333f, 4.6666665f, 2.6666667f, 8.333333f, 14.f, 16.f,
                          8.5f, 16.333334f, 26.f, 28.f, 14.5f, 10.166667f, 16.f, 17.f, 8.75f}));
  attrs.set("count_include_pad", int64_t{0});
  ExpectPool("AveragePool", attrs, x,
             FloatTensor({1, 1, 4, 4}, {3.5f, 5.f, 7.f, 8.f, 12.5f, 14.f, 16.f, 17.f, 24.5f, 26.f,
                                        28.f, 29.f, 30.5f, 32.f, 34.f, 35.f}));
}

TEST_P(PoolingFlavorTest, AveragePoolCeilModeDropsWindowInEndPadding) {
  // 5x5 iota, kernel 2, stride 2, pads 1, ceil_mode, count_include_pad:
  // torch.nn.functional.avg_pool2d gives 3x3.
  ExpectPool("AveragePool",
             MakeAttrs({{"kernel_shape", Ints{2, 2}},
                        {"strides", Ints{2, 2}},
                        {"pads", Ints{1, 1, 1, 1}},
                        {"ceil_mode", int64_t{1}},
                        {"count_include_pad", int64_t{1}}}),
             Iota(5, 5),
             FloatTensor({1, 1, 3, 3}, {0.f, 0.75f, 1.75f, 3.75f, 9.f, 11.f, 8.75f, 19.f, 21.f}));
}

TEST_P(PoolingFlavorTest, AveragePoolAsymmetricPads) {
  // 1x4 row, kernel 1x3, pads: 2 at the start, 0 at the end.
  // Windows start at -2, -1, 0, 1: [p,p,1] [p,1,2] [1,2,3] [2,3,4].
  const Tensor x = FloatTensor({1, 1, 1, 4}, {1.f, 2.f, 3.f, 4.f});
  Attributes attrs = MakeAttrs({{"kernel_shape", Ints{1, 3}}, {"pads", Ints{0, 2, 0, 0}}});
  ExpectPool("AveragePool", attrs, x, FloatTensor({1, 1, 1, 4}, {1.f, 1.5f, 2.f, 3.f}));
  attrs.set("count_include_pad", int64_t{1});
  ExpectPool("AveragePool", attrs, x, FloatTensor({1, 1, 1, 4}, {1.f / 3.f, 1.f, 2.f, 3.f}));
}

TEST_P(PoolingFlavorTest, GlobalPools) {
  const Tensor x =
      FloatTensor({2, 2, 1, 3}, {1.f, 2.f, 6.f, -1.f, -2.f, -3.f, 0.f, 0.f, 3.f, 10.f, 20.f, 30.f});
  ExpectPool("GlobalAveragePool", {}, x, FloatTensor({2, 2, 1, 1}, {3.f, -2.f, 1.f, 20.f}));
  auto out = RunKernel("GlobalMaxPool", GetParam(), {}, {In(x)});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], FloatTensor({2, 2, 1, 1}, {6.f, -1.f, 3.f, 30.f}));
  // Rank 3 input: [N, C, L].
  ExpectPool("GlobalAveragePool", {}, FloatTensor({1, 2, 2}, {1.f, 2.f, 3.f, 5.f}),
             FloatTensor({1, 2, 1}, {1.5f, 4.f}));
}

TEST_P(PoolingFlavorTest, ReduceMean) {
  // x[i][j][k] = 100 i + 10 j + k, shape [2, 3, 2].
  std::vector<float> v;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 2; ++k) v.push_back(100.f * i + 10.f * j + k);
    }
  }
  const Tensor x = FloatTensor({2, 3, 2}, v);
  ExpectPool("ReduceMean", MakeAttrs({{"axes", Ints{1, 2}}}), x,
             FloatTensor({2, 1, 1}, {10.5f, 110.5f}));
  ExpectPool("ReduceMean", MakeAttrs({{"axes", Ints{-1}}, {"keepdims", int64_t{0}}}), x,
             FloatTensor({2, 3}, {0.5f, 10.5f, 20.5f, 100.5f, 110.5f, 120.5f}));
  ExpectPool("ReduceMean", MakeAttrs({{"axes", Ints{0, 2}}}), x,
             FloatTensor({1, 3, 1}, {50.5f, 60.5f, 70.5f}));
  ExpectPool("ReduceMean", MakeAttrs({{"axes", Ints{1}}, {"keepdims", int64_t{0}}}), x,
             FloatTensor({2, 2}, {10.f, 11.f, 110.f, 111.f}));
  // No axes: every axis.
  ExpectPool("ReduceMean", {}, x, FloatTensor({1, 1, 1}, {60.5f}));
}

TEST_P(PoolingFlavorTest, ReduceMeanAxesInputAtOpset18) {
  const Tensor x = FloatTensor({2, 2}, {1.f, 2.f, 3.f, 5.f});
  auto out = RunKernel("ReduceMean", GetParam(), {}, {In(x), Const(Int64Tensor({1}, {0}))}, 18);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], FloatTensor({1, 2}, {2.f, 3.5f}));
  // Omitted axes: all of them, unless noop_with_empty_axes.
  out = RunKernel("ReduceMean", GetParam(), MakeAttrs({{"keepdims", int64_t{0}}}), {In(x)}, 18);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], FloatTensor({}, {2.75f}));
  out = RunKernel("ReduceMean", GetParam(), MakeAttrs({{"noop_with_empty_axes", int64_t{1}}}),
                  {In(x)}, 18);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectTensorNear((*out)[0], x);
  // Axes computed at run time are not supported.
  out = RunKernel("ReduceMean", GetParam(), {}, {In(x), In(Int64Tensor({1}, {0}))}, 18);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnimplemented);
}

TEST_P(PoolingFlavorTest, OneDimensional) {
  // 0..5, window 3, stride 2, one pad each side.
  const Tensor x = FloatTensor({1, 1, 6}, {0.f, 1.f, 2.f, 3.f, 4.f, 5.f});
  const Attributes attrs =
      MakeAttrs({{"kernel_shape", Ints{3}}, {"strides", Ints{2}}, {"pads", Ints{1, 1}}});
  ExpectPool("MaxPool", attrs, x, FloatTensor({1, 1, 3}, {1.f, 3.f, 5.f}));
  ExpectPool("AveragePool", attrs, x, FloatTensor({1, 1, 3}, {0.5f, 2.f, 4.f}));
}

// 0..26 as a 3x3x3 volume; expected values from numpy.
TEST_P(PoolingFlavorTest, ThreeDimensional) {
  std::vector<float> v(27);
  for (int i = 0; i < 27; ++i) v[i] = static_cast<float>(i);
  const Tensor x = FloatTensor({1, 1, 3, 3, 3}, v);
  const Attributes k2 = MakeAttrs({{"kernel_shape", Ints{2, 2, 2}}});
  ExpectPool("MaxPool", k2, x,
             FloatTensor({1, 1, 2, 2, 2}, {13.f, 14.f, 16.f, 17.f, 22.f, 23.f, 25.f, 26.f}));
  ExpectPool("AveragePool", k2, x,
             FloatTensor({1, 1, 2, 2, 2}, {6.5f, 7.5f, 9.5f, 10.5f, 15.5f, 16.5f, 18.5f, 19.5f}));
  // Stride 2 and one pad everywhere; the padding counts in the divisor.
  ExpectPool("AveragePool",
             MakeAttrs({{"kernel_shape", Ints{2, 2, 2}},
                        {"strides", Ints{2, 2, 2}},
                        {"pads", Ints{1, 1, 1, 1, 1, 1}},
                        {"count_include_pad", int64_t{1}}}),
             x, FloatTensor({1, 1, 2, 2, 2}, {0.f, 0.375f, 1.125f, 3.f, 3.375f, 7.5f, 9.f, 19.5f}));
}

TEST_P(PoolingFlavorTest, UnsupportedAndInvalid) {
  const Tensor x = Iota(4, 4);
  const Attributes k2 = MakeAttrs({{"kernel_shape", Ints{2, 2}}});
  // MaxPool's Indices output.
  auto out = RunKernel("MaxPool", GetParam(), k2, {In(x)}, 13, 1, /*num_outputs=*/2);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kUnimplemented);
  // 4-D pooling; a 1-D window on 1-D input takes one kernel size.
  out = RunKernel("MaxPool", GetParam(), MakeAttrs({{"kernel_shape", Ints{1, 1, 1, 1}}}),
                  {In(FloatTensor({1, 1, 1, 1, 1, 2}, {1.f, 2.f}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
  out = RunKernel("MaxPool", GetParam(), k2, {In(FloatTensor({1, 1, 4}, {1.f, 2.f, 3.f, 4.f}))});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
  // Missing kernel_shape, kernel larger than the input.
  out = RunKernel("AveragePool", GetParam(), {}, {In(x)});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
  out = RunKernel("MaxPool", GetParam(), MakeAttrs({{"kernel_shape", Ints{5, 5}}}), {In(x)});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kInvalidArgument);
}

struct RandomPool {
  Shape shape;
  Attributes attrs;
  std::string description;
  bool average = false;  // AveragePool, else MaxPool
};

RandomPool MakeRandomPool(std::mt19937* rng, bool average) {
  auto uniform = [rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(*rng);
  };
  RandomPool p;
  p.average = average;
  const int64_t kh = uniform(1, 4), kw = uniform(1, 4);
  const int64_t sh = uniform(1, 3), sw = uniform(1, 3);
  const int64_t dh = average ? 1 : uniform(1, 2), dw = average ? 1 : uniform(1, 2);
  // Pads stay below the kernel so that no window lies entirely in padding.
  const Ints pads = {uniform(0, kh - 1), uniform(0, kw - 1), uniform(0, kh - 1),
                     uniform(0, kw - 1)};
  const int64_t min_h = (kh - 1) * dh + 1, min_w = (kw - 1) * dw + 1;
  p.shape = {uniform(1, 2), uniform(1, 9), uniform(min_h, min_h + 20), uniform(min_w, min_w + 20)};
  const char* auto_pads[] = {"NOTSET", "NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
  const std::string auto_pad = auto_pads[uniform(0, 5)];
  p.attrs = MakeAttrs({{"kernel_shape", Ints{kh, kw}},
                       {"strides", Ints{sh, sw}},
                       {"auto_pad", auto_pad},
                       {"ceil_mode", uniform(0, 1)}});
  if (auto_pad == "NOTSET") p.attrs.set("pads", pads);
  if (!average) p.attrs.set("dilations", Ints{dh, dw});
  if (average) p.attrs.set("count_include_pad", uniform(0, 1));
  p.description = ShapeToString(p.shape) + " k" + ShapeToString({kh, kw}) + " s" +
                  ShapeToString({sh, sw}) + " d" + ShapeToString({dh, dw}) + " pads" +
                  ShapeToString(pads) + " " + auto_pad + " ceil " +
                  std::to_string(p.attrs.GetInt("ceil_mode", 0)) + " incl " +
                  std::to_string(p.attrs.GetInt("count_include_pad", 0));
  return p;
}

TEST(PoolingOpsRandomTest, OptimizedMatchesReference) {
  std::mt19937 rng(2024);
  std::vector<RandomPool> pools;
  // ResNet's stem pool and a large average pool, then random ones.
  pools.push_back(
      {{1, 64, 112, 112},
       MakeAttrs(
           {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}),
       "resnet stem max"});
  pools.push_back({{1, 32, 56, 56},
                   MakeAttrs({{"kernel_shape", Ints{3, 3}},
                              {"pads", Ints{1, 1, 1, 1}},
                              {"count_include_pad", int64_t{1}}}),
                   "3x3 average",
                   true});
  // Maps pooled a plane at a time (googlenet's and inception_v3's branches).
  pools.push_back({{1, 16, 14, 14},
                   MakeAttrs({{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}}),
                   "3x3 max at 14x14"});
  pools.push_back({{1, 16, 17, 17},
                   MakeAttrs({{"kernel_shape", Ints{3, 3}},
                              {"pads", Ints{1, 1, 1, 1}},
                              {"count_include_pad", int64_t{1}}}),
                   "3x3 average at 17x17",
                   true});
  // Three and four blocks of 16 columns, and a window of five columns (the
  // taps not spelled out at compile time).
  pools.push_back({{1, 8, 35, 35},
                   MakeAttrs({{"kernel_shape", Ints{3, 3}},
                              {"pads", Ints{1, 1, 1, 1}},
                              {"count_include_pad", int64_t{1}}}),
                   "3x3 average at 35x35",
                   true});
  pools.push_back({{1, 4, 9, 56},
                   MakeAttrs({{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}}),
                   "3x3 max at 9x56"});
  pools.push_back({{1, 4, 12, 40},
                   MakeAttrs({{"kernel_shape", Ints{4, 5}}, {"pads", Ints{1, 2, 2, 2}}}),
                   "4x5 average at 12x40",
                   true});
  // The 3-wide stride-2 window's fixed permutations: squeezenet's
  // ceil-mode windows past the last column, and an average.
  pools.push_back(
      {{1, 8, 111, 111},
       MakeAttrs(
           {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}}),
       "3x3 stride-2 ceil-mode max at 111x111"});
  pools.push_back(
      {{1, 4, 27, 40},
       MakeAttrs(
           {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}),
       "3x3 stride-2 average at 27x40",
       true});
  for (int i = 0; i < 30; ++i) pools.push_back(MakeRandomPool(&rng, i % 2 == 1));
  for (size_t i = 0; i < pools.size(); ++i) {
    const bool average = pools[i].average;
    const char* op = average ? "AveragePool" : "MaxPool";
    const Tensor x = RandomFloatTensor(pools[i].shape, &rng, -4.f, 4.f);
    auto ref = RunKernel(op, KernelFlavor::kReference, pools[i].attrs, {In(x)});
    ASSERT_TRUE(ref.ok()) << pools[i].description << ": " << ref.status().ToString();
    for (int threads : {1, 3}) {
      SCOPED_TRACE(std::string(op) + " " + pools[i].description + " threads " +
                   std::to_string(threads));
      auto opt = RunKernel(op, KernelFlavor::kOptimized, pools[i].attrs, {In(x)}, 13, threads);
      ASSERT_TRUE(opt.ok()) << opt.status().ToString();
      if (average) {
        ExpectTensorNear((*opt)[0], (*ref)[0], 1e-5f, 1e-5f);
      } else {
        ExpectTensorNear((*opt)[0], (*ref)[0], 0.f, 0.f);
      }
    }
  }
}

TEST(PoolingOpsRandomTest, GlobalAveragePoolAndReduceMeanMatchReferenceExactly) {
  std::mt19937 rng(7);
  std::vector<Shape> shapes = {{1, 32, 112, 112}, {1, 2048, 7, 7}, {2, 5, 1, 1}, {1, 3, 33}};
  std::uniform_int_distribution<int64_t> dim(1, 40);
  while (shapes.size() < 24) shapes.push_back({dim(rng) % 3 + 1, dim(rng), dim(rng), dim(rng)});
  for (const Shape& shape : shapes) {
    const Tensor x = RandomFloatTensor(shape, &rng);
    Ints spatial;
    for (int64_t d = 2; d < static_cast<int64_t>(shape.size()); ++d) spatial.push_back(d);
    const std::vector<std::pair<std::string, Attributes>> cases = {
        {"GlobalAveragePool", {}},
        {"ReduceMean", MakeAttrs({{"axes", spatial}})},
        {"ReduceMean", MakeAttrs({{"axes", Ints{0, 2}}, {"keepdims", int64_t{0}}})},
    };
    for (const auto& [op, attrs] : cases) {
      auto ref = RunKernel(op, KernelFlavor::kReference, attrs, {In(x)});
      ASSERT_TRUE(ref.ok()) << ref.status().ToString();
      for (int threads : {1, 3}) {
        SCOPED_TRACE(op + " " + ShapeToString(shape) + " threads " + std::to_string(threads));
        auto opt = RunKernel(op, KernelFlavor::kOptimized, attrs, {In(x)}, 13, threads);
        ASSERT_TRUE(opt.ok()) << opt.status().ToString();
        ExpectTensorEqual((*opt)[0], (*ref)[0]);
      }
    }
  }
}

// GlobalAveragePool's blocked sum against a double-precision mean.
TEST(PoolingOpsRandomTest, GlobalAveragePoolIsAccurate) {
  std::mt19937 rng(11);
  const Tensor x = RandomFloatTensor({1, 4, 97, 101}, &rng, 0.f, 1.f);
  auto out = RunKernel("GlobalAveragePool", KernelFlavor::kOptimized, {}, {In(x)}, 13, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const int64_t plane = 97 * 101;
  for (int c = 0; c < 4; ++c) {
    double sum = 0;
    for (int64_t i = 0; i < plane; ++i) sum += x.data<float>()[c * plane + i];
    EXPECT_NEAR((*out)[0].data<float>()[c], sum / plane, 1e-6);
  }
}

}  // namespace
}  // namespace serdab::engine::testing
