#include "cli/ingest/preprocessor.h"

#include <algorithm>
#include <cmath>
#include <string>

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace serdab::ingest {
namespace {

// FFmpeg's JPEG decoders still output the deprecated yuvj* formats, which mean
// "yuv* at full range"; swscale wants the plain format and the range spelled
// out (and warns otherwise).
AVPixelFormat WithoutJpegRange(AVPixelFormat format, bool* full_range) {
  switch (format) {
    case AV_PIX_FMT_YUVJ420P:
      *full_range = true;
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      *full_range = true;
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      *full_range = true;
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      *full_range = true;
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      *full_range = true;
      return AV_PIX_FMT_YUV411P;
    default:
      return format;
  }
}

}  // namespace

Status ValidatePreprocessOptions(const PreprocessOptions& options) {
  if (options.height <= 0 || options.width <= 0) {
    return Status::InvalidArgument("preprocess.resize: expected a positive [height, width], got [" +
                                   std::to_string(options.height) + ", " +
                                   std::to_string(options.width) + "]");
  }
  for (int c = 0; c < 3; ++c) {
    if (!(options.std[c] > 0.f) || !std::isfinite(options.std[c])) {
      return Status::InvalidArgument("preprocess.std[" + std::to_string(c) +
                                     "]: expected a finite value > 0, got " +
                                     std::to_string(options.std[c]));
    }
    if (!std::isfinite(options.mean[c])) {
      return Status::InvalidArgument("preprocess.mean[" + std::to_string(c) +
                                     "]: expected a finite value");
    }
  }
  if (options.resize_short_side < 0) {
    return Status::InvalidArgument("preprocess.resize_short_side: expected >= 0, got " +
                                   std::to_string(options.resize_short_side));
  }
  return Status::Ok();
}

ResizeGeometry ComputeResizeGeometry(int source_width, int source_height,
                                     const PreprocessOptions& options) {
  ResizeGeometry g;
  if (!options.center_crop) {
    g.scaled_width = options.width;
    g.scaled_height = options.height;
    return g;
  }
  if (options.resize_short_side > 0) {
    // torchvision's Resize(int): the short side becomes s, the long side keeps
    // the aspect ratio, truncated.
    const int s = options.resize_short_side;
    if (source_width <= source_height) {
      g.scaled_width = s;
      g.scaled_height = static_cast<int>(static_cast<int64_t>(s) * source_height / source_width);
    } else {
      g.scaled_height = s;
      g.scaled_width = static_cast<int>(static_cast<int64_t>(s) * source_width / source_height);
    }
  } else {
    const double scale = std::max(static_cast<double>(options.width) / source_width,
                                  static_cast<double>(options.height) / source_height);
    g.scaled_width = static_cast<int>(std::lround(source_width * scale));
    g.scaled_height = static_cast<int>(std::lround(source_height * scale));
  }
  g.scaled_width = std::max(g.scaled_width, options.width);
  g.scaled_height = std::max(g.scaled_height, options.height);
  // torchvision's CenterCrop: int(round(d / 2.0)), Python's round-half-to-even
  // (the default floating-point rounding mode).
  g.crop_left = static_cast<int>(std::nearbyint((g.scaled_width - options.width) / 2.0));
  g.crop_top = static_cast<int>(std::nearbyint((g.scaled_height - options.height) / 2.0));
  return g;
}

Preprocessor::Preprocessor(const PreprocessOptions& options)
    : options_(options), norm_{options.mean, options.std} {}

Preprocessor::~Preprocessor() { sws_freeContext(scaler_); }

Status Preprocessor::Configure(const AVFrame& picture) {
  const std::array<int, 5> key{picture.width, picture.height, picture.format,
                               static_cast<int>(picture.color_range),
                               static_cast<int>(picture.colorspace)};
  if (scaler_ != nullptr && key == scaler_key_) return Status::Ok();

  sws_freeContext(scaler_);
  scaler_ = nullptr;
  scaler_key_ = {-1, -1, -1, -1, -1};
  bool full_range = picture.color_range == AVCOL_RANGE_JPEG;
  const AVPixelFormat source_format =
      WithoutJpegRange(static_cast<AVPixelFormat>(picture.format), &full_range);
  const AVPixelFormat packed_format =
      options_.channel_order == ChannelOrder::kRgb ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_BGR24;
  if (picture.width <= 0 || picture.height <= 0 || !sws_isSupportedInput(source_format)) {
    const char* name = av_get_pix_fmt_name(source_format);
    return Status::InvalidArgument("cannot convert a " + std::to_string(picture.width) + "x" +
                                   std::to_string(picture.height) + " " +
                                   (name != nullptr ? name : "unknown") + " picture to RGB");
  }
  geometry_ = ComputeResizeGeometry(picture.width, picture.height, options_);
  scaler_ = sws_getContext(picture.width, picture.height, source_format, geometry_.scaled_width,
                           geometry_.scaled_height, packed_format, SWS_BILINEAR, nullptr, nullptr,
                           nullptr);
  if (scaler_ == nullptr) {
    return Status::Internal("swscale could not make a scaler from " +
                            std::to_string(picture.width) + "x" + std::to_string(picture.height) +
                            " to " + std::to_string(geometry_.scaled_width) + "x" +
                            std::to_string(geometry_.scaled_height));
  }
  // SWS_CS_* values are AVColorSpace values; unknown ones fall back to BT.601.
  const int colorspace =
      picture.colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : picture.colorspace;
  const int* coefficients = sws_getCoefficients(colorspace);
  sws_setColorspaceDetails(scaler_, coefficients, full_range ? 1 : 0, coefficients, 1, 0, 1 << 16,
                           1 << 16);

  packed_stride_ = (geometry_.scaled_width * 3 + 63) & ~63;
  packed_ = std::unique_ptr<uint8_t, void (*)(void*)>(
      static_cast<uint8_t*>(
          av_malloc(static_cast<size_t>(packed_stride_) * geometry_.scaled_height)),
      av_free);
  if (packed_ == nullptr) {
    return Status::ResourceExhausted("no memory for a " + std::to_string(geometry_.scaled_width) +
                                     "x" + std::to_string(geometry_.scaled_height) + " picture");
  }
  scaler_key_ = key;
  return Status::Ok();
}

Status Preprocessor::Run(const AVFrame& picture, std::vector<float>* out) {
  SERDAB_RETURN_IF_ERROR(Configure(picture));
  uint8_t* const dst[4] = {packed_.get(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {packed_stride_, 0, 0, 0};
  sws_scale(scaler_, picture.data, picture.linesize, 0, picture.height, dst, dst_stride);
  out->resize(static_cast<size_t>(3) * options_.height * options_.width);
  const uint8_t* window = packed_.get() +
                          static_cast<ptrdiff_t>(geometry_.crop_top) * packed_stride_ +
                          static_cast<ptrdiff_t>(geometry_.crop_left) * 3;
  NormalizeToPlanar(window, packed_stride_, options_.height, options_.width, norm_, out->data());
  return Status::Ok();
}

}  // namespace serdab::ingest
