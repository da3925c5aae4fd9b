#include "orchestrator/deployment_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace serdab::orchestrator {
namespace {

// Every field, in block style; the line numbers of the malformed cases below count from it.
constexpr char kPlan[] = R"(apiVersion: serdab/v1
kind: Deployment
metadata:
  name: lobby
model:
  zoo: resnet50
workers:
  selector: {site: home}
  order: [edge, cloud]
placement:
  objective: throughput
  max_stages: 3
attestation:
  any_measurement: true
streams:
  - {name: front-door, source: "rtsp://cam/1", fps: 15}
)";

constexpr char kMeasurement[] = "3b1f6c2a9d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

// A plan that sets every field the format has to something other than its default.
const std::string kFullPlan = std::string(R"(apiVersion: serdab/v1
kind: Deployment
metadata: {name: lobby, labels: {team: vision, floor: "1"}}
model: {zoo: resnet50, seed: 7, sha256: ")") +
                              std::string(64, 'a') + R"(",
        input: {shape: [1, 3, 224, 224]}}
preprocess: {resize: [256, 256], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
workers: {selector: {site: home, rack: r1}, order: [edge, cloud], profile: each}
placement:
  objective: latency
  slo: {min_fps: 10, max_latency_ms: 500}
  max_stages: 3
  allow_paging: false
  replication: true
  max_shards: 2
  privacy: {min_enclave_layers: 4}
  network: {bandwidth_mbps: 100, rtt_ms: 2.5}
attestation:
  allow_simulation: true
  allow_debug: true
  measurements: [")" + kMeasurement +
                              R"("]
  min_svn: 2
streams:
  - {name: front-door, source: "rtsp://cam/1", fps: 15, on_overload: block}
  - {name: back-door, source: "rtsp://cam/2", fps: 7.5}
)";

std::string RepoPath(const std::string& relative) {
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / relative)
      .string();
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// "FILE:LINE:COL: " of the first `needle` in `text`.
std::string Where(const std::string& text, const std::string& needle,
                  const std::string& file = "bad.yaml") {
  const size_t at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  const size_t line_start = text.rfind('\n', at);
  const size_t column = line_start == std::string::npos ? at + 1 : at - line_start;
  const size_t line = 1 + std::count(text.begin(), text.begin() + at, '\n');
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
}

DeploymentPlan ParseOne(const std::string& text) {
  Result<std::vector<DeploymentPlan>> plans = ParseDeploymentPlans(text, "plan.yaml");
  EXPECT_TRUE(plans.ok()) << plans.status().message();
  if (!plans.ok()) return {};
  EXPECT_EQ(plans->size(), 1u);
  return plans->front();
}

TEST(DeploymentPlanTest, ExamplePlanParses) {
  const std::string path = RepoPath("deploy/examples/plan.yaml");
  Result<std::vector<DeploymentPlan>> plans = LoadDeploymentPlans(path);
  ASSERT_TRUE(plans.ok()) << plans.status().message();
  ASSERT_EQ(plans->size(), 1u);
  const DeploymentPlan& plan = plans->front();
  EXPECT_EQ(plan.name, "lobby");
  EXPECT_EQ(plan.labels, (Labels{{"team", "vision"}}));
  EXPECT_EQ(plan.model.zoo, "resnet50");
  EXPECT_EQ(plan.model.input_shape, (std::vector<int64_t>{1, 3, 224, 224}));
  ASSERT_TRUE(plan.preprocess.has_value());
  EXPECT_EQ(plan.preprocess->mean.size(), 3u);
  EXPECT_EQ(plan.workers.selector, (Labels{{"site", "home"}}));
  EXPECT_EQ(plan.workers.order, (std::vector<std::string>{"edge", "cloud"}));
  EXPECT_EQ(plan.placement.objective, partitioner::Objective::kThroughput);
  EXPECT_EQ(plan.placement.min_fps, 10.0);
  EXPECT_EQ(plan.placement.max_latency_ms, 500.0);
  EXPECT_EQ(plan.placement.max_stages, 3);
  EXPECT_EQ(plan.placement.min_enclave_layers, 4);
  EXPECT_TRUE(plan.attestation.allow_simulation);
  EXPECT_EQ(plan.attestation.measurements.size(), 1u);
  ASSERT_EQ(plan.streams.size(), 1u);
  EXPECT_EQ(plan.streams[0].name, "front-door");
  EXPECT_EQ(plan.streams[0].fps, 15.0);
  EXPECT_EQ(plan.source, path);
}

