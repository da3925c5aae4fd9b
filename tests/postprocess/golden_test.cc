// The decoders against torchvision 0.14 itself: fixtures written by
// tests/tools/postprocess_golden.py.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/postprocess/detection_decoder.h"
#include "cli/postprocess/nms.h"

namespace serdab::postprocess {
namespace {

nlohmann::json Load(const std::string& name) {
  const std::string path = std::string(SERDAB_POSTPROCESS_GOLDEN_DIR) + "/" + name;
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  return nlohmann::json::parse(in);
}

std::vector<float> Floats(const nlohmann::json& values) {
  std::vector<float> out;
  for (const auto& v : values) out.push_back(static_cast<float>(v.get<double>()));
  return out;
}

std::vector<Box> Boxes(const nlohmann::json& values) {
  const std::vector<float> f = Floats(values);
  std::vector<Box> out;
  for (size_t i = 0; i + 3 < f.size(); i += 4) out.push_back({f[i], f[i + 1], f[i + 2], f[i + 3]});
  return out;
}

// The generator of postprocess_golden.py's `hashed`: murmur3's finaliser of
// a counter, 24 bits of it scaled to [lo, hi).
std::vector<float> Hashed(uint32_t seed, size_t count, double lo, double hi) {
  std::vector<float> out(count);
  for (size_t i = 0; i < count; ++i) {
    uint32_t h = static_cast<uint32_t>(i) + seed * 0x9E3779B9u;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    out[i] = static_cast<float>(lo + (hi - lo) * static_cast<double>(h >> 8) / 16777216.0);
  }
  return out;
}

// Same count, same classes in the same order, boxes within 1e-3 px and
// scores within 1e-5.
void ExpectSameDetections(const std::vector<Detection>& got, const nlohmann::json& expected) {
  const std::vector<Box> boxes = Boxes(expected["boxes"]);
  const std::vector<float> scores = Floats(expected["scores"]);
  const std::vector<int> labels = expected["labels"].get<std::vector<int>>();
  ASSERT_EQ(got.size(), labels.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("detection " + std::to_string(i));
    EXPECT_EQ(got[i].class_id, labels[i]);
    EXPECT_NEAR(got[i].score, scores[i], 1e-5);
    EXPECT_NEAR(got[i].x, boxes[i].x1, 1e-3);
    EXPECT_NEAR(got[i].y, boxes[i].y1, 1e-3);
    EXPECT_NEAR(got[i].x + got[i].width, boxes[i].x2, 1e-3);
    EXPECT_NEAR(got[i].y + got[i].height, boxes[i].y2, 1e-3);
  }
}

TEST(GoldenTest, NmsAndBatchedNmsMatchTorchvision) {
  const nlohmann::json golden = Load("nms.json");
  ASSERT_FALSE(golden["cases"].empty());
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::vector<Box> boxes = Boxes(c["boxes"]);
    const std::vector<float> scores = Floats(c["scores"]);
    const std::vector<int> classes = c["classes"].get<std::vector<int>>();
    const double iou = c["iou_threshold"].get<double>();
    EXPECT_EQ(Nms(boxes, scores, iou), c["nms"].get<std::vector<size_t>>());
    EXPECT_EQ(BatchedNms(boxes, scores, classes, iou), c["batched_nms"].get<std::vector<size_t>>());
  }
}

// The SSD options of a generator described in anchors.json.
DetectOptions SsdOptions(const nlohmann::json& generator) {
  DetectOptions options;
  options.format = DetectorFormat::kSsd;
  options.ssd.feature_maps = generator["feature_maps"].get<std::vector<int>>();
  options.ssd.aspect_ratios = generator["aspect_ratios"].get<std::vector<std::vector<double>>>();
  if (generator.contains("scales")) {
    options.ssd.scales = generator["scales"].get<std::vector<double>>();
    options.ssd.steps = generator["steps"].get<std::vector<int>>();
  } else {
    options.ssd.min_ratio = generator["min_ratio"].get<double>();
    options.ssd.max_ratio = generator["max_ratio"].get<double>();
  }
  options.ssd.clip = generator["clip"].get<bool>();
  return options;
}

// Every `every`-th anchor against the fixture's.
void ExpectAnchors(const nlohmann::json& generator, size_t count, size_t every) {
  auto decoder =
      DetectionDecoder::Create(SsdOptions(generator), generator["input_width"].get<int>(),
                               generator["input_height"].get<int>());
  ASSERT_TRUE(decoder.ok()) << decoder.status().ToString();
  const std::vector<Box> expected = Boxes(generator["anchors"]);
  const std::vector<Box>& anchors = (*decoder)->anchors();
  ASSERT_EQ(anchors.size(), count);
  ASSERT_EQ(expected.size(), (count + every - 1) / every);
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("anchor " + std::to_string(i * every));
    // Both sides compute in float32; allow a rounding step or two.
    const Box& a = anchors[i * every];
    EXPECT_NEAR(a.x1, expected[i].x1, 1e-4);
    EXPECT_NEAR(a.y1, expected[i].y1, 1e-4);
    EXPECT_NEAR(a.x2, expected[i].x2, 1e-4);
    EXPECT_NEAR(a.y2, expected[i].y2, 1e-4);
  }
}

