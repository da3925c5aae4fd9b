// FusePadPool (graph_passes.h): a zero Pad around the spatial axes followed
// by an unpadded AveragePool becomes one AveragePool that counts the pads,
// with the plain graph's results; any other Pad is left alone.
#include <gtest/gtest.h>
#include <onnx/onnx.pb.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "enclave/engine/model.h"
#include "tests/engine/model_test_util.h"

namespace serdab::engine {
namespace {

struct PadPoolCase {
  std::vector<int64_t> pads = {0, 0, 1, 1, 0, 0, 1, 1};  // Pad's, all four axes
  float value = 0.f;
  int opset = 13;
  std::vector<int64_t> strides = {1, 1};
  int64_t ceil_mode = 0;
  bool second_reader = false;        // a Relu also reads the Pad's output
  std::vector<int64_t> second_pads;  // a second Pad after the first, when given
  std::vector<int64_t> pool_pads = {0, 0, 0, 0};
  int64_t count_include_pad = 0;
};

void AddFloatValue(onnx::ValueInfoProto* vi, const std::string& name,
                   const std::vector<int64_t>& dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

// x [1, 4, 9, 8] -> Pad (-> Pad) -> AveragePool 3x3 -> y (and, with
// second_reader, Pad -> Relu -> z). Output shapes are left for the engine
// to infer.
std::string PadPoolModel(const PadPoolCase& c) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(c.opset);
  onnx::GraphProto* g = m.mutable_graph();
  AddFloatValue(g->add_input(), "x", {1, 4, 9, 8});
  g->add_output()->set_name("y");
  onnx::NodeProto* pad = g->add_node();
  pad->set_op_type("Pad");
  pad->set_name("pad");
  pad->add_input("x");
  pad->add_output(!c.second_pads.empty() ? "padded_once" : "padded");
  if (c.opset < 11) {
    onnx::AttributeProto* pads = pad->add_attribute();
    pads->set_name("pads");
    pads->set_type(onnx::AttributeProto::INTS);
    for (int64_t p : c.pads) pads->add_ints(p);
    onnx::AttributeProto* value = pad->add_attribute();
    value->set_name("value");
    value->set_type(onnx::AttributeProto::FLOAT);
    value->set_f(c.value);
  } else {
    onnx::TensorProto* pads = g->add_initializer();
    pads->set_name("pads");
    pads->set_data_type(onnx::TensorProto::INT64);
    pads->add_dims(static_cast<int64_t>(c.pads.size()));
    for (int64_t p : c.pads) pads->add_int64_data(p);
    onnx::TensorProto* value = g->add_initializer();
    value->set_name("value");
    value->set_data_type(onnx::TensorProto::FLOAT);
    value->add_float_data(c.value);
    pad->add_input("pads");
    pad->add_input("value");
  }
  if (!c.second_pads.empty()) {
    onnx::NodeProto* again = g->add_node();
    again->set_op_type("Pad");
    again->set_name("pad_again");
    again->add_input("padded_once");
    again->add_input("pads_again");
    again->add_output("padded");
    onnx::TensorProto* pads = g->add_initializer();
    pads->set_name("pads_again");
    pads->set_data_type(onnx::TensorProto::INT64);
    pads->add_dims(8);
    for (int64_t p : c.second_pads) pads->add_int64_data(p);
  }
  onnx::NodeProto* pool = g->add_node();
  pool->set_op_type("AveragePool");
  pool->set_name("pool");
  pool->add_input("padded");
  pool->add_output("y");
  auto ints = [&](const std::string& name, const std::vector<int64_t>& v) {
    onnx::AttributeProto* a = pool->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  };
  ints("kernel_shape", {3, 3});
  ints("strides", c.strides);
  ints("pads", c.pool_pads);
  auto set_int = [&](const std::string& name, int64_t v) {
    onnx::AttributeProto* a = pool->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  };
  set_int("ceil_mode", c.ceil_mode);
  set_int("count_include_pad", c.count_include_pad);
  if (c.second_reader) {
    g->add_output()->set_name("z");
    onnx::NodeProto* relu = g->add_node();
    relu->set_op_type("Relu");
    relu->set_name("relu");
    relu->add_input("padded");
    relu->add_output("z");
  }
  return m.SerializeAsString();
}

std::unique_ptr<Model> Load(const std::string& bytes, bool fuse) {
  ModelOptions options;
  options.fuse = fuse;
  options.optimized_kernels = fuse;
  options.num_threads = 2;
  return testing::LoadModelBytes(bytes, options);
}

// Whether a Pad survived as a layer of its own.
bool HasPadLayer(const Model& model) {
  for (const LayerInfo& layer : model.layers()) {
    if (layer.op_type == "Pad") return true;
  }
  return false;
}

// Runs the fused and the plain model on the same input; every output agrees
// within float rounding (the fused pool adds in another order).
void ExpectSameResults(const std::string& bytes) {
  std::unique_ptr<Model> fused = Load(bytes, true);
  std::unique_ptr<Model> plain = Load(bytes, false);
  Tensor x = Tensor::Create(DataType::kFloat32, {1, 4, 9, 8}).value();
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.5f, 1.f);
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = dist(rng);
  auto a = fused->Run({x});
  auto b = plain->Run({x});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(a->size(), b->size());
  for (size_t o = 0; o < a->size(); ++o) {
    const Tensor& ta = (*a)[o];
    const Tensor& tb = (*b)[o];
    ASSERT_EQ(ta.shape(), tb.shape());
    for (int64_t i = 0; i < ta.num_elements(); ++i) {
      ASSERT_NEAR(ta.data<float>()[i], tb.data<float>()[i], 1e-5f) << "output " << o << " at " << i;
    }
  }
}

TEST(PadPoolFusionTest, AZeroSpatialPadBecomesThePoolsOwnCountedPads) {
  for (int opset : {10, 13}) {
    for (const std::vector<int64_t>& pads : {std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1},
                                             std::vector<int64_t>{0, 0, 0, 1, 0, 0, 2, 1}}) {
      for (const std::vector<int64_t>& strides :
           {std::vector<int64_t>{1, 1}, std::vector<int64_t>{2, 2}}) {
        PadPoolCase c;
        c.opset = opset;
        c.pads = pads;
        c.strides = strides;
        SCOPED_TRACE("opset " + std::to_string(opset) + ", pads " + std::to_string(pads[2]) +
                     std::to_string(pads[3]) + std::to_string(pads[6]) + std::to_string(pads[7]) +
                     ", stride " + std::to_string(strides[0]));
        const std::string bytes = PadPoolModel(c);
        std::unique_ptr<Model> fused = Load(bytes, true);
        ASSERT_EQ(fused->num_layers(), 1);
        EXPECT_EQ(fused->layers()[0].op_type, "AveragePool");
        EXPECT_EQ(fused->layers()[0].fused, "Pad");
        EXPECT_TRUE(HasPadLayer(*Load(bytes, false)));
        ExpectSameResults(bytes);
      }
    }
  }
}

