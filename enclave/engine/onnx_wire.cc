#include "enclave/engine/onnx_wire.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>

namespace serdab::engine::onnx_wire {
namespace {

enum WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

struct Tag {
  uint32_t field = 0;
  uint32_t wire_type = 0;
};

// `where` is a message ("GraphProto") or one of its fields ("GraphProto.node").
Status Malformed(const char* where, const char* problem) {
  return Status::InvalidArgument(std::string("not a valid ONNX model: ") + where + ": " + problem +
                                 " (truncated or not an .onnx file)");
}

// Reads one message's bytes front to back. Every read is checked against the
// bytes left, so nothing is read past the message.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  bool done() const { return p_ == end_; }
  const char* position() const { return p_; }

  // As protobuf: at most ten bytes, and bits past the 64th are dropped.
  Status Varint(const char* where, uint64_t* v) {
    uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ == end_) return Malformed(where, "a varint runs past the end of the message");
      const uint8_t byte = static_cast<uint8_t>(*p_++);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = value;
        return Status::Ok();
      }
    }
    return Malformed(where, "a varint is longer than ten bytes");
  }

  // Little-endian, as the engine's hosts are.
  template <typename T>
  Status Fixed(const char* where, T* v) {
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) {
      return Malformed(where, "a fixed-size value runs past the end of the message");
    }
    std::memcpy(v, p_, sizeof(T));
    p_ += sizeof(T);
    return Status::Ok();
  }

  Status LengthDelimited(const char* where, std::string_view* v) {
    uint64_t length = 0;
    SERDAB_RETURN_IF_ERROR(Varint(where, &length));
    if (length > static_cast<uint64_t>(end_ - p_)) {
      return Malformed(where, "a length runs past the end of the message");
    }
    *v = std::string_view(p_, static_cast<size_t>(length));
    p_ += length;
    return Status::Ok();
  }

  // A tag's wire type is one of the four that a field can be skipped by.
  Status ReadTag(const char* message, Tag* tag) {
    uint64_t key = 0;
    SERDAB_RETURN_IF_ERROR(Varint(message, &key));
    if (key > UINT32_MAX || (key >> 3) == 0) return Malformed(message, "a field tag is invalid");
    tag->field = static_cast<uint32_t>(key >> 3);
    tag->wire_type = static_cast<uint32_t>(key & 7);
    if (tag->wire_type == kStartGroup || tag->wire_type == kEndGroup) {
      return Malformed(message, "a field is a group, which ONNX does not use");
    }
    if (tag->wire_type > kFixed32) return Malformed(message, "a field has an invalid wire type");
    return Status::Ok();
  }

  // Reads past a field that is not decoded.
  Status Skip(const Tag& tag, const char* where) {
    uint64_t scalar = 0;
    uint32_t fixed32 = 0;
    std::string_view bytes;
    switch (tag.wire_type) {
      case kVarint:
        return Varint(where, &scalar);
      case kFixed64:
        return Fixed(where, &scalar);
      case kLengthDelimited:
        return LengthDelimited(where, &bytes);
      default:  // kFixed32: ReadTag lets no other through
        return Fixed(where, &fixed32);
    }
  }

 private:
  const char* p_;
  const char* end_;
};

// The scalar types of the fields decoded, each with its wire type.
template <typename T>
constexpr uint32_t WireTypeOf() {
  if constexpr (std::is_same_v<T, float>) return kFixed32;
  if constexpr (std::is_same_v<T, double>) return kFixed64;
  return kVarint;
}

template <typename T>
Status ReadScalar(Reader* r, const char* where, T* v) {
  if constexpr (WireTypeOf<T>() == kVarint) {
    uint64_t raw = 0;
    SERDAB_RETURN_IF_ERROR(r->Varint(where, &raw));
    *v = static_cast<T>(raw);  // int32 keeps the low 32 bits, as protobuf does
    return Status::Ok();
  } else {
    return r->Fixed(where, v);
  }
}

// A field of another wire type than its declared one is an unknown field to
// protobuf, which skips it: so does every Read* below.
template <typename T>
Status ReadSingular(Reader* r, const Tag& tag, const char* where, T* v) {
  if (tag.wire_type != WireTypeOf<T>()) return r->Skip(tag, where);
  return ReadScalar(r, where, v);
}

// A closed proto2 enum: a value it does not define is an unknown field.
Status ReadEnum(Reader* r, const Tag& tag, const char* where, int32_t max_defined, int32_t* v) {
  int32_t value = 0;
  if (tag.wire_type != kVarint) return r->Skip(tag, where);
  SERDAB_RETURN_IF_ERROR(ReadScalar(r, where, &value));
  if (value >= 0 && value <= max_defined) *v = value;
  return Status::Ok();
}

