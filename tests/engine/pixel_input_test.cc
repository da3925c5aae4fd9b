// uint8 graph inputs and FusePixelInput (graph_passes.h, ops/pixel_table.h):
// a model that takes camera pixels runs with them as bytes, and the Cast,
// Transpose and per-channel scaling at its start become one table lookup
// with exactly the plain graph's results.
#include <gtest/gtest.h>
#include <onnx/onnx.pb.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cli/zoo/model_zoo.h"
#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"
#include "enclave/engine/partition_file.h"
#include "enclave/engine/tensor_codec.h"
#include "tests/engine/model_test_util.h"

namespace serdab::engine {
namespace {

// One node of the chain after the input: a Transpose to channels first, a
// Cast to float32, or an Add/Sub/Mul/Div by a constant of `shape`.
struct Step {
  std::string op;
  std::vector<int64_t> shape;  // the constant's
  std::vector<float> values;
  bool constant_first = false;
};

Step ToChannelsFirst() { return {"Transpose", {}, {}, false}; }
Step CastToFloat() { return {"Cast", {}, {}, false}; }

// The chain torchvision's transforms amount to: (x / 255 - mean) / std,
// channels first, on an N x H x W x 3 input.
std::vector<Step> TorchvisionChain() {
  return {ToChannelsFirst(),
          CastToFloat(),
          {"Div", {}, {255.f}},
          {"Sub", {1, 3, 1, 1}, {0.485f, 0.456f, 0.406f}},
          {"Div", {1, 3, 1, 1}, {0.229f, 0.224f, 0.225f}}};
}

// pixels (uint8 `input_shape`) -> steps -> Conv 3x3 (pad 1, 4 filters of the
// chain's 3 channels) -> y; with `second_reader`, the value after step
// `second_reader - 1` is also a graph output.
std::string PixelModel(const std::vector<int64_t>& input_shape, const std::vector<Step>& steps,
                       int second_reader = 0) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  onnx::ValueInfoProto* in = g->add_input();
  in->set_name("pixels");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::UINT8);
  for (int64_t d : input_shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
  std::string value = "pixels";
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    onnx::NodeProto* node = g->add_node();
    node->set_op_type(s.op);
    node->set_name("step" + std::to_string(i));
    const std::string out = "v" + std::to_string(i);
    if (s.op == "Transpose") {
      node->add_input(value);
      onnx::AttributeProto* perm = node->add_attribute();
      perm->set_name("perm");
      perm->set_type(onnx::AttributeProto::INTS);
      for (int64_t p : {0, 3, 1, 2}) perm->add_ints(p);
    } else if (s.op == "Cast") {
      node->add_input(value);
      onnx::AttributeProto* to = node->add_attribute();
      to->set_name("to");
      to->set_type(onnx::AttributeProto::INT);
      to->set_i(onnx::TensorProto::FLOAT);
    } else {
      const std::string k = "k" + std::to_string(i);
      onnx::TensorProto* t = g->add_initializer();
      t->set_name(k);
      t->set_data_type(onnx::TensorProto::FLOAT);
      for (int64_t d : s.shape) t->add_dims(d);
      for (float v : s.values) t->add_float_data(v);
      node->add_input(s.constant_first ? k : value);
      node->add_input(s.constant_first ? value : k);
    }
    node->add_output(out);
    value = out;
    if (second_reader == static_cast<int>(i) + 1) g->add_output()->set_name(out);
  }
  onnx::TensorProto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {4, 3, 3, 3}) w->add_dims(d);
  for (int i = 0; i < 4 * 3 * 3 * 3; ++i) w->add_float_data(0.05f * static_cast<float>(i % 7 - 3));
  onnx::NodeProto* conv = g->add_node();
  conv->set_op_type("Conv");
  conv->set_name("conv");
  conv->add_input(value);
  conv->add_input("w");
  conv->add_output("y");
  onnx::AttributeProto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  g->add_output()->set_name("y");
  return m.SerializeAsString();
}

std::unique_ptr<Model> Load(const std::string& bytes, bool fuse, int threads) {
  ModelOptions options;
  options.fuse = fuse;
  options.optimized_kernels = fuse;
  options.num_threads = threads;
  return testing::LoadModelBytes(bytes, options);
}

