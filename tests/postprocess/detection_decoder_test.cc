// The decoders on small hand-made outputs and on hostile ones; golden_test.cc
// checks them against torchvision.
#include "cli/postprocess/detection_decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace serdab::postprocess {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

void ExpectError(const Status& status, const std::string& fragment) {
  EXPECT_EQ(status.code(), Status::Code::kInvalidArgument) << status.ToString();
  EXPECT_NE(status.message().find(fragment), std::string::npos)
      << "expected \"" << fragment << "\" in: " << status.message();
}

// One 1x1 feature map without extra ratios: two anchors, both the centred
// square of half the input's side, on a 100x100 input.
DetectOptions TinySsd() {
  DetectOptions options;
  options.format = DetectorFormat::kSsd;
  options.ssd.feature_maps = {1};
  options.ssd.aspect_ratios = {{}};
  options.ssd.min_ratio = 0.5;
  options.ssd.max_ratio = 0.5;
  options.score_threshold = 0.5;
  return options;
}

InputMapping Identity(int width, int height) {
  InputMapping mapping;
  mapping.source_width = width;
  mapping.source_height = height;
  return mapping;
}

TEST(DetectionDecoderTest, SsdDecodesAgainstTheAnchorsAndMapsToTheSource) {
  auto decoder = DetectionDecoder::Create(TinySsd(), 100, 100);
  ASSERT_TRUE(decoder.ok()) << decoder.status().ToString();
  ASSERT_EQ((*decoder)->anchors().size(), 2u);
  EXPECT_FLOAT_EQ((*decoder)->anchors()[0].x1, 25);
  EXPECT_FLOAT_EQ((*decoder)->anchors()[0].x2, 75);
  // Anchor 0 moved right by 0.1 of its width (dx = 1 / wx 10), class 2;
  // anchor 1 unmoved, background.
  const std::vector<float> boxes = {1, 0, 0, 0, 0, 0, 0, 0};
  const std::vector<float> logits = {0, 0, 10, 10, 0, 0};
  InputMapping mapping;  // a 200x220 source letterboxed into 100x100
  mapping.scale_x = mapping.scale_y = 0.5;
  mapping.offset_y = -5;
  mapping.source_width = 200;
  mapping.source_height = 220;
  auto detections =
      (*decoder)->Decode({{boxes.data(), {1, 2, 4}}, {logits.data(), {1, 2, 3}}}, mapping);
  ASSERT_TRUE(detections.ok()) << detections.status().ToString();
  ASSERT_EQ(detections->size(), 1u);
  const Detection& d = (*detections)[0];
  EXPECT_EQ(d.class_id, 2);
  EXPECT_NEAR(d.score, 1 / (1 + 2 * std::exp(-10.0)), 1e-6);
  EXPECT_NEAR(d.x, 60, 1e-4);
  EXPECT_NEAR(d.y, 60, 1e-4);
  EXPECT_NEAR(d.width, 100, 1e-4);
  EXPECT_NEAR(d.height, 100, 1e-4);
}

TEST(DetectionDecoderTest, SsdWithoutBackgroundReportsClassZero) {
  DetectOptions options = TinySsd();
  options.background_class = false;
  auto decoder = DetectionDecoder::Create(options, 100, 100);
  ASSERT_TRUE(decoder.ok());
  const std::vector<float> boxes(8, 0);
  const std::vector<float> logits = {5, 0, 0, 0};
  auto detections = (*decoder)->Decode({{boxes.data(), {1, 2, 4}}, {logits.data(), {1, 2, 2}}},
                                       Identity(100, 100));
  ASSERT_TRUE(detections.ok());
  ASSERT_EQ(detections->size(), 1u);
  EXPECT_EQ((*detections)[0].class_id, 0);
}

