// The kernels added for issue 10 against hostile models: random attributes
// and constant inputs, extreme values included, must give a Setup error or a
// kernel that runs (tested under the sanitizers), never a crash or an
// overflow.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/engine/kernel_test_util.h"

namespace serdab::engine::testing {
namespace {

constexpr int64_t kBig = std::numeric_limits<int64_t>::max();

class Hostile {
 public:
  explicit Hostile(uint32_t seed) : rng_(seed) {}

  // Mostly small values, sometimes zero, negative or extreme.
  int64_t Int() {
    switch (rng_() % 8) {
      case 0:
        return 0;
      case 1:
        return -static_cast<int64_t>(rng_() % 4) - 1;
      case 2:
        return kBig - static_cast<int64_t>(rng_() % 2);
      case 3:
        return int64_t{1} << (30 + rng_() % 4);
      default:
        return 1 + static_cast<int64_t>(rng_() % 4);
    }
  }
  std::vector<int64_t> Ints(size_t n) {
    std::vector<int64_t> v;
    for (size_t i = 0; i < n; ++i) v.push_back(Int());
    return v;
  }
  // A list usually as long as asked, sometimes one shorter or longer.
  std::vector<int64_t> IntsAbout(size_t n) {
    const uint32_t r = rng_() % 6;
    return Ints(r == 0 && n > 0 ? n - 1 : r == 1 ? n + 1 : n);
  }
  // Half the time a plausible window geometry (values in [lo, lo + 1]),
  // else IntsAbout(n).
  std::vector<int64_t> Geometry(size_t n, int64_t lo) {
    if (rng_() % 2) return IntsAbout(n);
    std::vector<int64_t> v;
    for (size_t i = 0; i < n; ++i) v.push_back(lo + static_cast<int64_t>(rng_() % 2));
    return v;
  }
  float Float() {
    const float special[] = {0.f,
                             -1.f,
                             1e30f,
                             -1e30f,
                             std::numeric_limits<float>::infinity(),
                             std::numeric_limits<float>::quiet_NaN()};
    if (rng_() % 3 == 0) return special[rng_() % 6];
    return std::uniform_real_distribution<float>(-3.f, 3.f)(rng_);
  }
  Shape SmallShape(size_t rank) {
    Shape s;
    for (size_t i = 0; i < rank; ++i) s.push_back(1 + static_cast<int64_t>(rng_() % 4));
    return s;
  }
  Tensor Floats(const Shape& shape) { return RandomFloatTensor(shape, &rng_); }
  Tensor IntTensor(const std::vector<int64_t>& v) {
    return Int64Tensor({static_cast<int64_t>(v.size())}, v);
  }
  uint32_t Next() { return rng_(); }

