// serdab stream: runs camera streams through a Ready deployment.
//
//   serdab stream -f plan.yaml                      # the plan's streams:
//   serdab stream --deployment lobby --source video.mp4 --source rtsp://cam/1
//
// Each source is decoded and preprocessed on its own thread
// (cli/ingest/camera_reader.h), sealed to the first stage's enclave, and its
// results come back from the last stage's enclave (cli/stream_client.h). One
// JSON line per result goes to stdout or --output; a status line on a
// terminal shows each camera's progress, and a summary closes the run.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/annotate/annotator.h"
#include "cli/annotate/mjpeg_preview_server.h"
#include "cli/annotate/video_writer.h"
#include "cli/cluster_connection.h"
#include "cli/commands.h"
#include "cli/deployment_pipeline.h"
#include "cli/events/class_presence_tracker.h"
#include "cli/events/mqtt_publisher.h"
#include "cli/frame_postprocessor.h"
#include "cli/ingest/camera_reader.h"
#include "cli/postprocess/labels.h"
#include "cli/stream_client.h"
#include "enclave/attestation/platform.h"
#include "orchestrator/deployment_plan.h"
#include "partitioner/yaml_reader.h"
#include "worker/metrics.h"
#include "worker/metrics_server.h"
#include "worker/peer_link.h"

namespace serdab::cli {
namespace {

constexpr char kCommand[] = "stream";

struct Flags {
  ConnectionFlags connection;
  std::string plan_file;
  std::string deployment;
  std::vector<std::string> sources;
  std::string policy;
  bool realtime = false;
  bool loop = false;
  int64_t frames = 0;
  std::string output;
  int top_k = 5;
  std::string labels;
  std::string status = "auto";
  double watchdog_s = 20;
  size_t queue = 2;
  double recover_timeout_s = 120;
  std::string save_inputs;
  std::string metrics_addr;
  std::string annotate;
  std::string preview_addr;
  std::string font = annotate::kDefaultFontPath;
  std::string events;
  std::string mqtt_url;
  std::string mqtt_user;
  std::string mqtt_topic = "serdab";
};

// One camera: its reader, its stream in the client, and what it measured.
struct Camera {
  uint64_t id = 0;
  std::string name;
  std::string source;
  OverloadPolicy policy = OverloadPolicy::kDropOldest;
  std::unique_ptr<ingest::CameraReader> reader;
  std::mutex mu;
  std::vector<double> latencies_ms;  // every result's
  std::vector<double> stage_ms_sum;  // per stage
  uint64_t results = 0;
  int64_t first_result_ns = 0;
  int64_t last_result_ns = 0;
  uint64_t events = 0;
  double longest_gap_s = 0;
  std::vector<double> postprocess_ms;  // decoding each result
  std::atomic<bool> limit_reached{false};
  // --annotate: the video its results are drawn into, opened at the first.
  std::mutex video_mu;
  std::string video_path;
  std::unique_ptr<annotate::VideoWriter> video;
  uint64_t video_frames = 0;
  // --events, --mqtt: when a class appears or leaves (results come in order).
  std::optional<events::ClassPresenceTracker> presence;

  // The last `n` results' latencies, for the status line and the metrics.
  std::vector<double> RecentLatencies(size_t n) {
    std::lock_guard<std::mutex> lock(mu);
    const size_t from = latencies_ms.size() > n ? latencies_ms.size() - n : 0;
    return {latencies_ms.begin() + static_cast<std::ptrdiff_t>(from), latencies_ms.end()};
  }
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size()))) - 1;
  return values[std::min(i, values.size() - 1)];
}

Result<orchestrator::DeploymentPlan> PlanFromFile(const Flags& flags) {
  SERDAB_ASSIGN_OR_RETURN(std::string text, partitioner::ReadTextFile(flags.plan_file));
  SERDAB_ASSIGN_OR_RETURN(std::vector<orchestrator::DeploymentPlan> plans,
                          orchestrator::ParseDeploymentPlans(text, flags.plan_file));
  for (orchestrator::DeploymentPlan& plan : plans) {
    if (flags.deployment.empty() ? plans.size() == 1 : plan.name == flags.deployment) {
      return std::move(plan);
    }
  }
  return Status::InvalidArgument(
      flags.deployment.empty()
          ? flags.plan_file + " holds several deployments: name one with --deployment"
          : flags.plan_file + " holds no deployment named " + flags.deployment);
}

