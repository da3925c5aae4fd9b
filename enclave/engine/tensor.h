// Tensor: a dense, row-major array of float32 or int64 with a static shape.
//
// Storage is shared: copying a Tensor copies a reference, like a
// std::shared_ptr. A Tensor either owns its buffer (Create, released to its
// Allocator with the last reference) or wraps memory it does not own (Wrap,
// used for activations placed in an executor's arena).
#ifndef SERDAB_ENCLAVE_ENGINE_TENSOR_H_
#define SERDAB_ENCLAVE_ENGINE_TENSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/allocator.h"

namespace serdab::engine {

// Values match onnx::TensorProto::DataType. The engine computes in float32,
// with int64 for indices and shape arithmetic; uint8 is what a camera's
// pixels are, and enters only as a graph input, so that a frame crosses the
// network and the channel at a byte per sample. Ops that move data take it;
// arithmetic takes it once a Cast has made it float32.
enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUint8 = 2,
  kInt64 = 7,
};

size_t ElementSize(DataType type);
const char* DataTypeName(DataType type);

using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for a scalar).
int64_t NumElements(const Shape& shape);
// "[1,3,224,224]"
std::string ShapeToString(const Shape& shape);
// Row-major strides in elements.
std::vector<int64_t> Strides(const Shape& shape);

// Type and shape without data: what shape inference computes.
struct TensorInfo {
  DataType dtype = DataType::kUndefined;
  Shape shape;
  size_t bytes() const { return ElementSize(dtype) * static_cast<size_t>(NumElements(shape)); }
};

class Tensor {
 public:
  Tensor() = default;

  // Allocates an uninitialised tensor from `allocator` (the heap if null).
  static Result<Tensor> Create(DataType dtype, Shape shape, Allocator* allocator = nullptr);
  // Allocates and fills with zeros.
  static Result<Tensor> Zeros(DataType dtype, Shape shape, Allocator* allocator = nullptr);
  // Wraps memory owned elsewhere; the caller keeps it alive and aligned.
  static Tensor Wrap(DataType dtype, Shape shape, void* data);

  bool defined() const { return dtype_ != DataType::kUndefined; }
  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t num_elements() const { return NumElements(shape_); }
  size_t bytes() const { return ElementSize(dtype_) * static_cast<size_t>(num_elements()); }
  TensorInfo info() const { return {dtype_, shape_}; }

  void* raw() const { return data_; }
  // True when this is the only reference to an owned buffer.
  bool unique_owner() const { return storage_ != nullptr && storage_.use_count() == 1; }
  template <typename T>
  T* data() const {
    return static_cast<T*>(data_);
  }

  // Changes the shape without touching data; the element count must not change.
  Status Reshape(Shape shape);

  // A new tensor, owned by `allocator`, holding a copy of this one's data.
  Result<Tensor> Clone(Allocator* allocator = nullptr) const;

 private:
  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;  // null for wrapped memory
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_TENSOR_H_
