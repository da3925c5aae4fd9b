// The model file a stage is provisioned with: only its layers' weights, and
// with them it computes exactly what the whole model computes.
#include "enclave/engine/partition_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "cli/zoo/model_zoo.h"
#include "enclave/engine/onnx_importer.h"
#include "enclave/engine/onnx_wire.h"

namespace serdab::engine {
namespace {

std::unique_ptr<Model> Load(const std::string& bytes, const ModelOptions& options,
                            bool synthesize) {
  ImportOptions import;
  import.synthesize_absent_weights = synthesize;
  auto graph = ImportOnnxBytes(bytes, "model", nullptr, {}, import);
  EXPECT_TRUE(graph.ok()) << graph.status().ToString();
  auto model = Model::FromGraph(std::move(graph).value(), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

// The raw data of each floating-point initializer, by name.
std::map<std::string, std::string> Weights(const std::string& bytes) {
  std::map<std::string, std::string> out;
  auto model = onnx_wire::DecodeModel(bytes).value();
  for (const auto& init : model.graph.initializer) {
    if (init.has_raw_data && init.raw_data.size() >= 64) {
      out[std::string(init.name)] = std::string(init.raw_data);
    }
  }
  return out;
}

// Layers [8, 15) of resnet18 (BatchNorm fused into its convolutions): the
// file keeps the weights those layers are computed from and no other, and a
// stage built from it gives the bits of the whole model's range.
TEST(PartitionFileTest, KeepsOnlyTheRangesWeightsAndComputesTheSame) {
  const std::string whole_file = zoo::BuildModel("resnet18", 3).value();
  const int begin = 8, end = 15;
  uint64_t removed = 0;
  auto sources = LayerWeightSources::Of(whole_file);
  ASSERT_TRUE(sources.ok()) << sources.status().ToString();
  auto part_file = PartitionModelFile(whole_file, *sources, begin, end, &removed);
  ASSERT_TRUE(part_file.ok()) << part_file.status().ToString();
  EXPECT_LT(part_file->size(), whole_file.size() / 2);
  EXPECT_GT(removed, whole_file.size() / 2);

  // Each weight either keeps its bytes or loses them; those kept are few,
  // and the range's layers read only them.
  const auto before = Weights(whole_file);
  const auto after = Weights(*part_file);
  ASSERT_FALSE(after.empty());
  for (const auto& [name, data] : after) EXPECT_EQ(before.at(name), data) << name;
  EXPECT_LT(after.size(), before.size() / 2);
  for (const auto& [name, data] : before) {
    if (after.count(name) == 0) {
      EXPECT_EQ(part_file->find(data.substr(0, 64)), std::string::npos) << name;
    }
  }

  std::unique_ptr<Model> whole = Load(whole_file, {}, false);
  ModelOptions options;
  options.partition = true;
  options.keep_begin = begin;
  options.keep_end = end;
  std::unique_ptr<Model> stage = Load(*part_file, options, true);
  ASSERT_TRUE(CheckPartitionWeights(*stage).ok());
  const TensorInfo& info = whole->cuts().front().infos[0];
  Tensor x = Tensor::Create(info.dtype, info.shape).value();
  std::mt19937 rng(5);
  std::normal_distribution<float> dist;
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = dist(rng);
  auto head = whole->Run(0, begin, {x});
  ASSERT_TRUE(head.ok());
  auto expect = whole->Run(begin, end, *head);
  auto got = stage->Run(begin, end, *head);
  ASSERT_TRUE(expect.ok() && got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), expect->size());
  for (size_t i = 0; i < got->size(); ++i) {
    ASSERT_EQ((*got)[i].bytes(), (*expect)[i].bytes());
    EXPECT_EQ(std::memcmp((*got)[i].raw(), (*expect)[i].raw(), (*got)[i].bytes()), 0);
  }

  // The same file cannot pass for another range: its layers' weights are
  // not in it.
  ModelOptions other = options;
  other.keep_begin = 0;
  other.keep_end = begin;
  Status refused = CheckPartitionWeights(*Load(*part_file, other, true));
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(refused.message().find("which the partition does not carry"), std::string::npos)
      << refused.ToString();
}

TEST(PartitionFileTest, TheWholeRangeKeepsEveryWeightAndABadRangeIsRefused) {
  const std::string file = zoo::BuildModel("tiny", 3).value();
  auto sources = LayerWeightSources::Of(file);
  ASSERT_TRUE(sources.ok()) << sources.status().ToString();
  auto all = PartitionModelFile(file, *sources, 0, -1);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(Weights(*all), Weights(file));
  const int layers = sources->layers();
  for (auto [begin, end] : {std::pair{0, layers + 1}, {-1, 2}, {3, 2}}) {
    EXPECT_EQ(PartitionModelFile(file, *sources, begin, end).status().code(),
              Status::Code::kOutOfRange)
        << begin << ", " << end;
  }
  EXPECT_FALSE(LayerWeightSources::Of(file.substr(0, file.size() / 2)).ok());
}

}  // namespace
}  // namespace serdab::engine
