#include "cli/zoo/onnx_builder.h"

#include <onnx/onnx.pb.h>

#include <bit>
#include <climits>
#include <fstream>
#include <unordered_set>

namespace serdab::zoo {
namespace {

// IR version 7 is the one that introduced opset 13; nothing here needs newer.
constexpr int64_t kIrVersion = 7;

void SetShape(const std::vector<int64_t>& shape, onnx::ValueInfoProto* info,
              int32_t elem_type = onnx::TensorProto::FLOAT) {
  onnx::TypeProto_Tensor* type = info->mutable_type()->mutable_tensor_type();
  type->set_elem_type(elem_type);
  onnx::TensorShapeProto* proto_shape = type->mutable_shape();
  for (int64_t dim : shape) proto_shape->add_dim()->set_dim_value(dim);
}

// Fills a float tensor's raw_data, which ONNX defines as little-endian
// whatever the host's byte order.
void FillRawFloats(int64_t count, const std::function<float()>& next, onnx::TensorProto* tensor) {
  std::string* raw = tensor->mutable_raw_data();
  raw->resize(static_cast<size_t>(count) * sizeof(float));
  char* out = raw->data();
  for (int64_t i = 0; i < count; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(next());
    out[0] = static_cast<char>(bits & 0xff);
    out[1] = static_cast<char>((bits >> 8) & 0xff);
    out[2] = static_cast<char>((bits >> 16) & 0xff);
    out[3] = static_cast<char>(bits >> 24);
    out += sizeof(float);
  }
}

Status ValidateShape(const std::string& name, const std::vector<int64_t>& shape) {
  for (int64_t dim : shape) {
    if (dim < 0) return Status::InvalidArgument("tensor '" + name + "' has a negative dimension");
  }
  return Status::Ok();
}

int64_t CountElements(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

void SetAttribute(const OnnxAttribute& attribute, onnx::AttributeProto* proto) {
  proto->set_name(attribute.name);
  if (const auto* i = std::get_if<int64_t>(&attribute.value)) {
    proto->set_type(onnx::AttributeProto::INT);
    proto->set_i(*i);
  } else if (const auto* f = std::get_if<float>(&attribute.value)) {
    proto->set_type(onnx::AttributeProto::FLOAT);
    proto->set_f(*f);
  } else if (const auto* s = std::get_if<std::string>(&attribute.value)) {
    proto->set_type(onnx::AttributeProto::STRING);
    proto->set_s(*s);
  } else {
    proto->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : std::get<std::vector<int64_t>>(attribute.value)) proto->add_ints(v);
  }
}

// Protobuf refuses to serialize messages of 2 GiB or more.
Status CheckSerializedSize(const onnx::ModelProto& model) {
  const size_t size = model.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return Status::ResourceExhausted("model is " + std::to_string(size) +
                                     " bytes, over protobuf's 2 GiB limit");
  }
  return Status::Ok();
}

}  // namespace

struct OnnxBuilder::Impl {
  onnx::ModelProto model;
  std::unordered_set<std::string> value_names;
  std::unordered_set<std::string> node_names;
};

OnnxBuilder::OnnxBuilder(const std::string& graph_name, int64_t opset)
    : impl_(std::make_unique<Impl>()) {
  onnx::ModelProto& model = impl_->model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("serdab-zoo");
  onnx::OperatorSetIdProto* opset_id = model.add_opset_import();
  opset_id->set_domain("");
  opset_id->set_version(opset);
  model.mutable_graph()->set_name(graph_name);
}

OnnxBuilder::~OnnxBuilder() = default;

Status OnnxBuilder::ClaimValueName(const std::string& name) {
  if (name.empty()) return Status::InvalidArgument("empty value name");
  if (!impl_->value_names.insert(name).second) {
    return Status::InvalidArgument("value '" + name + "' is defined twice");
  }
  return Status::Ok();
}

Status OnnxBuilder::AddInput(const std::string& name, const std::vector<int64_t>& shape,
                             InputType type) {
  SERDAB_RETURN_IF_ERROR(ValidateShape(name, shape));
  SERDAB_RETURN_IF_ERROR(ClaimValueName(name));
  onnx::ValueInfoProto* input = impl_->model.mutable_graph()->add_input();
  input->set_name(name);
  SetShape(shape, input,
           type == InputType::kUint8 ? onnx::TensorProto::UINT8 : onnx::TensorProto::FLOAT);
  return Status::Ok();
}

