#include "enclave/engine/allocator.h"

#include <string.h>

#include <cstdlib>

namespace serdab::engine {
namespace {

class Heap final : public Allocator {
 public:
  void* Allocate(size_t bytes) override {
    // aligned_alloc requires a size that is a multiple of the alignment.
    size_t rounded = (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
    if (rounded == 0) rounded = kTensorAlignment;
    return std::aligned_alloc(kTensorAlignment, rounded);
  }
  // Freed tensors are wiped: in an enclave they held weights or features,
  // and this heap is the host's memory.
  void Deallocate(void* ptr, size_t bytes) override {
    if (ptr != nullptr) explicit_bzero(ptr, bytes);
    std::free(ptr);
  }
  const char* name() const override { return "heap"; }
};

}  // namespace

Allocator* HeapAllocator() {
  static Heap heap;
  return &heap;
}

}  // namespace serdab::engine