TEST(DetectionDecoderTest, BoxesAreClippedToTheSource) {
  DetectOptions options = TinySsd();
  auto decoder = DetectionDecoder::Create(options, 100, 100);
  ASSERT_TRUE(decoder.ok());
  // Huge growth (dw clamped to log(1000 / 16)) covers the whole input; the
  // source is only the middle of it.
  const std::vector<float> boxes = {0, 0, 100, 100, 0, 0, 0, 0};
  const std::vector<float> logits = {0, 10, 0, 0};
  InputMapping mapping;
  mapping.offset_x = -10;
  mapping.offset_y = -20;
  mapping.source_width = 50;
  mapping.source_height = 40;
  auto detections =
      (*decoder)->Decode({{boxes.data(), {1, 2, 4}}, {logits.data(), {1, 2, 2}}}, mapping);
  ASSERT_TRUE(detections.ok());
  ASSERT_EQ(detections->size(), 1u);
  const Detection& d = (*detections)[0];
  EXPECT_DOUBLE_EQ(d.x, 10);
  EXPECT_DOUBLE_EQ(d.y, 20);
  EXPECT_DOUBLE_EQ(d.width, 40);
  EXPECT_DOUBLE_EQ(d.height, 20);
}

TEST(DetectionDecoderTest, SsdNanLogitsNeverPassAndNanBoxesAreDropped) {
  auto decoder = DetectionDecoder::Create(TinySsd(), 100, 100);
  ASSERT_TRUE(decoder.ok());
  const std::vector<float> boxes = {kNan, 0, 0, 0, 0, 0, 0, 0};
  const std::vector<float> logits = {0, 10, kNan, 10};  // anchor 0: good score, NaN box
  auto detections = (*decoder)->Decode({{boxes.data(), {1, 2, 4}}, {logits.data(), {1, 2, 2}}},
                                       Identity(100, 100));
  ASSERT_TRUE(detections.ok()) << detections.status().ToString();
  EXPECT_TRUE(detections->empty());
}

TEST(DetectionDecoderTest, SsdNothingAboveTheThreshold) {
  auto decoder = DetectionDecoder::Create(TinySsd(), 100, 100);
  ASSERT_TRUE(decoder.ok());
  const std::vector<float> boxes(8, 0);
  const std::vector<float> logits(2 * 91, 0);  // every class 1 / 91
  auto detections = (*decoder)->Decode({{boxes.data(), {1, 2, 4}}, {logits.data(), {1, 2, 91}}},
                                       Identity(100, 100));
  ASSERT_TRUE(detections.ok());
  EXPECT_TRUE(detections->empty());
}

TEST(DetectionDecoderTest, SsdRejectsMissingOutputsAndWrongShapes) {
  auto decoder = DetectionDecoder::Create(TinySsd(), 100, 100);
  ASSERT_TRUE(decoder.ok());
  const std::vector<float> data(64, 0);
  const InputMapping mapping = Identity(100, 100);
  auto decode = [&](std::vector<int64_t> boxes, std::vector<int64_t> scores) {
    return (*decoder)->Decode({{data.data(), boxes}, {data.data(), scores}}, mapping).status();
  };
  ExpectError((*decoder)->Decode({{data.data(), {1, 2, 4}}}, mapping).status(),
              "the model has 1 outputs; postprocess.detect.ssd.outputs");
  ExpectError(decode({1, 3, 4}, {1, 2, 3}), "output 0 has shape [1, 3, 4]; expected [1, 2, 4]");
  ExpectError(decode({2, 4}, {1, 2, 3}), "output 0 has shape [2, 4]");
  ExpectError(decode({1, 2, 5}, {1, 2, 3}), "[1, 2, 5]");
  ExpectError(decode({1, 2, 4}, {1, 2, 1}), "output 1 has shape [1, 2, 1]; expected [1, 2, C]");
  ExpectError(decode({1, 2, 4}, {1, 3, 3}), "output 1 has shape [1, 3, 3]");
  ExpectError(decode({1, 2, 4}, {1, -2, 3}), "negative dimension");
  ExpectError(decode({1, 2, 4}, {1, 2, int64_t{1} << 62}), "more elements than can be addressed");
  ExpectError(decode({1, 2, 4}, {1, 2, int64_t{1} << 40}), "output 1 has shape");
}

