#include "cli/postprocess/nms.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace serdab::postprocess {
namespace {

// Score order: NaN first (torch.sort's descending order), then higher
// scores, ties to the lower index.
struct ByScore {
  const std::vector<float>* scores;
  bool operator()(size_t a, size_t b) const {
    const float sa = (*scores)[a];
    const float sb = (*scores)[b];
    const bool a_nan = std::isnan(sa);
    const bool b_nan = std::isnan(sb);
    if (a_nan != b_nan) return a_nan;
    if (!a_nan && sa != sb) return sa > sb;
    return a < b;
  }
};

// Greedy NMS over `order` (indices into boxes, already in score order).
std::vector<size_t> Suppress(const std::vector<Box>& boxes, const std::vector<size_t>& order,
                             double iou_threshold) {
  std::vector<float> areas(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const Box& b = boxes[order[i]];
    areas[i] = (b.x2 - b.x1) * (b.y2 - b.y1);
  }
  std::vector<char> suppressed(order.size(), 0);
  std::vector<size_t> keep;
  for (size_t i = 0; i < order.size(); ++i) {
    if (suppressed[i]) continue;
    keep.push_back(order[i]);
    const Box& a = boxes[order[i]];
    for (size_t j = i + 1; j < order.size(); ++j) {
      if (suppressed[j]) continue;
      const Box& b = boxes[order[j]];
      const float w = std::max(0.f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
      const float h = std::max(0.f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
      const float inter = w * h;
      const float iou = inter / (areas[i] + areas[j] - inter);
      // float against double, as torchvision compares them.
      if (iou > iou_threshold) suppressed[j] = 1;
    }
  }
  return keep;
}

}  // namespace

std::vector<size_t> Nms(const std::vector<Box>& boxes, const std::vector<float>& scores,
                        double iou_threshold) {
  std::vector<size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), ByScore{&scores});
  return Suppress(boxes, order, iou_threshold);
}

std::vector<size_t> BatchedNms(const std::vector<Box>& boxes, const std::vector<float>& scores,
                               const std::vector<int>& classes, double iou_threshold) {
  // Each class on its own, as torchvision's vanilla path does (its
  // coordinate trick for small inputs shifts each class's boxes apart
  // instead, which can move an IoU by a rounding step), then all kept boxes
  // merged back into score order.
  std::vector<size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), ByScore{&scores});
  std::map<int, std::vector<size_t>> by_class;
  for (size_t i : order) by_class[classes[i]].push_back(i);
  std::vector<size_t> keep;
  for (const auto& [cls, members] : by_class) {
    std::vector<size_t> kept = Suppress(boxes, members, iou_threshold);
    keep.insert(keep.end(), kept.begin(), kept.end());
  }
  std::sort(keep.begin(), keep.end(), ByScore{&scores});
  return keep;
}

}  // namespace serdab::postprocess
