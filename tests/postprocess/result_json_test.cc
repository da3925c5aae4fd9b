#include "cli/postprocess/result_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "cli/postprocess/labels.h"

namespace serdab::postprocess {
namespace {

TEST(ResultJsonTest, TopKWithLabelsWhereKnown) {
  const auto json = ToJson(std::vector<ClassScore>{{1, 0.75}, {7, 0.25}}, {"cat", "dog"});
  EXPECT_EQ(json.dump(), R"([{"class":1,"label":"dog","score":0.75},{"class":7,"score":0.25}])");
}

TEST(ResultJsonTest, DetectionsRoundedToATenthOfAPixel) {
  const std::vector<Detection> detections = {{12.34, 40.06, 100.249, 80, 1, 0.873149},
                                             {0, 0, 1, 1, 3, 0.5}};
  const auto json = ToJson(detections, {"background", "person"});
  EXPECT_EQ(json.dump(),
            R"([{"class":1,"h":80.0,"label":"person","score":0.8731,"w":100.2,"x":12.3,"y":40.1},)"
            R"({"class":3,"h":1.0,"score":0.5,"w":1.0,"x":0.0,"y":0.0}])");
}

TEST(ResultJsonTest, SegmentationSummary) {
  Segmentation seg;
  seg.width = 4;
  seg.height = 2;
  seg.class_map.assign(8, 0);
  seg.areas = {{15, 6, 0.75}, {0, 2, 0.25}};
  const auto json = ToJson(seg, std::vector<std::string>(16, "x"));
  EXPECT_EQ(json["width"], 4);
  EXPECT_EQ(json["height"], 2);
  ASSERT_EQ(json["classes"].size(), 2u);
  EXPECT_EQ(json["classes"][0]["class"], 15);
  EXPECT_EQ(json["classes"][0]["label"], "x");
  EXPECT_EQ(json["classes"][0]["pixels"], 6);
  EXPECT_EQ(json["classes"][0]["fraction"], 0.75);
  EXPECT_FALSE(json.contains("class_map"));
}

TEST(LabelsTest, ReadsLinesWithoutCarriageReturns) {
  char path[] = "/tmp/serdab_labels_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "background\r\nperson\r\n\r\nbicycle";
  auto labels = ReadLabels(path);
  std::remove(path);
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_EQ(*labels, (std::vector<std::string>{"background", "person", "", "bicycle"}));
}

TEST(LabelsTest, NoPathNoLabelsAndAMissingFileIsNamed) {
  auto none = ReadLabels("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto missing = ReadLabels("/nonexistent/labels.txt");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/labels.txt"), std::string::npos);
}

}  // namespace
}  // namespace serdab::postprocess
