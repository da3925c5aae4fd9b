#include "enclave/engine/onnx_importer.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx.pb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <set>

namespace serdab::engine {
namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::io::ZeroCopyInputStream;

// The element types we accept and the engine type each becomes. The engine
// computes in float32, with int64 for indices and shape arithmetic.
struct SourceType {
  DataType engine;
  size_t raw_size;  // bytes per element in raw_data
};

bool MapTensorType(int32_t onnx_type, SourceType* out) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT:
      *out = {DataType::kFloat32, 4};
      return true;
    case onnx::TensorProto::DOUBLE:
      *out = {DataType::kFloat32, 8};
      return true;
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::UINT64:
      *out = {DataType::kInt64, 8};
      return true;
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::UINT32:
      *out = {DataType::kInt64, 4};
      return true;
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16:
      *out = {DataType::kInt64, 2};
      return true;
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL:
      *out = {DataType::kInt64, 1};
      return true;
    default:
      return false;
  }
}

// Reads one little-endian element of `onnx_type` from raw bytes.
template <typename Out>
Out ReadRaw(const char* p, int32_t onnx_type) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT: {
      float v;
      std::memcpy(&v, p, 4);
      return static_cast<Out>(v);
    }
    case onnx::TensorProto::DOUBLE: {
      double v;
      std::memcpy(&v, p, 8);
      return static_cast<Out>(v);
    }
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::UINT64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<Out>(v);
    }
    case onnx::TensorProto::INT32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<Out>(v);
    }
    case onnx::TensorProto::UINT32: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<Out>(v);
    }
    case onnx::TensorProto::INT16: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return static_cast<Out>(v);
    }
    case onnx::TensorProto::UINT16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return static_cast<Out>(v);
    }
    case onnx::TensorProto::INT8:
      return static_cast<Out>(static_cast<int8_t>(*p));
    default:  // UINT8, BOOL
      return static_cast<Out>(static_cast<uint8_t>(*p));
  }
}

// The repeated field in which ONNX keeps a tensor's values when it has no
// raw_data: one per element type. Reading only that one means a value is never
// converted from a type the tensor does not declare (a float into an int64 is
// undefined behaviour when out of range).
enum class TypedField { kFloat, kDouble, kInt64, kInt32, kUint64 };

TypedField TypedFieldFor(int32_t onnx_type) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT:
      return TypedField::kFloat;
    case onnx::TensorProto::DOUBLE:
      return TypedField::kDouble;
    case onnx::TensorProto::INT64:
      return TypedField::kInt64;
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64:
      return TypedField::kUint64;
    default:  // the narrow integer types and BOOL
      return TypedField::kInt32;
  }
}

int64_t TypedFieldSize(const onnx::TensorProto& t, TypedField field) {
  switch (field) {
    case TypedField::kFloat:
      return t.float_data_size();
    case TypedField::kDouble:
      return t.double_data_size();
    case TypedField::kInt64:
      return t.int64_data_size();
    case TypedField::kInt32:
      return t.int32_data_size();
    case TypedField::kUint64:
      return t.uint64_data_size();
  }
  return 0;
}

template <typename Out>
void FillFromTypedField(const onnx::TensorProto& t, TypedField field, Out* out) {
  switch (field) {
    case TypedField::kFloat:
      for (int i = 0; i < t.float_data_size(); ++i) out[i] = static_cast<Out>(t.float_data(i));
      break;
    case TypedField::kDouble:
      for (int i = 0; i < t.double_data_size(); ++i) out[i] = static_cast<Out>(t.double_data(i));
      break;
    case TypedField::kInt64:
      for (int i = 0; i < t.int64_data_size(); ++i) out[i] = static_cast<Out>(t.int64_data(i));
      break;
    case TypedField::kInt32:
      for (int i = 0; i < t.int32_data_size(); ++i) out[i] = static_cast<Out>(t.int32_data(i));
      break;
    case TypedField::kUint64:
      for (int i = 0; i < t.uint64_data_size(); ++i) out[i] = static_cast<Out>(t.uint64_data(i));
      break;
  }
}

// What the model's constants have claimed of TensorLimits::max_total_bytes.
class TensorBudget {
 public:
  explicit TensorBudget(const TensorLimits& limits) : limits_(limits) {}

  const TensorLimits& limits() const { return limits_; }

