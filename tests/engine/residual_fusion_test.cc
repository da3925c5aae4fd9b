// FuseResidualAdds (graph_passes.h): a Conv whose output only an Add reads
// takes over that Add, and the Add's activation, when the Add's other operand
// has the output's shape and exists before the Conv runs. The fused model
// gives the plain graph's bits; every other Add stays a layer of its own.
//
// FuseInputBatchNorm: a 1x1 Conv that alone reads a BatchNormalization (and
// its Relu) takes it over, with the same bits; other BatchNormalizations stay.
//
// FuseActivations: x * HardSigmoid(x) with alpha 1/6 and beta 1/2 (HardSwish
// as exports before opset 14 spell it) goes into the Conv computing x, with
// the same bits; other HardSigmoids stay layers of their own.
#include <gtest/gtest.h>
#include <onnx/onnx.pb.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "enclave/engine/model.h"
#include "tests/engine/model_test_util.h"

namespace serdab::engine {
namespace {

constexpr int64_t kChannels = 8;
constexpr int64_t kSide = 10;

// A graph of 3x3 and 1x1 convolutions over x [1, 8, 10, 10], built node by
// node in the order given.
class GraphBuilder {
 public:
  GraphBuilder() {
    model_.set_ir_version(8);
    model_.add_opset_import()->set_version(13);
    onnx::ValueInfoProto* x = graph()->add_input();
    x->set_name("x");
    auto* tt = x->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {int64_t{1}, kChannels, kSide, kSide}) {
      tt->mutable_shape()->add_dim()->set_dim_value(d);
    }
  }

  // out = Conv(in) with a random weight and bias, `kernel` 1 or 3 ("same").
  void Conv(const std::string& in, const std::string& out, int64_t kernel) {
    const std::string w = out + ".w", b = out + ".b";
    Initializer(w, {kChannels, kChannels, kernel, kernel});
    Initializer(b, {kChannels});
    onnx::NodeProto* node = Node("Conv", {in, w, b}, out);
    onnx::AttributeProto* pads = node->add_attribute();
    pads->set_name("pads");
    pads->set_type(onnx::AttributeProto::INTS);
    for (int i = 0; i < 4; ++i) pads->add_ints(kernel / 2);
  }

  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& out) {
    onnx::NodeProto* node = graph()->add_node();
    node->set_op_type(op);
    node->set_name(out);
    for (const std::string& in : inputs) node->add_input(in);
    node->add_output(out);
    return node;
  }

  void Initializer(const std::string& name, const std::vector<int64_t>& dims, float lo = -0.5f,
                   float hi = 0.5f) {
    onnx::TensorProto* t = graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    std::uniform_real_distribution<float> dist(lo, hi);
    for (int64_t i = 0; i < n; ++i) t->add_float_data(dist(rng_));
  }

  // out = BatchNormalization(in) with random statistics (a positive variance).
  void BatchNorm(const std::string& in, const std::string& out, int64_t channels = kChannels) {
    Initializer(out + ".scale", {channels}, 0.5f, 1.5f);
    Initializer(out + ".bias", {channels});
    Initializer(out + ".mean", {channels});
    Initializer(out + ".var", {channels}, 0.1f, 2.f);
    Node("BatchNormalization", {in, out + ".scale", out + ".bias", out + ".mean", out + ".var"},
         out);
  }

  // out = HardSigmoid(in) with these alpha and beta.
  void HardSigmoid(const std::string& in, const std::string& out, float alpha, float beta) {
    onnx::NodeProto* node = Node("HardSigmoid", {in}, out);
    for (const auto& [name, value] : {std::pair{"alpha", alpha}, std::pair{"beta", beta}}) {
      onnx::AttributeProto* attr = node->add_attribute();
      attr->set_name(name);
      attr->set_type(onnx::AttributeProto::FLOAT);
      attr->set_f(value);
    }
  }

  void Output(const std::string& name) { graph()->add_output()->set_name(name); }

  std::string Bytes() const { return model_.SerializeAsString(); }

 private:
  onnx::GraphProto* graph() { return model_.mutable_graph(); }

  onnx::ModelProto model_;
  std::mt19937 rng_{4};
};

std::unique_ptr<Model> Load(const std::string& bytes, bool fuse, bool optimized) {
  ModelOptions options;
  options.fuse = fuse;
  options.optimized_kernels = optimized;
  options.num_threads = 2;
  return testing::LoadModelBytes(bytes, options);
}

// The layer named `name` ("op+fused"), or "" when there is none.
std::string Layer(const Model& model, const std::string& name) {
  for (const LayerInfo& layer : model.layers()) {
    if (layer.name == name) return layer.op_type + (layer.fused.empty() ? "" : "+" + layer.fused);
  }
  return "";
}

