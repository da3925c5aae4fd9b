#include "cli/ingest/normalize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace serdab::ingest {
namespace {

TEST(IngestNormalize, KnownValues) {
  // Two pixels, RGB: (255, 0, 51) and (0, 255, 102).
  const uint8_t in[6] = {255, 0, 51, 0, 255, 102};
  const Normalization norm{{0.5f, 0.25f, 0.f}, {0.5f, 0.25f, 0.2f}};
  std::vector<float> out(6);
  NormalizeToPlanar(in, 6, 1, 2, norm, out.data());
  // Planar: R of both pixels, then G, then B.
  const float expected[6] = {1.f, -1.f, -1.f, 3.f, 1.f, 2.f};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(out[i], expected[i], 1e-5f) << i;
}

TEST(IngestNormalize, FastMatchesReference) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  const Normalization norm{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  // Odd widths exercise the vector loop's remainder; the stride adds padding.
  for (const auto& [height, width] : {std::pair{1, 1}, {3, 17}, {224, 224}, {5, 333}}) {
    const ptrdiff_t stride = width * 3 + 13;
    std::vector<uint8_t> in(stride * height);
    for (auto& b : in) b = static_cast<uint8_t>(byte(rng));
    std::vector<float> fast(3 * height * width), reference(3 * height * width);
    NormalizeToPlanar(in.data(), stride, height, width, norm, fast.data());
    NormalizeToPlanarReference(in.data(), stride, height, width, norm, reference.data());
    for (size_t i = 0; i < fast.size(); ++i) {
      ASSERT_NEAR(fast[i], reference[i], 1e-5f * (1 + std::fabs(reference[i])))
          << height << "x" << width << " at " << i;
    }
  }
}

}  // namespace
}  // namespace serdab::ingest
