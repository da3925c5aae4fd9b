#include "enclave/crypto/aead.h"

#include <intel-ipsec-mb.h>
#include <sodium.h>

#include <algorithm>

#include "enclave/crypto/keys.h"

namespace serdab::crypto {

// AES-256-GCM comes from Intel's IPsec Multi-Buffer library (Debian's
// libipsec-mb). Where the CPU has VAES and VPCLMULQDQ (Ice Lake and later
// Xeons, AMD Zen 4 and 5) its AVX-512 code seals 19 GB/s on one core, four
// times libcrypto 3.0's stitched AES-NI code (4.6 GB/s); elsewhere its
// AES-NI code runs at least as fast as libcrypto's. A frame crosses two
// seals and two opens per hop, so this is time every pipeline stage spends.
// The library takes nothing from the host but CPUID: no environment
// variable or configuration file can move it to another code path.
struct Aead::AesState {
  // The AES key schedule and GHASH key powers. The library's AVX-512 code
  // loads them with aligned moves.
  alignas(64) gcm_key_data key;
  ~AesState() { SecureWipe(reinterpret_cast<uint8_t*>(&key), sizeof(key)); }
};

namespace {

// The library's dispatch table for this CPU, chosen once: its best code
// path that uses AES-NI and PCLMULQDQ, or null where the CPU lacks them. Its
// other path (IMB_ARCH_NOAESNI) does AES by table lookups, whose cache
// timing leaks keys, and is never taken. The table is read-only once made,
// so threads share it.
const IMB_MGR* GcmCode() {
  static const IMB_MGR* const code = []() -> const IMB_MGR* {
    IMB_MGR* mgr = alloc_mb_mgr(0);
    if (mgr == nullptr) return nullptr;
    constexpr uint64_t kNeeded = IMB_FEATURE_AESNI | IMB_FEATURE_PCLMULQDQ;
    IMB_ARCH arch = IMB_ARCH_NONE;
    if ((mgr->features & kNeeded) == kNeeded) init_mb_mgr_auto(mgr, &arch);
    if (arch < IMB_ARCH_SSE || imb_get_errno(mgr) != 0) {
      free_mb_mgr(mgr);
      return nullptr;
    }
    return mgr;
  }();
  return code;
}

// One message: the nonce set and the associated data absorbed. The
// library's calls cannot fail on the arguments given here (a 12-byte IV,
// 16-byte tags, non-null pointers), so nothing is checked after them.
class GcmMessage {
 public:
  GcmMessage(const gcm_key_data* key, bool encrypt, const uint8_t* nonce, ByteView ad)
      : code_(GcmCode()), key_(key), encrypt_(encrypt) {
    IMB_AES256_GCM_INIT(code_, key_, &ctx_, nonce, ad.empty() ? &kNothing : ad.data(), ad.size());
  }
  ~GcmMessage() { SecureWipe(reinterpret_cast<uint8_t*>(&ctx_), sizeof(ctx_)); }
  GcmMessage(const GcmMessage&) = delete;
  GcmMessage& operator=(const GcmMessage&) = delete;

  // Any sizes, in order; `out` may be `in`.
  void Update(const uint8_t* in, size_t size, uint8_t* out) {
    if (size == 0) return;
    if (encrypt_) {
      IMB_AES256_GCM_ENC_UPDATE(code_, key_, &ctx_, out, in, size);
    } else {
      IMB_AES256_GCM_DEC_UPDATE(code_, key_, &ctx_, out, in, size);
    }
  }
  void SealTag(uint8_t* tag) {
    IMB_AES256_GCM_ENC_FINALIZE(code_, key_, &ctx_, tag, kAeadTagBytes);
  }
  // Compares in constant time: a timing difference would tell a forger how
  // many leading bytes of its tag were right.
  bool CheckTag(const uint8_t* tag) {
    uint8_t computed[kAeadTagBytes];
    IMB_AES256_GCM_DEC_FINALIZE(code_, key_, &ctx_, computed, kAeadTagBytes);
    const bool ok = ConstantTimeEqual(computed, ByteView(tag, kAeadTagBytes));
    SecureWipe(computed, sizeof(computed));
    return ok;
  }

