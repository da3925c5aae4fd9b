// ONNX's protobuf messages, decoded from the wire format without protobuf.
//
// The enclave image must contain all its trusted code, and Debian's protobuf
// can only be linked dynamically (and frees its strings past the enclave's
// wiping allocator), so the importer reads .onnx files with this decoder.
// It knows the subset of onnx.proto (proto2) that the importer uses and
// decodes it as protobuf does: fields may come in any order, a repeated
// scalar may be packed or not (or both), a singular field seen twice keeps
// its last value (a message merges both), a known field with an unexpected
// wire type and an enum value onnx.proto does not define are ignored, as are
// unknown fields of every wire type. Groups, which ONNX never uses, are
// refused.
//
// The input is untrusted. Every length is checked against the bytes left in
// its message; no vector reserves more elements than its bytes can hold, so
// memory stays proportional to the input. Nothing recurses: graph-valued
// attributes and types other than tensors are skipped unread, so nesting is
// at most that of the schema subset below (seven messages deep) whatever the
// input. Errors name the message and field at fault and never quote bytes
// of the input.
//
// Strings and raw_data are views into the decoded bytes: a ModelProto must
// not outlive them. Weights are then never copied before the importer copies
// them into their tensors.
//
// The one encoder, StripTensorData, copies a model field by field and leaves
// out the data of chosen tensors (for ArchitectureOnly, onnx_importer.h).
#ifndef SERDAB_ENCLAVE_ENGINE_ONNX_WIRE_H_
#define SERDAB_ENCLAVE_ENGINE_ONNX_WIRE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::engine::onnx_wire {

struct TensorProto {
  // onnx.proto's TensorProto.DataType.
  enum DataType : int32_t {
    kUndefined = 0,
    kFloat = 1,
    kUint8 = 2,
    kInt8 = 3,
    kUint16 = 4,
    kInt16 = 5,
    kInt32 = 6,
    kInt64 = 7,
    kString = 8,
    kBool = 9,
    kFloat16 = 10,
    kDouble = 11,
    kUint32 = 12,
    kUint64 = 13,
    kComplex64 = 14,
    kComplex128 = 15,
    kBfloat16 = 16,
  };
  // onnx.proto's TensorProto.DataLocation.
  enum DataLocation : int32_t { kDefault = 0, kExternal = 1 };

  std::vector<int64_t> dims;
  int32_t data_type = kUndefined;
  std::vector<float> float_data;
  std::vector<int32_t> int32_data;
  std::vector<int64_t> int64_data;
  std::string_view name;
  bool has_raw_data = false;
  std::string_view raw_data;
  std::vector<double> double_data;
  std::vector<uint64_t> uint64_data;
  // external_data has an entry (its contents are not decoded).
  bool has_external_data = false;
  int32_t data_location = kDefault;  // only values onnx.proto defines are kept
};

// onnx.proto's name of a TensorProto.DataType ("FLOAT"); nullptr if it
// defines none.
const char* DataTypeName(int32_t data_type);

struct TensorShapeProto {
  struct Dimension {
    // False for a symbolic dimension (dim_param) and for none at all.
    bool has_dim_value = false;
    int64_t dim_value = 0;
  };
  std::vector<Dimension> dim;
};

struct TypeProto {
  struct Tensor {
    int32_t elem_type = TensorProto::kUndefined;
    bool has_shape = false;
    TensorShapeProto shape;
  };
  // False if the type is any other member of the oneof (a sequence, a map,
  // ...), which is not decoded, or none.
  bool has_tensor_type = false;
  Tensor tensor_type;
};

struct ValueInfoProto {
  std::string_view name;
  TypeProto type;
};

struct AttributeProto {
  // onnx.proto's AttributeProto.AttributeType.
  enum AttributeType : int32_t {
    kUndefined = 0,
    kFloat = 1,
    kInt = 2,
    kString = 3,
    kTensor = 4,
    kGraph = 5,
    kFloats = 6,
    kInts = 7,
    kStrings = 8,
    kTensors = 9,
    kGraphs = 10,
    kSparseTensor = 11,
    kSparseTensors = 12,
    kTypeProto = 13,
    kTypeProtos = 14,
  };

  std::string_view name;
  int32_t type = kUndefined;  // only values onnx.proto defines are kept
  float f = 0;
  int64_t i = 0;
  std::string_view s;
  TensorProto t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  // g or graphs is present. Subgraphs are not decoded, so an importer that
  // cannot run them refuses such an attribute whatever its type says.
  bool has_graph = false;
};

// onnx.proto's name of an AttributeType ("GRAPH"); nullptr if it defines none.
const char* AttributeTypeName(int32_t type);

struct NodeProto {
  std::vector<std::string_view> input;
  std::vector<std::string_view> output;
  std::string_view name;
  std::string_view op_type;
  std::string_view domain;
  std::vector<AttributeProto> attribute;
};

struct GraphProto {
  std::vector<NodeProto> node;
  std::vector<TensorProto> initializer;
  std::vector<ValueInfoProto> input;
  std::vector<ValueInfoProto> output;
};

struct OperatorSetIdProto {
  std::string_view domain;
  int64_t version = 0;
};

struct ModelProto {
  int64_t ir_version = 0;
  std::vector<OperatorSetIdProto> opset_import;
  bool has_graph = false;
  GraphProto graph;
};

// Decodes `bytes` as a serialized ModelProto: InvalidArgument, naming the
// message and field, if they are not one. The result views `bytes`.
Result<ModelProto> DecodeModel(std::string_view bytes);

// The tensors StripTensorData empties, by their index in DecodeModel's
// GraphProto.initializer and GraphProto.node. A selected node loses the data
// of every tensor attribute (AttributeProto.t) it has. Indices past the end
// are not selected.
struct TensorSelection {
  std::vector<bool> initializer;
  std::vector<bool> node;
};

// Re-encodes `bytes`, a ModelProto, with the selected tensors' data fields
// removed (raw_data, every typed value field, external_data and
// data_location): name, data_type, dims and any other field stay. Every other
// byte is copied as it is; only the length prefixes of the messages that
// enclose a selected tensor are written anew. `*removed` (if not null) gets
// the number of bytes of the fields removed. Errors as DecodeModel's.
Result<std::string> StripTensorData(std::string_view bytes, const TensorSelection& selection,
                                    uint64_t* removed = nullptr);

}  // namespace serdab::engine::onnx_wire

#endif  // SERDAB_ENCLAVE_ENGINE_ONNX_WIRE_H_
