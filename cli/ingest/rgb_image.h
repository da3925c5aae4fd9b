// RgbImage: a decoded picture as packed 8-bit RGB, rows without padding.
#ifndef SERDAB_CLI_INGEST_RGB_IMAGE_H_
#define SERDAB_CLI_INGEST_RGB_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace serdab::ingest {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes: R, G, B

  uint8_t* at(int x, int y) {
    return pixels.data() + (static_cast<size_t>(y) * static_cast<size_t>(width) + x) * 3;
  }
  const uint8_t* at(int x, int y) const {
    return pixels.data() + (static_cast<size_t>(y) * static_cast<size_t>(width) + x) * 3;
  }
};

}  // namespace serdab::ingest

#endif  // SERDAB_CLI_INGEST_RGB_IMAGE_H_