Tensor RandomPixels(const std::vector<int64_t>& shape) {
  Tensor x = Tensor::Create(DataType::kUint8, shape).value();
  std::mt19937 rng(11);
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<uint8_t>()[i] = rng() & 0xff;
  // Both ends of the byte range, whatever the draw.
  x.data<uint8_t>()[0] = 0;
  x.data<uint8_t>()[1] = 255;
  return x;
}

// The outputs of the plain reference graph and of the fused one, at 1 and 2
// threads: every output bit-identical up to the Conv, whose own kernels
// differ between the two (reference and optimised) by float rounding.
void ExpectSameResults(const std::string& bytes, const std::vector<int64_t>& input_shape) {
  const Tensor x = RandomPixels(input_shape);
  std::unique_ptr<Model> plain = Load(bytes, false, 1);
  ASSERT_NE(plain, nullptr);
  auto want = plain->Run({x});
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  for (int threads : {1, 2}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    std::unique_ptr<Model> fused = Load(bytes, true, threads);
    ASSERT_NE(fused, nullptr);
    auto got = fused->Run({x});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), want->size());
    for (size_t o = 0; o < got->size(); ++o) {
      const Tensor& a = (*got)[o];
      const Tensor& b = (*want)[o];
      ASSERT_EQ(a.shape(), b.shape());
      const bool exact = o + 1 < got->size();  // a second reader's value, before the Conv
      for (int64_t i = 0; i < a.num_elements(); ++i) {
        if (exact) {
          ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]) << "output " << o << " at " << i;
        } else {
          ASSERT_NEAR(a.data<float>()[i], b.data<float>()[i], 1e-5f) << "at " << i;
        }
      }
    }
  }
}

// The first layer of the fused model, which must be the table's Cast.
void ExpectFusedCast(const std::string& bytes, const std::string& fused) {
  std::unique_ptr<Model> model = Load(bytes, true, 1);
  ASSERT_NE(model, nullptr);
  ASSERT_GE(model->num_layers(), 1);
  EXPECT_EQ(model->layers()[0].op_type, "Cast");
  EXPECT_EQ(model->layers()[0].fused, fused);
}

TEST(PixelInputTest, TorchvisionPreprocessingIsOneLookupWithThePlainGraphsBits) {
  const std::string bytes = PixelModel({1, 6, 9, 3}, TorchvisionChain());
  ExpectFusedCast(bytes, "Transpose+Div+Sub+Div");
  EXPECT_EQ(Load(bytes, true, 1)->num_layers(), 2);  // the lookup and the Conv
  EXPECT_EQ(Load(bytes, false, 1)->num_layers(), 6);
  ExpectSameResults(bytes, {1, 6, 9, 3});
  // The chain's own output, compared bit for bit.
  ExpectSameResults(PixelModel({1, 6, 9, 3}, TorchvisionChain(), 5), {1, 6, 9, 3});
}

TEST(PixelInputTest, CastBeforeTransposeAndConstantsOnEitherSide) {
  const std::vector<Step> steps = {CastToFloat(),         {"Mul", {3}, {0.5f, 2.f, -1.f}, true},
                                   ToChannelsFirst(),     {"Sub", {3, 1, 1}, {1.f, 2.f, 3.f}, true},
                                   {"Add", {1}, {0.25f}}, {"Div", {1, 1, 1, 1}, {7.f}, true}};
  const std::string bytes = PixelModel({1, 4, 5, 3}, steps);
  ExpectFusedCast(bytes, "Mul+Transpose+Sub+Add+Div");
  ExpectSameResults(bytes, {1, 4, 5, 3});
  ExpectSameResults(PixelModel({1, 4, 5, 3}, steps, 6), {1, 4, 5, 3});
}

TEST(PixelInputTest, ChannelsFirstPixelsNeedNoTranspose) {
  const std::vector<Step> steps = {
      CastToFloat(), {"Sub", {3, 1, 1}, {10.f, 20.f, 30.f}}, {"Div", {}, {64.f}}};
  const std::string bytes = PixelModel({1, 3, 5, 4}, steps);
  ExpectFusedCast(bytes, "Sub+Div");
  ExpectSameResults(bytes, {1, 3, 5, 4});
  ExpectSameResults(PixelModel({1, 3, 5, 4}, steps, 3), {1, 3, 5, 4});
}

