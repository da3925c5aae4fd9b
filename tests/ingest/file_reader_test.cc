// CameraReader on files and image directories the ffmpeg CLI writes.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "cli/ingest/camera_reader.h"
#include "cli/ingest/media_input.h"
#include "tests/ingest/reader_probe.h"
#include "tests/ingest/test_media.h"

namespace serdab::ingest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::MakeTestVideo;
using testing::ReaderProbe;
using testing::ScratchDir;

ReaderOptions SmallTensor() {
  ReaderOptions options;
  options.preprocess.height = 16;
  options.preprocess.width = 16;
  return options;
}

// Reads `path` to its end: every frame, numbered in order, then end of file.
void ExpectEveryFrame(const std::string& path, size_t expected, int width, int height) {
  auto reader = CameraReader::Open(path, SmallTensor());
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(/*keep_tensors=*/true), probe.Events());
  ASSERT_TRUE((*reader)->Wait().ok());
  const std::vector<Frame> frames = probe.frames();
  ASSERT_EQ(frames.size(), expected) << path;
  double last_pts = -1;
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].number, static_cast<int64_t>(i));
    EXPECT_GT(frames[i].pts_seconds, last_pts);
    last_pts = frames[i].pts_seconds;
    EXPECT_EQ(frames[i].source_width, width);
    EXPECT_EQ(frames[i].source_height, height);
    EXPECT_EQ(frames[i].shape, (std::array<int64_t, 4>{1, 3, 16, 16}));
    EXPECT_EQ(frames[i].tensor.size(), 3u * 16 * 16);
  }
  EXPECT_NEAR(frames.back().pts_seconds, (expected - 1) / 25.0, 0.01);
  EXPECT_EQ(probe.Count(EventKind::kEndOfFile), 1);
  EXPECT_EQ(probe.Count(EventKind::kCorruptSkipped), 0);
}

TEST(IngestFileReader, Mp4EveryFrameInOrder) {
  ScratchDir dir;
  ASSERT_TRUE(MakeTestVideo(dir / "a.mp4", "64x48", 2, "libx264"));
  ExpectEveryFrame(dir / "a.mp4", 50, 64, 48);
}

TEST(IngestFileReader, MkvEveryFrameInOrder) {
  ScratchDir dir;
  ASSERT_TRUE(MakeTestVideo(dir / "a.mkv", "320x240", 2, "libx264"));
  ExpectEveryFrame(dir / "a.mkv", 50, 320, 240);
}

TEST(IngestFileReader, AviEveryFrameInOrder) {
  ScratchDir dir;
  ASSERT_TRUE(MakeTestVideo(dir / "a.avi", "64x48", 2, "mjpeg"));
  ExpectEveryFrame(dir / "a.avi", 50, 64, 48);
}

TEST(IngestFileReader, LoopContinuesNumbersAndTimestamps) {
  ScratchDir dir;
  ASSERT_TRUE(MakeTestVideo(dir / "a.mp4", "64x48", 0.4, "libx264"));  // 10 frames
  ReaderOptions options = SmallTensor();
  options.loop = true;
  auto reader = CameraReader::Open(dir / "a.mp4", options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  ASSERT_TRUE(probe.WaitForFrames(35, seconds(10)));
  (*reader)->Stop();
  EXPECT_TRUE((*reader)->Wait().ok());
  const std::vector<Frame> frames = probe.frames();
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].number, static_cast<int64_t>(i));
    EXPECT_NEAR(frames[i].pts_seconds, i / 25.0, 0.01) << i;
  }
  EXPECT_GE(probe.Count(EventKind::kEndOfFile), 3);
}

