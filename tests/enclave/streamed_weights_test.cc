// Streamed weights (engine/streamed_weights.h) sealed in an enclave's
// SealedWeightStore: bit-identical to the resident layer, and every change the
// host can make to a sealed chunk is caught.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"
#include "enclave/epc/sealed_weight_store.h"
#include "onnx/onnx.pb.h"
#include "tests/engine/kernel_test_util.h"

namespace serdab {
namespace {

using engine::DataType;
using engine::KernelFlavor;
using engine::Model;
using engine::ModelOptions;
using engine::Shape;
using engine::Tensor;
using engine::testing::RandomFloats;

int64_t Elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// One layer: x (a run-time input of `x_shape`) through `op` with a constant
// weight and, when `bias_shape` is not empty, a constant bias; then, when
// `residual_shape` is not empty, an Add of a second input r of that shape
// (which the graph passes fuse into a Conv); then a Relu, so that the
// streamed layer's output feeds another layer.
struct LayerSpec {
  std::string op;
  Shape x_shape;
  Shape weight_shape;
  Shape bias_shape;
  std::vector<std::pair<std::string, std::vector<int64_t>>> attrs;
  Shape residual_shape = {};
};

std::string BuildModel(const LayerSpec& spec) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  onnx::GraphProto* graph = model.mutable_graph();
  auto add_init = [&](const std::string& name, const Shape& shape, uint32_t seed) {
    onnx::TensorProto* t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) t->add_dims(d);
    const std::vector<float> values = RandomFloats(Elements(shape), seed);
    t->set_raw_data(
        std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  };
  onnx::ValueInfoProto* x = graph->add_input();
  x->set_name("x");
  x->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : spec.x_shape) {
    x->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  }
  add_init("w", spec.weight_shape, 2);
  onnx::NodeProto* node = graph->add_node();
  node->set_name("layer");
  node->set_op_type(spec.op);
  node->add_input("x");
  node->add_input("w");
  if (!spec.bias_shape.empty()) {
    add_init("b", spec.bias_shape, 3);
    node->add_input("b");
  }
  node->add_output("h");
  for (const auto& [name, ints] : spec.attrs) {
    onnx::AttributeProto* a = node->add_attribute();
    a->set_name(name);
    if (ints.size() == 1 && name != "pads" && name != "strides" && name != "kernel_shape") {
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(ints[0]);
    } else {
      a->set_type(onnx::AttributeProto::INTS);
      for (int64_t i : ints) a->add_ints(i);
    }
  }
  if (!spec.residual_shape.empty()) {
    onnx::ValueInfoProto* r = graph->add_input();
    r->set_name("r");
    r->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : spec.residual_shape) {
      r->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
    }
    onnx::NodeProto* add = graph->add_node();
    add->set_name("residual");
    add->set_op_type("Add");
    add->add_input("h");
    add->add_input("r");
    add->add_output("sum");
  }
  onnx::NodeProto* relu = graph->add_node();
  relu->set_name("relu");
  relu->set_op_type("Relu");
  relu->add_input(spec.residual_shape.empty() ? "h" : "sum");
  relu->add_output("y");
  graph->add_output()->set_name("y");
  return model.SerializeAsString();
}

