// Graph: the engine's intermediate representation of a model.
//
// A graph is a list of values (tensors, each produced by at most one node or
// fed from outside) and a list of nodes in topological order. It is built by
// the ONNX importer, rewritten by the passes in graph_passes.h, and finally
// compiled into an executable Model. Framework specifics (opset variants of an
// op) are resolved by each op's kernel, not here.
#ifndef SERDAB_ENCLAVE_ENGINE_GRAPH_H_
#define SERDAB_ENCLAVE_ENGINE_GRAPH_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

// One ONNX attribute value. Tensor-valued attributes (Constant's `value`) are
// decoded into a Tensor by the importer.
using AttributeValue =
    std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>, Tensor>;

class Attributes {
 public:
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  void set(const std::string& name, AttributeValue value) { values_[name] = std::move(value); }
  void erase(const std::string& name) { values_.erase(name); }
  const std::map<std::string, AttributeValue>& all() const { return values_; }

  // Typed getters return `fallback` when the attribute is absent. A present
  // attribute of the wrong kind is reported by the Status-returning forms.
  int64_t GetInt(const std::string& name, int64_t fallback) const;
  float GetFloat(const std::string& name, float fallback) const;
  std::string GetString(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> GetInts(const std::string& name,
                               const std::vector<int64_t>& fallback = {}) const;
  std::vector<float> GetFloats(const std::string& name,
                               const std::vector<float>& fallback = {}) const;
  const Tensor* GetTensor(const std::string& name) const;

  // Checks that every present attribute named in `ints` holds an int, and so on.
  Status CheckKinds(const std::string& node, const std::vector<std::string>& ints,
                    const std::vector<std::string>& int_lists = {},
                    const std::vector<std::string>& floats = {},
                    const std::vector<std::string>& strings = {}) const;

 private:
  std::map<std::string, AttributeValue> values_;
};

inline constexpr int kNoValue = -1;  // an omitted optional input

// How much memory a model may make the engine allocate while it is imported and
// prepared. A model is untrusted input whose declared dimensions are chosen by
// its author: without a bound, a few hundred bytes could ask for exabytes.
struct TensorLimits {
  // Any one tensor: a weight, a folded constant, or an inferred activation.
  uint64_t max_tensor_bytes = uint64_t{2} << 30;
  // All constants together: weights as decoded plus those folding creates.
  uint64_t max_total_bytes = uint64_t{4} << 30;
};

// The bytes of a tensor of `dtype` and `shape`, or InvalidArgument naming
// `what` if a dimension is negative, the size overflows, or it exceeds
// limits.max_tensor_bytes. An empty tensor's nonzero dimensions are held to
// the same bound, so that no dimension anywhere exceeds it.
Result<uint64_t> CheckedTensorBytes(DataType dtype, const Shape& shape, const TensorLimits& limits,
                                    const std::string& what);

struct Value {
  std::string name;
  TensorInfo info;  // filled by shape inference
  Tensor constant;  // defined() for initializers and folded constants
  bool is_constant() const { return constant.defined(); }
  // For a constant: the model file's tensors it was computed from, by name
  // (an initializer or a Constant node's output is its own source; a folded
  // or fused constant has its inputs' sources). What a layer range needs of
  // the file (partition_file.h).
  std::vector<std::string> sources;
};

struct Node {
  std::string name;  // unique within the graph (the importer names unnamed nodes)
  std::string op_type;
  std::vector<int> inputs;  // value ids; kNoValue for an omitted optional input
  std::vector<int> outputs;
  Attributes attrs;
};

class Graph {
 public:
  // Adds a value and returns its id. Names must be unique.
  int AddValue(std::string name);
  int FindValue(const std::string& name) const;  // kNoValue when absent

  std::vector<Value>& values() { return values_; }
  const std::vector<Value>& values() const { return values_; }
  Value& value(int id) { return values_[id]; }
  const Value& value(int id) const { return values_[id]; }

  std::vector<Node>& nodes() { return nodes_; }
  const std::vector<Node>& nodes() const { return nodes_; }

  std::vector<int>& inputs() { return inputs_; }
  const std::vector<int>& inputs() const { return inputs_; }
  std::vector<int>& outputs() { return outputs_; }
  const std::vector<int>& outputs() const { return outputs_; }

  int opset() const { return opset_; }
  void set_opset(int opset) { opset_ = opset; }

  // The weights the importer synthesized (ImportOptions), by source name.
  const std::set<std::string>& synthesized() const { return synthesized_; }
  void add_synthesized(std::string name) { synthesized_.insert(std::move(name)); }

  // The bounds the graph was imported under; the passes hold folding to them.
  const TensorLimits& limits() const { return limits_; }
  void set_limits(const TensorLimits& limits) { limits_ = limits; }

  // For each value id: the index of the node producing it, or -1 (graph input
  // or constant).
  std::vector<int> Producers() const;
  // For each value id: how many node inputs plus graph outputs read it.
  std::vector<int> UseCounts() const;

  // Replaces every use of value `from` (node inputs and graph outputs) by `to`.
  void ReplaceUses(int from, int to);

  // Drops nodes whose outputs are unused, then values nothing refers to
  // (releasing their constant data), and renumbers value ids.
  void RemoveDeadCode();

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<int> inputs_;
  std::vector<int> outputs_;
  std::map<std::string, int> value_ids_;
  int opset_ = 0;
  TensorLimits limits_;
  std::set<std::string> synthesized_;
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_GRAPH_H_
