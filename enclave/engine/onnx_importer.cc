#include "enclave/engine/onnx_importer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "enclave/engine/onnx_wire.h"

namespace serdab::engine {
namespace {

using onnx_wire::AttributeProto;
using onnx_wire::TensorProto;

// The element types we accept and the engine type each becomes. The engine
// computes in float32, with int64 for indices and shape arithmetic.
struct SourceType {
  DataType engine;
  size_t raw_size;  // bytes per element in raw_data
};

bool MapTensorType(int32_t onnx_type, SourceType* out) {
  switch (onnx_type) {
    case TensorProto::kFloat:
      *out = {DataType::kFloat32, 4};
      return true;
    case TensorProto::kDouble:
      *out = {DataType::kFloat32, 8};
      return true;
    case TensorProto::kInt64:
    case TensorProto::kUint64:
      *out = {DataType::kInt64, 8};
      return true;
    case TensorProto::kInt32:
    case TensorProto::kUint32:
      *out = {DataType::kInt64, 4};
      return true;
    case TensorProto::kInt16:
    case TensorProto::kUint16:
      *out = {DataType::kInt64, 2};
      return true;
    case TensorProto::kInt8:
    case TensorProto::kUint8:
    case TensorProto::kBool:
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
    case TensorProto::kFloat: {
      float v;
      std::memcpy(&v, p, 4);
      return static_cast<Out>(v);
    }
    case TensorProto::kDouble: {
      double v;
      std::memcpy(&v, p, 8);
      return static_cast<Out>(v);
    }
    case TensorProto::kInt64:
    case TensorProto::kUint64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<Out>(v);
    }
    case TensorProto::kInt32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<Out>(v);
    }
    case TensorProto::kUint32: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<Out>(v);
    }
    case TensorProto::kInt16: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return static_cast<Out>(v);
    }
    case TensorProto::kUint16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return static_cast<Out>(v);
    }
    case TensorProto::kInt8:
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
    case TensorProto::kFloat:
      return TypedField::kFloat;
    case TensorProto::kDouble:
      return TypedField::kDouble;
    case TensorProto::kInt64:
      return TypedField::kInt64;
    case TensorProto::kUint32:
    case TensorProto::kUint64:
      return TypedField::kUint64;
    default:  // the narrow integer types and BOOL
      return TypedField::kInt32;
  }
}

size_t TypedFieldSize(const TensorProto& t, TypedField field) {
  switch (field) {
    case TypedField::kFloat:
      return t.float_data.size();
    case TypedField::kDouble:
      return t.double_data.size();
    case TypedField::kInt64:
      return t.int64_data.size();
    case TypedField::kInt32:
      return t.int32_data.size();
    case TypedField::kUint64:
      return t.uint64_data.size();
  }
  return 0;
}

template <typename In, typename Out>
void Convert(const std::vector<In>& in, Out* out) {
  for (size_t i = 0; i < in.size(); ++i) out[i] = static_cast<Out>(in[i]);
}

template <typename Out>
void FillFromTypedField(const TensorProto& t, TypedField field, Out* out) {
  switch (field) {
    case TypedField::kFloat:
      Convert(t.float_data, out);
      break;
    case TypedField::kDouble:
      Convert(t.double_data, out);
      break;
    case TypedField::kInt64:
      Convert(t.int64_data, out);
      break;
    case TypedField::kInt32:
      Convert(t.int32_data, out);
      break;
    case TypedField::kUint64:
      Convert(t.uint64_data, out);
      break;
  }
}

// Frees the typed values once copied, so that peak memory holds them once.
void ReleaseTypedFields(TensorProto* t) {
  std::vector<float>().swap(t->float_data);
  std::vector<double>().swap(t->double_data);
  std::vector<int64_t>().swap(t->int64_data);
  std::vector<int32_t>().swap(t->int32_data);
  std::vector<uint64_t>().swap(t->uint64_data);
}

bool IsFloatingPoint(int32_t onnx_type) {
  return onnx_type == TensorProto::kFloat || onnx_type == TensorProto::kDouble ||
         onnx_type == TensorProto::kFloat16 || onnx_type == TensorProto::kBfloat16;
}

