#include "partitioner/placement_solver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "partitioner/brute_force.h"
#include "tests/partitioner/test_profiles.h"

namespace serdab::partitioner {
namespace {

using testing::Accelerator;
using testing::Enclave;
using testing::FreeLinks;
using testing::kMiB;
using testing::UniformModel;

std::vector<std::pair<int, int>> Ranges(const Placement& p) {
  std::vector<std::pair<int, int>> ranges;
  for (const PlannedStage& s : p.stages) ranges.push_back({s.begin, s.end});
  return ranges;
}

TEST(PlacementSolverTest, ThroughputSplitsTheModelEvenly) {
  Problem p = FreeLinks(UniformModel(4, 10.0));
  p.cluster.workers = {Enclave("a"), Enclave("b")};
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Ranges(*r), (std::vector<std::pair<int, int>>{{0, 2}, {2, 4}}));
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 20.0);
  EXPECT_DOUBLE_EQ(r->fps, 50.0);
  EXPECT_DOUBLE_EQ(r->latency_ms, 40.0);
}

TEST(PlacementSolverTest, LatencyAvoidsHopsThatCostTime) {
  Problem p = FreeLinks(UniformModel(4, 10.0));
  p.cluster.workers = {Enclave("a"), Enclave("b")};
  p.cluster.default_link = DefaultLink{1e9, 10.0};  // 5 ms per hop
  p.objective = Objective::kLatency;
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stages.size(), 1u);
  EXPECT_DOUBLE_EQ(r->latency_ms, 40.0);

  p.objective = Objective::kThroughput;
  r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stages.size(), 2u);
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 20.0);
  EXPECT_DOUBLE_EQ(r->latency_ms, 45.0);
}

TEST(PlacementSolverTest, ThroughputTiesGoToTheLowerLatency) {
  Problem p = FreeLinks(UniformModel(3, 1.0));
  p.model.layers[0].enclave_ms = 10.0;
  p.cluster.workers = {Enclave("a"), Enclave("b"), Enclave("c")};
  p.cluster.default_link = DefaultLink{1e9, 2.0};  // 1 ms per hop
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  // Two stages and three both run at 10 ms per frame; two is 1 ms quicker.
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 10.0);
  EXPECT_EQ(Ranges(*r), (std::vector<std::pair<int, int>>{{0, 1}, {1, 3}}));
  EXPECT_DOUBLE_EQ(r->latency_ms, 13.0);
}

TEST(PlacementSolverTest, PrivacyKeepsEarlyLayersInEnclaves) {
  Problem p = FreeLinks(UniformModel(4, 10.0));
  p.cluster.workers = {Enclave("e"), Accelerator("gpu", 10.0)};
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stages.size(), 1u);
  EXPECT_EQ(r->stages[0].workers, std::vector<int>{1});
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 4.0);

  p.privacy_layers = 2;
  r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Ranges(*r), (std::vector<std::pair<int, int>>{{0, 2}, {2, 4}}));
  EXPECT_EQ(r->stages[0].workers, std::vector<int>{0});
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 20.0);
  EXPECT_EQ(r->bottleneck, "stage 0");
}

TEST(PlacementSolverTest, ReplicationHalvesASlowStage) {
  Problem p = FreeLinks(UniformModel(1, 20.0));
  p.cluster.workers = {Enclave("a"), Enclave("b")};
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 20.0);

  p.allow_replication = true;
  r = Solve(p);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->stages.size(), 1u);
  EXPECT_EQ(r->stages[0].workers, (std::vector<int>{0, 1}));
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 10.0);
  EXPECT_DOUBLE_EQ(r->fps, 100.0);
  EXPECT_DOUBLE_EQ(r->latency_ms, 20.0);
}

TEST(PlacementSolverTest, LatencySloTradesThroughput) {
  Problem p = FreeLinks(UniformModel(4, 10.0));
  p.cluster.workers = {Enclave("a"), Enclave("b")};
  p.cluster.default_link = DefaultLink{1e9, 20.0};  // 10 ms per hop
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 20.0);
  EXPECT_DOUBLE_EQ(r->latency_ms, 50.0);

  p.latency_slo_ms = 45.0;
  r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stages.size(), 1u);
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 40.0);
  EXPECT_DOUBLE_EQ(r->latency_ms, 40.0);

  p.latency_slo_ms = 50.0;  // met exactly by the split
  r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 20.0);
}

