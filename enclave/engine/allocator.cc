#include "enclave/engine/allocator.h"

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
  void Deallocate(void* ptr, size_t) override { std::free(ptr); }
  const char* name() const override { return "heap"; }
};

}  // namespace

Allocator* HeapAllocator() {
  static Heap heap;
  return &heap;
}

}  // namespace serdab::engine
