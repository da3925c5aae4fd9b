#include "cli/postprocess/segment.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace serdab::postprocess {
namespace {

TEST(SegmentTest, ArgmaxPerPixelAndAreasLargestFirst) {
  // 3 classes over a 2x3 picture, plane by plane.
  const std::vector<float> logits = {
      9, 0, 0, 0, 1, 1,  // class 0
      0, 5, 5, 5, 1, 0,  // class 1: pixel 4 ties class 0, which wins
      0, 0, 0, 0, 0, 2,  // class 2
  };
  auto seg = Segment({logits.data(), {1, 3, 2, 3}});
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  EXPECT_EQ(seg->width, 3);
  EXPECT_EQ(seg->height, 2);
  EXPECT_EQ(seg->class_map, (std::vector<uint16_t>{0, 1, 1, 1, 0, 2}));
  ASSERT_EQ(seg->areas.size(), 3u);
  EXPECT_EQ(seg->areas[0].class_id, 1);
  EXPECT_EQ(seg->areas[0].pixels, 3);
  EXPECT_DOUBLE_EQ(seg->areas[0].fraction, 0.5);
  EXPECT_EQ(seg->areas[1].class_id, 0);  // 2 pixels
  EXPECT_EQ(seg->areas[2].class_id, 2);  // 1 pixel
}

TEST(SegmentTest, EqualAreasGoToTheLowerClassAndAbsentClassesAreLeftOut) {
  const std::vector<float> logits = {1, 0, 0, 1, 0, 0};  // 3 classes, 1x2
  auto seg = Segment({logits.data(), {1, 3, 1, 2}});
  ASSERT_TRUE(seg.ok());
  ASSERT_EQ(seg->areas.size(), 2u);
  EXPECT_EQ(seg->areas[0].class_id, 0);
  EXPECT_EQ(seg->areas[1].class_id, 1);
}

TEST(SegmentTest, NanWinsItsPixelAsInTorchArgmax) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> logits = {1, nan, 5, 3, nan, nan};  // 3 classes, 1x2
  auto seg = Segment({logits.data(), {1, 3, 1, 2}});
  ASSERT_TRUE(seg.ok());
  // torch.tensor(logits).reshape(1, 3, 1, 2).argmax(1) is [[[2, 0]]].
  EXPECT_EQ(seg->class_map, (std::vector<uint16_t>{2, 0}));
}

TEST(SegmentTest, RejectsShapesThatAreNotOneImageOfClasses) {
  const std::vector<float> data(16, 0);
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{1, 2, 8},
                                         {2, 2, 2, 2},
                                         {1, 0, 4, 4},
                                         {1, 2, 0, 8},
                                         {1, 65537, 1, 1},
                                         {1, -1, 4, 4},
                                         {1, int64_t{1} << 40, int64_t{1} << 40, 1}}) {
    auto seg = Segment({data.data(), shape});
    ASSERT_FALSE(seg.ok()) << ShapeString(shape);
    EXPECT_EQ(seg.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(seg.status().message().find(ShapeString(shape)), std::string::npos)
        << seg.status().message();
  }
}

TEST(SegmentTest, TheLargestClassIdFitsTheMap) {
  std::vector<float> logits(65536, 0);
  logits.back() = 1;
  auto seg = Segment({logits.data(), {1, 65536, 1, 1}});
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->class_map[0], 65535);
}

}  // namespace
}  // namespace serdab::postprocess
