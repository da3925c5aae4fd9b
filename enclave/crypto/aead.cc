#include "enclave/crypto/aead.h"

#include <sodium.h>

#include <algorithm>

#include "enclave/crypto/keys.h"

namespace serdab::crypto {

struct Aead::AesState {
  crypto_aead_aes256gcm_state state;  // CRYPTO_ALIGN(16); operator new honours it
};

namespace {

static_assert(crypto_aead_aes256gcm_KEYBYTES == kAeadKeyBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kAeadKeyBytes);
static_assert(crypto_aead_aes256gcm_ABYTES == kAeadTagBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagBytes);

// Room for the larger nonce (XChaCha20's 24 bytes); AES-GCM reads the first 12.
using NonceBuffer = std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES>;

NonceBuffer NonceFromCounter(uint64_t counter) {
  NonceBuffer nonce{};
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(counter >> (8 * i));
  return nonce;
}

Status ShorterThanTag(size_t size) {
  return Status::Corruption("AEAD ciphertext of " + std::to_string(size) +
                            " bytes is shorter than its " + std::to_string(kAeadTagBytes) +
                            "-byte tag");
}

uint64_t MaxMessageBytes(AeadAlgorithm algorithm) {
  return algorithm == AeadAlgorithm::kAes256Gcm
             ? uint64_t{crypto_aead_aes256gcm_MESSAGEBYTES_MAX}
             : uint64_t{crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX};
}

}  // namespace

std::string_view AeadName(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::kAes256Gcm:
      return "aes-256-gcm";
    case AeadAlgorithm::kXChaCha20Poly1305:
      return "xchacha20-poly1305";
  }
  return "unknown";
}

bool AeadAvailable(AeadAlgorithm algorithm) {
  if (!InitSodium().ok()) return false;
  switch (algorithm) {
    case AeadAlgorithm::kAes256Gcm:
      return crypto_aead_aes256gcm_is_available() == 1;
    case AeadAlgorithm::kXChaCha20Poly1305:
      return true;
  }
  return false;
}

AeadAlgorithm PreferredAead() {
  return AeadAvailable(AeadAlgorithm::kAes256Gcm) ? AeadAlgorithm::kAes256Gcm
                                                  : AeadAlgorithm::kXChaCha20Poly1305;
}

Result<AeadAlgorithm> AeadFromWire(uint8_t value) {
  switch (value) {
    case static_cast<uint8_t>(AeadAlgorithm::kAes256Gcm):
      return AeadAlgorithm::kAes256Gcm;
    case static_cast<uint8_t>(AeadAlgorithm::kXChaCha20Poly1305):
      return AeadAlgorithm::kXChaCha20Poly1305;
  }
  return Status::Corruption("unknown AEAD algorithm id " + std::to_string(value));
}

Result<Aead> Aead::Create(AeadAlgorithm algorithm, const AeadKey& key) {
  SERDAB_RETURN_IF_ERROR(InitSodium());
  if (!AeadAvailable(algorithm)) {
    return Status::Unimplemented(std::string(AeadName(algorithm)) +
                                 " is not available on this CPU (needs AES-NI and PCLMUL)");
  }
  return Aead(algorithm, key);
}

Aead::Aead(AeadAlgorithm algorithm, const AeadKey& key) : algorithm_(algorithm) {
  if (algorithm == AeadAlgorithm::kAes256Gcm) {
    aes_ = std::make_unique<AesState>();
    crypto_aead_aes256gcm_beforenm(&aes_->state, key.data());
  } else {
    key_ = key;
  }
}

Aead::Aead(Aead&&) noexcept = default;
Aead& Aead::operator=(Aead&&) noexcept = default;

Aead::~Aead() {
  if (aes_ != nullptr) SecureWipe(&aes_->state, sizeof(aes_->state));
}

Status Aead::Seal(uint64_t counter, ByteView associated_data, ByteView plaintext,
                  std::span<uint8_t> out) const {
  if (plaintext.size() > MaxMessageBytes(algorithm_)) {
    return Status::OutOfRange("AEAD plaintext of " + std::to_string(plaintext.size()) +
                              " bytes exceeds the " + std::string(AeadName(algorithm_)) + " limit");
  }
  if (out.size() != plaintext.size() + kAeadTagBytes) {
    return Status::InvalidArgument("AEAD seal output buffer holds " + std::to_string(out.size()) +
                                   " bytes, needs " +
                                   std::to_string(plaintext.size() + kAeadTagBytes));
  }
  const NonceBuffer nonce = NonceFromCounter(counter);
  uint8_t* tag = out.data() + plaintext.size();
  if (algorithm_ == AeadAlgorithm::kAes256Gcm) {
    crypto_aead_aes256gcm_encrypt_detached_afternm(
        out.data(), tag, nullptr, plaintext.data(), plaintext.size(), associated_data.data(),
        associated_data.size(), nullptr, nonce.data(), &aes_->state);
  } else {
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
        out.data(), tag, nullptr, plaintext.data(), plaintext.size(), associated_data.data(),
        associated_data.size(), nullptr, nonce.data(), key_.data());
  }
  return Status::Ok();
}

Status Aead::Open(uint64_t counter, ByteView associated_data, ByteView ciphertext,
                  std::span<uint8_t> out) const {
  if (ciphertext.size() < kAeadTagBytes) return ShorterThanTag(ciphertext.size());
  const size_t plain_size = ciphertext.size() - kAeadTagBytes;
  if (out.size() != plain_size) {
    return Status::InvalidArgument("AEAD open output buffer holds " + std::to_string(out.size()) +
                                   " bytes, needs " + std::to_string(plain_size));
  }
  const NonceBuffer nonce = NonceFromCounter(counter);
  const uint8_t* tag = ciphertext.data() + plain_size;
  int rc;
  if (algorithm_ == AeadAlgorithm::kAes256Gcm) {
    rc = crypto_aead_aes256gcm_decrypt_detached_afternm(
        out.data(), nullptr, ciphertext.data(), plain_size, tag, associated_data.data(),
        associated_data.size(), nonce.data(), &aes_->state);
  } else {
    rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
        out.data(), nullptr, ciphertext.data(), plain_size, tag, associated_data.data(),
        associated_data.size(), nonce.data(), key_.data());
  }
  if (rc != 0) {
    SecureWipe(out.data(), out.size());
    return Status::Corruption(std::string(AeadName(algorithm_)) + " authentication failed");
  }
  return Status::Ok();
}

Result<Bytes> Aead::Seal(uint64_t counter, ByteView associated_data, ByteView plaintext) const {
  Bytes out(plaintext.size() + kAeadTagBytes);
  SERDAB_RETURN_IF_ERROR(Seal(counter, associated_data, plaintext, out));
  return out;
}

Result<Bytes> Aead::Open(uint64_t counter, ByteView associated_data, ByteView ciphertext) const {
  if (ciphertext.size() < kAeadTagBytes) return ShorterThanTag(ciphertext.size());
  Bytes out(ciphertext.size() - kAeadTagBytes);
  SERDAB_RETURN_IF_ERROR(Open(counter, associated_data, ciphertext, out));
  return out;
}

}  // namespace serdab::crypto