 private:
  std::mt19937 rng_;
};

// Sets the kernel up; runs it when Setup accepts and the outputs are small.
// The optimised flavour where there is one, except for Conv: its phase planes
// make a stride near 2^31 take minutes (valid, but not what this tests).
void Try(const std::string& op, const Attributes& attrs, const std::vector<TestInput>& in,
         int opset, int num_outputs = 1) {
  const KernelFlavor flavor = op == "Conv" ? KernelFlavor::kReference : KernelFlavor::kOptimized;
  auto kut = SetupKernel(op, flavor, attrs, in, opset, 1, num_outputs);
  if (!kut.ok()) {
    const Status::Code code = kut.status().code();
    EXPECT_TRUE(code == Status::Code::kInvalidArgument || code == Status::Code::kUnimplemented)
        << kut.status().ToString();
    return;
  }
  for (const TensorInfo& info : kut->outputs) {
    for (int64_t d : info.shape) ASSERT_GE(d, 0) << op;
    if (NumElements(info.shape) > (1 << 20)) return;
  }
  auto out = RunSetUpKernel(*kut, in);
  if (!out.ok()) {
    EXPECT_EQ(out.status().code(), Status::Code::kOutOfRange) << op;
  }
}

TEST(HostileOpsTest, RandomAttributesNeverCrash) {
  Hostile h(11);
  for (int trial = 0; trial < 400; ++trial) {
    const size_t rank = 3 + h.Next() % 3;
    const Shape shape = h.SmallShape(rank);
    const Tensor x = h.Floats(shape);
    const size_t spatial = rank - 2;
    Try("Tile", {}, {In(x), Const(h.IntTensor(h.Geometry(rank, 1)))}, 13);
    Shape blocks = h.SmallShape(4);
    blocks[1] *= 4;
    Try("DepthToSpace",
        MakeAttrs({{"blocksize", h.Next() % 2 ? h.Int() : int64_t{2}},
                   {"mode", std::string(h.Next() % 2 ? "DCR" : "CRD")}}),
        {In(h.Floats(blocks))}, 13);
    std::vector<int64_t> indices = h.Ints(NumElements(shape));
    if (h.Next() % 2) {
      for (int64_t& i : indices) i = i % 2;
    }
    Try("GatherElements", MakeAttrs({{"axis", h.Next() % 2 ? h.Int() : int64_t{1}}}),
        {In(x), In(Int64Tensor(shape, indices))}, 13);
    Try("TopK", MakeAttrs({{"axis", h.Int()}, {"largest", h.Int()}}),
        {In(x), Const(h.IntTensor(h.IntsAbout(1)))}, 13, 2);
    Try("ReduceSum", MakeAttrs({{"keepdims", h.Int()}, {"noop_with_empty_axes", h.Int()}}),
        {In(x), Const(h.IntTensor(h.IntsAbout(1)))}, 13);
    Try("ReduceLogSumExp", MakeAttrs({{"axes", h.IntsAbout(1)}}), {In(x)}, 13);
    Try("LogSoftmax", MakeAttrs({{"axis", h.Int()}}), {In(x)}, 11 + 2 * (h.Next() % 2));
    Try("Hardmax", MakeAttrs({{"axis", h.Int()}}), {In(x)}, 13);
    Try("PRelu", {}, {In(x), Const(h.Floats(h.SmallShape(h.Next() % 3)))}, 6 + 10 * (h.Next() % 2));
    Try("Max", {}, {In(x), In(h.Floats(h.SmallShape(h.Next() % 4)))}, 13);
    // Weights [M, C, k...] (Conv) and [C, M, k...] (ConvTranspose) that
    // usually fit the input's C channels.
    Shape w = h.SmallShape(rank);
    if (h.Next() % 4) w[1] = shape[1];
    Shape wt = h.SmallShape(rank);
    if (h.Next() % 4) wt[0] = shape[1];
    Attributes conv = MakeAttrs({{"strides", h.Geometry(spatial, 1)},
                                 {"dilations", h.Geometry(spatial, 1)},
                                 {"pads", h.Geometry(2 * spatial, 0)}});
    Try("Conv", conv, {In(x), Const(h.Floats(w))}, 13);
    conv.set("output_padding", h.Geometry(spatial, 0));
    if (h.Next() % 4 == 0) conv.set("output_shape", h.Geometry(spatial, 3));
    if (h.Next() % 4 == 0) conv.set("group", h.Int());
    Try("ConvTranspose", conv, {In(x), Const(h.Floats(wt))}, 13);
    Try("MaxPool",
        MakeAttrs({{"kernel_shape", h.Geometry(spatial, 1)},
                   {"strides", h.Geometry(spatial, 1)},
                   {"dilations", h.Geometry(spatial, 1)},
                   {"pads", h.Geometry(2 * spatial, 0)},
                   {"ceil_mode", h.Int()}}),
        {In(x)}, 13);
    Try("AveragePool",
        MakeAttrs({{"kernel_shape", h.Geometry(spatial, 1)},
                   {"strides", h.Geometry(spatial, 1)},
                   {"pads", h.Geometry(2 * spatial, 0)},
                   {"count_include_pad", h.Int()}}),
        {In(x)}, 13);
    const char* modes[] = {"nearest", "linear", "cubic"};
    const char* coords[] = {"half_pixel",
                            "pytorch_half_pixel",
                            "align_corners",
                            "asymmetric",
                            "tf_crop_and_resize",
                            "half_pixel_symmetric",
                            "tf_half_pixel_for_nearest"};
    Attributes resize =
        MakeAttrs({{"mode", std::string(modes[h.Next() % 3])},
                   {"coordinate_transformation_mode", std::string(coords[h.Next() % 7])},
                   {"cubic_coeff_a", h.Float()},
                   {"exclude_outside", h.Int()},
                   {"extrapolation_value", h.Float()}});
    std::vector<float> scales, roi;
    for (size_t d = 0; d < rank; ++d) scales.push_back(d < 2 ? 1.f : h.Float());
    for (size_t d = 0; d < 2 * rank; ++d) roi.push_back(h.Float());
    const Tensor roi_tensor = FloatTensor({static_cast<int64_t>(roi.size())}, roi);
    Try("Resize", resize,
        {In(x), Const(roi_tensor), Const(FloatTensor({static_cast<int64_t>(rank)}, scales))}, 19);
    std::vector<int64_t> sizes(shape.begin(), shape.begin() + 2);
    for (size_t d = 2; d < rank; ++d) sizes.push_back(h.Next() % 2 ? h.Int() : 1 + h.Next() % 7);
    Try("Resize", resize, {In(x), Const(roi_tensor), NoInput(), Const(h.IntTensor(sizes))}, 19);
  }
}

}  // namespace
}  // namespace serdab::engine::testing
