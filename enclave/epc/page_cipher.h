// PageCipher: seals EPC pages for the untrusted backing store, the software
// counterpart of SGX's EWB/ELDU crypto.
//
// AES-256-GCM when the CPU has AES-NI and PCLMUL (libsodium's
// crypto_aead_aes256gcm), otherwise ChaCha20-Poly1305-IETF; both take a
// 32-byte key, a 12-byte nonce and give a 16-byte tag. The key is random per
// heap and never leaves it.
//
// Every seal binds the page to its place and age: the nonce is
// page index (4 bytes, LE) || version (8 bytes, LE) and the associated data is
// page index (8 bytes, LE) || version (8 bytes, LE). The version comes from
// trusted metadata and grows with every eviction, so a nonce is never reused
// under one key, a sealed page cannot be moved to another index, and an older
// seal of the same page (a rollback) fails to open.
//
// Both operations work in place on a buffer the untrusted side cannot see:
// reading the input from host memory while writing the output (or the other
// way round) would let the host change bytes between the MAC and the cipher
// pass. Seal and Open allocate nothing and take no locks, so the pager can
// call them from its SIGSEGV handler.
#ifndef SERDAB_ENCLAVE_EPC_PAGE_CIPHER_H_
#define SERDAB_ENCLAVE_EPC_PAGE_CIPHER_H_

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "enclave/common/status.h"

namespace serdab::epc {

class PageCipher {
 public:
  static constexpr size_t kTagBytes = 16;

  // Initialises libsodium and draws a fresh key.
  static Result<std::unique_ptr<PageCipher>> Create();
  ~PageCipher();
  PageCipher(const PageCipher&) = delete;
  PageCipher& operator=(const PageCipher&) = delete;

  // "aes256gcm" or "chacha20poly1305-ietf".
  const char* name() const;

  // Encrypts `bytes` at `data` in place and writes the tag.
  void Seal(uint32_t page, uint64_t version, uint8_t* data, size_t bytes,
            uint8_t tag[kTagBytes]) const;

  // Verifies and decrypts in place. False when the tag does not match (the
  // bytes, the page index or the version differ from what was sealed); the
  // buffer's contents are then unspecified.
  bool Open(uint32_t page, uint64_t version, uint8_t* data, size_t bytes,
            const uint8_t tag[kTagBytes]) const;

 private:
  PageCipher() = default;

  bool use_aes_ = false;
  alignas(16) crypto_aead_aes256gcm_state aes_state_;  // expanded key (AES)
  uint8_t key_[32];                                    // raw key (ChaCha20)
};

}  // namespace serdab::epc

#endif  // SERDAB_ENCLAVE_EPC_PAGE_CIPHER_H_
