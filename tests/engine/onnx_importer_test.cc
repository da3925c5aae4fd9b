// The importer's contract: every malformed or unsupported model is refused
// with one message that names the problem, and never crashes.
#include "enclave/engine/onnx_importer.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <string>

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

}  // namespace
}  // namespace serdab::engine
