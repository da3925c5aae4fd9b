#include "orchestrator/deployment_planner.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "enclave/crypto/keys.h"
#include "partitioner/placement_solver.h"
#include "partitioner/profile_io.h"
#include "serdab/v1/orchestrator.pb.h"

namespace serdab::orchestrator {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

v1::WorkerCapacity CapacityOf(const WorkerRecord& worker) {
  v1::WorkerCapacity capacity;
  (void)google::protobuf::util::JsonStringToMessage(worker.capacity_json, &capacity);
  return capacity;
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

std::vector<StageRecord> PlannedStages(const PlannedDeployment& planned,
                                       const std::string& enclave) {
  const int layers = planned.problem.model.num_layers();
  std::vector<StageRecord> stages;
  for (const partitioner::PlannedStage& stage : planned.placement.stages) {
    for (size_t replica = 0; replica < stage.workers.size(); ++replica) {
      StageRecord record;
      record.worker = planned.workers[stage.workers[replica]];
      record.enclave = enclave;
      record.begin = stage.begin;
      record.end = stage.end == layers ? -1 : stage.end;
      record.replica = static_cast<int>(replica);
      if (stage.sharded) record.shards = static_cast<int>(stage.workers.size());
      record.predicted_ms =
          replica < stage.costs.size() ? stage.costs[replica].total_ms() : stage.time_ms;
      if (replica < stage.costs.size()) {
        const partitioner::StageCost& cost = stage.costs[replica];
        record.weight_residency =
            std::string(partitioner::WeightResidencyName(cost.weight_residency));
        record.streamed_weight_bytes = static_cast<uint64_t>(cost.streamed_weight_bytes);
      }
      record.state = "Planned";
      stages.push_back(std::move(record));
    }
  }
  return stages;
}

int64_t WorkerEpcBytes(const WorkerRecord& worker) {
  const v1::WorkerCapacity capacity = CapacityOf(worker);
  return capacity.epc_bytes() > 0 ? static_cast<int64_t>(capacity.epc_bytes())
                                  : static_cast<int64_t>(93.5 * 1024 * 1024);
}

double WorkerAeadBytesPerSecond(const WorkerRecord& worker) {
  const v1::WorkerCapacity capacity = CapacityOf(worker);
  return capacity.aead_bytes_per_s() > 0 ? capacity.aead_bytes_per_s() : 2e9;
}

int WorkerThreads(const WorkerRecord& worker) {
  const v1::WorkerCapacity capacity = CapacityOf(worker);
  return capacity.threads() > 0 ? static_cast<int>(capacity.threads()) : 1;
}

std::string WorkerFingerprint(const WorkerRecord& worker) {
  const v1::WorkerCapacity capacity = CapacityOf(worker);
  const std::string text = capacity.cpu_model() + "|epc=" + std::to_string(WorkerEpcBytes(worker)) +
                           "|threads=" + std::to_string(WorkerThreads(worker)) +
                           "|sim sgx1|resident|range-timed";
  return crypto::HexEncode(crypto::Sha256(crypto::AsBytes(text))).substr(0, 16);
}

Result<partitioner::WorkerProfile> DeploymentPlanner::ProfileWorker(
    const WorkerRecord& worker, const crypto::Bytes& architecture,
    const partitioner::ModelProfile& native, bool shared) {
  const std::string fingerprint = WorkerFingerprint(worker);
  // Not shared, the profile is the worker's own, under its name's hash (a
  // name is not necessarily a safe file name).
  const std::string key =
      shared ? fingerprint
             : fingerprint + "-" +
                   crypto::HexEncode(crypto::Sha256(crypto::AsBytes(worker.name))).substr(0, 16);
  const std::string cache = options_.cache_dir.empty()
                                ? std::string()
                                : options_.cache_dir + "/" + native.sha256 + "/" + key + ".yaml";
  if (!cache.empty()) {
    auto cached = partitioner::LoadCluster(cache);
    if (cached.ok() && cached->workers.size() == 1 &&
        cached->workers[0].layer_ms.size() == native.layers.size()) {
      partitioner::WorkerProfile profile = cached->workers[0];
      // Shared, the AEAD rate stays the one measured on the worker profiled
      // first: workers of the same hardware get the same profile, and so the
      // same placement whatever each one's measurement happened to be.
      profile.name = worker.name;
      profile.runtime_bytes = partitioner::kSimEnclaveRuntimeBytes;
      return profile;
    }
  }
  if (options_.progress) {
    options_.progress("profiling " + native.name + " in an enclave on " + worker.name);
  }
  partitioner::ModelProfile model = native;
  partitioner::WorkerProfile profile;
  profile.name = worker.name;
  profile.fingerprint = fingerprint;
  profile.kind = partitioner::WorkerKind::kEnclave;
  profile.epc_bytes = WorkerEpcBytes(worker);
  profile.threads = WorkerThreads(worker);
  profile.aead_bytes_per_s = WorkerAeadBytesPerSecond(worker);
  profile.runtime_bytes = partitioner::kSimEnclaveRuntimeBytes;
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<cli::ProfilingEnclave> enclave,
                          host_->Start(worker, architecture, profile.threads));
  SERDAB_RETURN_IF_ERROR(
      cli::ProfileInEnclaves(enclave.get(), options_.repeats, options_.progress, &model, &profile)
          .WithContext("profiling on worker " + worker.name));
  for (const partitioner::LayerProfile& layer : model.layers) {
    profile.layer_ms.push_back(layer.enclave_ms);
  }
  if (!cache.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(cache).parent_path(), ec);
    partitioner::Cluster one;
    one.workers = {profile};
    // A cache that cannot be written costs a profile next time, nothing else.
    (void)partitioner::SaveCluster(one, cache);
  }
  return profile;
}