TEST(DeploymentPlanTest, ParsesEveryField) {
  const DeploymentPlan plan = ParseOne(kFullPlan);
  EXPECT_EQ(plan.labels, (Labels{{"floor", "1"}, {"team", "vision"}}));
  EXPECT_EQ(plan.model.seed, 7u);
  EXPECT_EQ(plan.model.sha256, std::string(64, 'a'));
  ASSERT_TRUE(plan.preprocess.has_value());
  EXPECT_EQ(plan.preprocess->resize, (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(plan.preprocess->std, (std::vector<double>{0.229, 0.224, 0.225}));
  EXPECT_EQ(plan.workers.profiling, WorkerProfiling::kEach);
  EXPECT_EQ(plan.placement.objective, partitioner::Objective::kLatency);
  EXPECT_FALSE(plan.placement.allow_paging);
  EXPECT_TRUE(plan.placement.replication);
  EXPECT_EQ(plan.placement.max_shards, 2);
  EXPECT_EQ(plan.placement.link_bandwidth_mbps, 100.0);
  EXPECT_EQ(plan.placement.link_rtt_ms, 2.5);
  EXPECT_TRUE(plan.attestation.allow_debug);
  EXPECT_EQ(plan.attestation.measurements, (std::vector<std::string>{kMeasurement}));
  EXPECT_EQ(plan.attestation.min_svn, 2);
  ASSERT_EQ(plan.streams.size(), 2u);
  EXPECT_EQ(plan.streams[0].on_overload, OverloadPolicy::kBlock);
  EXPECT_EQ(plan.streams[1].fps, 7.5);
}

TEST(DeploymentPlanTest, DefaultsAreApplied) {
  const DeploymentPlan plan = ParseOne(Replace(kPlan, "  max_stages: 3\n", ""));
  EXPECT_EQ(plan.model.seed, 0u);
  EXPECT_TRUE(plan.model.sha256.empty());
  EXPECT_TRUE(plan.model.input_shape.empty());
  EXPECT_FALSE(plan.preprocess.has_value());
  EXPECT_TRUE(plan.labels.empty());
  EXPECT_EQ(plan.workers.profiling, WorkerProfiling::kShared);
  EXPECT_EQ(plan.placement.objective, partitioner::Objective::kThroughput);
  EXPECT_FALSE(plan.placement.min_fps.has_value());
  EXPECT_FALSE(plan.placement.max_latency_ms.has_value());
  EXPECT_EQ(plan.placement.max_stages, kMaxPlanStages);
  EXPECT_TRUE(plan.placement.allow_paging);
  EXPECT_FALSE(plan.placement.replication);
  EXPECT_EQ(plan.placement.max_shards, 0);
  EXPECT_EQ(plan.placement.min_enclave_layers, 0);
  EXPECT_FALSE(plan.attestation.allow_simulation);
  EXPECT_FALSE(plan.attestation.allow_debug);
  EXPECT_EQ(plan.attestation.min_svn, 0);
  ASSERT_EQ(plan.streams.size(), 1u);
  EXPECT_EQ(plan.streams[0].on_overload, OverloadPolicy::kDropOldest);
  // An empty selector selects every worker; no streams is a valid plan.
  const DeploymentPlan bare = ParseOne(
      Replace(Replace(kPlan, "  selector: {site: home}\n", ""), "streams:\n", "streams: []\n#"));
  EXPECT_TRUE(bare.workers.selector.empty());
  EXPECT_TRUE(bare.streams.empty());
}

TEST(DeploymentPlanTest, SeveralDocumentsGiveSeveralPlans) {
  const std::string two =
      std::string(kPlan) + "---\n" + Replace(kPlan, "name: lobby", "name: garage") + "---\n";
  Result<std::vector<DeploymentPlan>> plans = ParseDeploymentPlans(two, "two.yaml");
  ASSERT_TRUE(plans.ok()) << plans.status().message();
  ASSERT_EQ(plans->size(), 2u);
  EXPECT_EQ((*plans)[0].name, "lobby");
  EXPECT_EQ((*plans)[1].name, "garage");
  // Locations count lines from the top of the file, not of the document.
  EXPECT_EQ((*plans)[0].location.line, 1);
  EXPECT_EQ((*plans)[1].location.line, 18);
  EXPECT_EQ((*plans)[1].locations.at("metadata.name").line, 21);
}

TEST(DeploymentPlanTest, AUint8InputIsTheCamerasPicture) {
  std::string text = kPlan;
  const std::string model = "  zoo: resnet50\n";
  ASSERT_NE(text.find(model), std::string::npos);
  text.replace(text.find(model), model.size(),
               model + "  input: {shape: [1, 224, 224, 3], type: uint8}\n");
  const DeploymentPlan plan = ParseOne(text);
  EXPECT_TRUE(plan.model.pixel_input);
  EXPECT_EQ(plan.model.input_shape, (std::vector<int64_t>{1, 224, 224, 3}));
  EXPECT_FALSE(ParseOne(kPlan).model.pixel_input);
  const std::string json = CanonicalPlanJson(plan);
  EXPECT_NE(json.find("\"type\":\"uint8\""), std::string::npos) << json;
  EXPECT_EQ(CanonicalPlanJson(ParseOne(kPlan)).find("uint8"), std::string::npos);
  Result<DeploymentPlan> back = DeploymentPlanFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->model.pixel_input);
  EXPECT_NE(PlanDigest(plan), PlanDigest(ParseOne(kPlan)));
}

TEST(DeploymentPlanTest, CanonicalJsonRoundTrips) {
  for (const std::string& text : {std::string(kPlan), kFullPlan}) {
    const DeploymentPlan plan = ParseOne(text);
    const std::string json = CanonicalPlanJson(plan);
    EXPECT_EQ(json.find('\n'), std::string::npos);
    Result<DeploymentPlan> back = DeploymentPlanFromJson(json);
    ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << json;
    EXPECT_EQ(CanonicalPlanJson(*back), json);
    EXPECT_EQ(PlanDigest(*back), PlanDigest(plan));
    EXPECT_EQ(back->name, plan.name);
    EXPECT_EQ(back->model.input_shape, plan.model.input_shape);
    EXPECT_EQ(back->streams.size(), plan.streams.size());
    EXPECT_TRUE(back->source.empty());
    EXPECT_TRUE(back->locations.empty());
  }
  EXPECT_EQ(PlanDigest(ParseOne(kPlan)).size(), 64u);
}

TEST(DeploymentPlanTest, PostprocessSectionsParseAndRoundTrip) {
  const std::string ssd = Replace(
      kPlan, "streams:", R"(preprocess: {resize: [320, 320], fit: letterbox, channel_order: bgr}
postprocess:
  kind: detect
  labels_file: coco.txt
  detect:
    score_threshold: 0.3
    max_detections: 20
    ssd:
      outputs: {boxes: 1, scores: 0}
      feature_maps: [20, 10, 5, 3, 2, 1]
      aspect_ratios: [[2, 3], [2, 3], [2, 3], [2, 3], [2, 3], [2, 3]]
      min_ratio: 0.2
      max_ratio: 0.95
      steps: [16, 32, 64, 107, 160, 320]
streams:)");
  const std::string yolo = Replace(kPlan, "streams:", R"(postprocess:
  kind: detect
  detect: {iou_threshold: 0.6, yolo: {layout: columns, objectness: false, strides: [8, 16]}}
streams:)");
  const std::string segment = Replace(kPlan, "streams:", "postprocess: {kind: segment}\nstreams:");
  for (const std::string& text : {ssd, yolo, segment}) {
    const DeploymentPlan plan = ParseOne(text);
    ASSERT_TRUE(plan.postprocess.has_value());
    Result<DeploymentPlan> back = DeploymentPlanFromJson(CanonicalPlanJson(plan));
    ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << CanonicalPlanJson(plan);
    EXPECT_EQ(CanonicalPlanJson(*back), CanonicalPlanJson(plan));
    EXPECT_NE(PlanDigest(plan), PlanDigest(ParseOne(kPlan)));
  }
  const DeploymentPlan s = ParseOne(ssd);
  EXPECT_EQ(s.preprocess->fit, PreprocessFit::kLetterbox);
  EXPECT_TRUE(s.preprocess->bgr);
  const postprocess::DetectOptions& d = s.postprocess->detect;
  EXPECT_EQ(s.postprocess->kind, postprocess::Kind::kDetect);
  EXPECT_EQ(s.postprocess->labels_file, "coco.txt");
  EXPECT_EQ(d.format, postprocess::DetectorFormat::kSsd);
  EXPECT_EQ(d.boxes_output, 1);
  EXPECT_EQ(d.scores_output, 0);
  EXPECT_DOUBLE_EQ(d.score_threshold, 0.3);
  EXPECT_DOUBLE_EQ(d.iou_threshold, 0.45);  // the default
  EXPECT_EQ(d.max_detections, 20);
  EXPECT_EQ(d.ssd.feature_maps, (std::vector<int>{20, 10, 5, 3, 2, 1}));
  ASSERT_EQ(d.ssd.aspect_ratios.size(), 6u);
  EXPECT_EQ(d.ssd.aspect_ratios[5], (std::vector<double>{2, 3}));
  EXPECT_DOUBLE_EQ(d.ssd.max_ratio, 0.95);
  EXPECT_EQ(d.ssd.steps, (std::vector<int>{16, 32, 64, 107, 160, 320}));
  const DeploymentPlan y = ParseOne(yolo);
  EXPECT_EQ(y.postprocess->detect.format, postprocess::DetectorFormat::kYolo);
  EXPECT_EQ(y.postprocess->detect.yolo.layout, postprocess::YoloLayout::kColumns);
  EXPECT_FALSE(y.postprocess->detect.yolo.objectness);
  EXPECT_EQ(y.postprocess->detect.yolo.strides, (std::vector<int>{8, 16}));
  // A plan without the new fields keeps its digest: they are written only when set.
  EXPECT_EQ(CanonicalPlanJson(ParseOne(kPlan)).find("postprocess"), std::string::npos);
  EXPECT_EQ(CanonicalPlanJson(ParseOne(kFullPlan)).find("fit"), std::string::npos);
}

TEST(DeploymentPlanTest, FormattingCommentsAndSpelledOutDefaultsKeepTheDigest) {
  // kFullPlan in block style, keys in another order, comments, upper-case hex, the stream's
  // default on_overload spelt out, numbers written differently.
  const std::string reformatted = std::string(R"(# the lobby camera
kind: Deployment
apiVersion: "serdab/v1"
metadata:
  labels:
    team: vision
    floor: "1"
  name: lobby   # a DNS label
model:
  input:
    shape: [1, 3, 224, 224]
  sha256: ")") + std::string(64, 'A') +
                                  R"("
  seed: 0x7
  zoo: resnet50
preprocess:
  std: [0.229, 0.224, 0.225]
  mean: [4.85e-1, 0.456, 0.406]
  resize: [256, 256]
workers:
  profile: "each"
  order:
    - edge
    - cloud
  selector: {rack: r1, site: home}
placement:
  network:
    rtt_ms: 2.50
    bandwidth_mbps: 1e2
  privacy: {min_enclave_layers: 4}
  allow_paging: no
  replication: yes
  max_shards: 2
  max_stages: 3
  slo: {max_latency_ms: 500.0, min_fps: 10}
  objective: latency
attestation:
  min_svn: 2
  measurements:
    - ")" + kMeasurement + R"("
  allow_debug: true
  allow_simulation: true
  any_measurement: false
streams:
  - name: front-door
    fps: 15
    source: rtsp://cam/1
    on_overload: block
  - {on_overload: drop_oldest, name: back-door, source: "rtsp://cam/2", fps: 7.50}
)";
  EXPECT_EQ(CanonicalPlanJson(ParseOne(reformatted)), CanonicalPlanJson(ParseOne(kFullPlan)));
  EXPECT_EQ(PlanDigest(ParseOne(reformatted)), PlanDigest(ParseOne(kFullPlan)));
  // Defaults spelt out or left out mean the same plan.
  const std::string explicit_defaults =
      Replace(kPlan, "  max_stages: 3\n",
              "  max_stages: 3\n  allow_paging: true\n  replication: false\n  max_shards: 0\n"
              "  privacy: {min_enclave_layers: 0}\n");
  EXPECT_EQ(PlanDigest(ParseOne(explicit_defaults)), PlanDigest(ParseOne(kPlan)));
  // Empty sections and maps ask for nothing, as missing ones do.
  const std::string empty_sections = Replace(Replace(kPlan, "streams:", "preprocess: {}\nstreams:"),
                                             "  name: lobby\n", "  name: lobby\n  labels: {}\n");
  EXPECT_EQ(PlanDigest(ParseOne(empty_sections)), PlanDigest(ParseOne(kPlan)));
}

