// The solver against brute force on random small instances (half of them allowing sharded
// stages, which stand only between two whole ones; each of those checks both enforce it):
// same objective value, same feasibility, and an infeasibility message that names a
// constraint whose relaxation (checked by brute force) admits a placement.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>

#include "partitioner/brute_force.h"
#include "partitioner/cost_model.h"
#include "partitioner/placement_solver.h"

namespace serdab::partitioner {
namespace {

constexpr int64_t kMiB = 1 << 20;

class InstanceGenerator {
 public:
  explicit InstanceGenerator(uint64_t seed) : rng_(seed) {}

  Problem Next() {
    Problem p;
    // Half the instances allow sharding. A sharded stage stands only between two whole ones,
    // so most of those get the four or five workers that leave room for one.
    const bool sharding = Chance(0.5);
    const int n = Int(1, 12);
    const int w = sharding && Chance(0.7) ? Int(4, 5) : Int(1, 5);
    p.model.name = "random";
    p.model.sha256 = "0";
    double total_ms = 0;
    for (int i = 0; i < n; ++i) {
      LayerProfile layer;
      layer.name = "l" + std::to_string(i);
      layer.enclave_ms = Real(0.1, 10);
      layer.native_ms = layer.enclave_ms * Real(0.2, 1.0);
      layer.weight_bytes = Int(0, 4 * kMiB);
      // Some layers stream all of their weights (a Gemm's), some part (a Conv's beside its
      // bias), most none.
      const double streams = Real(0, 1);
      layer.streamable_weight_bytes = streams < 0.25  ? layer.weight_bytes
                                      : streams < 0.4 ? Int(0, layer.weight_bytes)
                                                      : 0;
      layer.activation_bytes = Int(0, 2 * kMiB);
      total_ms += layer.enclave_ms;
      p.model.layers.push_back(layer);
    }
    for (int i = 0; i <= n; ++i) p.model.cut_bytes.push_back(Int(0, 2 * kMiB));
    // A classifier-like layer between two others: slow on every worker, its weights all
    // streamable, small cuts on both sides; what sharding is for.
    const int slow = sharding && n >= 3 && Chance(0.8) ? static_cast<int>(Int(1, n - 2)) : -1;
    if (slow >= 0) {
      const int i = slow;
      LayerProfile& layer = p.model.layers[i];
      total_ms -= layer.enclave_ms;
      layer.enclave_ms = Real(30, 120);
      layer.native_ms = layer.enclave_ms * Real(0.5, 1.0);
      layer.streamable_weight_bytes = layer.weight_bytes = Int(kMiB, 8 * kMiB);
      total_ms += layer.enclave_ms;
      p.model.cut_bytes[i] = Int(0, 16 << 10);
      p.model.cut_bytes[i + 1] = Int(0, 16 << 10);
    }

    for (int j = 0; j < w; ++j) {
      WorkerProfile worker;
      worker.name = "w" + std::to_string(j);
      const double kind = Real(0, 1);
      worker.kind = kind < 0.6   ? WorkerKind::kEnclave
                    : kind < 0.8 ? WorkerKind::kAccelerator
                                 : WorkerKind::kNative;
      worker.epc_bytes = Int(1 * kMiB, 12 * kMiB);
      worker.page_swap_ns = Real(1e3, 4e4);
      worker.ecall_ns = Real(0, 5e4);
      worker.aead_bytes_per_s = Real(5e8, 4e9);
      worker.speed_factor = Real(0.5, 3);
      if (Chance(0.2)) {
        for (int i = 0; i < n; ++i) worker.layer_ms.push_back(Real(0.1, 10));
        if (slow >= 0) worker.layer_ms[slow] = p.model.layers[slow].enclave_ms * Real(0.5, 1.5);
      }
      p.cluster.workers.push_back(worker);
    }
    if (Chance(0.5)) p.cluster.client = "client";
    std::vector<std::string> endpoints;
    for (const WorkerProfile& worker : p.cluster.workers) endpoints.push_back(worker.name);
    if (!p.cluster.client.empty()) endpoints.push_back(p.cluster.client);
    for (size_t a = 0; a < endpoints.size(); ++a) {
      for (size_t c = 0; c < endpoints.size(); ++c) {
        // Mostly one direction (symmetric), sometimes both, sometimes none.
        if (a == c || (c < a && !Chance(0.2)) || !Chance(0.8)) continue;
        p.cluster.links.push_back(
            LinkProfile{endpoints[a], endpoints[c], Real(1e7, 1e9), Real(0, 5)});
      }
    }
    if (Chance(sharding ? 0.8 : 0.5)) {
      p.cluster.default_link = DefaultLink{Real(1e7, 1e9), Real(0, 5)};
    }

    p.objective = Chance(0.5) ? Objective::kThroughput : Objective::kLatency;
    p.max_stages = Chance(sharding ? 0.75 : 0.5) ? 0 : Int(1, w);
    p.privacy_layers = Chance(0.4) ? 0 : Int(1, n);
    p.allow_paging = Chance(0.5);
    p.allow_replication = Chance(0.5);
    if (Chance(0.4)) p.latency_slo_ms = total_ms * Real(0.2, 1.5);
    p.max_shards = sharding ? static_cast<int>(Int(2, 4)) : 0;
    return p;
  }