 private:
  static constexpr uint8_t kNothing = 0;
  const IMB_MGR* const code_;
  const gcm_key_data* const key_;
  const bool encrypt_;
  alignas(64) gcm_context_data ctx_;
};

static_assert(crypto_aead_aes256gcm_KEYBYTES == kAeadKeyBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kAeadKeyBytes);
static_assert(crypto_aead_aes256gcm_ABYTES == kAeadTagBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagBytes);

// Room for the larger nonce (XChaCha20's 24 bytes); AES-GCM reads the first 12.
using NonceBuffer = std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES>;

NonceBuffer ExpandNonce(AeadNonce n) {
  NonceBuffer nonce{};
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(n.counter >> (8 * i));
  for (int i = 0; i < 4; ++i) nonce[8 + i] = static_cast<uint8_t>(n.record >> (8 * i));
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
      return GcmCode() != nullptr;
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
    IMB_AES256_GCM_PRE(GcmCode(), key.data(), &aes_->key);
  } else {
    key_ = key;
  }
}

Aead::Aead(Aead&&) noexcept = default;
Aead& Aead::operator=(Aead&&) noexcept = default;

Aead::~Aead() = default;

Status Aead::Seal(AeadNonce n, ByteView associated_data, ByteView plaintext,
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
  const NonceBuffer nonce = ExpandNonce(n);
  uint8_t* tag = out.data() + plaintext.size();
  if (algorithm_ == AeadAlgorithm::kAes256Gcm) {
    GcmMessage message(&aes_->key, /*encrypt=*/true, nonce.data(), associated_data);
    message.Update(plaintext.data(), plaintext.size(), out.data());
    message.SealTag(tag);
  } else {
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
        out.data(), tag, nullptr, plaintext.data(), plaintext.size(), associated_data.data(),
        associated_data.size(), nullptr, nonce.data(), key_.data());
  }
  return Status::Ok();
}

