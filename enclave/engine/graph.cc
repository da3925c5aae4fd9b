#include "enclave/engine/graph.h"

#include <algorithm>

namespace serdab::engine {
namespace {

template <typename T>
const T* Find(const std::map<std::string, AttributeValue>& values, const std::string& name) {
  auto it = values.find(name);
  if (it == values.end()) return nullptr;
  return std::get_if<T>(&it->second);
}

}  // namespace

Result<uint64_t> CheckedTensorBytes(DataType dtype, const Shape& shape, const TensorLimits& limits,
                                    const std::string& what) {
  // Zero dimensions are skipped: an empty dimension must not hide a huge one
  // from code that sizes something per index of each dimension.
  int64_t spanned = 1;
  bool empty = false;
  bool overflow = false;
  for (int64_t d : shape) {
    if (d < 0) {
      return Status::InvalidArgument(what + " has a negative dimension in shape " +
                                     ShapeToString(shape));
    }
    empty = empty || d == 0;
    overflow = overflow || (d > 0 && __builtin_mul_overflow(spanned, d, &spanned));
  }
  uint64_t bytes = 0;
  overflow = overflow || __builtin_mul_overflow(static_cast<uint64_t>(spanned),
                                                uint64_t{ElementSize(dtype)}, &bytes);
  if (overflow) {
    return Status::InvalidArgument(what + " of shape " + ShapeToString(shape) +
                                   " has more elements than 64 bits can count");
  }
  if (bytes > limits.max_tensor_bytes) {
    return Status::InvalidArgument(
        what + " of shape " + ShapeToString(shape) + " (" + DataTypeName(dtype) + ") " +
        (empty ? "is empty but its other dimensions span " : "needs ") + std::to_string(bytes) +
        " bytes, over the limit of " + std::to_string(limits.max_tensor_bytes) +
        " bytes for one tensor");
  }
  return empty ? 0 : bytes;
}

int64_t Attributes::GetInt(const std::string& name, int64_t fallback) const {
  const int64_t* v = Find<int64_t>(values_, name);
  return v ? *v : fallback;
}

float Attributes::GetFloat(const std::string& name, float fallback) const {
  const float* v = Find<float>(values_, name);
  return v ? *v : fallback;
}

std::string Attributes::GetString(const std::string& name, const std::string& fallback) const {
  const std::string* v = Find<std::string>(values_, name);
  return v ? *v : fallback;
}

std::vector<int64_t> Attributes::GetInts(const std::string& name,
                                         const std::vector<int64_t>& fallback) const {
  const auto* v = Find<std::vector<int64_t>>(values_, name);
  return v ? *v : fallback;
}

std::vector<float> Attributes::GetFloats(const std::string& name,
                                         const std::vector<float>& fallback) const {
  const auto* v = Find<std::vector<float>>(values_, name);
  return v ? *v : fallback;
}

const Tensor* Attributes::GetTensor(const std::string& name) const {
  return Find<Tensor>(values_, name);
}

Status Attributes::CheckKinds(const std::string& node, const std::vector<std::string>& ints,
                              const std::vector<std::string>& int_lists,
                              const std::vector<std::string>& floats,
                              const std::vector<std::string>& strings) const {
  auto check = [&](const std::vector<std::string>& names, auto tag, const char* kind) -> Status {
    using T = decltype(tag);
    for (const std::string& n : names) {
      auto it = values_.find(n);
      if (it != values_.end() && !std::holds_alternative<T>(it->second)) {
        return Status::InvalidArgument("node '" + node + "': attribute '" + n + "' should be " +
                                       kind);
      }
    }
    return Status::Ok();
  };
  SERDAB_RETURN_IF_ERROR(check(ints, int64_t{}, "an int"));
  SERDAB_RETURN_IF_ERROR(check(int_lists, std::vector<int64_t>{}, "a list of ints"));
  SERDAB_RETURN_IF_ERROR(check(floats, float{}, "a float"));
  return check(strings, std::string{}, "a string");
}

int Graph::AddValue(std::string name) {
  const int id = static_cast<int>(values_.size());
  value_ids_[name] = id;
  values_.push_back(Value{std::move(name), {}, {}, {}});
  return id;
}

int Graph::FindValue(const std::string& name) const {
  auto it = value_ids_.find(name);
  return it == value_ids_.end() ? kNoValue : it->second;
}

std::vector<int> Graph::Producers() const {
  std::vector<int> producer(values_.size(), -1);
  for (size_t n = 0; n < nodes_.size(); ++n) {
    for (int out : nodes_[n].outputs) producer[out] = static_cast<int>(n);
  }
  return producer;
}

std::vector<int> Graph::UseCounts() const {
  std::vector<int> uses(values_.size(), 0);
  for (const Node& node : nodes_) {
    for (int in : node.inputs) {
      if (in != kNoValue) ++uses[in];
    }
  }
  for (int out : outputs_) ++uses[out];
  return uses;
}

void Graph::ReplaceUses(int from, int to) {
  for (Node& node : nodes_) {
    std::replace(node.inputs.begin(), node.inputs.end(), from, to);
  }
  std::replace(outputs_.begin(), outputs_.end(), from, to);
}

void Graph::RemoveDeadCode() {
  // Walk backwards so a chain of dead nodes goes in one sweep.
  std::vector<int> uses = UseCounts();
  std::vector<bool> keep_node(nodes_.size(), true);
  for (int n = static_cast<int>(nodes_.size()) - 1; n >= 0; --n) {
    bool used = false;
    for (int out : nodes_[n].outputs) used = used || uses[out] > 0;
    if (used) continue;
    keep_node[n] = false;
    for (int in : nodes_[n].inputs) {
      if (in != kNoValue) --uses[in];
    }
  }
  std::vector<Node> nodes;
  for (size_t n = 0; n < nodes_.size(); ++n) {
    if (keep_node[n]) nodes.push_back(std::move(nodes_[n]));
  }
  nodes_ = std::move(nodes);

  // Keep values that are referenced; graph inputs stay even if unused.
  std::vector<bool> keep_value(values_.size(), false);
  for (int in : inputs_) keep_value[in] = true;
  for (int out : outputs_) keep_value[out] = true;
  for (const Node& node : nodes_) {
    for (int in : node.inputs) {
      if (in != kNoValue) keep_value[in] = true;
    }
    for (int out : node.outputs) keep_value[out] = true;
  }
  std::vector<int> remap(values_.size(), kNoValue);
  std::vector<Value> values;
  value_ids_.clear();
  for (size_t v = 0; v < values_.size(); ++v) {
    if (!keep_value[v]) continue;
    remap[v] = static_cast<int>(values.size());
    value_ids_[values_[v].name] = remap[v];
    values.push_back(std::move(values_[v]));
  }
  values_ = std::move(values);
  auto renumber = [&](std::vector<int>& ids) {
    for (int& id : ids) {
      if (id != kNoValue) id = remap[id];
    }
  };
  renumber(inputs_);
  renumber(outputs_);
  for (Node& node : nodes_) {
    renumber(node.inputs);
    renumber(node.outputs);
  }
}

}  // namespace serdab::engine