TEST(IngestFileReader, RealtimeTakesAboutTheDuration) {
  ScratchDir dir;
  ASSERT_TRUE(MakeTestVideo(dir / "a.mp4", "64x48", 1, "libx264"));
  ReaderOptions options = SmallTensor();
  options.realtime = true;
  auto reader = CameraReader::Open(dir / "a.mp4", options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  const auto start = std::chrono::steady_clock::now();
  (*reader)->Start(probe.Frames(), probe.Events());
  ASSERT_TRUE((*reader)->Wait().ok());
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(probe.frame_count(), 25u);
  // 25 frames at 25 fps: the last is due 0.96 s after the first.
  EXPECT_GT(took, 0.8);
  EXPECT_LT(took, 3.0);
}

TEST(IngestFileReader, StopEndsALongRealtimeFilePromptly) {
  ScratchDir dir;
  ASSERT_TRUE(MakeTestVideo(dir / "a.mp4", "64x48", 0.4, "libx264"));
  ReaderOptions options = SmallTensor();
  options.realtime = true;
  options.loop = true;
  auto reader = CameraReader::Open(dir / "a.mp4", options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  ASSERT_TRUE(probe.WaitForFrames(3, seconds(5)));
  const auto start = std::chrono::steady_clock::now();
  (*reader)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
  EXPECT_TRUE((*reader)->Wait().ok());
}

TEST(IngestFileReader, ImageDirectoryInNameOrder) {
  ScratchDir dir;
  // Three pictures of different sizes, so that each frame says which it is;
  // written out of name order, JPEG and PNG mixed, with a file to ignore.
  ASSERT_TRUE(testing::Ffmpeg(
      {"-f", "lavfi", "-i", "testsrc=size=40x30", "-frames:v", "1", dir / "img_002.png"}));
  ASSERT_TRUE(testing::Ffmpeg(
      {"-f", "lavfi", "-i", "testsrc=size=20x10", "-frames:v", "1", dir / "img_001.jpg"}));
  ASSERT_TRUE(testing::Ffmpeg(
      {"-f", "lavfi", "-i", "testsrc=size=60x50", "-frames:v", "1", dir / "img_010.jpg"}));
  std::ofstream(dir / "notes.txt") << "not a picture";
  ReaderOptions options = SmallTensor();
  options.image_fps = 5;
  auto reader = CameraReader::Open(dir.path(), options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ((*reader)->source().kind, SourceKind::kImageDirectory);
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  ASSERT_TRUE((*reader)->Wait().ok());
  const std::vector<Frame> frames = probe.frames();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].source_width, 20);
  EXPECT_EQ(frames[1].source_width, 40);
  EXPECT_EQ(frames[2].source_width, 60);
  EXPECT_NEAR(frames[2].pts_seconds, 0.4, 1e-9);
  EXPECT_EQ(probe.Count(EventKind::kResolutionChanged), 2);
}

TEST(IngestFileReader, SolidColourFileGivesExpectedTensor) {
  ScratchDir dir;
  // format=rgb24 inside the graph: the colour source would otherwise go
  // through YUV and come out one level off.
  ASSERT_TRUE(testing::Ffmpeg({"-f", "lavfi", "-i", "color=c=0xC86432:size=32x32,format=rgb24",
                               "-frames:v", "1", dir / "solid.png"}));
  ReaderOptions options = SmallTensor();
  options.preprocess.mean = {0.5f, 0.5f, 0.5f};
  options.preprocess.std = {0.5f, 0.5f, 0.5f};
  auto reader = CameraReader::Open(dir.path(), options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(/*keep_tensors=*/true), probe.Events());
  ASSERT_TRUE((*reader)->Wait().ok());
  ASSERT_EQ(probe.frame_count(), 1u);
  const std::vector<float> t = probe.frames()[0].tensor;
  const float expected[3] = {(0xC8 / 255.f - 0.5f) / 0.5f, (0x64 / 255.f - 0.5f) / 0.5f,
                             (0x32 / 255.f - 0.5f) / 0.5f};
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 256; ++i) ASSERT_NEAR(t[c * 256 + i], expected[c], 1e-5f) << c << " " << i;
  }
  EXPECT_EQ(probe.frames()[0].picture, nullptr);  // only when asked for
}

TEST(IngestFileReader, KeepPictureDeliversTheSourcePicture) {
  ScratchDir dir;
  ASSERT_TRUE(testing::Ffmpeg({"-f", "lavfi", "-i", "color=c=0xC86432:size=40x30,format=rgb24",
                               "-frames:v", "1", dir / "solid.png"}));
  ReaderOptions options = SmallTensor();
  options.keep_picture = true;
  auto reader = CameraReader::Open(dir.path(), options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  ASSERT_TRUE((*reader)->Wait().ok());
  ASSERT_EQ(probe.frame_count(), 1u);
  const std::shared_ptr<const RgbImage> picture = probe.frames()[0].picture;
  ASSERT_NE(picture, nullptr);
  ASSERT_EQ(picture->width, 40);
  ASSERT_EQ(picture->height, 30);
  EXPECT_EQ(picture->at(39, 29)[0], 0xC8);
  EXPECT_EQ(picture->at(39, 29)[1], 0x64);
  EXPECT_EQ(picture->at(39, 29)[2], 0x32);
}

TEST(IngestFileReader, ResolutionChangeMidFile) {
  ScratchDir dir;
  ASSERT_TRUE(MakeTestVideo(dir / "small.avi", "64x48", 0.4, "mjpeg"));
  ASSERT_TRUE(MakeTestVideo(dir / "large.avi", "96x72", 0.4, "mjpeg"));
  std::ofstream(dir / "list.txt") << "file '" << dir / "small.avi"
                                  << "'\nfile '" << dir / "large.avi"
                                  << "'\n";
  ASSERT_TRUE(testing::Ffmpeg(
      {"-f", "concat", "-safe", "0", "-i", dir / "list.txt", "-c", "copy", dir / "both.mkv"}));
  auto reader = CameraReader::Open(dir / "both.mkv", SmallTensor());
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(/*keep_tensors=*/true), probe.Events());
  ASSERT_TRUE((*reader)->Wait().ok());
  const std::vector<Frame> frames = probe.frames();
  ASSERT_EQ(frames.size(), 20u);
  EXPECT_EQ(frames[0].source_width, 64);
  EXPECT_EQ(frames[19].source_width, 96);
  EXPECT_EQ(frames[19].source_height, 72);
  for (const Frame& f : frames) EXPECT_EQ(f.tensor.size(), 3u * 16 * 16);
  ASSERT_EQ(probe.Count(EventKind::kResolutionChanged), 1);
  for (const Event& e : probe.events()) {
    if (e.kind != EventKind::kResolutionChanged) continue;
    EXPECT_EQ(e.width, 96);
    EXPECT_EQ(e.height, 72);
    EXPECT_NE(e.message.find("64x48"), std::string::npos) << e.message;
  }
}