TEST(PlacementSolverTest, MaxStagesLimitsThePipeline) {
  Problem p = FreeLinks(UniformModel(6, 10.0));
  p.cluster.workers = {Enclave("a"), Enclave("b"), Enclave("c")};
  EXPECT_DOUBLE_EQ(Solve(p)->bottleneck_ms, 20.0);
  p.max_stages = 2;
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stages.size(), 2u);
  EXPECT_DOUBLE_EQ(r->bottleneck_ms, 30.0);
}

TEST(PlacementSolverTest, PagingIsWeighedAgainstSplitting) {
  // Two 60 MiB layers: one 93.5 MiB enclave pages, two do not.
  Problem p = FreeLinks(UniformModel(2, 1.0, 60 * kMiB));
  p.cluster.workers = {Enclave("a", static_cast<int64_t>(93.5 * kMiB)),
                       Enclave("b", static_cast<int64_t>(93.5 * kMiB))};
  for (WorkerProfile& w : p.cluster.workers) w.page_swap_ns = 40000;
  p.objective = Objective::kLatency;
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stages.size(), 2u);
  EXPECT_DOUBLE_EQ(r->latency_ms, 2.0);

  // With a slow link the single enclave wins despite paging all 120 MiB every frame.
  p.cluster.default_link = DefaultLink{1e9, 10000.0};
  r = Solve(p);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->stages.size(), 1u);
  EXPECT_GE(r->stages[0].costs[0].working_set_bytes, 120 * kMiB);
  EXPECT_EQ(r->stages[0].costs[0].swapped_pages,
            (r->stages[0].costs[0].working_set_bytes + 4095) / 4096);
  EXPECT_GT(r->stages[0].costs[0].paging_ms, 500.0);
}

TEST(PlacementSolverTest, StreamingIsWeighedAgainstSplitting) {
  // Two 60 MiB layers: two enclaves hold one each, or one enclave holds both by streaming
  // 28 MiB (120 + the 1 MiB window - 93) every frame.
  Problem p = FreeLinks(UniformModel(2, 1.0, 60 * kMiB));
  for (LayerProfile& layer : p.model.layers) layer.streamable_weight_bytes = 60 * kMiB;
  p.cluster.workers = {Enclave("a", 93 * kMiB), Enclave("b", 93 * kMiB)};
  for (WorkerProfile& w : p.cluster.workers) {
    w.page_swap_ns = 15000;
    w.aead_bytes_per_s = 28.0 * kMiB * 1e3;  // 28 MiB in 1 ms
  }
  p.objective = Objective::kLatency;
  // With free links, splitting costs nothing.
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->stages.size(), 2u);
  EXPECT_EQ(r->stages[0].costs[0].weight_residency, WeightResidency::kResident);

  // A hop of 10 ms makes streaming (1 ms) the better deal, and paging (30,720 swaps, 461 ms)
  // far the worse.
  p.cluster.default_link = DefaultLink{1e18, 20.0};
  r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->stages.size(), 1u);
  const StageCost& cost = r->stages[0].costs[0];
  EXPECT_EQ(cost.weight_residency, WeightResidency::kStreamed);
  EXPECT_EQ(cost.streamed_weight_bytes, 28 * kMiB);
  EXPECT_DOUBLE_EQ(cost.stream_ms, 1.0);
  EXPECT_EQ(cost.swapped_pages, 0);
  EXPECT_DOUBLE_EQ(r->latency_ms, 2.0 + 1.0);
}

