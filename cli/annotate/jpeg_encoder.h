// JpegEncoder: an RgbImage to JPEG bytes, with libavcodec's mjpeg encoder
// (full-range 4:2:0, what browsers and every decoder read).
//
// Keeps its encoder and scaler between pictures of the same size; a new size
// makes new ones. Not thread-safe: one per thread, or under a lock.
#ifndef SERDAB_CLI_ANNOTATE_JPEG_ENCODER_H_
#define SERDAB_CLI_ANNOTATE_JPEG_ENCODER_H_

#include <string>

#include "cli/annotate/padded_rgb.h"
#include "cli/ingest/rgb_image.h"
#include "enclave/common/status.h"

struct AVCodecContext;
struct AVFrame;
struct AVPacket;
struct SwsContext;

namespace serdab::annotate {

class JpegEncoder {
 public:
  // `qscale`: 2 (best, largest) to 31 (worst, smallest), as ffmpeg's -q:v.
  explicit JpegEncoder(int qscale = 5);
  ~JpegEncoder();
  JpegEncoder(const JpegEncoder&) = delete;
  JpegEncoder& operator=(const JpegEncoder&) = delete;

  // The JPEG file's bytes (FF D8 ... FF D9). InvalidArgument when the
  // picture's pixel count does not match its size.
  Result<std::string> Encode(const ingest::RgbImage& picture);

 private:
  Status Configure(int width, int height);
  void Reset();

  const int qscale_;
  AVCodecContext* encoder_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  SwsContext* scaler_ = nullptr;
  PaddedRgb padded_;  // what scaler_ reads
};

}  // namespace serdab::annotate

#endif  // SERDAB_CLI_ANNOTATE_JPEG_ENCODER_H_
