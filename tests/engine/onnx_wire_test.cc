// The wire decoder's contract: it reads what protobuf's own parser reads from
// the same bytes, and refuses malformed bytes with one line naming the
// message and field, without reading past its input.
#include "enclave/engine/onnx_wire.h"

#include <gtest/gtest.h>
#include <onnx/onnx.pb.h>

#include <cstring>
#include <string>
#include <vector>

#include "cli/zoo/model_zoo.h"

namespace serdab::engine::onnx_wire {
namespace {

// --- Writing the wire format by hand --------------------------------------

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

std::string Key(uint32_t field, uint32_t wire_type) {
  return Varint(uint64_t{field} << 3 | wire_type);
}
std::string VarintField(uint32_t field, uint64_t v) { return Key(field, 0) + Varint(v); }
std::string LenField(uint32_t field, const std::string& payload) {
  return Key(field, 2) + Varint(payload.size()) + payload;
}
std::string Fixed32Field(uint32_t field, uint32_t v) {
  return Key(field, 5) + std::string(reinterpret_cast<const char*>(&v), 4);
}
std::string Fixed64Field(uint32_t field, uint64_t v) {
  return Key(field, 1) + std::string(reinterpret_cast<const char*>(&v), 8);
}
std::string FloatField(uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return Fixed32Field(field, bits);
}

// One unknown field of each wire type, numbered as no ONNX message uses.
std::string UnknownFields() {
  return VarintField(1000, 300) + Fixed64Field(1001, 7) + LenField(1002, "opaque") +
         Fixed32Field(1003, 9);
}

// A model of IR version 8, opset 13, whose graph is `graph`.
std::string ModelWithGraph(const std::string& graph) {
  return VarintField(1, 8) + LenField(8, VarintField(2, 13)) + LenField(7, graph);
}
std::string ModelWithInitializer(const std::string& tensor) {
  return ModelWithGraph(LenField(5, tensor));
}

// --- Comparing with protobuf's parse -------------------------------------

void ExpectSameTensor(const onnx::TensorProto& p, const TensorProto& w) {
  SCOPED_TRACE("tensor '" + p.name() + "'");
  EXPECT_EQ(w.name, p.name());
  EXPECT_EQ(w.data_type, p.data_type());
  EXPECT_EQ(w.dims, std::vector<int64_t>(p.dims().begin(), p.dims().end()));
  EXPECT_EQ(w.float_data, std::vector<float>(p.float_data().begin(), p.float_data().end()));
  EXPECT_EQ(w.int32_data, std::vector<int32_t>(p.int32_data().begin(), p.int32_data().end()));
  EXPECT_EQ(w.int64_data, std::vector<int64_t>(p.int64_data().begin(), p.int64_data().end()));
  EXPECT_EQ(w.double_data, std::vector<double>(p.double_data().begin(), p.double_data().end()));
  EXPECT_EQ(w.uint64_data, std::vector<uint64_t>(p.uint64_data().begin(), p.uint64_data().end()));
  EXPECT_EQ(w.has_raw_data, p.has_raw_data());
  EXPECT_TRUE(w.raw_data == p.raw_data());  // not EXPECT_EQ: no megabytes in a failure
  EXPECT_EQ(w.data_location, p.data_location());
  EXPECT_EQ(w.has_external_data, p.external_data_size() > 0);
}

void ExpectSameValueInfo(const onnx::ValueInfoProto& p, const ValueInfoProto& w) {
  SCOPED_TRACE("value '" + p.name() + "'");
  EXPECT_EQ(w.name, p.name());
  ASSERT_EQ(w.type.has_tensor_type, p.type().has_tensor_type());
  if (!p.type().has_tensor_type()) return;
  const onnx::TypeProto_Tensor& pt = p.type().tensor_type();
  EXPECT_EQ(w.type.tensor_type.elem_type, pt.elem_type());
  ASSERT_EQ(w.type.tensor_type.has_shape, pt.has_shape());
  ASSERT_EQ(w.type.tensor_type.shape.dim.size(), static_cast<size_t>(pt.shape().dim_size()));
  for (int i = 0; i < pt.shape().dim_size(); ++i) {
    const auto& pd = pt.shape().dim(i);
    const auto& wd = w.type.tensor_type.shape.dim[i];
    EXPECT_EQ(wd.has_dim_value, pd.has_dim_value()) << "dim " << i;
    if (pd.has_dim_value()) {
      EXPECT_EQ(wd.dim_value, pd.dim_value()) << "dim " << i;
    }
  }
}

void ExpectSameAttribute(const onnx::AttributeProto& p, const AttributeProto& w) {
  SCOPED_TRACE("attribute '" + p.name() + "'");
  EXPECT_EQ(w.name, p.name());
  EXPECT_EQ(w.type, p.type());
  EXPECT_EQ(w.f, p.f());
  EXPECT_EQ(w.i, p.i());
  EXPECT_EQ(w.s, p.s());
  EXPECT_EQ(w.floats, std::vector<float>(p.floats().begin(), p.floats().end()));
  EXPECT_EQ(w.ints, std::vector<int64_t>(p.ints().begin(), p.ints().end()));
  EXPECT_EQ(w.has_graph, p.has_g() || p.graphs_size() > 0);
  ExpectSameTensor(p.t(), w.t);
}

void ExpectSameNode(const onnx::NodeProto& p, const NodeProto& w) {
  SCOPED_TRACE("node '" + p.name() + "'");
  EXPECT_EQ(w.name, p.name());
  EXPECT_EQ(w.op_type, p.op_type());
  EXPECT_EQ(w.domain, p.domain());
  EXPECT_EQ(std::vector<std::string>(w.input.begin(), w.input.end()),
            std::vector<std::string>(p.input().begin(), p.input().end()));
  EXPECT_EQ(std::vector<std::string>(w.output.begin(), w.output.end()),
            std::vector<std::string>(p.output().begin(), p.output().end()));
  ASSERT_EQ(w.attribute.size(), static_cast<size_t>(p.attribute_size()));
  for (int i = 0; i < p.attribute_size(); ++i) ExpectSameAttribute(p.attribute(i), w.attribute[i]);
}

void ExpectSameModel(const onnx::ModelProto& p, const ModelProto& w) {
  EXPECT_EQ(w.ir_version, p.ir_version());
  ASSERT_EQ(w.opset_import.size(), static_cast<size_t>(p.opset_import_size()));
  for (int i = 0; i < p.opset_import_size(); ++i) {
    EXPECT_EQ(w.opset_import[i].domain, p.opset_import(i).domain());
    EXPECT_EQ(w.opset_import[i].version, p.opset_import(i).version());
  }
  ASSERT_EQ(w.has_graph, p.has_graph());
  const onnx::GraphProto& g = p.graph();
  ASSERT_EQ(w.graph.node.size(), static_cast<size_t>(g.node_size()));
  for (int i = 0; i < g.node_size(); ++i) ExpectSameNode(g.node(i), w.graph.node[i]);
  ASSERT_EQ(w.graph.initializer.size(), static_cast<size_t>(g.initializer_size()));
  for (int i = 0; i < g.initializer_size(); ++i) {
    ExpectSameTensor(g.initializer(i), w.graph.initializer[i]);
  }
  ASSERT_EQ(w.graph.input.size(), static_cast<size_t>(g.input_size()));
  for (int i = 0; i < g.input_size(); ++i) ExpectSameValueInfo(g.input(i), w.graph.input[i]);
  ASSERT_EQ(w.graph.output.size(), static_cast<size_t>(g.output_size()));
  for (int i = 0; i < g.output_size(); ++i) ExpectSameValueInfo(g.output(i), w.graph.output[i]);
}

// Both parsers accept `bytes` and read the same model from them.
void ExpectDecodesAsProtobufDoes(const std::string& bytes) {
  onnx::ModelProto p;
  ASSERT_TRUE(p.ParseFromString(bytes)) << "protobuf refuses the bytes";
  Result<ModelProto> w = DecodeModel(bytes);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ExpectSameModel(p, *w);
}

// The decoder refuses `bytes` with one line containing each of `words`.
void ExpectRefused(const std::string& bytes, std::initializer_list<const char*> words) {
  Result<ModelProto> w = DecodeModel(bytes);
  ASSERT_FALSE(w.ok());
  const std::string& m = w.status().message();
  EXPECT_EQ(w.status().code(), Status::Code::kInvalidArgument) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_NE(m.find("not a valid ONNX model"), std::string::npos) << m;
  for (const char* word : words) EXPECT_NE(m.find(word), std::string::npos) << m;
}

// --- Whole models ---------------------------------------------------------

TEST(OnnxWireTest, DecodesEveryZooModelAsProtobufDoes) {
  for (const char* name : {"tiny", "resnet18", "mobilenet_v2", "efficientnet_b0"}) {
    SCOPED_TRACE(name);
    Result<std::string> bytes = zoo::BuildModel(name, 3);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    ExpectDecodesAsProtobufDoes(*bytes);
  }
}

TEST(OnnxWireTest, RawDataIsAViewOfTheInputNotACopy) {
  Result<std::string> bytes = zoo::BuildModel("tiny", 1);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  Result<ModelProto> m = DecodeModel(*bytes);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_FALSE(m->graph.initializer.empty());
  for (const TensorProto& t : m->graph.initializer) {
    ASSERT_TRUE(t.has_raw_data);
    EXPECT_GE(t.raw_data.data(), bytes->data());
    EXPECT_LE(t.raw_data.data() + t.raw_data.size(), bytes->data() + bytes->size());
  }
}

// Every field the decoder knows, each in the encoding the onnx API picks.
onnx::ModelProto EveryField() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::OperatorSetIdProto* ml = m.add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(3);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("every_field");
  onnx::ValueInfoProto* x = g->add_input();
  x->set_name("x");
  auto* tt = x->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("batch");
  tt->mutable_shape()->add_dim()->set_dim_value(4);
  tt->mutable_shape()->add_dim();  // neither value nor parameter
  g->add_output()->set_name("y");
  auto add_tensor = [g](const std::string& name, int32_t type) {
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    t->add_dims(2);
    return t;
  };
  onnx::TensorProto* f = add_tensor("f", onnx::TensorProto::FLOAT);
  f->add_float_data(-1.5f);
  f->add_float_data(3e38f);
  onnx::TensorProto* i32 = add_tensor("i32", onnx::TensorProto::INT32);
  i32->add_int32_data(-7);
  i32->add_int32_data(INT32_MAX);
  onnx::TensorProto* i64 = add_tensor("i64", onnx::TensorProto::INT64);
  i64->add_int64_data(INT64_MIN);
  i64->add_int64_data(-1);
  onnx::TensorProto* d = add_tensor("d", onnx::TensorProto::DOUBLE);
  d->add_double_data(1e300);
  d->add_double_data(-0.0);
  onnx::TensorProto* u = add_tensor("u", onnx::TensorProto::UINT64);
  u->add_uint64_data(UINT64_MAX);
  u->add_uint64_data(0);
  onnx::TensorProto* ext = add_tensor("ext", onnx::TensorProto::FLOAT);
  ext->set_data_location(onnx::TensorProto::EXTERNAL);
  onnx::StringStringEntryProto* where = ext->add_external_data();
  where->set_key("location");
  where->set_value("weights.bin");
  onnx::TensorProto* empty_raw = add_tensor("empty_raw", onnx::TensorProto::FLOAT);
  empty_raw->set_raw_data("");
  onnx::NodeProto* n = g->add_node();
  n->set_name("n");
  n->set_op_type("Custom");
  n->set_domain("ai.onnx.ml");
  n->add_input("x");
  n->add_input("");
  n->add_input("f");
  n->add_output("y");
  auto add_attr = [n](const std::string& name, onnx::AttributeProto::AttributeType type) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  };
  add_attr("f", onnx::AttributeProto::FLOAT)->set_f(0.125f);
  add_attr("i", onnx::AttributeProto::INT)->set_i(-42);
  add_attr("s", onnx::AttributeProto::STRING)->set_s(std::string("a\0b", 3));
  onnx::AttributeProto* floats = add_attr("floats", onnx::AttributeProto::FLOATS);
  floats->add_floats(1.f);
  floats->add_floats(-2.f);
  onnx::AttributeProto* ints = add_attr("ints", onnx::AttributeProto::INTS);
  ints->add_ints(-1);
  ints->add_ints(int64_t{1} << 40);
  onnx::AttributeProto* t = add_attr("t", onnx::AttributeProto::TENSOR);
  t->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  t->mutable_t()->set_raw_data(std::string(8, '\x01'));
  onnx::AttributeProto* graph = add_attr("then_branch", onnx::AttributeProto::GRAPH);
  graph->mutable_g()->add_node()->set_op_type("Identity");
  onnx::AttributeProto* graphs = add_attr("branches", onnx::AttributeProto::GRAPHS);
  graphs->add_graphs()->set_name("branch");
  return m;
}

