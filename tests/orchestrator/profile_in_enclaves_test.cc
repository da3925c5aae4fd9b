// ProfileInEnclaves against a scripted enclave: which ranges it provisions,
// and the EPC it leaves the planner once the enclave reports what a range
// really held resident.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "cli/layer_profiler.h"
#include "tests/orchestrator/sim_enclave_stats.h"

namespace serdab::cli {
namespace {

constexpr int64_t kMiB = 1 << 20;

// Reports, for each range provisioned, the resident bytes its script says:
// the range's weights plus `excess` for that range.
class ScriptedEnclave final : public ProfilingEnclave {
 public:
  ScriptedEnclave(const partitioner::ModelProfile& model, std::vector<int64_t> excess)
      : model_(model), excess_(std::move(excess)) {}

  Result<std::string> Stats() override { return orchestrator::testing::Sgx1StatsJson(); }
  Status Provision(int begin, int end) override {
    ranges.emplace_back(begin, end);
    return Status::Ok();
  }
  Result<std::string> Profile(int repeats, bool measure_paging) override {
    const auto [begin, end] = ranges.back();
    this->repeats.push_back(repeats);
    int64_t weights = 0;
    for (int k = begin; k < end; ++k) weights += model_.layers[k].weight_bytes;
    nlohmann::json reply = {{"begin", begin}, {"end", end}, {"ecall_ns", 5000}};
    if (repeats > 0) {
      reply["layer_ms"] = std::vector<double>(end - begin, 1.0);
      reply["resident_bytes"] = weights + excess_[ranges.size() - 1];
    }
    if (measure_paging) reply["page_swap_ns"] = 20000;
    if (!range_ms.empty()) reply["range_ms"] = range_ms[ranges.size() - 1];
    return reply.dump();
  }

  std::vector<std::pair<int, int>> ranges;
  std::vector<int> repeats;  // of each Profile call
  // Each range's time end to end, when the script gives one (every layer
  // alone takes 1 ms).
  std::vector<double> range_ms;

