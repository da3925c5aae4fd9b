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
  // Summary, header, two stages and three links.
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 7) << table;
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