TEST(OnnxWireTest, DecodesEveryKnownFieldAsProtobufDoes) {
  ExpectDecodesAsProtobufDoes(EveryField().SerializeAsString());
}

// --- Encodings protobuf accepts ---------------------------------------------

TEST(OnnxWireTest, RepeatedScalarsMayBePackedUnpackedOrBoth) {
  const std::string tensor =
      LenField(8, "w") + VarintField(2, onnx::TensorProto::FLOAT) + VarintField(1, 2) +
      LenField(1, Varint(3) + Varint(300)) + VarintField(1, 5) +                // dims
      LenField(4, std::string(8, '\0')) + FloatField(4, 1.f) +                  // floats
      LenField(7, Varint(1) + Varint(uint64_t{1} << 62)) + VarintField(7, 9) +  // int64s
      LenField(4, "") + LenField(7, "");  // empty runs add nothing
  const std::string bytes = ModelWithInitializer(tensor);
  ExpectDecodesAsProtobufDoes(bytes);
  Result<ModelProto> m = DecodeModel(bytes);
  ASSERT_TRUE(m.ok());
  const TensorProto& w = m->graph.initializer.at(0);
  EXPECT_EQ(w.dims, (std::vector<int64_t>{2, 3, 300, 5}));
  EXPECT_EQ(w.float_data, (std::vector<float>{0.f, 0.f, 1.f}));
  EXPECT_EQ(w.int64_data, (std::vector<int64_t>{1, int64_t{1} << 62, 9}));
}