TEST(DeploymentPlanTest, DigestChangesWithEveryField) {
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"name: lobby", "name: lobby-2"},
      {"team: vision", "team: audio"},
      {"floor: \"1\"}", "floor: \"2\"}"},
      {"zoo: resnet50, seed: 7", "zoo: resnet18, seed: 7"},
      {"seed: 7", "seed: 8"},
      {"zoo: resnet50, seed: 7", "path: models/resnet50.onnx"},
      {"sha256: \"aaaa", "sha256: \"baaa"},
      {"shape: [1, 3, 224, 224]", "shape: [2, 3, 224, 224]"},
      {"resize: [256, 256]", "resize: [256, 257]"},
      {"mean: [0.485", "mean: [0.486"},
      {"std: [0.229", "std: [0.228"},
      {"site: home", "site: away"},
      {"rack: r1}", "rack: r2}"},
      {"order: [edge, cloud]", "order: [cloud, edge]"},
      {"profile: each", "profile: shared"},
      {"objective: latency", "objective: throughput"},
      {"min_fps: 10", "min_fps: 11"},
      {"max_latency_ms: 500", "max_latency_ms: 501"},
      {"max_stages: 3", "max_stages: 4"},
      {"bandwidth_mbps: 100", "bandwidth_mbps: 101"},
      {"rtt_ms: 2.5", "rtt_ms: 3"},
      {"allow_paging: false", "allow_paging: true"},
      {"replication: true", "replication: false"},
      {"max_shards: 2", "max_shards: 3"},
      {"min_enclave_layers: 4", "min_enclave_layers: 5"},
      {"allow_simulation: true", "allow_simulation: false"},
      {"allow_debug: true", "allow_debug: false"},
      {kMeasurement, std::string(64, 'c')},
      {"min_svn: 2", "min_svn: 3"},
      {"name: front-door", "name: side-door"},
      {"rtsp://cam/1", "rtsp://cam/3"},
      {"fps: 15", "fps: 16"},
      {"on_overload: block", "on_overload: drop_newest"},
      {"  - {name: back-door, source: \"rtsp://cam/2\", fps: 7.5}\n", ""},
  };
  std::set<std::string> digests = {PlanDigest(ParseOne(kFullPlan))};
  for (const auto& [from, to] : edits) {
    SCOPED_TRACE(from + " -> " + to);
    const std::string digest = PlanDigest(ParseOne(Replace(kFullPlan, from, to)));
    EXPECT_TRUE(digests.insert(digest).second);
  }
  // Adding what was absent changes it too.
  EXPECT_TRUE(digests.insert(PlanDigest(ParseOne(Replace(kPlan, "  max_stages: 3\n", "")))).second);
  EXPECT_TRUE(digests.insert(PlanDigest(ParseOne(kPlan))).second);
  EXPECT_TRUE(digests
                  .insert(PlanDigest(ParseOne(Replace(kPlan, "  max_stages: 3\n",
                                                      "  max_stages: 3\n  slo: {min_fps: 1}\n"))))
                  .second);
}