// The fused and the plain graph, on either kernel flavour, give the same bits.
void ExpectPlainGraphsBits(const std::string& bytes) {
  Tensor x = Tensor::Create(DataType::kFloat32, {1, kChannels, kSide, kSide}).value();
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = dist(rng);
  for (bool optimized : {false, true}) {
    SCOPED_TRACE(optimized ? "optimised" : "reference");
    auto fused = Load(bytes, true, optimized)->Run({x});
    auto plain = Load(bytes, false, optimized)->Run({x});
    ASSERT_TRUE(fused.ok()) << fused.status().ToString();
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    ASSERT_EQ(fused->size(), plain->size());
    for (size_t o = 0; o < fused->size(); ++o) {
      const Tensor& a = (*fused)[o];
      const Tensor& b = (*plain)[o];
      ASSERT_EQ(a.shape(), b.shape());
      EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.bytes()), 0) << "output " << o;
    }
  }
}

// A graph in which a fusion must not happen.
struct UnfusedCase {
  const char* what;
  void (*build)(GraphBuilder*);
};

// Each case's graph, ending in "y", keeps a layer of `op` and no layer whose
// fused ops mention `fused`, and gives the plain graph's bits.
void ExpectUnfused(const std::vector<UnfusedCase>& cases, const std::string& op,
                   const std::string& fused) {
  for (const UnfusedCase& c : cases) {
    SCOPED_TRACE(c.what);
    GraphBuilder g;
    c.build(&g);
    g.Output("y");
    const std::string bytes = g.Bytes();
    std::unique_ptr<Model> model = Load(bytes, true, true);
    bool kept = false;
    for (const LayerInfo& layer : model->layers()) {
      kept = kept || layer.op_type == op;
      EXPECT_EQ(layer.fused.find(fused), std::string::npos) << layer.name;
    }
    EXPECT_TRUE(kept);
    ExpectPlainGraphsBits(bytes);
  }
}

TEST(ResidualFusionTest, AnIdentityBlocksAddGoesIntoItsSecondConv) {
  GraphBuilder g;
  g.Conv("x", "a", 3);
  g.Node("Relu", {"a"}, "a_relu");
  g.Conv("a_relu", "b", 3);
  g.Node("Add", {"b", "x"}, "sum");
  g.Node("Relu", {"sum"}, "y");
  g.Output("y");
  const std::string bytes = g.Bytes();
  std::unique_ptr<Model> model = Load(bytes, true, true);
  EXPECT_EQ(model->num_layers(), 2);
  EXPECT_EQ(Layer(*model, "a"), "Conv+Relu");
  EXPECT_EQ(Layer(*model, "b"), "Conv+Add+Relu");
  ExpectPlainGraphsBits(bytes);
}

TEST(ResidualFusionTest, OfTwoConvsTheLaterTakesTheAdd) {
  // ResNet's downsampling block: the shortcut's Conv comes after the block's
  // last one, which is then the operand already computed.
  GraphBuilder g;
  g.Conv("x", "a", 3);
  g.Conv("a", "b", 3);
  g.Conv("x", "shortcut", 1);
  g.Node("Add", {"b", "shortcut"}, "y");
  g.Output("y");
  const std::string bytes = g.Bytes();
  std::unique_ptr<Model> model = Load(bytes, true, true);
  EXPECT_EQ(model->num_layers(), 3);
  EXPECT_EQ(Layer(*model, "b"), "Conv");
  EXPECT_EQ(Layer(*model, "shortcut"), "Conv+Add");
  ExpectPlainGraphsBits(bytes);
}

TEST(ResidualFusionTest, OtherAddsStayLayersOfTheirOwn) {
  ExpectUnfused(
      {
          {"a broadcast operand",
           [](GraphBuilder* g) {
             g->Conv("x", "b", 3);
             g->Initializer("scale", {1, kChannels, 1, 1});
             g->Node("Add", {"b", "scale"}, "y");
           }},
          {"a Conv output that is also the model's",
           [](GraphBuilder* g) {
             g->Conv("x", "b", 3);
             g->Node("Add", {"b", "x"}, "y");
             g->Output("b");
           }},
          {"a Conv output read twice",
           [](GraphBuilder* g) {
             g->Conv("x", "b", 3);
             g->Node("Add", {"b", "x"}, "sum");
             g->Node("Mul", {"sum", "b"}, "y");
           }},
          {"an activation between the Conv and the Add",
           [](GraphBuilder* g) {
             g->Conv("x", "b", 3);
             g->Node("Relu", {"b"}, "b_relu");
             g->Node("Add", {"b_relu", "x"}, "y");
           }},
          {"an operand computed after the Conv, not by a Conv",
           [](GraphBuilder* g) {
             g->Conv("x", "b", 3);
             g->Node("Sigmoid", {"x"}, "gate");
             g->Node("Add", {"b", "gate"}, "y");
           }},
      },
      "Add", "Add");
}

