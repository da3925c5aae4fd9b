#include "enclave/runtime/enclave_entropy.h"

#include <cpuid.h>
#include <sodium.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace serdab::enclave {
namespace {

bool CpuHasRdrand() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_RDRND) != 0;
}

// RDRAND can transiently fail; Intel's guidance is to retry ten times.
bool Rdrand64(uint64_t* value) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    unsigned char ok = 0;
    asm volatile("rdrand %0; setc %1" : "=r"(*value), "=qm"(ok)::"cc");
    if (ok) return true;
  }
  return false;
}

// getrandom(2) without libc: the instruction itself, not a symbol.
long RawGetrandom(void* buf, size_t size) {
  long ret;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(static_cast<long>(SYS_getrandom)), "D"(buf), "S"(size), "d"(0L)
               : "rcx", "r11", "memory");
  return ret;
}

// Each request gets a fresh key: 32 bytes from the kernel and 32 from RDRAND,
// hashed together, expand into the requested bytes with ChaCha20. Without
// entropy there is nothing safe to do, so a failure ends the process.
void Buf(void* out, size_t size) {
  static const bool has_rdrand = CpuHasRdrand();
  uint8_t seed[64] = {0};
  for (size_t got = 0; got < 32;) {
    const long n = RawGetrandom(seed + got, 32 - got);
    if (n == -EINTR) continue;
    if (n <= 0) std::abort();
    got += static_cast<size_t>(n);
  }
  if (has_rdrand) {
    for (size_t i = 0; i < 4; ++i) {
      uint64_t word = 0;
      if (!Rdrand64(&word)) std::abort();
      for (size_t j = 0; j < 8; ++j) seed[32 + 8 * i + j] = static_cast<uint8_t>(word >> (8 * j));
    }
  }
  uint8_t key[randombytes_SEEDBYTES];
  crypto_generichash(key, sizeof(key), seed, sizeof(seed), nullptr, 0);
  randombytes_buf_deterministic(out, size, key);
  sodium_memzero(seed, sizeof(seed));
  sodium_memzero(key, sizeof(key));
}

uint32_t Random() {
  uint32_t value = 0;
  Buf(&value, sizeof(value));
  return value;
}

const char* Name() { return "serdab-enclave"; }

randombytes_implementation implementation = {
    Name, Random, /*stir=*/nullptr, /*uniform=*/nullptr, Buf, /*close=*/nullptr};

}  // namespace

void InstallEnclaveEntropy() { randombytes_set_implementation(&implementation); }

}  // namespace serdab::enclave
