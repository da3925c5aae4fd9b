// Preprocessor: a decoded picture to the model's input tensor.
//
// What a deployment plan's `preprocess:` section asks for: resize to [h, w]
// (stretching, torchvision-style resize of the short side then centre crop,
// or a letterbox), channel order, and per-channel mean/std. swscale does the colour
// conversion and resize into packed RGB24/BGR24; Normalize (normalize.h) turns
// that into float NCHW. The scaler follows the pictures: a camera that changes
// resolution or pixel format mid-stream gets a new one, not an error.
//
// Not thread-safe: one per camera thread.
#ifndef SERDAB_CLI_INGEST_PREPROCESSOR_H_
#define SERDAB_CLI_INGEST_PREPROCESSOR_H_

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "cli/ingest/normalize.h"
#include "cli/ingest/rgb_image.h"
#include "cli/postprocess/postprocess_options.h"
#include "enclave/common/status.h"

struct AVFrame;
struct SwsContext;

namespace serdab::ingest {

enum class ChannelOrder { kRgb, kBgr };

struct PreprocessOptions {
  int height = 224;
  int width = 224;
  // On the [0, 1] scale, in the output channel order.
  std::array<float, 3> mean{0.f, 0.f, 0.f};
  std::array<float, 3> std{1.f, 1.f, 1.f};
  ChannelOrder channel_order = ChannelOrder::kRgb;
  // false: stretch the whole picture to height x width. true: keep the aspect
  // ratio, resize so the picture covers height x width, and cut out the centre.
  bool center_crop = false;
  // With center_crop: resize the short side to this first (torchvision's
  // Resize(s) then CenterCrop((h, w)), e.g. 256 for a 224 crop); 0 resizes
  // just enough to cover the crop. A side that would come out smaller than
  // the crop is enlarged to it.
  int resize_short_side = 0;
  // true (not with center_crop): keep the aspect ratio, resize so the whole
  // picture fits height x width, centre it and fill the borders with
  // `pad_colour` (YOLO's letterbox; 114 grey is what its exports expect).
  bool letterbox = false;
  std::array<uint8_t, 3> pad_colour{114, 114, 114};
};

// InvalidArgument naming the field when a size is not positive, a std is not
// > 0, or resize_short_side is negative.
Status ValidatePreprocessOptions(const PreprocessOptions& options);

struct ResizeGeometry {
  int scaled_width = 0;  // what swscale produces
  int scaled_height = 0;
  int crop_left = 0;  // where the output window starts in it
  int crop_top = 0;
  int pad_left = 0;  // letterbox: where it starts in the output
  int pad_top = 0;
};

// Where a source_width x source_height picture goes under `options`.
ResizeGeometry ComputeResizeGeometry(int source_width, int source_height,
                                     const PreprocessOptions& options);

// How a pixel of the model's input maps back to the source picture's, for
// boxes found in it (cli/postprocess/).
postprocess::InputMapping ModelInputMapping(int source_width, int source_height,
                                            const PreprocessOptions& options);

class Preprocessor {
 public:
  // `options` must be valid (ValidatePreprocessOptions).
  explicit Preprocessor(const PreprocessOptions& options);
  ~Preprocessor();
  Preprocessor(const Preprocessor&) = delete;
  Preprocessor& operator=(const Preprocessor&) = delete;

  // Writes picture's 1 x 3 x height x width tensor to `out` (resized to fit).
  // InvalidArgument if swscale cannot convert the picture's pixel format.
  Status Run(const AVFrame& picture, std::vector<float>* out);

  // As Run, for a model that normalises its own input: the resized picture's
  // 1 x height x width x 3 bytes, in the channel order, to `out` (mean and
  // std unused).
  Status Pixels(const AVFrame& picture, std::vector<uint8_t>* out);

  // Writes the picture itself, at its own size, as RGB to `out` (what results
  // are drawn on).
  Status Picture(const AVFrame& picture, RgbImage* out);

 private:
  Status Configure(const AVFrame& picture);
  // Resizes `picture` into packed_ and returns the model's window in it
  // (rows packed_stride_ bytes apart).
  Result<const uint8_t*> Resize(const AVFrame& picture);

  const PreprocessOptions options_;
  const Normalization norm_;
  SwsContext* scaler_ = nullptr;
  // What scaler_ was made for; any change re-creates it.
  std::array<int, 5> scaler_key_{-1, -1, -1, -1, -1};
  ResizeGeometry geometry_;
  // Packed pixels, rows padded to 64 bytes so swscale writes aligned rows.
  std::unique_ptr<uint8_t, void (*)(void*)> packed_{nullptr, nullptr};
  int packed_stride_ = 0;
  // Picture(): the source's size and format -> RGB24 at that size.
  SwsContext* picture_scaler_ = nullptr;
  std::array<int, 5> picture_key_{-1, -1, -1, -1, -1};
  std::vector<uint8_t> picture_buffer_;
};

}  // namespace serdab::ingest

#endif  // SERDAB_CLI_INGEST_PREPROCESSOR_H_