TEST(IngestFileReader, TruncatedMp4IsAClearError) {
  ScratchDir dir;
  ASSERT_TRUE(MakeTestVideo(dir / "a.mp4", "64x48", 2, "libx264"));
  // The index (moov) is at the end: without it nothing can be read.
  std::filesystem::resize_file(dir / "a.mp4", std::filesystem::file_size(dir / "a.mp4") / 2);
  auto reader = CameraReader::Open(dir / "a.mp4", SmallTensor());
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find(dir / "a.mp4"), std::string::npos)
      << reader.status().message();
}

TEST(IngestFileReader, CorruptMiddleIsSkippedAndReported) {
  ScratchDir dir;
  ASSERT_TRUE(MakeTestVideo(dir / "a.mkv", "320x240", 2, "libx264"));
  {
    std::fstream file(dir / "a.mkv", std::ios::in | std::ios::out | std::ios::binary);
    const auto size = std::filesystem::file_size(dir / "a.mkv");
    for (auto at : {size / 3, size / 2}) {
      file.seekp(static_cast<std::streamoff>(at));
      for (int i = 0; i < 3000; ++i) file.put(static_cast<char>(i * 37));
    }
  }
  auto reader = CameraReader::Open(dir / "a.mkv", SmallTensor());
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  const Status status = (*reader)->Wait();
  // Either the reader dropped what it could not decode and went on, or it
  // stopped with an error naming the file; it did not crash or hang.
  if (status.ok()) {
    EXPECT_GT(
        probe.Count(EventKind::kCorruptSkipped) + (50 - static_cast<int>(probe.frame_count())), 0);
    EXPECT_EQ(probe.Count(EventKind::kEndOfFile), 1);
  } else {
    EXPECT_NE(status.message().find(dir / "a.mkv"), std::string::npos) << status.message();
  }
  EXPECT_LT(probe.frame_count(), 50u);
}

TEST(IngestFileReader, MissingFileIsNotFound) {
  auto reader = CameraReader::Open("/nonexistent/video.mp4", SmallTensor());
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Status::Code::kNotFound);
  EXPECT_NE(reader.status().message().find("/nonexistent/video.mp4"), std::string::npos);
}

TEST(IngestFileReader, MissingDeviceIsNotFound) {
  auto reader = CameraReader::Open("/dev/video99", SmallTensor());
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Status::Code::kNotFound);
  EXPECT_NE(reader.status().message().find("V4L2 device /dev/video99"), std::string::npos)
      << reader.status().message();
}

// libavdevice is loaded when the first V4L2 source opens: a character
// device that is no camera reaches FFmpeg's video4linux2 input and fails
// there, not for want of that input.
TEST(IngestFileReader, AV4l2SourceLoadsTheCaptureDevices) {
  auto input = MediaInput::Open(SourceKind::kV4l2, "/dev/null", InputOptions{});
  ASSERT_FALSE(input.ok());
  EXPECT_EQ(input.status().message().find("no video4linux2 input"), std::string::npos)
      << input.status().message();
  EXPECT_NE(input.status().message().find("/dev/null: cannot open"), std::string::npos)
      << input.status().message();
}

TEST(IngestFileReader, EmptyImageDirectoryIsNotFound) {
  ScratchDir dir;
  auto reader = CameraReader::Open(dir.path(), SmallTensor());
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Status::Code::kNotFound);
  EXPECT_NE(reader.status().message().find(dir.path()), std::string::npos);
}

TEST(IngestFileReader, NotAVideoIsAClearError) {
  ScratchDir dir;
  std::ofstream(dir / "junk.mp4") << std::string(4096, 'x');
  auto reader = CameraReader::Open(dir / "junk.mp4", SmallTensor());
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find(dir / "junk.mp4"), std::string::npos);
}

TEST(IngestFileReader, UnknownSchemeIsInvalid) {
  auto reader = CameraReader::Open("ftp://camera/x", SmallTensor());
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace serdab::ingest