// The preprocessing the plan asks for, for a model whose input is 1x3xHxW
// floats, or 1xHxWx3 bytes (model.input.type uint8: the model normalises).
Result<ingest::PreprocessOptions> Preprocessing(const orchestrator::DeploymentPlan& plan) {
  ingest::PreprocessOptions options;
  const std::vector<int64_t>& shape = plan.model.input_shape;
  const bool pixels = plan.model.pixel_input;
  // Where the input's height and width are.
  const size_t h = pixels ? 1 : 2, w = pixels ? 2 : 3;
  if (plan.preprocess && plan.preprocess->resize.size() == 2) {
    options.height = static_cast<int>(plan.preprocess->resize[0]);
    options.width = static_cast<int>(plan.preprocess->resize[1]);
  } else if (shape.size() == 4) {
    options.height = static_cast<int>(shape[h]);
    options.width = static_cast<int>(shape[w]);
  } else {
    return orchestrator::PlanFieldError(
        plan, "preprocess", "the frame size is unknown: give preprocess.resize or model.input");
  }
  if (shape.size() == 4 && (shape[0] != 1 || shape[pixels ? 3 : 1] != 3 ||
                            shape[h] != options.height || shape[w] != options.width)) {
    return orchestrator::PlanFieldError(
        plan, "preprocess.resize",
        "frames are resized to " + std::to_string(options.height) + "x" +
            std::to_string(options.width) + ", and the model takes " +
            (pixels ? "1xHxWx3" : "1x3xHxW") + " inputs of that size");
  }
  if (plan.preprocess) {
    options.center_crop = plan.preprocess->fit == orchestrator::PreprocessFit::kCrop;
    options.letterbox = plan.preprocess->fit == orchestrator::PreprocessFit::kLetterbox;
    if (plan.preprocess->bgr) options.channel_order = ingest::ChannelOrder::kBgr;
    for (size_t c = 0; c < 3 && c < plan.preprocess->mean.size(); ++c) {
      options.mean[c] = static_cast<float>(plan.preprocess->mean[c]);
    }
    for (size_t c = 0; c < 3 && c < plan.preprocess->std.size(); ++c) {
      options.std[c] = static_cast<float>(plan.preprocess->std[c]);
    }
  }
  return options;
}

// The postprocessing: the plan's, else top-k classes; --top-k and --labels
// override it.
Result<std::unique_ptr<FramePostprocessor>> MakePostprocessor(
    const Flags& flags, bool top_k_given, const orchestrator::DeploymentPlan& plan,
    const ingest::PreprocessOptions& preprocess) {
  postprocess::PostprocessOptions options =
      plan.postprocess.value_or(postprocess::PostprocessOptions{});
  if (!options.labels_file.empty()) {
    options.labels_file = BesidePlanFile(options.labels_file, flags.plan_file);
  }
  if (!flags.labels.empty()) options.labels_file = flags.labels;
  if (top_k_given) {
    if (options.kind != postprocess::Kind::kClassify) {
      return Status::InvalidArgument("--top-k: the plan's postprocess is not kind: classify");
    }
    options.top_k = flags.top_k;
  }
  std::vector<std::string> labels;
  if (!options.labels_file.empty()) {
    SERDAB_ASSIGN_OR_RETURN(labels, postprocess::ReadLabels(options.labels_file));
  }
  return FramePostprocessor::Create(options, preprocess, std::move(labels));
}

// The classes a frame's findings show, for the presence events: boxes of
// any score (the plan's threshold has chosen them), classes covering 1% of
// a segmentation but its class 0 (the background of torchvision's and VOC's
// segmenters, which would otherwise "appear" at every start), top classes
// scoring 0.5.
std::vector<events::ClassSighting> Sightings(const FrameFindings& found) {
  if (found.segmentation) {
    std::vector<events::ClassSighting> seen = events::SightingsOf(*found.segmentation, 0.01);
    std::erase_if(seen, [](const events::ClassSighting& s) { return s.class_id == 0; });
    return seen;
  }
  if (!found.top.empty()) return events::SightingsOf(found.top, 0.5);
  return events::SightingsOf(found.detections);
}

// Draws a result on a copy of its picture, then appends that to the
// camera's video (opened at its first frame, at the picture's size) and
// hands it to the preview, if any. Results come one at a time (the stream
// client delivers them in turn), so the annotator needs no lock.
Status DrawResult(const StreamResult& r, const FrameFindings& found, Camera* c,
                  annotate::Annotator* annotator, annotate::MjpegPreviewServer* preview,
                  double video_fps) {
  ingest::RgbImage canvas = *r.meta.picture;
  annotate::Annotations drawn;
  drawn.detections = found.detections;
  if (found.segmentation) drawn.segmentation = &*found.segmentation;
  drawn.caption = annotate::FormatCaption(c->name, static_cast<int64_t>(r.meta.frame), r.latency_ms,
                                          r.stage_ms);
  SERDAB_RETURN_IF_ERROR(annotator->Draw(drawn, &canvas));
  if (!c->video_path.empty()) {
    std::lock_guard<std::mutex> lock(c->video_mu);
    if (c->video == nullptr) {
      SERDAB_ASSIGN_OR_RETURN(c->video, annotate::VideoWriter::Open(c->video_path, canvas.width,
                                                                    canvas.height, video_fps));
    }
    SERDAB_RETURN_IF_ERROR(c->video->Write(canvas));
    c->video_frames++;
  }
  return preview != nullptr ? preview->Publish(c->name, canvas) : Status::Ok();
}