TEST(OnnxWireTest, NegativeValuesAreTenByteVarints) {
  const std::string tensor = LenField(8, "w") + VarintField(2, onnx::TensorProto::INT32) +
                             VarintField(1, static_cast<uint64_t>(-3)) +
                             VarintField(5, static_cast<uint64_t>(int64_t{-5}));
  EXPECT_EQ(Varint(static_cast<uint64_t>(-3)).size(), 10u);
  const std::string bytes = ModelWithInitializer(tensor);
  ExpectDecodesAsProtobufDoes(bytes);
  Result<ModelProto> m = DecodeModel(bytes);
  ASSERT_TRUE(m.ok());
  const TensorProto& w = m->graph.initializer.at(0);
  EXPECT_EQ(w.dims, std::vector<int64_t>{-3});
  EXPECT_EQ(w.int32_data, std::vector<int32_t>{-5});
}

TEST(OnnxWireTest, SkipsUnknownFieldsOfEveryWireTypeInEveryMessage) {
  const std::string u = UnknownFields();
  const std::string dim = VarintField(1, 4) + u;
  const std::string tensor_type =
      VarintField(1, onnx::TensorProto::FLOAT) + LenField(2, LenField(1, dim) + u) + u;
  const std::string input = LenField(1, "x") + LenField(2, LenField(1, tensor_type) + u) + u;
  const std::string tensor =
      LenField(8, "w") + VarintField(2, onnx::TensorProto::FLOAT) + u + LenField(9, "abcd");
  const std::string attribute = LenField(1, "alpha") + u + VarintField(20, 1) + FloatField(2, 2.f);
  const std::string node =
      LenField(1, "x") + u + LenField(2, "y") + LenField(4, "Relu") + LenField(5, attribute);
  const std::string graph = u + LenField(11, input) + LenField(5, tensor) + LenField(1, node) + u;
  const std::string bytes =
      u + VarintField(1, 8) + LenField(8, VarintField(2, 13) + u) + u + LenField(7, graph) + u;
  ExpectDecodesAsProtobufDoes(bytes);
  Result<ModelProto> m = DecodeModel(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->graph.initializer.at(0).raw_data, "abcd");
  EXPECT_EQ(m->graph.node.at(0).attribute.at(0).f, 2.f);
  EXPECT_EQ(m->graph.input.at(0).type.tensor_type.shape.dim.at(0).dim_value, 4);
}

