#include "orchestrator/deployment_plan.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "cli/zoo/model_zoo.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"
#include "partitioner/yaml_reader.h"

namespace serdab::orchestrator {
namespace {

using partitioner::Objective;
using partitioner::Range;
using partitioner::Reader;

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr Range kFinite{-kInfinity, false, kInfinity, "a finite number"};
constexpr Range kPositive{0, true, kInfinity, "a finite number > 0"};
constexpr Range kFps{0, true, 1000, "a number of frames per second > 0 and at most 1000"};
constexpr Range kLatencyMs{0, true, 3.6e6, "a number of ms > 0 and at most 3600000 (an hour)"};
constexpr Range kStages{1, false, kMaxPlanStages, "an integer from 1 to 16"};
constexpr Range kShards{0, false, 16, "an integer from 0 to 16"};
constexpr Range kBandwidthMbps{0, true, 1e6, "a number of Mbit/s > 0 and at most 1000000"};
constexpr Range kRttMs{0, false, 60000, "a number of ms from 0 to 60000"};
constexpr Range kLayers{0, false, 100000, "an integer from 0 to 100000"};
constexpr Range kSvn{0, false, 65535, "an integer from 0 to 65535"};
// 2^53: JSON readers that hold every number as a double still read the seed exactly.
constexpr Range kSeed{0, false, 9007199254740992.0, "an integer from 0 to 2^53"};
constexpr Range kDimension{1, false, 1 << 20, "an integer from 1 to 2^20"};
constexpr Range kResize{1, false, 65536, "an integer from 1 to 65536"};
constexpr size_t kMaxShapeRank = 8;
constexpr size_t kMaxTextBytes = 4096;

constexpr std::pair<const char*, WorkerProfiling> kWorkerProfilings[] = {
    {"shared", WorkerProfiling::kShared},
    {"each", WorkerProfiling::kEach},
};
constexpr std::pair<const char*, Objective> kObjectives[] = {
    {"throughput", Objective::kThroughput},
    {"latency", Objective::kLatency},
};
constexpr std::pair<const char*, PreprocessFit> kFits[] = {
    {"stretch", PreprocessFit::kStretch},
    {"crop", PreprocessFit::kCrop},
    {"letterbox", PreprocessFit::kLetterbox},
};
constexpr std::pair<const char*, bool> kChannelOrders[] = {{"rgb", false}, {"bgr", true}};
constexpr std::pair<const char*, bool> kInputTypes[] = {{"float32", false}, {"uint8", true}};
constexpr std::pair<const char*, postprocess::Kind> kPostprocessKinds[] = {
    {"classify", postprocess::Kind::kClassify},
    {"detect", postprocess::Kind::kDetect},
    {"segment", postprocess::Kind::kSegment},
};
constexpr std::pair<const char*, postprocess::YoloLayout> kYoloLayouts[] = {
    {"rows", postprocess::YoloLayout::kRows},
    {"columns", postprocess::YoloLayout::kColumns},
};
constexpr Range kUnit{0, false, 1, "a number from 0 to 1"};
constexpr Range kRatio{0, true, 1, "a number > 0 and at most 1"};
constexpr Range kTopK{1, false, 1000, "an integer from 1 to 1000"};
constexpr Range kCandidates{1, false, 100000, "an integer from 1 to 100000"};
constexpr Range kDetections{1, false, 10000, "an integer from 1 to 10000"};
constexpr Range kOutputIndex{0, false, 1023, "an output index from 0 to 1023"};
constexpr Range kFeatureMap{1, false, 4096, "an integer from 1 to 4096"};
constexpr Range kStride{1, false, 4096, "an integer from 1 to 4096"};
constexpr Range kPositiveBelowMillion{0, true, 1e6, "a number > 0 and at most 1000000"};
constexpr std::pair<const char*, OverloadPolicy> kOverloadPolicies[] = {
    {"drop_oldest", OverloadPolicy::kDropOldest},
    {"drop_newest", OverloadPolicy::kDropNewest},
    {"block", OverloadPolicy::kBlock},
    {"latest_only", OverloadPolicy::kLatestOnly},
};

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool IsLabelKey(std::string_view s) {
  return !s.empty() && s.size() <= 63 &&
         std::all_of(s.begin(), s.end(), [](char c) { return IsLabelChar(c) || c == '/'; });
}

bool IsLabelValue(std::string_view s) {
  return !s.empty() && s.size() <= 63 && std::all_of(s.begin(), s.end(), IsLabelChar);
}

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// 64 hex digits, lowered: the canonical form compares digests as text.
bool ParseHexDigest(std::string_view s, std::string* out) {
  if (s.size() != 64 || !std::all_of(s.begin(), s.end(), IsHex)) return false;
  out->clear();
  for (char c : s) out->push_back(c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c);
  return true;
}

// Well-formed UTF-8 without control characters or line separators. Such text stays on one
// line in error messages and logs, and serialises to JSON and reads back without loss
// (yaml-cpp passes malformed UTF-8 and escapes such as "\0" through as bytes).
bool IsPlainText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x20 || lead == 0x7f) return false;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t code_point;
    uint32_t min;
    if ((lead & 0xe0) == 0xc0) {
      extra = 1, code_point = lead & 0x1f, min = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      extra = 2, code_point = lead & 0x0f, min = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      extra = 3, code_point = lead & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past Unicode's last; C1 controls
    // and the line and paragraph separators, which some YAML readers take as line breaks.
    if (code_point < min || code_point > 0x10ffff ||
        (code_point >= 0xd800 && code_point <= 0xdfff) || code_point <= 0x9f ||
        code_point == 0x2028 || code_point == 0x2029) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

template <typename E, size_t N>
std::string EnumNames(const std::pair<const char*, E> (&values)[N]) {
  std::string names;
  for (const auto& [name, value] : values) names += (names.empty() ? "" : ", ") + std::string(name);
  return names;
}

template <typename E, size_t N>
const char* EnumName(const std::pair<const char*, E> (&values)[N], E value) {
  for (const auto& [name, v] : values) {
    if (v == value) return name;
  }
  return "";
}

SourceLocation LocationOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

bool Present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

// Reads one document into a plan, noting where every field it reads is written.
class PlanParser {
 public:
  PlanParser(std::string_view source, DeploymentPlan* plan) : r_(source), plan_(plan) {}

  Status Parse(const YAML::Node& root) {
    plan_->location = LocationOf(root);
    if (!root.IsMap()) {
      return r_.Error(root, "apiVersion",
                      "expected a map that starts apiVersion: serdab/v1, kind: Deployment");
    }
    SERDAB_RETURN_IF_ERROR(r_.CheckUniqueKeys(root, ""));
    // What the document is comes first: a cluster file or a future version given by mistake
    // is best told as such, not as a list of fields this version does not know.
    SERDAB_RETURN_IF_ERROR(Constant(root, "apiVersion", kPlanApiVersion));
    SERDAB_RETURN_IF_ERROR(Constant(root, "kind", kPlanKind));
    SERDAB_RETURN_IF_ERROR(
        r_.CheckMap(root, "",
                    {"apiVersion", "kind", "metadata", "model", "preprocess", "postprocess",
                     "workers", "placement", "attestation", "streams"}));
    SERDAB_RETURN_IF_ERROR(ParseMetadata(root));
    SERDAB_RETURN_IF_ERROR(ParseModel(root));
    SERDAB_RETURN_IF_ERROR(ParsePreprocess(root));
    SERDAB_RETURN_IF_ERROR(ParsePostprocess(root));
    SERDAB_RETURN_IF_ERROR(ParseWorkers(root));
    SERDAB_RETURN_IF_ERROR(ParsePlacement(root));
    SERDAB_RETURN_IF_ERROR(ParseAttestation(root));
    return ParseStreams(root);
  }

 private:
  Status ParseMetadata(const YAML::Node& root) {
    YAML::Node metadata;
    SERDAB_RETURN_IF_ERROR(Section(root, "metadata", "", true, "a map with name: NAME",
                                   {"name", "labels"}, &metadata));
    SERDAB_RETURN_IF_ERROR(Require(metadata, "name", "metadata", "a DNS label"));
    SERDAB_RETURN_IF_ERROR(Get(metadata, "name", "metadata", &plan_->name));
    if (!IsDnsLabel(plan_->name)) {
      return r_.Error(metadata["name"], "metadata.name", DnsLabelExpected(plan_->name));
    }
    return GetLabels(metadata, "labels", "metadata", &plan_->labels);
  }

  Status ParseModel(const YAML::Node& root) {
    YAML::Node model;
    SERDAB_RETURN_IF_ERROR(Section(root, "model", "", true, "zoo: NAME or path: FILE",
                                   {"zoo", "seed", "path", "sha256", "input"}, &model));
    ModelSpec& spec = plan_->model;
    SERDAB_RETURN_IF_ERROR(Get(model, "zoo", "model", &spec.zoo));
    SERDAB_RETURN_IF_ERROR(Get(model, "seed", "model", kSeed, &spec.seed));
    SERDAB_RETURN_IF_ERROR(Get(model, "path", "model", &spec.path));
    const bool has_zoo = Present(model["zoo"]);
    const bool has_path = Present(model["path"]);
    if (has_zoo == has_path) {
      return r_.Error(model, "model",
                      std::string("expected exactly one of zoo: NAME and path: FILE, got ") +
                          (has_zoo ? "both" : "neither"));
    }
    if (has_zoo) {
      const std::vector<std::string> names = zoo::ModelNames();
      if (std::find(names.begin(), names.end(), spec.zoo) == names.end()) {
        std::string expected;
        for (const std::string& name : names) expected += (expected.empty() ? "" : ", ") + name;
        return r_.Error(model["zoo"], "model.zoo",
                        "expected one of: " + expected + "; got '" + spec.zoo + "'");
      }
    } else {
      if (Present(model["seed"])) {
        return r_.Error(model["seed"], "model.seed", "only a zoo model has a seed");
      }
      SERDAB_RETURN_IF_ERROR(CheckText(model["path"], "model.path", spec.path));
    }
    std::string sha256;
    SERDAB_RETURN_IF_ERROR(Get(model, "sha256", "model", &sha256));
    if (Present(model["sha256"]) && !ParseHexDigest(sha256, &spec.sha256)) {
      return r_.Error(model["sha256"], "model.sha256",
                      "expected a SHA-256 digest: 64 hex digits, got '" + sha256 + "'");
    }
    YAML::Node input;
    SERDAB_RETURN_IF_ERROR(Section(model, "input", "model", false, "", {"shape", "type"}, &input));
    if (!Present(input)) return Status::Ok();
    SERDAB_RETURN_IF_ERROR(GetEnum(input, "type", "model.input", kInputTypes, &spec.pixel_input));
    if (!Present(input["shape"])) return Status::Ok();
    SERDAB_RETURN_IF_ERROR(
        GetNumbers(input, "shape", "model.input", kDimension, &spec.input_shape));
    if (spec.input_shape.empty() || spec.input_shape.size() > kMaxShapeRank) {
      return r_.Error(input["shape"], "model.input.shape",
                      "expected 1 to 8 dimensions, got " + std::to_string(spec.input_shape.size()));
    }
    const std::vector<int64_t>& shape = spec.input_shape;
    if (spec.pixel_input && (shape.size() != 4 || shape[0] != 1 || shape[3] != 3)) {
      return r_.Error(input["shape"], "model.input.shape",
                      "a uint8 input is the camera's RGB picture: expected [1, height, width, 3]");
    }
    return Status::Ok();
  }

  Status ParsePreprocess(const YAML::Node& root) {
    YAML::Node node;
    SERDAB_RETURN_IF_ERROR(Section(root, "preprocess", "", false, "",
                                   {"resize", "mean", "std", "fit", "channel_order"}, &node));
    if (!Present(node)) return Status::Ok();
    PreprocessSpec spec;
    SERDAB_RETURN_IF_ERROR(GetNumbers(node, "resize", "preprocess", kResize, &spec.resize));
    if (Present(node["resize"]) && spec.resize.size() != 2) {
      return r_.Error(
          node["resize"], "preprocess.resize",
          "expected [height, width], got " + std::to_string(spec.resize.size()) + " values");
    }
    SERDAB_RETURN_IF_ERROR(GetNumbers(node, "mean", "preprocess", kFinite, &spec.mean));
    SERDAB_RETURN_IF_ERROR(GetNumbers(node, "std", "preprocess", kPositive, &spec.std));
    for (const char* key : {"mean", "std"}) {
      if (plan_->model.pixel_input && Present(node[key])) {
        return r_.Error(node[key], std::string("preprocess.") + key,
                        "model.input.type is uint8: the model normalises its pixels itself, so "
                        "the client sends them as they are; remove preprocess.mean and .std");
      }
    }
    if (!spec.mean.empty() && !spec.std.empty() && spec.mean.size() != spec.std.size()) {
      return r_.Error(node["std"], "preprocess.std",
                      "expected one value per channel, as many as preprocess.mean (" +
                          std::to_string(spec.mean.size()) + "), got " +
                          std::to_string(spec.std.size()));
    }
    // Channels are known when the input is NCHW.
    const std::vector<int64_t>& shape = plan_->model.input_shape;
    auto check_channels = [&](const char* key, const std::vector<double>& values) {
      if (shape.size() != 4 || values.empty() || static_cast<int64_t>(values.size()) == shape[1]) {
        return Status::Ok();
      }
      return r_.Error(node[key], std::string("preprocess.") + key,
                      "expected one value per channel of model.input.shape (" +
                          std::to_string(shape[1]) + "), got " + std::to_string(values.size()));
    };
    SERDAB_RETURN_IF_ERROR(check_channels("mean", spec.mean));
    SERDAB_RETURN_IF_ERROR(check_channels("std", spec.std));
    SERDAB_RETURN_IF_ERROR(GetEnum(node, "fit", "preprocess", kFits, &spec.fit));
    SERDAB_RETURN_IF_ERROR(GetEnum(node, "channel_order", "preprocess", kChannelOrders, &spec.bgr));
    // An empty section asks for nothing, like a missing one, and must compare equal to it.
    if (!spec.resize.empty() || !spec.mean.empty() || !spec.std.empty() ||
        spec.fit != PreprocessFit::kStretch || spec.bgr) {
      plan_->preprocess = std::move(spec);
    }
    return Status::Ok();
  }

  Status ParsePostprocess(const YAML::Node& root) {
    YAML::Node node;
    SERDAB_RETURN_IF_ERROR(Section(root, "postprocess", "", false, "",
                                   {"kind", "labels_file", "top_k", "detect"}, &node));
    if (!Present(node)) return Status::Ok();
    postprocess::PostprocessOptions spec;
    SERDAB_RETURN_IF_ERROR(GetEnum(node, "kind", "postprocess", kPostprocessKinds, &spec.kind));
    SERDAB_RETURN_IF_ERROR(Get(node, "labels_file", "postprocess", &spec.labels_file));
    if (Present(node["labels_file"])) {
      SERDAB_RETURN_IF_ERROR(
          CheckText(node["labels_file"], "postprocess.labels_file", spec.labels_file));
    }
    SERDAB_RETURN_IF_ERROR(Get(node, "top_k", "postprocess", kTopK, &spec.top_k));
    if (Present(node["top_k"]) && spec.kind != postprocess::Kind::kClassify) {
      return r_.Error(node["top_k"], "postprocess.top_k", "only kind: classify has a top_k");
    }
    const bool detect = spec.kind == postprocess::Kind::kDetect;
    if (detect) {
      SERDAB_RETURN_IF_ERROR(
          Require(node, "detect", "postprocess", "a map with the detector's ssd: or yolo: heads"));
    } else if (Present(node["detect"])) {
      return r_.Error(node["detect"], "postprocess.detect",
                      "only kind: detect has a detect section");
    }
    if (detect) SERDAB_RETURN_IF_ERROR(ParseDetect(node, &spec.detect));
    plan_->postprocess = std::move(spec);
    return Status::Ok();
  }

  Status ParseDetect(const YAML::Node& postprocess_node, postprocess::DetectOptions* spec) {
    const std::string field = "postprocess.detect";
    YAML::Node node;
    SERDAB_RETURN_IF_ERROR(Section(postprocess_node, "detect", "postprocess", true, "",
                                   {"score_threshold", "iou_threshold", "candidates_per_class",
                                    "max_detections", "ssd", "yolo"},
                                   &node));
    SERDAB_RETURN_IF_ERROR(Get(node, "score_threshold", field, kUnit, &spec->score_threshold));
    SERDAB_RETURN_IF_ERROR(Get(node, "iou_threshold", field, kUnit, &spec->iou_threshold));
    SERDAB_RETURN_IF_ERROR(
        Get(node, "candidates_per_class", field, kCandidates, &spec->candidates_per_class));
    SERDAB_RETURN_IF_ERROR(Get(node, "max_detections", field, kDetections, &spec->max_detections));
    const bool ssd = Present(node["ssd"]);
    if (ssd == Present(node["yolo"])) {
      return r_.Error(node, field,
                      std::string("expected exactly one of ssd: {...} and yolo: {...}, got ") +
                          (ssd ? "both" : "neither"));
    }
    if (!ssd) {
      spec->format = postprocess::DetectorFormat::kYolo;
      YAML::Node yolo;
      SERDAB_RETURN_IF_ERROR(Section(node, "yolo", field, true, "",
                                     {"layout", "objectness", "sigmoid", "strides"}, &yolo));
      const std::string f = field + ".yolo";
      SERDAB_RETURN_IF_ERROR(GetEnum(yolo, "layout", f, kYoloLayouts, &spec->yolo.layout));
      SERDAB_RETURN_IF_ERROR(Get(yolo, "objectness", f, &spec->yolo.objectness));
      SERDAB_RETURN_IF_ERROR(Get(yolo, "sigmoid", f, &spec->yolo.sigmoid));
      return GetNumbers(yolo, "strides", f, kStride, &spec->yolo.strides);
    }
    spec->format = postprocess::DetectorFormat::kSsd;
    YAML::Node node_ssd;
    SERDAB_RETURN_IF_ERROR(
        Section(node, "ssd", field, true, "",
                {"outputs", "background_class", "feature_maps", "aspect_ratios", "min_ratio",
                 "max_ratio", "scales", "steps", "clip", "box_coder_weights"},
                &node_ssd));
    const std::string f = field + ".ssd";
    postprocess::SsdAnchorOptions& anchors = spec->ssd;
    YAML::Node outputs;
    SERDAB_RETURN_IF_ERROR(
        Section(node_ssd, "outputs", f, false, "", {"boxes", "scores"}, &outputs));
    if (Present(outputs)) {
      SERDAB_RETURN_IF_ERROR(
          Get(outputs, "boxes", f + ".outputs", kOutputIndex, &spec->boxes_output));
      SERDAB_RETURN_IF_ERROR(
          Get(outputs, "scores", f + ".outputs", kOutputIndex, &spec->scores_output));
      if (spec->boxes_output == spec->scores_output) {
        return r_.Error(outputs, f + ".outputs", "boxes and scores must be different outputs");
      }
    }
    SERDAB_RETURN_IF_ERROR(Get(node_ssd, "background_class", f, &spec->background_class));
    SERDAB_RETURN_IF_ERROR(Require(node_ssd, "feature_maps", f, "the heads' feature map sizes"));
    SERDAB_RETURN_IF_ERROR(
        GetNumbers(node_ssd, "feature_maps", f, kFeatureMap, &anchors.feature_maps));
    if (anchors.feature_maps.empty()) {
      return r_.Error(node_ssd["feature_maps"], f + ".feature_maps", "expected at least one size");
    }
    const YAML::Node ratios = Child(node_ssd, "aspect_ratios", f);
    if (Present(ratios)) {
      if (!ratios.IsSequence() || ratios.size() != anchors.feature_maps.size()) {
        return r_.Error(ratios, f + ".aspect_ratios",
                        "expected one list of ratios per feature map (" +
                            std::to_string(anchors.feature_maps.size()) + ")");
      }
      anchors.aspect_ratios.clear();
      for (size_t i = 0; i < ratios.size(); ++i) {
        const std::string name = f + ".aspect_ratios[" + std::to_string(i) + "]";
        if (!ratios[i].IsSequence()) return r_.Error(ratios[i], name, "expected a list of ratios");
        std::vector<double> list;
        for (size_t j = 0; j < ratios[i].size(); ++j) {
          double value = 0;
          SERDAB_RETURN_IF_ERROR(r_.Convert(ratios[i][j], name + "[" + std::to_string(j) + "]",
                                            kPositiveBelowMillion, &value));
          list.push_back(value);
        }
        anchors.aspect_ratios.push_back(std::move(list));
      }
    } else {
      anchors.aspect_ratios.assign(anchors.feature_maps.size(), {});
    }
    SERDAB_RETURN_IF_ERROR(Get(node_ssd, "min_ratio", f, kRatio, &anchors.min_ratio));
    SERDAB_RETURN_IF_ERROR(Get(node_ssd, "max_ratio", f, kRatio, &anchors.max_ratio));
    if (anchors.max_ratio < anchors.min_ratio) {
      return r_.Error(Present(node_ssd["max_ratio"]) ? node_ssd["max_ratio"] : node_ssd,
                      f + ".max_ratio", "expected at least min_ratio");
    }
    SERDAB_RETURN_IF_ERROR(
        GetNumbers(node_ssd, "scales", f, kPositiveBelowMillion, &anchors.scales));
    if (Present(node_ssd["scales"]) && anchors.scales.size() != anchors.feature_maps.size() + 1) {
      return r_.Error(node_ssd["scales"], f + ".scales",
                      "expected one scale per feature map plus one (" +
                          std::to_string(anchors.feature_maps.size() + 1) + ")");
    }
    SERDAB_RETURN_IF_ERROR(GetNumbers(node_ssd, "steps", f, kStride, &anchors.steps));
    if (Present(node_ssd["steps"]) && anchors.steps.size() != anchors.feature_maps.size()) {
      return r_.Error(node_ssd["steps"], f + ".steps",
                      "expected one step per feature map (" +
                          std::to_string(anchors.feature_maps.size()) + ")");
    }
    SERDAB_RETURN_IF_ERROR(Get(node_ssd, "clip", f, &anchors.clip));
    std::vector<double> weights;
    SERDAB_RETURN_IF_ERROR(
        GetNumbers(node_ssd, "box_coder_weights", f, kPositiveBelowMillion, &weights));
    if (Present(node_ssd["box_coder_weights"])) {
      if (weights.size() != 4) {
        return r_.Error(node_ssd["box_coder_weights"], f + ".box_coder_weights",
                        "expected four weights [wx, wy, ww, wh]");
      }
      std::copy(weights.begin(), weights.end(), anchors.box_coder_weights.begin());
    }
    return Status::Ok();
  }

  Status ParseWorkers(const YAML::Node& root) {
    YAML::Node workers;
    SERDAB_RETURN_IF_ERROR(Section(root, "workers", "", true, "a map with order: [TIER, ...]",
                                   {"selector", "order", "profile"}, &workers));
    WorkerSelection& spec = plan_->workers;
    SERDAB_RETURN_IF_ERROR(GetLabels(workers, "selector", "workers", &spec.selector));
    if (spec.selector.count(std::string(kTierLabel)) > 0) {
      return r_.Error(workers["selector"][std::string(kTierLabel)], "workers.selector.tier",
                      "expected no tier here: workers.order lists the tiers to use");
    }
    SERDAB_RETURN_IF_ERROR(
        Require(workers, "order", "workers", "a list of tier label values, earliest first"));
    const YAML::Node order = Child(workers, "order", "workers");
    if (!order.IsSequence() || order.size() == 0) {
      return r_.Error(order, "workers.order",
                      "expected a non-empty list of tier label values, earliest first");
    }
    for (size_t i = 0; i < order.size(); ++i) {
      const std::string field = "workers.order[" + std::to_string(i) + "]";
      std::string tier;
      SERDAB_RETURN_IF_ERROR(r_.Convert(order[i], field, &tier));
      if (!IsLabelValue(tier)) return r_.Error(order[i], field, LabelValueExpected(tier));
      if (std::find(spec.order.begin(), spec.order.end(), tier) != spec.order.end()) {
        return r_.Error(order[i], field, "tier '" + tier + "' is listed twice");
      }
      spec.order.push_back(tier);
    }
    return GetEnum(workers, "profile", "workers", kWorkerProfilings, &spec.profiling);
  }

  Status ParsePlacement(const YAML::Node& root) {
    YAML::Node placement;
    SERDAB_RETURN_IF_ERROR(Section(root, "placement", "", true,
                                   "a map, e.g. {objective: throughput, max_stages: 3}",
                                   {"objective", "slo", "max_stages", "allow_paging", "replication",
                                    "max_shards", "privacy", "network"},
                                   &placement));
    PlacementSpec& spec = plan_->placement;
    SERDAB_RETURN_IF_ERROR(
        GetEnum(placement, "objective", "placement", kObjectives, &spec.objective));
    YAML::Node slo;
    SERDAB_RETURN_IF_ERROR(
        Section(placement, "slo", "placement", false, "", {"min_fps", "max_latency_ms"}, &slo));
    if (Present(slo)) {
      double value = 0;
      if (Present(slo["min_fps"])) {
        SERDAB_RETURN_IF_ERROR(Get(slo, "min_fps", "placement.slo", kFps, &value));
        spec.min_fps = value;
      }
      if (Present(slo["max_latency_ms"])) {
        SERDAB_RETURN_IF_ERROR(Get(slo, "max_latency_ms", "placement.slo", kLatencyMs, &value));
        spec.max_latency_ms = value;
      }
    }
    SERDAB_RETURN_IF_ERROR(Get(placement, "max_stages", "placement", kStages, &spec.max_stages));
    SERDAB_RETURN_IF_ERROR(Get(placement, "allow_paging", "placement", &spec.allow_paging));
    SERDAB_RETURN_IF_ERROR(Get(placement, "replication", "placement", &spec.replication));
    SERDAB_RETURN_IF_ERROR(Get(placement, "max_shards", "placement", kShards, &spec.max_shards));
    YAML::Node network;
    SERDAB_RETURN_IF_ERROR(Section(placement, "network", "placement", false, "",
                                   {"bandwidth_mbps", "rtt_ms"}, &network));
    if (Present(network)) {
      double value = 0;
      if (Present(network["bandwidth_mbps"])) {
        SERDAB_RETURN_IF_ERROR(
            Get(network, "bandwidth_mbps", "placement.network", kBandwidthMbps, &value));
        spec.link_bandwidth_mbps = value;
      }
      if (Present(network["rtt_ms"])) {
        SERDAB_RETURN_IF_ERROR(Get(network, "rtt_ms", "placement.network", kRttMs, &value));
        spec.link_rtt_ms = value;
      }
    }
    YAML::Node privacy;
    SERDAB_RETURN_IF_ERROR(
        Section(placement, "privacy", "placement", false, "", {"min_enclave_layers"}, &privacy));
    if (!Present(privacy)) return Status::Ok();
    return Get(privacy, "min_enclave_layers", "placement.privacy", kLayers,
               &spec.min_enclave_layers);
  }

  Status ParseAttestation(const YAML::Node& root) {
    constexpr const char* kTrustExpected =
        "measurements: [MRENCLAVE, ...] (the worker enclaves to trust) or any_measurement: true";
    YAML::Node node;
    SERDAB_RETURN_IF_ERROR(Section(
        root, "attestation", "", true, kTrustExpected,
        {"allow_simulation", "allow_debug", "measurements", "any_measurement", "min_svn"}, &node));
    AttestationSpec& spec = plan_->attestation;
    SERDAB_RETURN_IF_ERROR(Get(node, "allow_simulation", "attestation", &spec.allow_simulation));
    SERDAB_RETURN_IF_ERROR(Get(node, "allow_debug", "attestation", &spec.allow_debug));
    SERDAB_RETURN_IF_ERROR(Get(node, "any_measurement", "attestation", &spec.any_measurement));
    SERDAB_RETURN_IF_ERROR(Get(node, "min_svn", "attestation", kSvn, &spec.min_svn));
    const YAML::Node list = Child(node, "measurements", "attestation");
    if (Present(list)) {
      if (!list.IsSequence()) {
        return r_.Error(list, "attestation.measurements", "expected a list of MRENCLAVEs");
      }
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string field = "attestation.measurements[" + std::to_string(i) + "]";
        std::string text;
        std::string hex;
        SERDAB_RETURN_IF_ERROR(r_.Convert(list[i], field, &text));
        if (!ParseHexDigest(text, &hex)) {
          return r_.Error(list[i], field,
                          "expected an MRENCLAVE: 64 hex digits, got '" + text + "'");
        }
        if (std::find(spec.measurements.begin(), spec.measurements.end(), hex) !=
            spec.measurements.end()) {
          return r_.Error(list[i], field, "measurement " + hex + " is listed twice");
        }
        spec.measurements.push_back(hex);
      }
      std::sort(spec.measurements.begin(), spec.measurements.end());
    }
    if (spec.any_measurement && !spec.measurements.empty()) {
      return r_.Error(node["any_measurement"], "attestation.any_measurement",
                      "expected false when measurements are listed (true accepts every enclave)");
    }
    if (!spec.any_measurement && spec.measurements.empty()) {
      return r_.Error(node, "attestation.measurements",
                      std::string("missing (expected ") + kTrustExpected + ")");
    }
    return Status::Ok();
  }

  Status ParseStreams(const YAML::Node& root) {
    const YAML::Node streams = Child(root, "streams", "");
    if (!Present(streams)) return Status::Ok();
    if (!streams.IsSequence()) return r_.Error(streams, "streams", "expected a list of streams");
    for (size_t i = 0; i < streams.size(); ++i) {
      const YAML::Node node = streams[i];
      const std::string field = "streams[" + std::to_string(i) + "]";
      Note(field, node);
      SERDAB_RETURN_IF_ERROR(Fields(node, field, {"name", "source", "fps", "on_overload"}));
      StreamSpec stream;
      SERDAB_RETURN_IF_ERROR(Require(node, "name", field, "a DNS label"));
      SERDAB_RETURN_IF_ERROR(Get(node, "name", field, &stream.name));
      if (!IsDnsLabel(stream.name)) {
        return r_.Error(node["name"], field + ".name", DnsLabelExpected(stream.name));
      }
      for (const StreamSpec& earlier : plan_->streams) {
        if (earlier.name == stream.name) {
          return r_.Error(node["name"], field + ".name",
                          "stream '" + stream.name + "' is named twice");
        }
      }
      SERDAB_RETURN_IF_ERROR(Require(node, "source", field, "the URL of the video source"));
      SERDAB_RETURN_IF_ERROR(Get(node, "source", field, &stream.source));
      SERDAB_RETURN_IF_ERROR(CheckText(node["source"], field + ".source", stream.source));
      SERDAB_RETURN_IF_ERROR(Require(node, "fps", field, kFps.expected));
      SERDAB_RETURN_IF_ERROR(Get(node, "fps", field, kFps, &stream.fps));
      SERDAB_RETURN_IF_ERROR(
          GetEnum(node, "on_overload", field, kOverloadPolicies, &stream.on_overload));
      plan_->streams.push_back(std::move(stream));
    }
    return Status::Ok();
  }

  // Records where `field` is written.
  void Note(const std::string& field, const YAML::Node& node) {
    const SourceLocation location = LocationOf(node);
    if (location.line > 0) plan_->locations[field] = location;
  }

  // map[key], noted when present.
  YAML::Node Child(const YAML::Node& map, const char* key, const std::string& field) {
    const YAML::Node node = map[key];
    if (Present(node)) Note(Reader::Join(field, key), node);
    return node;
  }

  // A map with no key outside `allowed` and none twice.
  Status Fields(const YAML::Node& node, const std::string& field,
                std::initializer_list<const char*> allowed) const {
    SERDAB_RETURN_IF_ERROR(r_.CheckMap(node, field, allowed));
    return r_.CheckUniqueKeys(node, field);
  }

  // The sub-map map[key] into *out (left undefined when absent and not `required`).
  Status Section(const YAML::Node& map, const char* key, const std::string& field, bool required,
                 const std::string& expected, std::initializer_list<const char*> allowed,
                 YAML::Node* out) {
    if (required) SERDAB_RETURN_IF_ERROR(Require(map, key, field, expected));
    const YAML::Node node = Child(map, key, field);
    if (!Present(node)) return Status::Ok();
    SERDAB_RETURN_IF_ERROR(Fields(node, Reader::Join(field, key), allowed));
    *out = node;
    return Status::Ok();
  }

  Status Require(const YAML::Node& map, const char* key, const std::string& field,
                 const std::string& expected) const {
    if (Present(map[key])) return Status::Ok();
    return r_.Error(map, Reader::Join(field, key), "missing (expected " + expected + ")");
  }

  // A field that must have exactly one value.
  Status Constant(const YAML::Node& root, const char* key, std::string_view value) {
    SERDAB_RETURN_IF_ERROR(Require(root, key, "", std::string(value)));
    std::string text;
    SERDAB_RETURN_IF_ERROR(Get(root, key, "", &text));
    if (text == value) return Status::Ok();
    return r_.Error(root[key], key,
                    "expected " + std::string(value) +
                        " (the only one this version supports), got '" + text + "'");
  }

  template <typename T>
  Status Get(const YAML::Node& map, const char* key, const std::string& field, T* out) {
    Child(map, key, field);
    return r_.Get(map, key, field, false, out);
  }

  template <typename T>
  Status Get(const YAML::Node& map, const char* key, const std::string& field, const Range& range,
             T* out) {
    Child(map, key, field);
    return r_.Get(map, key, field, false, range, out);
  }

  template <typename T>
  Status GetNumbers(const YAML::Node& map, const char* key, const std::string& field,
                    const Range& range, std::vector<T>* out) {
    Child(map, key, field);
    return r_.GetList(map, key, field, false, range, out);
  }

  template <typename E, size_t N>
  Status GetEnum(const YAML::Node& map, const char* key, const std::string& field,
                 const std::pair<const char*, E> (&values)[N], E* out) {
    std::string text;
    SERDAB_RETURN_IF_ERROR(Get(map, key, field, &text));
    if (!Present(map[key])) return Status::Ok();
    for (const auto& [name, value] : values) {
      if (text == name) {
        *out = value;
        return Status::Ok();
      }
    }
    return r_.Error(map[key], Reader::Join(field, key),
                    "expected one of: " + EnumNames(values) + "; got '" + text + "'");
  }

  Status GetLabels(const YAML::Node& map, const char* key, const std::string& field, Labels* out) {
    const YAML::Node node = Child(map, key, field);
    if (!Present(node)) return Status::Ok();
    const std::string name = Reader::Join(field, key);
    if (!node.IsMap()) return r_.Error(node, name, "expected a map of labels, e.g. {site: home}");
    for (const auto& entry : node) {
      const std::string label = entry.first.Scalar();
      if (!entry.first.IsScalar() || !IsLabelKey(label)) {
        return r_.Error(entry.first, name,
                        "expected label names of 1 to 63 characters from A-Z, a-z, 0-9, '.', "
                        "'_', '-' and '/', got '" +
                            label + "'");
      }
    }
    SERDAB_RETURN_IF_ERROR(r_.CheckUniqueKeys(node, name));
    for (const auto& entry : node) {
      const std::string field_name = name + "." + entry.first.Scalar();
      std::string value;
      SERDAB_RETURN_IF_ERROR(r_.Convert(entry.second, field_name, &value));
      if (!IsLabelValue(value))
        return r_.Error(entry.second, field_name, LabelValueExpected(value));
      Note(field_name, entry.second);
      (*out)[entry.first.Scalar()] = value;
    }
    return Status::Ok();
  }

  Status CheckText(const YAML::Node& node, const std::string& field,
                   const std::string& text) const {
    if (text.empty() || text.size() > kMaxTextBytes || !IsPlainText(text)) {
      return r_.Error(node, field,
                      "expected 1 to 4096 bytes of UTF-8 text without control characters");
    }
    return Status::Ok();
  }

  static std::string DnsLabelExpected(const std::string& got) {
    return "expected a DNS label: 1 to 63 characters from a-z, 0-9 and '-', not starting or "
           "ending with '-', got '" +
           got + "'";
  }

  static std::string LabelValueExpected(const std::string& got) {
    return "expected a label value: 1 to 63 characters from A-Z, a-z, 0-9, '.', '_' and '-', "
           "got '" +
           got + "'";
  }

  Reader r_;
  DeploymentPlan* plan_;
};

}  // namespace