// One value, or a packed run of them.
template <typename T>
Status ReadRepeated(Reader* r, const Tag& tag, const char* where, std::vector<T>* out) {
  if (tag.wire_type == WireTypeOf<T>()) {
    T v{};
    SERDAB_RETURN_IF_ERROR(ReadScalar(r, where, &v));
    out->push_back(v);
    return Status::Ok();
  }
  if (tag.wire_type != kLengthDelimited) return r->Skip(tag, where);
  std::string_view packed;
  SERDAB_RETURN_IF_ERROR(r->LengthDelimited(where, &packed));
  size_t count = 0;
  if constexpr (WireTypeOf<T>() == kVarint) {
    // Each varint ends at the one byte of it with the high bit clear.
    count = static_cast<size_t>(
        std::count_if(packed.begin(), packed.end(), [](char c) { return (c & 0x80) == 0; }));
  } else {
    if (packed.size() % sizeof(T) != 0) {
      return Malformed(where, "a packed run is not a whole number of values");
    }
    count = packed.size() / sizeof(T);
  }
  // Geometric growth, so that many short runs still cost linear time.
  if (count > out->capacity() - out->size()) {
    out->reserve(std::max(out->size() + count, 2 * out->size()));
  }
  Reader values(packed);
  while (!values.done()) {
    T v{};
    SERDAB_RETURN_IF_ERROR(ReadScalar(&values, where, &v));
    out->push_back(v);
  }
  return Status::Ok();
}

Status ReadString(Reader* r, const Tag& tag, const char* where, std::string_view* v) {
  if (tag.wire_type != kLengthDelimited) return r->Skip(tag, where);
  return r->LengthDelimited(where, v);
}

Status ReadRepeatedString(Reader* r, const Tag& tag, const char* where,
                          std::vector<std::string_view>* out) {
  std::string_view v;
  if (tag.wire_type != kLengthDelimited) return r->Skip(tag, where);
  SERDAB_RETURN_IF_ERROR(r->LengthDelimited(where, &v));
  out->push_back(v);
  return Status::Ok();
}

// A singular message seen again is merged into the first, as protobuf does:
// decoding into the same struct does exactly that.
template <typename T>
Status ReadMessage(Reader* r, const Tag& tag, const char* where, Status (*decode)(Reader*, T*),
                   T* out) {
  std::string_view bytes;
  if (tag.wire_type != kLengthDelimited) return r->Skip(tag, where);
  SERDAB_RETURN_IF_ERROR(r->LengthDelimited(where, &bytes));
  Reader fields(bytes);
  return decode(&fields, out);
}

template <typename T>
Status ReadRepeatedMessage(Reader* r, const Tag& tag, const char* where,
                           Status (*decode)(Reader*, T*), std::vector<T>* out) {
  if (tag.wire_type != kLengthDelimited) return r->Skip(tag, where);
  out->emplace_back();
  return ReadMessage(r, tag, where, decode, &out->back());
}

// Reads past a field that is not decoded, recording that it was there.
Status SkipPresent(Reader* r, const Tag& tag, const char* where, bool* present) {
  if (tag.wire_type == kLengthDelimited) *present = true;
  return r->Skip(tag, where);
}

// One function per message: field numbers are onnx.proto's.

