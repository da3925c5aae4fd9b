#include "partitioner/cost_model.h"

#include <gtest/gtest.h>

#include "tests/partitioner/test_profiles.h"

namespace serdab::partitioner {
namespace {

using testing::Enclave;
using testing::FreeLinks;
using testing::kMiB;
using testing::UniformModel;

TEST(CostModelTest, StageComponents) {
  ModelProfile model = UniformModel(3, 2.0, /*weight=*/kMiB, /*activation=*/kMiB / 2,
                                    /*cut=*/1000000);
  model.layers[1].activation_bytes = kMiB;
  WorkerProfile w = Enclave("e", 2 * kMiB);
  w.page_swap_ns = 10000;
  w.ecall_ns = 50000;
  w.aead_bytes_per_s = 1e9;
  const std::vector<double> times = WorkerLayerTimesMs(model, w);
  const StageCost cost = ComputeStageCost(model, w, times, 0, 3);
  EXPECT_DOUBLE_EQ(cost.compute_ms, 6.0);
  // 3 MiB of weights + the largest activation (1 MiB) + input and output cuts.
  EXPECT_EQ(cost.working_set_bytes, 3 * kMiB + kMiB + 2000000);
  // Over the 2 MiB EPC, every page of the working set is swapped once per frame.
  EXPECT_EQ(cost.swapped_pages, (cost.working_set_bytes + 4095) / 4096);
  EXPECT_DOUBLE_EQ(cost.paging_ms, static_cast<double>(cost.swapped_pages) * 0.01);
  EXPECT_DOUBLE_EQ(cost.crypto_ms, 2.0);  // 2e6 bytes at 1e9 B/s
  EXPECT_DOUBLE_EQ(cost.ecall_ms, 0.05);
  EXPECT_DOUBLE_EQ(cost.total_ms(),
                   cost.compute_ms + cost.paging_ms + cost.crypto_ms + cost.ecall_ms);
}

TEST(CostModelTest, NoPagingWhenTheWorkingSetFits) {
  const ModelProfile model = UniformModel(2, 1.0, kMiB);
  WorkerProfile w = Enclave("e", 2 * kMiB);
  w.page_swap_ns = 1e6;
  const StageCost cost = ComputeStageCost(model, w, WorkerLayerTimesMs(model, w), 0, 2);
  EXPECT_EQ(cost.working_set_bytes, 2 * kMiB);
  EXPECT_EQ(cost.swapped_pages, 0);
  EXPECT_EQ(cost.paging_ms, 0);
}

TEST(CostModelTest, PagingIsEveryPageSwappedAtTheTargetsPrice) {
  // One frame streams a working set larger than the EPC: the EPC heap counts
  // a swap per page (tests/enclave/epc_cost_test.cc, ClocksAreDifferencesOfSnapshots), and
  // its TEE-equivalent clock charges each at the target's price. The model predicts the same.
  const ModelProfile model = UniformModel(4, 1.0, 132 * kMiB);
  const double sgx1_swap_ns = 40000 / 2.596;  // 40,000 cycles at 2.596 GHz
  WorkerProfile sgx1 = Enclave("sgx1", 98041856);
  sgx1.page_swap_ns = sgx1_swap_ns;
  WorkerProfile sgx2 = Enclave("sgx2", int64_t{64} << 30);
  sgx2.page_swap_ns = sgx1_swap_ns;
  WorkerProfile tdx = Enclave("tdx", int64_t{1} << 50);  // no EPC: never pages
  const StageCost on_sgx1 = ComputeStageCost(model, sgx1, WorkerLayerTimesMs(model, sgx1), 0, 4);
  EXPECT_EQ(on_sgx1.swapped_pages, 4 * 132 * kMiB / 4096);
  EXPECT_DOUBLE_EQ(on_sgx1.paging_ms,
                   static_cast<double>(on_sgx1.swapped_pages) * sgx1_swap_ns * 1e-6);
  for (const WorkerProfile& big : {sgx2, tdx}) {
    const StageCost cost = ComputeStageCost(model, big, WorkerLayerTimesMs(model, big), 0, 4);
    EXPECT_EQ(cost.swapped_pages, 0) << big.name;
    EXPECT_EQ(cost.paging_ms, 0) << big.name;
  }
}

// One 12 MiB layer, all of it weights, on a 10 MiB EPC: over by 2 MiB, so streaming must
// keep S = 12 + 1 (the window) - 10 = 3 MiB outside. A page swap costs 10 us and the AEAD
// opens 1 MiB per ms, so paging everything costs 3,072 swaps = 30.72 ms.
class StreamingTest : public ::testing::Test {
 protected:
  StageCost Cost(int64_t streamable) {
    model_.layers[0].streamable_weight_bytes = streamable;
    const StageCost cost = ComputeStageCost(model_, worker_, {1.0}, 0, 1);
    // The solver's tables come from TotalMs. The library, built with -ffp-contract=off, gets
    // the same bits from both; here, where the compiler may fuse a multiply and an add, they
    // agree to an ulp or so.
    StageCostAccumulator acc(model_, worker_, &layer_ms_, 0);
    acc.Extend();
    EXPECT_DOUBLE_EQ(acc.TotalMs(), cost.total_ms());
    EXPECT_EQ(acc.Pages(), cost.swapped_pages > 0);
    return cost;
  }