Status Aead::Open(AeadNonce n, ByteView associated_data, ByteView ciphertext,
                  std::span<uint8_t> out) const {
  if (ciphertext.size() < kAeadTagBytes) return ShorterThanTag(ciphertext.size());
  const size_t plain_size = ciphertext.size() - kAeadTagBytes;
  if (out.size() != plain_size) {
    return Status::InvalidArgument("AEAD open output buffer holds " + std::to_string(out.size()) +
                                   " bytes, needs " + std::to_string(plain_size));
  }
  const NonceBuffer nonce = ExpandNonce(n);
  const uint8_t* tag = ciphertext.data() + plain_size;
  int rc;
  if (algorithm_ == AeadAlgorithm::kAes256Gcm) {
    // GCM decrypts before it verifies: `out` holds unauthenticated plaintext
    // until CheckTag, and is wiped below if the tag is wrong.
    GcmMessage message(&aes_->key, /*encrypt=*/false, nonce.data(), associated_data);
    message.Update(ciphertext.data(), plain_size, out.data());
    rc = message.CheckTag(tag) ? 0 : -1;
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

Status Aead::SealParts(AeadNonce n, ByteView associated_data, std::span<const ByteView> parts,
                       std::span<uint8_t> out) const {
  const size_t plain_size = TotalSize(parts);
  if (algorithm_ != AeadAlgorithm::kAes256Gcm) {
    if (parts.size() == 1) return Seal(n, associated_data, parts[0], out);
    Bytes gathered;
    gathered.reserve(plain_size);
    for (const ByteView& part : parts) gathered.insert(gathered.end(), part.begin(), part.end());
    Status s = Seal(n, associated_data, gathered, out);
    SecureWipe(gathered.data(), gathered.size());
    return s;
  }
  if (plain_size > MaxMessageBytes(algorithm_)) {
    return Status::OutOfRange("AEAD plaintext of " + std::to_string(plain_size) +
                              " bytes exceeds the " + std::string(AeadName(algorithm_)) + " limit");
  }
  if (out.size() != plain_size + kAeadTagBytes) {
    return Status::InvalidArgument("AEAD seal output buffer holds " + std::to_string(out.size()) +
                                   " bytes, needs " + std::to_string(plain_size + kAeadTagBytes));
  }
  const NonceBuffer nonce = ExpandNonce(n);
  GcmMessage message(&aes_->key, /*encrypt=*/true, nonce.data(), associated_data);
  size_t at = 0;
  for (const ByteView& part : parts) {
    message.Update(part.data(), part.size(), out.data() + at);
    at += part.size();
  }
  message.SealTag(out.data() + plain_size);
  return Status::Ok();
}

Status Aead::SealPartsOut(AeadNonce n, ByteView associated_data, std::span<const ByteView> parts,
                          std::span<uint8_t> out, Bytes* scratch) const {
  const size_t plain_size = TotalSize(parts);
  if (out.size() != plain_size + kAeadTagBytes) {
    return Status::InvalidArgument("AEAD seal output buffer holds " + std::to_string(out.size()) +
                                   " bytes, needs " + std::to_string(plain_size + kAeadTagBytes));
  }
  if (algorithm_ != AeadAlgorithm::kAes256Gcm) {
    // libsodium seals in one call: the whole message is made in scratch.
    scratch->resize(out.size());
    Status s = SealParts(n, associated_data, parts, *scratch);
    if (s.ok()) std::copy(scratch->begin(), scratch->end(), out.begin());
    return s;
  }
  if (plain_size > MaxMessageBytes(algorithm_)) {
    return Status::OutOfRange("AEAD plaintext of " + std::to_string(plain_size) +
                              " bytes exceeds the " + std::string(AeadName(algorithm_)) + " limit");
  }
  // Small enough to stay in L2 between the cipher writing it and the copy.
  constexpr size_t kSlice = 256 * 1024;
  scratch->resize(std::min(kSlice, std::max(plain_size, kAeadTagBytes)));
  const NonceBuffer nonce = ExpandNonce(n);
  GcmMessage message(&aes_->key, /*encrypt=*/true, nonce.data(), associated_data);
  size_t at = 0;
  for (const ByteView& part : parts) {
    for (size_t done = 0; done < part.size();) {
      const size_t n = std::min(scratch->size(), part.size() - done);
      message.Update(part.data() + done, n, scratch->data());
      std::copy_n(scratch->data(), n, out.data() + at);
      done += n;
      at += n;
    }
  }
  message.SealTag(scratch->data());
  std::copy_n(scratch->data(), kAeadTagBytes, out.data() + plain_size);
  return Status::Ok();
}

Status Aead::OpenParts(AeadNonce n, ByteView associated_data, ByteView ciphertext,
                       std::span<const std::span<uint8_t>> parts) const {
  if (ciphertext.size() < kAeadTagBytes) return ShorterThanTag(ciphertext.size());
  const size_t plain_size = ciphertext.size() - kAeadTagBytes;
  if (TotalSize(parts) != plain_size) {
    return Status::InvalidArgument("AEAD open output parts hold " +
                                   std::to_string(TotalSize(parts)) + " bytes, needs " +
                                   std::to_string(plain_size));
  }
  if (algorithm_ != AeadAlgorithm::kAes256Gcm) {
    if (parts.size() == 1) return Open(n, associated_data, ciphertext, parts[0]);
    Bytes opened(plain_size);
    Status s = Open(n, associated_data, ciphertext, opened);
    size_t at = 0;
    for (const std::span<uint8_t>& part : parts) {
      if (s.ok()) std::copy_n(opened.begin() + at, part.size(), part.begin());
      at += part.size();
    }
    SecureWipe(opened.data(), opened.size());
    if (!s.ok()) SecureWipeParts(parts);
    return s;
  }
  const NonceBuffer nonce = ExpandNonce(n);
  // GCM decrypts before it verifies: the parts hold unauthenticated
  // plaintext until CheckTag, and are wiped if the tag is wrong.
  GcmMessage message(&aes_->key, /*encrypt=*/false, nonce.data(), associated_data);
  size_t at = 0;
  for (const std::span<uint8_t>& part : parts) {
    message.Update(ciphertext.data() + at, part.size(), part.data());
    at += part.size();
  }
  if (!message.CheckTag(ciphertext.data() + plain_size)) {
    SecureWipeParts(parts);
    return Status::Corruption(std::string(AeadName(algorithm_)) + " authentication failed");
  }
  return Status::Ok();
}

Result<Bytes> Aead::Seal(AeadNonce n, ByteView associated_data, ByteView plaintext) const {
  Bytes out(plaintext.size() + kAeadTagBytes);
  SERDAB_RETURN_IF_ERROR(Seal(n, associated_data, plaintext, out));
  return out;
}

Result<Bytes> Aead::Open(AeadNonce n, ByteView associated_data, ByteView ciphertext) const {
  if (ciphertext.size() < kAeadTagBytes) return ShorterThanTag(ciphertext.size());
  Bytes out(ciphertext.size() - kAeadTagBytes);
  SERDAB_RETURN_IF_ERROR(Open(n, associated_data, ciphertext, out));
  return out;
}

}  // namespace serdab::crypto
