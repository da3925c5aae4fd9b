#include "cli/ingest/preprocessor.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <vector>

extern "C" {
#include <libavutil/frame.h>
}

namespace serdab::ingest {
namespace {

struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

// An RGB24 picture whose pixel (x, y) is colour(x, y).
FramePtr MakeRgbPicture(int width, int height,
                        const std::function<std::array<uint8_t, 3>(int, int)>& colour) {
  FramePtr f(av_frame_alloc());
  f->format = AV_PIX_FMT_RGB24;
  f->width = width;
  f->height = height;
  EXPECT_EQ(av_frame_get_buffer(f.get(), 0), 0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const auto c = colour(x, y);
      std::memcpy(f->data[0] + y * f->linesize[0] + 3 * x, c.data(), 3);
    }
  }
  return f;
}

// Each of the three planes of `tensor` holds one value everywhere.
void ExpectPlanes(const std::vector<float>& tensor, int height, int width,
                  const std::array<float, 3>& expected, float tolerance) {
  ASSERT_EQ(tensor.size(), static_cast<size_t>(3 * height * width));
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < height * width; ++i) {
      ASSERT_NEAR(tensor[c * height * width + i], expected[c], tolerance)
          << "channel " << c << " element " << i;
    }
  }
}

TEST(IngestPreprocessor, SolidColourNormalised) {
  PreprocessOptions options;
  options.height = 24;
  options.width = 32;
  options.mean = {0.485f, 0.456f, 0.406f};
  options.std = {0.229f, 0.224f, 0.225f};
  ASSERT_TRUE(ValidatePreprocessOptions(options).ok());
  Preprocessor pre(options);
  FramePtr picture = MakeRgbPicture(64, 48, [](int, int) {
    return std::array<uint8_t, 3>{200, 100, 50};
  });
  std::vector<float> tensor;
  ASSERT_TRUE(pre.Run(*picture, &tensor).ok());
  ExpectPlanes(tensor, 24, 32,
               {(200 / 255.f - 0.485f) / 0.229f, (100 / 255.f - 0.456f) / 0.224f,
                (50 / 255.f - 0.406f) / 0.225f},
               1e-4f);
}

TEST(IngestPreprocessor, BgrOrderSwapsChannels) {
  PreprocessOptions options;
  options.height = 8;
  options.width = 8;
  options.channel_order = ChannelOrder::kBgr;
  Preprocessor pre(options);
  FramePtr picture = MakeRgbPicture(16, 16, [](int, int) {
    return std::array<uint8_t, 3>{255, 0, 51};
  });
  std::vector<float> tensor;
  ASSERT_TRUE(pre.Run(*picture, &tensor).ok());
  ExpectPlanes(tensor, 8, 8, {0.2f, 0.f, 1.f}, 1e-5f);
}

TEST(IngestPreprocessor, YuvPictureConverted) {
  // Mid grey in limited-range BT.601 YUV is Y=126, U=V=128: RGB ~ (128,128,128).
  FramePtr f(av_frame_alloc());
  f->format = AV_PIX_FMT_YUV420P;
  f->width = 32;
  f->height = 32;
  ASSERT_EQ(av_frame_get_buffer(f.get(), 0), 0);
  std::memset(f->data[0], 126, f->linesize[0] * 32);
  std::memset(f->data[1], 128, f->linesize[1] * 16);
  std::memset(f->data[2], 128, f->linesize[2] * 16);
  PreprocessOptions options;
  options.height = 16;
  options.width = 16;
  Preprocessor pre(options);
  std::vector<float> tensor;
  ASSERT_TRUE(pre.Run(*f, &tensor).ok());
  ExpectPlanes(tensor, 16, 16, {128 / 255.f, 128 / 255.f, 128 / 255.f}, 3 / 255.f);
}

