// What a hostile host preloads (LD_PRELOAD) to make randomness predictable:
// libsodium's randombytes and the C library's getrandom, returning constant
// bytes. The enclave image must not be affected (enclave_image_test.cc).
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

extern "C" {

__attribute__((visibility("default"))) void randombytes_buf(void* buf, size_t size) {
  std::memset(buf, 0x42, size);
}

__attribute__((visibility("default"))) uint32_t randombytes_random() { return 0x42424242u; }

__attribute__((visibility("default"))) ssize_t getrandom(void* buf, size_t size, unsigned) {
  std::memset(buf, 0x42, size);
  return static_cast<ssize_t>(size);
}

}  // extern "C"