TEST(OnnxWireTest, SkipsAKnownFieldOfAnotherWireType) {
  // ir_version as a fixed32, raw_data as a varint, dims as a fixed64: each is
  // an unknown field to protobuf.
  const std::string tensor = LenField(8, "w") + VarintField(9, 5) + Fixed64Field(1, 3);
  const std::string bytes = Fixed32Field(1, 99) + ModelWithInitializer(tensor);
  ExpectDecodesAsProtobufDoes(bytes);
  Result<ModelProto> m = DecodeModel(bytes);
  ASSERT_TRUE(m.ok());
  const TensorProto& w = m->graph.initializer.at(0);
  EXPECT_FALSE(w.has_raw_data);
  EXPECT_TRUE(w.dims.empty());
}

TEST(OnnxWireTest, LastValueWinsAndMessagesMerge) {
  // ir_version twice, the graph twice (its nodes concatenate), an attribute's
  // tensor twice (dims concatenate, data_type is the last one).
  const std::string tensor_a = VarintField(2, 1) + VarintField(1, 2);
  const std::string tensor_b = VarintField(2, 7) + VarintField(1, 3);
  const std::string attribute =
      LenField(1, "value") + VarintField(20, 4) + LenField(5, tensor_a) + LenField(5, tensor_b);
  const std::string node_a = LenField(4, "Constant") + LenField(5, attribute);
  const std::string node_b = LenField(4, "Relu");
  const std::string bytes = VarintField(1, 3) + ModelWithGraph(LenField(1, node_a)) +
                            LenField(7, LenField(1, node_b)) + VarintField(1, 8);
  ExpectDecodesAsProtobufDoes(bytes);
  Result<ModelProto> m = DecodeModel(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->ir_version, 8);
  ASSERT_EQ(m->graph.node.size(), 2u);
  EXPECT_EQ(m->graph.node[0].attribute.at(0).t.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(m->graph.node[0].attribute.at(0).t.data_type, 7);
}

TEST(OnnxWireTest, OneofsKeepTheirLastMember) {
  // dim_value then dim_param is a symbolic dimension; dim_param then
  // dim_value a fixed one. tensor_type then sequence_type is not a tensor.
  const std::string dims = LenField(1, VarintField(1, 4) + LenField(2, "n")) +
                           LenField(1, LenField(2, "n") + VarintField(1, 5));
  const std::string tensor_type = VarintField(1, 1) + LenField(2, dims);
  const std::string x = LenField(1, "x") + LenField(2, LenField(1, tensor_type));
  const std::string s = LenField(1, "s") + LenField(2, LenField(1, tensor_type) + LenField(4, ""));
  const std::string bytes = ModelWithGraph(LenField(11, x) + LenField(11, s));
  ExpectDecodesAsProtobufDoes(bytes);
  Result<ModelProto> m = DecodeModel(bytes);
  ASSERT_TRUE(m.ok());
  const auto& dim = m->graph.input.at(0).type.tensor_type.shape.dim;
  EXPECT_FALSE(dim.at(0).has_dim_value);
  EXPECT_TRUE(dim.at(1).has_dim_value);
  EXPECT_FALSE(m->graph.input.at(1).type.has_tensor_type);
}

TEST(OnnxWireTest, IgnoresEnumValuesOnnxDoesNotDefine) {
  const std::string attribute = LenField(1, "a") + VarintField(20, 2) + VarintField(20, 99);
  const std::string tensor = LenField(8, "w") + VarintField(14, 1) + VarintField(14, 7);
  const std::string bytes =
      ModelWithGraph(LenField(1, LenField(5, attribute)) + LenField(5, tensor));
  ExpectDecodesAsProtobufDoes(bytes);
  Result<ModelProto> m = DecodeModel(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->graph.node.at(0).attribute.at(0).type, AttributeProto::kInt);
  EXPECT_EQ(m->graph.initializer.at(0).data_location, TensorProto::kExternal);
}

TEST(OnnxWireTest, SkipsDeeplyNestedSubgraphsUnread) {
  // A graph attribute nesting graphs 2000 deep: protobuf gives up at 100
  // levels; the decoder never descends into it.
  std::string graph = LenField(1, LenField(4, "Identity"));
  for (int depth = 0; depth < 2000; ++depth) {
    graph = LenField(
        1, LenField(4, "If") +
               LenField(5, LenField(1, "then_branch") + VarintField(20, 5) + LenField(6, graph)));
  }
  Result<ModelProto> m = DecodeModel(ModelWithGraph(graph));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const AttributeProto& a = m->graph.node.at(0).attribute.at(0);
  EXPECT_EQ(a.type, AttributeProto::kGraph);
  EXPECT_TRUE(a.has_graph);
}

// --- Malformed bytes ------------------------------------------------------

TEST(OnnxWireTest, RefusesALengthPastTheEnd) {
  const std::string tensor = LenField(8, "w") + Key(9, 2) + Varint(1000) + "short";
  const std::string bytes = ModelWithInitializer(tensor);
  EXPECT_FALSE(onnx::ModelProto().ParseFromString(bytes));
  ExpectRefused(bytes, {"TensorProto.raw_data", "past the end"});
  // The same at the top level, with a length near 2^64.
  ExpectRefused(Key(7, 2) + Varint(~uint64_t{0}) + "x", {"ModelProto.graph", "past the end"});
}

TEST(OnnxWireTest, RefusesAVarintOfElevenBytes) {
  const std::string eleven = std::string(10, '\x81') + '\x01';
  EXPECT_FALSE(onnx::ModelProto().ParseFromString(Key(1, 0) + eleven));
  ExpectRefused(Key(1, 0) + eleven, {"ModelProto.ir_version", "longer than ten bytes"});
  ExpectRefused(eleven, {"ModelProto", "longer than ten bytes"});  // as a tag
  ExpectRefused(Key(1, 0) + std::string(5, '\x81'), {"ModelProto.ir_version", "past the end"});
}

TEST(OnnxWireTest, RefusesInvalidTags) {
  ExpectRefused(VarintField(0, 1), {"ModelProto", "tag is invalid"});
  ExpectRefused(Varint(uint64_t{1} << 35), {"ModelProto", "tag is invalid"});
  ExpectRefused(Key(9, 3) + Key(9, 4), {"ModelProto", "group"});
  ExpectRefused(Key(9, 4), {"ModelProto", "group"});
  ExpectRefused(Key(9, 6), {"ModelProto", "invalid wire type"});
  ExpectRefused(ModelWithInitializer(Key(1000, 7)), {"TensorProto", "invalid wire type"});
}

TEST(OnnxWireTest, RefusesTruncatedFixedValues) {
  ExpectRefused(Key(1001, 1) + "1234567", {"ModelProto", "past the end"});
  ExpectRefused(ModelWithGraph(LenField(1, LenField(5, Key(2, 5) + "123"))),
                {"AttributeProto.f", "past the end"});
}

TEST(OnnxWireTest, RefusesBrokenPackedRuns) {
  ExpectRefused(ModelWithInitializer(LenField(4, "12345")),
                {"TensorProto.float_data", "whole number"});
  ExpectRefused(ModelWithInitializer(LenField(10, std::string(12, '\0'))),
                {"TensorProto.double_data", "whole number"});
  ExpectRefused(ModelWithInitializer(LenField(1, Varint(3) + "\x80")),
                {"TensorProto.dims", "past the end"});
}

TEST(OnnxWireTest, RefusesEveryTruncationOfAModel) {
  // Any cut inside a field fails; a cut between two top-level fields leaves a
  // valid shorter model, as it does for protobuf.
  const std::string whole = EveryField().SerializeAsString();
  for (size_t len = 0; len < whole.size(); ++len) {
    const std::string cut = whole.substr(0, len);
    onnx::ModelProto p;
    const bool protobuf_ok = p.ParseFromString(cut);
    Result<ModelProto> w = DecodeModel(cut);
    ASSERT_EQ(w.ok(), protobuf_ok) << "length " << len;
    if (protobuf_ok) ExpectSameModel(p, *w);
  }
}

}  // namespace
}  // namespace serdab::engine::onnx_wire