// VGG16's shape on six sgx1 enclaves: 56 MiB of convolutions, then a 392 MiB fc layer that
// no EPC holds. Unsharded, whichever stage holds it streams 300 MiB a frame; sharded four
// ways, each quarter (98 MiB) streams a few MiB, and the convolutions set the pace.
TEST(PlacementSolverTest, ShardingSplitsTheHugeFcLayer) {
  struct Layer {
    const char* name;
    double ms;
    int64_t weights;
    int64_t activation;
  };
  const Layer layers[] = {
      {"features.0-9", 10, 2 * kMiB, 12 * kMiB},   {"features.10-19", 10, 20 * kMiB, 6 * kMiB},
      {"features.20-30", 10, 34 * kMiB, 2 * kMiB}, {"classifier.0", 25, 392 * kMiB, kMiB},
      {"classifier.3", 4, 64 * kMiB, kMiB},        {"classifier.6", 1, 16 * kMiB, kMiB},
  };
  Problem p;
  p.model.name = "vgg16-like";
  p.model.sha256 = "0";
  for (const Layer& l : layers) {
    p.model.layers.push_back(LayerProfile{l.name, l.ms, l.ms, l.weights, l.activation});
    p.model.layers.back().streamable_weight_bytes = l.weights - l.weights / 512;  // less biases
  }
  p.model.cut_bytes = {602112, 3 * kMiB, 3 * kMiB / 2, 100352, 16384, 16384, 4000};
  for (int i = 0; i < 6; ++i) {
    WorkerProfile w = Enclave("enclave-" + std::to_string(i + 1), 98041856);
    w.page_swap_ns = 15400;
    w.ecall_ns = 10000;
    w.aead_bytes_per_s = 1e9;
    w.threads = 2;
    w.runtime_bytes = kSimEnclaveRuntimeBytes;
    p.cluster.workers.push_back(w);
  }
  p.cluster.default_link = DefaultLink{1.25e8, 0.5};

  Result<Placement> unsharded = Solve(p);
  ASSERT_TRUE(unsharded.ok()) << unsharded.status().message();
  for (const PlannedStage& stage : unsharded->stages) {
    if (stage.begin <= 3 && 3 < stage.end) {
      EXPECT_GT(stage.costs[0].streamed_weight_bytes, 290 * kMiB);
      EXPECT_GT(stage.time_ms, 150.0);
    }
  }

  p.max_shards = 4;
  Result<Placement> sharded = Solve(p);
  ASSERT_TRUE(sharded.ok()) << sharded.status().message();
  const auto fc = std::find_if(sharded->stages.begin(), sharded->stages.end(),
                               [](const PlannedStage& stage) { return stage.begin == 3; });
  ASSERT_NE(fc, sharded->stages.end());
  EXPECT_TRUE(fc->sharded);
  EXPECT_EQ(fc->end, 4);
  EXPECT_GE(fc->workers.size(), 3u);
  for (const StageCost& cost : fc->costs) EXPECT_LT(cost.streamed_weight_bytes, 40 * kMiB);
  EXPECT_GT(sharded->fps, 4 * unsharded->fps);
  // The convolutions, 30 ms on one enclave, are the bottleneck now.
  EXPECT_LT(sharded->bottleneck_ms, 35.0);
}

// Enclaves a, b, c, ... with free links, sharding up to four ways.
Problem ShardingProblem(ModelProfile model, int workers) {
  Problem p = FreeLinks(std::move(model));
  for (int j = 0; j < workers; ++j) p.cluster.workers.push_back(Enclave(std::string(1, 'a' + j)));
  p.max_shards = 4;
  return p;
}

// Solves under both objectives, checks the answer against brute force, and returns the
// placements (throughput first).
std::vector<Placement> SolveBoth(Problem p) {
  std::vector<Placement> out;
  for (Objective objective : {Objective::kThroughput, Objective::kLatency}) {
    p.objective = objective;
    Result<Placement> r = Solve(p);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return out;
    Result<BruteForceResult> brute = BruteForceSolve(p);
    EXPECT_TRUE(brute.ok() && brute->best);
    if (brute.ok() && brute->best) {
      EXPECT_DOUBLE_EQ(r->objective_value(), brute->best->objective_value());
      EXPECT_DOUBLE_EQ(r->latency_ms, brute->best->latency_ms);
    }
    out.push_back(std::move(*r));
  }
  return out;
}