std::string_view OverloadPolicyName(OverloadPolicy policy) {
  return EnumName(kOverloadPolicies, policy);
}

namespace {

// Messages quote the values at fault, which may hold line breaks ("a\nb" in YAML); escaping
// control characters keeps every message on one line.
Status OneLine(const Status& status) {
  std::string message;
  for (const char c : status.message()) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      message.push_back(c);
      continue;
    }
    static constexpr char kDigits[] = "0123456789abcdef";
    message += "\\x";
    message.push_back(kDigits[byte >> 4]);
    message.push_back(kDigits[byte & 0xf]);
  }
  return Status(status.code(), std::move(message));
}

Result<std::vector<DeploymentPlan>> ParsePlans(std::string_view yaml, std::string_view source) {
  SERDAB_ASSIGN_OR_RETURN(const std::vector<YAML::Node> documents,
                          partitioner::ParseYamlDocuments(yaml, source));
  std::vector<DeploymentPlan> plans;
  try {
    for (const YAML::Node& document : documents) {
      // A "---" with nothing after it, as files that concatenate documents often end.
      if (document.IsNull()) continue;
      DeploymentPlan plan;
      plan.source = std::string(source);
      SERDAB_RETURN_IF_ERROR(PlanParser(source, &plan).Parse(document));
      for (const DeploymentPlan& earlier : plans) {
        if (earlier.name == plan.name) {
          return PlanFieldError(plan, "metadata.name",
                                "deployment '" + plan.name + "' is already defined at line " +
                                    std::to_string(earlier.location.line));
        }
      }
      plans.push_back(std::move(plan));
    }
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws when misused (a lookup in a scalar, the position of a missing node);
    // the parser checks each node's type first, and this keeps a slip from escaping.
    return Status::InvalidArgument(std::string(source) + ":" + std::to_string(e.mark.line + 1) +
                                   ":" + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (plans.empty()) {
    return Status::InvalidArgument(std::string(source) +
                                   ":1:1: field 'apiVersion': missing (the file holds no "
                                   "document; expected a Deployment, apiVersion: serdab/v1)");
  }
  return plans;
}

}  // namespace

Result<std::vector<DeploymentPlan>> ParseDeploymentPlans(std::string_view yaml,
                                                         std::string_view source) {
  Result<std::vector<DeploymentPlan>> plans = ParsePlans(yaml, source);
  if (!plans.ok()) return OneLine(plans.status());
  return plans;
}

Result<std::vector<DeploymentPlan>> LoadDeploymentPlans(const std::string& path) {
  SERDAB_ASSIGN_OR_RETURN(const std::string text, partitioner::ReadTextFile(path));
  return ParseDeploymentPlans(text, path);
}

Status PlanFieldError(const DeploymentPlan& plan, std::string_view field, std::string_view what) {
  std::string where = plan.source.empty() ? "deployment '" + plan.name + "'" : plan.source;
  SourceLocation location = plan.location;
  for (std::string path(field);;) {
    const auto it = plan.locations.find(path);
    if (it != plan.locations.end()) {
      location = it->second;
      break;
    }
    const size_t parent = path.find_last_of(".[");
    if (parent == std::string::npos) break;
    path.resize(parent);
  }
  if (location.line > 0) {
    where += ":" + std::to_string(location.line) + ":" + std::to_string(location.column);
  }
  return Status::InvalidArgument(where + ": field '" + std::string(field) +
                                 "': " + std::string(what));
}

namespace {

nlohmann::json PostprocessJson(const postprocess::PostprocessOptions& spec) {
  using nlohmann::json;
  json out = {{"kind", EnumName(kPostprocessKinds, spec.kind)}};
  if (!spec.labels_file.empty()) out["labels_file"] = spec.labels_file;
  if (spec.kind == postprocess::Kind::kClassify) out["top_k"] = spec.top_k;
  if (spec.kind != postprocess::Kind::kDetect) return out;
  const postprocess::DetectOptions& d = spec.detect;
  json detect = {{"score_threshold", d.score_threshold},
                 {"iou_threshold", d.iou_threshold},
                 {"candidates_per_class", d.candidates_per_class},
                 {"max_detections", d.max_detections}};
  if (d.format == postprocess::DetectorFormat::kYolo) {
    detect["yolo"] = {{"layout", EnumName(kYoloLayouts, d.yolo.layout)},
                      {"objectness", d.yolo.objectness},
                      {"sigmoid", d.yolo.sigmoid},
                      {"strides", d.yolo.strides}};
  } else {
    const postprocess::SsdAnchorOptions& a = d.ssd;
    json ssd = {{"outputs", {{"boxes", d.boxes_output}, {"scores", d.scores_output}}},
                {"background_class", d.background_class},
                {"feature_maps", a.feature_maps},
                {"aspect_ratios", a.aspect_ratios},
                {"min_ratio", a.min_ratio},
                {"max_ratio", a.max_ratio},
                {"clip", a.clip},
                {"box_coder_weights", a.box_coder_weights}};
    if (!a.scales.empty()) ssd["scales"] = a.scales;
    if (!a.steps.empty()) ssd["steps"] = a.steps;
    detect["ssd"] = std::move(ssd);
  }
  out["detect"] = std::move(detect);
  return out;
}

}  // namespace

std::string CanonicalPlanJson(const DeploymentPlan& plan) {
  using nlohmann::json;
  json model = json::object();
  if (!plan.model.zoo.empty()) {
    model["zoo"] = plan.model.zoo;
    model["seed"] = plan.model.seed;
  } else {
    model["path"] = plan.model.path;
  }
  if (!plan.model.sha256.empty()) model["sha256"] = plan.model.sha256;
  if (!plan.model.input_shape.empty()) model["input"]["shape"] = plan.model.input_shape;
  if (plan.model.pixel_input) model["input"]["type"] = "uint8";

  json placement = json::object();
  placement["objective"] = ObjectiveName(plan.placement.objective);
  if (plan.placement.min_fps) placement["slo"]["min_fps"] = *plan.placement.min_fps;
  if (plan.placement.max_latency_ms) {
    placement["slo"]["max_latency_ms"] = *plan.placement.max_latency_ms;
  }
  placement["max_stages"] = plan.placement.max_stages;
  placement["allow_paging"] = plan.placement.allow_paging;
  // Only when set, so that the digests of plans written before it stay.
  if (plan.placement.replication) placement["replication"] = true;
  if (plan.placement.max_shards > 1) placement["max_shards"] = plan.placement.max_shards;
  placement["privacy"]["min_enclave_layers"] = plan.placement.min_enclave_layers;
  if (plan.placement.link_bandwidth_mbps) {
    placement["network"]["bandwidth_mbps"] = *plan.placement.link_bandwidth_mbps;
  }
  if (plan.placement.link_rtt_ms) placement["network"]["rtt_ms"] = *plan.placement.link_rtt_ms;

  const AttestationSpec& attestation = plan.attestation;
  json streams = json::array();
  for (const StreamSpec& stream : plan.streams) {
    streams.push_back({{"name", stream.name},
                       {"source", stream.source},
                       {"fps", stream.fps},
                       {"on_overload", OverloadPolicyName(stream.on_overload)}});
  }

  json out = json::object();
  out["apiVersion"] = kPlanApiVersion;
  out["kind"] = kPlanKind;
  out["metadata"]["name"] = plan.name;
  out["metadata"]["labels"] = plan.labels;
  out["model"] = std::move(model);
  if (plan.preprocess) {
    json preprocess = json::object();
    if (!plan.preprocess->resize.empty()) preprocess["resize"] = plan.preprocess->resize;
    if (!plan.preprocess->mean.empty()) preprocess["mean"] = plan.preprocess->mean;
    if (!plan.preprocess->std.empty()) preprocess["std"] = plan.preprocess->std;
    // Only when not the default, so that the digests of plans written before them stay.
    if (plan.preprocess->fit != PreprocessFit::kStretch) {
      preprocess["fit"] = EnumName(kFits, plan.preprocess->fit);
    }
    if (plan.preprocess->bgr) preprocess["channel_order"] = "bgr";
    out["preprocess"] = std::move(preprocess);
  }
  if (plan.postprocess) out["postprocess"] = PostprocessJson(*plan.postprocess);
  out["workers"]["selector"] = plan.workers.selector;
  out["workers"]["order"] = plan.workers.order;
  if (plan.workers.profiling != WorkerProfiling::kShared) {
    out["workers"]["profile"] = EnumName(kWorkerProfilings, plan.workers.profiling);
  }
  out["placement"] = std::move(placement);
  out["attestation"] = {{"allow_simulation", attestation.allow_simulation},
                        {"allow_debug", attestation.allow_debug},
                        {"measurements", attestation.measurements},
                        {"any_measurement", attestation.any_measurement},
                        {"min_svn", attestation.min_svn}};
  out["streams"] = std::move(streams);
  // Parsed text is valid UTF-8; `replace` keeps a plan built by hand from throwing.
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<DeploymentPlan> DeploymentPlanFromJson(std::string_view json) {
  // JSON is YAML's flow style, so the YAML parser reads it with every check it makes;
  // accept() first keeps YAML-only syntax out.
  constexpr std::string_view kSource = "plan JSON";
  if (!nlohmann::json::accept(json.begin(), json.end())) {
    return Status::InvalidArgument(std::string(kSource) + ": not valid JSON");
  }
  SERDAB_ASSIGN_OR_RETURN(std::vector<DeploymentPlan> plans, ParseDeploymentPlans(json, kSource));
  DeploymentPlan plan = std::move(plans.front());
  plan.source.clear();
  plan.location = {};
  plan.locations.clear();
  return plan;
}

std::string PlanDigest(const DeploymentPlan& plan) {
  return crypto::HexEncode(crypto::Sha256(crypto::AsBytes(CanonicalPlanJson(plan))));
}

int TierRank(const DeploymentPlan& plan, const Labels& worker_labels) {
  const auto tier = worker_labels.find(std::string(kTierLabel));
  if (tier == worker_labels.end()) return -1;
  const std::vector<std::string>& order = plan.workers.order;
  const auto it = std::find(order.begin(), order.end(), tier->second);
  return it == order.end() ? -1 : static_cast<int>(it - order.begin());
}

bool MatchesSelector(const DeploymentPlan& plan, const Labels& worker_labels) {
  for (const auto& [key, value] : plan.workers.selector) {
    const auto it = worker_labels.find(key);
    if (it == worker_labels.end() || it->second != value) return false;
  }
  return TierRank(plan, worker_labels) >= 0;
}

std::vector<std::string> OrderWorkers(const DeploymentPlan& plan,
                                      const std::map<std::string, Labels>& labels_by_worker) {
  std::vector<std::pair<int, std::string>> ranked;
  for (const auto& [name, labels] : labels_by_worker) {
    if (MatchesSelector(plan, labels)) ranked.emplace_back(TierRank(plan, labels), name);
  }
  std::sort(ranked.begin(), ranked.end());
  std::vector<std::string> names;
  for (auto& [rank, name] : ranked) names.push_back(std::move(name));
  return names;
}

Result<attestation::QuotePolicy> WorkerQuotePolicy(const DeploymentPlan& plan) {
  attestation::QuotePolicy policy;
  for (const std::string& hex : plan.attestation.measurements) {
    SERDAB_ASSIGN_OR_RETURN(attestation::Measurement m,
                            crypto::HexDecodeArray<32>(hex, "measurement"));
    policy.allowed_mrenclaves.push_back(m);
  }
  policy.allow_any_enclave = plan.attestation.any_measurement;
  policy.min_svn = static_cast<uint16_t>(plan.attestation.min_svn);
  policy.allow_simulation = plan.attestation.allow_simulation;
  policy.allow_debug = plan.attestation.allow_debug;
  return policy;
}

}  // namespace serdab::orchestrator