TEST(GoldenTest, SsdLite320AnchorsMatchDefaultBoxGenerator) {
  ExpectAnchors(Load("anchors.json")["ssdlite320"], 3234, 1);
}

TEST(GoldenTest, Ssd300AnchorsWithScalesAndStepsMatchDefaultBoxGenerator) {
  const nlohmann::json generator = Load("anchors.json")["ssd300"];
  ExpectAnchors(generator, generator["count"].get<size_t>(), generator["every"].get<size_t>());
}

TEST(GoldenTest, SsdLite320PostprocessMatchesTorchvision) {
  const nlohmann::json anchors = Load("anchors.json")["ssdlite320"];
  const nlohmann::json golden = Load("ssd.json");
  ASSERT_FALSE(golden["cases"].empty());
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    DetectOptions options = SsdOptions(anchors);
    options.score_threshold = c["score_threshold"].get<double>();
    options.iou_threshold = c["iou_threshold"].get<double>();
    options.max_detections = c["max_detections"].get<int>();
    options.candidates_per_class = c["candidates_per_class"].get<int>();
    auto decoder = DetectionDecoder::Create(options, 320, 320);
    ASSERT_TRUE(decoder.ok()) << decoder.status().ToString();
    const int64_t n = 3234;
    const int64_t classes = c["classes"].get<int64_t>();
    const std::vector<float> regression =
        Hashed(c["seed_boxes"].get<uint32_t>(), static_cast<size_t>(n * 4), -2.0, 2.0);
    const std::vector<float> logits =
        Hashed(c["seed_logits"].get<uint32_t>(), static_cast<size_t>(n * classes), -4.0, 4.0);
    // GeneralizedRCNNTransform resizes the source to 320x320, stretching it.
    InputMapping mapping;
    mapping.source_width = c["source_width"].get<int>();
    mapping.source_height = c["source_height"].get<int>();
    mapping.scale_x = 320.0 / mapping.source_width;
    mapping.scale_y = 320.0 / mapping.source_height;
    auto detections = (*decoder)->Decode(
        {{regression.data(), {1, n, 4}}, {logits.data(), {1, n, classes}}}, mapping);
    ASSERT_TRUE(detections.ok()) << detections.status().ToString();
    ExpectSameDetections(*detections, c);
  }
}

TEST(GoldenTest, YoloDecodeMatchesTorchReference) {
  const nlohmann::json golden = Load("yolo.json");
  ASSERT_FALSE(golden["cases"].empty());
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    DetectOptions options;
    options.format = DetectorFormat::kYolo;
    options.yolo.layout = c["layout"] == "rows" ? YoloLayout::kRows : YoloLayout::kColumns;
    options.yolo.objectness = c["objectness"].get<bool>();
    options.yolo.sigmoid = c["sigmoid"].get<bool>();
    options.yolo.strides = c["strides"].get<std::vector<int>>();
    options.score_threshold = c["score_threshold"].get<double>();
    options.iou_threshold = c["iou_threshold"].get<double>();
    options.candidates_per_class = c["candidates_per_class"].get<int>();
    options.max_detections = c["max_detections"].get<int>();
    auto decoder = DetectionDecoder::Create(options, c["input_width"].get<int>(),
                                            c["input_height"].get<int>());
    ASSERT_TRUE(decoder.ok()) << decoder.status().ToString();
    const std::vector<double> m = c["mapping"].get<std::vector<double>>();
    InputMapping mapping{m[0], m[1], m[2], m[3], static_cast<int>(m[4]), static_cast<int>(m[5])};
    const std::vector<float> output = Floats(c["output"]);
    auto detections =
        (*decoder)->Decode({{output.data(), c["shape"].get<std::vector<int64_t>>()}}, mapping);
    ASSERT_TRUE(detections.ok()) << detections.status().ToString();
    ExpectSameDetections(*detections, c);
  }
}

}  // namespace
}  // namespace serdab::postprocess
