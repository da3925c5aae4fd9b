// Key primitives, all from libsodium: randomness, X25519 key agreement,
// Ed25519 signatures, SHA-256 and a BLAKE2b key derivation function.
//
// Every signature and every derived key is domain-separated by a label
// ("serdab.quote.v1", ...), so bytes signed or derived for one purpose can
// never be replayed as another.
#ifndef SERDAB_ENCLAVE_CRYPTO_KEYS_H_
#define SERDAB_ENCLAVE_CRYPTO_KEYS_H_

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "enclave/common/status.h"
#include "enclave/crypto/bytes.h"

namespace serdab::crypto {

// Initialises libsodium once per process (thread-safe, idempotent). Every
// entry point that needs randomness or CPU dispatch calls it; callers may too.
Status InitSodium();

// Fills `out` from the OS's cryptographic random source.
Status RandomBytes(std::span<uint8_t> out);

inline constexpr size_t kX25519KeyBytes = 32;
using X25519PublicKey = ByteArray<kX25519KeyBytes>;
using X25519SecretKey = SecretBytes<kX25519KeyBytes>;

// An ephemeral Diffie-Hellman key pair.
struct X25519KeyPair {
  X25519PublicKey public_key;
  X25519SecretKey secret_key;

  static Result<X25519KeyPair> Generate();
};

// The public key of a secret key.
X25519PublicKey X25519PublicFromSecret(const X25519SecretKey& secret);

// The raw shared point. Fails for a low-order peer key (the result would be
// all zeros and carry no secret).
Result<SecretBytes<32>> X25519SharedSecret(const X25519SecretKey& ours,
                                           const X25519PublicKey& theirs);

inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SeedBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;
using Ed25519PublicKey = ByteArray<kEd25519PublicKeyBytes>;
using Ed25519Seed = SecretBytes<kEd25519SeedBytes>;
using Ed25519Signature = ByteArray<kEd25519SignatureBytes>;

// A long-term signing key. The 32-byte seed is what gets stored on disk.
class Ed25519KeyPair {
 public:
  static Result<Ed25519KeyPair> Generate();
  static Ed25519KeyPair FromSeed(const Ed25519Seed& seed);

  const Ed25519PublicKey& public_key() const { return public_key_; }
  const Ed25519Seed& seed() const { return seed_; }

  // Signs u32 len(context) || context || message.
  Ed25519Signature Sign(std::string_view context, ByteView message) const;

 private:
  Ed25519KeyPair() = default;

  Ed25519Seed seed_;
  SecretBytes<64> secret_key_;  // libsodium's expanded form: seed || public key
  Ed25519PublicKey public_key_;
};

// Checks a signature made by Ed25519KeyPair::Sign with the same context.
bool Ed25519Verify(const Ed25519PublicKey& key, std::string_view context, ByteView message,
                   const Ed25519Signature& signature);

using Sha256Digest = ByteArray<32>;

Sha256Digest Sha256(ByteView data);

// SHA-256 of u32 len(label) || label || (u64 len(part) || part)...: hashing
// several parts with their lengths, so that no two part lists collide.
Sha256Digest Sha256Labeled(std::string_view label, std::initializer_list<ByteView> parts);

// Keyed BLAKE2b-256 over u32 len(label) || label || (u64 len(part) || part)...
// `key` must be 16..64 bytes (it always is here: 32-byte secrets).
SecretBytes<32> DeriveKey(ByteView key, std::string_view label,
                          std::initializer_list<ByteView> parts);

// Unkeyed BLAKE2b-512 with the same framing as DeriveKey.
ByteArray<64> Blake2b512Labeled(std::string_view label, std::initializer_list<ByteView> parts);

}  // namespace serdab::crypto

#endif  // SERDAB_ENCLAVE_CRYPTO_KEYS_H_
