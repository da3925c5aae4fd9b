#include "enclave/crypto/keys.h"

#include <sodium.h>

namespace serdab::crypto {

Status InitSodium() {
  // sodium_init() is itself thread-safe; the static makes the check free
  // after the first call. It returns 1 when already initialised.
  static const int rc = sodium_init();
  if (rc < 0) return Status::Internal("libsodium failed to initialise (sodium_init)");
  return Status::Ok();
}

Status RandomBytes(std::span<uint8_t> out) {
  SERDAB_RETURN_IF_ERROR(InitSodium());
  randombytes_buf(out.data(), out.size());
  return Status::Ok();
}

Result<X25519KeyPair> X25519KeyPair::Generate() {
  X25519KeyPair pair;
  SERDAB_RETURN_IF_ERROR(RandomBytes(std::span(pair.secret_key.data(), pair.secret_key.size())));
  pair.public_key = X25519PublicFromSecret(pair.secret_key);
  return pair;
}

X25519PublicKey X25519PublicFromSecret(const X25519SecretKey& secret) {
  X25519PublicKey out;
  crypto_scalarmult_base(out.data(), secret.data());
  return out;
}

Result<SecretBytes<32>> X25519SharedSecret(const X25519SecretKey& ours,
                                           const X25519PublicKey& theirs) {
  static_assert(crypto_scalarmult_BYTES == 32);
  SecretBytes<32> shared;
  // libsodium returns -1 when the result is all zeros (a low-order point).
  if (crypto_scalarmult(shared.data(), ours.data(), theirs.data()) != 0) {
    return Status::PermissionDenied(
        "X25519 key agreement refused: the peer's public key is a low-order point");
  }
  return shared;
}

namespace {

Bytes ContextMessage(std::string_view context, ByteView message) {
  Writer w;
  w.LengthPrefixed(AsBytes(context));
  w.Raw(message);
  return w.Take();
}

// Feeds u32 len(label) || label || (u64 len(part) || part)... to `update`,
// the framing shared by every labelled hash and key derivation.
template <typename Update>
void FeedLabeled(std::string_view label, std::initializer_list<ByteView> parts, Update update) {
  Writer head;
  head.LengthPrefixed(AsBytes(label));
  update(head.bytes());
  for (ByteView part : parts) {
    Writer len;
    len.U64(part.size());
    update(len.bytes());
    update(part);
  }
}

}  // namespace

Result<Ed25519KeyPair> Ed25519KeyPair::Generate() {
  Ed25519Seed seed;
  SERDAB_RETURN_IF_ERROR(RandomBytes(std::span(seed.data(), seed.size())));
  return FromSeed(seed);
}

Ed25519KeyPair Ed25519KeyPair::FromSeed(const Ed25519Seed& seed) {
  static_assert(crypto_sign_SECRETKEYBYTES == 64 && crypto_sign_SEEDBYTES == 32);
  Ed25519KeyPair pair;
  pair.seed_ = seed;
  crypto_sign_seed_keypair(pair.public_key_.data(), pair.secret_key_.data(), seed.data());
  return pair;
}

Ed25519Signature Ed25519KeyPair::Sign(std::string_view context, ByteView message) const {
  Bytes signed_bytes = ContextMessage(context, message);
  Ed25519Signature sig;
  crypto_sign_detached(sig.data(), nullptr, signed_bytes.data(), signed_bytes.size(),
                       secret_key_.data());
  return sig;
}

bool Ed25519Verify(const Ed25519PublicKey& key, std::string_view context, ByteView message,
                   const Ed25519Signature& signature) {
  Bytes signed_bytes = ContextMessage(context, message);
  return crypto_sign_verify_detached(signature.data(), signed_bytes.data(), signed_bytes.size(),
                                     key.data()) == 0;
}

Sha256Digest Sha256(ByteView data) {
  Sha256Digest out;
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}

Sha256Digest Sha256Labeled(std::string_view label, std::initializer_list<ByteView> parts) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  FeedLabeled(label, parts,
              [&](ByteView b) { crypto_hash_sha256_update(&state, b.data(), b.size()); });
  Sha256Digest out;
  crypto_hash_sha256_final(&state, out.data());
  return out;
}

SecretBytes<32> DeriveKey(ByteView key, std::string_view label,
                          std::initializer_list<ByteView> parts) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, key.data(), key.size(), 32);
  FeedLabeled(label, parts,
              [&](ByteView b) { crypto_generichash_update(&state, b.data(), b.size()); });
  SecretBytes<32> out;
  crypto_generichash_final(&state, out.data(), out.size());
  SecureWipe(&state, sizeof(state));
  return out;
}

ByteArray<64> Blake2b512Labeled(std::string_view label, std::initializer_list<ByteView> parts) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 64);
  FeedLabeled(label, parts,
              [&](ByteView b) { crypto_generichash_update(&state, b.data(), b.size()); });
  ByteArray<64> out;
  crypto_generichash_final(&state, out.data(), out.size());
  return out;
}

}  // namespace serdab::crypto
