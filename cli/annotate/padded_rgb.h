// PaddedRgb: an RgbImage's pixels as swscale may read them.
//
// swscale's packed-RGB readers load whole SIMD vectors, up to 32 bytes past a
// picture's last pixel (measured with a guard page on Debian 12's FFmpeg
// 5.1), and RgbImage's vector ends at its last pixel. Pictures go to swscale
// through this copy with zeroed bytes after them: a memcpy, ~3% of a JPEG or
// H.264 encode of the same picture.
#ifndef SERDAB_CLI_ANNOTATE_PADDED_RGB_H_
#define SERDAB_CLI_ANNOTATE_PADDED_RGB_H_

#include <cstdint>
#include <cstring>
#include <vector>

#include "cli/ingest/rgb_image.h"

namespace serdab::annotate {

class PaddedRgb {
 public:
  // The picture's pixels, followed by kPadding zero bytes; valid until the
  // next call.
  const uint8_t* Copy(const ingest::RgbImage& picture) {
    buffer_.resize(picture.pixels.size() + kPadding);
    std::memcpy(buffer_.data(), picture.pixels.data(), picture.pixels.size());
    std::memset(buffer_.data() + picture.pixels.size(), 0, kPadding);
    return buffer_.data();
  }

 private:
  static constexpr size_t kPadding = 64;
  std::vector<uint8_t> buffer_;
};

}  // namespace serdab::annotate

#endif  // SERDAB_CLI_ANNOTATE_PADDED_RGB_H_