TEST(DetectionDecoderTest, SsdOutputIndicesComeFromTheOptions) {
  DetectOptions options = TinySsd();
  options.boxes_output = 2;
  options.scores_output = 0;
  auto decoder = DetectionDecoder::Create(options, 100, 100);
  ASSERT_TRUE(decoder.ok());
  const std::vector<float> boxes(8, 0);
  const std::vector<float> logits = {0, 10, 0, 0};
  auto detections = (*decoder)->Decode(
      {{logits.data(), {1, 2, 2}}, {nullptr, {0}}, {boxes.data(), {1, 2, 4}}}, Identity(100, 100));
  ASSERT_TRUE(detections.ok()) << detections.status().ToString();
  EXPECT_EQ(detections->size(), 1u);
}

TEST(DetectionDecoderTest, CreateNamesTheFieldAtFault) {
  auto error = [](DetectOptions options) {
    auto decoder = DetectionDecoder::Create(options, 320, 320);
    return decoder.ok() ? Status::Ok() : decoder.status();
  };
  DetectOptions o = TinySsd();
  o.ssd.feature_maps.clear();
  ExpectError(error(o), "postprocess.detect.ssd.feature_maps: expected at least one size");
  o = TinySsd();
  o.ssd.feature_maps = {0};
  ExpectError(error(o), "postprocess.detect.ssd.feature_maps[0]: expected an integer from 1");
  o = TinySsd();
  o.ssd.aspect_ratios = {{2}, {3}};
  ExpectError(error(o),
              "postprocess.detect.ssd.aspect_ratios: expected one list of ratios per "
              "feature map (1), got 2");
  o = TinySsd();
  o.ssd.aspect_ratios = {{2, -1}};
  ExpectError(error(o), "postprocess.detect.ssd.aspect_ratios[0][1]: expected a positive number");
  o = TinySsd();
  o.ssd.scales = {0.1};
  ExpectError(error(o),
              "postprocess.detect.ssd.scales: expected one scale per feature map plus "
              "one (2), got 1");
  o = TinySsd();
  o.ssd.min_ratio = 0.6;
  ExpectError(error(o), "postprocess.detect.ssd.max_ratio: expected at least min_ratio");
  o = TinySsd();
  o.ssd.steps = {8, 16};
  ExpectError(error(o), "postprocess.detect.ssd.steps: expected one step per feature map");
  o = TinySsd();
  o.ssd.box_coder_weights[3] = 0;
  ExpectError(error(o), "postprocess.detect.ssd.box_coder_weights (wh)");
  o = TinySsd();
  o.scores_output = 0;
  ExpectError(error(o), "postprocess.detect.ssd.outputs: boxes and scores must be different");
  o = TinySsd();
  o.boxes_output = -1;
  ExpectError(error(o), "postprocess.detect.ssd.outputs.boxes");
  o = TinySsd();
  o.ssd.feature_maps = {4096, 4096};
  o.ssd.aspect_ratios = {{2, 3}, {2, 3}};
  o.ssd.min_ratio = 0.2;
  ExpectError(error(o),
              "postprocess.detect.ssd.feature_maps: these feature maps and aspect "
              "ratios make more than");
  o = TinySsd();
  o.score_threshold = kNan;
  ExpectError(error(o), "postprocess.detect.score_threshold: expected a number from 0 to 1");
  o = TinySsd();
  o.iou_threshold = 1.5;
  ExpectError(error(o), "postprocess.detect.iou_threshold: expected a number from 0 to 1, got 1.5");
  o = TinySsd();
  o.candidates_per_class = 0;
  ExpectError(error(o), "postprocess.detect.candidates_per_class");
  o = TinySsd();
  o.max_detections = -5;
  ExpectError(error(o), "postprocess.detect.max_detections");
  o = DetectOptions();
  o.format = DetectorFormat::kYolo;
  o.yolo.strides = {8, 48};
  ExpectError(error(o),
              "postprocess.detect.yolo.strides[1]: the model input (320x320) is not a "
              "whole number of 48-pixel cells");
  ExpectError(DetectionDecoder::Create(TinySsd(), 0, 320).status(), "the model input is 0x320");
}