TEST(IngestPreprocessor, CenterCropKeepsTheMiddle) {
  // 200x100: red bands at the sides (50 px each), green in the middle 100x100.
  FramePtr picture = MakeRgbPicture(200, 100, [](int x, int) {
    return x < 50 || x >= 150 ? std::array<uint8_t, 3>{255, 0, 0}
                              : std::array<uint8_t, 3>{0, 255, 0};
  });
  PreprocessOptions options;
  options.height = 50;
  options.width = 50;
  options.center_crop = true;
  Preprocessor pre(options);
  std::vector<float> tensor;
  ASSERT_TRUE(pre.Run(*picture, &tensor).ok());
  // The crop is the green square, away from the bilinear seam at its edges.
  for (int y = 0; y < 50; ++y) {
    for (int x = 2; x < 48; ++x) {
      ASSERT_NEAR(tensor[y * 50 + x], 0.f, 0.02f) << x << "," << y;         // R
      ASSERT_NEAR(tensor[2500 + y * 50 + x], 1.f, 0.02f) << x << "," << y;  // G
    }
  }
  // Stretched instead, the red bands come back.
  options.center_crop = false;
  Preprocessor stretch(options);
  ASSERT_TRUE(stretch.Run(*picture, &tensor).ok());
  EXPECT_NEAR(tensor[0], 1.f, 0.02f);
}

TEST(IngestPreprocessor, LetterboxPadsTheBorders) {
  // 200x100 green into 64x64: scaled to 64x32, 16 rows of grey above and below.
  FramePtr picture = MakeRgbPicture(200, 100, [](int, int) {
    return std::array<uint8_t, 3>{0, 255, 0};
  });
  PreprocessOptions options;
  options.height = 64;
  options.width = 64;
  options.letterbox = true;
  ASSERT_TRUE(ValidatePreprocessOptions(options).ok());
  const ResizeGeometry g = ComputeResizeGeometry(200, 100, options);
  EXPECT_EQ(g.scaled_width, 64);
  EXPECT_EQ(g.scaled_height, 32);
  EXPECT_EQ(g.pad_left, 0);
  EXPECT_EQ(g.pad_top, 16);
  Preprocessor pre(options);
  std::vector<float> tensor;
  ASSERT_TRUE(pre.Run(*picture, &tensor).ok());
  const float grey = 114 / 255.f;
  for (int x = 0; x < 64; ++x) {
    for (const int y : {0, 15, 48, 63}) {
      ASSERT_NEAR(tensor[y * 64 + x], grey, 1e-5f) << x << "," << y;
      ASSERT_NEAR(tensor[4096 + y * 64 + x], grey, 1e-5f) << x << "," << y;
    }
    for (const int y : {17, 32, 46}) {
      ASSERT_NEAR(tensor[y * 64 + x], 0.f, 0.02f) << x << "," << y;
      ASSERT_NEAR(tensor[4096 + y * 64 + x], 1.f, 0.02f) << x << "," << y;
    }
  }
  // A second picture of another shape re-pads: 100x200 is pillarboxed.
  FramePtr tall = MakeRgbPicture(100, 200, [](int, int) {
    return std::array<uint8_t, 3>{0, 255, 0};
  });
  ASSERT_TRUE(pre.Run(*tall, &tensor).ok());
  EXPECT_NEAR(tensor[32 * 64 + 2], grey, 1e-5f);
  EXPECT_NEAR(tensor[4096 + 32 * 64 + 32], 1.f, 0.02f);

  options.center_crop = true;
  EXPECT_FALSE(ValidatePreprocessOptions(options).ok());
}

TEST(IngestPreprocessor, PixelsAreTheBytesRunNormalises) {
  // A gradient, cropped and in BGR order: Pixels gives the window Run
  // normalises, packed 1 x H x W x 3, so a model that normalises its own
  // input sees what Run would have given it.
  FramePtr picture = MakeRgbPicture(90, 60, [](int x, int y) {
    return std::array<uint8_t, 3>{static_cast<uint8_t>(2 * x), static_cast<uint8_t>(4 * y),
                                  static_cast<uint8_t>(x + y)};
  });
  PreprocessOptions options;
  options.height = 20;
  options.width = 30;
  options.center_crop = true;
  options.channel_order = ChannelOrder::kBgr;
  Preprocessor pre(options);
  std::vector<float> tensor;
  std::vector<uint8_t> pixels;
  ASSERT_TRUE(pre.Run(*picture, &tensor).ok());
  ASSERT_TRUE(pre.Pixels(*picture, &pixels).ok());
  ASSERT_EQ(pixels.size(), 20u * 30 * 3);
  std::vector<float> from_pixels(tensor.size());
  NormalizeToPlanar(pixels.data(), 30 * 3, 20, 30, Normalization{}, from_pixels.data());
  EXPECT_EQ(from_pixels, tensor);
  // Not a flat picture: the gradient survived.
  EXPECT_NE(pixels[0], pixels[3 * 29]);
}