 private:
  const partitioner::ModelProfile& model_;
  const std::vector<int64_t> excess_;
};

partitioner::ModelProfile FourLayers() {
  partitioner::ModelProfile model;
  model.name = "four";
  for (int i = 0; i < 4; ++i) {
    partitioner::LayerProfile layer;
    layer.name = "l" + std::to_string(i);
    layer.native_ms = 1;
    layer.weight_bytes = 6 * kMiB;
    layer.activation_bytes = kMiB;
    model.layers.push_back(layer);
  }
  model.cut_bytes = {kMiB / 4, kMiB / 4, kMiB / 4, kMiB / 4, 4096};
  return model;
}

TEST(ProfileInEnclavesTest, StagesGetTheEpcLessWhatTheLargestRangeHeldBeyondTheEstimate) {
  partitioner::ModelProfile model = FourLayers();
  partitioner::WorkerProfile worker;
  worker.epc_bytes = 32 * kMiB;  // ranges of two layers fit half of it
  // Held beyond the weights: the first range 2 MiB, the second 5 MiB; the
  // estimate counts 1 MiB of activations and the input and output cuts.
  ScriptedEnclave enclave(model, {2 * kMiB, 5 * kMiB});
  ASSERT_TRUE(ProfileInEnclaves(&enclave, 1, nullptr, &model, &worker).ok());
  ASSERT_EQ(enclave.ranges, (std::vector<std::pair<int, int>>{{0, 2}, {2, 4}}));
  const int64_t estimate_beyond_weights = kMiB + kMiB / 4 + 4096;  // activations, cuts 2 and 4
  EXPECT_EQ(worker.epc_bytes, 32 * kMiB - (5 * kMiB - estimate_beyond_weights));
  EXPECT_DOUBLE_EQ(worker.page_swap_ns, 20000);
}

TEST(ProfileInEnclavesTest, AnEstimateThatHoldsLeavesTheEpcAlone) {
  partitioner::ModelProfile model = FourLayers();
  partitioner::WorkerProfile worker;
  worker.epc_bytes = 32 * kMiB;
  ScriptedEnclave enclave(model, {kMiB, kMiB});
  ASSERT_TRUE(ProfileInEnclaves(&enclave, 1, nullptr, &model, &worker).ok());
  EXPECT_EQ(worker.epc_bytes, 32 * kMiB);
}

TEST(ProfileInEnclavesTest, LayersAddUpToTheirRangeTimedEndToEnd) {
  partitioner::ModelProfile model = FourLayers();
  partitioner::WorkerProfile worker;
  worker.epc_bytes = 32 * kMiB;
  ScriptedEnclave enclave(model, {kMiB, kMiB});
  enclave.range_ms = {3.0, 1.5};
  ASSERT_TRUE(ProfileInEnclaves(&enclave, 1, nullptr, &model, &worker).ok());
  ASSERT_EQ(enclave.ranges, (std::vector<std::pair<int, int>>{{0, 2}, {2, 4}}));
  EXPECT_DOUBLE_EQ(model.layers[0].enclave_ms, 1.5);
  EXPECT_DOUBLE_EQ(model.layers[1].enclave_ms, 1.5);
  EXPECT_DOUBLE_EQ(model.layers[2].enclave_ms, 0.75);
  EXPECT_DOUBLE_EQ(model.layers[3].enclave_ms, 0.75);

  // An enclave that sends no range time leaves the layers' own times.
  partitioner::ModelProfile older = FourLayers();
  ScriptedEnclave old_enclave(older, {kMiB, kMiB});
  ASSERT_TRUE(ProfileInEnclaves(&old_enclave, 1, nullptr, &older, &worker).ok());
  EXPECT_DOUBLE_EQ(older.layers[0].enclave_ms, 1.0);
}

// Every run of a layer larger than the EPC pages (tens of seconds for a
// large one) and its time is scaled from native anyway: it is provisioned
// only while the enclave's swap cost is still to be measured, and not run.
TEST(ProfileInEnclavesTest, ALayerLargerThanTheEpcIsNotRun) {
  partitioner::ModelProfile model = FourLayers();
  model.layers[0].weight_bytes = 40 * kMiB;
  model.layers[2].weight_bytes = 40 * kMiB;
  partitioner::WorkerProfile worker;
  worker.epc_bytes = 32 * kMiB;
  ScriptedEnclave enclave(model, {0, 0});
  ASSERT_TRUE(ProfileInEnclaves(&enclave, 3, nullptr, &model, &worker).ok());
  EXPECT_EQ(enclave.ranges, (std::vector<std::pair<int, int>>{{0, 1}, {1, 2}, {3, 4}}));
  EXPECT_EQ(enclave.repeats, (std::vector<int>{0, 3, 3}));
  EXPECT_DOUBLE_EQ(worker.page_swap_ns, 20000);
  EXPECT_DOUBLE_EQ(model.layers[1].enclave_ms, 1.0);
  EXPECT_DOUBLE_EQ(model.layers[3].enclave_ms, 1.0);
  // Scaled from native by the others' ratio (1 ms in the enclave, 1 native).
  EXPECT_DOUBLE_EQ(model.layers[0].enclave_ms, 1.0);
  EXPECT_DOUBLE_EQ(model.layers[2].enclave_ms, 1.0);
}

TEST(ProfileInEnclavesTest, AReplyWithoutResidentBytesIsRefused) {
  partitioner::ModelProfile model = FourLayers();
  partitioner::WorkerProfile worker;
  worker.epc_bytes = 32 * kMiB;
  class Silent final : public ProfilingEnclave {
   public:
    Result<std::string> Stats() override { return inner->Stats(); }
    Status Provision(int b, int e) override { return inner->Provision(b, e); }
    Result<std::string> Profile(int repeats, bool paging) override {
      SERDAB_ASSIGN_OR_RETURN(std::string reply, inner->Profile(repeats, paging));
      nlohmann::json json = nlohmann::json::parse(reply);
      json.erase("resident_bytes");
      return json.dump();
    }
    ScriptedEnclave* inner = nullptr;
  };
  ScriptedEnclave scripted(model, {0, 0});
  Silent silent;
  silent.inner = &scripted;
  const Status status = ProfileInEnclaves(&silent, 1, nullptr, &model, &worker);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("resident_bytes"), std::string::npos) << status.ToString();
}

}  // namespace
}  // namespace serdab::cli
