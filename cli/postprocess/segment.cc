#include "cli/postprocess/segment.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace serdab::postprocess {

Result<Segmentation> Segment(const TensorView& logits) {
  SERDAB_RETURN_IF_ERROR(ElementCount(logits.shape, "the segmentation output").status());
  const auto& shape = logits.shape;
  constexpr int64_t kMaxClasses = int64_t{std::numeric_limits<uint16_t>::max()} + 1;
  if (shape.size() != 4 || shape[0] != 1 || shape[1] < 1 || shape[1] > kMaxClasses ||
      shape[2] < 1 || shape[3] < 1 || shape[2] > std::numeric_limits<int>::max() ||
      shape[3] > std::numeric_limits<int>::max()) {
    return Status::InvalidArgument("the segmentation output has shape " + ShapeString(shape) +
                                   "; expected [1, C, H, W] with 1 <= C <= " +
                                   std::to_string(kMaxClasses) + " classes and H, W >= 1");
  }
  if (logits.data == nullptr) {
    return Status::InvalidArgument("the segmentation output has shape " + ShapeString(shape) +
                                   " but no data");
  }
  const int64_t classes = shape[1];
  const int64_t pixels = shape[2] * shape[3];  // no overflow: ElementCount checked C * H * W
  Segmentation out;
  out.height = static_cast<int>(shape[2]);
  out.width = static_cast<int>(shape[3]);
  out.class_map.assign(static_cast<size_t>(pixels), 0);
  // Class by class over whole planes, reading memory in order; `best` holds
  // each pixel's maximum so far, and stays NaN once it is.
  std::vector<float> best(logits.data, logits.data + pixels);
  for (int64_t c = 1; c < classes; ++c) {
    const float* plane = logits.data + c * pixels;
    for (int64_t p = 0; p < pixels; ++p) {
      const float v = plane[p];
      if (v > best[p] || (std::isnan(v) && !std::isnan(best[p]))) {
        best[p] = v;
        out.class_map[p] = static_cast<uint16_t>(c);
      }
    }
  }
  std::vector<int64_t> counts(static_cast<size_t>(classes), 0);
  for (uint16_t c : out.class_map) ++counts[c];
  for (int64_t c = 0; c < classes; ++c) {
    if (counts[c] == 0) continue;
    out.areas.push_back({static_cast<int>(c), counts[c],
                         static_cast<double>(counts[c]) / static_cast<double>(pixels)});
  }
  std::stable_sort(out.areas.begin(), out.areas.end(),
                   [](const ClassArea& a, const ClassArea& b) { return a.pixels > b.pixels; });
  return out;
}

}  // namespace serdab::postprocess
