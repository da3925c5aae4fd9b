#include "partitioner/baselines.h"

#include <gtest/gtest.h>

#include "partitioner/placement_solver.h"
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

Problem ThreeEnclaves() {
  // Six 30 MiB layers; enclaves of 70, 100 and 200 MiB, the first one twice as fast.
  Problem p = FreeLinks(UniformModel(6, 10.0, 30 * kMiB));
  p.cluster.workers = {Enclave("small", 70 * kMiB), Enclave("mid", 100 * kMiB),
                       Enclave("big", 200 * kMiB), Accelerator("gpu", 10)};
  p.cluster.workers[0].speed_factor = 2;
  for (WorkerProfile& w : p.cluster.workers) w.page_swap_ns = 1000;
  return p;
}

TEST(BaselinesTest, OneEnclavePicksTheBestEnclave) {
  Problem p = ThreeEnclaves();
  Result<Placement> r = OneEnclaveBaseline(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->stages.size(), 1u);
  // 180 MiB: "big" fits it in 60 ms; "small" computes in 30 ms but pages 110 MiB.
  const double small_paging = 2.0 * (110 * kMiB / 4096) * 1000 * 1e-6;
  EXPECT_EQ(r->stages[0].workers, std::vector<int>{small_paging + 30 < 60 ? 0 : 2});
  EXPECT_DOUBLE_EQ(r->latency_ms, std::min(60.0, 30 + small_paging));
}

TEST(BaselinesTest, EqualSplitUsesTheFirstEnclaves) {
  Problem p = ThreeEnclaves();
  Result<Placement> r = EqualSplitBaseline(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Ranges(*r), (std::vector<std::pair<int, int>>{{0, 2}, {2, 4}, {4, 6}}));
  EXPECT_EQ(r->stages[2].workers, std::vector<int>{2});  // the accelerator is never used
  r = EqualSplitBaseline(p, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Ranges(*r), (std::vector<std::pair<int, int>>{{0, 3}, {3, 6}}));
  EXPECT_FALSE(EqualSplitBaseline(p, 4).ok());
}

TEST(BaselinesTest, GreedyFillsEachEpcInTurn) {
  Problem p = ThreeEnclaves();
  Result<Placement> r = GreedyEpcFillBaseline(p);
  ASSERT_TRUE(r.ok());
  // 70 MiB holds two layers, 100 MiB three, the last enclave takes the rest.
  EXPECT_EQ(Ranges(*r), (std::vector<std::pair<int, int>>{{0, 2}, {2, 5}, {5, 6}}));
  p.max_stages = 2;
  r = GreedyEpcFillBaseline(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Ranges(*r), (std::vector<std::pair<int, int>>{{0, 2}, {2, 6}}));
}

TEST(BaselinesTest, SolverIsNeverWorse) {
  Problem p = ThreeEnclaves();
  for (Objective objective : {Objective::kThroughput, Objective::kLatency}) {
    p.objective = objective;
    Result<Placement> best = Solve(p);
    ASSERT_TRUE(best.ok());
    for (const Result<Placement>& baseline :
         {OneEnclaveBaseline(p), EqualSplitBaseline(p), GreedyEpcFillBaseline(p)}) {
      ASSERT_TRUE(baseline.ok());
      EXPECT_LE(best->objective_value(), baseline->objective_value());
    }
  }
}

TEST(BaselinesTest, NoEnclave) {
  Problem p = FreeLinks(UniformModel(2, 1.0));
  p.cluster.workers = {Accelerator("gpu", 1)};
  EXPECT_EQ(OneEnclaveBaseline(p).status().message(),
            "one-enclave baseline: the cluster has no enclave worker");
}

}  // namespace
}  // namespace serdab::partitioner