// Sharding the slow layer four ways would take it from 40 ms to 10, but a sharded stage is
// never the first or the last (the client sends whole frames and takes whole results), with
// or without the client in the problem; between two other layers, it is sharded.
TEST(PlacementSolverTest, AFirstOrLastLayerIsNeverSharded) {
  for (const char* client : {"", "camera"}) {
    for (int slow : {0, 2, 1}) {
      SCOPED_TRACE(std::string("client '") + client + "', slow layer " + std::to_string(slow));
      ModelProfile model = UniformModel(3, 1.0, kMiB);
      model.layers[slow].enclave_ms = model.layers[slow].native_ms = 40.0;
      model.layers[slow].streamable_weight_bytes = kMiB;  // the only shardable layer
      Problem p = ShardingProblem(std::move(model), 6);
      p.cluster.client = client;
      const std::vector<Placement> both = SolveBoth(p);
      ASSERT_EQ(both.size(), 2u);
      for (const Placement& r : both) {
        if (slow != 1) {
          for (const PlannedStage& stage : r.stages) EXPECT_FALSE(stage.sharded);
          EXPECT_DOUBLE_EQ(r.objective_value(), r.objective == Objective::kThroughput ? 40 : 42);
        } else {
          ASSERT_EQ(r.stages.size(), 3u);
          EXPECT_TRUE(r.stages[1].sharded);
          EXPECT_EQ(r.stages[1].workers.size(), 4u);
          EXPECT_DOUBLE_EQ(r.objective_value(), r.objective == Objective::kThroughput ? 10 : 12);
        }
      }
    }
  }
  // A one-layer model: its layer is both.
  ModelProfile model = UniformModel(1, 40.0, kMiB);
  model.layers[0].streamable_weight_bytes = kMiB;
  for (const Placement& r : SolveBoth(ShardingProblem(std::move(model), 4))) {
    ASSERT_EQ(r.stages.size(), 1u);
    EXPECT_FALSE(r.stages[0].sharded);
  }
}

// Two slow shardable layers side by side (40 and 30 ms) and ten enclaves: sharding both four
// ways would give 10 ms, but no hop joins two sharded stages, so only one is sharded (the
// slower, which gains more); a replica pair beside it is fine.
TEST(PlacementSolverTest, AdjacentShardableLayersAreNotBothSharded) {
  ModelProfile model = UniformModel(4, 1.0, kMiB);
  model.layers[1].enclave_ms = model.layers[1].native_ms = 40.0;
  model.layers[2].enclave_ms = model.layers[2].native_ms = 30.0;
  model.layers[1].streamable_weight_bytes = model.layers[2].streamable_weight_bytes = kMiB;
  Problem p = ShardingProblem(std::move(model), 10);
  std::vector<Placement> both = SolveBoth(p);
  ASSERT_EQ(both.size(), 2u);
  for (const Placement& r : both) {
    for (size_t s = 0; s + 1 < r.stages.size(); ++s) {
      EXPECT_FALSE(r.stages[s].sharded && r.stages[s + 1].sharded);
    }
    ASSERT_GE(r.stages.size(), 3u);
    EXPECT_TRUE(r.stages[1].sharded);
    EXPECT_EQ(r.stages[1].workers.size(), 4u);
    EXPECT_EQ(r.stages[2].begin, 2);
    EXPECT_FALSE(r.stages[2].sharded);
    EXPECT_DOUBLE_EQ(r.latency_ms, 1 + 10 + 30 + 1);
  }
  EXPECT_DOUBLE_EQ(both[0].bottleneck_ms, 30);

  // With replication, the 30 ms layer takes alternate frames on two workers next to the shards.
  p.allow_replication = true;
  both = SolveBoth(p);
  ASSERT_EQ(both.size(), 2u);
  const Placement& fastest = both[0];
  ASSERT_EQ(fastest.stages.size(), 4u);
  EXPECT_TRUE(fastest.stages[1].sharded);
  EXPECT_EQ(fastest.stages[2].workers.size(), 2u);
  EXPECT_FALSE(fastest.stages[2].sharded);
  EXPECT_DOUBLE_EQ(fastest.bottleneck_ms, 15);
}

