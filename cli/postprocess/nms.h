// Non-maximum suppression, as torchvision.ops.nms and batched_nms compute it.
//
// Greedy: the boxes are visited by score, highest first (ties: the lower
// index first; a NaN score counts as the highest, as torch.sort orders it),
// and a box is dropped when its IoU with an already kept box is greater than
// the threshold. IoU is computed in float32 the way torchvision's CPU kernel
// does (csrc/ops/cpu/nms_kernel.cpp), areas as (x2 - x1) * (y2 - y1), so that
// a box on the threshold goes the same way in both.
#ifndef SERDAB_CLI_POSTPROCESS_NMS_H_
#define SERDAB_CLI_POSTPROCESS_NMS_H_

#include <cstddef>
#include <vector>

namespace serdab::postprocess {

// Corners in pixels: (x1, y1) top-left, (x2, y2) bottom-right.
struct Box {
  float x1 = 0;
  float y1 = 0;
  float x2 = 0;
  float y2 = 0;
};

// The indices of the kept boxes, by decreasing score. `scores` has one score
// per box (the caller's contract).
std::vector<size_t> Nms(const std::vector<Box>& boxes, const std::vector<float>& scores,
                        double iou_threshold);

// NMS within each class only (`classes`, one per box): boxes of different
// classes never suppress each other. The indices of the kept boxes, by
// decreasing score across all classes, ties to the lower index, as
// torchvision.ops.batched_nms returns them.
std::vector<size_t> BatchedNms(const std::vector<Box>& boxes, const std::vector<float>& scores,
                               const std::vector<int>& classes, double iou_threshold);

}  // namespace serdab::postprocess

#endif  // SERDAB_CLI_POSTPROCESS_NMS_H_
