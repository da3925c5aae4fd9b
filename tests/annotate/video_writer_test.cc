// The video writer end to end: annotated pictures go in, a file comes out
// that ffprobe counts every frame of and libavcodec decodes back to the same
// boxes (within H.264's loss), in order.
#include "cli/annotate/video_writer.h"

#include <gtest/gtest.h>

#include "cli/annotate/annotator.h"
#include "tests/annotate/test_pictures.h"

namespace serdab::annotate {
namespace {

using testing::Near;
using testing::PixelAt;
using testing::Probe;
using testing::ScratchDir;
using testing::Solid;

constexpr Rgb kGrey{128, 128, 128};

// Box i is 8 pixels thick at x = 40 + 6i, y = 50, 160 x 120.
ingest::RgbImage Frame(Annotator& annotator, int i, int width = 320, int height = 240) {
  ingest::RgbImage picture = Solid(width, height, kGrey);
  postprocess::Detection d;
  d.x = 40 + 6 * i;
  d.y = 50;
  d.width = 160;
  d.height = 120;
  d.class_id = 14;
  d.score = 0.9;
  EXPECT_TRUE(annotator.DrawDetections({d}, &picture).ok());
  return picture;
}

std::unique_ptr<Annotator> ThickBoxes() {
  AnnotatorOptions options;
  options.box_thickness = 8;
  return std::move(Annotator::Create(options)).value();
}

TEST(VideoWriterTest, EveryFrameComesOutWithItsBox) {
  ScratchDir dir;
  const std::string path = dir / "boxes.mp4";
  auto annotator = ThickBoxes();
  constexpr int kFrames = 15;
  {
    auto writer = VideoWriter::Open(path, 320, 240, 10);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    EXPECT_EQ((*writer)->codec_name(), "libx264");
    for (int i = 0; i < kFrames; ++i) {
      ASSERT_TRUE((*writer)->Write(Frame(*annotator, i)).ok());
    }
    const Status closed = (*writer)->Close();
    ASSERT_TRUE(closed.ok()) << closed.message();
    EXPECT_EQ((*writer)->frames_written(), kFrames);
  }
  EXPECT_EQ(Probe(path), "h264,320,240," + std::to_string(kFrames));

  auto decoded = testing::DecodeVideo(path);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  ASSERT_EQ(decoded->size(), static_cast<size_t>(kFrames));
  const Rgb blue = ClassColour(14);
  for (int i = 0; i < kFrames; ++i) {
    const ingest::RgbImage& picture = (*decoded)[i];
    ASSERT_EQ(picture.width, 320);
    ASSERT_EQ(picture.height, 240);
    const int left = 40 + 6 * i;
    // The middle of the left and right edges and of the bottom edge.
    EXPECT_TRUE(Near(PixelAt(picture, left + 4, 110), blue, 48)) << "frame " << i;
    EXPECT_TRUE(Near(PixelAt(picture, left + 155, 110), blue, 48)) << "frame " << i;
    EXPECT_TRUE(Near(PixelAt(picture, left + 80, 165), blue, 48)) << "frame " << i;
    // Inside and outside the box, the grey.
    EXPECT_TRUE(Near(PixelAt(picture, left + 80, 110), kGrey, 24)) << "frame " << i;
    EXPECT_TRUE(Near(PixelAt(picture, left + 80, 200), kGrey, 24)) << "frame " << i;
  }
}

TEST(VideoWriterTest, OddSizesAreRoundedDownAndOtherSizesScaled) {
  ScratchDir dir;
  const std::string path = dir / "odd.mkv";
  auto annotator = ThickBoxes();
  auto writer = VideoWriter::Open(path, 321, 241, 25);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  EXPECT_EQ((*writer)->width(), 320);
  EXPECT_EQ((*writer)->height(), 240);
  ASSERT_TRUE((*writer)->Write(Frame(*annotator, 0, 321, 241)).ok());
  // A camera that changed resolution: scaled to the file's size.
  ASSERT_TRUE((*writer)->Write(Frame(*annotator, 0, 640, 480)).ok());
  ASSERT_TRUE((*writer)->Write(Frame(*annotator, 0, 160, 120)).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_EQ(Probe(path), "h264,320,240,3");
}

TEST(VideoWriterTest, AMissingDirectoryIsNotFoundNamingThePath) {
  ScratchDir dir;
  const std::string path = dir / "no/such/dir/out.mp4";
  auto writer = VideoWriter::Open(path, 320, 240, 10);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), Status::Code::kNotFound);
  EXPECT_NE(writer.status().message().find(path), std::string::npos) << writer.status().message();
}

TEST(VideoWriterTest, ANameWithoutAContainerIsRefused) {
  ScratchDir dir;
  auto writer = VideoWriter::Open(dir / "out.notavideo", 320, 240, 10);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(writer.status().message().find("out.notavideo"), std::string::npos);
  EXPECT_EQ(VideoWriter::Open(dir / "a.mp4", 1, 240, 10).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(VideoWriter::Open(dir / "a.mp4", 320, 240, 0).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(VideoWriterTest, WritesAfterCloseAndMalformedPicturesAreRefused) {
  ScratchDir dir;
  auto writer = VideoWriter::Open(dir / "a.mp4", 64, 48, 10);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  ingest::RgbImage bad = Solid(64, 48, kGrey);
  bad.pixels.resize(10);
  EXPECT_EQ((*writer)->Write(bad).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE((*writer)->Write(Solid(64, 48, kGrey)).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_TRUE((*writer)->Close().ok());
  EXPECT_EQ((*writer)->Write(Solid(64, 48, kGrey)).code(), Status::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace serdab::annotate
