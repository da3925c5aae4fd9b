#include "enclave/epc/page_cipher.h"

#include <cstring>

namespace serdab::epc {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kAdBytes = 16;

void StoreLe(uint64_t v, uint8_t* out, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

void MakeNonceAndAd(uint32_t page, uint64_t version, uint8_t nonce[kNonceBytes],
                    uint8_t ad[kAdBytes]) {
  StoreLe(page, nonce, 4);
  StoreLe(version, nonce + 4, 8);
  StoreLe(page, ad, 8);
  StoreLe(version, ad + 8, 8);
}

}  // namespace

static_assert(crypto_aead_aes256gcm_ABYTES == PageCipher::kTagBytes);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == PageCipher::kTagBytes);
static_assert(crypto_aead_aes256gcm_NPUBBYTES == kNonceBytes);
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == kNonceBytes);

Result<std::unique_ptr<PageCipher>> PageCipher::Create() {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise (sodium_init)");
  std::unique_ptr<PageCipher> cipher(new PageCipher());
  randombytes_buf(cipher->key_, sizeof(cipher->key_));
  cipher->use_aes_ = crypto_aead_aes256gcm_is_available() != 0;
  if (cipher->use_aes_) {
    crypto_aead_aes256gcm_beforenm(&cipher->aes_state_, cipher->key_);
    sodium_memzero(cipher->key_, sizeof(cipher->key_));
  }
  return cipher;
}

PageCipher::~PageCipher() {
  sodium_memzero(&aes_state_, sizeof(aes_state_));
  sodium_memzero(key_, sizeof(key_));
}

const char* PageCipher::name() const { return use_aes_ ? "aes256gcm" : "chacha20poly1305-ietf"; }

void PageCipher::Seal(uint32_t page, uint64_t version, uint8_t* data, size_t bytes,
                      uint8_t tag[kTagBytes]) const {
  uint8_t nonce[kNonceBytes];
  uint8_t ad[kAdBytes];
  MakeNonceAndAd(page, version, nonce, ad);
  unsigned long long tag_len = 0;  // NOLINT(runtime/int): libsodium's type
  if (use_aes_) {
    crypto_aead_aes256gcm_encrypt_detached_afternm(data, tag, &tag_len, data, bytes, ad, kAdBytes,
                                                   nullptr, nonce, &aes_state_);
  } else {
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(data, tag, &tag_len, data, bytes, ad,
                                                       kAdBytes, nullptr, nonce, key_);
  }
}

bool PageCipher::Open(uint32_t page, uint64_t version, uint8_t* data, size_t bytes,
                      const uint8_t tag[kTagBytes]) const {
  uint8_t nonce[kNonceBytes];
  uint8_t ad[kAdBytes];
  MakeNonceAndAd(page, version, nonce, ad);
  if (use_aes_) {
    return crypto_aead_aes256gcm_decrypt_detached_afternm(data, nullptr, data, bytes, tag, ad,
                                                          kAdBytes, nonce, &aes_state_) == 0;
  }
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(data, nullptr, data, bytes, tag, ad,
                                                            kAdBytes, nonce, key_) == 0;
}

}  // namespace serdab::epc