struct BadPlan {
  std::string what;
  std::string text;
  std::string where;     // "bad.yaml:LINE:COL: "
  std::string field;     // the field the message must name; empty for a YAML syntax error
  std::string expected;  // a part of the message saying what was expected
};

std::vector<BadPlan> BadPlans() {
  const std::string plan = kPlan;
  auto bad = [&](std::string what, const std::string& from, const std::string& to,
                 const std::string& at, std::string field, std::string expected) {
    const std::string text = Replace(plan, from, to);
    return BadPlan{std::move(what), text, Where(text, at), std::move(field), std::move(expected)};
  };
  std::vector<BadPlan> cases = {
      bad("YAML syntax", "{site: home}", "{site: home", ": [edge", "", "end of map flow not found"),
      bad("unknown top-level field", "streams:", "replicas: 3\nstreams:", "replicas", "'replicas'",
          "expected one of: apiVersion, kind, metadata, model,"),
      bad("unknown nested field", "objective: throughput", "objetive: throughput", "objetive",
          "'placement.objetive'", "expected one of: objective, slo, max_stages"),
      bad("wrong type", "max_stages: 3", "max_stages: \"three\"", "\"three\"",
          "'placement.max_stages'", "expected an integer, got 'three'"),
      bad("wrong type for a map", "placement:\n  objective: throughput\n  max_stages: 3\n",
          "placement: [1]\n", "[1]", "'placement'", "expected a map"),
      bad("wrong type for a bool", "max_stages: 3", "allow_paging: maybe", "maybe",
          "'placement.allow_paging'", "expected true or false"),
      bad("missing model", "model:\n  zoo: resnet50\n", "", "apiVersion", "'model'",
          "missing (expected zoo: NAME or path: FILE)"),
      bad("both zoo and path", "  zoo: resnet50", "  zoo: resnet50\n  path: m.onnx",
          "zoo:", "'model'", "exactly one of zoo: NAME and path: FILE, got both"),
      bad("neither zoo nor path", "  zoo: resnet50", "  sha256: " + std::string(64, 'a'), "sha256",
          "'model'", "got neither"),
      bad("unknown zoo model", "zoo: resnet50", "zoo: resnet51", "resnet51", "'model.zoo'",
          "expected one of: vgg16, resnet18, resnet50,"),
      bad("seed without zoo", "  zoo: resnet50", "  path: m.onnx\n  seed: 3", "3\n", "'model.seed'",
          "only a zoo model"),
      bad("bad sha256", "  zoo: resnet50", "  zoo: resnet50\n  sha256: abc123", "abc123",
          "'model.sha256'", "64 hex digits, got 'abc123'"),
      bad("wrong apiVersion", "serdab/v1", "serdab/v2", "serdab/v2", "'apiVersion'",
          "expected serdab/v1"),
      bad("wrong kind", "kind: Deployment", "kind: Cluster", "Cluster", "'kind'",
          "expected Deployment"),
      bad("missing kind", "kind: Deployment\n", "", "apiVersion", "'kind'", "missing"),
      bad("max_stages too large", "max_stages: 3", "max_stages: 17", "17", "'placement.max_stages'",
          "expected an integer from 1 to 16, got '17'"),
      bad("max_stages zero", "max_stages: 3", "max_stages: 0", "0\nattestation",
          "'placement.max_stages'", "from 1 to 16"),
      bad("max_shards too large", "max_stages: 3", "max_shards: 17", "17", "'placement.max_shards'",
          "expected an integer from 0 to 16, got '17'"),
      bad("negative fps", "fps: 15", "fps: -5", "-5", "'streams[0].fps'", "> 0"),
      bad("zero min_fps", "max_stages: 3", "slo: {min_fps: 0}", "0}", "'placement.slo.min_fps'",
          "> 0"),
      bad("zero bandwidth", "max_stages: 3", "network: {bandwidth_mbps: 0}", "0}",
          "'placement.network.bandwidth_mbps'", "Mbit/s > 0"),
      bad("unknown network field", "max_stages: 3", "network: {latency: 3}", "latency",
          "'placement.network.latency'", "rtt_ms"),
      bad("bad on_overload", "fps: 15}", "fps: 15, on_overload: drop_all}", "drop_all",
          "'streams[0].on_overload'",
          "expected one of: drop_oldest, drop_newest, block, latest_only; got 'drop_all'"),
      bad("bad workers.profile", "order: [edge, cloud]", "order: [edge, cloud]\n  profile: once",
          "once", "'workers.profile'", "expected one of: shared, each; got 'once'"),
      bad("bad objective", "objective: throughput", "objective: fast", "fast",
          "'placement.objective'", "expected one of: throughput, latency; got 'fast'"),
      bad("duplicate stream names", "fps: 15}",
          "fps: 15}\n  - {name: front-door, source: x, fps: 1}", "front-door, source: x",
          "'streams[1].name'", "stream 'front-door' is named twice"),
      bad("unknown stream field", "fps: 15}", "fps: 15, codec: h264}", "codec",
          "'streams[0].codec'", "expected one of: name, source, fps, on_overload"),
      bad("stream without source", "source: \"rtsp://cam/1\", ", "", "{name", "'streams[0].source'",
          "missing"),
      bad("control character in source", "rtsp://cam/1", "rtsp://cam/\\u0001", "\"rtsp",
          "'streams[0].source'", "without control characters"),
      bad("bad metadata.name", "name: lobby", "name: Lobby_1", "Lobby_1", "'metadata.name'",
          "expected a DNS label"),
      bad("line break in a value", "name: lobby", "name: \"lob\\nby\"", "\"lob", "'metadata.name'",
          "got 'lob\\x0aby'"),
      bad("metadata.name too long", "name: lobby", "name: " + std::string(64, 'a'), "aaaa",
          "'metadata.name'", "1 to 63 characters"),
      bad("missing metadata.name", "  name: lobby", "  labels: {a: b}", "labels", "'metadata.name'",
          "missing"),
      bad("measurement not 64 hex", "  any_measurement: true",
          "  measurements: [\"" + std::string(63, 'a') + "g\"]", "\"aaa",
          "'attestation.measurements[0]'", "expected an MRENCLAVE: 64 hex digits"),
      bad("duplicate measurement", "  any_measurement: true",
          "  measurements: [" + std::string(64, 'a') + ", " + std::string(64, 'A') + "]",
          std::string(64, 'A'), "'attestation.measurements[1]'", "listed twice"),
      bad("no measurement", "  any_measurement: true", "  min_svn: 1", "min_svn",
          "'attestation.measurements'", "or any_measurement: true"),
      bad("measurements and any_measurement", "  any_measurement: true",
          "  any_measurement: true\n  measurements: [" + std::string(64, 'a') + "]", "true\n",
          "'attestation.any_measurement'", "expected false when measurements are listed"),
      bad("missing attestation", "attestation:\n  any_measurement: true\n", "", "apiVersion",
          "'attestation'", "missing"),
      bad("min_svn out of range", "  any_measurement: true",
          "  any_measurement: true\n  min_svn: 70000", "70000", "'attestation.min_svn'",
          "from 0 to 65535"),
      bad("selector names tier", "{site: home}", "{site: home, tier: edge}", "edge}",
          "'workers.selector.tier'", "workers.order lists the tiers"),
      bad("bad label value", "{site: home}", "{site: \"my home\"}", "\"my home\"",
          "'workers.selector.site'", "expected a label value"),
      bad("empty order", "[edge, cloud]", "[]", "[]", "'workers.order'", "non-empty list"),
      bad("repeated tier", "[edge, cloud]", "[edge, edge]", "edge]", "'workers.order[1]'",
          "listed twice"),
      bad("field given twice", "  max_stages: 3", "  max_stages: 3\n  max_stages: 4",
          "max_stages: 4", "'placement.max_stages'", "given twice (first at line 12)"),
      bad("shape with a zero", "  zoo: resnet50", "  zoo: resnet50\n  input: {shape: [1, 0]}", "0]",
          "'model.input.shape[1]'", "from 1 to 2^20"),
      bad("unknown input type", "  zoo: resnet50", "  zoo: resnet50\n  input: {type: int8}", "int8",
          "'model.input.type'", "expected one of: float32, uint8; got 'int8'"),
      bad("uint8 input not a picture", "  zoo: resnet50",
          "  zoo: resnet50\n  input: {shape: [1, 3, 224, 224], type: uint8}", "[1, 3, 224",
          "'model.input.shape'", "expected [1, height, width, 3]"),
      bad("uint8 input normalised by the client", "  zoo: resnet50\n",
          "  zoo: resnet50\n  input: {type: uint8}\npreprocess: {std: [1, 1, 1]}\n", "[1, 1, 1]",
          "'preprocess.std'", "the model normalises its pixels itself"),
      bad("resize with three values", "streams:", "preprocess: {resize: [1, 2, 3]}\nstreams:",
          "[1, 2, 3]", "'preprocess.resize'", "expected [height, width], got 3 values"),
      bad("mean and std of different lengths",
          "streams:", "preprocess: {mean: [0.5, 0.5], std: [1]}\nstreams:", "[1]",
          "'preprocess.std'", "as many as preprocess.mean (2), got 1"),
      bad("not a map", plan, "- a\n- b\n", "- a", "'apiVersion'", "expected a map"),
      bad("unknown fit", "streams:", "preprocess: {fit: squash}\nstreams:", "squash",
          "'preprocess.fit'", "expected one of: stretch, crop, letterbox; got 'squash'"),
      bad("unknown postprocess kind", "streams:", "postprocess: {kind: count}\nstreams:", "count",
          "'postprocess.kind'", "expected one of: classify, detect, segment"),
      bad("detect without heads", "streams:", "postprocess: {kind: detect}\nstreams:", "{kind",
          "'postprocess.detect'", "missing"),
      bad("detect with both heads", "streams:",
          "postprocess: {kind: detect, detect: {yolo: {}, ssd: {feature_maps: [1]}}}\nstreams:",
          "{yolo", "'postprocess.detect'", "exactly one of ssd: {...} and yolo: {...}, got both"),
      bad("ssd ratios per map", "streams:",
          "postprocess: {kind: detect, detect: {ssd: {feature_maps: [4, 2], aspect_ratios: "
          "[[2]]}}}\nstreams:",
          "[[2]]", "'postprocess.detect.ssd.aspect_ratios'",
          "one list of ratios per feature map (2)"),
      bad("ssd steps per map", "streams:",
          "postprocess: {kind: detect, detect: {ssd: {feature_maps: [4, 2], steps: "
          "[8]}}}\nstreams:",
          "[8]", "'postprocess.detect.ssd.steps'", "one step per feature map (2)"),
      bad("score threshold above one", "streams:",
          "postprocess: {kind: detect, detect: {score_threshold: 1.5, yolo: {}}}\nstreams:", "1.5",
          "'postprocess.detect.score_threshold'", "from 0 to 1"),
      bad("top_k of a detector",
          "streams:", "postprocess: {kind: detect, top_k: 3, detect: {yolo: {}}}\nstreams:", "3,",
          "'postprocess.top_k'", "only kind: classify has a top_k"),
  };
  const std::string two = plan + "---\n" + plan;
  cases.push_back({"duplicate deployment names", two, "bad.yaml:21:9: ", "'metadata.name'",
                   "deployment 'lobby' is already defined at line 1"});
  // yaml-cpp 0.7's LoadAll would return no more here: it reads the ',' as an empty document
  // again and again.
  cases.push_back({"a document starting with ','", plan + "---\n, x\n", "bad.yaml:18:1: ", "",
                   "expected a YAML value here"});
  cases.push_back({"empty file", "", "bad.yaml:1:1: ", "'apiVersion'", "holds no document"});
  cases.push_back(
      {"comments only", "# nothing\n---\n", "bad.yaml:1:1: ", "'apiVersion'", "holds no document"});
  return cases;
}

