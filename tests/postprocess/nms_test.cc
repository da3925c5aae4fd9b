#include "cli/postprocess/nms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace serdab::postprocess {
namespace {

TEST(NmsTest, SuppressesOnlyAboveTheThreshold) {
  // The first two overlap by IoU 50 / 150 = 1/3.
  const std::vector<Box> boxes = {{0, 0, 10, 10}, {5, 0, 15, 10}, {20, 20, 30, 30}};
  const std::vector<float> scores = {0.9f, 0.8f, 0.7f};
  EXPECT_EQ(Nms(boxes, scores, 0.3), (std::vector<size_t>{0, 2}));
  EXPECT_EQ(Nms(boxes, scores, 0.34), (std::vector<size_t>{0, 1, 2}));
  // IoU 1 is never above 1.
  EXPECT_EQ(Nms({{0, 0, 1, 1}, {0, 0, 1, 1}}, {0.5f, 0.6f}, 1.0), (std::vector<size_t>{1, 0}));
}

TEST(NmsTest, TiesGoToTheLowerIndexAndNanScoresFirst) {
  const std::vector<Box> boxes = {{0, 0, 10, 10}, {0, 0, 10, 10}, {50, 50, 60, 60}};
  EXPECT_EQ(Nms(boxes, {0.5f, 0.5f, 0.5f}, 0.5), (std::vector<size_t>{0, 2}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Nms(boxes, {0.9f, nan, 0.1f}, 0.5), (std::vector<size_t>{1, 2}));
}

TEST(NmsTest, EmptyAndDegenerateBoxes) {
  EXPECT_TRUE(Nms({}, {}, 0.5).empty());
  EXPECT_TRUE(BatchedNms({}, {}, {}, 0.5).empty());
  // Zero-area boxes: 0 / 0 is NaN, never above the threshold, so both stay.
  EXPECT_EQ(Nms({{1, 1, 1, 1}, {1, 1, 1, 1}}, {0.9f, 0.8f}, 0.5), (std::vector<size_t>{0, 1}));
}

TEST(NmsTest, BatchedNmsKeepsClassesApart) {
  const std::vector<Box> boxes = {{0, 0, 10, 10}, {0, 0, 10, 10}, {1, 0, 11, 10}};
  EXPECT_EQ(BatchedNms(boxes, {0.9f, 0.95f, 0.8f}, {0, 1, 0}, 0.5), (std::vector<size_t>{1, 0}));
}

// The plain definition: one greedy pass over all boxes in score order, a box
// suppressing only boxes of its class.
std::vector<size_t> ReferenceBatchedNms(const std::vector<Box>& boxes,
                                        const std::vector<float>& scores,
                                        const std::vector<int>& classes, double iou_threshold) {
  std::vector<size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<bool> suppressed(boxes.size(), false);
  std::vector<size_t> keep;
  for (size_t i = 0; i < order.size(); ++i) {
    const size_t a = order[i];
    if (suppressed[a]) continue;
    keep.push_back(a);
    const Box& p = boxes[a];
    const float area_p = (p.x2 - p.x1) * (p.y2 - p.y1);
    for (size_t j = i + 1; j < order.size(); ++j) {
      const size_t b = order[j];
      if (suppressed[b] || classes[b] != classes[a]) continue;
      const Box& q = boxes[b];
      const float w = std::max(0.f, std::min(p.x2, q.x2) - std::max(p.x1, q.x1));
      const float h = std::max(0.f, std::min(p.y2, q.y2) - std::max(p.y1, q.y1));
      const float inter = w * h;
      const float area_q = (q.x2 - q.x1) * (q.y2 - q.y1);
      if (inter / (area_p + area_q - inter) > iou_threshold) suppressed[b] = true;
    }
  }
  return keep;
}

TEST(NmsTest, BatchedNmsMatchesTheOnePassDefinition) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> coord(0, 100);
  std::uniform_real_distribution<float> size(1, 30);
  std::uniform_int_distribution<int> tier(0, 9);  // coarse scores: ties
  for (int round = 0; round < 20; ++round) {
    const size_t n = 50 + 20 * static_cast<size_t>(round);
    std::vector<Box> boxes;
    std::vector<float> scores;
    std::vector<int> classes;
    for (size_t i = 0; i < n; ++i) {
      const float x = coord(rng);
      const float y = coord(rng);
      boxes.push_back({x, y, x + size(rng), y + size(rng)});
      scores.push_back(static_cast<float>(tier(rng)) / 10);
      classes.push_back(tier(rng) % (1 + round % 5));
    }
    for (double iou : {0.2, 0.5, 0.8}) {
      EXPECT_EQ(BatchedNms(boxes, scores, classes, iou),
                ReferenceBatchedNms(boxes, scores, classes, iou))
          << "n " << n << ", iou " << iou;
    }
  }
}

}  // namespace
}  // namespace serdab::postprocess
