#include "cli/ingest/ffmpeg_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>

#include "cli/ingest/camera_reader.h"
#include "tests/ingest/test_media.h"

namespace serdab::ingest {
namespace {

TEST(IngestFfmpegLog, FfmpegLinesGoToTheIngestLogger) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = IngestLogger();
  logger->sinks().push_back(sink);
  SetIngestLogLevel(spdlog::level::err);

  testing::ScratchDir dir;
  ASSERT_TRUE(testing::MakeTestVideo(dir / "a.mp4", "64x48", 1, "libx264"));
  std::filesystem::resize_file(dir / "a.mp4", std::filesystem::file_size(dir / "a.mp4") / 2);
  EXPECT_FALSE(CameraReader::Open(dir / "a.mp4", ReaderOptions()).ok());

  SetIngestLogLevel(spdlog::level::critical);
  logger->sinks().pop_back();
  // The mov demuxer's complaint, as one whole line from the logger.
  const std::string text = captured.str();
  EXPECT_NE(text.find("ffmpeg: [mov,mp4"), std::string::npos) << text;
  EXPECT_NE(text.find("moov atom not found\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace serdab::ingest