  ModelProfile model_ = UniformModel(1, 1.0, 12 * kMiB);
  WorkerProfile worker_ = [] {
    WorkerProfile w = Enclave("e", 10 * kMiB);
    w.page_swap_ns = 10000;
    w.aead_bytes_per_s = 1e3 * kMiB;
    return w;
  }();
  double layer_ms_ = 1.0;
};

TEST_F(StreamingTest, StreamsWhatTheEpcCannotHold) {
  const StageCost cost = Cost(12 * kMiB);
  EXPECT_EQ(cost.weight_residency, WeightResidency::kStreamed);
  EXPECT_EQ(cost.streamed_weight_bytes, 3 * kMiB);
  EXPECT_DOUBLE_EQ(cost.stream_ms, 3.0);
  EXPECT_EQ(cost.swapped_pages, 0);
  EXPECT_EQ(cost.paging_ms, 0);
  EXPECT_DOUBLE_EQ(cost.total_ms(), 1.0 + 3.0);
  // What it beat: paging every page.
  ASSERT_TRUE(cost.alternative);
  EXPECT_EQ(cost.alternative->residency, WeightResidency::kPaged);
  EXPECT_EQ(cost.alternative->swapped_pages, 3072);
  EXPECT_DOUBLE_EQ(cost.alternative->paging_ms, 30.72);
  EXPECT_EQ(cost.alternative->stream_ms, 0);
}

// A window per engine thread and the runtime's own bytes stay free, and the
// threads open chunks side by side.
TEST_F(StreamingTest, ThreadsAndTheRuntimeWidenWhatStreams) {
  worker_.threads = 2;
  worker_.runtime_bytes = kMiB;
  const StageCost cost = Cost(12 * kMiB);
  EXPECT_EQ(cost.weight_residency, WeightResidency::kStreamed);
  EXPECT_EQ(cost.streamed_weight_bytes, 5 * kMiB);  // 12 + 2 x 1 + 1 - 10
  EXPECT_DOUBLE_EQ(cost.stream_ms, 2.5);            // 5 MiB at 1000 MiB/s on each of 2
}

TEST_F(StreamingTest, StreamableBytesExactlyEnough) {
  const StageCost cost = Cost(3 * kMiB);
  EXPECT_EQ(cost.weight_residency, WeightResidency::kStreamed);
  EXPECT_EQ(cost.streamed_weight_bytes, 3 * kMiB);
  EXPECT_EQ(cost.swapped_pages, 0);
}

TEST_F(StreamingTest, OneByteShortStreamsAllAndPagesTheRest) {
  // 12 - (3 MiB - 1 B) + 1 = 10 MiB + 1 B resident: over the EPC, every page of it swaps.
  const StageCost cost = Cost(3 * kMiB - 1);
  EXPECT_EQ(cost.weight_residency, WeightResidency::kStreamedAndPaged);
  EXPECT_EQ(cost.streamed_weight_bytes, 3 * kMiB - 1);
  EXPECT_DOUBLE_EQ(cost.stream_ms, 3.0 - 1.0 / kMiB);
  EXPECT_EQ(cost.swapped_pages, 2561);
  EXPECT_DOUBLE_EQ(cost.paging_ms, 25.61);
  ASSERT_TRUE(cost.alternative);
  EXPECT_EQ(cost.alternative->residency, WeightResidency::kPaged);
  EXPECT_EQ(cost.alternative->swapped_pages, 3072);
}

TEST_F(StreamingTest, PagesWhenStreamingSavesLessThanItsWindowCosts) {
  // Streaming 512 KiB leaves 12.5 MiB resident: 3,200 swaps + 0.5 ms, worse than 3,072 swaps.
  const StageCost cost = Cost(kMiB / 2);
  EXPECT_EQ(cost.weight_residency, WeightResidency::kPaged);
  EXPECT_EQ(cost.swapped_pages, 3072);
  EXPECT_DOUBLE_EQ(cost.paging_ms, 30.72);
  EXPECT_EQ(cost.streamed_weight_bytes, 0);
  EXPECT_EQ(cost.stream_ms, 0);
  ASSERT_TRUE(cost.alternative);
  EXPECT_EQ(cost.alternative->residency, WeightResidency::kStreamedAndPaged);
  EXPECT_EQ(cost.alternative->swapped_pages, 3200);
  EXPECT_EQ(cost.alternative->streamed_weight_bytes, kMiB / 2);
  EXPECT_DOUBLE_EQ(cost.alternative->ms(), 32.0 + 0.5);
}

TEST_F(StreamingTest, NothingStreamableIsPlainPaging) {
  const StageCost cost = Cost(0);
  EXPECT_EQ(cost.weight_residency, WeightResidency::kPaged);
  EXPECT_EQ(cost.swapped_pages, 3072);
  EXPECT_DOUBLE_EQ(cost.total_ms(), 1.0 + 30.72);
  EXPECT_FALSE(cost.alternative);
}

TEST_F(StreamingTest, ResidentWhenTheWorkingSetFits) {
  // 12 MiB on a 12 MiB EPC fits; streaming would only add its window.
  worker_.epc_bytes = 12 * kMiB;
  const StageCost cost = Cost(12 * kMiB);
  EXPECT_EQ(cost.weight_residency, WeightResidency::kResident);
  EXPECT_EQ(cost.streamed_weight_bytes, 0);
  EXPECT_EQ(cost.stream_ms, 0);
  EXPECT_FALSE(cost.alternative);
}

TEST_F(StreamingTest, OutsideEnclavesNothingStreams) {
  for (WorkerKind kind : {WorkerKind::kNative, WorkerKind::kAccelerator}) {
    worker_.kind = kind;
    const StageCost cost = Cost(12 * kMiB);
    EXPECT_EQ(cost.weight_residency, WeightResidency::kResident);
    EXPECT_EQ(cost.stream_ms, 0);
    EXPECT_EQ(cost.swapped_pages, 0);
  }
}

TEST_F(StreamingTest, WithoutPagingAStreamedStageIsAllowed) {
  Problem p = FreeLinks(model_);
  p.cluster.workers = {worker_};
  p.allow_paging = false;
  p.model.layers[0].streamable_weight_bytes = 3 * kMiB;
  Result<Placement> r = EvaluatePlacement(p, {{0, 1, {0}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stages[0].costs[0].weight_residency, WeightResidency::kStreamed);
  p.model.layers[0].streamable_weight_bytes = 2 * kMiB;
  EXPECT_EQ(EvaluatePlacement(p, {{0, 1, {0}}}).status().message(),
            "stage 0 needs 12.0 MiB (11.0 MiB with its 2.0 MiB of streamable weights streamed "
            "through 1.0 MiB of windows) for layers [0, 1) on worker 'e' whose EPC is 10.0 MiB, "
            "and paging is disallowed");
}

TEST(CostModelTest, AcceleratorsPayNoPagingOrTransitions) {
  ModelProfile model = UniformModel(2, 4.0, 100 * kMiB);
  model.layers[0].native_ms = 1.0;
  model.layers[1].native_ms = 3.0;
  WorkerProfile w = testing::Accelerator("gpu", 2.0);
  w.ecall_ns = 1e6;
  const StageCost cost = ComputeStageCost(model, w, WorkerLayerTimesMs(model, w), 0, 2);
  EXPECT_DOUBLE_EQ(cost.compute_ms, 2.0);  // native times, twice as fast
  EXPECT_EQ(cost.paging_ms, 0);
  EXPECT_EQ(cost.ecall_ms, 0);
}

TEST(CostModelTest, MeasuredLayerTimesOverrideTheReference) {
  const ModelProfile model = UniformModel(2, 4.0);
  WorkerProfile w = Enclave("e");
  w.speed_factor = 100;
  w.layer_ms = {1.5, 2.5};
  EXPECT_EQ(WorkerLayerTimesMs(model, w), (std::vector<double>{1.5, 2.5}));
}

TEST(CostModelTest, LinkTime) {
  EXPECT_DOUBLE_EQ(LinkTimeMs(1000000, ResolvedLink{1e8, 4.0}), 12.0);  // 10 ms + rtt / 2
}

TEST(CostModelTest, LinksAreSymmetricUnlessBothDirectionsAreGiven) {
  Cluster cluster;
  cluster.links = {{"a", "b", 1e6, 1}, {"c", "d", 1e6, 1}, {"d", "c", 2e6, 3}};
  ASSERT_TRUE(FindLink(cluster, "b", "a"));
  EXPECT_EQ(FindLink(cluster, "b", "a")->bandwidth_bytes_per_s, 1e6);
  EXPECT_EQ(FindLink(cluster, "d", "c")->rtt_ms, 3);
  EXPECT_EQ(FindLink(cluster, "c", "d")->rtt_ms, 1);
  EXPECT_FALSE(FindLink(cluster, "a", "c"));
  cluster.default_link = DefaultLink{5e6, 2};
  EXPECT_EQ(FindLink(cluster, "a", "c")->bandwidth_bytes_per_s, 5e6);
}

TEST(CostModelTest, EvaluateReplicatedPipeline) {
  Problem p = FreeLinks(UniformModel(4, 10.0, 0, 0, 1000));
  p.cluster.workers = {Enclave("a"), Enclave("b"), Enclave("c")};
  p.cluster.default_link.reset();
  p.cluster.client = "cam";
  p.cluster.links = {{"cam", "a", 1e6, 0},
                     {"a", "b", 1e6, 0},
                     {"a", "c", 1e6, 2},
                     {"b", "cam", 1e6, 0},
                     {"c", "cam", 1e6, 0}};
  p.allow_replication = true;
  // [0,1) on a, then [1,4) replicated on b and c.
  Result<Placement> r = EvaluatePlacement(p, {{0, 1, {0}}, {1, 4, {1, 2}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->stages.size(), 2u);
  // Crypto at 1e18 B/s adds picoseconds, hence the tolerance.
  EXPECT_NEAR(r->stages[1].time_ms, 30.0, 1e-9);
  EXPECT_NEAR(r->stages[1].effective_ms, 15.0, 1e-9);
  ASSERT_EQ(r->links.size(), 3u);
  // a -> {b, c}: 1 ms of bytes each, plus c's 1 ms half round trip; each carries half.
  EXPECT_DOUBLE_EQ(r->links[1].time_ms, 2.0);
  EXPECT_DOUBLE_EQ(r->links[1].effective_ms, 1.0);
  EXPECT_NEAR(r->bottleneck_ms, 15.0, 1e-9);
  EXPECT_EQ(r->bottleneck, "stage 1");
  EXPECT_NEAR(r->latency_ms, 1 + 10 + 2 + 30 + 1, 1e-9);
  EXPECT_NEAR(r->fps, 1000.0 / 15.0, 1e-6);
}

TEST(CostModelTest, EvaluateRejectsBrokenPlans) {
  Problem p = FreeLinks(UniformModel(4, 1.0, 10 * kMiB));
  p.cluster.workers = {Enclave("a", 15 * kMiB), Enclave("b"), testing::Accelerator("g", 1)};
  auto message = [&](std::vector<StagePlan> plan) {
    return EvaluatePlacement(p, plan).status().message();
  };
  EXPECT_NE(message({{0, 2, {0}}, {3, 4, {1}}}).find("must start at layer 2"), std::string::npos);
  EXPECT_NE(message({{0, 2, {1}}, {2, 4, {0}}}).find("does not come after"), std::string::npos);
  EXPECT_NE(message({{0, 4, {0, 1}}}).find("replication is disallowed"), std::string::npos);
  p.privacy_layers = 3;
  EXPECT_NE(message({{0, 2, {1}}, {2, 4, {2}}}).find("privacy requires the first 3 layers"),
            std::string::npos);
  p.allow_paging = false;
  EXPECT_EQ(message({{0, 2, {0}}, {2, 4, {1}}}),
            "stage 0 needs 20.0 MiB for layers [0, 2) on worker 'a' whose EPC is 15.0 MiB, and "
            "paging is disallowed");
  p.max_stages = 1;
  EXPECT_NE(message({{0, 1, {0}}, {1, 4, {1}}}).find("max_stages is 1"), std::string::npos);
  p.max_stages = 0;
  p.cluster.default_link.reset();
  EXPECT_EQ(message({{0, 1, {0}}, {1, 4, {1}}}),
            "there is no link from 'a' to 'b' (needed by stage 0 -> stage 1) and the cluster has "
            "no default link");
}

TEST(CostModelTest, ValidationNamesTheField) {
  Problem p = FreeLinks(UniformModel(2, 1.0));
  p.cluster.workers = {Enclave("a")};
  p.model.cut_bytes.pop_back();
  EXPECT_EQ(ValidateModel(p.model).message(),
            "model profile 'uniform': cut_bytes has 2 entries, expected one per cut: 3");
  p.model = UniformModel(2, 1.0);
  p.model.layers[1].enclave_ms = -1;
  EXPECT_NE(ValidateModel(p.model).message().find("layer 1 'l1'"), std::string::npos);
  p.model = UniformModel(2, 1.0, /*weight=*/100);
  p.model.layers[1].streamable_weight_bytes = 101;
  EXPECT_EQ(ValidateModel(p.model).message(),
            "model profile 'uniform': layer 1 'l1': streamable_weight_bytes is 101 but must be "
            "between 0 and the layer's weight_bytes, 100");
  p.model.layers[1].streamable_weight_bytes = -1;
  EXPECT_NE(ValidateModel(p.model).message().find("streamable_weight_bytes is -1"),
            std::string::npos);
  p.model.layers[1].streamable_weight_bytes = 100;
  EXPECT_TRUE(ValidateModel(p.model).ok());
  p.model = UniformModel(2, 1.0);
  p.cluster.workers[0].epc_bytes = 0;
  EXPECT_EQ(ValidateCluster(p.cluster, p.model).message(), "worker 'a': epc_bytes must be > 0");
  p.cluster.workers = {Enclave("a"), Enclave("a")};
  EXPECT_EQ(ValidateCluster(p.cluster, p.model).message(), "worker name 'a' appears twice");
  p.cluster.workers = {Enclave("a")};
  p.cluster.links = {{"a", "nowhere", 1, 0}};
  EXPECT_NE(ValidateCluster(p.cluster, p.model).message().find("'nowhere' is neither a worker"),
            std::string::npos);
  p.cluster.links.clear();
  p.cluster.workers[0].layer_ms = {1.0};
  EXPECT_NE(ValidateCluster(p.cluster, p.model).message().find("layer_ms has 1 entries"),
            std::string::npos);
}

TEST(CostModelTest, CacheKeyCombinesModelAndWorker) {
  ModelProfile model = UniformModel(1, 1.0);
  model.sha256 = "abc";
  WorkerProfile w = Enclave("a");
  w.fingerprint = "sgx1-93MiB";
  EXPECT_EQ(CacheKey(model, w), "abc/sgx1-93MiB");
}

TEST(CostModelTest, FormatBytes) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(static_cast<int64_t>(93.5 * kMiB)), "93.5 MiB");
  EXPECT_EQ(FormatBytes(int64_t{3} << 30), "3.0 GiB");
}

// One of k shards holds 1/k of the weights and of the output, the whole input and the
// layer's whole activation, and takes 1/k of the layer's time.
TEST(ShardTest, AShardHoldsItsPartOfTheLayer) {
  ModelProfile model = UniformModel(1, 9.0, /*weight=*/30 * kMiB + 1, /*activation=*/kMiB);
  model.layers[0].streamable_weight_bytes = 30 * kMiB;
  model.cut_bytes = {3000000, 6000000};
  WorkerProfile w = Enclave("e", 100 * kMiB);
  w.aead_bytes_per_s = 1e9;
  w.ecall_ns = 20000;
  const StageCost cost = ComputeShardCost(model, w, {9.0}, 0, 3);
  EXPECT_DOUBLE_EQ(cost.compute_ms, 3.0);
  // 10 MiB + 1 B of weights (rounded up), the activation, the input and a third of the output.
  EXPECT_EQ(cost.working_set_bytes, 10 * kMiB + 1 + kMiB + 3000000 + 2000000);
  EXPECT_DOUBLE_EQ(cost.crypto_ms, 5.0);  // (3e6 + 6e6 / 3) B at 1e9 B/s
  EXPECT_DOUBLE_EQ(cost.ecall_ms, 0.02);
  EXPECT_EQ(cost.weight_residency, WeightResidency::kResident);
  EXPECT_DOUBLE_EQ(cost.total_ms(), 3.0 + 5.0 + 0.02);
  // One shard is the whole layer.
  const StageCost whole = ComputeShardCost(model, w, {9.0}, 0, 1);
  const StageCost stage = ComputeStageCost(model, w, {9.0}, 0, 1);
  EXPECT_EQ(whole.working_set_bytes, stage.working_set_bytes);
  EXPECT_DOUBLE_EQ(whole.total_ms(), stage.total_ms());
}

// The StreamingTest layer (12 MiB on a 10 MiB EPC) in shards: halves fit, so a stage that had
// to stream or page is resident.
TEST(ShardTest, ShardsOfAnOverCommittedLayerAreResident) {
  ModelProfile model = UniformModel(1, 1.0, 12 * kMiB);
  WorkerProfile w = Enclave("e", 10 * kMiB);
  w.page_swap_ns = 10000;
  w.aead_bytes_per_s = 1e3 * kMiB;
  for (int64_t streamable : {int64_t{0}, 12 * kMiB}) {
    model.layers[0].streamable_weight_bytes = streamable;
    const StageCost whole = ComputeShardCost(model, w, {1.0}, 0, 1);
    EXPECT_EQ(whole.weight_residency,
              streamable > 0 ? WeightResidency::kStreamed : WeightResidency::kPaged);
    const StageCost half = ComputeShardCost(model, w, {1.0}, 0, 2);
    EXPECT_EQ(half.weight_residency, WeightResidency::kResident);
    EXPECT_EQ(half.working_set_bytes, 6 * kMiB);
    EXPECT_DOUBLE_EQ(half.total_ms(), 0.5);
  }
  // 33 MiB in three shards is still over the EPC, so each streams what its EPC cannot hold:
  // 11 + 1 (the window) - 10 = 2 MiB.
  model.layers[0].weight_bytes = model.layers[0].streamable_weight_bytes = 33 * kMiB;
  const StageCost third = ComputeShardCost(model, w, {1.0}, 0, 3);
  EXPECT_EQ(third.weight_residency, WeightResidency::kStreamed);
  EXPECT_EQ(third.streamed_weight_bytes, 2 * kMiB);
}

// a -> sharded on {b, c, d} -> e; 1e6 B/s links unless named.
class ShardedPipelineTest : public ::testing::Test {
 protected:
  ShardedPipelineTest() {
    p_ = FreeLinks(UniformModel(3, 6.0, 0, 0, 1000000));
    p_.model.layers[1].weight_bytes = p_.model.layers[1].streamable_weight_bytes = 3 * kMiB;
    p_.cluster.workers = {Enclave("a"), Enclave("b"), Enclave("c"), Enclave("d"), Enclave("e")};
    p_.cluster.workers[0].aead_bytes_per_s = 4e6;  // a's two extra seals: 2 x 250 ms
    p_.cluster.default_link = DefaultLink{1e6, 0};
    p_.cluster.links = {{"a", "c", 2e6, 6}, {"d", "e", 5e5, 4}};
    p_.max_shards = 3;
  }

  Problem p_;
};

TEST_F(ShardedPipelineTest, FanOutAndFanIn) {
  Result<Placement> r = EvaluatePlacement(p_, {{0, 1, {0}}, {1, 2, {1, 2, 3}, true}, {2, 3, {4}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const PlannedStage& sharded = r->stages[1];
  EXPECT_TRUE(sharded.sharded);
  ASSERT_EQ(sharded.costs.size(), 3u);
  EXPECT_NEAR(sharded.costs[0].compute_ms, 2.0, 1e-9);
  EXPECT_NEAR(sharded.time_ms, 2.0, 1e-6);           // and picoseconds of crypto
  EXPECT_EQ(sharded.effective_ms, sharded.time_ms);  // every frame visits every shard
  ASSERT_EQ(r->links.size(), 2u);
  // Fan-out: 1 MB to b (1 s), c (0.5 s) and d (1 s) over a's uplink, c's 3 ms half round
  // trip, and a's two extra seals of the cut (0.5 s).
  ASSERT_EQ(r->links[0].link_ms.size(), 1u);
  EXPECT_NEAR(r->links[0].time_ms, 1000 + 500 + 1000 + 3 + 500, 1e-9);
  EXPECT_EQ(r->links[0].effective_ms, r->links[0].time_ms);
  // Fan-in: a third of 1 MB each from b and c (1/3 s each) and from d at half the rate (2/3 s)
  // into e's downlink, and d's 2 ms half round trip.
  EXPECT_NEAR(r->links[1].time_ms, 1000.0 / 3 * 4 + 2, 1e-9);
  EXPECT_EQ(r->bottleneck, "link stage 0 -> stage 1");
}

// A sharded stage stands only between two whole ones: the client sends whole frames and
// takes whole results, and no hop joins two sharded stages. Whether or not the client is
// modelled.
TEST_F(ShardedPipelineTest, EvaluateRefusesShardsTheDataPlaneCannotRun) {
  p_.model = UniformModel(4, 6.0, 3 * kMiB, 0, 1000000);
  for (LayerProfile& layer : p_.model.layers) layer.streamable_weight_bytes = 3 * kMiB;
  p_.cluster.workers.push_back(Enclave("f"));
  auto message = [&](std::vector<StagePlan> plan) {
    return EvaluatePlacement(p_, plan).status().message();
  };
  for (const char* client : {"", "cam"}) {
    p_.cluster.client = client;
    EXPECT_EQ(message({{0, 1, {0, 1}, true}, {1, 4, {2}}}),
              "stage 0 is sharded, but a sharded stage cannot be the first or the last: the "
              "client sends whole frames and takes whole results");
    EXPECT_EQ(message({{0, 3, {0}}, {3, 4, {1, 2, 3}, true}}),
              "stage 1 is sharded, but a sharded stage cannot be the first or the last: the "
              "client sends whole frames and takes whole results");
    EXPECT_EQ(message({{0, 1, {0, 1}, true}}),
              "stage 0 is sharded, but a sharded stage cannot be the first or the last: the "
              "client sends whole frames and takes whole results");
    EXPECT_EQ(message({{0, 1, {0}}, {1, 2, {1, 2}, true}, {2, 3, {3, 4}, true}, {3, 4, {5}}}),
              "stages 1 and 2 are both sharded, but two sharded stages cannot be adjacent: each "
              "shard's part would have to reach every shard of the next layer");
    // Between two whole stages, either may be sharded.
    EXPECT_TRUE(EvaluatePlacement(p_, {{0, 1, {0}}, {1, 2, {1, 2}, true}, {2, 4, {3}}}).ok());
    EXPECT_TRUE(EvaluatePlacement(p_, {{0, 2, {0}}, {2, 3, {1, 2}, true}, {3, 4, {3}}}).ok());
  }
}

// A replicated stage before a sharded one: each replica fans its half of the frames out.
TEST_F(ShardedPipelineTest, ReplicasFanOutTheirOwnFrames) {
  p_.allow_replication = true;
  Result<Placement> r = EvaluatePlacement(p_, {{0, 1, {0, 1}}, {1, 2, {2, 3}, true}, {2, 3, {4}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  // a: 0.5 s to c + 1 s to d + 3 ms + one extra seal (250 ms); b: 1 s + 1 s, no AEAD cost.
  ASSERT_EQ(r->links[0].link_ms.size(), 2u);
  EXPECT_NEAR(r->links[0].link_ms[0], 500 + 1000 + 3 + 250, 1e-9);
  EXPECT_NEAR(r->links[0].link_ms[1], 2000, 1e-6);
  EXPECT_NEAR(r->links[0].effective_ms, 1000, 1e-6);
}

TEST_F(ShardedPipelineTest, EvaluateRejectsBrokenShards) {
  p_.cluster.workers.push_back(testing::Accelerator("g", 1));
  auto message = [&](std::vector<StagePlan> plan) {
    return EvaluatePlacement(p_, plan).status().message();
  };
  EXPECT_EQ(message({{0, 1, {0}}, {1, 3, {1, 2}, true}}),
            "stage 1 is sharded, so it must hold one layer, not layers [1, 3)");
  EXPECT_EQ(message({{0, 1, {0, 1}, true}, {1, 3, {2}}}),
            "stage 0 shards layer 0 'l0', which has no streamable weights (only Gemm, MatMul and "
            "group-1 Conv layers can be sharded)");
  EXPECT_EQ(message({{0, 1, {0}}, {1, 2, {1, 3}, true}, {2, 3, {4}}}),
            "stage 1: the shards must run on consecutive workers in the worker order");
  EXPECT_EQ(message({{0, 1, {0}}, {1, 2, {1}, true}, {2, 3, {4}}}),
            "stage 1 is sharded, so it must have at least two workers");
  EXPECT_EQ(message({{0, 1, {0}}, {1, 2, {1, 2, 3, 4}, true}, {2, 3, {5}}}),
            "stage 1 is sharded 4 ways but max_shards is 3");
  p_.cluster.workers.push_back(Enclave("h"));
  p_.privacy_layers = 2;
  EXPECT_NE(message({{0, 1, {0}}, {1, 2, {4, 5}, true}, {2, 3, {6}}})
                .find("runs shard 1 of 2 of layers [1, 2) "
                      "on accelerator worker 'g'"),
            std::string::npos);
  p_.privacy_layers = 0;
  p_.allow_paging = false;
  p_.cluster.workers[2].epc_bytes = kMiB;
  // Half the weights (1.5 MiB), the input and half the output.
  EXPECT_EQ(message({{0, 1, {0}}, {1, 2, {1, 2}, true}, {2, 3, {4}}}),
            "stage 1 needs 2.9 MiB (2.4 MiB with its 1.5 MiB of streamable weights streamed "
            "through 1.0 MiB of windows) for shard 1 of 2 of layers [1, 2) on worker 'c' whose "
            "EPC is 1.0 MiB, and paging is disallowed");
  p_.max_shards = 0;
  EXPECT_EQ(message({{0, 1, {0}}, {1, 2, {1, 2}, true}, {2, 3, {4}}}),
            "stage 1 is sharded but sharding is disallowed");
}

}  // namespace
}  // namespace serdab::partitioner
