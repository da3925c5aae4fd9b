// OnnxBuilder: writes an ONNX ModelProto one graph element at a time.
//
// The model zoo uses it to emit torchvision-shaped graphs. The protobuf types
// stay behind a pointer so that the CLI, which includes this header through the
// zoo, does not compile against the ONNX headers. Names are checked as they are
// added: node names and value names must each be unique, so a typo in a zoo
// definition fails loudly instead of producing an invalid graph.
#ifndef SERDAB_CLI_ZOO_ONNX_BUILDER_H_
#define SERDAB_CLI_ZOO_ONNX_BUILDER_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::zoo {

// One node attribute. The constructors exist so that call sites can write
// {"pads", {1, 1, 1, 1}} or {"axis", 1}.
struct OnnxAttribute {
  using Value = std::variant<int64_t, float, std::string, std::vector<int64_t>>;

  OnnxAttribute(std::string n, int64_t v) : name(std::move(n)), value(v) {}
  OnnxAttribute(std::string n, int v) : name(std::move(n)), value(int64_t{v}) {}
  OnnxAttribute(std::string n, float v) : name(std::move(n)), value(v) {}
  OnnxAttribute(std::string n, const char* v) : name(std::move(n)), value(std::string(v)) {}
  OnnxAttribute(std::string n, std::string v) : name(std::move(n)), value(std::move(v)) {}
  OnnxAttribute(std::string n, std::vector<int64_t> v) : name(std::move(n)), value(std::move(v)) {}
  OnnxAttribute(std::string n, std::initializer_list<int64_t> v)
      : name(std::move(n)), value(std::vector<int64_t>(v)) {}

  std::string name;
  Value value;
};

class OnnxBuilder {
 public:
  // An empty model with one graph and the default-domain `opset`.
  OnnxBuilder(const std::string& graph_name, int64_t opset);
  ~OnnxBuilder();
  OnnxBuilder(const OnnxBuilder&) = delete;
  OnnxBuilder& operator=(const OnnxBuilder&) = delete;

  // Graph inputs and outputs have fixed shapes; they are float32, except an
  // input of camera pixels, which is uint8.
  enum class InputType { kFloat32, kUint8 };
  Status AddInput(const std::string& name, const std::vector<int64_t>& shape,
                  InputType type = InputType::kFloat32);
  Status AddOutput(const std::string& name, const std::vector<int64_t>& shape);

  // Adds a float32 initializer. Its elements, in row-major order, are the
  // successive results of `next`; they are written straight into the tensor's
  // raw_data (little-endian), so no second copy of the weights exists.
  Status AddFloatInitializer(const std::string& name, const std::vector<int64_t>& shape,
                             const std::function<float()>& next);

  // Adds a node with one output and returns the output's value name: `output`
  // if given, else the node's name. Inputs must already exist.
  Result<std::string> AddNode(const std::string& op_type, const std::string& name,
                              const std::vector<std::string>& inputs,
                              const std::vector<OnnxAttribute>& attributes = {},
                              const std::string& output = "");

  // Adds a Constant node holding a float32 tensor (a scalar when `shape` is
  // empty) and returns its output's value name.
  Result<std::string> AddFloatConstant(const std::string& name, const std::vector<int64_t>& shape,
                                       const std::vector<float>& values);

  // The serialized ModelProto. Fails if the model exceeds protobuf's 2 GiB.
  Result<std::string> Serialize() const;
  // Serializes the model into `path`, overwriting it.
  Status SerializeToFile(const std::string& path) const;

 private:
  struct Impl;
  Status ClaimValueName(const std::string& name);

  std::unique_ptr<Impl> impl_;
};

}  // namespace serdab::zoo

#endif  // SERDAB_CLI_ZOO_ONNX_BUILDER_H_
