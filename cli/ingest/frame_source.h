// FrameSource: decoded pictures, one after another, from one opened source.
//
// The part of a camera reader that knows FFmpeg's demuxers and decoders and
// nothing about threads, pacing or reconnecting. One FrameSource is one
// connection (or one pass over a file or image directory); the reader makes a
// new one to reconnect or loop.
#ifndef SERDAB_CLI_INGEST_FRAME_SOURCE_H_
#define SERDAB_CLI_INGEST_FRAME_SOURCE_H_

#include <functional>
#include <memory>
#include <string>

#include "cli/ingest/source.h"
#include "enclave/common/status.h"

struct AVFrame;

namespace serdab::ingest {

struct DecodedPicture {
  // Owned by the source, valid until its next Next(); null at end of stream.
  const AVFrame* picture = nullptr;
  // Presentation time in seconds, from the source's timestamps (or, where it
  // has none, counted at the nominal frame rate).
  double pts_seconds = 0;
};

struct InputOptions {
  // Socket timeout for network sources, so a server that stops answering
  // ends a blocking read instead of hanging it.
  double io_timeout_seconds = 20;
  // Polled by FFmpeg while it blocks; true aborts the open or read under way
  // (libavformat's interrupt callback). May be empty.
  std::function<bool()> interrupt;
  // Told about each packet or frame dropped because it failed to decode.
  std::function<void(const std::string& what)> on_corrupt;
  // Timestamps of an image directory's pictures are index / image_fps.
  double image_fps = 25;
  int decoder_threads = 1;
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;

  // The next decoded picture, or DecodedPicture{nullptr} at end of stream.
  // An error names the source and what went wrong; after an interrupt it is
  // the abort FFmpeg reports.
  virtual Result<DecodedPicture> Next() = 0;
};

// Opens `spec`: connects to a camera, opens a file and its decoder, or lists
// an image directory. Errors name the URL or path and what went wrong.
Result<std::unique_ptr<FrameSource>> OpenFrameSource(const SourceSpec& spec,
                                                     const InputOptions& options);

}  // namespace serdab::ingest

#endif  // SERDAB_CLI_INGEST_FRAME_SOURCE_H_