Status DecodeTensor(Reader* r, TensorProto* t) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("TensorProto", &tag));
    Status s;
    switch (tag.field) {
      case 1:
        s = ReadRepeated(r, tag, "TensorProto.dims", &t->dims);
        break;
      case 2:
        s = ReadSingular(r, tag, "TensorProto.data_type", &t->data_type);
        break;
      case 4:
        s = ReadRepeated(r, tag, "TensorProto.float_data", &t->float_data);
        break;
      case 5:
        s = ReadRepeated(r, tag, "TensorProto.int32_data", &t->int32_data);
        break;
      case 7:
        s = ReadRepeated(r, tag, "TensorProto.int64_data", &t->int64_data);
        break;
      case 8:
        s = ReadString(r, tag, "TensorProto.name", &t->name);
        break;
      case 9:
        if (tag.wire_type == kLengthDelimited) t->has_raw_data = true;
        s = ReadString(r, tag, "TensorProto.raw_data", &t->raw_data);
        break;
      case 10:
        s = ReadRepeated(r, tag, "TensorProto.double_data", &t->double_data);
        break;
      case 11:
        s = ReadRepeated(r, tag, "TensorProto.uint64_data", &t->uint64_data);
        break;
      case 13:
        s = SkipPresent(r, tag, "TensorProto.external_data", &t->has_external_data);
        break;
      case 14:
        s = ReadEnum(r, tag, "TensorProto.data_location", TensorProto::kExternal,
                     &t->data_location);
        break;
      default:
        s = r->Skip(tag, "TensorProto");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status DecodeDimension(Reader* r, TensorShapeProto::Dimension* d) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("TensorShapeProto.Dimension", &tag));
    Status s;
    switch (tag.field) {
      case 1:  // dim_value, of a oneof with dim_param
        if (tag.wire_type == kVarint) d->has_dim_value = true;
        s = ReadSingular(r, tag, "TensorShapeProto.Dimension.dim_value", &d->dim_value);
        break;
      case 2:  // dim_param
        if (tag.wire_type == kLengthDelimited) d->has_dim_value = false;
        s = r->Skip(tag, "TensorShapeProto.Dimension.dim_param");
        break;
      default:
        s = r->Skip(tag, "TensorShapeProto.Dimension");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status DecodeShape(Reader* r, TensorShapeProto* shape) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("TensorShapeProto", &tag));
    SERDAB_RETURN_IF_ERROR(tag.field == 1 ? ReadRepeatedMessage(r, tag, "TensorShapeProto.dim",
                                                                DecodeDimension, &shape->dim)
                                          : r->Skip(tag, "TensorShapeProto"));
  }
  return Status::Ok();
}

