// Solve time of the placement solver on a large instance: 300 layers on 16 workers (8 edge
// enclaves, 4 cloud enclaves, 4 cloud GPUs), the size the design promises in milliseconds
// (budget: 50 ms per solve). Most layers' weights can stream, so the cost model weighs
// streaming against paging for every over-committed stage, and with max_shards those layers
// can be sharded across up to 4 workers.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "partitioner/placement_solver.h"

namespace serdab::partitioner {
namespace {

constexpr int64_t kMiB = 1 << 20;

// A VGG-like profile: early layers hold little weight and large activations, later layers
// the reverse; times vary per layer.
ModelProfile LargeModel(int layers, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  ModelProfile model;
  model.name = "synthetic-" + std::to_string(layers);
  model.sha256 = "synthetic";
  for (int i = 0; i < layers; ++i) {
    const double depth = static_cast<double>(i) / layers;
    LayerProfile layer;
    layer.name = "layer" + std::to_string(i);
    layer.enclave_ms = 0.5 * jitter(rng);
    layer.native_ms = layer.enclave_ms * 0.8;
    layer.weight_bytes = static_cast<int64_t>(jitter(rng) * (0.05 + 3.0 * depth) * kMiB);
    // Three layers in four are convolutions or matrix products whose weights, less a bias,
    // can stream; so every stage weighs paging against streaming.
    if (i % 4 != 0) layer.streamable_weight_bytes = layer.weight_bytes - layer.weight_bytes / 64;
    layer.activation_bytes = static_cast<int64_t>(jitter(rng) * (6.0 - 5.0 * depth) * kMiB);
    model.layers.push_back(layer);
  }
  for (int i = 0; i <= layers; ++i) {
    const double depth = static_cast<double>(i) / layers;
    model.cut_bytes.push_back(static_cast<int64_t>(jitter(rng) * (3.0 - 2.9 * depth) * kMiB));
  }
  return model;
}

Cluster LargeCluster() {
  Cluster cluster;
  cluster.client = "camera";
  auto add = [&](const std::string& name, WorkerKind kind, int64_t epc, double speed) {
    WorkerProfile w;
    w.name = name;
    w.fingerprint = name;
    w.kind = kind;
    w.epc_bytes = epc;
    w.page_swap_ns = 40000;
    w.ecall_ns = 8000;
    w.aead_bytes_per_s = 2e9;
    w.threads = 4;
    w.speed_factor = speed;
    cluster.workers.push_back(w);
  };
  for (int i = 0; i < 8; ++i) add("edge" + std::to_string(i), WorkerKind::kEnclave, 93 * kMiB, 1.0);
  for (int i = 0; i < 4; ++i) {
    add("cloud" + std::to_string(i), WorkerKind::kEnclave, 188 * kMiB, 2.0);
  }
  for (int i = 0; i < 4; ++i) add("gpu" + std::to_string(i), WorkerKind::kAccelerator, 0, 20.0);
  // Fast links inside the edge site and inside the cloud, a slow one between them.
  auto site = [](const std::string& name) {
    return name.rfind("edge", 0) == 0 || name == "camera";
  };
  std::vector<std::string> names = {"camera"};
  for (const WorkerProfile& w : cluster.workers) names.push_back(w.name);
  for (size_t a = 0; a < names.size(); ++a) {
    for (size_t c = a + 1; c < names.size(); ++c) {
      const bool same = site(names[a]) == site(names[c]);
      cluster.links.push_back(
          LinkProfile{names[a], names[c], same ? 1.25e8 : 1.25e7, same ? 0.3 : 20.0});
    }
  }
  return cluster;
}

Problem LargeProblem(Objective objective, int max_stages, bool replication, int max_shards) {
  Problem problem;
  problem.model = LargeModel(300, 42);
  problem.cluster = LargeCluster();
  problem.objective = objective;
  problem.max_stages = max_stages;
  problem.privacy_layers = 20;
  problem.allow_paging = true;
  problem.allow_replication = replication;
  problem.max_shards = max_shards;
  return problem;
}

// An SLO halfway between the lowest latency and the fastest placement's latency, so that it
// binds and the solver must search bottleneck values.
Problem WithBindingSlo(Problem problem) {
  problem.objective = Objective::kLatency;
  const Result<Placement> quickest = Solve(problem);
  problem.objective = Objective::kThroughput;
  const Result<Placement> fastest = Solve(problem);
  if (!quickest.ok() || !fastest.ok()) {
    std::fprintf(stderr, "benchmark instance is infeasible\n");
    std::abort();
  }
  problem.latency_slo_ms = (quickest->latency_ms + fastest->latency_ms) / 2;
  return problem;
}

void RunSolve(benchmark::State& state, const Problem& problem) {
  double fps = 0;
  double latency = 0;
  for (auto _ : state) {
    Result<Placement> placement = Solve(problem);
    if (!placement.ok()) {
      state.SkipWithError(placement.status().message().c_str());
      return;
    }
    fps = placement->fps;
    latency = placement->latency_ms;
    benchmark::DoNotOptimize(placement);
  }
  state.counters["fps"] = fps;
  state.counters["latency_ms"] = latency;
}

// Arguments: max_stages (0: no limit), replication (0/1), max_shards (0: no sharding).
void BM_SolveThroughput(benchmark::State& state) {
  RunSolve(state, LargeProblem(Objective::kThroughput, state.range(0), state.range(1) != 0,
                               state.range(2)));
}
void BM_SolveThroughputWithSlo(benchmark::State& state) {
  RunSolve(state, WithBindingSlo(LargeProblem(Objective::kThroughput, state.range(0),
                                              state.range(1) != 0, state.range(2))));
}
void BM_SolveLatency(benchmark::State& state) {
  RunSolve(state,
           LargeProblem(Objective::kLatency, state.range(0), state.range(1) != 0, state.range(2)));
}

#define SERDAB_SOLVER_ARGS                              \
  ArgNames({"max_stages", "replication", "max_shards"}) \
      ->Args({0, 0, 0})                                 \
      ->Args({4, 0, 0})                                 \
      ->Args({0, 1, 0})                                 \
      ->Args({4, 1, 0})                                 \
      ->Args({0, 0, 4})                                 \
      ->Args({4, 0, 4})                                 \
      ->Args({0, 1, 4})                                 \
      ->Args({4, 1, 4})                                 \
      ->Unit(benchmark::kMillisecond)

BENCHMARK(BM_SolveThroughput)->SERDAB_SOLVER_ARGS;
BENCHMARK(BM_SolveThroughputWithSlo)->SERDAB_SOLVER_ARGS;
BENCHMARK(BM_SolveLatency)->SERDAB_SOLVER_ARGS;

}  // namespace
}  // namespace serdab::partitioner

BENCHMARK_MAIN();
