// The importer's contract: every malformed or unsupported model is refused
// with one message that names the problem, and never crashes.
#include "enclave/engine/onnx_importer.h"

#include <gtest/gtest.h>
#include <onnx/onnx.pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cli/zoo/model_zoo.h"
#include "enclave/engine/model.h"

namespace serdab::engine {
namespace {

// A one-Conv model written with the protobuf API directly, so that tests can
// break it in ways a well-behaved builder would refuse to.
onnx::ModelProto ConvModel() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  auto add_value = [](onnx::ValueInfoProto* vi, const std::string& name,
                      std::initializer_list<int64_t> dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  };
  add_value(g->add_input(), "x", {1, 2, 4, 4});
  add_value(g->add_output(), "y", {1, 3, 4, 4});
  onnx::TensorProto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {3, 2, 1, 1}) w->add_dims(d);
  std::string raw(3 * 2 * 4, '\0');
  for (size_t i = 0; i < raw.size(); i += 4) {
    const float v = 0.25f * static_cast<float>(i / 4);
    std::memcpy(&raw[i], &v, 4);
  }
  w->set_raw_data(raw);
  onnx::NodeProto* conv = g->add_node();
  conv->set_op_type("Conv");
  conv->set_name("conv");
  conv->add_input("x");
  conv->add_input("w");
  conv->add_output("y");
  return m;
}

Status Load(const onnx::ModelProto& m) {
  Result<Graph> graph = ImportOnnxBytes(m.SerializeAsString(), "test.onnx");
  if (!graph.ok()) return graph.status();
  return Model::FromGraph(std::move(graph).value()).status();
}

TEST(OnnxImporterTest, LoadsAValidModel) { EXPECT_TRUE(Load(ConvModel()).ok()); }

