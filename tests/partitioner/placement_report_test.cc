#include "partitioner/placement_report.h"

#include <gtest/gtest.h>

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
  const std::string json = PlacementToJson(p, *r);
  for (const char* key :
       {"\"model\": \"net\"", "\"objective\": \"throughput\"", "\"fps\": ", "\"latency_ms\": ",
        "\"bottleneck\": \"", "\"stages\": [{\"index\": 0, \"begin\": 0, \"end\": 2",
        "\"worker\": \"edge\"", "\"paging_ms\": ", "\"links\": [{\"from\": \"client\"",
        "\"last_layer\": \"fc\\\"8\\\"\"", "\"bytes\": 1000000"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
  }
  EXPECT_EQ(std::count(json.begin(), json.end(), '{'), std::count(json.begin(), json.end(), '}'));
  EXPECT_EQ(std::count(json.begin(), json.end(), '['), std::count(json.begin(), json.end(), ']'));
}

TEST(PlacementReportTest, InfiniteFpsIsNull) {
  Problem p = TwoStages();
  p.model = UniformModel(1, 0.0);
  p.cluster.client.clear();
  Result<Placement> r = Solve(p);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(PlacementToJson(p, *r).find("\"fps\": null"), std::string::npos);
}

}  // namespace
}  // namespace serdab::partitioner
