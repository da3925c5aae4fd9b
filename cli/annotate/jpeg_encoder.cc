#include "cli/annotate/jpeg_encoder.h"

#include <algorithm>

#include "cli/ingest/ffmpeg_log.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

namespace serdab::annotate {
JpegEncoder::JpegEncoder(int qscale) : qscale_(std::clamp(qscale, 2, 31)) {}

JpegEncoder::~JpegEncoder() { Reset(); }

void JpegEncoder::Reset() {
  sws_freeContext(scaler_);
  scaler_ = nullptr;
  av_packet_free(&packet_);
  av_frame_free(&frame_);
  avcodec_free_context(&encoder_);
}

Status JpegEncoder::Configure(int width, int height) {
  if (encoder_ != nullptr && encoder_->width == width && encoder_->height == height) {
    return Status::Ok();
  }
  Reset();
  ingest::IngestLogger();  // FFmpeg's lines go to the quiet logger, not stderr
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  if (codec == nullptr) return Status::Unimplemented("this FFmpeg build has no mjpeg encoder");
  encoder_ = avcodec_alloc_context3(codec);
  frame_ = av_frame_alloc();
  packet_ = av_packet_alloc();
  if (encoder_ == nullptr || frame_ == nullptr || packet_ == nullptr) {
    return Status::ResourceExhausted("no memory for a " + size + " JPEG encoder");
  }
  encoder_->width = width;
  encoder_->height = height;
  // yuvj420p: JPEG's full-range 4:2:0, the layout every decoder takes.
  encoder_->pix_fmt = AV_PIX_FMT_YUVJ420P;
  encoder_->color_range = AVCOL_RANGE_JPEG;
  encoder_->time_base = AVRational{1, 25};
  // A fixed quantiser: each picture stands alone, there is no rate to meet.
  encoder_->flags |= AV_CODEC_FLAG_QSCALE;
  encoder_->global_quality = FF_QP2LAMBDA * qscale_;
  int rc = avcodec_open2(encoder_, codec, nullptr);
  if (rc < 0) {
    const std::string why = ingest::AvErrorString(rc);
    Reset();
    return Status::Internal("cannot open a " + size + " mjpeg encoder: " + why);
  }
  frame_->format = AV_PIX_FMT_YUVJ420P;
  frame_->width = width;
  frame_->height = height;
  frame_->color_range = AVCOL_RANGE_JPEG;
  frame_->pts = 0;
  rc = av_frame_get_buffer(frame_, 0);
  // swscale wants the plain format with the range spelled out, not yuvj*.
  // SWS_FULL_CHR_H_INP: without it, chroma is averaged over pixel pairs read
  // straight from the input, and an odd width's last pair reaches past the row.
  scaler_ = rc < 0
                ? nullptr
                : sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P,
                                 SWS_BILINEAR | SWS_FULL_CHR_H_INP, nullptr, nullptr, nullptr);
  if (scaler_ == nullptr) {
    Reset();
    return Status::ResourceExhausted("no memory for a " + size + " JPEG encoder's frame");
  }
  const int* bt601 = sws_getCoefficients(SWS_CS_ITU601);
  sws_setColorspaceDetails(scaler_, bt601, 1, bt601, 1, 0, 1 << 16, 1 << 16);
  return Status::Ok();
}

Result<std::string> JpegEncoder::Encode(const ingest::RgbImage& picture) {
  const size_t expected =
      static_cast<size_t>(std::max(picture.width, 0)) * std::max(picture.height, 0) * 3;
  if (picture.width <= 0 || picture.height <= 0 || picture.pixels.size() != expected) {
    return Status::InvalidArgument("cannot encode a " + std::to_string(picture.width) + "x" +
                                   std::to_string(picture.height) + " picture of " +
                                   std::to_string(picture.pixels.size()) + " bytes (expected " +
                                   std::to_string(expected) + ", packed RGB24) as JPEG");
  }
  SERDAB_RETURN_IF_ERROR(Configure(picture.width, picture.height));
  int rc = av_frame_make_writable(frame_);
  const uint8_t* const src[4] = {padded_.Copy(picture), nullptr, nullptr, nullptr};
  const int src_stride[4] = {picture.width * 3, 0, 0, 0};
  if (rc >= 0) {
    sws_scale(scaler_, src, src_stride, 0, picture.height, frame_->data, frame_->linesize);
    frame_->quality = encoder_->global_quality;
    ++frame_->pts;
    rc = avcodec_send_frame(encoder_, frame_);
  }
  if (rc >= 0) rc = avcodec_receive_packet(encoder_, packet_);
  if (rc < 0) {
    return Status::Internal("cannot encode a " + std::to_string(picture.width) + "x" +
                            std::to_string(picture.height) + " JPEG: " + ingest::AvErrorString(rc));
  }
  std::string bytes(reinterpret_cast<const char*>(packet_->data), packet_->size);
  av_packet_unref(packet_);
  return bytes;
}

}  // namespace serdab::annotate