TEST(OnnxImporterTest, RefusesGarbage) {
  Result<Graph> g = ImportOnnxBytes("this is not an onnx file, just some words\n", "junk.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("junk.onnx"), std::string::npos);
  EXPECT_NE(g.status().message().find("ONNX"), std::string::npos);
}

TEST(OnnxImporterTest, RefusesEmptyAndMissingFiles) {
  EXPECT_FALSE(ImportOnnxBytes("", "empty.onnx").ok());
  Result<Graph> g = ImportOnnxFile("/nonexistent/model.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Status::Code::kIoError);
  EXPECT_NE(g.status().message().find("/nonexistent/model.onnx"), std::string::npos);
}

TEST(OnnxImporterTest, RefusesTruncatedModelsAtEveryLength) {
  Result<std::string> bytes = zoo::BuildModel("tiny", 1);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  // Cutting anywhere must fail cleanly: in the middle of a field, of a weight,
  // or exactly between two top-level fields (which leaves a parseable proto
  // missing its tail, caught by the graph checks).
  for (size_t len :
       {size_t{1}, size_t{7}, bytes->size() / 3, bytes->size() / 2, bytes->size() - 1}) {
    Result<Graph> g = ImportOnnxBytes(bytes->substr(0, len), "cut.onnx");
    Status s = g.ok() ? Model::FromGraph(std::move(g).value()).status() : g.status();
    EXPECT_FALSE(s.ok()) << "length " << len;
  }
}

TEST(OnnxImporterTest, NamesAnUnsupportedOp) {
  onnx::ModelProto m = ConvModel();
  m.mutable_graph()->mutable_node(0)->set_op_type("FooBar");
  Status s = Load(m);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kUnimplemented);
  EXPECT_NE(s.message().find("'FooBar'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'conv'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("opset 13"), std::string::npos) << s.message();
}

TEST(OnnxImporterTest, NamesAMissingInitializer) {
  onnx::ModelProto m = ConvModel();
  m.mutable_graph()->clear_initializer();
  Status s = Load(m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'w'"), std::string::npos) << s.message();
}

TEST(OnnxImporterTest, RefusesShortWeightData) {
  onnx::ModelProto m = ConvModel();
  m.mutable_graph()->mutable_initializer(0)->mutable_raw_data()->resize(10);
  Status s = Load(m);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("initializer 'w'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("24 bytes"), std::string::npos) << s.message();
}

TEST(OnnxImporterTest, RefusesExternalData) {
  onnx::ModelProto m = ConvModel();
  m.mutable_graph()->mutable_initializer(0)->set_data_location(onnx::TensorProto::EXTERNAL);
  Status s = Load(m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("external"), std::string::npos) << s.message();
}

TEST(OnnxImporterTest, RefusesOtherDomains) {
  onnx::ModelProto m = ConvModel();
  m.mutable_graph()->mutable_node(0)->set_domain("com.microsoft");
  Status s = Load(m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("com.microsoft::Conv"), std::string::npos) << s.message();
}

TEST(OnnxImporterTest, ConvertsTypedIntegerData) {
  onnx::ModelProto m = ConvModel();
  // Reshape the output through an int32 shape initializer given as int32_data.
  onnx::GraphProto* g = m.mutable_graph();
  g->mutable_node(0)->set_output(0, "conv_out");
  onnx::TensorProto* shape = g->add_initializer();
  shape->set_name("shape");
  shape->set_data_type(onnx::TensorProto::INT32);
  shape->add_dims(2);
  shape->add_int32_data(1);
  shape->add_int32_data(-1);
  onnx::NodeProto* reshape = g->add_node();
  reshape->set_op_type("Reshape");
  reshape->add_input("conv_out");
  reshape->add_input("shape");
  reshape->add_output("y");
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  Result<Graph> graph = ImportOnnxBytes(m.SerializeAsString(), "int32.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  auto model = Model::FromGraph(std::move(graph).value());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->cuts().back().infos[0].shape, (Shape{1, 48}));
}

// A model whose declared dims ask for far more than the file holds must be
// refused before anything is allocated for it: one line naming the tensor and
// what was expected, never std::bad_alloc.
Status LoadWithLimits(const onnx::ModelProto& m, const TensorLimits& limits) {
  Result<Graph> graph = ImportOnnxBytes(m.SerializeAsString(), "evil.onnx", nullptr, limits);
  if (!graph.ok()) return graph.status();
  return Model::FromGraph(std::move(graph).value()).status();
}

void ExpectRefused(const Status& s, std::initializer_list<const char*> words) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  for (const char* w : words) EXPECT_NE(s.message().find(w), std::string::npos) << s.message();
}

TEST(OnnxImporterTest, RefusesAHugeInitializerWithNoData) {
  onnx::ModelProto m = ConvModel();
  onnx::TensorProto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  for (int64_t d : {int64_t{1} << 20, int64_t{1} << 20, int64_t{1} << 20}) w->add_dims(d);
  w->clear_raw_data();
  ExpectRefused(Load(m), {"initializer 'w'", "[1048576,1048576,1048576]", "limit"});
}

TEST(OnnxImporterTest, RefusesDimsWhoseProductOverflows) {
  onnx::ModelProto m = ConvModel();
  onnx::TensorProto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  for (int64_t d : {int64_t{1} << 40, int64_t{1} << 40, int64_t{0}}) w->add_dims(d);
  ExpectRefused(Load(m), {"initializer 'w'", "64 bits"});
}

TEST(OnnxImporterTest, RefusesNegativeDims) {
  onnx::ModelProto m = ConvModel();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, -3);
  ExpectRefused(Load(m), {"initializer 'w'", "negative"});
}

TEST(OnnxImporterTest, RefusesDimsLargerThanTheDataPresent) {
  onnx::ModelProto m = ConvModel();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, 3000000);  // 24 MB declared, 24 B given
  ExpectRefused(Load(m), {"initializer 'w'", "should hold 24000000 bytes", "holds 24"});

  onnx::ModelProto typed = ConvModel();
  onnx::TensorProto* w = typed.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->set_dims(0, 3000000);
  for (int i = 0; i < 6; ++i) w->add_float_data(1.f);
  ExpectRefused(Load(typed), {"initializer 'w'", "should hold 6000000 values", "holds 6"});
}

TEST(OnnxImporterTest, RefusesValuesInAFieldTheTypeDoesNotUse) {
  onnx::ModelProto m = ConvModel();
  onnx::TensorProto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->set_data_type(onnx::TensorProto::INT64);
  for (int i = 0; i < 6; ++i) w->add_float_data(1e30f);  // no int64 can hold it
  ExpectRefused(Load(m), {"initializer 'w'", "typed field"});
}

TEST(OnnxImporterTest, RefusesAHugeConstantAttribute) {
  onnx::ModelProto m = ConvModel();
  onnx::GraphProto* g = m.mutable_graph();
  onnx::NodeProto* constant = g->add_node();
  constant->set_op_type("Constant");
  constant->set_name("big");
  constant->add_output("unused");
  onnx::AttributeProto* value = constant->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {int64_t{1} << 30, int64_t{1} << 30}) value->mutable_t()->add_dims(d);
  ExpectRefused(Load(m), {"attribute 'value' of node 'big'", "limit"});
}

TEST(OnnxImporterTest, RefusesAHugeDeclaredInputShape) {
  onnx::ModelProto m = ConvModel();
  auto* shape = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type();
  shape->mutable_shape()->mutable_dim(2)->set_dim_value(int64_t{1} << 20);
  shape->mutable_shape()->mutable_dim(3)->set_dim_value(int64_t{1} << 20);
  ExpectRefused(Load(m), {"graph input 'x'", "limit"});
}

TEST(OnnxImporterTest, HoldsEachTensorAndTheTotalToTheGivenLimits) {
  const onnx::ModelProto m = ConvModel();  // one 24-byte weight
  EXPECT_TRUE(LoadWithLimits(m, {.max_tensor_bytes = 256, .max_total_bytes = 24}).ok());
  ExpectRefused(LoadWithLimits(m, {.max_tensor_bytes = 16, .max_total_bytes = 1024}),
                {"initializer 'w'", "limit of 16 bytes for one tensor"});

  onnx::ModelProto two = ConvModel();
  *two.mutable_graph()->add_initializer() = two.graph().initializer(0);
  two.mutable_graph()->mutable_initializer(1)->set_name("w2");
  ExpectRefused(LoadWithLimits(two, {.max_tensor_bytes = 256, .max_total_bytes = 40}),
                {"initializer 'w2'", "limit of 40 bytes in total"});
}

// A model of `x` [1, 1] -> Add(x, folded) -> y, where `folded` comes from
// node 'evil' of type `op`, which reads x (unless it is ConstantOfShape) and
// the int64 initializer `shape`.
onnx::ModelProto FoldingModel(const std::string& op, std::vector<int64_t> shape_values) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  onnx::ValueInfoProto* x = g->add_input();
  x->set_name("x");
  auto* tt = x->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_value(1);
  tt->mutable_shape()->add_dim()->set_dim_value(1);
  g->add_output()->set_name("y");
  onnx::TensorProto* shape = g->add_initializer();
  shape->set_name("shape");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(static_cast<int64_t>(shape_values.size()));
  for (int64_t v : shape_values) shape->add_int64_data(v);
  onnx::NodeProto* node = g->add_node();
  node->set_op_type(op);
  node->set_name("evil");
  if (op != "ConstantOfShape") node->add_input("x");
  node->add_input("shape");
  node->add_output("folded");
  onnx::NodeProto* add = g->add_node();
  add->set_op_type("Add");
  add->add_input("x");
  add->add_input("folded");
  add->add_output("y");
  return m;
}

TEST(OnnxImporterTest, ShapeInferenceRefusesHugeConstantOfShape) {
  ExpectRefused(Load(FoldingModel("ConstantOfShape", {1 << 20, 1 << 20, 1 << 20})),
                {"node 'evil' (ConstantOfShape)", "[1048576,1048576,1048576]", "limit"});
  ExpectRefused(Load(FoldingModel("ConstantOfShape", {int64_t{1} << 62, 4})),
                {"node 'evil' (ConstantOfShape)", "64 bits"});
}

TEST(OnnxImporterTest, ShapeInferenceRefusesHugeExpand) {
  // Not foldable (x is an input): the bound protects the activations' sizes.
  ExpectRefused(Load(FoldingModel("Expand", {1 << 20, 1 << 20, 1 << 20})),
                {"node 'evil' (Expand)", "limit"});
}

// Kernels that build per-index tables in Setup check the output first (a
// 365-byte model used to spin building 2^40-entry Pad maps; onnx_import_fuzz).
TEST(OnnxImporterTest, ShapeInferenceRefusesHugePadsBeforeBuildingTables) {
  ExpectRefused(Load(FoldingModel("Pad", {0, int64_t{1} << 40, 0, 0})),
                {"node 'evil' (Pad)", "limit"});
  ExpectRefused(Load(FoldingModel("Pad", {0, std::numeric_limits<int64_t>::max(), 0, 1})),
                {"node 'evil' (Pad)", "overflow"});
  ExpectRefused(Load(FoldingModel("Pad", {0, std::numeric_limits<int64_t>::min(), 0, 1})),
                {"node 'evil' (Pad)", "crop"});
}

// Strides, dilations and pads are the model's: values whose products would
// overflow int64 are refused rather than computed with.
TEST(OnnxImporterTest, RefusesWindowGeometryThatWouldOverflow) {
  auto with_ints = [](const std::string& op, const char* name, std::vector<int64_t> values) {
    onnx::ModelProto m = ConvModel();
    onnx::NodeProto* node = m.mutable_graph()->mutable_node(0);
    node->set_op_type(op);
    if (op != "Conv") {
      node->mutable_input()->RemoveLast();
      onnx::AttributeProto* kernel = node->add_attribute();
      kernel->set_name("kernel_shape");
      kernel->set_type(onnx::AttributeProto::INTS);
      for (int64_t k : {3, 3}) kernel->add_ints(k);
    }
    onnx::AttributeProto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
    return m;
  };
  constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();
  for (const std::string op : {"Conv", "MaxPool", "AveragePool"}) {
    ExpectRefused(Load(with_ints(op, "dilations", {int64_t{1} << 62, 1})), {"'conv'", "2^31"});
    ExpectRefused(Load(with_ints(op, "pads", {kHuge, 0, 0, 0})), {"'conv'", "2^31"});
    ExpectRefused(Load(with_ints(op, "strides", {kHuge, 1})), {"'conv'", "2^31"});
  }
}

TEST(OnnxImporterTest, RefusesAReshapeWhoseSizesOverflow) {
  // Found by onnx_import_fuzz: the product of the target sizes overflowed.
  ExpectRefused(Load(FoldingModel("Reshape", {3, int64_t{1} << 62, -1})),
                {"node 'evil' (Reshape)", "more elements"});
}

TEST(OnnxImporterTest, FoldingIsHeldToTheTotalLimit) {
  // Each folded tensor is within the per-tensor limit, but not the total.
  const TensorLimits limits{.max_tensor_bytes = 1 << 20, .max_total_bytes = 1 << 20};
  EXPECT_TRUE(LoadWithLimits(FoldingModel("ConstantOfShape", {1, 1000}), limits).ok());
  ExpectRefused(LoadWithLimits(FoldingModel("ConstantOfShape", {1, 300000}), limits),
                {"node 'evil' (ConstantOfShape)", "limit of 1048576 bytes"});
  onnx::ModelProto twice = FoldingModel("ConstantOfShape", {1, 100000});  // 400 kB each
  onnx::GraphProto* g = twice.mutable_graph();
  for (int i = 0; i < 2; ++i) {
    onnx::NodeProto* more = g->add_node();
    *more = g->node(0);
    more->set_name("evil" + std::to_string(i + 2));
    more->set_output(0, "folded" + std::to_string(i + 2));
    onnx::NodeProto* add = g->add_node();
    add->set_op_type("Add");
    add->add_input(i == 0 ? "y" : "y2");
    add->add_input(more->output(0));
    add->add_output(i == 0 ? "y2" : "y3");
  }
  g->mutable_output(0)->set_name("y3");
  ExpectRefused(LoadWithLimits(twice, limits), {"node 'evil3'", "in total"});
}

// Subgraphs are skipped unread by the decoder, so an attribute holding one is
// refused, whatever type it claims and however deep the graphs nest.
TEST(OnnxImporterTest, RefusesSubgraphsWhateverTheAttributeTypeSays) {
  for (auto type : {onnx::AttributeProto::GRAPH, onnx::AttributeProto::INT}) {
    onnx::ModelProto m = ConvModel();
    onnx::AttributeProto* a = m.mutable_graph()->mutable_node(0)->add_attribute();
    a->set_name("then_branch");
    a->set_type(type);
    a->mutable_g()->add_node()->set_op_type("Identity");
    ExpectRefused(Load(m), {"node 'conv'", "'then_branch'", "subgraph"});
  }
}

TEST(OnnxImporterTest, RefusesDeeplyNestedSubgraphs) {
  onnx::ModelProto m = ConvModel();
  onnx::NodeProto* node = m.mutable_graph()->add_node();
  node->set_name("outer_if");
  for (int depth = 0; depth < 300; ++depth) {  // protobuf's own parser stops at 100
    node->set_op_type("If");
    onnx::AttributeProto* a = node->add_attribute();
    a->set_name("then_branch");
    a->set_type(onnx::AttributeProto::GRAPH);
    node = a->mutable_g()->add_node();
  }
  ExpectRefused(Load(m), {"node 'outer_if'", "subgraph", "without its post-processing graph"});
}

// Architecture-only models: the weights' data is removed, the rest kept, and
// an import that synthesizes absent weights gives the same model to time.

std::unique_ptr<Model> LoadBytes(const std::string& bytes, const ImportOptions& options) {
  Result<Graph> graph = ImportOnnxBytes(bytes, "model.onnx", nullptr, {}, options);
  EXPECT_TRUE(graph.ok()) << graph.status().ToString();
  if (!graph.ok()) return nullptr;
  auto model = Model::FromGraph(std::move(graph).value());
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(model).value() : nullptr;
}

ImportOptions Synthesize() {
  ImportOptions options;
  options.synthesize_absent_weights = true;
  return options;
}

// Whether `haystack` holds a run of `run` bytes of some weight's raw_data.
// Any such run holds 16 bytes starting at a 4-byte-aligned offset of the
// weight, so only those are looked up, then each hit is checked in full.
bool SharesAWeightRun(const std::string& haystack, const onnx::ModelProto& original, size_t run) {
  constexpr size_t kKey = 16;
  std::multimap<std::string_view, size_t> keys;
  for (size_t i = 0; i + kKey <= haystack.size(); ++i)
    keys.emplace(std::string_view(haystack).substr(i, kKey), i);
  for (const onnx::TensorProto& init : original.graph().initializer()) {
    const std::string_view raw = init.raw_data();
    for (size_t o = 0; o + kKey <= raw.size(); o += 4) {
      auto [first, last] = keys.equal_range(raw.substr(o, kKey));
      for (auto it = first; it != last; ++it) {
        for (size_t back = 0; back <= std::min(o, run - kKey); ++back) {
          const size_t at = it->second;
          if (at < back || at - back + run > haystack.size() || o - back + run > raw.size()) {
            continue;
          }
          if (haystack.compare(at - back, run, raw.substr(o - back, run)) == 0) return true;
        }
      }
    }
  }
  return false;
}

TEST(OnnxImporterTest, ArchitectureOnlyModelsKeepLayersCutsAndShapesButNoWeights) {
  for (const char* name : {"tiny", "resnet18", "mobilenet_v2", "efficientnet_b0"}) {
    SCOPED_TRACE(name);
    Result<std::string> bytes = zoo::BuildModel(name, 2);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    uint64_t removed = 0;
    Result<std::string> arch = ArchitectureOnly(*bytes, &removed);
    ASSERT_TRUE(arch.ok()) << arch.status().ToString();
    EXPECT_LT(arch->size() * 20, bytes->size());
    // Only the enclosing messages' length prefixes shrink besides.
    EXPECT_LE(removed, bytes->size() - arch->size());
    EXPECT_GT(removed, (bytes->size() - arch->size()) / 100 * 99);

    onnx::ModelProto original;
    ASSERT_TRUE(original.ParseFromString(*bytes));
    onnx::ModelProto stripped;
    ASSERT_TRUE(stripped.ParseFromString(*arch));
    ASSERT_EQ(stripped.graph().initializer_size(), original.graph().initializer_size());
    for (int i = 0; i < original.graph().initializer_size(); ++i) {
      const onnx::TensorProto& a = original.graph().initializer(i);
      const onnx::TensorProto& b = stripped.graph().initializer(i);
      EXPECT_EQ(b.name(), a.name());
      EXPECT_EQ(b.data_type(), a.data_type());
      EXPECT_EQ(std::vector<int64_t>(b.dims().begin(), b.dims().end()),
                std::vector<int64_t>(a.dims().begin(), a.dims().end()));
    }
    EXPECT_FALSE(SharesAWeightRun(*arch, original, 64));

    std::unique_ptr<Model> real = LoadBytes(*bytes, {});
    std::unique_ptr<Model> synthetic = LoadBytes(*arch, Synthesize());
    ASSERT_TRUE(real && synthetic);
    EXPECT_EQ(synthetic->weight_bytes(), real->weight_bytes());
    ASSERT_EQ(synthetic->num_layers(), real->num_layers());
    for (int k = 0; k < real->num_layers(); ++k) {
      const LayerInfo& a = real->layers()[k];
      const LayerInfo& b = synthetic->layers()[k];
      EXPECT_EQ(b.name, a.name);
      EXPECT_EQ(b.op_type, a.op_type);
      EXPECT_EQ(b.fused, a.fused);
      EXPECT_EQ(b.weight_bytes, a.weight_bytes);
      EXPECT_EQ(b.flops, a.flops);
      ASSERT_EQ(b.outputs.size(), a.outputs.size());
      for (size_t o = 0; o < a.outputs.size(); ++o) {
        EXPECT_EQ(b.outputs[o].shape, a.outputs[o].shape) << a.name;
      }
    }
    ASSERT_EQ(synthetic->cuts().size(), real->cuts().size());
    for (size_t c = 0; c < real->cuts().size(); ++c) {
      EXPECT_EQ(synthetic->cuts()[c].names, real->cuts()[c].names);
      EXPECT_EQ(synthetic->cuts()[c].bytes, real->cuts()[c].bytes);
    }
  }
}

TEST(OnnxImporterTest, AnArchitectureOnlyModelNeedsSynthesisAndNamesAnInitializer) {
  Result<std::string> bytes = zoo::BuildModel("tiny", 2);
  ASSERT_TRUE(bytes.ok());
  Result<std::string> arch = ArchitectureOnly(*bytes);
  ASSERT_TRUE(arch.ok()) << arch.status().ToString();
  Result<Graph> graph = ImportOnnxBytes(*arch, "arch.onnx");
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().code(), Status::Code::kInvalidArgument);
  ExpectRefused(graph.status(), {"arch.onnx", "initializer '", "carries no data"});
}