 private:
  int64_t Int(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  double Real(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  bool Chance(double p) { return Real(0, 1) < p; }

  std::mt19937_64 rng_;
};

bool Close(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); }

bool BruteFeasible(const Problem& problem) {
  Result<BruteForceResult> result = BruteForceSolve(problem);
  return result.ok() && result->best.has_value();
}

// Checks what an infeasibility message claims. Facts shown before any search (no enclave
// for the private layers, a layer too large for every EPC) are checked directly; for the
// others, relaxing the constraint the message names must let brute force find a placement.
// Returns the message's kind, for the tally.
std::string CheckInfeasibilityMessage(const Problem& problem, const std::string& message) {
  const auto starts_with = [&](const char* prefix) { return message.rfind(prefix, 0) == 0; };
  int enclaves = 0;
  int64_t largest_epc = 0;
  for (const WorkerProfile& w : problem.cluster.workers) {
    if (!w.is_enclave()) continue;
    ++enclaves;
    largest_epc = std::max(largest_epc, w.epc_bytes);
  }
  if (message.find("but no enclave worker is available") != std::string::npos) {
    EXPECT_GT(problem.privacy_layers, 0);
    EXPECT_EQ(enclaves, 0);
    return "no enclave";
  }
  if (starts_with("layer ")) {
    const int i = std::stoi(message.substr(6));
    const LayerProfile& layer = problem.model.layers.at(i);
    EXPECT_FALSE(problem.allow_paging);
    // Too large resident, and too large streaming all it can.
    EXPECT_GT(layer.weight_bytes + layer.activation_bytes, largest_epc);
    EXPECT_GT(layer.weight_bytes - layer.streamable_weight_bytes + layer.activation_bytes +
                  static_cast<int64_t>(engine::kWeightChunkBytes),
              largest_epc);
    EXPECT_TRUE(i < problem.privacy_layers || enclaves == problem.cluster.num_workers());
    // And too large in every number of shards it could be split into: none when it is the
    // first or the last layer, which the message says when sharding could have helped.
    const bool end_layer = i == 0 || i + 1 == problem.model.num_layers();
    const bool could_shard =
        layer.streamable_weight_bytes > 0 && std::min(problem.max_shards, enclaves) > 1;
    EXPECT_EQ(message.find("it cannot be sharded") != std::string::npos, could_shard && end_layer)
        << message;
    const int shards = could_shard && !end_layer ? std::min(problem.max_shards, enclaves) : 1;
    for (int k = 2; k <= shards; ++k) {
      const int64_t need = (layer.weight_bytes + k - 1) / k + layer.activation_bytes;
      EXPECT_GT(need, largest_epc) << k << " shards";
      EXPECT_GT(need - (layer.streamable_weight_bytes + k - 1) / k +
                    static_cast<int64_t>(engine::kWeightChunkBytes),
                largest_epc)
          << k << " shards";
    }
    return could_shard && end_layer ? "end layer unshardable" : "layer too large";
  }
  if (starts_with("layers ")) {
    // Two neighbours that each fit an EPC only sharded, which cannot both be.
    const int i = std::stoi(message.substr(7));
    EXPECT_FALSE(problem.allow_paging);
    EXPECT_GE(std::min(problem.max_shards, enclaves), 2);
    for (int l : {i, i + 1}) {
      const LayerProfile& layer = problem.model.layers.at(l);
      EXPECT_GT(layer.streamable_weight_bytes, 0);
      EXPECT_GT(
          std::min(layer.weight_bytes + layer.activation_bytes,
                   layer.weight_bytes - layer.streamable_weight_bytes + layer.activation_bytes +
                       static_cast<int64_t>(engine::kWeightChunkBytes)),
          largest_epc);
      EXPECT_TRUE(l < problem.privacy_layers || enclaves == problem.cluster.num_workers());
    }
    return "adjacent shards";
  }
  Problem relaxed = problem;
  std::string kind;
  if (starts_with("no placement meets the latency SLO")) {
    relaxed.latency_slo_ms.reset();
    kind = "slo";
  } else if (starts_with("max_stages")) {
    relaxed.max_stages = 0;
    kind = "max_stages";
  } else if (message.find("needs a link the cluster lacks") != std::string::npos) {
    relaxed.cluster.default_link = DefaultLink{1e30, 0};
    kind = "link";
  } else if (starts_with("the model does not fit the EPC without paging")) {
    relaxed.allow_paging = true;
    kind = "epc";
  } else if (starts_with("privacy requires")) {
    relaxed.privacy_layers = 0;
    kind = "privacy";
  } else {
    EXPECT_TRUE(starts_with("no placement meets these constraints together:")) << message;
    return "several";
  }
  EXPECT_TRUE(BruteFeasible(relaxed)) << "relaxing what the message names should help: " << message;
  return kind;
}

TEST(SolverPropertyTest, MatchesBruteForceOnRandomInstances) {
  InstanceGenerator generator(20240611);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> tighten(0, 1);
  constexpr int kInstances = 5000;
  int feasible = 0;
  int infeasible = 0;
  int replicated = 0;
  int sharded = 0;
  int sharded_placements = 0;
  int sharded_beside_replicated = 0;
  int slo_bound = 0;
  int multi_stage = 0;
  std::map<std::string, int> kinds;
  std::map<WeightResidency, int> residencies;
  int64_t enumerated = 0;
  for (int t = 0; t < kInstances; ++t) {
    Problem problem = generator.Next();
    SCOPED_TRACE("instance " + std::to_string(t));
    if (problem.objective == Objective::kThroughput && tighten(rng) < 0.3) {
      // An SLO between the lowest latency and the fastest placement's latency, where it binds.
      Problem free = problem;
      free.latency_slo_ms.reset();
      Result<BruteForceResult> fastest = BruteForceSolve(free);
      free.objective = Objective::kLatency;
      Result<BruteForceResult> quickest = BruteForceSolve(free);
      ASSERT_TRUE(fastest.ok() && quickest.ok());
      if (fastest->best && quickest->best) {
        problem.latency_slo_ms =
            quickest->best->latency_ms +
            tighten(rng) * (fastest->best->latency_ms - quickest->best->latency_ms);
      }
    }
    Result<BruteForceResult> brute = BruteForceSolve(problem);
    ASSERT_TRUE(brute.ok()) << brute.status().message();
    enumerated += brute->placements_considered;
    Result<Placement> solved = Solve(problem);
    if (!brute->best) {
      ++infeasible;
      ASSERT_FALSE(solved.ok()) << "solver found a placement brute force did not";
      EXPECT_EQ(solved.status().code(), Status::Code::kFailedPrecondition);
      ++kinds[CheckInfeasibilityMessage(problem, solved.status().message())];
      continue;
    }
    ++feasible;
    ASSERT_TRUE(solved.ok()) << solved.status().message();
    const Placement& best = *brute->best;
    EXPECT_TRUE(Close(solved->objective_value(), best.objective_value()))
        << solved->objective_value() << " vs brute force " << best.objective_value();
    if (problem.objective == Objective::kThroughput) {
      EXPECT_TRUE(Close(solved->latency_ms, best.latency_ms))
          << "latency among the fastest placements: " << solved->latency_ms << " vs "
          << best.latency_ms;
    }
    if (problem.latency_slo_ms) {
      EXPECT_LE(solved->latency_ms, *problem.latency_slo_ms);
      Problem unconstrained = problem;
      unconstrained.latency_slo_ms.reset();
      Result<Placement> free = Solve(unconstrained);
      if (free.ok() && free->objective_value() < solved->objective_value()) ++slo_bound;
    }
    const std::vector<PlannedStage>& stages = solved->stages;
    for (size_t s = 0; s < stages.size(); ++s) {
      const PlannedStage& stage = stages[s];
      if (stage.sharded) {
        ++sharded;
        // Only between two whole stages (cost_model.h).
        ASSERT_TRUE(s > 0 && s + 1 < stages.size()) << "a sharded first or last stage";
        EXPECT_FALSE(stages[s - 1].sharded || stages[s + 1].sharded) << "adjacent shards";
        if (stages[s - 1].workers.size() == 2 || stages[s + 1].workers.size() == 2) {
          ++sharded_beside_replicated;
        }
      } else if (stage.workers.size() == 2) {
        ++replicated;
      }
      for (const StageCost& cost : stage.costs) ++residencies[cost.weight_residency];
    }
    if (std::any_of(stages.begin(), stages.end(),
                    [](const PlannedStage& stage) { return stage.sharded; })) {
      ++sharded_placements;
    }
    if (solved->stages.size() > 1) ++multi_stage;
  }
  // The generator must exercise every part of the problem, not only the easy cases.
  EXPECT_GE(feasible, kInstances / 4);
  EXPECT_GE(infeasible, kInstances / 10);
  EXPECT_GE(replicated, 20);
  EXPECT_GE(sharded_placements, 50);
  EXPECT_GE(slo_bound, 100);
  EXPECT_GE(multi_stage, 100);
  RecordProperty("feasible", feasible);
  RecordProperty("infeasible", infeasible);
  RecordProperty("replicated_stages", replicated);
  RecordProperty("sharded_stages", sharded);
  RecordProperty("sharded_placements", sharded_placements);
  RecordProperty("sharded_beside_replicated", sharded_beside_replicated);
  RecordProperty("slo_binding", slo_bound);
  RecordProperty("multi_stage", multi_stage);
  RecordProperty("placements_enumerated", std::to_string(enumerated));
  // The optima hold their weights every way the cost model knows.
  for (WeightResidency residency :
       {WeightResidency::kResident, WeightResidency::kPaged, WeightResidency::kStreamed,
        WeightResidency::kStreamedAndPaged}) {
    const std::string name(WeightResidencyName(residency));
    EXPECT_GE(residencies[residency], 20) << name;
    RecordProperty("stages_" + name, residencies[residency]);
  }
  // Every kind of infeasibility message appears.
  for (const char* kind :
       {"no enclave", "layer too large", "slo", "max_stages", "link", "epc", "privacy"}) {
    EXPECT_GT(kinds[kind], 0) << kind;
    RecordProperty(std::string("infeasible_") + kind, kinds[kind]);
  }
  for (const char* kind : {"end layer unshardable", "adjacent shards", "several"}) {
    RecordProperty(std::string("infeasible_") + kind, kinds[kind]);
  }
}

}  // namespace
}  // namespace serdab::partitioner
