#include "partitioner/placement_report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "partitioner/placement_solver.h"
#include "tests/partitioner/test_profiles.h"

namespace serdab::partitioner {
namespace {

using testing::Enclave;
using testing::UniformModel;

Problem TwoStages() {
  Problem p;
  p.model = UniformModel(4, 10.0, 0, 0, 1000000);
  p.model.name = "net";
  p.model.layers[0].name = "conv1";
  p.model.layers[3].name = "fc\"8\"";
  p.cluster.workers = {Enclave("edge"), Enclave("cloud")};
  p.cluster.client = "camera";
  p.cluster.default_link = DefaultLink{1e9, 0};
  return p;
}

TEST(PlacementReportTest, TableShowsStagesLinksAndTheBottleneck) {
  const Problem p = TwoStages();
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::string table = FormatPlacementTable(p, *r);
  EXPECT_NE(table.find("placement of 'net' for throughput"), std::string::npos) << table;
  EXPECT_NE(table.find("edge"), std::string::npos);
  EXPECT_NE(table.find("cloud"), std::string::npos);
  EXPECT_NE(table.find("[0, 2)"), std::string::npos);
  EXPECT_NE(table.find("conv1 .. l1"), std::string::npos);
  EXPECT_NE(table.find("client -> 0"), std::string::npos);
  EXPECT_NE(table.find("1 -> client"), std::string::npos);
  EXPECT_NE(table.find("<- bottleneck"), std::string::npos);
  // Summary, header, two stages with their weights lines, and three links.
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 9) << table;
  EXPECT_NE(table.find("\n        weights: resident, working set 1.9 MiB within the 1.0 GiB EPC\n"),
            std::string::npos)
      << table;
}

// One 12 MiB layer on a 10 MiB EPC (see cost_model_test.cc's StreamingTest): each residency,
// and what it beat.
Problem OneBigLayer(int64_t streamable) {
  Problem p;
  p.model = UniformModel(1, 1.0, 12 * testing::kMiB);
  p.model.layers[0].streamable_weight_bytes = streamable;
  WorkerProfile w = Enclave("e", 10 * testing::kMiB);
  w.page_swap_ns = 10000;
  w.aead_bytes_per_s = 1e3 * testing::kMiB;
  p.cluster.workers = {w};
  return p;
}

std::string WeightsLine(const Problem& p) {
  Result<Placement> r = Solve(p);
  if (!r.ok()) return r.status().message();
  const std::string table = FormatPlacementTable(p, *r);
  const size_t at = table.find("weights: ");
  return at == std::string::npos ? table : table.substr(at, table.find('\n', at) - at);
}

TEST(PlacementReportTest, TableSaysWhereTheWeightsLiveAndWhy) {
  EXPECT_EQ(WeightsLine(OneBigLayer(12 * testing::kMiB)),
            "weights: streamed 3.0 MiB/frame (AEAD 3 ms) instead of paging 3,072 swaps (30.7 ms)");
  EXPECT_EQ(WeightsLine(OneBigLayer(3 * testing::kMiB - 4096)),
            "weights: streamed 3.0 MiB/frame (AEAD 3 ms) and paged 2,561 swaps (25.6 ms) instead "
            "of paging 3,072 swaps (30.7 ms)");
  EXPECT_EQ(WeightsLine(OneBigLayer(testing::kMiB / 2)),
            "weights: paged 3,072 swaps (30.7 ms) instead of streaming 512.0 KiB/frame (AEAD "
            "0.5 ms) and paging 3,200 swaps (32 ms)");
  EXPECT_EQ(WeightsLine(OneBigLayer(0)),
            "weights: paged 3,072 swaps (30.7 ms), working set 12.0 MiB over the 10.0 MiB EPC "
            "and nothing streamable");
  Problem slow = OneBigLayer(0);
  slow.cluster.workers[0].page_swap_ns = 1e6;
  EXPECT_EQ(WeightsLine(slow),
            "weights: paged 3,072 swaps (3.1 s), working set 12.0 MiB over the 10.0 MiB EPC and "
            "nothing streamable");
}

TEST(PlacementReportTest, JsonHasTheWeightResidency) {
  const Problem p = OneBigLayer(12 * testing::kMiB);
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  const nlohmann::json json = nlohmann::json::parse(PlacementToJson(p, *r));
  const nlohmann::json& replica = json.at("stages").at(0).at("replicas").at(0);
  EXPECT_EQ(replica.at("weight_residency"), "streamed");
  EXPECT_EQ(replica.at("streamed_weight_bytes"), 3 * testing::kMiB);
  EXPECT_EQ(replica.at("stream_ms"), 3.0);
  EXPECT_EQ(replica.at("swapped_pages"), 0);
  EXPECT_EQ(replica.at("total_ms"), 4.0);
  const nlohmann::json& beaten = replica.at("weight_alternative");
  EXPECT_EQ(beaten.at("weight_residency"), "paged");
  EXPECT_EQ(beaten.at("swapped_pages"), 3072);
  EXPECT_EQ(beaten.at("paging_ms"), 30.72);

  const Problem fits = TwoStages();
  Result<Placement> resident = Solve(fits);
  ASSERT_TRUE(resident.ok());
  const nlohmann::json stage = nlohmann::json::parse(PlacementToJson(fits, *resident))
                                   .at("stages")
                                   .at(0)
                                   .at("replicas")
                                   .at(0);
  EXPECT_EQ(stage.at("weight_residency"), "resident");
  EXPECT_EQ(stage.at("streamed_weight_bytes"), 0);
  EXPECT_EQ(stage.at("stream_ms"), 0.0);
  EXPECT_TRUE(stage.at("weight_alternative").is_null());
}

TEST(PlacementReportTest, JsonHasEveryField) {
  const Problem p = TwoStages();
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  const std::string text = PlacementToJson(p, *r);
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(json.is_object()) << text;
  EXPECT_EQ(json.at("model"), "net") << text;
  EXPECT_EQ(json.at("objective"), "throughput");
  EXPECT_TRUE(json.at("fps").is_number());
  EXPECT_TRUE(json.at("latency_ms").is_number());
  EXPECT_TRUE(json.at("bottleneck").is_string());
  const nlohmann::json& stages = json.at("stages");
  ASSERT_FALSE(stages.empty()) << text;
  EXPECT_EQ(stages[0].at("index"), 0);
  EXPECT_EQ(stages[0].at("begin"), 0);
  EXPECT_EQ(stages[0].at("end"), 2);
  EXPECT_EQ(stages.back().at("last_layer"), "fc\"8\"");
  EXPECT_TRUE(std::any_of(stages.begin(), stages.end(), [](const nlohmann::json& stage) {
    const nlohmann::json& replica = stage.at("replicas").at(0);
    return replica.at("worker") == "edge" && replica.at("paging_ms").is_number();
  })) << text;
  const nlohmann::json& links = json.at("links");
  ASSERT_FALSE(links.empty()) << text;
  EXPECT_EQ(links[0].at("from"), "client");
  EXPECT_TRUE(std::any_of(links.begin(), links.end(), [](const nlohmann::json& link) {
    return link.at("bytes") == 1000000;
  })) << text;
}

// The big layer in halves on two enclaves, between two small layers: each half fits.
TEST(PlacementReportTest, ShardedStageListsItsShards) {
  Problem p = OneBigLayer(12 * testing::kMiB);
  const LayerProfile big = p.model.layers[0];
  p.model = UniformModel(3, 0.25);
  p.model.layers[1] = big;
  p.cluster.workers = {Enclave("a"), p.cluster.workers[0], p.cluster.workers[0], Enclave("z")};
  p.cluster.workers[2].name = "f";
  p.cluster.default_link = DefaultLink{1e18, 0};
  p.max_shards = 2;
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->stages.size(), 3u);
  ASSERT_TRUE(r->stages[1].sharded);
  const std::string table = FormatPlacementTable(p, *r);
  EXPECT_NE(table.find("\n        sharded 2 ways on e, f\n"
                       "        shard 0 on e: 0.5 ms; weights: resident, working set 6.0 MiB "
                       "within the 10.0 MiB EPC\n"
                       "        shard 1 on f: 0.5 ms; weights: resident, working set 6.0 MiB "
                       "within the 10.0 MiB EPC\n"),
            std::string::npos)
      << table;
  const nlohmann::json stage = nlohmann::json::parse(PlacementToJson(p, *r)).at("stages").at(1);
  EXPECT_EQ(stage.at("sharded"), true);
  EXPECT_FALSE(stage.contains("replicas"));
  ASSERT_EQ(stage.at("shards").size(), 2u);
  EXPECT_EQ(stage.at("shards").at(1).at("worker"), "f");
  EXPECT_EQ(stage.at("shards").at(1).at("total_ms"), 0.5);
  EXPECT_EQ(stage.at("shards").at(1).at("working_set_bytes"), 6 * testing::kMiB);

  const Problem plain = TwoStages();
  Result<Placement> unsharded = Solve(plain);
  ASSERT_TRUE(unsharded.ok());
  EXPECT_EQ(
      nlohmann::json::parse(PlacementToJson(plain, *unsharded)).at("stages").at(0).at("sharded"),
      false);
}

TEST(PlacementReportTest, InfiniteFpsIsNull) {
  Problem p = TwoStages();
  p.model = UniformModel(1, 0.0);
  p.cluster.client.clear();
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(nlohmann::json::parse(PlacementToJson(p, *r)).at("fps").is_null());
}

}  // namespace
}  // namespace serdab::partitioner