TEST(DeploymentPlanTest, MalformedPlansNameFileLineColumnAndField) {
  for (const BadPlan& c : BadPlans()) {
    SCOPED_TRACE(c.what);
    Result<std::vector<DeploymentPlan>> plans = ParseDeploymentPlans(c.text, "bad.yaml");
    ASSERT_FALSE(plans.ok());
    const std::string& message = plans.status().message();
    EXPECT_EQ(plans.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(message.rfind(c.where, 0), 0u) << message;
    if (!c.field.empty()) {
      EXPECT_EQ(message.substr(c.where.size(), 8 + c.field.size()), "field " + c.field + ": ")
          << message;
    }
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(DeploymentPlanTest, PlanFieldErrorPointsAtTheField) {
  const DeploymentPlan plan = ParseOne(kPlan);
  Status error = PlanFieldError(plan, "workers.selector", "no Ready worker matches");
  EXPECT_EQ(error.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(error.message(), Where(kPlan, "{site: home}", "plan.yaml") +
                                 "field 'workers.selector': no Ready worker matches");
  EXPECT_EQ(PlanFieldError(plan, "streams[0].fps", "x").message(),
            Where(kPlan, "15}", "plan.yaml") + "field 'streams[0].fps': x");
  // A field left to its default is reported where its section is; one outside any section
  // at the document.
  EXPECT_EQ(PlanFieldError(plan, "placement.allow_paging", "x").message(),
            Where(kPlan, "objective", "plan.yaml") + "field 'placement.allow_paging': x");
  EXPECT_EQ(PlanFieldError(plan, "preprocess", "x").message(),
            "plan.yaml:1:1: field 'preprocess': x");
  // A plan read back from the store has no file to point into.
  Result<DeploymentPlan> stored = DeploymentPlanFromJson(CanonicalPlanJson(plan));
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(PlanFieldError(*stored, "workers.selector", "x").message(),
            "deployment 'lobby': field 'workers.selector': x");
}

TEST(DeploymentPlanTest, FromJsonChecksLikeTheYamlParser) {
  const std::string json = CanonicalPlanJson(ParseOne(kPlan));
  Result<DeploymentPlan> yaml = DeploymentPlanFromJson(kPlan);
  ASSERT_FALSE(yaml.ok());
  EXPECT_EQ(yaml.status().message(), "plan JSON: not valid JSON");
  Result<DeploymentPlan> bad =
      DeploymentPlanFromJson(Replace(json, "\"max_stages\":3", "\"max_stages\":99"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("plan JSON:1:", 0), 0u) << bad.status().message();
  EXPECT_NE(bad.status().message().find("field 'placement.max_stages'"), std::string::npos);
}

TEST(DeploymentPlanTest, WorkersAreSelectedAndOrderedByTier) {
  const DeploymentPlan plan = ParseOne(kPlan);
  const std::map<std::string, Labels> workers = {
      {"edge-b", {{"tier", "edge"}, {"site", "home"}}},
      {"cloud-1", {{"tier", "cloud"}, {"site", "home"}, {"zone", "eu"}}},
      {"edge-a", {{"tier", "edge"}, {"site", "home"}}},
      {"edge-away", {{"tier", "edge"}, {"site", "away"}}},
      {"gpu-1", {{"tier", "gpu"}, {"site", "home"}}},
      {"untiered", {{"site", "home"}}},
  };
  EXPECT_TRUE(MatchesSelector(plan, workers.at("cloud-1")));
  EXPECT_FALSE(MatchesSelector(plan, workers.at("edge-away")));
  EXPECT_FALSE(MatchesSelector(plan, workers.at("gpu-1")));
  EXPECT_FALSE(MatchesSelector(plan, workers.at("untiered")));
  EXPECT_EQ(TierRank(plan, workers.at("cloud-1")), 1);
  EXPECT_EQ(TierRank(plan, workers.at("gpu-1")), -1);
  EXPECT_EQ(OrderWorkers(plan, workers), (std::vector<std::string>{"edge-a", "edge-b", "cloud-1"}));
}

}  // namespace
}  // namespace serdab::orchestrator