// --annotate PATH for one camera, or PATH with "-NAME" before its extension
// for each of several.
std::string AnnotatedVideoPath(const std::string& path, const std::string& camera, size_t cameras) {
  if (cameras == 1) return path;
  std::filesystem::path file(path);
  file.replace_filename(file.stem().string() + "-" + camera + file.extension().string());
  return file.string();
}

Status SaveInput(const std::string& dir, const std::string& camera, const ingest::Frame& frame) {
  const bool pixels = frame.tensor.empty();
  const std::string path =
      dir + "/" + camera + "-" + std::to_string(frame.number) + (pixels ? ".u8" : ".f32");
  std::ofstream out(path, std::ios::binary);
  if (pixels) {
    out.write(reinterpret_cast<const char*>(frame.pixels.data()),
              static_cast<std::streamsize>(frame.pixels.size()));
  } else {
    out.write(reinterpret_cast<const char*>(frame.tensor.data()),
              static_cast<std::streamsize>(frame.tensor.size() * sizeof(float)));
  }
  if (!out) return Status::IoError("cannot write " + path);
  return Status::Ok();
}

// Prints the per-camera status line on a terminal, twice a second.
class StatusLine {
 public:
  StatusLine(std::vector<Camera*> cameras, StreamClient* client)
      : cameras_(std::move(cameras)), client_(client) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~StatusLine() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    std::fprintf(stderr, "\r\033[K");
  }

 private:
  void Loop() {
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> last;
    auto then = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stop_; })) {
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - then).count();
      then = now;
      std::string line;
      for (Camera* c : cameras_) {
        const StreamCounters n = client_->Counters(c->id);
        const std::vector<double> recent = c->RecentLatencies(100);
        auto& [in, out] = last[c->id];
        char part[256];
        std::snprintf(part, sizeof(part),
                      "%s%s: in %.1f fps, out %.1f fps, dropped %llu, p50 %.0f ms, p99 %.0f ms",
                      line.empty() ? "" : " | ", c->name.c_str(),
                      static_cast<double>(n.in - in) / dt, static_cast<double>(n.out - out) / dt,
                      static_cast<unsigned long long>(n.dropped + n.rejected),
                      Percentile(recent, 0.5), Percentile(recent, 0.99));
        in = n.in;
        out = n.out;
        line += part;
      }
      // One line that fits the terminal: a wrapped one would not be redrawn.
      winsize size{};
      if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1 &&
          line.size() >= size.ws_col) {
        line.resize(size.ws_col - 1);
      }
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
      std::fflush(stderr);
    }
  }

  std::vector<Camera*> cameras_;
  StreamClient* client_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

void PrintSummary(const std::vector<std::unique_ptr<Camera>>& cameras, StreamClient* client,
                  const v1::DeploymentStatus& deployment) {
  // One row per stage: a replicated stage's replicas (same index) together,
  // measured over the frames of both, predicted as its slower replica.
  struct StageRow {
    std::string workers;
    const v1::Stage* first = nullptr;
    double predicted_ms = 0;
  };
  std::vector<StageRow> rows;
  for (const v1::Stage& s : deployment.stages()) {
    if (rows.size() <= s.index()) rows.resize(s.index() + 1);
    StageRow& row = rows[s.index()];
    row.workers += (row.workers.empty() ? "" : "+") + s.worker();
    if (row.first == nullptr) row.first = &s;
    row.predicted_ms = std::max(row.predicted_ms, s.predicted_ms());
  }
  std::fprintf(stderr, "\nserdab stream: summary (deployment %s, %zu stages, rollout %llu)\n",
               deployment.name().c_str(), rows.size(),
               static_cast<unsigned long long>(deployment.rollout()));
  std::vector<double> stage_sum(rows.size(), 0);
  uint64_t results = 0;
  for (const auto& c : cameras) {
    const StreamCounters n = client->Counters(c->id);
    std::lock_guard<std::mutex> lock(c->mu);
    const double seconds =
        c->results > 1 ? static_cast<double>(c->last_result_ns - c->first_result_ns) / 1e9 : 0;
    std::fprintf(stderr,
                 "  %-16s in %llu  out %llu  dropped %llu  rejected %llu  resent %llu  "
                 "%.2f fps  latency p50 %.1f ms  p99 %.1f ms  decode p50 %.2f ms  (%s)\n",
                 c->name.c_str(), static_cast<unsigned long long>(n.in),
                 static_cast<unsigned long long>(n.out), static_cast<unsigned long long>(n.dropped),
                 static_cast<unsigned long long>(n.rejected),
                 static_cast<unsigned long long>(n.resent),
                 seconds > 0 ? static_cast<double>(c->results - 1) / seconds : 0,
                 Percentile(c->latencies_ms, 0.5), Percentile(c->latencies_ms, 0.99),
                 Percentile(c->postprocess_ms, 0.5), OverloadPolicyName(c->policy).data());
    if (c->video) {
      std::fprintf(stderr, "  %-16s annotated %llu frames into %s\n", "",
                   static_cast<unsigned long long>(c->video_frames), c->video_path.c_str());
    }
    for (size_t i = 0; i < c->stage_ms_sum.size() && i < stage_sum.size(); ++i) {
      stage_sum[i] += c->stage_ms_sum[i];
    }
    results += c->results;
  }
  if (results == 0) return;
  std::fprintf(stderr, "  stage  worker          layers        predicted ms  measured ms  error\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].first == nullptr) continue;
    const v1::Stage& s = *rows[i].first;
    const double predicted = rows[i].predicted_ms;
    const double measured = stage_sum[i] / static_cast<double>(results);
    const double error = predicted > 0 ? 100.0 * (measured - predicted) / predicted : 0;
    const std::string layers = "[" + std::to_string(s.begin()) + ", " +
                               (s.end() < 0 ? std::string("end") : std::to_string(s.end())) + ")";
    std::fprintf(stderr, "  %-5zu  %-14s  %-12s  %12.1f  %11.1f  %+.0f%%\n", i,
                 rows[i].workers.c_str(), layers.c_str(), predicted, measured, error);
  }
}