TEST(IngestPreprocessor, ModelInputMapsBackToTheSource) {
  PreprocessOptions options;
  options.height = 64;
  options.width = 64;
  // Stretch: each axis its own scale.
  postprocess::InputMapping m = ModelInputMapping(200, 100, options);
  EXPECT_DOUBLE_EQ(m.scale_x, 0.32);
  EXPECT_DOUBLE_EQ(m.scale_y, 0.64);
  EXPECT_EQ(m.offset_x, 0);
  EXPECT_EQ(m.source_width, 200);
  // Letterbox: one scale, shifted down by the padding.
  options.letterbox = true;
  m = ModelInputMapping(200, 100, options);
  EXPECT_DOUBLE_EQ(m.scale_x, 0.32);
  EXPECT_DOUBLE_EQ(m.scale_y, 0.32);
  EXPECT_EQ(m.offset_y, 16);
  // Centre crop: shifted left by the crop's corner.
  options.letterbox = false;
  options.center_crop = true;
  m = ModelInputMapping(200, 100, options);
  EXPECT_DOUBLE_EQ(m.scale_y, 0.64);
  EXPECT_EQ(m.offset_x, -32);
}

TEST(IngestPreprocessor, PictureKeepsTheSourceSize) {
  FramePtr picture = MakeRgbPicture(30, 20, [](int x, int y) {
    return std::array<uint8_t, 3>{static_cast<uint8_t>(x * 8), static_cast<uint8_t>(y * 12), 7};
  });
  PreprocessOptions options;
  options.height = 8;
  options.width = 8;
  Preprocessor pre(options);
  RgbImage rgb;
  ASSERT_TRUE(pre.Picture(*picture, &rgb).ok());
  ASSERT_EQ(rgb.width, 30);
  ASSERT_EQ(rgb.height, 20);
  EXPECT_EQ(rgb.at(29, 19)[0], 29 * 8);
  EXPECT_EQ(rgb.at(29, 19)[1], 19 * 12);
  EXPECT_EQ(rgb.at(29, 19)[2], 7);
}

TEST(IngestPreprocessor, GeometryMatchesTorchvision) {
  PreprocessOptions options;
  options.height = 224;
  options.width = 224;
  options.center_crop = true;
  options.resize_short_side = 256;
  // transforms.Resize(256) on 640x480 gives 341x256; CenterCrop(224) starts
  // at round(58.5) = 58 and round(16) = 16.
  ResizeGeometry g = ComputeResizeGeometry(640, 480, options);
  EXPECT_EQ(g.scaled_width, 341);
  EXPECT_EQ(g.scaled_height, 256);
  EXPECT_EQ(g.crop_left, 58);
  EXPECT_EQ(g.crop_top, 16);
  // Portrait.
  g = ComputeResizeGeometry(480, 640, options);
  EXPECT_EQ(g.scaled_width, 256);
  EXPECT_EQ(g.scaled_height, 341);
  // Cover only: the short side becomes the crop.
  options.resize_short_side = 0;
  g = ComputeResizeGeometry(640, 480, options);
  EXPECT_EQ(g.scaled_height, 224);
  EXPECT_EQ(g.scaled_width, 299);
  EXPECT_EQ(g.crop_top, 0);
}

TEST(IngestPreprocessor, SizeChangeRecreatesScaler) {
  PreprocessOptions options;
  options.height = 10;
  options.width = 10;
  Preprocessor pre(options);
  std::vector<float> tensor;
  FramePtr small = MakeRgbPicture(20, 20, [](int, int) { return std::array<uint8_t, 3>{0, 0, 0}; });
  FramePtr large = MakeRgbPicture(64, 40, [](int, int) {
    return std::array<uint8_t, 3>{255, 255, 255};
  });
  ASSERT_TRUE(pre.Run(*small, &tensor).ok());
  ExpectPlanes(tensor, 10, 10, {0.f, 0.f, 0.f}, 1e-5f);
  ASSERT_TRUE(pre.Run(*large, &tensor).ok());
  ExpectPlanes(tensor, 10, 10, {1.f, 1.f, 1.f}, 1e-5f);
}

TEST(IngestPreprocessor, RejectsBadOptions) {
  PreprocessOptions options;
  options.std[1] = 0;
  Status s = ValidatePreprocessOptions(options);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("std[1]"), std::string::npos) << s.message();
  options = PreprocessOptions();
  options.width = 0;
  EXPECT_FALSE(ValidatePreprocessOptions(options).ok());
}

}  // namespace
}  // namespace serdab::ingest
