// Deployment plans: what a user applies to the orchestrator to run a model over camera
// streams across the enclaves of a set of workers. A YAML file holds one or more plans,
// separated by "---" (empty documents are skipped; deployment names are unique per file):
//
//   apiVersion: serdab/v1                 # required, exactly this
//   kind: Deployment                      # required, exactly this
//   metadata:
//     name: lobby                         # required: a DNS label, 1..63 of [a-z0-9-], no '-'
//                                         #   at either end
//     labels: {team: vision}              # optional label map (see labels below)
//   model:                                # required: exactly one of zoo and path
//     zoo: resnet50                       # a `serdab zoo` model name ...
//     seed: 0                             # ... and its weight seed (zoo only; default 0)
//     path: models/vgg16.onnx             # ... or an ONNX file, as written (not resolved here)
//     sha256: "9f2c..."                   # optional: the model file's SHA-256, 64 hex digits
//     input:                              # optional
//       shape: [1, 3, 224, 224]           # optional: 1..8 dimensions, each 1..2^20
//       type: float32                     # float32 (default): the client normalises frames
//                                         #   | uint8: the model takes the camera's RGB
//                                         #   picture, [1, height, width, 3], and normalises
//                                         #   it itself (a zoo model is then built with
//                                         #   `serdab zoo --pixel-input`); frames cross the
//                                         #   network and the first enclave's boundary at a
//                                         #   byte per sample, and preprocess has no mean/std;
//                                         #   `serdab apply` checks type and shape against the
//                                         #   model's own input
//   preprocess:                           # optional, each field optional
//     resize: [224, 224]                  # [height, width], each 1..65536
//     mean: [0.485, 0.456, 0.406]         # per channel, finite
//     std: [0.229, 0.224, 0.225]          # per channel, > 0; as many as mean, and as the
//                                         #   input's channels when its shape is NCHW
//     fit: stretch                        # stretch (default) | crop (keep the aspect, cut
//                                         #   the centre) | letterbox (keep the aspect, pad)
//     channel_order: rgb                  # rgb (default) | bgr
//   postprocess:                          # optional: what the client makes of the outputs
//     kind: classify                      # classify (default) | detect | segment
//     labels_file: imagenet_classes.txt   # optional: class names, one per line (read by
//                                         #   the client, as written)
//     top_k: 5                            # classify: 1..1000, default 5
//     detect:                             # kind detect only, and then required; exactly
//                                         #   one of ssd and yolo
//       score_threshold: 0.5              # [0, 1], default 0.5
//       iou_threshold: 0.45               # NMS, per class: [0, 1], default 0.45
//       candidates_per_class: 300         # 1..100000, default 300
//       max_detections: 100               # 1..10000, default 100
//       ssd:                              # torchvision-style SSD heads (see
//         outputs: {boxes: 0, scores: 1}  #   cli/postprocess/postprocess_options.h)
//         background_class: true
//         feature_maps: [20, 10, 5, 3, 2, 1]        # required, each 1..4096
//         aspect_ratios: [[2, 3], [2, 3], ...]      # one list per feature map, each > 0
//         min_ratio: 0.2                  # (0, 1], default 0.15
//         max_ratio: 0.95                 # (0, 1], default 0.9, >= min_ratio
//         scales: [...]                   # optional: one per feature map plus one
//         steps: [8, 16, 32, 64, 100, 300]  # optional: one per feature map (ssd300)
//         clip: true
//         box_coder_weights: [10, 10, 5, 5]
//       yolo:                             # YOLO-style single output
//         layout: rows                    # rows [1, N, K] (default) | columns [1, K, N]
//         objectness: true
//         sigmoid: false                  # true: the scores are logits
//         strides: [8, 16, 32]            # optional: raw grid offsets (anchor-free)
//   workers:                              # required
//     selector: {site: home}              # optional label map; empty: every worker
//     order: [edge, cloud]                # required: values of the workers' `tier` label,
//                                         #   earliest stages first, unique; workers whose
//                                         #   tier is not listed are not used
//     profile: shared                     # shared (default): workers with the same CPU
//                                         #   model, EPC and threads share one profile, taken
//                                         #   on the first of them and cached; each: every
//                                         #   worker is profiled in its own enclave (cores of
//                                         #   one model that run at different speeds, as a
//                                         #   VM's vCPUs may)
//   placement:                            # required (it may be empty: {})
//     objective: throughput               # throughput (default) | latency
//     slo: {min_fps: 10, max_latency_ms: 500}   # optional, each optional: fps in (0, 1000],
//                                         #   latency in (0, 3600000] ms
//     max_stages: 3                       # 1..16, default 16
//     allow_paging: true                  # default true; false: a stage whose working set
//                                         #   exceeds its worker's EPC is refused
//     replication: false                  # default false; true lets a stage run on two
//                                         #   neighbouring workers taking alternate frames
//     max_shards: 0                       # 0..16, default 0: up to this many neighbouring
//                                         #   workers may each hold a part of one large
//                                         #   layer (split by its outputs) and run it
//                                         #   together on every frame
//     privacy: {min_enclave_layers: 4}    # the first N layers run in enclaves; 0..100000,
//                                         #   default 0
//     network: {bandwidth_mbps: 100, rtt_ms: 2}  # optional: the link between any two
//                                         #   workers (and the client), each optional:
//                                         #   bandwidth in (0, 1e6] Mbit/s (default 10000),
//                                         #   round trip in [0, 60000] ms (default 0.2)
//   attestation:                          # required: the worker enclaves the plan trusts
//     allow_simulation: false             # default false
//     allow_debug: false                  # default false
//     measurements: ["<64 hex>", ...]     # MRENCLAVEs accepted, unique
//     any_measurement: false              # default false; true accepts every enclave, and
//                                         #   then measurements must be empty
//     min_svn: 0                          # 0..65535, default 0
//   streams:                              # optional list
//     - {name: front-door, source: "rtsp://cam/1", fps: 15, on_overload: drop_oldest}
//       # name: a DNS label, unique in the plan; source: non-empty text; fps in (0, 1000];
//       # on_overload: drop_oldest (default) | drop_newest | block
//
// Label maps (metadata.labels, workers.selector) map keys of 1..63 characters from
// [A-Za-z0-9._/-] to values of 1..63 characters from [A-Za-z0-9._-]. The selector may not
// name `tier`: workers.order says which tiers are used. Free text (model.path,
// streams[].source) must be 1..4096 bytes of UTF-8 without control characters. The
// attestation section must list at least one measurement or set any_measurement: true, so
// that a forgotten section cannot silently trust every enclave: the section is required.
//
// Errors. Every error is InvalidArgument with one line, "FILE:LINE:COL: field 'a.b.c':
// what was expected" (LINE and COL 1-based): unknown fields (naming the expected ones),
// fields given twice, wrong types, numbers out of range, values outside an enum (naming
// the allowed ones), missing required fields (at the map that should hold them), and
// names given twice. Control characters in the values quoted are escaped as \xNN, so
// that a value cannot break the line. A YAML syntax error has no field: it is
// "FILE:LINE:COL: yaml-cpp's message", as for profiles (partitioner/profile_io.h). An
// empty file (no document) is an error.
//
// Checks that need the cluster (no matching worker, an SLO no placement meets, a stage
// that does not fit its EPC without paging) are the orchestrator's: it reports them with
// PlanFieldError, which points at the field's place in the file the plan came from.
#ifndef SERDAB_ORCHESTRATOR_DEPLOYMENT_PLAN_H_
#define SERDAB_ORCHESTRATOR_DEPLOYMENT_PLAN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/postprocess/postprocess_options.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/common/status.h"
#include "partitioner/placement.h"