  Status Claim(uint64_t bytes, const std::string& what) {
    if (bytes > limits_.max_total_bytes - used_) {
      return Status::InvalidArgument(what + " needs " + std::to_string(bytes) +
                                     " bytes, which takes the model's constants over the "
                                     "limit of " +
                                     std::to_string(limits_.max_total_bytes) + " bytes in total");
    }
    used_ += bytes;
    return Status::Ok();
  }

 private:
  const TensorLimits& limits_;
  uint64_t used_ = 0;
};

// Decodes a TensorProto and releases its data from the proto. The declared
// shape must be within the limits and match the data actually present before
// anything is allocated: dims are the model author's claim, data is what came.
Result<Tensor> DecodeTensor(onnx::TensorProto* t, const std::string& what, TensorBudget* budget,
                            Allocator* allocator) {
  if (t->data_location() == onnx::TensorProto::EXTERNAL || t->external_data_size() > 0) {
    return Status::Unimplemented(what +
                                 " keeps its data in an external file; re-export the model "
                                 "with the weights inside the .onnx file");
  }
  SourceType type;
  if (!MapTensorType(t->data_type(), &type)) {
    return Status::Unimplemented(
        what + " has element type " +
        onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(t->data_type())) +
        ", which the engine does not support");
  }
  Shape shape(t->dims().begin(), t->dims().end());
  SERDAB_ASSIGN_OR_RETURN(const uint64_t bytes,
                          CheckedTensorBytes(type.engine, shape, budget->limits(), what));
  const int64_t count = NumElements(shape);
  const TypedField field = TypedFieldFor(t->data_type());
  if (t->has_raw_data()) {
    uint64_t expected = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(count), type.raw_size, &expected) ||
        t->raw_data().size() != expected) {
      return Status::Corruption(what + " of shape " + ShapeToString(shape) + " should hold " +
                                std::to_string(expected) + " bytes but holds " +
                                std::to_string(t->raw_data().size()) +
                                " (truncated or corrupt file?)");
    }
  } else {
    const int64_t values = t->float_data_size() + t->double_data_size() + t->int64_data_size() +
                           t->int32_data_size() + t->uint64_data_size();
    if (TypedFieldSize(*t, field) != values) {
      return Status::Corruption(what + " keeps values in a typed field that its element type " +
                                "does not use");
    }
    if (values != count) {
      return Status::Corruption(what + " of shape " + ShapeToString(shape) + " should hold " +
                                std::to_string(count) + " values but holds " +
                                std::to_string(values));
    }
  }
  SERDAB_RETURN_IF_ERROR(budget->Claim(bytes, what));
  SERDAB_ASSIGN_OR_RETURN(Tensor tensor, Tensor::Create(type.engine, shape, allocator));
  if (t->has_raw_data()) {
    const char* p = t->raw_data().data();
    if (type.engine == DataType::kFloat32 && type.raw_size == 4) {
      std::memcpy(tensor.raw(), p, bytes);
    } else if (type.engine == DataType::kFloat32) {
      float* out = tensor.data<float>();
      for (int64_t i = 0; i < count; ++i)
        out[i] = ReadRaw<float>(p + i * type.raw_size, t->data_type());
    } else {
      int64_t* out = tensor.data<int64_t>();
      for (int64_t i = 0; i < count; ++i) {
        out[i] = ReadRaw<int64_t>(p + i * type.raw_size, t->data_type());
      }
    }
    // Free the protobuf's copy now so that peak memory holds the weights once.
    std::string().swap(*t->mutable_raw_data());
  } else {
    if (type.engine == DataType::kFloat32) {
      FillFromTypedField(*t, field, tensor.data<float>());
    } else {
      FillFromTypedField(*t, field, tensor.data<int64_t>());
    }
    t->clear_float_data();
    t->clear_double_data();
    t->clear_int64_data();
    t->clear_int32_data();
    t->clear_uint64_data();
  }
  return tensor;
}