DetectOptions Yolo(YoloLayout layout, bool objectness) {
  DetectOptions options;
  options.format = DetectorFormat::kYolo;
  options.yolo.layout = layout;
  options.yolo.objectness = objectness;
  options.score_threshold = 0.25;
  options.iou_threshold = 0.5;
  return options;
}

TEST(DetectionDecoderTest, YoloRowsAndColumnsDecodeTheSame) {
  // Three candidates (cx, cy, w, h, obj, 2 classes): 0 and 1 overlap, same
  // class; 2 is elsewhere and another class; 1 scores 0.9 * 0.9.
  const std::vector<float> rows = {
      50, 50, 20, 20, 0.8f, 0.9f, 0.1f,  //
      51, 50, 20, 20, 0.9f, 0.9f, 0.2f,  //
      10, 10, 8,  8,  0.5f, 0.1f, 0.6f,  //
  };
  std::vector<float> columns(rows.size());
  for (size_t n = 0; n < 3; ++n) {
    for (size_t k = 0; k < 7; ++k) columns[k * 3 + n] = rows[n * 7 + k];
  }
  for (bool use_rows : {true, false}) {
    SCOPED_TRACE(use_rows ? "rows" : "columns");
    auto decoder = DetectionDecoder::Create(
        Yolo(use_rows ? YoloLayout::kRows : YoloLayout::kColumns, true), 100, 100);
    ASSERT_TRUE(decoder.ok());
    const TensorView view =
        use_rows ? TensorView{rows.data(), {1, 3, 7}} : TensorView{columns.data(), {1, 7, 3}};
    auto detections = (*decoder)->Decode({view}, Identity(100, 100));
    ASSERT_TRUE(detections.ok()) << detections.status().ToString();
    ASSERT_EQ(detections->size(), 2u);
    EXPECT_EQ((*detections)[0].class_id, 0);
    EXPECT_NEAR((*detections)[0].score, 0.81, 1e-6);
    EXPECT_NEAR((*detections)[0].x, 41, 1e-5);
    EXPECT_NEAR((*detections)[0].width, 20, 1e-5);
    EXPECT_EQ((*detections)[1].class_id, 1);
    EXPECT_NEAR((*detections)[1].score, 0.3, 1e-6);
    EXPECT_NEAR((*detections)[1].y, 6, 1e-5);
  }
}

TEST(DetectionDecoderTest, YoloLimitsCandidatesPerClassAndDetections) {
  // Five disjoint boxes of class 0, scores 0.9 down to 0.5.
  std::vector<float> rows;
  for (int i = 0; i < 5; ++i) {
    rows.insert(rows.end(), {10.f + 20 * i, 10, 10, 10, 0.9f - 0.1f * i});
  }
  DetectOptions options = Yolo(YoloLayout::kRows, false);
  options.candidates_per_class = 3;
  auto decoder = DetectionDecoder::Create(options, 100, 100);
  ASSERT_TRUE(decoder.ok());
  auto detections = (*decoder)->Decode({{rows.data(), {1, 5, 5}}}, Identity(100, 100));
  ASSERT_TRUE(detections.ok());
  EXPECT_EQ(detections->size(), 3u);
  options.max_detections = 2;
  decoder = DetectionDecoder::Create(options, 100, 100);
  ASSERT_TRUE(decoder.ok());
  detections = (*decoder)->Decode({{rows.data(), {1, 5, 5}}}, Identity(100, 100));
  ASSERT_TRUE(detections.ok());
  ASSERT_EQ(detections->size(), 2u);
  EXPECT_NEAR((*detections)[1].score, 0.8, 1e-6);
}