// SplitMix64: a small generator whose output depends only on its seed, on
// every platform.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1) on a grid of 2^24 points offset by half a step, so
  // that 2u - 1 is never zero.
  float Unit() { return (static_cast<float>(Next() >> 40) + 0.5f) * 0x1p-24f; }

 private:
  uint64_t state_;
};

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return h;
}

// The values ImportOptions::synthesize_absent_weights gives a weight.
void FillSynthetic(const std::string& seed_name, const Shape& shape, float* out) {
  SplitMix64 rng(Fnv1a(seed_name));
  const int64_t count = NumElements(shape);
  if (shape.size() >= 2) {
    const int64_t fan_in = count / shape[0];
    const float bound = std::sqrt(6.0f / static_cast<float>(fan_in));
    for (int64_t i = 0; i < count; ++i) out[i] = bound * (2 * rng.Unit() - 1);
  } else {
    for (int64_t i = 0; i < count; ++i) out[i] = 0.5f + rng.Unit();
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

// A tensor that declares elements but carries none of their values (as
// ArchitectureOnly and PartitionModelFile leave weights).
bool CarriesNoData(const TensorProto& t) {
  const size_t values = t.float_data.size() + t.double_data.size() + t.int64_data.size() +
                        t.int32_data.size() + t.uint64_data.size();
  return !t.has_raw_data && values == 0 &&
         std::all_of(t.dims.begin(), t.dims.end(), [](int64_t d) { return d > 0; });
}

// Decodes a TensorProto and releases its typed values. The declared shape
// must be within the limits and match the data actually present before
// anything is allocated: dims are the model author's claim, data is what came.
// A tensor with no data at all is synthesized if `options` say so.
Result<Tensor> DecodeTensor(TensorProto* t, const std::string& what, TensorBudget* budget,
                            Allocator* allocator, const ImportOptions& options) {
  if (t->data_location == TensorProto::kExternal || t->has_external_data) {
    return Status::Unimplemented(what +
                                 " keeps its data in an external file; re-export the model "
                                 "with the weights inside the .onnx file");
  }
  SourceType type;
  if (!MapTensorType(t->data_type, &type)) {
    const char* name = onnx_wire::DataTypeName(t->data_type);
    return Status::Unimplemented(what + " has " +
                                 (name != nullptr ? std::string("element type ") + name
                                                  : "an element type ONNX does not define") +
                                 ", which the engine does not support");
  }
  Shape shape(t->dims.begin(), t->dims.end());
  SERDAB_ASSIGN_OR_RETURN(const uint64_t bytes,
                          CheckedTensorBytes(type.engine, shape, budget->limits(), what));
  const int64_t count = NumElements(shape);
  const TypedField field = TypedFieldFor(t->data_type);
  const size_t values = t->float_data.size() + t->double_data.size() + t->int64_data.size() +
                        t->int32_data.size() + t->uint64_data.size();
  if (CarriesNoData(*t)) {
    if (!options.synthesize_absent_weights) {
      return Status::InvalidArgument(what + " of shape " + ShapeToString(shape) +
                                     " carries no data (an architecture-only model? its "
                                     "weights are synthesized only for profiling)");
    }
    if (type.engine != DataType::kFloat32) {
      return Status::InvalidArgument(what +
                                     " carries no data, and only floating-point "
                                     "weights are synthesized");
    }
    SERDAB_RETURN_IF_ERROR(budget->Claim(bytes, what));
    SERDAB_ASSIGN_OR_RETURN(Tensor tensor, Tensor::Create(type.engine, shape, allocator));
    FillSynthetic(what, shape, tensor.data<float>());
    return tensor;
  }
  if (t->has_raw_data) {
    uint64_t expected = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(count), type.raw_size, &expected) ||
        t->raw_data.size() != expected) {
      return Status::Corruption(what + " of shape " + ShapeToString(shape) + " should hold " +
                                std::to_string(expected) + " bytes but holds " +
                                std::to_string(t->raw_data.size()) +
                                " (truncated or corrupt file?)");
    }
  } else {
    if (TypedFieldSize(*t, field) != values) {
      return Status::Corruption(what + " keeps values in a typed field that its element type " +
                                "does not use");
    }
    if (values != static_cast<uint64_t>(count)) {
      return Status::Corruption(what + " of shape " + ShapeToString(shape) + " should hold " +
                                std::to_string(count) + " values but holds " +
                                std::to_string(values));
    }
  }
  SERDAB_RETURN_IF_ERROR(budget->Claim(bytes, what));
  SERDAB_ASSIGN_OR_RETURN(Tensor tensor, Tensor::Create(type.engine, shape, allocator));
  if (t->has_raw_data) {
    const char* p = t->raw_data.data();
    if (type.engine == DataType::kFloat32 && type.raw_size == 4) {
      std::memcpy(tensor.raw(), p, bytes);
    } else if (type.engine == DataType::kFloat32) {
      float* out = tensor.data<float>();
      for (int64_t i = 0; i < count; ++i)
        out[i] = ReadRaw<float>(p + i * type.raw_size, t->data_type);
    } else {
      int64_t* out = tensor.data<int64_t>();
      for (int64_t i = 0; i < count; ++i) {
        out[i] = ReadRaw<int64_t>(p + i * type.raw_size, t->data_type);
      }
    }
  } else {
    if (type.engine == DataType::kFloat32) {
      FillFromTypedField(*t, field, tensor.data<float>());
    } else {
      FillFromTypedField(*t, field, tensor.data<int64_t>());
    }
    ReleaseTypedFields(t);
  }
  return tensor;
}