Status OnnxBuilder::AddOutput(const std::string& name, const std::vector<int64_t>& shape) {
  SERDAB_RETURN_IF_ERROR(ValidateShape(name, shape));
  if (impl_->value_names.count(name) == 0) {
    return Status::InvalidArgument("graph output '" + name + "' is not produced by any node");
  }
  onnx::ValueInfoProto* output = impl_->model.mutable_graph()->add_output();
  output->set_name(name);
  SetShape(shape, output);
  return Status::Ok();
}

Status OnnxBuilder::AddFloatInitializer(const std::string& name, const std::vector<int64_t>& shape,
                                        const std::function<float()>& next) {
  SERDAB_RETURN_IF_ERROR(ValidateShape(name, shape));
  SERDAB_RETURN_IF_ERROR(ClaimValueName(name));
  onnx::TensorProto* tensor = impl_->model.mutable_graph()->add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t dim : shape) tensor->add_dims(dim);
  FillRawFloats(CountElements(shape), next, tensor);
  return Status::Ok();
}

Result<std::string> OnnxBuilder::AddNode(const std::string& op_type, const std::string& name,
                                         const std::vector<std::string>& inputs,
                                         const std::vector<OnnxAttribute>& attributes,
                                         const std::string& output) {
  if (name.empty()) return Status::InvalidArgument(op_type + " node has no name");
  if (!impl_->node_names.insert(name).second) {
    return Status::InvalidArgument("node '" + name + "' is defined twice");
  }
  for (const std::string& input : inputs) {
    if (impl_->value_names.count(input) == 0) {
      return Status::InvalidArgument("node '" + name + "' reads undefined value '" + input + "'");
    }
  }
  const std::string output_name = output.empty() ? name : output;
  SERDAB_RETURN_IF_ERROR(ClaimValueName(output_name));

  onnx::NodeProto* node = impl_->model.mutable_graph()->add_node();
  node->set_op_type(op_type);
  node->set_name(name);
  for (const std::string& input : inputs) node->add_input(input);
  node->add_output(output_name);
  for (const OnnxAttribute& attribute : attributes) SetAttribute(attribute, node->add_attribute());
  return output_name;
}

Result<std::string> OnnxBuilder::AddFloatConstant(const std::string& name,
                                                  const std::vector<int64_t>& shape,
                                                  const std::vector<float>& values) {
  SERDAB_RETURN_IF_ERROR(ValidateShape(name, shape));
  if (CountElements(shape) != static_cast<int64_t>(values.size())) {
    return Status::InvalidArgument("constant '" + name + "' has " + std::to_string(values.size()) +
                                   " values for " + std::to_string(CountElements(shape)) +
                                   " elements");
  }
  SERDAB_ASSIGN_OR_RETURN(std::string output, AddNode("Constant", name, {}));
  onnx::GraphProto* graph = impl_->model.mutable_graph();
  onnx::NodeProto* node = graph->mutable_node(graph->node_size() - 1);
  onnx::AttributeProto* attribute = node->add_attribute();
  attribute->set_name("value");
  attribute->set_type(onnx::AttributeProto::TENSOR);
  onnx::TensorProto* tensor = attribute->mutable_t();
  tensor->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t dim : shape) tensor->add_dims(dim);
  auto it = values.begin();
  FillRawFloats(
      CountElements(shape), [&it] { return *it++; }, tensor);
  return output;
}

Result<std::string> OnnxBuilder::Serialize() const {
  SERDAB_RETURN_IF_ERROR(CheckSerializedSize(impl_->model));
  std::string bytes;
  if (!impl_->model.SerializeToString(&bytes)) {
    return Status::Internal("could not serialize the ONNX model");
  }
  return bytes;
}

Status OnnxBuilder::SerializeToFile(const std::string& path) const {
  SERDAB_RETURN_IF_ERROR(CheckSerializedSize(impl_->model));
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return Status::IoError("cannot open " + path + " for writing");
  if (!impl_->model.SerializeToOstream(&file)) {
    return Status::IoError("cannot write the ONNX model to " + path);
  }
  file.close();
  if (!file) return Status::IoError("cannot write the ONNX model to " + path);
  return Status::Ok();
}

}  // namespace serdab::zoo