TEST(DetectionDecoderTest, YoloNanScoresAndNanBoxesNeverComeOut) {
  const std::vector<float> rows = {
      50,   50, 20, 20, kNan, 0.9f, 0.9f,  // NaN objectness
      50,   50, 20, 20, 0.9f, kNan, 0.9f,  // NaN class score
      kNan, 50, 20, 20, 0.9f, 0.9f, 0.9f,  // NaN box
  };
  auto decoder = DetectionDecoder::Create(Yolo(YoloLayout::kRows, true), 100, 100);
  ASSERT_TRUE(decoder.ok());
  auto detections = (*decoder)->Decode({{rows.data(), {1, 3, 7}}}, Identity(100, 100));
  ASSERT_TRUE(detections.ok());
  EXPECT_TRUE(detections->empty());
}

TEST(DetectionDecoderTest, YoloNoCandidatesAtAll) {
  auto decoder = DetectionDecoder::Create(Yolo(YoloLayout::kColumns, true), 100, 100);
  ASSERT_TRUE(decoder.ok());
  auto detections = (*decoder)->Decode({{nullptr, {1, 85, 0}}}, Identity(100, 100));
  ASSERT_TRUE(detections.ok()) << detections.status().ToString();
  EXPECT_TRUE(detections->empty());
}

TEST(DetectionDecoderTest, YoloRejectsShapesThatDoNotFit) {
  const std::vector<float> data(64, 0);
  auto rows = DetectionDecoder::Create(Yolo(YoloLayout::kRows, true), 64, 64);
  ASSERT_TRUE(rows.ok());
  const InputMapping mapping = Identity(64, 64);
  ExpectError((*rows)->Decode({}, mapping).status(), "the model has no outputs");
  ExpectError((*rows)->Decode({{data.data(), {1, 4, 5}}}, mapping).status(),
              "output 0 has shape [1, 4, 5]; expected [1, N, K] (postprocess.detect.yolo.layout "
              "rows) with K = 6+ numbers per candidate");
  // A YOLOv8 export read as rows: the hint points at the layout.
  ExpectError((*rows)->Decode({{data.data(), {1, 84, 0}}}, mapping).status(),
              "(is it postprocess.detect.yolo.layout columns?)");
  ExpectError((*rows)->Decode({{data.data(), {8, 8}}}, mapping).status(), "shape [8, 8]");
  ExpectError((*rows)->Decode({{data.data(), {2, 4, 8}}}, mapping).status(), "shape [2, 4, 8]");
  ExpectError(
      (*rows)->Decode({{data.data(), {1, int64_t{1} << 40, int64_t{1} << 30}}}, mapping).status(),
      "more elements than can be addressed");
  ExpectError((*rows)->Decode({{data.data(), {1, 2, int64_t{1} << 40}}}, mapping).status(),
              "output 0 has shape [1, 2, 1099511627776]");

  DetectOptions grid = Yolo(YoloLayout::kRows, true);
  grid.yolo.strides = {8, 16, 32};  // 64 + 16 + 4 cells on 64x64
  auto decoder = DetectionDecoder::Create(grid, 64, 64);
  ASSERT_TRUE(decoder.ok());
  ExpectError((*decoder)->Decode({{data.data(), {1, 8, 8}}}, mapping).status(),
              "8 candidates, but postprocess.detect.yolo.strides make 84 grid cells on the "
              "64x64 input");
}

TEST(DetectionDecoderTest, DecodeRejectsAnImpossibleMapping) {
  auto decoder = DetectionDecoder::Create(Yolo(YoloLayout::kRows, true), 64, 64);
  ASSERT_TRUE(decoder.ok());
  InputMapping mapping = Identity(64, 64);
  mapping.scale_x = 0;
  ExpectError((*decoder)->Decode({{nullptr, {1, 0, 6}}}, mapping).status(),
              "positive, finite scales");
  mapping = Identity(0, 64);
  ExpectError((*decoder)->Decode({{nullptr, {1, 0, 6}}}, mapping).status(),
              "source picture is 0x64");
}

}  // namespace
}  // namespace serdab::postprocess