Result<TensorInfo> DecodeValueInfo(const onnx_wire::ValueInfoProto& vi,
                                   const TensorLimits& limits) {
  const std::string what = "graph input '" + std::string(vi.name) + "'";
  if (!vi.type.has_tensor_type) return Status::Unimplemented(what + " is not a tensor");
  const auto& tt = vi.type.tensor_type;
  SourceType type;
  if (!MapTensorType(tt.elem_type, &type)) {
    return Status::Unimplemented(what + " has an element type the engine does not support");
  }
  if (!tt.has_shape) return Status::Unimplemented(what + " has no declared shape");
  // Pixels stay bytes (a quarter of a float32 frame on the wire and through
  // the channel) until the model's own Cast; integer initializers, which feed
  // shape arithmetic, become int64.
  TensorInfo info{tt.elem_type == TensorProto::kUint8 ? DataType::kUint8 : type.engine, {}};
  for (const auto& dim : tt.shape.dim) {
    // Symbolic dimensions (a dynamic batch axis) are bound to 1: the engine
    // runs one frame at a time with static shapes.
    info.shape.push_back(dim.has_dim_value && dim.dim_value > 0 ? dim.dim_value : 1);
  }
  // Activations are sized from this shape, so it is held to the same bound.
  SERDAB_RETURN_IF_ERROR(CheckedTensorBytes(info.dtype, info.shape, limits, what).status());
  return info;
}

Result<AttributeValue> DecodeAttribute(AttributeProto* a, const std::string& node,
                                       TensorBudget* budget, Allocator* allocator,
                                       const ImportOptions& options) {
  const std::string name(a->name);
  // The decoder skips subgraphs unread (onnx_wire.h), so an attribute that
  // holds one is refused whatever its type says. Exporters emit control flow
  // for data-dependent post-processing (a detector's box filtering and NMS),
  // which the client does outside the enclave.
  if (a->has_graph) {
    return Status::Unimplemented(
        "node '" + node + "': attribute '" + name +
        "' holds a subgraph (control flow such as If or Loop), which the engine does not "
        "support; export the model without its post-processing graph (a detector ending at its "
        "raw box and score outputs) and let the client decode them");
  }
  switch (a->type) {
    case AttributeProto::kInt:
      return AttributeValue(a->i);
    case AttributeProto::kFloat:
      return AttributeValue(a->f);
    case AttributeProto::kString:
      return AttributeValue(std::string(a->s));
    case AttributeProto::kInts:
      return AttributeValue(std::move(a->ints));
    case AttributeProto::kFloats:
      return AttributeValue(std::move(a->floats));
    case AttributeProto::kTensor: {
      SERDAB_ASSIGN_OR_RETURN(
          Tensor t, DecodeTensor(&a->t, "attribute '" + name + "' of node '" + node + "'", budget,
                                 allocator, options));
      return AttributeValue(std::move(t));
    }
    default:
      return Status::Unimplemented("node '" + node + "': attribute '" + name + "' is of type " +
                                   onnx_wire::AttributeTypeName(a->type) +
                                   ", which the engine does not support");
  }
}