// DenseNet's layer: the concatenated features, a BatchNormalization and its
// Relu, then a 1x1 Conv, which takes the two over.
TEST(InputBatchNormFusionTest, A1x1ConvTakesOverTheBatchNormalizationBeforeIt) {
  GraphBuilder g;
  g.Conv("x", "a", 3);
  onnx::AttributeProto* axis = g.Node("Concat", {"x", "a"}, "features")->add_attribute();
  axis->set_name("axis");
  axis->set_type(onnx::AttributeProto::INT);
  axis->set_i(1);
  g.BatchNorm("features", "norm", 2 * kChannels);
  g.Node("Relu", {"norm"}, "norm_relu");
  g.Initializer("squeeze.w", {kChannels, 2 * kChannels, 1, 1});
  g.Node("Conv", {"norm_relu", "squeeze.w"}, "y");
  g.Output("y");
  const std::string bytes = g.Bytes();
  std::unique_ptr<Model> model = Load(bytes, true, true);
  EXPECT_EQ(Layer(*model, "y"), "Conv+BatchNormalization+Relu before");
  for (const LayerInfo& layer : model->layers()) {
    EXPECT_NE(layer.op_type, "BatchNormalization") << layer.name;
  }
  ExpectPlainGraphsBits(bytes);
}

TEST(InputBatchNormFusionTest, OtherBatchNormalizationsStayLayersOfTheirOwn) {
  ExpectUnfused(
      {
          {"a 3x3 Conv after it",
           [](GraphBuilder* g) {
             g->BatchNorm("x", "norm");
             g->Conv("norm", "y", 3);
           }},
          {"its output read twice",
           [](GraphBuilder* g) {
             g->BatchNorm("x", "norm");
             g->Conv("norm", "c", 1);
             g->Node("Add", {"c", "norm"}, "y");
           }},
          {"an activation other than Relu",
           [](GraphBuilder* g) {
             g->BatchNorm("x", "norm");
             g->Node("LeakyRelu", {"norm"}, "leaky");
             g->Conv("leaky", "y", 1);
           }},
      },
      "BatchNormalization", "before");
}

TEST(HardSwishFusionTest, AConvTakesOverAHardSigmoidTimesItsOutput) {
  for (bool gate_first : {false, true}) {
    SCOPED_TRACE(gate_first ? "Mul(gate, x)" : "Mul(x, gate)");
    GraphBuilder g;
    g.Conv("x", "a", 3);
    g.HardSigmoid("a", "gate", 1.f / 6.f, 0.5f);
    g.Node(
        "Mul",
        gate_first ? std::vector<std::string>{"gate", "a"} : std::vector<std::string>{"a", "gate"},
        "y");
    g.Output("y");
    const std::string bytes = g.Bytes();
    std::unique_ptr<Model> model = Load(bytes, true, true);
    EXPECT_EQ(Layer(*model, "a"), "Conv+HardSigmoid+Mul");
    EXPECT_EQ(model->num_layers(), 1);
    ExpectPlainGraphsBits(bytes);
  }
}

TEST(HardSwishFusionTest, OtherHardSigmoidsStayLayersOfTheirOwn) {
  ExpectUnfused(
      {
          {"ONNX's default alpha, 0.2",
           [](GraphBuilder* g) {
             g->Conv("x", "a", 1);
             g->HardSigmoid("a", "gate", 0.2f, 0.5f);
             g->Node("Mul", {"a", "gate"}, "y");
           }},
          {"a beta other than 1/2",
           [](GraphBuilder* g) {
             g->Conv("x", "a", 1);
             g->HardSigmoid("a", "gate", 1.f / 6.f, 0.25f);
             g->Node("Mul", {"a", "gate"}, "y");
           }},
          {"the gate times another tensor",
           [](GraphBuilder* g) {
             g->Conv("x", "a", 1);
             g->HardSigmoid("a", "gate", 1.f / 6.f, 0.5f);
             g->Node("Mul", {"x", "gate"}, "m");
             g->Node("Add", {"m", "a"}, "y");
           }},
      },
      "HardSigmoid", "HardSigmoid+Mul");
}

}  // namespace
}  // namespace serdab::engine
