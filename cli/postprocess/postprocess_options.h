// What a deployment plan's `postprocess:` section asks the trusted client to
// do with the last stage's outputs: classify (top-k), detect (decode boxes,
// score threshold, non-maximum suppression) or segment (per-pixel classes).
//
// Plain data without dependencies, so that the plan parser
// (orchestrator/deployment_plan.h) fills it and the decoders
// (cli/postprocess/) read it without either depending on the other.
#ifndef SERDAB_CLI_POSTPROCESS_POSTPROCESS_OPTIONS_H_
#define SERDAB_CLI_POSTPROCESS_POSTPROCESS_OPTIONS_H_

#include <array>
#include <string>
#include <vector>

namespace serdab::postprocess {

enum class Kind { kClassify, kDetect, kSegment };

// The detector heads a model ends with.
enum class DetectorFormat {
  // SSD/RetinaNet style: output `boxes_output` is [1, N, 4] box regressions
  // against N anchors, output `scores_output` is [1, N, C] class logits
  // (softmax over C; class 0 is the background when `background_class`).
  kSsd,
  // YOLO style: one output of N candidate rows, each 4 box numbers, an
  // objectness score (when `objectness`) and C class scores.
  kYolo,
};

// SSD anchors as torchvision's DefaultBoxGenerator makes them (what
// ssdlite320_mobilenet_v3_large and ssd300_vgg16 use), on square feature maps.
struct SsdAnchorOptions {
  std::vector<int> feature_maps;                   // e.g. {20, 10, 5, 3, 2, 1}
  std::vector<std::vector<double>> aspect_ratios;  // one list per feature map, e.g. {2, 3}
  double min_ratio = 0.15;
  double max_ratio = 0.9;
  std::vector<double> scales;  // explicit: one per feature map plus one; overrides min/max
  bool clip = true;            // clamp the default boxes to [0, 1]
  // BoxCoder weights (wx, wy, ww, wh) the regressions are divided by.
  std::array<double, 4> box_coder_weights{10, 10, 5, 5};
  // Optional, one per feature map (ssd300_vgg16: {8, 16, 32, 64, 100, 300}):
  // cell centres are spaced step / input size apart instead of 1 / size.
  std::vector<int> steps;
};

enum class YoloLayout {
  kRows,     // [1, N, 4 (+1) + C]: one row per candidate (YOLOv5 exports)
  kColumns,  // [1, 4 (+1) + C, N]: one column per candidate (YOLOv8 exports)
};

struct YoloOptions {
  YoloLayout layout = YoloLayout::kRows;
  bool objectness = true;  // a score column before the classes; score = objectness x class
  bool sigmoid = false;    // the scores are logits: apply a sigmoid first
  // Empty: the box numbers are (cx, cy, w, h) in model-input pixels. Else
  // they are raw grid offsets, anchor-free (YOLOX): the rows run stride by
  // stride over (input / stride) cells, row-major, and a cell (gx, gy) of
  // stride s decodes to cx = (tx + gx) s, cy = (ty + gy) s, w = e^tw s,
  // h = e^th s.
  std::vector<int> strides;
};

struct DetectOptions {
  DetectorFormat format = DetectorFormat::kSsd;
  SsdAnchorOptions ssd;
  YoloOptions yolo;
  int boxes_output = 0;            // SSD: which model output holds the regressions
  int scores_output = 1;           // SSD: which holds the class logits
  bool background_class = true;    // SSD: class 0 is the background, never reported
  double score_threshold = 0.5;    // keep candidates scoring above this
  double iou_threshold = 0.45;     // NMS, per class: drop a box overlapping a kept one by more
  int candidates_per_class = 300;  // the best per class that enter NMS
  int max_detections = 100;        // per frame, best first
};

struct PostprocessOptions {
  Kind kind = Kind::kClassify;
  int top_k = 5;            // classify
  std::string labels_file;  // class names, one per line, in class order (any kind)
  DetectOptions detect;
};

// How a model-input pixel maps back to the source picture's pixels: the
// preprocessing resized the source by (scale_x, scale_y) and then shifted it
// by (offset_x, offset_y): model = source * scale + offset (a centre crop
// shifts by minus the crop's corner, a letterbox by its padding).
struct InputMapping {
  double scale_x = 1;
  double scale_y = 1;
  double offset_x = 0;
  double offset_y = 0;
  int source_width = 0;  // what a box is clipped to
  int source_height = 0;
};

}  // namespace serdab::postprocess

#endif  // SERDAB_CLI_POSTPROCESS_POSTPROCESS_OPTIONS_H_