// A model file read into private anonymous memory. The whole pages of each
// weight are handed back to the kernel once it has been copied into its
// tensor, so that importing a file peaks near one copy of the weights.
class ModelFile {
 public:
  ModelFile() = default;
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;
  ~ModelFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }

  Status Read(const std::string& path);
  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

  // `part` lies within bytes() and is not read again.
  void Release(std::string_view part) {
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(part.data()) + page - 1) & ~(page - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(part.data()) + part.size()) & ~(page - 1);
    // Only an optimisation: if it fails, the pages are freed with the rest.
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

Status ModelFile::Read(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::IoError("not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return Status::InvalidArgument("not an ONNX model: the file is empty");
  }
  if (st.st_size > INT_MAX) {
    ::close(fd);
    return Status::Unimplemented("models over 2 GiB need external data, which is not supported");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  // Every page is written at once by read(): faulting them all in up front
  // is cheaper than one fault at a time (measured: half the time in a VM).
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (data == MAP_FAILED) {
    ::close(fd);
    return Status::ResourceExhausted("cannot map " + std::to_string(size) + " bytes to read it");
  }
  data_ = data;
  size_ = size;
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, static_cast<char*>(data) + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      return Status::IoError(n == 0 ? std::string("the file shrank while it was read")
                                    : std::string("cannot read: ") + std::strerror(error));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return Status::Ok();
}

// Builds the graph of `model`. If `file` holds the model's bytes, each
// initializer's raw_data is released from it once copied.
Result<Graph> BuildGraph(onnx_wire::ModelProto* model, const TensorLimits& limits,
                         Allocator* allocator, const ImportOptions& options, ModelFile* file) {
  Graph graph;
  graph.set_limits(limits);
  TensorBudget budget(limits);
  int opset = 0;
  for (const auto& imp : model->opset_import) {
    if (imp.domain.empty() || imp.domain == "ai.onnx") opset = static_cast<int>(imp.version);
  }
  // IR version 3 models predate opset_import and mean opset 1.
  if (opset == 0 && model->opset_import.empty()) opset = 1;
  if (opset == 0)
    return Status::Unimplemented("the model imports no default-domain (ai.onnx) opset");
  graph.set_opset(opset);

  onnx_wire::GraphProto* g = &model->graph;
  std::set<std::string_view> initializer_names;
  for (TensorProto& init : g->initializer) {
    const std::string name(init.name);
    if (name.empty()) return Status::Corruption("an initializer has no name");
    if (graph.FindValue(name) != kNoValue) {
      return Status::Corruption("initializer '" + name + "' is defined twice");
    }
    const int id = graph.AddValue(name);
    if (options.synthesize_absent_weights && CarriesNoData(init)) graph.add_synthesized(name);
    SERDAB_ASSIGN_OR_RETURN(
        graph.value(id).constant,
        DecodeTensor(&init, "initializer '" + name + "'", &budget, allocator, options));
    graph.value(id).info = graph.value(id).constant.info();
    graph.value(id).sources = {name};
    initializer_names.insert(init.name);
    if (file != nullptr && init.has_raw_data) file->Release(init.raw_data);
  }

  for (const auto& in : g->input) {
    // Before IR version 4, initializers are also listed as graph inputs.
    if (initializer_names.count(in.name)) continue;
    const std::string name(in.name);
    if (graph.FindValue(name) != kNoValue) {
      return Status::Corruption("graph input '" + name + "' is declared twice");
    }
    SERDAB_ASSIGN_OR_RETURN(TensorInfo info, DecodeValueInfo(in, limits));
    const int id = graph.AddValue(name);
    graph.value(id).info = std::move(info);
    graph.inputs().push_back(id);
  }
  if (graph.inputs().empty()) return Status::Unimplemented("the model has no non-constant input");

  std::set<std::string> node_names;
  int index = 0;
  for (onnx_wire::NodeProto& np : g->node) {
    Node node;
    node.op_type = std::string(np.op_type);
    node.name = std::string(np.name);
    if (node.name.empty() || node_names.count(node.name)) {
      node.name = (node.name.empty() ? node.op_type : node.name) + "_" + std::to_string(index);
    }
    ++index;
    node_names.insert(node.name);
    if (!np.domain.empty() && np.domain != "ai.onnx") {
      return Status::Unimplemented("unsupported op '" + std::string(np.domain) +
                                   "::" + node.op_type + "' at node '" + node.name +
                                   "': only the default ONNX domain is supported");
    }
    for (std::string_view in : np.input) {
      if (in.empty()) {
        node.inputs.push_back(kNoValue);
        continue;
      }
      const int id = graph.FindValue(std::string(in));
      if (id == kNoValue) {
        return Status::Corruption("node '" + node.name + "' reads '" + std::string(in) +
                                  "', which no earlier node, input or initializer defines");
      }
      node.inputs.push_back(id);
    }
    // Trailing omitted optional outputs are simply not there; ones in the
    // middle keep their position under a private name.
    size_t num_outputs = np.output.size();
    while (num_outputs > 0 && np.output[num_outputs - 1].empty()) --num_outputs;
    for (size_t o = 0; o < num_outputs; ++o) {
      const std::string out(np.output[o]);
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
    for (AttributeProto& a : np.attribute) {
      if (options.synthesize_absent_weights && np.op_type == "Constant" && num_outputs == 1 &&
          a.type == AttributeProto::kTensor && CarriesNoData(a.t)) {
        graph.add_synthesized(std::string(np.output[0]));
      }
      SERDAB_ASSIGN_OR_RETURN(AttributeValue v,
                              DecodeAttribute(&a, node.name, &budget, allocator, options));
      node.attrs.set(std::string(a.name), std::move(v));
    }
    graph.nodes().push_back(std::move(node));
  }
  if (graph.nodes().empty()) return Status::InvalidArgument("the model's graph has no nodes");

  for (const auto& out : g->output) {
    const std::string name(out.name);
    const int id = graph.FindValue(name);
    if (id == kNoValue) {
      return Status::Corruption("graph output '" + name + "' is not produced by any node");
    }
    graph.outputs().push_back(id);
  }
  if (graph.outputs().empty()) return Status::InvalidArgument("the model's graph has no outputs");
  return graph;
}

// Decodes `bytes` (not empty) and builds its graph; `file` as for BuildGraph.
Result<Graph> Import(std::string_view bytes, const TensorLimits& limits, Allocator* allocator,
                     const ImportOptions& options, ModelFile* file) {
  if (bytes.size() > INT_MAX) {
    return Status::Unimplemented("models over 2 GiB need external data, which is not supported");
  }
  SERDAB_ASSIGN_OR_RETURN(onnx_wire::ModelProto model, onnx_wire::DecodeModel(bytes));
  if (!model.has_graph || model.ir_version <= 0) {
    return Status::InvalidArgument("not an ONNX model: no graph or no IR version");
  }
  return BuildGraph(&model, limits, allocator, options, file);
}

// The inputs of `op` that its kernel reads as constants at load time (see
// ArchitectureOnly).
std::vector<size_t> LoadTimeInputs(std::string_view op) {
  static const std::map<std::string_view, std::vector<size_t>> kInputs = {
      {"Clip", {1, 2}},
      {"ConstantOfShape", {0}},
      {"Dropout", {2}},
      {"Expand", {1}},
      {"Pad", {1, 2, 3}},
      // Not read at load time, but it decides whether the result is finite.
      {"Pow", {1}},
      {"ReduceMean", {1}},
      {"Reshape", {1}},
      {"Resize", {1, 2, 3}},
      {"Slice", {1, 2, 3, 4}},
      {"Split", {1}},
      {"Squeeze", {1}},
      {"Unsqueeze", {1}},
      {"Upsample", {1}},
  };
  auto it = kInputs.find(op);
  return it == kInputs.end() ? std::vector<size_t>() : it->second;
}

// The values of `g` whose data some kernel needs at load time: the load-time
// inputs, and every constant folded into one of them.
std::set<std::string_view> ValuesNeededAtLoad(const onnx_wire::GraphProto& g) {
  // Constants as InferShapes folds them: initializers, then the outputs of
  // Shape and of every node whose inputs are all constants.
  std::set<std::string_view> constant;
  for (const TensorProto& init : g.initializer) constant.insert(init.name);
  std::map<std::string_view, const onnx_wire::NodeProto*> producer;
  for (const onnx_wire::NodeProto& node : g.node) {
    const bool folded = node.op_type == "Shape" ||
                        std::all_of(node.input.begin(), node.input.end(), [&](std::string_view in) {
                          return in.empty() || constant.count(in) > 0;
                        });
    for (std::string_view out : node.output) {
      producer[out] = &node;
      if (folded) constant.insert(out);
    }
  }
  std::vector<std::string_view> pending;
  for (const onnx_wire::NodeProto& node : g.node) {
    for (size_t i : LoadTimeInputs(node.op_type)) {
      if (i < node.input.size()) pending.push_back(node.input[i]);
    }
  }
  std::set<std::string_view> needed;
  while (!pending.empty()) {
    const std::string_view value = pending.back();
    pending.pop_back();
    if (value.empty() || constant.count(value) == 0 || !needed.insert(value).second) continue;
    auto it = producer.find(value);
    // Shape reads only its input's shape, which stays.
    if (it == producer.end() || it->second->op_type == "Shape") continue;
    pending.insert(pending.end(), it->second->input.begin(), it->second->input.end());
  }
  return needed;
}

// A Constant node whose value is a floating-point tensor.
bool IsFloatingPointConstant(const onnx_wire::NodeProto& node) {
  if (node.op_type != "Constant" || node.output.size() != 1) return false;
  bool any = false;
  for (const AttributeProto& a : node.attribute) {
    if (a.type != AttributeProto::kTensor) continue;
    if (!IsFloatingPoint(a.t.data_type)) return false;
    any = true;
  }
  return any;
}

}  // namespace

Result<Graph> ImportOnnxFile(const std::string& path, Allocator* weight_allocator,
                             const TensorLimits& limits, const ImportOptions& options) {
  ModelFile file;
  SERDAB_RETURN_IF_ERROR(file.Read(path).WithContext(path));
  Result<Graph> graph = Import(file.bytes(), limits, weight_allocator, options, &file);
  if (!graph.ok()) return graph.status().WithContext(path);
  return graph;
}

Result<Graph> ImportOnnxBytes(std::string_view bytes, const std::string& origin,
                              Allocator* weight_allocator, const TensorLimits& limits,
                              const ImportOptions& options) {
  if (bytes.empty()) {
    return Status::InvalidArgument(origin + ": not an ONNX model: it is empty");
  }
  Result<Graph> graph = Import(bytes, limits, weight_allocator, options, nullptr);
  if (!graph.ok()) return graph.status().WithContext(origin);
  return graph;
}

Result<std::string> StripWeightsExcept(std::string_view onnx, const std::set<std::string>& keep,
                                       uint64_t* removed_bytes) {
  SERDAB_ASSIGN_OR_RETURN(const onnx_wire::ModelProto model, onnx_wire::DecodeModel(onnx));
  if (!model.has_graph || model.ir_version <= 0) {
    return Status::InvalidArgument("not an ONNX model: no graph or no IR version");
  }
  const onnx_wire::GraphProto& g = model.graph;
  const std::set<std::string_view> needed = ValuesNeededAtLoad(g);
  auto kept = [&](std::string_view name) {
    return needed.count(name) > 0 || keep.count(std::string(name)) > 0;
  };
  onnx_wire::TensorSelection weights;
  for (const TensorProto& init : g.initializer) {
    weights.initializer.push_back(IsFloatingPoint(init.data_type) && !kept(init.name));
  }
  for (const onnx_wire::NodeProto& node : g.node) {
    weights.node.push_back(IsFloatingPointConstant(node) && !kept(node.output[0]));
  }
  return onnx_wire::StripTensorData(onnx, weights, removed_bytes);
}

Result<std::string> ArchitectureOnly(std::string_view onnx, uint64_t* removed_bytes) {
  return StripWeightsExcept(onnx, {}, removed_bytes);
}

}  // namespace serdab::engine
