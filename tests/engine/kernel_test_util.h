// Helpers for driving one kernel in a unit test without a Model.
//
// RunKernel(op_type, flavor, attrs, inputs, opset, num_threads, num_outputs)
// builds a one-node Graph, sets the kernel up exactly as the Model would
// (constant inputs are visible through KernelSetup::constant, the others only
// by type and shape), allocates the outputs and the scratch memory, runs it on
// a ThreadPool of num_threads and returns the outputs (or the Setup/Run error).
// Inputs are TestInput values: In(t) for a run-time input, Const(t) for an
// initializer, NoInput() for an omitted optional input. Outputs are filled
// with 0xFF bytes (NaN / -1) before Run so an element the kernel forgot to
// write shows up. Example:
//
//   Attributes attrs = MakeAttrs({{"alpha", 0.1f}});
//   auto out = RunKernel("LeakyRelu", KernelFlavor::kReference, attrs,
//                        {In(FloatTensor({2}, {-1.f, 2.f}))});
//   ASSERT_TRUE(out.ok()) << out.status().ToString();
//   ExpectTensorNear((*out)[0], FloatTensor({2}, {-0.1f, 2.f}));
//
// SetupKernel does only the Setup half, for tests of shape inference, Flops
// and rejected attributes. RandomFloatTensor, ExpectTensorNear and
// ExpectTensorEqual (bitwise) cover optimised-vs-reference comparisons.
#ifndef SERDAB_TESTS_ENGINE_KERNEL_TEST_UTIL_H_
#define SERDAB_TESTS_ENGINE_KERNEL_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/graph.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine::testing {

// One node input. An undefined tensor is an omitted optional input.
struct TestInput {
  Tensor tensor;
  bool constant = false;
};

inline TestInput In(Tensor t) { return {std::move(t), false}; }
inline TestInput Const(Tensor t) { return {std::move(t), true}; }
inline TestInput NoInput() { return {}; }

inline Attributes MakeAttrs(
    std::initializer_list<std::pair<std::string, AttributeValue>> values = {}) {
  Attributes attrs;
  for (const auto& [name, value] : values) attrs.set(name, value);
  return attrs;
}

inline Tensor FloatTensor(Shape shape, const std::vector<float>& values) {
  Tensor t = Tensor::Create(DataType::kFloat32, std::move(shape)).value();
  EXPECT_EQ(static_cast<size_t>(t.num_elements()), values.size()) << "FloatTensor: value count";
  if (static_cast<size_t>(t.num_elements()) == values.size() && !values.empty()) {
    std::memcpy(t.raw(), values.data(), t.bytes());
  }
  return t;
}

inline Tensor Int64Tensor(Shape shape, const std::vector<int64_t>& values) {
  Tensor t = Tensor::Create(DataType::kInt64, std::move(shape)).value();
  EXPECT_EQ(static_cast<size_t>(t.num_elements()), values.size()) << "Int64Tensor: value count";
  if (static_cast<size_t>(t.num_elements()) == values.size() && !values.empty()) {
    std::memcpy(t.raw(), values.data(), t.bytes());
  }
  return t;
}

inline Tensor ScalarFloat(float v) { return FloatTensor({}, {v}); }

// n uniform values in [-1, 1), the same for the same seed.
inline std::vector<float> RandomFloats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// Uniform values in [lo, hi).
inline Tensor RandomFloatTensor(Shape shape, std::mt19937* rng, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::Create(DataType::kFloat32, std::move(shape)).value();
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.num_elements(); ++i) p[i] = dist(*rng);
  return t;
}

template <typename T>
std::vector<T> ToVector(const Tensor& t) {
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.num_elements());
}

struct KernelUnderTest {
  std::unique_ptr<Kernel> kernel;
  std::vector<TensorInfo> outputs;
  // Keeps the Values that KernelSetup pointed at alive for the kernel's life.
  std::shared_ptr<Graph> graph;
};

