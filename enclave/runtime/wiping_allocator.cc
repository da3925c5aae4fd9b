// The enclave image's own operator new and delete: every block the trusted
// code frees is wiped first.
//
// A sim enclave's transient buffers (a decrypted provision message, the
// graph an ONNX model is decoded into, a frame's plaintext) live in the
// process heap, which the host reads; on SGX they would be in the EPC.
// Wiping on free means no plaintext outlives its use there. The image links
// its C++ runtime statically and exports nothing but the ECALLs
// (runtime/exports.map), so these definitions serve every allocation the
// trusted code makes and none of the host's.
#include <malloc.h>
#include <sodium.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

void* AllocateOrThrow(std::size_t size, std::size_t alignment) {
  if (size == 0) size = 1;
  void* p = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    p = std::malloc(size);
  } else if (posix_memalign(&p, alignment, size) != 0) {
    p = nullptr;
  }
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void WipeAndFree(void* p) noexcept {
  if (p == nullptr) return;
  sodium_memzero(p, malloc_usable_size(p));
  std::free(p);
}

}  // namespace

void* operator new(std::size_t size) { return AllocateOrThrow(size, 0); }
void* operator new[](std::size_t size) { return AllocateOrThrow(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) {
  return AllocateOrThrow(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return AllocateOrThrow(size, static_cast<std::size_t>(a));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return AllocateOrThrow(size, 0);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}

void operator delete(void* p) noexcept { WipeAndFree(p); }
void operator delete[](void* p) noexcept { WipeAndFree(p); }
void operator delete(void* p, std::size_t) noexcept { WipeAndFree(p); }
void operator delete[](void* p, std::size_t) noexcept { WipeAndFree(p); }
void operator delete(void* p, std::align_val_t) noexcept { WipeAndFree(p); }
void operator delete[](void* p, std::align_val_t) noexcept { WipeAndFree(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { WipeAndFree(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { WipeAndFree(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { WipeAndFree(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { WipeAndFree(p); }
