#include "cli/postprocess/detection_decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>

namespace serdab::postprocess {
namespace {

// More anchors than any SSD has (ssd300_vgg16: 8732), and few enough that a
// hostile plan cannot make the client allocate gigabytes.
constexpr int64_t kMaxAnchors = int64_t{1} << 22;

Status FieldError(const std::string& field, const std::string& message) {
  return Status::InvalidArgument("postprocess.detect." + field + ": " + message);
}

std::string Number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

Status CheckUnit(double value, const std::string& field) {
  if (!(value >= 0 && value <= 1)) {
    return FieldError(field, "expected a number from 0 to 1, got " + Number(value));
  }
  return Status::Ok();
}

Status CheckPositive(double value, const std::string& field) {
  if (!(value > 0 && std::isfinite(value))) {
    return FieldError(field, "expected a positive number, got " + Number(value));
  }
  return Status::Ok();
}

Status CheckCount(int value, int max, const std::string& field) {
  if (value < 1 || value > max) {
    return FieldError(field, "expected an integer from 1 to " + std::to_string(max) + ", got " +
                                 std::to_string(value));
  }
  return Status::Ok();
}

Status ValidateSsd(const DetectOptions& options) {
  const SsdAnchorOptions& ssd = options.ssd;
  if (options.boxes_output < 0) {
    return FieldError("ssd.outputs.boxes",
                      "expected an output index, got " + std::to_string(options.boxes_output));
  }
  if (options.scores_output < 0) {
    return FieldError("ssd.outputs.scores",
                      "expected an output index, got " + std::to_string(options.scores_output));
  }
  if (options.boxes_output == options.scores_output) {
    return FieldError("ssd.outputs", "boxes and scores must be different outputs, both are " +
                                         std::to_string(options.boxes_output));
  }
  const size_t maps = ssd.feature_maps.size();
  if (maps == 0) return FieldError("ssd.feature_maps", "expected at least one size");
  for (size_t k = 0; k < maps; ++k) {
    SERDAB_RETURN_IF_ERROR(
        CheckCount(ssd.feature_maps[k], 4096, "ssd.feature_maps[" + std::to_string(k) + "]"));
  }
  if (ssd.aspect_ratios.size() != maps) {
    return FieldError("ssd.aspect_ratios", "expected one list of ratios per feature map (" +
                                               std::to_string(maps) + "), got " +
                                               std::to_string(ssd.aspect_ratios.size()));
  }
  for (size_t k = 0; k < maps; ++k) {
    for (size_t j = 0; j < ssd.aspect_ratios[k].size(); ++j) {
      SERDAB_RETURN_IF_ERROR(
          CheckPositive(ssd.aspect_ratios[k][j],
                        "ssd.aspect_ratios[" + std::to_string(k) + "][" + std::to_string(j) + "]"));
    }
  }
  if (ssd.scales.empty()) {
    SERDAB_RETURN_IF_ERROR(CheckPositive(ssd.min_ratio, "ssd.min_ratio"));
    SERDAB_RETURN_IF_ERROR(CheckPositive(ssd.max_ratio, "ssd.max_ratio"));
    if (ssd.max_ratio < ssd.min_ratio) {
      return FieldError("ssd.max_ratio", "expected at least min_ratio (" + Number(ssd.min_ratio) +
                                             "), got " + Number(ssd.max_ratio));
    }
  } else {
    if (ssd.scales.size() != maps + 1) {
      return FieldError("ssd.scales", "expected one scale per feature map plus one (" +
                                          std::to_string(maps + 1) + "), got " +
                                          std::to_string(ssd.scales.size()));
    }
    for (size_t k = 0; k < ssd.scales.size(); ++k) {
      SERDAB_RETURN_IF_ERROR(CheckPositive(ssd.scales[k], "ssd.scales[" + std::to_string(k) + "]"));
    }
  }
  if (!ssd.steps.empty()) {
    if (ssd.steps.size() != maps) {
      return FieldError("ssd.steps", "expected one step per feature map (" + std::to_string(maps) +
                                         "), got " + std::to_string(ssd.steps.size()));
    }
    for (size_t k = 0; k < maps; ++k) {
      SERDAB_RETURN_IF_ERROR(
          CheckCount(ssd.steps[k], 1 << 20, "ssd.steps[" + std::to_string(k) + "]"));
    }
  }
  static const char* const kWeightNames[] = {"wx", "wy", "ww", "wh"};
  for (size_t i = 0; i < 4; ++i) {
    SERDAB_RETURN_IF_ERROR(CheckPositive(
        ssd.box_coder_weights[i], std::string("ssd.box_coder_weights (") + kWeightNames[i] + ")"));
  }
  int64_t total = 0;
  for (size_t k = 0; k < maps; ++k) {
    const int64_t per_cell = 2 + 2 * static_cast<int64_t>(ssd.aspect_ratios[k].size());
    const int64_t cells = int64_t{ssd.feature_maps[k]} * ssd.feature_maps[k];
    if (per_cell > kMaxAnchors || cells * per_cell > kMaxAnchors - total) {
      return FieldError("ssd.feature_maps", "these feature maps and aspect ratios make more than " +
                                                std::to_string(kMaxAnchors) + " anchors");
    }
    total += cells * per_cell;
  }
  return Status::Ok();
}

// torchvision's DefaultBoxGenerator: the (w, h) pairs of each feature map are
// computed in double and stored as float32; the centres and the corners in
// float32, as its tensors are.
std::vector<Box> MakeAnchors(const SsdAnchorOptions& ssd, int input_width, int input_height) {
  const size_t maps = ssd.feature_maps.size();
  std::vector<double> scales = ssd.scales;
  if (scales.empty()) {
    if (maps > 1) {
      const double range = ssd.max_ratio - ssd.min_ratio;
      for (size_t k = 0; k < maps; ++k) {
        scales.push_back(ssd.min_ratio + range * static_cast<double>(k) / (maps - 1.0));
      }
      scales.push_back(1.0);
    } else {
      scales = {ssd.min_ratio, ssd.max_ratio};
    }
  }
  std::vector<Box> anchors;
  for (size_t k = 0; k < maps; ++k) {
    const double s_k = scales[k];
    const double s_prime = std::sqrt(scales[k] * scales[k + 1]);
    std::vector<std::pair<float, float>> wh = {
        {static_cast<float>(s_k), static_cast<float>(s_k)},
        {static_cast<float>(s_prime), static_cast<float>(s_prime)}};
    for (double ratio : ssd.aspect_ratios[k]) {
      const double sq = std::sqrt(ratio);
      const float w = static_cast<float>(s_k * sq);
      const float h = static_cast<float>(s_k / sq);
      wh.emplace_back(w, h);
      wh.emplace_back(h, w);
    }
    if (ssd.clip) {
      for (auto& [w, h] : wh) {
        w = std::clamp(w, 0.f, 1.f);
        h = std::clamp(h, 0.f, 1.f);
      }
    }
    const int f = ssd.feature_maps[k];
    // The number of cells a unit spans: the map's size, or input / step.
    float x_cells = static_cast<float>(f);
    float y_cells = static_cast<float>(f);
    if (!ssd.steps.empty()) {
      x_cells = static_cast<float>(static_cast<double>(input_width) / ssd.steps[k]);
      y_cells = static_cast<float>(static_cast<double>(input_height) / ssd.steps[k]);
    }
    const float width = static_cast<float>(input_width);
    const float height = static_cast<float>(input_height);
    for (int y = 0; y < f; ++y) {
      const float cy = (static_cast<float>(y) + 0.5f) / y_cells;
      for (int x = 0; x < f; ++x) {
        const float cx = (static_cast<float>(x) + 0.5f) / x_cells;
        for (const auto& [w, h] : wh) {
          anchors.push_back({(cx - 0.5f * w) * width, (cy - 0.5f * h) * height,
                             (cx + 0.5f * w) * width, (cy + 0.5f * h) * height});
        }
      }
    }
  }
  return anchors;
}

bool Finite(const Box& b) {
  return std::isfinite(b.x1) && std::isfinite(b.y1) && std::isfinite(b.x2) && std::isfinite(b.y2);
}

float Sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

// The [1, A, B] shape of output `index`, or why not.
Result<std::pair<int64_t, int64_t>> Rank3(const std::vector<TensorView>& outputs, size_t index,
                                          const std::string& expected) {
  const TensorView& t = outputs[index];
  const std::string what = "output " + std::to_string(index);
  SERDAB_ASSIGN_OR_RETURN(const int64_t count, ElementCount(t.shape, what));
  if (t.shape.size() != 3 || t.shape[0] != 1) {
    return Status::InvalidArgument(what + " has shape " + ShapeString(t.shape) + "; expected " +
                                   expected);
  }
  if (count > 0 && t.data == nullptr) {
    return Status::InvalidArgument(what + " has shape " + ShapeString(t.shape) + " but no data");
  }
  return std::make_pair(t.shape[1], t.shape[2]);
}

}  // namespace

DetectionDecoder::DetectionDecoder(const DetectOptions& options, int input_width, int input_height)
    : options_(options), input_width_(input_width), input_height_(input_height) {}

Result<std::unique_ptr<DetectionDecoder>> DetectionDecoder::Create(const DetectOptions& options,
                                                                   int input_width,
                                                                   int input_height) {
  if (input_width < 1 || input_height < 1) {
    return Status::InvalidArgument("the model input is " + std::to_string(input_width) + "x" +
                                   std::to_string(input_height) +
                                   " pixels; a detector needs a positive size");
  }
  SERDAB_RETURN_IF_ERROR(CheckUnit(options.score_threshold, "score_threshold"));
  SERDAB_RETURN_IF_ERROR(CheckUnit(options.iou_threshold, "iou_threshold"));
  SERDAB_RETURN_IF_ERROR(CheckCount(options.candidates_per_class, 100000, "candidates_per_class"));
  SERDAB_RETURN_IF_ERROR(CheckCount(options.max_detections, 10000, "max_detections"));
  std::unique_ptr<DetectionDecoder> decoder(
      new DetectionDecoder(options, input_width, input_height));
  if (options.format == DetectorFormat::kSsd) {
    SERDAB_RETURN_IF_ERROR(ValidateSsd(options));
    decoder->anchors_ = MakeAnchors(options.ssd, input_width, input_height);
    return decoder;
  }
  const std::vector<int>& strides = options.yolo.strides;
  for (size_t i = 0; i < strides.size(); ++i) {
    const std::string field = "yolo.strides[" + std::to_string(i) + "]";
    SERDAB_RETURN_IF_ERROR(CheckCount(strides[i], 4096, field));
    if (input_width % strides[i] != 0 || input_height % strides[i] != 0) {
      return FieldError(field, "the model input (" + std::to_string(input_width) + "x" +
                                   std::to_string(input_height) + ") is not a whole number of " +
                                   std::to_string(strides[i]) + "-pixel cells");
    }
    decoder->grid_cells_ += int64_t{input_width / strides[i]} * int64_t{input_height / strides[i]};
  }
  return decoder;
}

Result<std::vector<DetectionDecoder::Candidate>> DetectionDecoder::SsdCandidates(
    const std::vector<TensorView>& outputs) const {
  const size_t boxes_index = static_cast<size_t>(options_.boxes_output);
  const size_t scores_index = static_cast<size_t>(options_.scores_output);
  if (std::max(boxes_index, scores_index) >= outputs.size()) {
    return Status::InvalidArgument("the model has " + std::to_string(outputs.size()) +
                                   " outputs; postprocess.detect.ssd.outputs names boxes " +
                                   std::to_string(boxes_index) + " and scores " +
                                   std::to_string(scores_index));
  }
  const int64_t n = static_cast<int64_t>(anchors_.size());
  const std::string boxes_shape = "[1, " + std::to_string(n) + ", 4] (the box regressions of " +
                                  std::to_string(n) + " anchors)";
  SERDAB_ASSIGN_OR_RETURN(const auto box_dims, Rank3(outputs, boxes_index, boxes_shape));
  if (box_dims.first != n || box_dims.second != 4) {
    return Status::InvalidArgument("output " + std::to_string(boxes_index) + " has shape " +
                                   ShapeString(outputs[boxes_index].shape) + "; expected " +
                                   boxes_shape);
  }
  const int64_t min_classes = options_.background_class ? 2 : 1;
  const std::string scores_shape = "[1, " + std::to_string(n) + ", C] (the class logits of " +
                                   std::to_string(n) +
                                   " anchors, C >= " + std::to_string(min_classes) + ")";
  SERDAB_ASSIGN_OR_RETURN(const auto score_dims, Rank3(outputs, scores_index, scores_shape));
  const int64_t classes = score_dims.second;
  if (score_dims.first != n || classes < min_classes || classes > std::numeric_limits<int>::max()) {
    return Status::InvalidArgument("output " + std::to_string(scores_index) + " has shape " +
                                   ShapeString(outputs[scores_index].shape) + "; expected " +
                                   scores_shape);
  }
  const float* regressions = outputs[boxes_index].data;
  const float* logits = outputs[scores_index].data;

  // BoxCoder.decode_single, then clip_boxes_to_image, in float32.
  const auto& weights = options_.ssd.box_coder_weights;
  const float wx = static_cast<float>(weights[0]);
  const float wy = static_cast<float>(weights[1]);
  const float ww = static_cast<float>(weights[2]);
  const float wh = static_cast<float>(weights[3]);
  const float xform_clip = static_cast<float>(std::log(1000.0 / 16));
  const float width = static_cast<float>(input_width_);
  const float height = static_cast<float>(input_height_);
  auto clip = [](float v, float hi) { return std::min(std::max(v, 0.f), hi); };
  std::vector<Box> boxes(anchors_.size());
  for (size_t i = 0; i < anchors_.size(); ++i) {
    const Box& a = anchors_[i];
    const float* r = regressions + 4 * i;
    const float aw = a.x2 - a.x1;
    const float ah = a.y2 - a.y1;
    const float acx = a.x1 + 0.5f * aw;
    const float acy = a.y1 + 0.5f * ah;
    const float dx = r[0] / wx;
    const float dy = r[1] / wy;
    // std::min(NaN, clip) keeps the NaN, as torch.clamp does.
    const float dw = std::min(r[2] / ww, xform_clip);
    const float dh = std::min(r[3] / wh, xform_clip);
    const float cx = dx * aw + acx;
    const float cy = dy * ah + acy;
    const float half_w = 0.5f * (std::exp(dw) * aw);
    const float half_h = 0.5f * (std::exp(dh) * ah);
    boxes[i] = {clip(cx - half_w, width), clip(cy - half_h, height), clip(cx + half_w, width),
                clip(cy + half_h, height)};
  }

  // Softmax over each anchor's classes: exp(x - max), scaled by 1 / sum.
  const size_t c = static_cast<size_t>(classes);
  std::vector<float> probs(anchors_.size() * c);
  for (size_t i = 0; i < anchors_.size(); ++i) {
    const float* x = logits + i * c;
    float* p = probs.data() + i * c;
    float max = x[0];
    for (size_t j = 1; j < c; ++j) max = std::max(max, x[j]);
    double sum = 0;
    for (size_t j = 0; j < c; ++j) {
      p[j] = std::exp(x[j] - max);
      sum += p[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (size_t j = 0; j < c; ++j) p[j] *= inv;
  }

  // Per class (the background skipped): the scores above the threshold, the
  // best candidates_per_class of them, ties to the lower anchor.
  const float threshold = static_cast<float>(options_.score_threshold);
  const size_t per_class = static_cast<size_t>(options_.candidates_per_class);
  std::vector<Candidate> candidates;
  std::vector<size_t> passed;
  for (size_t label = options_.background_class ? 1 : 0; label < c; ++label) {
    passed.clear();
    for (size_t i = 0; i < anchors_.size(); ++i) {
      if (probs[i * c + label] > threshold) passed.push_back(i);
    }
    const size_t keep = std::min(per_class, passed.size());
    std::partial_sort(passed.begin(), passed.begin() + static_cast<std::ptrdiff_t>(keep),
                      passed.end(), [&](size_t a, size_t b) {
                        const float sa = probs[a * c + label];
                        const float sb = probs[b * c + label];
                        return sa > sb || (sa == sb && a < b);
                      });
    for (size_t r = 0; r < keep; ++r) {
      const size_t i = passed[r];
      if (!Finite(boxes[i])) continue;
      candidates.push_back({boxes[i], probs[i * c + label], static_cast<int>(label)});
    }
  }
  return candidates;
}

Result<std::vector<DetectionDecoder::Candidate>> DetectionDecoder::YoloCandidates(
    const std::vector<TensorView>& outputs) const {
  const YoloOptions& yolo = options_.yolo;
  const bool rows = yolo.layout == YoloLayout::kRows;
  const int64_t fixed = 4 + (yolo.objectness ? 1 : 0);
  const std::string per_candidate = std::to_string(fixed + 1) + "+ numbers per candidate (4 box" +
                                    (yolo.objectness ? ", 1 objectness" : "") +
                                    ", then the class scores)";
  const std::string expected =
      rows ? "[1, N, K] (postprocess.detect.yolo.layout rows) with K = " + per_candidate
           : "[1, K, N] (postprocess.detect.yolo.layout columns) with K = " + per_candidate;
  if (outputs.empty()) {
    return Status::InvalidArgument("the model has no outputs; expected " + expected);
  }
  SERDAB_ASSIGN_OR_RETURN(const auto dims, Rank3(outputs, 0, expected));
  const int64_t n = rows ? dims.first : dims.second;
  const int64_t k = rows ? dims.second : dims.first;
  const int64_t classes = k - fixed;
  if (classes < 1 || classes > std::numeric_limits<int>::max()) {
    std::string hint;
    if (n - fixed >= 1) {
      hint = rows ? " (is it postprocess.detect.yolo.layout columns?)"
                  : " (is it postprocess.detect.yolo.layout rows?)";
    }
    return Status::InvalidArgument("output 0 has shape " + ShapeString(outputs[0].shape) +
                                   "; expected " + expected + hint);
  }
  if (!yolo.strides.empty() && n != grid_cells_) {
    return Status::InvalidArgument(
        "output 0 has shape " + ShapeString(outputs[0].shape) + ": " + std::to_string(n) +
        " candidates, but postprocess.detect.yolo.strides make " + std::to_string(grid_cells_) +
        " grid cells on the " + std::to_string(input_width_) + "x" + std::to_string(input_height_) +
        " input");
  }
  const float* data = outputs[0].data;
  // Element j of candidate i, in either layout; i < n and j < k, so every
  // index is below n * k, the shape's product.
  auto at = [&](int64_t i, int64_t j) { return rows ? data[i * k + j] : data[j * n + i]; };
  auto score = [&](float v) { return yolo.sigmoid ? Sigmoid(v) : v; };
  const float threshold = static_cast<float>(options_.score_threshold);

  std::vector<Candidate> passed;
  // `stride` 0: the box numbers are pixels; else cell (gx, gy) of that grid.
  auto consider = [&](int64_t i, int stride, int gx, int gy) {
    const float obj = yolo.objectness ? score(at(i, 4)) : 1.f;
    // The best class, the first of equal ones (torch.max); a NaN anywhere
    // makes the score NaN, as torch.max propagates it, and drops the row.
    float best = 0;
    int best_class = -1;
    for (int64_t j = 0; j < classes; ++j) {
      float s = score(at(i, fixed + j));
      if (yolo.objectness) s = obj * s;
      if (std::isnan(s)) return;
      if (best_class < 0 || s > best) {
        best = s;
        best_class = static_cast<int>(j);
      }
    }
    if (!(best > threshold)) return;
    float cx = at(i, 0);
    float cy = at(i, 1);
    float w = at(i, 2);
    float h = at(i, 3);
    if (stride > 0) {
      const float s = static_cast<float>(stride);
      cx = (cx + static_cast<float>(gx)) * s;
      cy = (cy + static_cast<float>(gy)) * s;
      w = std::exp(w) * s;
      h = std::exp(h) * s;
    }
    const Box box{cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
    if (!Finite(box)) return;
    passed.push_back({box, best, best_class});
  };
  if (yolo.strides.empty()) {
    for (int64_t i = 0; i < n; ++i) consider(i, 0, 0, 0);
  } else {
    int64_t i = 0;
    for (int stride : yolo.strides) {
      const int cols = input_width_ / stride;
      const int grid_rows = input_height_ / stride;
      for (int gy = 0; gy < grid_rows; ++gy) {
        for (int gx = 0; gx < cols; ++gx) consider(i++, stride, gx, gy);
      }
    }
  }

  // The best candidates_per_class of each class, in score order (ties: the
  // lower row).
  std::vector<size_t> order(passed.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return passed[a].score > passed[b].score; });
  std::unordered_map<int, int> taken;
  std::vector<Candidate> candidates;
  for (size_t i : order) {
    if (taken[passed[i].class_id]++ < options_.candidates_per_class) {
      candidates.push_back(passed[i]);
    }
  }
  return candidates;
}

Result<std::vector<Detection>> DetectionDecoder::Decode(const std::vector<TensorView>& outputs,
                                                        const InputMapping& mapping) const {
  if (!(mapping.scale_x > 0 && std::isfinite(mapping.scale_x) && mapping.scale_y > 0 &&
        std::isfinite(mapping.scale_y) && std::isfinite(mapping.offset_x) &&
        std::isfinite(mapping.offset_y))) {
    return Status::InvalidArgument(
        "the input mapping needs positive, finite scales and finite "
        "offsets; got scale " +
        Number(mapping.scale_x) + " x " + Number(mapping.scale_y) + ", offset " +
        Number(mapping.offset_x) + ", " + Number(mapping.offset_y));
  }
  if (mapping.source_width < 1 || mapping.source_height < 1) {
    return Status::InvalidArgument(
        "the input mapping's source picture is " + std::to_string(mapping.source_width) + "x" +
        std::to_string(mapping.source_height) + " pixels; expected a positive size");
  }
  SERDAB_ASSIGN_OR_RETURN(
      const std::vector<Candidate> candidates,
      options_.format == DetectorFormat::kSsd ? SsdCandidates(outputs) : YoloCandidates(outputs));
  std::vector<Box> boxes;
  std::vector<float> scores;
  std::vector<int> classes;
  boxes.reserve(candidates.size());
  scores.reserve(candidates.size());
  classes.reserve(candidates.size());
  for (const Candidate& c : candidates) {
    boxes.push_back(c.box);
    scores.push_back(c.score);
    classes.push_back(c.class_id);
  }
  std::vector<size_t> keep = BatchedNms(boxes, scores, classes, options_.iou_threshold);
  if (keep.size() > static_cast<size_t>(options_.max_detections)) {
    keep.resize(static_cast<size_t>(options_.max_detections));
  }
  // model = source * scale + offset, so source = (model - offset) / scale.
  const double source_w = mapping.source_width;
  const double source_h = mapping.source_height;
  auto to_x = [&](float v) {
    return std::clamp((v - mapping.offset_x) / mapping.scale_x, 0.0, source_w);
  };
  auto to_y = [&](float v) {
    return std::clamp((v - mapping.offset_y) / mapping.scale_y, 0.0, source_h);
  };
  std::vector<Detection> detections;
  detections.reserve(keep.size());
  for (size_t i : keep) {
    const Candidate& c = candidates[i];
    const double x1 = to_x(c.box.x1);
    const double y1 = to_y(c.box.y1);
    const double x2 = to_x(c.box.x2);
    const double y2 = to_y(c.box.y2);
    detections.push_back({x1, y1, x2 - x1, y2 - y1, c.class_id, c.score});
  }
  return detections;
}

}  // namespace serdab::postprocess