TEST(PlacementSolverErrorsTest, LayerLargerThanEveryEpc) {
  Problem p = FreeLinks(UniformModel(3, 1.0, kMiB));
  p.model.layers[1].name = "features.28";
  p.model.layers[1].weight_bytes = 400 * kMiB;
  p.model.layers[1].activation_bytes = 11 * kMiB;
  p.cluster.workers = {Enclave("a", static_cast<int64_t>(93.5 * kMiB)), Enclave("b", 64 * kMiB)};
  p.allow_paging = false;
  Result<Placement> r = Solve(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            "layer 1 'features.28' needs 411.0 MiB of weights and activations but the largest "
            "EPC is 93.5 MiB and paging is disallowed");

  // An accelerator could run it, but not before the privacy cut.
  p.cluster.workers.push_back(Accelerator("gpu", 5));
  EXPECT_TRUE(Solve(p).ok());
  p.privacy_layers = 2;
  EXPECT_EQ(Solve(p).status().message(),
            "layer 1 'features.28' needs 411.0 MiB of weights and activations but the largest "
            "EPC is 93.5 MiB and paging is disallowed (it is before the privacy cut at layer 2, "
            "so it must run in an enclave)");

  // Streaming what it can still leaves more than any EPC resident; streaming more fits.
  p.model.layers[1].streamable_weight_bytes = 300 * kMiB;
  EXPECT_EQ(Solve(p).status().message(),
            "layer 1 'features.28' needs 411.0 MiB of weights and activations (112.0 MiB with "
            "its streamable weights streamed) but the largest EPC is 93.5 MiB and paging is "
            "disallowed (it is before the privacy cut at layer 2, so it must run in an "
            "enclave)");
  p.model.layers[1].streamable_weight_bytes = 390 * kMiB;
  r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  for (const PlannedStage& stage : r->stages) {
    if (stage.begin <= 1 && 1 < stage.end) {
      EXPECT_EQ(stage.costs[0].weight_residency, WeightResidency::kStreamed);
    }
  }
}

TEST(PlacementSolverErrorsTest, ShardingCanFitALayerNoEpcHolds) {
  Problem p = FreeLinks(UniformModel(3, 1.0, kMiB));
  p.model.layers[1].name = "classifier.0";
  p.model.layers[1].weight_bytes = 400 * kMiB;
  p.model.layers[1].streamable_weight_bytes = 100 * kMiB;
  p.model.layers[1].activation_bytes = 11 * kMiB;
  p.cluster.workers = {Enclave("a", static_cast<int64_t>(93.5 * kMiB)), Enclave("b", 64 * kMiB)};
  p.allow_paging = false;
  p.max_shards = 4;
  // Halves of it leave 162 MiB resident even streamed (200 + 11 - 50 + the 1 MiB window).
  EXPECT_EQ(Solve(p).status().message(),
            "layer 1 'classifier.0' needs 411.0 MiB of weights and activations (312.0 MiB with "
            "its streamable weights streamed) and at least 162.0 MiB a shard split up to 2 ways "
            "but the largest EPC is 93.5 MiB and paging is disallowed");
  // With 300 MiB streamable, each half streams what its EPC cannot hold (the whole layer
  // would still page), between enclaves for the layers before and after it.
  p.model.layers[1].streamable_weight_bytes = 300 * kMiB;
  p.cluster.workers.insert(p.cluster.workers.begin(), Enclave("x", 64 * kMiB));
  p.cluster.workers.push_back(Enclave("y", 64 * kMiB));
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->stages.size(), 3u);
  EXPECT_TRUE(r->stages[1].sharded);
  EXPECT_EQ(r->stages[1].workers, (std::vector<int>{1, 2}));
  for (const StageCost& cost : r->stages[1].costs) {
    EXPECT_EQ(cost.weight_residency, WeightResidency::kStreamed);
  }
}