Result<TensorInfo> DecodeValueInfo(const onnx::ValueInfoProto& vi, const TensorLimits& limits) {
  const std::string what = "graph input '" + vi.name() + "'";
  if (!vi.type().has_tensor_type()) return Status::Unimplemented(what + " is not a tensor");
  const auto& tt = vi.type().tensor_type();
  SourceType type;
  if (!MapTensorType(tt.elem_type(), &type)) {
    return Status::Unimplemented(what + " has an element type the engine does not support");
  }
  if (!tt.has_shape()) return Status::Unimplemented(what + " has no declared shape");
  TensorInfo info{type.engine, {}};
  for (const auto& dim : tt.shape().dim()) {
    // Symbolic dimensions (a dynamic batch axis) are bound to 1: the engine
    // runs one frame at a time with static shapes.
    info.shape.push_back(dim.has_dim_value() && dim.dim_value() > 0 ? dim.dim_value() : 1);
  }
  // Activations are sized from this shape, so it is held to the same bound.
  SERDAB_RETURN_IF_ERROR(CheckedTensorBytes(info.dtype, info.shape, limits, what).status());
  return info;
}

Result<AttributeValue> DecodeAttribute(onnx::AttributeProto* a, const std::string& node,
                                       TensorBudget* budget, Allocator* allocator) {
  switch (a->type()) {
    case onnx::AttributeProto::INT:
      return AttributeValue(static_cast<int64_t>(a->i()));
    case onnx::AttributeProto::FLOAT:
      return AttributeValue(a->f());
    case onnx::AttributeProto::STRING:
      return AttributeValue(a->s());
    case onnx::AttributeProto::INTS:
      return AttributeValue(std::vector<int64_t>(a->ints().begin(), a->ints().end()));
    case onnx::AttributeProto::FLOATS:
      return AttributeValue(std::vector<float>(a->floats().begin(), a->floats().end()));
    case onnx::AttributeProto::TENSOR: {
      SERDAB_ASSIGN_OR_RETURN(
          Tensor t,
          DecodeTensor(a->mutable_t(), "attribute '" + a->name() + "' of node '" + node + "'",
                       budget, allocator));
      return AttributeValue(std::move(t));
    }
    default:
      return Status::Unimplemented("node '" + node + "': attribute '" + a->name() +
                                   "' is of type " +
                                   onnx::AttributeProto::AttributeType_Name(a->type()) +
                                   ", which the engine does not support");
  }
}

Result<Graph> BuildGraph(onnx::ModelProto* model, const TensorLimits& limits,
                         Allocator* allocator) {
  Graph graph;
  graph.set_limits(limits);
  TensorBudget budget(limits);
  int opset = 0;
  for (const auto& imp : model->opset_import()) {
    if (imp.domain().empty() || imp.domain() == "ai.onnx") opset = static_cast<int>(imp.version());
  }
  // IR version 3 models predate opset_import and mean opset 1.
  if (opset == 0 && model->opset_import_size() == 0) opset = 1;
  if (opset == 0)
    return Status::Unimplemented("the model imports no default-domain (ai.onnx) opset");
  graph.set_opset(opset);

  onnx::GraphProto* g = model->mutable_graph();
  std::set<std::string> initializer_names;
  for (onnx::TensorProto& init : *g->mutable_initializer()) {
    if (init.name().empty()) return Status::Corruption("an initializer has no name");
    if (graph.FindValue(init.name()) != kNoValue) {
      return Status::Corruption("initializer '" + init.name() + "' is defined twice");
    }
    const int id = graph.AddValue(init.name());
    SERDAB_ASSIGN_OR_RETURN(
        graph.value(id).constant,
        DecodeTensor(&init, "initializer '" + init.name() + "'", &budget, allocator));
    graph.value(id).info = graph.value(id).constant.info();
    initializer_names.insert(init.name());
  }
  g->clear_initializer();

  for (const auto& in : g->input()) {
    // Before IR version 4, initializers are also listed as graph inputs.
    if (initializer_names.count(in.name())) continue;
    if (graph.FindValue(in.name()) != kNoValue) {
      return Status::Corruption("graph input '" + in.name() + "' is declared twice");
    }
    SERDAB_ASSIGN_OR_RETURN(TensorInfo info, DecodeValueInfo(in, limits));
    const int id = graph.AddValue(in.name());
    graph.value(id).info = std::move(info);
    graph.inputs().push_back(id);
  }
  if (graph.inputs().empty()) return Status::Unimplemented("the model has no non-constant input");

  std::set<std::string> node_names;
  int index = 0;
  for (onnx::NodeProto& np : *g->mutable_node()) {
    Node node;
    node.op_type = np.op_type();
    node.name = np.name();
    if (node.name.empty() || node_names.count(node.name)) {
      node.name = (node.name.empty() ? node.op_type : node.name) + "_" + std::to_string(index);
    }
    ++index;
    node_names.insert(node.name);
    if (!np.domain().empty() && np.domain() != "ai.onnx") {
      return Status::Unimplemented("unsupported op '" + np.domain() + "::" + np.op_type() +
                                   "' at node '" + node.name +
                                   "': only the default ONNX domain is supported");
    }
    for (const std::string& in : np.input()) {
      if (in.empty()) {
        node.inputs.push_back(kNoValue);
        continue;
      }
      const int id = graph.FindValue(in);
      if (id == kNoValue) {
        return Status::Corruption("node '" + node.name + "' reads '" + in +
                                  "', which no earlier node, input or initializer defines");
      }
      node.inputs.push_back(id);
    }
    // Trailing omitted optional outputs are simply not there; ones in the
    // middle keep their position under a private name.
    int num_outputs = np.output_size();
    while (num_outputs > 0 && np.output(num_outputs - 1).empty()) --num_outputs;
    for (int o = 0; o < num_outputs; ++o) {
      const std::string& out = np.output(o);
      if (out.empty()) {
        // An omitted optional output: give it a private name so that the
        // kernel's output list keeps its positions.
        node.outputs.push_back(
            graph.AddValue(node.name + ":unused" + std::to_string(node.outputs.size())));
        continue;
      }
      if (graph.FindValue(out) != kNoValue) {
        return Status::Corruption("value '" + out + "' is produced twice (node '" + node.name +
                                  "')");
      }
      node.outputs.push_back(graph.AddValue(out));
    }
    for (onnx::AttributeProto& a : *np.mutable_attribute()) {
      SERDAB_ASSIGN_OR_RETURN(AttributeValue v, DecodeAttribute(&a, node.name, &budget, allocator));
      node.attrs.set(a.name(), std::move(v));
    }
    graph.nodes().push_back(std::move(node));
  }
  if (graph.nodes().empty()) return Status::InvalidArgument("the model's graph has no nodes");

  for (const auto& out : g->output()) {
    const int id = graph.FindValue(out.name());
    if (id == kNoValue) {
      return Status::Corruption("graph output '" + out.name() + "' is not produced by any node");
    }
    graph.outputs().push_back(id);
  }
  if (graph.outputs().empty()) return Status::InvalidArgument("the model's graph has no outputs");
  return graph;
}

