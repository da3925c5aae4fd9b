// The range planner places a Concat's inputs inside its output (model.cc,
// PlaceConcatInputs), so that producers write there and the Concat copies
// nothing. Every way a value can take part must give the bits of a run in
// which every Concat copies: nested Concats, a value in two Concats, a value
// twice in one, a value read again after its Concat, Concats along an axis
// whose parts are not contiguous, and model inputs and outputs in a Concat.
#include <gtest/gtest.h>
#include <onnx/onnx.pb.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"

namespace serdab::engine {
namespace {

class GraphWriter {
 public:
  GraphWriter() {
    model_.set_ir_version(8);
    model_.add_opset_import()->set_version(13);
    graph_ = model_.mutable_graph();
    onnx::ValueInfoProto* x = graph_->add_input();
    x->set_name("x");
    auto* tt = x->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {1, 4, 6, 6}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }

  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output) {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(output);
    for (const std::string& in : inputs) node->add_input(in);
    node->add_output(output);
    return node;
  }

  void Ints(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
    onnx::AttributeProto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }

  void Int(onnx::NodeProto* node, const std::string& name, int64_t value) {
    onnx::AttributeProto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }

  // A 3x3 convolution (padding 1) from `in` channels to `out`, seeded weights.
  void Conv(const std::string& input, int64_t in, int64_t out, const std::string& output) {
    onnx::TensorProto* w = graph_->add_initializer();
    w->set_name(output + "_w");
    w->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {out, in, int64_t{3}, int64_t{3}}) w->add_dims(d);
    std::normal_distribution<float> dist(0.f, 0.3f);
    for (int64_t i = 0; i < out * in * 9; ++i) w->add_float_data(dist(rng_));
    onnx::NodeProto* conv = Node("Conv", {input, output + "_w"}, output);
    Ints(conv, "kernel_shape", {3, 3});
    Ints(conv, "pads", {1, 1, 1, 1});
  }

  onnx::NodeProto* Concat(const std::vector<std::string>& inputs, int64_t axis,
                          const std::string& output) {
    onnx::NodeProto* node = Node("Concat", inputs, output);
    Int(node, "axis", axis);
    return node;
  }

  void Output(const std::string& name) { graph_->add_output()->set_name(name); }

  std::string Bytes() const { return model_.SerializeAsString(); }

 private:
  onnx::ModelProto model_;
  onnx::GraphProto* graph_ = nullptr;
  std::mt19937 rng_{5};
};

// x [1,4,6,6]:
//   a = Conv(x) 4->3, b = Conv(x) 4->2, c = MaxPool3x3(x)
//   inner = Concat(b, c)                  nested in outer
//   outer = Concat(a, inner, a)           a twice
//   again = Concat(a, b)                  a and b in a second Concat
//   wide  = Concat(b, b, axis 3)          parts not contiguous
//   with_x = Concat(x, c)                 a model input
//   t = Conv(x) 4->16, u = Conv(t) 16->2  larger than outer, and alive only
//                                         between a's Conv and outer's Concat
//   y1 = Conv(outer) 12->2, y2 = Relu(a) (a read after its Concats),
//   y3 = Conv(again) 5->2, y4 = Relu(wide), y5 = Conv(with_x) 8->2,
//   y6 = Relu(u), and
//   inner itself is an output of the model.
std::string ConcatModel() {
  GraphWriter g;
  g.Conv("x", 4, 3, "a");
  g.Conv("x", 4, 2, "b");
  onnx::NodeProto* pool = g.Node("MaxPool", {"x"}, "c");
  g.Ints(pool, "kernel_shape", {3, 3});
  g.Ints(pool, "pads", {1, 1, 1, 1});
  g.Conv("x", 4, 16, "t");
  g.Conv("t", 16, 2, "u");
  g.Concat({"b", "c"}, 1, "inner");
  g.Concat({"a", "inner", "a"}, 1, "outer");
  g.Concat({"a", "b"}, -3, "again");
  g.Concat({"b", "b"}, 3, "wide");
  g.Concat({"x", "c"}, 1, "with_x");
  g.Conv("outer", 12, 2, "y1");
  g.Node("Relu", {"a"}, "y2");
  g.Conv("again", 5, 2, "y3");
  g.Node("Relu", {"wide"}, "y4");
  g.Conv("with_x", 8, 2, "y5");
  g.Node("Relu", {"u"}, "y6");
  for (const char* name : {"y1", "y2", "y3", "y4", "y5", "y6", "inner"}) g.Output(name);
  return g.Bytes();
}

std::unique_ptr<Model> Load(int threads) {
  Result<Graph> graph = ImportOnnxBytes(ConcatModel(), "concat.onnx");
  EXPECT_TRUE(graph.ok()) << graph.status().ToString();
  ModelOptions options;
  options.num_threads = threads;
  auto model = Model::FromGraph(std::move(graph).value(), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

bool BitIdentical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

TEST(ConcatPlacementTest, ConcatsWithInputsInPlaceGiveTheBitsOfCopyingOnes) {
  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    std::unique_ptr<Model> model = Load(threads);
    Tensor x = Tensor::Create(DataType::kFloat32, {1, 4, 6, 6}).value();
    std::mt19937 rng(9);
    std::normal_distribution<float> dist;
    for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = dist(rng);

    // One layer at a time: every Concat reads range inputs and copies them.
    const int n = model->num_layers();
    std::vector<Tensor> cut = {x};
    for (int k = 0; k < n; ++k) {
      auto next = model->Run(k, k + 1, cut);
      ASSERT_TRUE(next.ok()) << "layer " << k << ": " << next.status().ToString();
      cut = std::move(next).value();
    }
    // Whole, twice (the second run reuses the planned arena), and split at
    // every cut, where some Concats place their inputs and others copy.
    for (int round = 0; round < 2; ++round) {
      auto whole = model->Run({x});
      ASSERT_TRUE(whole.ok()) << whole.status().ToString();
      ASSERT_EQ(whole->size(), cut.size());
      for (size_t o = 0; o < cut.size(); ++o) {
        EXPECT_TRUE(BitIdentical((*whole)[o], cut[o])) << "output " << o << ", round " << round;
      }
    }
    for (int k = 1; k < n; ++k) {
      auto head = model->Run(0, k, {x});
      ASSERT_TRUE(head.ok()) << head.status().ToString();
      auto tail = model->Run(k, n, *head);
      ASSERT_TRUE(tail.ok()) << tail.status().ToString();
      for (size_t o = 0; o < cut.size(); ++o) {
        EXPECT_TRUE(BitIdentical((*tail)[o], cut[o])) << "output " << o << ", cut " << k;
      }
    }
  }
}

}  // namespace
}  // namespace serdab::engine