TEST(PadPoolFusionTest, PadsBeforeAPoolThatCountsItsOwnAddUp) {
  PadPoolCase twice;
  twice.second_pads = {0, 0, 0, 1, 0, 0, 1, 0};
  PadPoolCase counted;
  counted.pool_pads = {1, 0, 0, 1};
  counted.count_include_pad = 1;
  PadPoolCase both = twice;
  both.pool_pads = {1, 0, 0, 1};
  both.count_include_pad = 1;
  int index = 0;
  for (const PadPoolCase& c : {twice, counted, both}) {
    SCOPED_TRACE("case " + std::to_string(index++));
    const std::string bytes = PadPoolModel(c);
    std::unique_ptr<Model> fused = Load(bytes, true);
    ASSERT_EQ(fused->num_layers(), 1);
    EXPECT_EQ(fused->layers()[0].op_type, "AveragePool");
    ExpectSameResults(bytes);
  }
}

TEST(PadPoolFusionTest, OtherPadsStayLayersOfTheirOwn) {
  PadPoolCase nonzero;
  nonzero.value = 1.5f;
  PadPoolCase channels;
  channels.pads = {0, 1, 1, 1, 0, 0, 1, 1};
  PadPoolCase ceil;
  ceil.strides = {2, 2};
  ceil.ceil_mode = 1;
  PadPoolCase shared;
  shared.second_reader = true;
  PadPoolCase uncounted;  // the pool's own pads are not counted, the Pad's would be
  uncounted.pool_pads = {1, 1, 1, 1};
  // Fused, the two Pads would pad W by 3 on the left: a whole 3-wide window
  // of padding. The second fuses; the first stays.
  PadPoolCase too_wide;
  too_wide.second_pads = {0, 0, 0, 2, 0, 0, 0, 1};
  int index = 0;
  for (const PadPoolCase& c : {nonzero, channels, ceil, shared, uncounted, too_wide}) {
    SCOPED_TRACE("case " + std::to_string(index++));
    const std::string bytes = PadPoolModel(c);
    EXPECT_TRUE(HasPadLayer(*Load(bytes, true)));
    ExpectSameResults(bytes);
  }
}

}  // namespace
}  // namespace serdab::engine