Status DecodeTensorType(Reader* r, TypeProto::Tensor* t) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("TypeProto.Tensor", &tag));
    Status s;
    switch (tag.field) {
      case 1:
        s = ReadSingular(r, tag, "TypeProto.Tensor.elem_type", &t->elem_type);
        break;
      case 2:
        if (tag.wire_type == kLengthDelimited) t->has_shape = true;
        s = ReadMessage(r, tag, "TypeProto.Tensor.shape", DecodeShape, &t->shape);
        break;
      default:
        s = r->Skip(tag, "TypeProto.Tensor");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status DecodeType(Reader* r, TypeProto* type) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("TypeProto", &tag));
    Status s;
    switch (tag.field) {
      case 1:  // tensor_type, of the oneof `value`
        if (tag.wire_type == kLengthDelimited && !type->has_tensor_type) {
          type->tensor_type = {};
          type->has_tensor_type = true;
        }
        s = ReadMessage(r, tag, "TypeProto.tensor_type", DecodeTensorType, &type->tensor_type);
        break;
      case 4:  // sequence_type, map_type, sparse_tensor_type, optional_type: the
      case 5:  // rest of the oneof, which replace a tensor_type
      case 8:
      case 9:
        if (tag.wire_type == kLengthDelimited) type->has_tensor_type = false;
        s = r->Skip(tag, "TypeProto");
        break;
      default:
        s = r->Skip(tag, "TypeProto");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status DecodeValueInfo(Reader* r, ValueInfoProto* vi) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("ValueInfoProto", &tag));
    Status s;
    switch (tag.field) {
      case 1:
        s = ReadString(r, tag, "ValueInfoProto.name", &vi->name);
        break;
      case 2:
        s = ReadMessage(r, tag, "ValueInfoProto.type", DecodeType, &vi->type);
        break;
      default:
        s = r->Skip(tag, "ValueInfoProto");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status DecodeAttribute(Reader* r, AttributeProto* a) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("AttributeProto", &tag));
    Status s;
    switch (tag.field) {
      case 1:
        s = ReadString(r, tag, "AttributeProto.name", &a->name);
        break;
      case 2:
        s = ReadSingular(r, tag, "AttributeProto.f", &a->f);
        break;
      case 3:
        s = ReadSingular(r, tag, "AttributeProto.i", &a->i);
        break;
      case 4:
        s = ReadString(r, tag, "AttributeProto.s", &a->s);
        break;
      case 5:
        s = ReadMessage(r, tag, "AttributeProto.t", DecodeTensor, &a->t);
        break;
      case 6:
        s = SkipPresent(r, tag, "AttributeProto.g", &a->has_graph);
        break;
      case 7:
        s = ReadRepeated(r, tag, "AttributeProto.floats", &a->floats);
        break;
      case 8:
        s = ReadRepeated(r, tag, "AttributeProto.ints", &a->ints);
        break;
      case 11:
        s = SkipPresent(r, tag, "AttributeProto.graphs", &a->has_graph);
        break;
      case 20:
        s = ReadEnum(r, tag, "AttributeProto.type", AttributeProto::kTypeProtos, &a->type);
        break;
      default:
        s = r->Skip(tag, "AttributeProto");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status DecodeNode(Reader* r, NodeProto* node) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("NodeProto", &tag));
    Status s;
    switch (tag.field) {
      case 1:
        s = ReadRepeatedString(r, tag, "NodeProto.input", &node->input);
        break;
      case 2:
        s = ReadRepeatedString(r, tag, "NodeProto.output", &node->output);
        break;
      case 3:
        s = ReadString(r, tag, "NodeProto.name", &node->name);
        break;
      case 4:
        s = ReadString(r, tag, "NodeProto.op_type", &node->op_type);
        break;
      case 5:
        s = ReadRepeatedMessage(r, tag, "NodeProto.attribute", DecodeAttribute, &node->attribute);
        break;
      case 7:
        s = ReadString(r, tag, "NodeProto.domain", &node->domain);
        break;
      default:
        s = r->Skip(tag, "NodeProto");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status DecodeGraph(Reader* r, GraphProto* g) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("GraphProto", &tag));
    Status s;
    switch (tag.field) {
      case 1:
        s = ReadRepeatedMessage(r, tag, "GraphProto.node", DecodeNode, &g->node);
        break;
      case 5:
        s = ReadRepeatedMessage(r, tag, "GraphProto.initializer", DecodeTensor, &g->initializer);
        break;
      case 11:
        s = ReadRepeatedMessage(r, tag, "GraphProto.input", DecodeValueInfo, &g->input);
        break;
      case 12:
        s = ReadRepeatedMessage(r, tag, "GraphProto.output", DecodeValueInfo, &g->output);
        break;
      default:
        s = r->Skip(tag, "GraphProto");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status DecodeOperatorSetId(Reader* r, OperatorSetIdProto* opset) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("OperatorSetIdProto", &tag));
    Status s;
    switch (tag.field) {
      case 1:
        s = ReadString(r, tag, "OperatorSetIdProto.domain", &opset->domain);
        break;
      case 2:
        s = ReadSingular(r, tag, "OperatorSetIdProto.version", &opset->version);
        break;
      default:
        s = r->Skip(tag, "OperatorSetIdProto");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

Status DecodeModelFields(Reader* r, ModelProto* m) {
  while (!r->done()) {
    Tag tag;
    SERDAB_RETURN_IF_ERROR(r->ReadTag("ModelProto", &tag));
    Status s;
    switch (tag.field) {
      case 1:
        s = ReadSingular(r, tag, "ModelProto.ir_version", &m->ir_version);
        break;
      case 7:
        if (tag.wire_type == kLengthDelimited) m->has_graph = true;
        s = ReadMessage(r, tag, "ModelProto.graph", DecodeGraph, &m->graph);
        break;
      case 8:
        s = ReadRepeatedMessage(r, tag, "ModelProto.opset_import", DecodeOperatorSetId,
                                &m->opset_import);
        break;
      default:
        s = r->Skip(tag, "ModelProto");
    }
    SERDAB_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

// Re-encoding, for StripTensorData.

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// One field of a message, as it lies in the input.
struct Field {
  Tag tag;
  std::string_view key;      // the tag's bytes
  std::string_view whole;    // the tag and the value
  std::string_view payload;  // a length-delimited value's contents
};

// Calls `visit` on each field of `message`, in order.
template <typename Visit>
Status ForEachField(std::string_view message, const char* where, Visit visit) {
  Reader r(message);
  while (!r.done()) {
    Field f;
    const char* start = r.position();
    SERDAB_RETURN_IF_ERROR(r.ReadTag(where, &f.tag));
    const char* value = r.position();
    SERDAB_RETURN_IF_ERROR(f.tag.wire_type == kLengthDelimited
                               ? r.LengthDelimited(where, &f.payload)
                               : r.Skip(f.tag, where));
    f.key = std::string_view(start, static_cast<size_t>(value - start));
    f.whole = std::string_view(start, static_cast<size_t>(r.position() - start));
    SERDAB_RETURN_IF_ERROR(visit(f));
  }
  return Status::Ok();
}

// A length-delimited field under its own key, with new contents.
void AppendField(const Field& f, std::string_view contents, std::string* out) {
  out->append(f.key);
  AppendVarint(contents.size(), out);
  out->append(contents);
}

struct StripState {
  const TensorSelection& selection;
  size_t initializer = 0;  // index of the next GraphProto.initializer
  size_t node = 0;         // index of the next GraphProto.node
  uint64_t removed = 0;
};

bool Selected(const std::vector<bool>& selection, size_t index) {
  return index < selection.size() && selection[index];
}

// TensorProto's fields that hold or locate its values: float_data,
// int32_data, string_data, int64_data, raw_data, double_data, uint64_data,
// external_data and data_location.
bool IsDataField(uint32_t field) {
  switch (field) {
    case 4:
    case 5:
    case 6:
    case 7:
    case 9:
    case 10:
    case 11:
    case 13:
    case 14:
      return true;
    default:
      return false;
  }
}

Status StripTensor(std::string_view tensor, StripState* state, std::string* out) {
  return ForEachField(tensor, "TensorProto", [&](const Field& f) {
    if (IsDataField(f.tag.field)) {
      state->removed += f.whole.size();
    } else {
      out->append(f.whole);
    }
    return Status::Ok();
  });
}

Status StripAttribute(std::string_view attribute, StripState* state, std::string* out) {
  return ForEachField(attribute, "AttributeProto", [&](const Field& f) {
    if (f.tag.field != 5 || f.tag.wire_type != kLengthDelimited) {
      out->append(f.whole);
      return Status::Ok();
    }
    std::string tensor;
    SERDAB_RETURN_IF_ERROR(StripTensor(f.payload, state, &tensor));
    AppendField(f, tensor, out);
    return Status::Ok();
  });
}

Status StripNode(std::string_view node, StripState* state, std::string* out) {
  return ForEachField(node, "NodeProto", [&](const Field& f) {
    if (f.tag.field != 5 || f.tag.wire_type != kLengthDelimited) {
      out->append(f.whole);
      return Status::Ok();
    }
    std::string attribute;
    SERDAB_RETURN_IF_ERROR(StripAttribute(f.payload, state, &attribute));
    AppendField(f, attribute, out);
    return Status::Ok();
  });
}

// Initializers and nodes are counted as DecodeGraph counts them: a field of
// another wire type is skipped there, so it is not counted here.
Status StripGraph(std::string_view graph, StripState* state, std::string* out) {
  return ForEachField(graph, "GraphProto", [&](const Field& f) {
    const bool message = f.tag.wire_type == kLengthDelimited;
    std::string contents;
    if (message && f.tag.field == 5 &&
        Selected(state->selection.initializer, state->initializer++)) {
      SERDAB_RETURN_IF_ERROR(StripTensor(f.payload, state, &contents));
    } else if (message && f.tag.field == 1 && Selected(state->selection.node, state->node++)) {
      SERDAB_RETURN_IF_ERROR(StripNode(f.payload, state, &contents));
    } else {
      out->append(f.whole);
      return Status::Ok();
    }
    AppendField(f, contents, out);
    return Status::Ok();
  });
}

}  // namespace

const char* DataTypeName(int32_t data_type) {
  static constexpr const char* kNames[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                           "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                           "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                           "COMPLEX128", "BFLOAT16"};
  if (data_type < 0 || data_type > TensorProto::kBfloat16) return nullptr;
  return kNames[data_type];
}

const char* AttributeTypeName(int32_t type) {
  static constexpr const char* kNames[] = {
      "UNDEFINED",      "FLOAT",      "INT",        "STRING",  "TENSOR", "GRAPH",
      "FLOATS",         "INTS",       "STRINGS",    "TENSORS", "GRAPHS", "SPARSE_TENSOR",
      "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
  if (type < 0 || type > AttributeProto::kTypeProtos) return nullptr;
  return kNames[type];
}

Result<ModelProto> DecodeModel(std::string_view bytes) {
  ModelProto model;
  Reader r(bytes);
  SERDAB_RETURN_IF_ERROR(DecodeModelFields(&r, &model));
  return model;
}

Result<std::string> StripTensorData(std::string_view bytes, const TensorSelection& selection,
                                    uint64_t* removed) {
  StripState state{selection};
  std::string out;
  out.reserve(bytes.size());
  SERDAB_RETURN_IF_ERROR(ForEachField(bytes, "ModelProto", [&](const Field& f) {
    if (f.tag.field != 7 || f.tag.wire_type != kLengthDelimited) {
      out.append(f.whole);
      return Status::Ok();
    }
    std::string graph;
    SERDAB_RETURN_IF_ERROR(StripGraph(f.payload, &state, &graph));
    AppendField(f, graph, &out);
    return Status::Ok();
  }));
  if (removed != nullptr) *removed = state.removed;
  return out;
}

}  // namespace serdab::engine::onnx_wire