std::unique_ptr<Model> Load(const std::string& bytes, ModelOptions options) {
  auto graph = engine::ImportOnnxBytes(bytes, "test model");
  EXPECT_TRUE(graph.ok()) << graph.status().ToString();
  auto model = Model::FromGraph(std::move(graph).value(), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(model).value() : nullptr;
}

Tensor Input(const Shape& shape, uint32_t seed) {
  Tensor t = Tensor::Create(DataType::kFloat32, shape).value();
  const std::vector<float> v = RandomFloats(Elements(shape), seed);
  std::memcpy(t.raw(), v.data(), t.bytes());
  return t;
}

// The model's inputs: x, and r when the layer has a residual.
std::vector<Tensor> Inputs(const LayerSpec& spec, uint32_t seed) {
  std::vector<Tensor> inputs = {Input(spec.x_shape, seed)};
  if (!spec.residual_shape.empty()) inputs.push_back(Input(spec.residual_shape, seed + 100));
  return inputs;
}

bool SameBits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

// Odd sizes, each weight several chunks with a short last one.
std::vector<LayerSpec> Layers() {
  return {
      // Linear: 700 outputs of 1000 inputs (2.8 MB; 262 outputs a chunk).
      {"Gemm", {1, 1000}, {700, 1000}, {700}, {{"transB", {1}}}},
      // Gemm with B untransposed, two rows of A and a per-row, per-column C.
      {"Gemm", {3, 900}, {900, 601}, {3, 601}, {}},
      // MatMul on a batched A.
      {"MatMul", {2, 3, 777}, {777, 523}, {}, {}},
      // Conv, 3x3, stride 2, padded: 131 output channels of 300x3x3, on a 7x7
      // output whose 49th column the optimised kernel computes as a dot product.
      {"Conv",
       {1, 300, 13, 13},
       {131, 300, 3, 3},
       {131},
       {{"kernel_shape", {3, 3}}, {"pads", {1, 1, 1, 1}}, {"strides", {2, 2}}}},
      // A ResNet block's last Conv with its residual Add fused: each chunk
      // and shard sums its own channels of r.
      {"Conv",
       {1, 256, 7, 7},
       {150, 256, 3, 3},
       {150},
       {{"kernel_shape", {3, 3}}, {"pads", {1, 1, 1, 1}}},
       {1, 150, 7, 7}},
      // A 3x3 stride-1 Conv that runs as Winograd (winograd.h) on a map of
      // odd width: the resident layer transforms its weight once, chunks and
      // shards transform theirs at every run, with the same bits.
      {"Conv",
       {1, 200, 28, 29},
       {210, 200, 3, 3},
       {210},
       {{"kernel_shape", {3, 3}}, {"pads", {1, 1, 1, 1}}},
       {1, 210, 28, 29}},
  };
}

TEST(StreamedWeightsTest, StreamedLayersAreBitIdenticalToResidentOnes) {
  for (const LayerSpec& spec : Layers()) {
    const std::string bytes = BuildModel(spec);
    const std::vector<Tensor> x = Inputs(spec, 5);
    for (bool optimized : {false, true}) {
      for (int threads : {1, 2, 3}) {
        SCOPED_TRACE(spec.op + (optimized ? " optimised" : " reference") + ", " +
                     std::to_string(threads) + " threads");
        ModelOptions options;
        options.num_threads = threads;
        options.optimized_kernels = optimized;
        auto resident = Load(bytes, options);
        ASSERT_NE(resident, nullptr);
        if (!spec.residual_shape.empty()) {
          EXPECT_EQ(resident->layers()[0].fused, "Add+Relu");
        }
        auto want = resident->Run(x);
        ASSERT_TRUE(want.ok()) << want.status().ToString();
        const size_t weight = resident->layers()[0].weight_bytes;
        EXPECT_GT(resident->layers()[0].streamable_weight_bytes, 0u);
        EXPECT_EQ(resident->layers()[0].streamed_weight_bytes, 0u);

        // All of the weight streamed, then just its last chunk.
        for (size_t request : {weight, size_t{1}}) {
          auto store = epc::SealedWeightStore::Create();
          ASSERT_TRUE(store.ok()) << store.status().ToString();
          options.weight_store = store->get();
          options.streamed_weight_bytes = request;
          auto streamed = Load(bytes, options);
          ASSERT_NE(streamed, nullptr);
          const size_t got = streamed->layers()[0].streamed_weight_bytes;
          if (request == weight) {
            EXPECT_EQ(got, streamed->layers()[0].streamable_weight_bytes);
          } else {
            EXPECT_GT(got, 0u);
            EXPECT_LE(got, engine::kWeightChunkBytes);
          }
          EXPECT_GE((*store)->host_bytes(), got);
          for (int frame = 0; frame < 2; ++frame) {
            auto out = streamed->Run(x);
            ASSERT_TRUE(out.ok()) << out.status().ToString();
            EXPECT_TRUE(SameBits((*out)[0], (*want)[0])) << "request " << request;
          }
        }
      }
    }
  }
}

// A layer split across enclaves: each shard's model holds its part of the
// weight (some of it streamed, for the odd shards), and the parts put back
// together are the layer's output, bit for bit, also when the shard count
// does not divide the layer's outputs.
TEST(StreamedWeightsTest, ShardsPutTogetherAreBitIdenticalToTheLayer) {
  for (const LayerSpec& spec : Layers()) {
    const std::string bytes = BuildModel(spec);
    const std::vector<Tensor> x = Inputs(spec, 6);
    ModelOptions options;
    options.num_threads = 2;
    options.partition = true;
    options.keep_begin = 0;
    options.keep_end = 1;
    auto whole = Load(bytes, options);
    ASSERT_NE(whole, nullptr);
    auto want = whole->Run(0, 1, x);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    // The shards hold the layer's weight and bias, but not the copy of the
    // weight the whole layer's kernel may have prepared (Winograd).
    const size_t layer_weight =
        (Elements(spec.weight_shape) + (spec.bias_shape.empty() ? 0 : Elements(spec.bias_shape))) *
        sizeof(float);
    EXPECT_GE(whole->layers()[0].weight_bytes, layer_weight);
    for (int count : {2, 3, 5}) {
      SCOPED_TRACE(spec.op + " in " + std::to_string(count) + " shards");
      std::vector<Tensor> parts;
      size_t held = 0;
      for (int index = 0; index < count; ++index) {
        auto store = epc::SealedWeightStore::Create();
        ASSERT_TRUE(store.ok());
        ModelOptions shard = options;
        shard.shard_layer = 0;
        shard.shard = {index, count};
        shard.weight_store = store->get();
        shard.streamed_weight_bytes = index % 2 == 1 ? size_t{1} << 30 : 0;
        auto model = Load(bytes, shard);
        ASSERT_NE(model, nullptr);
        held += model->layers()[0].weight_bytes;
        EXPECT_EQ(model->layers()[0].streamed_weight_bytes > 0, index % 2 == 1);
        auto out = model->Run(0, 1, x);
        ASSERT_TRUE(out.ok()) << out.status().ToString();
        parts.push_back((*out)[0]);
      }
      EXPECT_EQ(held, layer_weight);
      const int axis = spec.op == "MatMul" ? static_cast<int>(spec.x_shape.size()) - 1 : 1;
      auto together = engine::ConcatShards(parts, axis, nullptr);
      ASSERT_TRUE(together.ok()) << together.status().ToString();
      EXPECT_TRUE(SameBits(*together, (*want)[0]));
    }
  }
}

// Over a batch of two, a slice's channels of the residual are not one run of
// memory: such a layer keeps its weight whole.
TEST(StreamedWeightsTest, AResidualConvOverABatchIsNotSplit) {
  LayerSpec spec = Layers().back();
  ASSERT_FALSE(spec.residual_shape.empty());
  spec.x_shape[0] = 2;
  spec.residual_shape[0] = 2;
  ModelOptions options;
  auto model = Load(BuildModel(spec), options);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->layers()[0].fused, "Add+Relu");
  EXPECT_EQ(model->layers()[0].streamable_weight_bytes, 0u);
  auto out = model->Run(Inputs(spec, 4));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
}

