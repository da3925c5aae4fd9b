// The JPEG encoder alone: any size (odd ones too), one encoder across size
// changes, and colours that survive within JPEG's loss.
#include "cli/annotate/jpeg_encoder.h"

#include <gtest/gtest.h>

#include "tests/annotate/test_pictures.h"

namespace serdab::annotate {
namespace {

TEST(JpegEncoderTest, EncodesPicturesOfAnySizeOneAfterAnother) {
  JpegEncoder encoder;
  for (const auto& [width, height] : {std::pair{640, 480}, {321, 241}, {1, 1}, {640, 480}}) {
    const Rgb colour{20, 180, 60};
    auto jpeg = encoder.Encode(testing::Solid(width, height, colour));
    ASSERT_TRUE(jpeg.ok()) << width << "x" << height << ": " << jpeg.status().message();
    auto decoded = testing::DecodeJpeg(*jpeg);
    ASSERT_TRUE(decoded.ok()) << width << "x" << height;
    EXPECT_EQ(decoded->width, width);
    EXPECT_EQ(decoded->height, height);
    EXPECT_TRUE(testing::Near(testing::PixelAt(*decoded, width / 2, height / 2), colour, 12))
        << width << "x" << height;
  }
}

TEST(JpegEncoderTest, AMalformedPictureIsRefused) {
  JpegEncoder encoder;
  ingest::RgbImage picture = testing::Solid(4, 4, Rgb{});
  picture.pixels.resize(5);
  EXPECT_EQ(encoder.Encode(picture).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace serdab::annotate
