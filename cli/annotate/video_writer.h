// VideoWriter: annotated pictures to a video file, with FFmpeg.
//
// The container comes from the file name (.mp4, .mkv, .mov, .avi, ...), as
// the ffmpeg CLI guesses it. Video is H.264 from libx264 when this build of
// libavcodec has it and the container takes H.264 (Debian's does), else the
// container's default encoder; yuv420p where the encoder takes it. Frame i
// is stamped i / fps.
//
// yuv420p needs even sizes: an odd width or height is rounded down, and the
// pictures lose their last column or row. A picture of another size than the
// one given to Open() is scaled to the file's size, not refused (a camera
// that changes resolution mid-stream).
//
//   SERDAB_ASSIGN_OR_RETURN(auto writer, VideoWriter::Open("out.mp4", 640, 480, 25));
//   for (...) SERDAB_RETURN_IF_ERROR(writer->Write(picture));
//   SERDAB_RETURN_IF_ERROR(writer->Close());  // or lose the last frames' errors
//
// Not thread-safe: one writer per thread.
#ifndef SERDAB_CLI_ANNOTATE_VIDEO_WRITER_H_
#define SERDAB_CLI_ANNOTATE_VIDEO_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "cli/annotate/padded_rgb.h"
#include "cli/ingest/rgb_image.h"
#include "enclave/common/status.h"

struct AVCodecContext;
struct AVFormatContext;
struct AVFrame;
struct AVPacket;
struct AVStream;
struct SwsContext;

namespace serdab::annotate {

class VideoWriter {
 public:
  // Creates `path` (replacing a file there) and writes the header. Fails
  // naming the path when the name has no known container extension, the
  // directory does not exist or is not writable, a size is below 2 or fps
  // is not positive, or no encoder fits the container.
  static Result<std::unique_ptr<VideoWriter>> Open(const std::string& path, int width, int height,
                                                   double fps);
  // Close()s; its errors are lost (call Close() to see them).
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // Encodes one picture. InvalidArgument when its pixel count does not match
  // its size; FailedPrecondition after Close() or a failed write.
  Status Write(const ingest::RgbImage& picture);

  // Flushes the encoder's delayed frames, writes the trailer and closes the
  // file. Idempotent: a second call returns the first one's Status.
  Status Close();

  int width() const { return width_; }    // of the file: even
  int height() const { return height_; }  // of the file: even
  int64_t frames_written() const { return frames_; }
  // The encoder chosen, e.g. "libx264".
  const std::string& codec_name() const { return codec_name_; }

 private:
  explicit VideoWriter(std::string path);
  Status Start(int width, int height, double fps);
  Status Error(const std::string& action, int av_error) const;
  Status Convert(const ingest::RgbImage& picture);
  // Sends `frame` (null: flush) and writes the packets that come out.
  Status Encode(const AVFrame* frame);

  const std::string path_;
  int width_ = 0;
  int height_ = 0;
  int source_width_ = 0;  // the size given to Open(): cropped, not scaled
  int source_height_ = 0;
  int64_t frames_ = 0;
  std::string codec_name_;
  AVFormatContext* format_ = nullptr;
  AVCodecContext* encoder_ = nullptr;
  AVStream* stream_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  SwsContext* scaler_ = nullptr;
  PaddedRgb padded_;      // what scaler_ reads
  int scaler_width_ = 0;  // the picture size scaler_ was made for
  int scaler_height_ = 0;
  bool header_written_ = false;
  bool closed_ = false;
  Status failed_;  // the first error; writes stop there
};

}  // namespace serdab::annotate

#endif  // SERDAB_CLI_ANNOTATE_VIDEO_WRITER_H_