int Run(const Flags& flags, bool top_k_given) {
  worker::TuneAllocatorForLargeMessages();
  // SIGINT and SIGTERM end the run in order (see below), not the process:
  // blocked before any thread starts, so that only sigtimedwait takes them.
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  if (flags.plan_file.empty() && flags.deployment.empty()) {
    return ReportError(kCommand, Status::InvalidArgument("give -f PLAN or --deployment NAME"),
                       true);
  }
  auto connection = Connect(flags.connection);
  if (!connection.ok()) return ReportError(kCommand, connection.status());
  if (connection->resolved.root.empty() || connection->resolved.owner_dir.empty()) {
    return ReportError(
        kCommand, Status::InvalidArgument("no attestation root or owner key: use credentials from "
                                          "serdab ca issue-user (which hold both)"));
  }
  auto root = attestation::LoadRootPublicKey(connection->resolved.root);
  if (!root.ok()) return ReportError(kCommand, root.status());
  auto owner = attestation::ModelOwnerKey::Load(connection->resolved.owner_dir);
  if (!owner.ok()) return ReportError(kCommand, owner.status());

  // The plan: the user's file, or the one the orchestrator stores.
  orchestrator::DeploymentPlan plan;
  if (!flags.plan_file.empty()) {
    auto parsed = PlanFromFile(flags);
    if (!parsed.ok()) return ReportError(kCommand, parsed.status());
    plan = std::move(parsed).value();
  } else {
    v1::GetDeploymentRequest request;
    request.set_name(flags.deployment);
    v1::DeploymentStatus stored;
    Status got = RpcError(connection->address,
                          connection->stub->GetDeployment(CallContext().get(), request, &stored),
                          "deployment " + flags.deployment);
    if (!got.ok()) return ReportError(kCommand, got);
    auto parsed = orchestrator::DeploymentPlanFromJson(stored.plan_json());
    if (!parsed.ok()) return ReportError(kCommand, parsed.status());
    plan = std::move(parsed).value();
  }
  auto preprocess = Preprocessing(plan);
  if (!preprocess.ok()) return ReportError(kCommand, preprocess.status());
  auto post = MakePostprocessor(flags, top_k_given, plan, *preprocess);
  if (!post.ok()) return ReportError(kCommand, post.status());
  const bool drawing = !flags.annotate.empty() || !flags.preview_addr.empty();
  std::unique_ptr<annotate::Annotator> annotator;
  if (drawing) {
    annotate::AnnotatorOptions options;
    options.font_path = flags.font;
    options.labels = (*post)->labels();
    auto created = annotate::Annotator::Create(options);
    if (!created.ok()) return ReportError(kCommand, created.status());
    annotator = std::move(created).value();
  }

  // The cameras: --source flags, else the plan's streams.
  std::vector<std::unique_ptr<Camera>> cameras;
  auto policy_for = [&](bool live,
                        std::optional<OverloadPolicy> planned) -> Result<OverloadPolicy> {
    if (!flags.policy.empty()) {
      for (OverloadPolicy p : {OverloadPolicy::kDropOldest, OverloadPolicy::kDropNewest,
                               OverloadPolicy::kBlock, OverloadPolicy::kLatestOnly}) {
        if (flags.policy == OverloadPolicyName(p)) return p;
      }
      return Status::InvalidArgument(
          "--policy must be drop_oldest, drop_newest, block or "
          "latest_only, not '" +
          flags.policy + "'");
    }
    if (planned) return *planned;
    return live ? OverloadPolicy::kDropOldest : OverloadPolicy::kBlock;
  };
  ingest::ReaderOptions reader_options;
  reader_options.preprocess = *preprocess;
  reader_options.pixel_input = plan.model.pixel_input;
  reader_options.loop = flags.loop;
  reader_options.realtime = flags.realtime;
  reader_options.watchdog_seconds = flags.watchdog_s;
  reader_options.keep_picture = drawing;
  auto add_camera = [&](const std::string& name, const std::string& source,
                        std::optional<OverloadPolicy> planned) -> Status {
    auto camera = std::make_unique<Camera>();
    camera->id = cameras.size() + 1;
    camera->name = name;
    camera->source = source;
    SERDAB_ASSIGN_OR_RETURN(camera->reader, ingest::CameraReader::Open(source, reader_options));
    SERDAB_ASSIGN_OR_RETURN(camera->policy, policy_for(camera->reader->source().live(), planned));
    cameras.push_back(std::move(camera));
    return Status::Ok();
  };
  if (!flags.sources.empty()) {
    for (size_t i = 0; i < flags.sources.size(); ++i) {
      Status s = add_camera("cam" + std::to_string(i + 1), flags.sources[i], std::nullopt);
      if (!s.ok()) return ReportError(kCommand, s);
    }
  } else {
    for (const orchestrator::StreamSpec& spec : plan.streams) {
      Status s = add_camera(spec.name, spec.source, spec.on_overload);
      if (!s.ok()) return ReportError(kCommand, s);
    }
  }
  if (cameras.empty()) {
    return ReportError(
        kCommand, Status::InvalidArgument("no source: give --source URL or a plan with streams"),
        true);
  }
  for (auto& c : cameras) {
    if (flags.annotate.empty()) continue;
    c->video_path = AnnotatedVideoPath(flags.annotate, c->name, cameras.size());
    // Opened at the first result (its size is the picture's): a directory
    // that is not there is told now, not after the pipeline has started.
    const std::filesystem::path dir = std::filesystem::absolute(c->video_path).parent_path();
    if (!std::filesystem::is_directory(dir)) {
      return ReportError(kCommand, Status::NotFound("--annotate: " + c->video_path +
                                                    ": no directory " + dir.string()));
    }
  }
  // Presence events: as JSON lines to --events, and to --mqtt's broker.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> events_file(nullptr, &std::fclose);
  std::FILE* events_out = nullptr;
  if (flags.events == "-") {
    events_out = stdout;
  } else if (!flags.events.empty()) {
    events_file.reset(std::fopen(flags.events.c_str(), "w"));
    if (!events_file) return ReportError(kCommand, Status::IoError("cannot write " + flags.events));
    events_out = events_file.get();
  }
  std::unique_ptr<events::MqttPublisher> mqtt;
  if (!flags.mqtt_url.empty()) {
    events::MqttOptions options;
    options.url = flags.mqtt_url;
    options.topic_prefix = flags.mqtt_topic;
    options.username = flags.mqtt_user;
    if (const char* password = std::getenv("SERDAB_MQTT_PASSWORD")) options.password = password;
    auto connected = events::MqttPublisher::Connect(options);
    if (!connected.ok()) return ReportError(kCommand, connected.status().WithContext("--mqtt"));
    mqtt = std::move(connected).value();
  }
  if (events_out != nullptr || mqtt != nullptr) {
    for (auto& c : cameras) {
      auto tracker = events::ClassPresenceTracker::Create(c->name, {}, (*post)->labels());
      if (!tracker.ok()) return ReportError(kCommand, tracker.status());
      c->presence.emplace(std::move(tracker).value());
    }
  }
  annotate::MjpegPreviewServer preview;
  if (!flags.preview_addr.empty()) {
    Status started = preview.Start(flags.preview_addr);
    if (!started.ok()) return ReportError(kCommand, started.WithContext("--preview"));
    for (auto& c : cameras) {
      std::fprintf(stderr, "serdab stream: %s: preview at %s%s\n", c->name.c_str(),
                   preview.url().c_str(), preview.AddStream(c->name).c_str());
    }
  }

  auto policy = orchestrator::WorkerQuotePolicy(plan);
  if (!policy.ok()) return ReportError(kCommand, policy.status());
  // The first and last enclaves must be owned by the deployment's
  // coordinator, which attested them against this policy when it
  // provisioned them; the client checks the same policy again.
  auto verifier = attestation::QuoteVerifier::Create(*root, *policy);
  if (!verifier.ok()) return ReportError(kCommand, verifier.status());

  PipelineQuery query;
  query.deployment = plan.name;
  query.root = *root;
  query.allow_simulation = plan.attestation.allow_simulation;
  query.allow_debug = plan.attestation.allow_debug;
  v1::DeploymentStatus deployment;
  std::mutex deployment_mu;

  const bool show_status =
      flags.status == "on" || (flags.status == "auto" && ::isatty(STDERR_FILENO));
  // An event line first clears the status line it interrupts.
  const char* clear = show_status ? "\r\033[K" : "";
  std::FILE* out = stdout;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(nullptr, &std::fclose);
  if (!flags.output.empty()) {
    file.reset(std::fopen(flags.output.c_str(), "w"));
    if (!file) return ReportError(kCommand, Status::IoError("cannot write " + flags.output));
    out = file.get();
  }
  std::mutex out_mu;
  std::atomic<bool> draw_failed{false};
  auto emit_events = [&](const std::vector<events::ClassEvent>& happened) {
    for (const events::ClassEvent& e : happened) {
      if (mqtt != nullptr) mqtt->Publish(e);
      if (events_out == nullptr) continue;
      std::lock_guard<std::mutex> lock(out_mu);
      std::fprintf(events_out, "%s\n", events::ToJson(e).dump().c_str());
      std::fflush(events_out);
    }
  };
  // The annotated videos' frame rate: the plan's for its streams, else 25.
  double video_fps = 25;
  if (flags.sources.empty() && !plan.streams.empty()) video_fps = plan.streams.front().fps;
  std::map<uint64_t, Camera*> by_id;
  for (auto& c : cameras) by_id[c->id] = c.get();

  StreamClientOptions options;
  options.tls_dir = connection->resolved.insecure ? "" : connection->resolved.credentials;
  options.identity = &owner->key();
  options.verifier = &*verifier;
  options.recover_timeout_s = flags.recover_timeout_s;
  options.resolve = [&](bool after_failure) -> Result<Pipeline> {
    v1::DeploymentStatus status;
    SERDAB_ASSIGN_OR_RETURN(Pipeline pipeline, ResolvePipeline(&*connection, query, &status));
    std::lock_guard<std::mutex> lock(deployment_mu);
    if (after_failure && status.rollout() == deployment.rollout()) {
      // Still the placement that lost a stage: wait for the re-placement.
      bool all_provisioned = true;
      for (const v1::Stage& s : status.stages()) all_provisioned &= s.state() == "Provisioned";
      if (!all_provisioned) return Status::FailedPrecondition("the deployment is being re-placed");
    }
    deployment = std::move(status);
    return pipeline;
  };
  auto on_result = [&](StreamResult r) {
    Camera* c = by_id[r.stream];
    {
      std::lock_guard<std::mutex> lock(c->mu);
      c->latencies_ms.push_back(r.latency_ms);
      if (c->stage_ms_sum.size() < r.stage_ms.size()) c->stage_ms_sum.resize(r.stage_ms.size());
      for (size_t i = 0; i < r.stage_ms.size(); ++i) c->stage_ms_sum[i] += r.stage_ms[i];
      const int64_t now = NowNs();
      if (c->results++ == 0) c->first_result_ns = now;
      c->last_result_ns = now;
    }
    nlohmann::json line = {{"stream", c->name},
                           {"frame", r.meta.frame},
                           {"pts", r.meta.source_time_s},
                           {"latency_ms", r.latency_ms},
                           {"stage_ms", r.stage_ms}};
    const int64_t decode_start = NowNs();
    Result<FrameFindings> found =
        (*post)->Run(r.outputs, r.meta.source_width, r.meta.source_height);
    {
      std::lock_guard<std::mutex> lock(c->mu);
      c->postprocess_ms.push_back(static_cast<double>(NowNs() - decode_start) / 1e6);
    }
    if (found.ok()) {
      line.update((*post)->ToJson(*found));
      if (c->presence) {
        emit_events(c->presence->Update(static_cast<int64_t>(r.meta.frame), r.meta.source_time_s,
                                        Sightings(*found)));
      }
    } else {
      line["error"] = found.status().message();
    }
    if (annotator != nullptr && r.meta.picture != nullptr && found.ok()) {
      Status s = DrawResult(r, *found, c, annotator.get(),
                            flags.preview_addr.empty() ? nullptr : &preview, video_fps);
      if (!s.ok()) {
        draw_failed = true;
        std::lock_guard<std::mutex> lock(out_mu);
        std::fprintf(stderr, "%sserdab stream: %s: frame %llu not drawn: %s\n", clear,
                     c->name.c_str(), static_cast<unsigned long long>(r.meta.frame),
                     s.message().c_str());
      }
    }
    std::lock_guard<std::mutex> lock(out_mu);
    std::fprintf(out, "%s\n", line.dump().c_str());
    std::fflush(out);
  };
  auto on_event = [&](uint64_t stream, const std::string& what) {
    auto it = by_id.find(stream);
    std::lock_guard<std::mutex> lock(out_mu);
    std::fprintf(stderr, "%sserdab stream: %s: %s\n", clear,
                 it == by_id.end() ? "pipeline" : it->second->name.c_str(), what.c_str());
  };
  auto client = StreamClient::Start(std::move(options), on_result, on_event);
  if (!client.ok()) return ReportError(kCommand, client.status());
  for (auto& c : cameras) {
    Status added = (*client)->AddStream(c->id, c->policy, flags.queue);
    if (!added.ok()) return ReportError(kCommand, added.WithContext(c->name));
  }

  // Per stream: frames in, out, dropped and rejected, and p50/p99 latency
  // of the last 1024 results.
  metrics::Registry registry;
  registry.AddCollector([&](metrics::Collection* m) {
    for (auto& c : cameras) {
      const StreamCounters n = (*client)->Counters(c->id);
      constexpr char kFrames[] = "serdab_stream_frames_total";
      constexpr char kHelp[] = "Frames of a camera stream, by outcome.";
      for (const auto& [outcome, value] : {std::pair<const char*, uint64_t>{"in", n.in},
                                           {"out", n.out},
                                           {"dropped", n.dropped},
                                           {"rejected", n.rejected},
                                           {"resent", n.resent}}) {
        m->Add(metrics::MetricType::kCounter, kFrames, kHelp,
               {{"stream", c->name}, {"outcome", outcome}}, static_cast<double>(value));
      }
      const std::vector<double> recent = c->RecentLatencies(1024);
      for (const auto& [quantile, q] :
           {std::pair<const char*, double>{"0.5", 0.5}, {"0.99", 0.99}}) {
        m->Add(metrics::MetricType::kGauge, "serdab_stream_latency_seconds",
               "End-to-end latency of a stream's recent frames, capture to result.",
               {{"stream", c->name}, {"quantile", quantile}}, Percentile(recent, q) / 1e3);
      }
    }
  });
  metrics::MetricsServer metrics_server(&registry);
  if (!flags.metrics_addr.empty()) {
    Status started = metrics_server.Start(flags.metrics_addr);
    if (!started.ok()) return ReportError(kCommand, started);
  }

  std::atomic<bool> failed{false};
  for (auto& c : cameras) {
    Camera* camera = c.get();
    camera->reader->Start(
        [&, camera](ingest::Frame frame) {
          if (flags.frames > 0 && frame.number >= flags.frames) {
            camera->limit_reached = true;
            return;
          }
          if (!flags.save_inputs.empty()) {
            (void)SaveInput(flags.save_inputs, camera->name, frame);
          }
          const bool pixels = frame.tensor.empty();
          auto tensor =
              engine::Tensor::Create(pixels ? engine::DataType::kUint8 : engine::DataType::kFloat32,
                                     {frame.shape.begin(), frame.shape.end()});
          if (!tensor.ok()) return;
          if (pixels) {
            std::copy(frame.pixels.begin(), frame.pixels.end(), tensor->data<uint8_t>());
          } else {
            std::copy(frame.tensor.begin(), frame.tensor.end(), tensor->data<float>());
          }
          std::vector<engine::Tensor> inputs;
          inputs.push_back(std::move(tensor).value());
          FrameMeta meta;
          meta.frame = static_cast<uint64_t>(frame.number);
          meta.source_time_s = frame.pts_seconds;
          meta.captured_ns = NowNs();
          meta.source_width = frame.source_width;
          meta.source_height = frame.source_height;
          meta.picture = std::move(frame.picture);
          if (!(*client)->Submit(camera->id, meta, std::move(inputs)).ok()) failed = true;
        },
        [&, camera](const ingest::Event& e) {
          {
            std::lock_guard<std::mutex> lock(camera->mu);
            camera->events++;
            if (e.kind == ingest::EventKind::kResumed) {
              camera->longest_gap_s = std::max(camera->longest_gap_s, e.seconds);
            }
          }
          std::lock_guard<std::mutex> lock(out_mu);
          std::fprintf(stderr, "%sserdab stream: %s: %s: %s\n", clear, camera->name.c_str(),
                       ingest::EventKindName(e.kind), e.message.c_str());
        });
  }

  std::vector<Camera*> raw;
  for (auto& c : cameras) raw.push_back(c.get());
  std::unique_ptr<StatusLine> status_line;
  if (show_status) status_line = std::make_unique<StatusLine>(raw, client->get());

  // Each reader ends by itself (a file), or is stopped here: at --frames,
  // or on SIGINT/SIGTERM (a camera runs until then), after which the frames
  // already queued still get their results and the summary is printed.
  std::vector<std::thread> waiters;
  std::vector<Status> ended(cameras.size());
  std::atomic<size_t> running{cameras.size()};
  for (size_t i = 0; i < cameras.size(); ++i) {
    waiters.emplace_back([&, i] {
      ended[i] = cameras[i]->reader->Wait();
      (*client)->EndStream(cameras[i]->id);
      running--;
    });
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  const timespec tick{0, 100'000'000};
  bool stopping = false;
  while (running > 0) {
    const bool signalled = sigtimedwait(&stop_signals, nullptr, &tick) > 0;
    for (auto& c : cameras) {
      if (signalled || stopping || (flags.frames > 0 && c->limit_reached)) c->reader->Stop();
    }
    stopping = stopping || signalled;
  }
  for (std::thread& t : waiters) t.join();
  Status outcome;
  for (size_t i = 0; i < cameras.size(); ++i) {
    if (!ended[i].ok() && outcome.ok()) outcome = ended[i].WithContext(cameras[i]->name);
  }
  Status finished = (*client)->Finish();
  metrics_server.Stop();
  preview.Stop();
  status_line.reset();
  if (outcome.ok()) outcome = finished;
  for (auto& c : cameras) {
    if (c->presence) emit_events(c->presence->Finish());
  }
  if (mqtt != nullptr) {
    mqtt->Close();
    const events::MqttCounters sent = mqtt->counters();
    std::fprintf(stderr, "serdab stream: mqtt: %lld events published, %lld dropped\n",
                 static_cast<long long>(sent.published), static_cast<long long>(sent.dropped));
  }
  for (auto& c : cameras) {
    if (c->video == nullptr) continue;
    Status closed = c->video->Close();
    if (!closed.ok() && outcome.ok()) outcome = closed.WithContext(c->name);
  }
  if (draw_failed && outcome.ok()) outcome = Status::IoError("some results could not be drawn");
  if (failed && outcome.ok()) outcome = Status::Internal("frames could not be queued");
  {
    std::lock_guard<std::mutex> lock(deployment_mu);
    PrintSummary(cameras, client->get(), deployment);
  }
  if (!outcome.ok()) return ReportError(kCommand, outcome);
  return 0;
}

}  // namespace