// A layer that no EPC holds whole, with paging disallowed, can run only sharded; so it cannot
// be the first or the last layer, nor next to another such layer, and the message says so.
TEST(PlacementSolverErrorsTest, ALayerThatFitsOnlyShardedWhereNoShardCanStand) {
  auto huge = [](const std::string& name) {
    LayerProfile layer{name, 1.0, 1.0, 400 * kMiB, 11 * kMiB};
    layer.streamable_weight_bytes = 300 * kMiB;  // halves stream what their EPCs cannot hold
    return layer;
  };
  Problem p = ShardingProblem(UniformModel(3, 1.0, kMiB), 6);
  for (WorkerProfile& w : p.cluster.workers) w.epc_bytes = static_cast<int64_t>(93.5 * kMiB);
  p.allow_paging = false;
  p.model.layers[0] = huge("fc");
  EXPECT_EQ(Solve(p).status().message(),
            "layer 0 'fc' needs 411.0 MiB of weights and activations (112.0 MiB with its "
            "streamable weights streamed) but the largest EPC is 93.5 MiB and paging is "
            "disallowed; it cannot be sharded, as the model's first layer: a sharded stage is "
            "never the first or the last, since the client sends whole frames and takes whole "
            "results");
  p.model.layers[0] = p.model.layers[1];
  p.model.layers[2] = huge("fc");
  EXPECT_NE(Solve(p).status().message().find(
                "; it cannot be sharded, as the model's last layer: a sharded stage"),
            std::string::npos);
  // In the middle it is sharded.
  p.model.layers[2] = p.model.layers[0];
  p.model.layers[1] = huge("fc");
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->stages.at(1).sharded);

  // Two of them side by side: each must be sharded, and they cannot both be.
  p.model = UniformModel(4, 1.0, kMiB);
  p.model.layers[1] = huge("fc6");
  p.model.layers[2] = huge("fc7");
  const std::string adjacent =
      "layers 1 'fc6' and 2 'fc7' each fit an EPC only sharded (the largest EPC is 93.5 MiB and "
      "paging is disallowed), but two sharded stages cannot be adjacent: each shard's part "
      "would have to reach every shard of the next layer";
  EXPECT_EQ(Solve(p).status().message(), adjacent);
  // An accelerator could run one of them, but not before the privacy cut.
  p.cluster.workers.push_back(Accelerator("gpu", 5));
  EXPECT_TRUE(Solve(p).ok());
  p.privacy_layers = 3;
  EXPECT_EQ(Solve(p).status().message(),
            "layers 1 'fc6' and 2 'fc7' each fit an EPC only sharded (the largest EPC is 93.5 MiB "
            "and paging is disallowed; both are before the privacy cut at layer 3, so they must "
            "run in enclaves), but two sharded stages cannot be adjacent: each shard's part "
            "would have to reach every shard of the next layer");
}

TEST(PlacementSolverErrorsTest, PrivacyWithoutEnclaves) {
  Problem p = FreeLinks(UniformModel(6, 1.0));
  p.cluster.workers = {Accelerator("gpu", 5)};
  p.privacy_layers = 4;
  EXPECT_EQ(Solve(p).status().message(),
            "privacy requires the first 4 layers in enclaves but no enclave worker is available");
}

TEST(PlacementSolverErrorsTest, UnreachableSlo) {
  Problem p = FreeLinks(UniformModel(4, 10.0));
  p.cluster.workers = {Enclave("a"), Enclave("b")};
  p.latency_slo_ms = 30.0;
  EXPECT_EQ(Solve(p).status().message(),
            "no placement meets the latency SLO of 30.0 ms (best: 40.0 ms)");
  p.objective = Objective::kLatency;
  EXPECT_EQ(Solve(p).status().message(),
            "no placement meets the latency SLO of 30.0 ms (best: 40.0 ms)");
}

TEST(PlacementSolverErrorsTest, TooFewStages) {
  Problem p = FreeLinks(UniformModel(3, 1.0, 60 * kMiB));
  p.cluster.workers = {Enclave("a", 93 * kMiB), Enclave("b", 93 * kMiB), Enclave("c", 93 * kMiB)};
  p.allow_paging = false;
  p.max_stages = 2;
  EXPECT_EQ(Solve(p).status().message(),
            "max_stages 2 cannot hold the model: every placement that meets the other "
            "constraints needs at least 3 stages (paging is disallowed, so each stage must fit "
            "its EPC)");
}

