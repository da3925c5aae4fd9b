#include "cli/ingest/preprocessor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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

// A scaler from `picture`'s size and format to width x height of `format`,
// with the picture's colour range and matrix.
Result<SwsContext*> MakeScaler(const AVFrame& picture, int width, int height,
                               AVPixelFormat format) {
  bool full_range = picture.color_range == AVCOL_RANGE_JPEG;
  const AVPixelFormat source_format =
      WithoutJpegRange(static_cast<AVPixelFormat>(picture.format), &full_range);
  if (picture.width <= 0 || picture.height <= 0 || !sws_isSupportedInput(source_format)) {
    const char* name = av_get_pix_fmt_name(source_format);
    return Status::InvalidArgument("cannot convert a " + std::to_string(picture.width) + "x" +
                                   std::to_string(picture.height) + " " +
                                   (name != nullptr ? name : "unknown") + " picture to RGB");
  }
  SwsContext* scaler = sws_getContext(picture.width, picture.height, source_format, width, height,
                                      format, SWS_BILINEAR, nullptr, nullptr, nullptr);
  if (scaler == nullptr) {
    return Status::Internal("swscale could not make a scaler from " +
                            std::to_string(picture.width) + "x" + std::to_string(picture.height) +
                            " to " + std::to_string(width) + "x" + std::to_string(height));
  }
  // SWS_CS_* values are AVColorSpace values; unknown ones fall back to BT.601.
  const int colorspace =
      picture.colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : picture.colorspace;
  const int* coefficients = sws_getCoefficients(colorspace);
  sws_setColorspaceDetails(scaler, coefficients, full_range ? 1 : 0, coefficients, 1, 0, 1 << 16,
                           1 << 16);
  return scaler;
}

// swscale (FFmpeg 5.1) may write up to 32 bytes past the end of packed RGB
// output: every buffer it writes has this much room after its last row.
constexpr size_t kScalerSlack = 64;