namespace serdab::orchestrator {

inline constexpr std::string_view kPlanApiVersion = "serdab/v1";
inline constexpr std::string_view kPlanKind = "Deployment";
// The worker label that workers.order lists values of.
inline constexpr std::string_view kTierLabel = "tier";
inline constexpr int kMaxPlanStages = 16;

using Labels = std::map<std::string, std::string>;

// 1-based; 0 when unknown.
struct SourceLocation {
  int line = 0;
  int column = 0;
};

enum class OverloadPolicy {
  kDropOldest,  // a frame arriving at a full pipeline evicts the oldest waiting one
  kDropNewest,  // ... is itself dropped
  kBlock,       // ... waits: the source is read no faster than the pipeline runs
  kLatestOnly,  // ... replaces every waiting one: only the latest frame waits
};

// "drop_oldest", "drop_newest", "block", "latest_only".
std::string_view OverloadPolicyName(OverloadPolicy policy);

struct ModelSpec {
  // Exactly one of zoo and path is non-empty.
  std::string zoo;
  uint64_t seed = 0;  // zoo weights; at most 2^53
  std::string path;
  std::string sha256;                // lowercase hex, or empty: any bytes
  std::vector<int64_t> input_shape;  // empty: the model's own
  bool pixel_input = false;          // input.type: uint8
};

enum class PreprocessFit { kStretch, kCrop, kLetterbox };

struct PreprocessSpec {
  std::vector<int64_t> resize;  // {height, width}, or empty: frames are not resized
  std::vector<double> mean;     // empty: nothing subtracted
  std::vector<double> std;      // empty: nothing divided
  PreprocessFit fit = PreprocessFit::kStretch;
  bool bgr = false;  // channel_order: bgr
};

// How the planner profiles a plan's workers (workers.profile).
enum class WorkerProfiling { kShared, kEach };

struct WorkerSelection {
  Labels selector;
  std::vector<std::string> order;  // tier label values, earliest stages first
  WorkerProfiling profiling = WorkerProfiling::kShared;
};

struct PlacementSpec {
  partitioner::Objective objective = partitioner::Objective::kThroughput;
  std::optional<double> min_fps;
  std::optional<double> max_latency_ms;
  int max_stages = kMaxPlanStages;
  bool allow_paging = true;
  bool replication = false;
  int max_shards = 0;  // 0 or 1: no layer is split across workers
  int min_enclave_layers = 0;
  std::optional<double> link_bandwidth_mbps;  // empty: the planner's default
  std::optional<double> link_rtt_ms;
};

struct AttestationSpec {
  bool allow_simulation = false;
  bool allow_debug = false;
  std::vector<std::string> measurements;  // lowercase hex, sorted: the order means nothing
  bool any_measurement = false;
  int min_svn = 0;
};

struct StreamSpec {
  std::string name;
  std::string source;
  double fps = 0;
  OverloadPolicy on_overload = OverloadPolicy::kDropOldest;
};

struct DeploymentPlan {
  std::string name;
  Labels labels;
  ModelSpec model;
  std::optional<PreprocessSpec> preprocess;
  std::optional<postprocess::PostprocessOptions> postprocess;
  WorkerSelection workers;
  PlacementSpec placement;
  AttestationSpec attestation;
  std::vector<StreamSpec> streams;