int RunStreamCommand(int argc, char** argv) {
  CLI::App app(
      "Streams cameras or video files through a Ready deployment: frames are decoded and "
      "preprocessed here, sealed to the deployment's first enclave, and the results come back "
      "from its last enclave as JSON lines (stream, frame, pts, latency_ms, stage_ms, and what "
      "the plan's postprocess finds: top classes, detections in source pixels, or a "
      "segmentation's class areas). "
      "Sources: video files (mp4, mkv, avi), rtsp://, http:// MJPEG, /dev/videoN, or a directory "
      "of images. Files get every frame processed (policy block); live cameras drop the oldest "
      "frame when the pipeline is behind (drop_oldest).",
      kCommand);
  Flags flags;
  AddConnectionFlags(&app, &flags.connection);
  app.add_option("-f,--file", flags.plan_file,
                 "the deployment's plan: its attestation policy, preprocessing and streams");
  app.add_option("--deployment", flags.deployment,
                 "the deployment (default: the plan's only one); without -f, the plan the "
                 "orchestrator stores is used");
  app.add_option("--source", flags.sources,
                 "a camera or file; repeat for several (default: the plan's streams)");
  app.add_option("--policy", flags.policy,
                 "when the pipeline is behind: drop_oldest, drop_newest, block or latest_only "
                 "(default: block for files, drop_oldest for cameras, or the plan's)");
  app.add_flag("--realtime", flags.realtime, "feed files at their own frame rate");
  app.add_flag("--loop", flags.loop, "play files again from the start when they end");
  app.add_option("--frames", flags.frames, "stop each source after this many frames (0: no limit)")
      ->transform(DecimalInteger())
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  app.add_option("-o,--output", flags.output, "write the JSON lines here instead of stdout");
  app.add_option("--top-k", flags.top_k, "classes per result (default: the plan's, else 5)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--labels", flags.labels,
                 "class names, one per line, in class order (default: the plan's labels_file)");
  app.add_option("--annotate", flags.annotate,
                 "write each camera's video with its results drawn on it (boxes, labels, masks, "
                 "latency) to this file, e.g. out.mp4; with several cameras, out-NAME.mp4");
  app.add_option("--preview", flags.preview_addr,
                 "serve the annotated video as MJPEG over HTTP on HOST:PORT, for a browser");
  app.add_option("--font", flags.font, "the TrueType font labels are drawn with")
      ->capture_default_str();
  app.add_option("--events", flags.events,
                 "write a JSON line each time a class appears in or leaves a camera's view "
                 "(seen in 2 frames running / missing from 5) to this file; - for stdout, "
                 "among the results");
  app.add_option("--mqtt", flags.mqtt_url,
                 "publish those events to an MQTT broker, mqtt://HOST[:PORT], on "
                 "TOPIC/CAMERA/events (and the classes present, retained, on TOPIC/CAMERA/state); "
                 "the password, if any, from $SERDAB_MQTT_PASSWORD");
  app.add_option("--mqtt-user", flags.mqtt_user, "the MQTT user name");
  app.add_option("--mqtt-topic", flags.mqtt_topic, "the MQTT topic prefix")->capture_default_str();
  app.add_option("--status", flags.status, "the live status line on stderr: auto, on or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--watchdog", flags.watchdog_s,
                 "reconnect a camera that sent no frame for this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0));
  app.add_option("--queue", flags.queue, "frames that may wait per stream")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--recover-timeout", flags.recover_timeout_s,
                 "how long to wait for a lost stage's deployment to be re-placed (s)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  app.add_option("--metrics-addr", flags.metrics_addr,
                 "serve Prometheus metrics (frames and latency per stream) on HOST:PORT");
  app.add_option("--save-inputs", flags.save_inputs,
                 "also write each preprocessed frame here as raw float32 (NAME-N.f32), or as the "
                 "bytes a model with a uint8 input takes (NAME-N.u8), for checks");
  if (auto code = ParseFlags(app, argc, argv)) return *code;
  return Run(flags, app.count("--top-k") > 0);
}

}  // namespace serdab::cli