TEST(PixelInputTest, FusionStopsWhereATableCannotFollow) {
  // A constant that varies along two axes stops the chain; what came before
  // is still fused, and the results are the plain graph's.
  const std::vector<int64_t> shape = {1, 4, 5, 3};
  std::vector<float> grid(3 * 4);
  for (size_t i = 0; i < grid.size(); ++i) grid[i] = static_cast<float>(i);
  std::vector<Step> steps = TorchvisionChain();
  steps.insert(steps.begin() + 3, Step{"Add", {1, 3, 4, 1}, grid});
  const std::string two_axes = PixelModel(shape, steps);
  ExpectFusedCast(two_axes, "Transpose+Div");
  ExpectSameResults(two_axes, shape);

  // A value another node also reads ends the chain there.
  const std::string shared = PixelModel(shape, TorchvisionChain(), 3);
  ExpectFusedCast(shared, "Transpose+Div");
  ExpectSameResults(shared, shape);
}

// A pipeline's first stage is provisioned with a file that keeps only its
// layers' weights: the constants the table was computed from are among them
// (initializers here, Constant nodes in the zoo's models), so the stage
// computes the whole model's table and results.
void ExpectStageFileComputesTheSame(const std::string& file, const std::vector<int64_t>& shape) {
  auto sources = LayerWeightSources::Of(file);
  ASSERT_TRUE(sources.ok()) << sources.status().ToString();
  auto stage_file = PartitionModelFile(file, *sources, 0, 1);
  ASSERT_TRUE(stage_file.ok()) << stage_file.status().ToString();
  ImportOptions import;
  import.synthesize_absent_weights = true;  // as an enclave does for a partition
  auto graph = ImportOnnxBytes(*stage_file, "stage.onnx", nullptr, {}, import);
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  ModelOptions options;
  options.partition = true;
  options.keep_begin = 0;
  options.keep_end = 1;
  auto stage = Model::FromGraph(std::move(graph).value(), options);
  ASSERT_TRUE(stage.ok()) << stage.status().ToString();
  ASSERT_TRUE(CheckPartitionWeights(**stage).ok());
  std::unique_ptr<Model> whole = Load(file, true, 1);
  const Tensor x = RandomPixels(shape);
  auto want = whole->Run(0, 1, {x});
  auto got = (*stage)->Run(0, 1, {x});
  ASSERT_TRUE(want.ok() && got.ok()) << got.status().ToString();
  ASSERT_EQ((*got)[0].bytes(), (*want)[0].bytes());
  EXPECT_EQ(std::memcmp((*got)[0].raw(), (*want)[0].raw(), (*got)[0].bytes()), 0);
}

TEST(PixelInputTest, AStagesFileKeepsTheConstantsOfItsTable) {
  ExpectStageFileComputesTheSame(PixelModel({1, 6, 9, 3}, TorchvisionChain()), {1, 6, 9, 3});
  zoo::ZooOptions pixels;
  pixels.pixel_input = true;
  ExpectStageFileComputesTheSame(zoo::BuildModel("tiny", 3, pixels).value(), {1, 32, 32, 3});
}

TEST(PixelInputTest, ArithmeticOnBytesIsRefusedAtLoadWithTheType) {
  auto graph = ImportOnnxBytes(PixelModel({1, 3, 4, 5}, {}), "test.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  auto model = Model::FromGraph(std::move(graph).value(), ModelOptions());
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().ToString().find("uint8"), std::string::npos)
      << model.status().ToString();
}

TEST(PixelInputTest, AFrameOfFloatsForAPixelInputIsRefused) {
  std::unique_ptr<Model> model = Load(PixelModel({1, 6, 9, 3}, TorchvisionChain()), true, 1);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->cuts().front().infos[0].dtype, DataType::kUint8);
  const Tensor floats = Tensor::Zeros(DataType::kFloat32, {1, 6, 9, 3}).value();
  auto out = model->Run({floats});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().ToString().find("should be uint8"), std::string::npos)
      << out.status().ToString();
}

TEST(PixelInputTest, PixelsCrossTheCodecAsBytes) {
  const Tensor x = RandomPixels({1, 6, 9, 3});
  std::vector<uint8_t> encoded;
  EncodeTensors({x}, &encoded);
  EXPECT_LT(encoded.size(), 6u * 9 * 3 + 64);
  auto decoded = DecodeTensors(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), 1u);
  EXPECT_EQ((*decoded)[0].dtype(), DataType::kUint8);
  EXPECT_EQ((*decoded)[0].shape(), x.shape());
  EXPECT_EQ(std::memcmp((*decoded)[0].raw(), x.raw(), x.bytes()), 0);
}

}  // namespace
}  // namespace serdab::engine