TEST(OnnxImporterTest, SyntheticWeightsAreDeterministicFiniteAndNormal) {
  Result<std::string> bytes = zoo::BuildModel("mobilenet_v2", 2);
  ASSERT_TRUE(bytes.ok());
  Result<std::string> arch = ArchitectureOnly(*bytes);
  ASSERT_TRUE(arch.ok()) << arch.status().ToString();

  Result<Graph> graph = ImportOnnxBytes(*arch, "arch.onnx", nullptr, {}, Synthesize());
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  for (const Value& v : graph->values()) {
    if (!v.is_constant() || v.constant.dtype() != DataType::kFloat32) continue;
    const float* p = v.constant.data<float>();
    for (int64_t i = 0; i < v.constant.num_elements(); ++i) {
      ASSERT_TRUE(std::isnormal(p[i])) << v.name << "[" << i << "] = " << p[i];
    }
  }

  std::unique_ptr<Model> a = LoadBytes(*arch, Synthesize());
  std::unique_ptr<Model> b = LoadBytes(*arch, Synthesize());
  ASSERT_TRUE(a && b);
  Tensor x = Tensor::Create(DataType::kFloat32, a->cuts()[0].infos[0].shape).value();
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    x.data<float>()[i] = static_cast<float>(i % 255) / 127.f - 1.f;
  }
  auto ya = a->Run({x});
  auto yb = b->Run({x});
  ASSERT_TRUE(ya.ok() && yb.ok());
  const Tensor& out = (*ya)[0];
  ASSERT_EQ(out.bytes(), (*yb)[0].bytes());
  EXPECT_EQ(std::memcmp(out.raw(), (*yb)[0].raw(), out.bytes()), 0);
  float lo = out.data<float>()[0], hi = lo;
  for (int64_t i = 0; i < out.num_elements(); ++i) {
    ASSERT_TRUE(std::isfinite(out.data<float>()[i])) << i;
    lo = std::min(lo, out.data<float>()[i]);
    hi = std::max(hi, out.data<float>()[i]);
  }
  EXPECT_LT(lo, hi);  // not a constant output
}

