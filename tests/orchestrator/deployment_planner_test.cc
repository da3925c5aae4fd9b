// DeploymentPlanner against scripted workers: which workers it profiles,
// and whose profile each worker's stages are planned with.
#include "orchestrator/deployment_planner.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/zoo/model_zoo.h"
#include "enclave/engine/onnx_importer.h"
#include "tests/orchestrator/sim_enclave_stats.h"

namespace serdab::orchestrator {
namespace {

// Every layer takes `ms` in this enclave, timed alone and end to end.
class ScriptedEnclave final : public cli::ProfilingEnclave {
 public:
  explicit ScriptedEnclave(double ms) : ms_(ms) {}

  Result<std::string> Stats() override { return testing::Sgx1StatsJson(); }
  Status Provision(int begin, int end) override {
    begin_ = begin;
    end_ = end;
    return Status::Ok();
  }
  Result<std::string> Profile(int repeats, bool measure_paging) override {
    nlohmann::json reply = {{"begin", begin_}, {"end", end_}, {"ecall_ns", 5000}};
    if (repeats > 0) {
      reply["layer_ms"] = std::vector<double>(end_ - begin_, ms_);
      reply["range_ms"] = ms_ * (end_ - begin_);
      reply["resident_bytes"] = 0;
    }
    if (measure_paging) reply["page_swap_ns"] = 20000;
    return reply.dump();
  }

 private:
  const double ms_;
  int begin_ = 0;
  int end_ = 0;
};

// Workers whose layers take `layer_ms[worker]`; counts the enclaves it starts.
class ScriptedHost final : public ProfilingHost {
 public:
  explicit ScriptedHost(std::map<std::string, double> layer_ms) : layer_ms_(std::move(layer_ms)) {}

  Result<std::unique_ptr<cli::ProfilingEnclave>> Start(const WorkerRecord& worker,
                                                       const crypto::Bytes&, int) override {
    ++started[worker.name];
    return std::unique_ptr<cli::ProfilingEnclave>(
        std::make_unique<ScriptedEnclave>(layer_ms_.at(worker.name)));
  }

  std::map<std::string, int> started;

 private:
  const std::map<std::string, double> layer_ms_;
};

WorkerRecord Worker(const std::string& name) {
  WorkerRecord w;
  w.name = name;
  w.labels = {{"tier", "edge"}};
  // The same CPU, EPC and threads: one fingerprint.
  w.capacity_json =
      R"({"epcBytes": "98041856", "threads": 1, "cpuModel": "AMD EPYC", "aeadBytesPerS": 2e9})";
  w.ready = true;
  return w;
}

DeploymentPlan Plan(const std::string& profile) {
  const std::string text =
      "apiVersion: serdab/v1\nkind: Deployment\nmetadata: {name: lobby}\n"
      "model: {zoo: tiny}\nworkers: {order: [edge]" +
      profile + "}\nplacement: {}\nattestation: {any_measurement: true}\n";
  return ParseDeploymentPlans(text, "plan.yaml").value().front();
}

class DeploymentPlannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/serdab-planner-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    cache_dir_ = dir;
    const std::string model = zoo::BuildModel("tiny", 1).value();
    const std::string architecture = engine::ArchitectureOnly(model).value();
    architecture_.assign(architecture.begin(), architecture.end());
  }
  void TearDown() override { std::filesystem::remove_all(cache_dir_); }

  // The profile each worker was planned with, by name.
  std::map<std::string, partitioner::WorkerProfile> Profiles(ProfilingHost* host,
                                                             const DeploymentPlan& plan) {
    PlannerOptions options;
    options.cache_dir = cache_dir_;
    options.repeats = 1;
    options.native_threads = 1;
    DeploymentPlanner planner(host, options);
    Result<PlannedDeployment> planned =
        planner.Plan(plan, architecture_, {Worker("edge-1"), Worker("edge-2")});
    EXPECT_TRUE(planned.ok()) << planned.status().ToString();
    std::map<std::string, partitioner::WorkerProfile> out;
    if (!planned.ok()) return out;
    for (size_t i = 0; i < planned->workers.size(); ++i) {
      out[planned->workers[i]] = planned->problem.cluster.workers[i];
    }
    return out;
  }

  std::string cache_dir_;
  crypto::Bytes architecture_;
};

TEST_F(DeploymentPlannerTest, WorkersOfOneKindShareTheFirstOnesProfile) {
  // edge-2's core runs at half the speed, which the shared profile misses.
  ScriptedHost host({{"edge-1", 1.0}, {"edge-2", 2.0}});
  auto profiles = Profiles(&host, Plan(""));
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_EQ(host.started["edge-1"], 1);
  EXPECT_EQ(host.started["edge-2"], 0);
  EXPECT_EQ(profiles["edge-2"].layer_ms, profiles["edge-1"].layer_ms);
  // The cached profile serves the next apply too.
  Profiles(&host, Plan(""));
  EXPECT_EQ(host.started["edge-1"], 1);
}

TEST_F(DeploymentPlannerTest, ProfileEachGivesEveryWorkerItsOwnProfile) {
  ScriptedHost host({{"edge-1", 1.0}, {"edge-2", 2.0}});
  for (int apply = 1; apply <= 2; ++apply) {
    auto profiles = Profiles(&host, Plan(", profile: each"));
    ASSERT_EQ(profiles.size(), 2u);
    // Each worker's own profile is cached under its name: the second apply
    // (or the rollout's placement, while the stages' enclaves hold the
    // workers' memory) starts no enclave.
    EXPECT_EQ(host.started["edge-1"], 1);
    EXPECT_EQ(host.started["edge-2"], 1);
    const std::vector<double>& fast = profiles["edge-1"].layer_ms;
    const std::vector<double>& slow = profiles["edge-2"].layer_ms;
    ASSERT_EQ(fast.size(), slow.size());
    ASSERT_FALSE(fast.empty());
    for (size_t k = 0; k < fast.size(); ++k) EXPECT_DOUBLE_EQ(slow[k], 2 * fast[k]) << k;
  }
}

}  // namespace
}  // namespace serdab::orchestrator