  // Where the plan was written, for PlanFieldError; not part of the plan's canonical form.
  std::string source;       // the file (ParseDeploymentPlans' `source`); empty when unknown
  SourceLocation location;  // the document
  // Field path ("workers.selector", "streams[0].fps") -> where its value is. Only fields
  // present in the text are listed.
  std::map<std::string, SourceLocation> locations;
};

// Every plan in `yaml`, in file order. `source` names the text in errors (its file name).
Result<std::vector<DeploymentPlan>> ParseDeploymentPlans(std::string_view yaml,
                                                         std::string_view source);
Result<std::vector<DeploymentPlan>> LoadDeploymentPlans(const std::string& path);

// The one-line error "FILE:LINE:COL: field 'FIELD': WHAT" for a check made after parsing.
// The location is the field's, else its nearest enclosing field's that has one, else the
// document's; a plan without a source (read from JSON) is named "deployment 'NAME'".
Status PlanFieldError(const DeploymentPlan& plan, std::string_view field, std::string_view what);

// The policy the plan's attestation section sets for the worker enclaves
// that may receive a partition.
Result<attestation::QuotePolicy> WorkerQuotePolicy(const DeploymentPlan& plan);

// A JSON object that holds every field of the plan, defaults included, and no source
// location: two plans that mean the same have the same text, whatever their formatting,
// comments, key order or the defaults they spell out. Keys are sorted; no whitespace.
std::string CanonicalPlanJson(const DeploymentPlan& plan);

// Reads CanonicalPlanJson's text (or any JSON of the same fields) back, with the checks
// ParseDeploymentPlans makes. The plan has no source and no locations.
Result<DeploymentPlan> DeploymentPlanFromJson(std::string_view json);

// Lowercase hex SHA-256 of CanonicalPlanJson.
std::string PlanDigest(const DeploymentPlan& plan);

// Which workers a plan uses, and in what order. A worker is used when its labels hold
// every selector pair and its tier label is one workers.order lists; TierRank is that
// tier's index in workers.order (-1: not listed, or no tier label). The placement solver
// takes workers sorted by (TierRank, name), which OrderWorkers returns.
int TierRank(const DeploymentPlan& plan, const Labels& worker_labels);
bool MatchesSelector(const DeploymentPlan& plan, const Labels& worker_labels);
std::vector<std::string> OrderWorkers(const DeploymentPlan& plan,
                                      const std::map<std::string, Labels>& labels_by_worker);

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_DEPLOYMENT_PLAN_H_
