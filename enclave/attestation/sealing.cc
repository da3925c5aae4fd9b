#include "enclave/attestation/sealing.h"

#include <algorithm>

#include "enclave/crypto/aead.h"
#include "enclave/crypto/keys.h"

namespace serdab::attestation {

namespace {

constexpr uint8_t kSealMagic[4] = {'S', 'D', 'S', 'L'};

struct SealHeader {
  SealPolicy policy;
  crypto::AeadAlgorithm algorithm;
  uint16_t isv_svn;
  crypto::ByteArray<32> key_id;
};

crypto::Bytes EncodeHeader(const SealHeader& h) {
  crypto::Writer w;
  w.Raw(kSealMagic);
  w.U16(kSealedBlobVersion);
  w.U8(static_cast<uint8_t>(h.policy));
  w.U8(static_cast<uint8_t>(h.algorithm));
  w.U16(h.isv_svn);
  w.Raw(h.key_id);
  return w.Take();
}

Result<SealHeader> DecodeHeader(crypto::Reader* r) {
  SERDAB_ASSIGN_OR_RETURN(auto magic, r->Array<4>("magic"));
  if (!std::equal(magic.begin(), magic.end(), kSealMagic)) {
    return Status::Corruption("sealed blob: bad magic (not a serdab sealed blob)");
  }
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r->U16("version"));
  if (version != kSealedBlobVersion) {
    return Status::Corruption("sealed blob: unsupported version, expected " +
                              std::to_string(kSealedBlobVersion));
  }
  SealHeader h;
  SERDAB_ASSIGN_OR_RETURN(uint8_t policy, r->U8("policy"));
  if (policy != static_cast<uint8_t>(SealPolicy::kMrEnclave) &&
      policy != static_cast<uint8_t>(SealPolicy::kMrSigner)) {
    return Status::Corruption("sealed blob: unknown policy");
  }
  h.policy = static_cast<SealPolicy>(policy);
  SERDAB_ASSIGN_OR_RETURN(uint8_t algorithm, r->U8("algorithm"));
  auto parsed_algorithm = crypto::AeadFromWire(algorithm);
  if (!parsed_algorithm.ok()) return parsed_algorithm.status().WithContext("sealed blob");
  h.algorithm = *parsed_algorithm;
  SERDAB_ASSIGN_OR_RETURN(h.isv_svn, r->U16("isv_svn"));
  SERDAB_ASSIGN_OR_RETURN(h.key_id, r->Array<32>("key_id"));
  return h;
}

crypto::AeadKey SealKey(const SealingSecret& secret, const EnclaveIdentity& self,
                        const SealHeader& h) {
  const uint8_t policy = static_cast<uint8_t>(h.policy);
  const Measurement& bound = h.policy == SealPolicy::kMrEnclave ? self.mrenclave : self.mrsigner;
  crypto::Writer numbers;
  numbers.U16(h.isv_svn);
  numbers.U64(self.attributes & kKnownAttributes);
  return crypto::DeriveKey(secret.view(), "serdab.seal.v1",
                           {crypto::ByteView(&policy, 1), bound, numbers.bytes(), h.key_id});
}

// Every unsigned enclave has the all-zero signer, so a key bound to it would
// open for any unsigned enclave on the platform.
Status CheckSignerPolicy(SealPolicy policy, const EnclaveIdentity& self) {
  if (policy == SealPolicy::kMrSigner && self.mrsigner == Measurement{}) {
    return Status::FailedPrecondition(
        "sealing to the signer needs a signed enclave: an unsigned enclave's all-zero signer is "
        "shared by every unsigned enclave (sign it with serdab enclave sign, or seal to the "
        "measurement)");
  }
  return Status::Ok();
}

crypto::Bytes AssociatedData(crypto::ByteView header, crypto::ByteView additional_data) {
  crypto::Writer w;
  w.Raw(header);
  w.Raw(additional_data);
  return w.Take();
}

}  // namespace

Result<crypto::Bytes> Seal(const SealingSecret& secret, const EnclaveIdentity& self,
                           SealPolicy policy, crypto::ByteView plaintext,
                           crypto::ByteView additional_data) {
  SERDAB_RETURN_IF_ERROR(CheckSignerPolicy(policy, self));
  SealHeader h;
  h.policy = policy;
  h.algorithm = crypto::PreferredAead();
  h.isv_svn = self.isv_svn;
  SERDAB_RETURN_IF_ERROR(crypto::RandomBytes(h.key_id));
  SERDAB_ASSIGN_OR_RETURN(crypto::Aead aead,
                          crypto::Aead::Create(h.algorithm, SealKey(secret, self, h)));
  crypto::Bytes blob = EncodeHeader(h);
  const crypto::Bytes ad = AssociatedData(blob, additional_data);
  const size_t header_size = blob.size();
  blob.resize(header_size + plaintext.size() + crypto::kAeadTagBytes);
  SERDAB_RETURN_IF_ERROR(
      aead.Seal(/*counter=*/0, ad, plaintext,
                std::span(blob.data() + header_size, plaintext.size() + crypto::kAeadTagBytes)));
  return blob;
}

Result<crypto::Bytes> Unseal(const SealingSecret& secret, const EnclaveIdentity& self,
                             crypto::ByteView blob, crypto::ByteView additional_data) {
  crypto::Reader r(blob, "sealed blob");
  SERDAB_ASSIGN_OR_RETURN(SealHeader h, DecodeHeader(&r));
  SERDAB_RETURN_IF_ERROR(CheckSignerPolicy(h.policy, self));
  if (h.isv_svn > self.isv_svn) {
    return Status::PermissionDenied(
        "sealed blob was sealed by a later security version than this enclave's " +
        std::to_string(self.isv_svn));
  }
  SERDAB_ASSIGN_OR_RETURN(crypto::Aead aead,
                          crypto::Aead::Create(h.algorithm, SealKey(secret, self, h)));
  const crypto::Bytes ad = AssociatedData(blob.first(r.offset()), additional_data);
  auto plaintext = aead.Open(/*counter=*/0, ad, r.Rest());
  if (!plaintext.ok()) {
    if (plaintext.status().code() != Status::Code::kCorruption) return plaintext.status();
    return Status::Corruption(
        std::string("sealed blob does not open for this enclave: it was sealed for another ") +
        (h.policy == SealPolicy::kMrEnclave ? "measurement" : "signer") +
        ", attribute set or platform, with other additional data, or it was modified");
  }
  return plaintext;
}

}  // namespace serdab::attestation
