#include "enclave/engine/tensor.h"

#include <cstring>

namespace serdab::engine {

size_t ElementSize(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return 4;
    case DataType::kUint8:
      return 1;
    case DataType::kInt64:
      return 8;
    case DataType::kUndefined:
      break;
  }
  return 0;
}

const char* DataTypeName(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return "float32";
    case DataType::kUint8:
      return "uint8";
    case DataType::kInt64:
      return "int64";
    case DataType::kUndefined:
      break;
  }
  return "undefined";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::vector<int64_t> Strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * shape[i + 1];
  }
  return strides;
}

Result<Tensor> Tensor::Create(DataType dtype, Shape shape, Allocator* allocator) {
  if (ElementSize(dtype) == 0) return Status::InvalidArgument("tensor of undefined data type");
  for (int64_t d : shape) {
    if (d < 0)
      return Status::InvalidArgument("negative dimension in shape " + ShapeToString(shape));
  }
  if (allocator == nullptr) allocator = HeapAllocator();
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  const size_t bytes = t.bytes();
  void* p = allocator->Allocate(bytes);
  if (p == nullptr) {
    return Status::ResourceExhausted("cannot allocate " + std::to_string(bytes) +
                                     " bytes from the " + allocator->name() + " allocator");
  }
  t.data_ = p;
  t.storage_ =
      std::shared_ptr<void>(p, [allocator, bytes](void* q) { allocator->Deallocate(q, bytes); });
  return t;
}

Result<Tensor> Tensor::Zeros(DataType dtype, Shape shape, Allocator* allocator) {
  SERDAB_ASSIGN_OR_RETURN(Tensor t, Create(dtype, std::move(shape), allocator));
  std::memset(t.raw(), 0, t.bytes());
  return t;
}

Tensor Tensor::Wrap(DataType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Status Tensor::Reshape(Shape shape) {
  if (NumElements(shape) != num_elements()) {
    return Status::InvalidArgument("cannot reshape " + ShapeToString(shape_) + " to " +
                                   ShapeToString(shape));
  }
  shape_ = std::move(shape);
  return Status::Ok();
}

Result<Tensor> Tensor::Clone(Allocator* allocator) const {
  SERDAB_ASSIGN_OR_RETURN(Tensor t, Create(dtype_, shape_, allocator));
  if (bytes() > 0) std::memcpy(t.raw(), data_, bytes());
  return t;
}

}  // namespace serdab::engine
