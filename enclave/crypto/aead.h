// Authenticated encryption with associated data (AEAD) over a 64-bit counter.
//
// Two algorithms: AES-256-GCM (Intel's IPsec Multi-Buffer library) where the
// CPU has AES-NI and PCLMUL, XChaCha20-Poly1305 (libsodium) everywhere.
// The caller supplies an AeadNonce (a 64-bit counter and a 32-bit record
// index) rather than a nonce; it is expanded into the algorithm's nonce
// (little-endian, the counter in bytes 0-7, the record in bytes 8-11, zeros
// after). A (key, nonce) pair must never be used twice: SecureChannel uses a
// fresh key per direction, a strictly increasing counter per message and one
// record index per record of a message; sealing uses a fresh key per blob.
//
// Output layout: ciphertext (same length as the plaintext) || 16-byte tag.
#ifndef SERDAB_ENCLAVE_CRYPTO_AEAD_H_
#define SERDAB_ENCLAVE_CRYPTO_AEAD_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "enclave/common/status.h"
#include "enclave/crypto/bytes.h"

namespace serdab::crypto {

// The numeric values appear on the wire; never renumber.
enum class AeadAlgorithm : uint8_t {
  kAes256Gcm = 1,
  kXChaCha20Poly1305 = 2,
};

// "aes-256-gcm" or "xchacha20-poly1305".
std::string_view AeadName(AeadAlgorithm algorithm);

// Whether this CPU can run `algorithm` fast and in constant time (AES-GCM
// needs AES-NI and PCLMUL).
bool AeadAvailable(AeadAlgorithm algorithm);

// AES-256-GCM when available (it is faster with AES-NI), else
// XChaCha20-Poly1305.
AeadAlgorithm PreferredAead();

// Fails for a wire value that names no algorithm.
Result<AeadAlgorithm> AeadFromWire(uint8_t value);

inline constexpr size_t kAeadKeyBytes = 32;
inline constexpr size_t kAeadTagBytes = 16;
using AeadKey = SecretBytes<kAeadKeyBytes>;

// A message's nonce. A plain counter converts to record 0: the nonce of
// every message that is one record (sealed blobs, weight chunks).
struct AeadNonce {
  AeadNonce(uint64_t counter, uint32_t record = 0) : counter(counter), record(record) {}
  uint64_t counter;
  uint32_t record;
};

// A key bound to an algorithm. Seal and Open are const and thread-safe.
class Aead {
 public:
  // Fails if `algorithm` is not available on this CPU.
  static Result<Aead> Create(AeadAlgorithm algorithm, const AeadKey& key);

  Aead(Aead&&) noexcept;
  Aead& operator=(Aead&&) noexcept;
  ~Aead();

  AeadAlgorithm algorithm() const { return algorithm_; }

  // Writes ciphertext || tag into `out`, which must hold exactly
  // plaintext.size() + kAeadTagBytes bytes. `out` may start where
  // `plaintext` starts (sealing in place) but may not overlap it otherwise,
  // nor overlap `associated_data`.
  Status Seal(AeadNonce nonce, ByteView associated_data, ByteView plaintext,
              std::span<uint8_t> out) const;

  // Verifies and decrypts ciphertext || tag into `out` (exactly
  // ciphertext.size() - kAeadTagBytes bytes). On failure returns Corruption
  // and leaves `out` zeroed: unauthenticated plaintext is never released.
  // `out` may start where `ciphertext` starts (opening in place) but may not
  // overlap it otherwise. Ciphertext is read more than once, so it must be
  // memory no one else writes while Open runs.
  Status Open(AeadNonce nonce, ByteView associated_data, ByteView ciphertext,
              std::span<uint8_t> out) const;

  // Gather and scatter forms, for a frame whose plaintext lies in several
  // buffers (message headers and tensor data): the plaintext is the
  // concatenation of `parts`. Sealing reads the parts where they are;
  // opening writes them where they belong, so no whole-message plaintext
  // copy exists. On failure every part is left zeroed. AES-256-GCM streams
  // them; XChaCha20-Poly1305, which libsodium seals in one call, gathers
  // several parts into a scratch buffer that is wiped after (one part it
  // seals or opens in place).
  Status SealParts(AeadNonce nonce, ByteView associated_data, std::span<const ByteView> parts,
                   std::span<uint8_t> out) const;
  Status OpenParts(AeadNonce nonce, ByteView associated_data, ByteView ciphertext,
                   std::span<const std::span<uint8_t>> parts) const;

  // SealParts into `out` in memory another party may read and write (an
  // enclave's result in the host's buffer). Every byte of `out` is written
  // once and never read back: the ciphertext is made in `scratch` (the
  // caller's own memory) a slice at a time, and each slice copied out while
  // it is in cache, so GCM hashes the ciphertext it made, not whatever the
  // other party put in `out` meanwhile. On failure `out` is zeroed.
  Status SealPartsOut(AeadNonce nonce, ByteView associated_data, std::span<const ByteView> parts,
                      std::span<uint8_t> out, Bytes* scratch) const;

  // Convenience forms that allocate the output.
  Result<Bytes> Seal(AeadNonce nonce, ByteView associated_data, ByteView plaintext) const;
  Result<Bytes> Open(AeadNonce nonce, ByteView associated_data, ByteView ciphertext) const;

 private:
  struct AesState;  // the expanded AES-GCM key

  Aead(AeadAlgorithm algorithm, const AeadKey& key);

  AeadAlgorithm algorithm_;
  AeadKey key_;                    // used by XChaCha20-Poly1305
  std::unique_ptr<AesState> aes_;  // used by AES-256-GCM
};

}  // namespace serdab::crypto

#endif  // SERDAB_ENCLAVE_CRYPTO_AEAD_H_
