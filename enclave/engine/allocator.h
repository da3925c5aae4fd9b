// Allocator: the one door through which the engine obtains weight and
// activation memory.
//
// The native engine uses the process heap. Inside an enclave the protected,
// EPC-limited heap plugs in here, so that every byte of model state lives where
// the enclave says it should.
#ifndef SERDAB_ENCLAVE_ENGINE_ALLOCATOR_H_
#define SERDAB_ENCLAVE_ENGINE_ALLOCATOR_H_

#include <cstddef>

namespace serdab::engine {

// Alignment of every engine buffer: one AVX-512 register / cache line.
inline constexpr size_t kTensorAlignment = 64;

class Allocator {
 public:
  virtual ~Allocator() = default;

  // Returns `bytes` of memory aligned to kTensorAlignment, or nullptr when the
  // allocator is exhausted. Never throws. bytes == 0 returns a valid pointer.
  virtual void* Allocate(size_t bytes) = 0;

  // Releases memory from Allocate(). `bytes` is the size that was requested.
  virtual void Deallocate(void* ptr, size_t bytes) = 0;

  // Short name for messages ("heap", "epc").
  virtual const char* name() const = 0;
};

// The process heap. Thread-safe; lives for the whole program.
Allocator* HeapAllocator();

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_ALLOCATOR_H_