// Conv's weight and a Constant node's float value are weights; the constants
// Resize, Clip and a folded Reshape read are not, and keep their data.
TEST(OnnxImporterTest, ArchitectureOnlyKeepsTheConstantsKernelsRead) {
  onnx::ModelProto m = ConvModel();
  onnx::GraphProto* g = m.mutable_graph();
  g->mutable_node(0)->set_output(0, "conv_out");
  auto add_float = [&](const std::string& name, std::vector<float> values) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    if (values.size() != 1) t->add_dims(static_cast<int64_t>(values.size()));
    for (float v : values) t->add_float_data(v);
  };
  add_float("lo", {0.f});
  add_float("hi", {6.f});
  add_float("scales", {1.f, 1.f, 2.f, 2.f});
  add_float("flat", {1.f, -1.f});  // cast to the shape a Reshape reads
  auto add_node = [&](const std::string& op, std::vector<std::string> in, const std::string& out) {
    onnx::NodeProto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(out);
    for (const std::string& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  };
  onnx::NodeProto* k = add_node("Constant", {}, "k");
  onnx::AttributeProto* value = k->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  value->mutable_t()->add_dims(3);
  value->mutable_t()->add_dims(1);
  value->mutable_t()->add_dims(1);
  for (float v : {2.f, 3.f, 4.f}) value->mutable_t()->add_float_data(v);
  add_node("Mul", {"conv_out", "k"}, "scaled");
  add_node("Clip", {"scaled", "lo", "hi"}, "clipped");
  add_node("Resize", {"clipped", "", "scales"}, "resized");
  add_node("Cast", {"flat"}, "shape")->add_attribute()->set_name("to");
  g->mutable_node(g->node_size() - 1)->mutable_attribute(0)->set_type(onnx::AttributeProto::INT);
  g->mutable_node(g->node_size() - 1)->mutable_attribute(0)->set_i(onnx::TensorProto::INT64);
  add_node("Reshape", {"resized", "shape"}, "y");
  g->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  const std::string bytes = m.SerializeAsString();

  Result<std::string> arch = ArchitectureOnly(bytes);
  ASSERT_TRUE(arch.ok()) << arch.status().ToString();
  onnx::ModelProto stripped;
  ASSERT_TRUE(stripped.ParseFromString(*arch));
  for (const onnx::TensorProto& t : stripped.graph().initializer()) {
    const bool data = !t.raw_data().empty() || t.float_data_size() > 0;
    EXPECT_EQ(data, t.name() != "w") << t.name();
  }
  EXPECT_EQ(stripped.graph().node(1).attribute(0).t().float_data_size(), 0);
  EXPECT_EQ(stripped.graph().node(1).attribute(0).t().dims_size(), 3);

  std::unique_ptr<Model> real = LoadBytes(bytes, {});
  std::unique_ptr<Model> synthetic = LoadBytes(*arch, Synthesize());
  ASSERT_TRUE(real && synthetic);
  EXPECT_EQ(real->cuts().back().infos[0].shape, (Shape{1, 192}));
  EXPECT_EQ(synthetic->cuts().back().infos[0].shape, real->cuts().back().infos[0].shape);
}

TEST(OnnxImporterTest, ArchitectureOnlyRefusesWhatIsNotAModel) {
  EXPECT_FALSE(ArchitectureOnly("").ok());
  EXPECT_FALSE(ArchitectureOnly("this is not an onnx file, just some words\n").ok());
  Result<std::string> bytes = zoo::BuildModel("tiny", 1);
  ASSERT_TRUE(bytes.ok());
  EXPECT_FALSE(ArchitectureOnly(bytes->substr(0, bytes->size() / 2)).ok());
}

}  // namespace
}  // namespace serdab::engine