TEST(PlacementSolverErrorsTest, MissingLink) {
  Problem p = FreeLinks(UniformModel(2, 1.0, 60 * kMiB));
  p.cluster.workers = {Enclave("a", 93 * kMiB), Enclave("b", 93 * kMiB)};
  p.cluster.default_link.reset();
  p.allow_paging = false;
  EXPECT_EQ(Solve(p).status().message(),
            "every placement that meets the other constraints needs a link the cluster lacks "
            "(there is no link from 'a' to 'b' (needed by stage 0 -> stage 1) and the cluster "
            "has no default link); add the link or a default link");
  p.cluster.links = {{"b", "a", 1e9, 1}};
  EXPECT_TRUE(Solve(p).ok());
}

TEST(PlacementSolverErrorsTest, ModelDoesNotFitWithoutPaging) {
  Problem p = FreeLinks(UniformModel(3, 1.0, 60 * kMiB));
  p.cluster.workers = {Enclave("a", 93 * kMiB), Enclave("b", 93 * kMiB)};
  p.allow_paging = false;
  EXPECT_EQ(Solve(p).status().message(),
            "the model does not fit the EPC without paging: no placement on the 2 enclave "
            "worker(s) (186.0 MiB of EPC in all) lets every stage run without paging (its "
            "working set within its EPC, or brought within it by streaming weights) under the "
            "other constraints; allow paging or add enclave workers");
  // Streaming the weights of two of the layers lets two stages run without paging.
  p.model.layers[0].streamable_weight_bytes = 40 * kMiB;
  p.model.layers[1].streamable_weight_bytes = 40 * kMiB;
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  for (const PlannedStage& stage : r->stages) EXPECT_EQ(stage.costs[0].swapped_pages, 0);
  EXPECT_TRUE(std::any_of(r->stages.begin(), r->stages.end(), [](const PlannedStage& stage) {
    return stage.costs[0].weight_residency == WeightResidency::kStreamed;
  }));
}

TEST(PlacementSolverErrorsTest, PrivacyIsTheBindingConstraint) {
  // Both layers fit the enclave only with paging, which breaks the SLO; the accelerator
  // could take the second layer if privacy allowed it.
  Problem p = FreeLinks(UniformModel(2, 10.0, 60 * kMiB));
  p.cluster.workers = {Enclave("e", 100 * kMiB), Accelerator("gpu", 10)};
  p.cluster.workers[0].page_swap_ns = 1e6;
  p.latency_slo_ms = 100;
  p.privacy_layers = 2;
  p.allow_paging = false;
  EXPECT_EQ(Solve(p).status().message(),
            "privacy requires the first 2 layers in enclaves, but no placement of them on the "
            "enclave workers meets the other constraints");
  p.privacy_layers = 1;
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->latency_ms, 11.0);
}

TEST(PlacementSolverErrorsTest, InvalidParameters) {
  Problem p = FreeLinks(UniformModel(2, 1.0));
  p.cluster.workers = {Enclave("a")};
  p.privacy_layers = 3;
  EXPECT_EQ(Solve(p).status().code(), Status::Code::kInvalidArgument);
  p.privacy_layers = 0;
  p.latency_slo_ms = -1;
  EXPECT_EQ(Solve(p).status().message(), "latency_slo_ms must be finite and > 0");
  p.latency_slo_ms.reset();
  p.max_shards = 65;
  EXPECT_EQ(Solve(p).status().message(),
            "max_shards is 65 but must be between 0 and 64 (0 or 1: no sharding)");
  p.max_shards = -1;
  EXPECT_EQ(Solve(p).status().code(), Status::Code::kInvalidArgument);
  p.max_shards = 64;  // more than the workers: as many as there are
  EXPECT_TRUE(Solve(p).ok());
  p.cluster.workers.clear();
  EXPECT_EQ(Solve(p).status().message(), "the cluster has no workers");
}

}  // namespace
}  // namespace serdab::partitioner