// Sets a kernel up for a one-node graph; the Setup error if it fails.
inline Result<KernelUnderTest> SetupKernel(const std::string& op_type, KernelFlavor flavor,
                                           const Attributes& attrs,
                                           const std::vector<TestInput>& inputs, int opset = 13,
                                           int num_threads = 1, int num_outputs = 1) {
  KernelUnderTest kut;
  kut.kernel = OpRegistry::Builtin().Create(op_type, flavor);
  if (kut.kernel == nullptr) return Status::NotFound("no kernel for op type " + op_type);
  kut.graph = std::make_shared<Graph>();
  Graph& graph = *kut.graph;
  graph.set_opset(opset);
  Node node;
  node.name = "test_" + op_type;
  node.op_type = op_type;
  node.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].tensor.defined()) {
      node.inputs.push_back(kNoValue);
      continue;
    }
    const int id = graph.AddValue("input" + std::to_string(i));
    graph.value(id).info = inputs[i].tensor.info();
    if (inputs[i].constant) graph.value(id).constant = inputs[i].tensor;
    node.inputs.push_back(id);
  }
  for (int i = 0; i < num_outputs; ++i) {
    node.outputs.push_back(graph.AddValue("output" + std::to_string(i)));
  }
  graph.nodes().push_back(std::move(node));

  KernelSetup setup;
  setup.node = &graph.nodes().back();
  for (int id : setup.node->inputs) {
    setup.inputs.push_back(id == kNoValue ? nullptr : &graph.value(id));
  }
  setup.opset = opset;
  setup.num_threads = num_threads;
  SERDAB_RETURN_IF_ERROR(kut.kernel->Setup(setup, &kut.outputs));
  if (static_cast<int>(kut.outputs.size()) != num_outputs) {
    return Status::Internal("Setup returned " + std::to_string(kut.outputs.size()) +
                            " outputs, the node has " + std::to_string(num_outputs));
  }
  return kut;
}

// Runs a kernel that SetupKernel prepared on the same inputs.
inline Result<std::vector<Tensor>> RunSetUpKernel(const KernelUnderTest& kut,
                                                  const std::vector<TestInput>& inputs,
                                                  int num_threads = 1) {
  std::vector<Tensor> outputs;
  KernelIO io;
  for (const TestInput& in : inputs) {
    io.inputs.push_back(in.tensor.defined() ? &in.tensor : nullptr);
  }
  for (const TensorInfo& info : kut.outputs) {
    SERDAB_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(info.dtype, info.shape));
    if (t.bytes() > 0) std::memset(t.raw(), 0xFF, t.bytes());
    outputs.push_back(std::move(t));
  }
  for (Tensor& t : outputs) io.outputs.push_back(&t);
  const size_t scratch_bytes = kut.kernel->ScratchBytes();
  SERDAB_ASSIGN_OR_RETURN(
      Tensor scratch,
      Tensor::Create(DataType::kInt64, {static_cast<int64_t>((scratch_bytes + 7) / 8)}));
  io.scratch = scratch.raw();
  ThreadPool pool(num_threads);
  io.pool = &pool;
  SERDAB_RETURN_IF_ERROR(kut.kernel->Run(io));
  return outputs;
}

// Setup followed by Run; the outputs in node output order.
inline Result<std::vector<Tensor>> RunKernel(const std::string& op_type, KernelFlavor flavor,
                                             const Attributes& attrs,
                                             const std::vector<TestInput>& inputs, int opset = 13,
                                             int num_threads = 1, int num_outputs = 1) {
  SERDAB_ASSIGN_OR_RETURN(KernelUnderTest kut, SetupKernel(op_type, flavor, attrs, inputs, opset,
                                                           num_threads, num_outputs));
  return RunSetUpKernel(kut, inputs, num_threads);
}

// Same dtype and shape, and every element within abs_tol + rel_tol * |expected|.
inline void ExpectTensorNear(const Tensor& actual, const Tensor& expected, float abs_tol = 1e-6f,
                             float rel_tol = 1e-6f) {
  ASSERT_EQ(actual.dtype(), expected.dtype());
  ASSERT_EQ(actual.shape(), expected.shape())
      << ShapeToString(actual.shape()) << " vs " << ShapeToString(expected.shape());
  if (actual.dtype() == DataType::kInt64) {
    for (int64_t i = 0; i < actual.num_elements(); ++i) {
      ASSERT_EQ(actual.data<int64_t>()[i], expected.data<int64_t>()[i]) << "at element " << i;
    }
    return;
  }
  const float* a = actual.data<float>();
  const float* e = expected.data<float>();
  for (int64_t i = 0; i < actual.num_elements(); ++i) {
    if (std::isnan(e[i])) {
      ASSERT_TRUE(std::isnan(a[i])) << "at element " << i << ": " << a[i] << ", expected NaN";
    } else if (std::isinf(e[i])) {
      ASSERT_EQ(a[i], e[i]) << "at element " << i;
    } else {
      ASSERT_LE(std::fabs(a[i] - e[i]), abs_tol + rel_tol * std::fabs(e[i]))
          << "at element " << i << ": " << a[i] << " vs expected " << e[i];
    }
  }
}

// Same dtype, shape and bytes.
inline void ExpectTensorEqual(const Tensor& actual, const Tensor& expected) {
  ASSERT_EQ(actual.dtype(), expected.dtype());
  ASSERT_EQ(actual.shape(), expected.shape())
      << ShapeToString(actual.shape()) << " vs " << ShapeToString(expected.shape());
  ASSERT_EQ(std::memcmp(actual.raw(), expected.raw(), actual.bytes()), 0)
      << "tensors differ bitwise";
}

}  // namespace serdab::engine::testing

#endif  // SERDAB_TESTS_ENGINE_KERNEL_TEST_UTIL_H_
