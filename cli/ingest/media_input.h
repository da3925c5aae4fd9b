// MediaInput: one libavformat input (a video file, an RTSP or HTTP stream, a
// V4L2 device) and a decoder for its best video stream.
#ifndef SERDAB_CLI_INGEST_MEDIA_INPUT_H_
#define SERDAB_CLI_INGEST_MEDIA_INPUT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "cli/ingest/frame_source.h"

struct AVCodecContext;
struct AVFormatContext;
struct AVPacket;

namespace serdab::ingest {

class MediaInput : public FrameSource {
 public:
  // `url` is passed to libavformat as is; `kind` chooses the options (TCP
  // transport and socket timeouts for RTSP, timeouts for HTTP, the v4l2
  // input format for devices).
  static Result<std::unique_ptr<MediaInput>> Open(SourceKind kind, const std::string& url,
                                                  const InputOptions& options);
  ~MediaInput() override;

  Result<DecodedPicture> Next() override;

 private:
  MediaInput(std::string url, const InputOptions& options);
  Status Connect(SourceKind kind);
  Status Error(const std::string& action, int av_error) const;
  double PtsSeconds();

  static int Interrupt(void* self);

  const std::string url_;
  const InputOptions options_;
  AVFormatContext* format_ = nullptr;
  AVCodecContext* decoder_ = nullptr;
  AVPacket* packet_ = nullptr;
  AVFrame* frame_ = nullptr;
  int stream_ = -1;
  double time_base_ = 0;     // seconds per pts tick
  double frame_period_ = 0;  // seconds, for pictures with no timestamp
  double last_pts_ = -1;
  int64_t packets_ = 0;
  bool draining_ = false;  // the demuxer has ended; the decoder gives back what it holds
};

}  // namespace serdab::ingest

#endif  // SERDAB_CLI_INGEST_MEDIA_INPUT_H_