TEST(StreamedWeightsTest, ShardsThatDoNotExistAreRefused) {
  const std::string bytes = BuildModel(Layers()[0]);  // 700 outputs
  ModelOptions options;
  options.partition = true;
  options.keep_begin = 0;
  options.keep_end = 1;
  options.shard_layer = 0;
  for (engine::LayerShard bad :
       {engine::LayerShard{3, 3}, engine::LayerShard{0, 701}, engine::LayerShard{-1, 2}}) {
    options.shard = bad;
    auto graph = engine::ImportOnnxBytes(bytes, "test model");
    ASSERT_TRUE(graph.ok());
    auto refused = Model::FromGraph(std::move(graph).value(), options);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument)
        << refused.status().ToString();
  }
  // The shard's model keeps that layer alone, as a partition.
  options.shard = {0, 2};
  options.partition = false;
  auto graph = engine::ImportOnnxBytes(bytes, "test model");
  ASSERT_TRUE(graph.ok());
  auto refused = Model::FromGraph(std::move(graph).value(), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  // A grouped Conv cannot split by output channels alone.
  options.partition = true;
  graph = engine::ImportOnnxBytes(
      BuildModel(
          {"Conv", {1, 8, 6, 6}, {8, 1, 3, 3}, {}, {{"kernel_shape", {3, 3}}, {"group", {8}}}}),
      "test model");
  ASSERT_TRUE(graph.ok());
  refused = Model::FromGraph(std::move(graph).value(), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition)
      << refused.status().ToString();
  EXPECT_NE(refused.status().ToString().find("grouped"), std::string::npos);
}