Status ParseModel(ZeroCopyInputStream* stream, onnx::ModelProto* model) {
  CodedInputStream coded(stream);
  coded.SetTotalBytesLimit(INT_MAX);
  if (!model->ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    return Status::InvalidArgument(
        "not a valid ONNX model: the protobuf does not parse (truncated or not an .onnx file)");
  }
  if (!model->has_graph() || model->ir_version() <= 0) {
    return Status::InvalidArgument("not an ONNX model: no graph or no IR version");
  }
  return Status::Ok();
}

}  // namespace

Result<Graph> ImportOnnxFile(const std::string& path, Allocator* weight_allocator,
                             const TensorLimits& limits) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::IoError(path + ": not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return Status::InvalidArgument(path + ": not an ONNX model: the file is empty");
  }
  if (st.st_size > INT_MAX) {
    ::close(fd);
    return Status::Unimplemented(path +
                                 ": models over 2 GiB need external data, which is not "
                                 "supported");
  }
  onnx::ModelProto model;
  Status parsed;
  {
    google::protobuf::io::FileInputStream stream(fd);
    stream.SetCloseOnDelete(true);
    parsed = ParseModel(&stream, &model);
  }
  if (!parsed.ok()) return parsed.WithContext(path);
  Result<Graph> graph = BuildGraph(&model, limits, weight_allocator);
  if (!graph.ok()) return graph.status().WithContext(path);
  return graph;
}

Result<Graph> ImportOnnxBytes(std::string_view bytes, const std::string& origin,
                              Allocator* weight_allocator, const TensorLimits& limits) {
  if (bytes.empty()) {
    return Status::InvalidArgument(origin + ": not an ONNX model: it is empty");
  }
  onnx::ModelProto model;
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  SERDAB_RETURN_IF_ERROR(ParseModel(&stream, &model).WithContext(origin));
  Result<Graph> graph = BuildGraph(&model, limits, weight_allocator);
  if (!graph.ok()) return graph.status().WithContext(origin);
  return graph;
}

}  // namespace serdab::engine
