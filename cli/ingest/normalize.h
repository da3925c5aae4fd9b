// Normalize: packed 8-bit three-channel pixels to normalised float planes.
//
// The last step of preprocessing, after swscale has resized the picture and
// put its channels in the model's order (RGB24 or BGR24):
//
//   out[c * height * width + y * width + x] = (in[y * stride + 3 * x + c] / 255 - mean[c]) / std[c]
//
// i.e. the NCHW layout of one image, with torchvision's convention that mean
// and std are on the [0, 1] scale and given in the output channel order.
// NormalizeToPlanar runs once per pixel per frame, so it is written for the
// compiler's auto-vectoriser; NormalizeToPlanarReference is the plain
// definition it is tested against.
#ifndef SERDAB_CLI_INGEST_NORMALIZE_H_
#define SERDAB_CLI_INGEST_NORMALIZE_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace serdab::ingest {

struct Normalization {
  std::array<float, 3> mean{0.f, 0.f, 0.f};
  std::array<float, 3> std{1.f, 1.f, 1.f};  // each > 0
};

// `in` holds `height` rows of `width` packed pixels, rows `stride` bytes
// apart; `out` has room for 3 * height * width floats and does not overlap it.
void NormalizeToPlanar(const uint8_t* in, ptrdiff_t stride, int height, int width,
                       const Normalization& norm, float* out);

void NormalizeToPlanarReference(const uint8_t* in, ptrdiff_t stride, int height, int width,
                                const Normalization& norm, float* out);

}  // namespace serdab::ingest

#endif  // SERDAB_CLI_INGEST_NORMALIZE_H_
