#include "cli/annotate/video_writer.h"

#include <cerrno>
#include <cmath>

#include "cli/ingest/ffmpeg_log.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

namespace serdab::annotate {
namespace {

// H.264 from libx264 where both the build and the container allow it: what
// every player opens. Otherwise the container's own default.
const AVCodec* ChooseEncoder(const AVOutputFormat* container) {
  if (avformat_query_codec(container, AV_CODEC_ID_H264, FF_COMPLIANCE_NORMAL) == 1) {
    if (const AVCodec* x264 = avcodec_find_encoder_by_name("libx264")) return x264;
  }
  return container->video_codec == AV_CODEC_ID_NONE ? nullptr
                                                    : avcodec_find_encoder(container->video_codec);
}

AVPixelFormat ChoosePixelFormat(const AVCodec* codec) {
  if (codec->pix_fmts == nullptr) return AV_PIX_FMT_YUV420P;
  for (const AVPixelFormat* f = codec->pix_fmts; *f != AV_PIX_FMT_NONE; ++f) {
    if (*f == AV_PIX_FMT_YUV420P) return *f;
  }
  return codec->pix_fmts[0];
}

}  // namespace

VideoWriter::VideoWriter(std::string path) : path_(std::move(path)) {}

VideoWriter::~VideoWriter() {
  Close();
  sws_freeContext(scaler_);
  av_packet_free(&packet_);
  av_frame_free(&frame_);
  avcodec_free_context(&encoder_);
  if (format_ != nullptr && !(format_->oformat->flags & AVFMT_NOFILE)) avio_closep(&format_->pb);
  avformat_free_context(format_);
}

Result<std::unique_ptr<VideoWriter>> VideoWriter::Open(const std::string& path, int width,
                                                       int height, double fps) {
  ingest::IngestLogger();  // FFmpeg's (and x264's) lines go to the quiet logger, not stderr
  std::unique_ptr<VideoWriter> writer(new VideoWriter(path));
  SERDAB_RETURN_IF_ERROR(writer->Start(width, height, fps));
  return writer;
}

Status VideoWriter::Error(const std::string& action, int av_error) const {
  std::string message = path_ + ": cannot " + action + ": " + ingest::AvErrorString(av_error);
  if (av_error == AVERROR(ENOENT)) {
    return Status::NotFound(std::move(message) + " (does its directory exist?)");
  }
  if (av_error == AVERROR(EACCES)) return Status::PermissionDenied(std::move(message));
  if (av_error == AVERROR(ENOMEM)) return Status::ResourceExhausted(std::move(message));
  return Status::IoError(std::move(message));
}

Status VideoWriter::Start(int width, int height, double fps) {
  if (width < 2 || height < 2) {
    return Status::InvalidArgument(path_ + ": cannot write " + std::to_string(width) + "x" +
                                   std::to_string(height) +
                                   " video (expected at least 2x2 pixels)");
  }
  if (!(fps > 0) || !std::isfinite(fps) || fps > 1000) {
    return Status::InvalidArgument(path_ + ": frame rate " + std::to_string(fps) +
                                   " (expected frames per second in (0, 1000])");
  }
  source_width_ = width;
  source_height_ = height;
  width_ = width & ~1;
  height_ = height & ~1;

  if (avformat_alloc_output_context2(&format_, nullptr, nullptr, path_.c_str()) < 0 ||
      format_ == nullptr) {
    return Status::InvalidArgument(path_ +
                                   ": cannot tell the container from the file name (expected an "
                                   "extension such as .mp4, .mkv, .mov or .avi)");
  }
  const AVCodec* codec = ChooseEncoder(format_->oformat);
  if (codec == nullptr) {
    return Status::Unimplemented(path_ + ": this FFmpeg build has no video encoder for the " +
                                 format_->oformat->name + " container");
  }
  codec_name_ = codec->name;
  stream_ = avformat_new_stream(format_, nullptr);
  encoder_ = avcodec_alloc_context3(codec);
  frame_ = av_frame_alloc();
  packet_ = av_packet_alloc();
  if (stream_ == nullptr || encoder_ == nullptr || frame_ == nullptr || packet_ == nullptr) {
    return Status::ResourceExhausted(path_ + ": no memory for an encoder");
  }

  // 29.97 and friends become 30000/1001.
  const AVRational rate = av_d2q(fps, 1001000);
  encoder_->width = width_;
  encoder_->height = height_;
  encoder_->pix_fmt = ChoosePixelFormat(codec);
  encoder_->time_base = av_inv_q(rate);
  encoder_->framerate = rate;
  // A key frame every two seconds, so that a player can seek in a long
  // recording and a file cut short still plays from near its end.
  encoder_->gop_size = std::max(1, static_cast<int>(std::lround(2 * fps)));
  // swscale's RGB to YUV is BT.601, limited range; say so in the stream.
  encoder_->color_range = AVCOL_RANGE_MPEG;
  encoder_->colorspace = AVCOL_SPC_SMPTE170M;
  encoder_->color_primaries = AVCOL_PRI_SMPTE170M;
  encoder_->color_trc = AVCOL_TRC_SMPTE170M;
  if (format_->oformat->flags & AVFMT_GLOBALHEADER) {
    encoder_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
  // The client writes while it streams: x264's default preset ("medium")
  // costs several times as much CPU for a smaller file nobody asked for.
  if (codec_name_ == "libx264") av_opt_set(encoder_->priv_data, "preset", "veryfast", 0);
  int rc = avcodec_open2(encoder_, codec, nullptr);
  if (rc < 0) return Error("open the " + codec_name_ + " encoder", rc);
  rc = avcodec_parameters_from_context(stream_->codecpar, encoder_);
  if (rc < 0) return Error("configure the video stream", rc);
  stream_->time_base = encoder_->time_base;
  stream_->avg_frame_rate = rate;

  frame_->format = encoder_->pix_fmt;
  frame_->width = width_;
  frame_->height = height_;
  rc = av_frame_get_buffer(frame_, 0);
  if (rc < 0) return Error("allocate a frame", rc);

  if (!(format_->oformat->flags & AVFMT_NOFILE)) {
    rc = avio_open(&format_->pb, path_.c_str(), AVIO_FLAG_WRITE);
    if (rc < 0) return Error("create the file", rc);
  }
  rc = avformat_write_header(format_, nullptr);
  if (rc < 0) return Error("write the " + std::string(format_->oformat->name) + " header", rc);
  header_written_ = true;
  return Status::Ok();
}

Status VideoWriter::Convert(const ingest::RgbImage& picture) {
  // The size given to Open() is cropped to the even size (swscale reads the
  // top-left width_ x height_ of it); any other size is scaled.
  const bool crop = picture.width == source_width_ && picture.height == source_height_;
  const int in_width = crop ? width_ : picture.width;
  const int in_height = crop ? height_ : picture.height;
  if (scaler_ == nullptr || scaler_width_ != in_width || scaler_height_ != in_height) {
    sws_freeContext(scaler_);
    scaler_width_ = scaler_height_ = 0;
    // SWS_FULL_CHR_H_INP: see jpeg_encoder.cc (odd widths' last chroma column).
    scaler_ =
        sws_getContext(in_width, in_height, AV_PIX_FMT_RGB24, width_, height_, encoder_->pix_fmt,
                       SWS_BILINEAR | SWS_FULL_CHR_H_INP, nullptr, nullptr, nullptr);
    if (scaler_ == nullptr) {
      return Status::Internal(path_ + ": swscale could not make a scaler from " +
                              std::to_string(in_width) + "x" + std::to_string(in_height) +
                              " RGB to " + std::to_string(width_) + "x" + std::to_string(height_));
    }
    const int* bt601 = sws_getCoefficients(SWS_CS_ITU601);
    sws_setColorspaceDetails(scaler_, bt601, 1, bt601, 0, 0, 1 << 16, 1 << 16);
    scaler_width_ = in_width;
    scaler_height_ = in_height;
  }
  const int rc = av_frame_make_writable(frame_);
  if (rc < 0) return Error("reuse the frame", rc);
  const uint8_t* const src[4] = {padded_.Copy(picture), nullptr, nullptr, nullptr};
  const int src_stride[4] = {picture.width * 3, 0, 0, 0};
  sws_scale(scaler_, src, src_stride, 0, in_height, frame_->data, frame_->linesize);
  return Status::Ok();
}

Status VideoWriter::Encode(const AVFrame* frame) {
  int rc = avcodec_send_frame(encoder_, frame);
  if (rc < 0) return Error("encode frame " + std::to_string(frames_), rc);
  while (true) {
    rc = avcodec_receive_packet(encoder_, packet_);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return Status::Ok();
    if (rc < 0) return Error("encode frame " + std::to_string(frames_), rc);
    av_packet_rescale_ts(packet_, encoder_->time_base, stream_->time_base);
    packet_->stream_index = stream_->index;
    // Takes the packet's data and leaves it blank.
    rc = av_interleaved_write_frame(format_, packet_);
    if (rc < 0) return Error("write", rc);
  }
}

Status VideoWriter::Write(const ingest::RgbImage& picture) {
  if (closed_) return Status::FailedPrecondition(path_ + ": written after Close()");
  if (!failed_.ok()) {
    return Status::FailedPrecondition(path_ +
                                      ": not written after an earlier error: " + failed_.message());
  }
  const size_t expected =
      static_cast<size_t>(std::max(picture.width, 0)) * std::max(picture.height, 0) * 3;
  if (picture.width <= 0 || picture.height <= 0 || picture.pixels.size() != expected) {
    return Status::InvalidArgument(path_ + ": cannot write a " + std::to_string(picture.width) +
                                   "x" + std::to_string(picture.height) + " picture of " +
                                   std::to_string(picture.pixels.size()) + " bytes (expected " +
                                   std::to_string(expected) + ", packed RGB24)");
  }
  failed_ = Convert(picture);
  if (!failed_.ok()) return failed_;
  frame_->pts = frames_;
  failed_ = Encode(frame_);
  if (!failed_.ok()) return failed_;
  ++frames_;
  return Status::Ok();
}

Status VideoWriter::Close() {
  if (closed_) return failed_;
  closed_ = true;
  if (!header_written_) return failed_;
  if (failed_.ok()) failed_ = Encode(nullptr);
  // The trailer (mp4's index) is what makes the frames written so far
  // playable, so it is written after a failed frame too.
  const int rc = av_write_trailer(format_);
  if (rc < 0 && failed_.ok()) failed_ = Error("write the trailer", rc);
  if (!(format_->oformat->flags & AVFMT_NOFILE)) {
    const int closed = avio_closep(&format_->pb);
    if (closed < 0 && failed_.ok()) failed_ = Error("close the file", closed);
  }
  return failed_;
}

}  // namespace serdab::annotate