std::array<int, 5> ScalerKey(const AVFrame& picture) {
  return {picture.width, picture.height, picture.format, static_cast<int>(picture.color_range),
          static_cast<int>(picture.colorspace)};
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
  if (options.letterbox && options.center_crop) {
    return Status::InvalidArgument(
        "preprocess.fit: a picture is either centre-cropped or letterboxed, not both");
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
  if (options.letterbox) {
    const double scale = std::min(static_cast<double>(options.width) / source_width,
                                  static_cast<double>(options.height) / source_height);
    g.scaled_width =
        std::clamp(static_cast<int>(std::lround(source_width * scale)), 1, options.width);
    g.scaled_height =
        std::clamp(static_cast<int>(std::lround(source_height * scale)), 1, options.height);
    g.pad_left = (options.width - g.scaled_width) / 2;
    g.pad_top = (options.height - g.scaled_height) / 2;
    return g;
  }
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

postprocess::InputMapping ModelInputMapping(int source_width, int source_height,
                                            const PreprocessOptions& options) {
  const ResizeGeometry g = ComputeResizeGeometry(source_width, source_height, options);
  postprocess::InputMapping m;
  m.scale_x = static_cast<double>(g.scaled_width) / source_width;
  m.scale_y = static_cast<double>(g.scaled_height) / source_height;
  m.offset_x = g.pad_left - g.crop_left;
  m.offset_y = g.pad_top - g.crop_top;
  m.source_width = source_width;
  m.source_height = source_height;
  return m;
}

Preprocessor::Preprocessor(const PreprocessOptions& options)
    : options_(options), norm_{options.mean, options.std} {}

Preprocessor::~Preprocessor() {
  sws_freeContext(scaler_);
  sws_freeContext(picture_scaler_);
}

Status Preprocessor::Configure(const AVFrame& picture) {
  const std::array<int, 5> key = ScalerKey(picture);
  if (scaler_ != nullptr && key == scaler_key_) return Status::Ok();

  sws_freeContext(scaler_);
  scaler_ = nullptr;
  scaler_key_ = {-1, -1, -1, -1, -1};
  const AVPixelFormat packed_format =
      options_.channel_order == ChannelOrder::kRgb ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_BGR24;
  geometry_ = ComputeResizeGeometry(picture.width, picture.height, options_);
  SERDAB_ASSIGN_OR_RETURN(
      scaler_, MakeScaler(picture, geometry_.scaled_width, geometry_.scaled_height, packed_format));

  // A letterbox is the output's size, its borders painted once here; swscale
  // writes the picture into its middle every frame.
  const int packed_width = options_.letterbox ? options_.width : geometry_.scaled_width;
  const int packed_height = options_.letterbox ? options_.height : geometry_.scaled_height;
  packed_stride_ = (packed_width * 3 + 63) & ~63;
  packed_ = std::unique_ptr<uint8_t, void (*)(void*)>(
      static_cast<uint8_t*>(
          av_malloc(static_cast<size_t>(packed_stride_) * packed_height + kScalerSlack)),
      av_free);
  if (packed_ == nullptr) {
    return Status::ResourceExhausted("no memory for a " + std::to_string(packed_width) + "x" +
                                     std::to_string(packed_height) + " picture");
  }
  if (options_.letterbox) {
    std::array<uint8_t, 3> pad = options_.pad_colour;
    if (options_.channel_order == ChannelOrder::kBgr) std::swap(pad[0], pad[2]);
    for (int y = 0; y < packed_height; ++y) {
      uint8_t* row = packed_.get() + static_cast<ptrdiff_t>(y) * packed_stride_;
      for (int x = 0; x < packed_width; ++x) std::copy(pad.begin(), pad.end(), row + 3 * x);
    }
  }
  scaler_key_ = key;
  return Status::Ok();
}

Result<const uint8_t*> Preprocessor::Resize(const AVFrame& picture) {
  SERDAB_RETURN_IF_ERROR(Configure(picture));
  uint8_t* const dst[4] = {packed_.get() +
                               static_cast<ptrdiff_t>(geometry_.pad_top) * packed_stride_ +
                               static_cast<ptrdiff_t>(geometry_.pad_left) * 3,
                           nullptr, nullptr, nullptr};
  const int dst_stride[4] = {packed_stride_, 0, 0, 0};
  sws_scale(scaler_, picture.data, picture.linesize, 0, picture.height, dst, dst_stride);
  return packed_.get() + static_cast<ptrdiff_t>(geometry_.crop_top) * packed_stride_ +
         static_cast<ptrdiff_t>(geometry_.crop_left) * 3;
}

Status Preprocessor::Run(const AVFrame& picture, std::vector<float>* out) {
  SERDAB_ASSIGN_OR_RETURN(const uint8_t* window, Resize(picture));
  out->resize(static_cast<size_t>(3) * options_.height * options_.width);
  NormalizeToPlanar(window, packed_stride_, options_.height, options_.width, norm_, out->data());
  return Status::Ok();
}

Status Preprocessor::Pixels(const AVFrame& picture, std::vector<uint8_t>* out) {
  SERDAB_ASSIGN_OR_RETURN(const uint8_t* window, Resize(picture));
  const size_t row = static_cast<size_t>(3) * options_.width;
  out->resize(row * options_.height);
  for (int y = 0; y < options_.height; ++y) {
    std::memcpy(out->data() + row * y, window + static_cast<ptrdiff_t>(y) * packed_stride_, row);
  }
  return Status::Ok();
}

Status Preprocessor::Picture(const AVFrame& picture, RgbImage* out) {
  const std::array<int, 5> key = ScalerKey(picture);
  if (picture_scaler_ == nullptr || key != picture_key_) {
    sws_freeContext(picture_scaler_);
    picture_scaler_ = nullptr;
    picture_key_ = {-1, -1, -1, -1, -1};
    SERDAB_ASSIGN_OR_RETURN(picture_scaler_,
                            MakeScaler(picture, picture.width, picture.height, AV_PIX_FMT_RGB24));
    picture_key_ = key;
  }
  const size_t row = static_cast<size_t>(picture.width) * 3;
  const size_t bytes = row * picture.height;
  // Through a buffer with room after its end (kScalerSlack): RgbImage's ends
  // at its last pixel.
  picture_buffer_.resize(bytes + kScalerSlack);
  uint8_t* const dst[4] = {picture_buffer_.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {static_cast<int>(row), 0, 0, 0};
  sws_scale(picture_scaler_, picture.data, picture.linesize, 0, picture.height, dst, dst_stride);
  out->width = picture.width;
  out->height = picture.height;
  out->pixels.assign(picture_buffer_.begin(), picture_buffer_.begin() + bytes);
  return Status::Ok();
}

}  // namespace serdab::ingest