TEST(StreamedWeightsTest, LayersThatCannotStreamSayNothingAndStayResident) {
  // A grouped Conv cannot split by output channels alone.
  LayerSpec grouped{
      "Conv", {1, 8, 6, 6}, {8, 1, 3, 3}, {}, {{"kernel_shape", {3, 3}}, {"group", {8}}}};
  auto store = epc::SealedWeightStore::Create();
  ASSERT_TRUE(store.ok());
  ModelOptions options;
  options.weight_store = store->get();
  options.streamed_weight_bytes = 1 << 20;
  auto model = Load(BuildModel(grouped), options);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->layers()[0].streamable_weight_bytes, 0u);
  EXPECT_EQ(model->layers()[0].streamed_weight_bytes, 0u);
  EXPECT_EQ((*store)->chunks(), 0u);

  // Streaming without a store is a caller's error.
  ModelOptions no_store;
  no_store.streamed_weight_bytes = 1;
  auto graph = engine::ImportOnnxBytes(BuildModel(Layers()[0]), "test model");
  ASSERT_TRUE(graph.ok());
  auto refused = Model::FromGraph(std::move(graph).value(), no_store);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
}

// The host owns the memory the sealed chunks live in: whatever it does to
// them, the layer refuses to run rather than compute with other weights.
class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_ = Layers()[0];
    bytes_ = BuildModel(spec_);
    x_ = Input(spec_.x_shape, 9);
    store_ = std::move(epc::SealedWeightStore::Create()).value();
    model_ = Streamed(store_.get());
    ASSERT_NE(model_, nullptr);
    ASSERT_GE(store_->chunks(), 3u);
    ASSERT_TRUE(model_->Run({x_}).ok());
  }

  std::unique_ptr<Model> Streamed(epc::SealedWeightStore* store) {
    ModelOptions options;
    options.num_threads = 2;
    options.weight_store = store;
    options.streamed_weight_bytes = size_t{1} << 30;
    return Load(bytes_, options);
  }

  void ExpectRefused() {
    auto out = model_->Run({x_});
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), Status::Code::kCorruption) << out.status().ToString();
    EXPECT_NE(out.status().ToString().find("weight chunk"), std::string::npos)
        << out.status().ToString();
  }

  LayerSpec spec_;
  std::string bytes_;
  Tensor x_;
  std::unique_ptr<epc::SealedWeightStore> store_;
  std::unique_ptr<Model> model_;
};

TEST_F(TamperTest, AFlippedBitIsCaught) {
  store_->HostBytes(1)[1000] ^= 0x04;
  ExpectRefused();
  store_->HostBytes(1)[1000] ^= 0x04;
  EXPECT_TRUE(model_->Run({x_}).ok());
  // The tag too.
  std::span<uint8_t> last = store_->HostBytes(0);
  last[last.size() - 1] ^= 0x80;
  ExpectRefused();
}

TEST_F(TamperTest, SwappedChunksAreCaught) {
  std::span<uint8_t> a = store_->HostBytes(0);
  std::span<uint8_t> b = store_->HostBytes(1);
  ASSERT_EQ(a.size(), b.size());
  std::vector<uint8_t> tmp(a.begin(), a.end());
  std::memcpy(a.data(), b.data(), a.size());
  std::memcpy(b.data(), tmp.data(), b.size());
  ExpectRefused();
}

TEST_F(TamperTest, AChunkFromAnEarlierProvisionIsCaught) {
  // The same weights provisioned again (a new partition version): the host
  // puts back the chunk it kept from the first time.
  auto again_store = std::move(epc::SealedWeightStore::Create()).value();
  auto again = Streamed(again_store.get());
  ASSERT_NE(again, nullptr);
  ASSERT_EQ(again_store->chunks(), store_->chunks());
  std::span<uint8_t> old_chunk = store_->HostBytes(0);
  std::span<uint8_t> new_chunk = again_store->HostBytes(0);
  ASSERT_EQ(old_chunk.size(), new_chunk.size());
  std::memcpy(new_chunk.data(), old_chunk.data(), new_chunk.size());
  auto out = again->Run({x_});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kCorruption) << out.status().ToString();
}

TEST_F(TamperTest, TheHostHoldsNoPlaintextWeights) {
  // Every 16-byte run of the weight, searched for in the sealed chunks.
  const std::vector<float> w = RandomFloats(Elements(spec_.weight_shape), 2);
  const auto* plain = reinterpret_cast<const uint8_t*>(w.data());
  for (uint32_t id = 0; id < store_->chunks(); ++id) {
    std::span<uint8_t> sealed = store_->HostBytes(id);
    const std::string haystack(sealed.begin(), sealed.end());
    for (size_t at = 0; at + 16 <= w.size() * sizeof(float); at += 4096) {
      EXPECT_EQ(haystack.find(std::string(plain + at, plain + at + 16)), std::string::npos)
          << "chunk " << id << " holds weight bytes at " << at;
    }
  }
}

}  // namespace
}  // namespace serdab
