#include "cli/postprocess/classify.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace serdab::postprocess {
namespace {

TEST(ClassifyTest, TopKWithSoftmaxScoresAndTiesToTheLowerClass) {
  const std::vector<float> logits = {1, 3, 2, 3, 0};
  auto top = ClassifyTopK({logits.data(), {1, 5}}, 3);
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  ASSERT_EQ(top->size(), 3u);
  EXPECT_EQ((*top)[0].class_id, 1);
  EXPECT_EQ((*top)[1].class_id, 3);
  EXPECT_EQ((*top)[2].class_id, 2);
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x));
  EXPECT_NEAR((*top)[0].score, std::exp(3) / sum, 1e-12);
  EXPECT_NEAR((*top)[2].score, std::exp(2) / sum, 1e-12);
}

TEST(ClassifyTest, KBeyondTheClassesOrNotPositive) {
  const std::vector<float> logits = {0.5f, -1};
  auto all = ClassifyTopK({logits.data(), {1, 2, 1, 1}}, 10);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  auto none = ClassifyTopK({logits.data(), {1, 2}}, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto negative = ClassifyTopK({logits.data(), {1, 2}}, -3);
  ASSERT_TRUE(negative.ok());
  EXPECT_TRUE(negative->empty());
  auto empty = ClassifyTopK({nullptr, {1, 0}}, 5);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ClassifyTest, LargeLogitsStayFinite) {
  const std::vector<float> logits = {1000, 999, -1000};
  auto top = ClassifyTopK({logits.data(), {1, 3}}, 2);
  ASSERT_TRUE(top.ok());
  EXPECT_NEAR((*top)[0].score, 1 / (1 + std::exp(-1.0)), 1e-12);
}

TEST(ClassifyTest, NanRanksLastAndPoisonsTheScores) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> logits = {nan, 2, nan, 5};
  auto top = ClassifyTopK({logits.data(), {1, 4}}, 4);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 4u);
  EXPECT_EQ((*top)[0].class_id, 3);
  EXPECT_EQ((*top)[1].class_id, 1);
  EXPECT_EQ((*top)[2].class_id, 0);
  EXPECT_EQ((*top)[3].class_id, 2);
  EXPECT_TRUE(std::isnan((*top)[0].score));
}

TEST(ClassifyTest, HostileShapes) {
  const std::vector<float> logits = {1, 2};
  auto negative = ClassifyTopK({logits.data(), {1, -2}}, 1);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("[1, -2]"), std::string::npos)
      << negative.status().message();
  EXPECT_FALSE(ClassifyTopK({logits.data(), {int64_t{1} << 40, int64_t{1} << 40}}, 1).ok());
  EXPECT_FALSE(ClassifyTopK({logits.data(), {int64_t{1} << 32}}, 1).ok());
}

}  // namespace
}  // namespace serdab::postprocess