Result<PlannedDeployment> DeploymentPlanner::Plan(const DeploymentPlan& plan,
                                                  const crypto::Bytes& architecture,
                                                  const std::vector<WorkerRecord>& workers) {
  if (workers.empty()) {
    return PlanFieldError(plan, "workers.selector",
                          "no Ready worker matches the selector and tiers");
  }
  PlannedDeployment out;
  const auto profile_start = std::chrono::steady_clock::now();
  cli::ProfilerOptions native_options;
  native_options.threads = options_.native_threads;
  native_options.repeats = options_.repeats;
  native_options.cache_dir = options_.cache_dir.empty() ? "" : options_.cache_dir + "/native";
  native_options.synthetic_weights = true;
  native_options.progress = options_.progress;
  SERDAB_ASSIGN_OR_RETURN(cli::ProfileResult native,
                          cli::ProfileModelBytes(architecture, plan.name, native_options));

  partitioner::Problem& problem = out.problem;
  problem.model = native.model;
  for (const WorkerRecord& worker : workers) {
    SERDAB_ASSIGN_OR_RETURN(partitioner::WorkerProfile profile,
                            ProfileWorker(worker, architecture, native.model,
                                          plan.workers.profiling == WorkerProfiling::kShared));
    problem.cluster.workers.push_back(std::move(profile));
    out.workers.push_back(worker.name);
  }
  // The links between workers are the plan's declared figures, else the
  // planner's defaults (no probe measures them yet).
  problem.cluster.default_link = partitioner::DefaultLink{
      plan.placement.link_bandwidth_mbps ? *plan.placement.link_bandwidth_mbps * 1e6 / 8
                                         : options_.link_bandwidth_bytes_per_s,
      plan.placement.link_rtt_ms.value_or(options_.link_rtt_ms)};
  out.profile_ms = MsSince(profile_start);

  const auto solve_start = std::chrono::steady_clock::now();
  problem.objective = plan.placement.objective;
  problem.max_stages = plan.placement.max_stages;
  problem.privacy_layers = std::min(plan.placement.min_enclave_layers, problem.model.num_layers());
  problem.allow_paging = plan.placement.allow_paging;
  problem.allow_replication = plan.placement.replication;
  problem.max_shards = plan.placement.max_shards;
  problem.latency_slo_ms = plan.placement.max_latency_ms;
  auto solved = partitioner::Solve(problem);
  if (!solved.ok()) {
    if (problem.latency_slo_ms) {
      partitioner::Problem relaxed = problem;
      relaxed.latency_slo_ms.reset();
      relaxed.objective = partitioner::Objective::kLatency;
      if (auto best = partitioner::Solve(relaxed); best.ok()) {
        return PlanFieldError(plan, "placement.slo.max_latency_ms",
                              "no placement on the " + std::to_string(workers.size()) +
                                  " matching workers returns a frame within " +
                                  Fixed(*problem.latency_slo_ms, 1) + " ms (the fastest takes " +
                                  Fixed(best->latency_ms, 1) + " ms)");
      }
    }
    if (!problem.allow_paging) {
      partitioner::Problem relaxed = problem;
      relaxed.allow_paging = true;
      relaxed.latency_slo_ms.reset();
      if (partitioner::Solve(relaxed).ok()) {
        return PlanFieldError(plan, "placement.allow_paging",
                              "every placement on the " + std::to_string(workers.size()) +
                                  " matching workers has a stage larger than its worker's EPC (" +
                                  partitioner::FormatBytes(problem.cluster.workers[0].epc_bytes) +
                                  "); allow paging, or add workers or stages");
      }
    }
    return PlanFieldError(plan, "placement", solved.status().message());
  }
  out.placement = std::move(*solved);
  out.solve_ms = MsSince(solve_start);
  if (plan.placement.min_fps && out.placement.fps < *plan.placement.min_fps) {
    return PlanFieldError(plan, "placement.slo.min_fps",
                          "the best placement on the " + std::to_string(workers.size()) +
                              " matching workers predicts " + Fixed(out.placement.fps, 1) +
                              " fps, below the " + Fixed(*plan.placement.min_fps, 1) +
                              " the plan asks for");
  }
  return out;
}

}  // namespace serdab::orchestrator
