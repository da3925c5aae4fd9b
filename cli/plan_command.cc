// serdab plan: the best pipelined placement of a model over a cluster, with
// the baselines it is compared to.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/layer_profiler.h"
#include "partitioner/baselines.h"
#include "partitioner/placement_report.h"
#include "partitioner/placement_solver.h"
#include "partitioner/profile_io.h"

namespace serdab::cli {
namespace {

// Which TEE the prediction is for: the target the profile's enclave layer
// times stand for, and each enclave worker's, so that a plan never silently
// mixes one target's times with another's costs.
std::string DescribeTargets(const partitioner::Problem& problem) {
  auto or_host = [](const std::string& target) {
    return target.empty() ? std::string("this host's wall time") : target;
  };
  std::string line = "target: enclave layer times " + or_host(problem.model.target) + "; workers";
  const char* sep = " ";
  for (const partitioner::WorkerProfile& w : problem.cluster.workers) {
    line += sep + w.name + " " +
            (w.is_enclave() ? or_host(w.target)
                            : std::string(partitioner::WorkerKindName(w.kind)) + " (no TEE)");
    sep = ", ";
  }
  return line + "\n";
}

}  // namespace

int RunPlanCommand(int argc, char** argv) {
  std::string model_path, profile_path, cluster_path, objective = "throughput";
  partitioner::Problem problem;
  double slo_ms = 0;
  bool json = false, no_paging = false;
  CLI::App app{
      "Solves the placement of a model's layers over a cluster's workers: contiguous\n"
      "layer ranges on workers in the cluster's order, maximising throughput or\n"
      "minimising latency under EPC, privacy, stage-count and latency constraints.\n"
      "Prints the stages with predicted times, the bottleneck, fps and latency, and the\n"
      "same predictions for three baselines (one enclave, equal-layer split, greedy\n"
      "EPC fill). Layer times come from --profile (serdab profile); without one the\n"
      "model is profiled natively now. The first line names the TEE the prediction is\n"
      "for: the target of the profile's layer times and of each enclave worker.",
      "plan"};
  app.add_option("--model", model_path, "ONNX model file (profiled when --profile is absent)");
  app.add_option("--profile", profile_path, "model profile from serdab profile");
  app.add_option("--cluster", cluster_path, "cluster file (see deploy/examples/cluster.yaml)")
      ->required();
  app.add_option("--objective", objective, "what the placement optimises")
      ->capture_default_str()
      ->check(CLI::IsMember({"throughput", "latency"}));
  app.add_option("--max-stages", problem.max_stages, "at most this many stages (0: no limit)")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(0, 1024));
  app.add_option("--privacy-layers", problem.privacy_layers,
                 "the first N layers run only in enclaves")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--slo-ms", slo_ms, "latency SLO in ms (0: none)")->capture_default_str();
  app.add_flag("--no-paging", no_paging, "every stage must fit its EPC");
  app.add_flag("--replication", problem.allow_replication,
               "allow a stage on two neighbouring workers");
  app.add_option("--max-shards", problem.max_shards,
                 "allow one Gemm, MatMul or Conv layer split by output features across 2..K "
                 "consecutive workers (0: no sharding)")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(0, partitioner::kMaxShards));
  app.add_flag("--json", json, "print JSON");
  if (auto rc = ParseFlags(app, argc, argv)) return *rc;
  problem.objective = objective == "latency" ? partitioner::Objective::kLatency
                                             : partitioner::Objective::kThroughput;
  // One of the two is required, which CLI11 cannot say, so checked here.
  if (profile_path.empty() && model_path.empty()) {
    return ReportError("plan", Status::InvalidArgument("give --profile or --model"), true);
  }
  if (!profile_path.empty()) {
    auto profile = partitioner::LoadModelProfile(profile_path);
    if (!profile.ok()) return ReportError("plan", profile.status());
    problem.model = std::move(profile).value();
  } else {
    std::fprintf(stderr,
                 "plan: no --profile; timing %s natively (serdab profile --enclave sim "
                 "gives in-enclave times)\n",
                 model_path.c_str());
    ProfilerOptions options;
    options.repeats = 3;
    options.cache_dir = DefaultProfileCacheDir();
    options.progress = [](const std::string& line) {
      std::fprintf(stderr, "profile: %s\n", line.c_str());
    };
    auto result = ProfileModel(model_path, options);
    if (!result.ok()) return ReportError("plan", result.status());
    problem.model = std::move(result->model);
  }
  auto cluster = partitioner::LoadCluster(cluster_path);
  if (!cluster.ok()) return ReportError("plan", cluster.status());
  problem.cluster = std::move(cluster).value();
  problem.allow_paging = !no_paging;
  if (slo_ms > 0) problem.latency_slo_ms = slo_ms;

  auto placement = partitioner::Solve(problem);
  if (!placement.ok()) return ReportError("plan", placement.status());
  if (json) {
    std::printf("%s\n", partitioner::PlacementToJson(problem, *placement).c_str());
    return 0;
  }
  std::printf("%s", DescribeTargets(problem).c_str());
  std::printf("%s", partitioner::FormatPlacementTable(problem, *placement).c_str());
  std::printf("\n%-22s %12s %12s %18s\n", "baseline", "fps", "latency ms", "plan speedup");
  struct Baseline {
    const char* name;
    Result<partitioner::Placement> placement;
  };
  Baseline baselines[] = {
      {"one enclave", partitioner::OneEnclaveBaseline(problem)},
      {"equal-layer split", partitioner::EqualSplitBaseline(problem)},
      {"greedy EPC fill", partitioner::GreedyEpcFillBaseline(problem)},
  };
  for (const Baseline& b : baselines) {
    if (!b.placement.ok()) {
      std::printf("%-22s %s\n", b.name, b.placement.status().message().c_str());
      continue;
    }
    const double speedup = problem.objective == partitioner::Objective::kThroughput
                               ? placement->fps / b.placement->fps
                               : b.placement->latency_ms / placement->latency_ms;
    std::printf("%-22s %12.2f %12.2f %17.2fx\n", b.name, b.placement->fps, b.placement->latency_ms,
                speedup);
  }
  return 0;
}

}  // namespace serdab::cli
