#include "enclave/attestation/enclave_identity.h"

#include <cstdio>

namespace serdab::attestation {

namespace {

constexpr uint8_t kSignatureMagic[4] = {'S', 'D', 'E', 'S'};
constexpr uint16_t kSignatureVersion = 1;
constexpr std::string_view kSignatureContext = "serdab.enclave-signature.v1";

Status CheckAttributes(uint64_t attributes, std::string_view what) {
  const uint64_t unknown = attributes & ~kKnownAttributes;
  if (unknown != 0) {
    char hex[32];
    std::snprintf(hex, sizeof(hex), "0x%llx", static_cast<unsigned long long>(unknown));
    return Status::Corruption(std::string(what) + " has unknown attribute bits " + hex);
  }
  return Status::Ok();
}

// Everything the developer's signature covers.
crypto::Bytes SignedBody(const EnclaveSignature& s) {
  crypto::Writer w;
  w.Raw(kSignatureMagic);
  w.U16(s.version);
  w.Raw(s.mrenclave);
  w.U16(s.isv_svn);
  w.U64(s.attributes);
  w.Raw(s.signer);
  return w.Take();
}

}  // namespace

Measurement Measure(crypto::ByteView code, crypto::ByteView config) {
  return crypto::Sha256Labeled("serdab.mrenclave.v1", {code, config});
}

Measurement SignerOf(const crypto::Ed25519PublicKey& signer) {
  return crypto::Sha256Labeled("serdab.mrsigner.v1", {signer});
}

std::string DescribeIdentity(const EnclaveIdentity& identity) {
  std::string attributes;
  if (identity.simulation()) attributes += "simulation";
  if (identity.debug()) attributes += attributes.empty() ? "debug" : "|debug";
  if (attributes.empty()) attributes = "none";
  return "mrenclave=" + crypto::HexEncode(identity.mrenclave) +
         " mrsigner=" + crypto::HexEncode(identity.mrsigner) +
         " svn=" + std::to_string(identity.isv_svn) + " attributes=" + attributes;
}

void WriteIdentity(const EnclaveIdentity& identity, crypto::Writer* w) {
  w->Raw(identity.mrenclave);
  w->Raw(identity.mrsigner);
  w->U16(identity.isv_svn);
  w->U64(identity.attributes);
}

Result<EnclaveIdentity> ReadIdentity(crypto::Reader* r) {
  EnclaveIdentity identity;
  SERDAB_ASSIGN_OR_RETURN(identity.mrenclave, r->Array<32>("mrenclave"));
  SERDAB_ASSIGN_OR_RETURN(identity.mrsigner, r->Array<32>("mrsigner"));
  SERDAB_ASSIGN_OR_RETURN(identity.isv_svn, r->U16("isv_svn"));
  SERDAB_ASSIGN_OR_RETURN(identity.attributes, r->U64("attributes"));
  SERDAB_RETURN_IF_ERROR(CheckAttributes(identity.attributes, "enclave identity"));
  return identity;
}

Result<EnclaveSignature> SignEnclave(const crypto::Ed25519KeyPair& signer,
                                     const Measurement& mrenclave, uint16_t isv_svn,
                                     uint64_t attributes) {
  Status s = CheckAttributes(attributes, "enclave signature request");
  if (!s.ok()) return Status::InvalidArgument(s.message());
  EnclaveSignature out;
  out.version = kSignatureVersion;
  out.mrenclave = mrenclave;
  out.isv_svn = isv_svn;
  out.attributes = attributes;
  out.signer = signer.public_key();
  out.signature = signer.Sign(kSignatureContext, SignedBody(out));
  return out;
}

crypto::Bytes SerializeEnclaveSignature(const EnclaveSignature& signature) {
  crypto::Writer w;
  w.Raw(SignedBody(signature));
  w.Raw(signature.signature);
  return w.Take();
}

Result<EnclaveSignature> ParseEnclaveSignature(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "enclave signature");
  EnclaveSignature out;
  SERDAB_ASSIGN_OR_RETURN(auto magic, r.Array<4>("magic"));
  if (!std::equal(magic.begin(), magic.end(), kSignatureMagic)) {
    return Status::Corruption("enclave signature: bad magic (not a serdab enclave signature)");
  }
  SERDAB_ASSIGN_OR_RETURN(out.version, r.U16("version"));
  if (out.version != kSignatureVersion) {
    return Status::Corruption("enclave signature: unsupported version " +
                              std::to_string(out.version) + ", expected " +
                              std::to_string(kSignatureVersion));
  }
  SERDAB_ASSIGN_OR_RETURN(out.mrenclave, r.Array<32>("mrenclave"));
  SERDAB_ASSIGN_OR_RETURN(out.isv_svn, r.U16("isv_svn"));
  SERDAB_ASSIGN_OR_RETURN(out.attributes, r.U64("attributes"));
  SERDAB_RETURN_IF_ERROR(CheckAttributes(out.attributes, "enclave signature"));
  SERDAB_ASSIGN_OR_RETURN(out.signer, r.Array<32>("signer"));
  SERDAB_ASSIGN_OR_RETURN(out.signature, r.Array<64>("signature"));
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return out;
}

Result<EnclaveIdentity> VerifyEnclaveSignature(const EnclaveSignature& signature,
                                               const Measurement& measured) {
  if (!crypto::Ed25519Verify(signature.signer, kSignatureContext, SignedBody(signature),
                             signature.signature)) {
    return Status::PermissionDenied("enclave signature does not verify under its signer key " +
                                    crypto::HexEncode(signature.signer));
  }
  if (signature.mrenclave != measured) {
    return Status::PermissionDenied("enclave signature is for measurement " +
                                    crypto::HexEncode(signature.mrenclave) +
                                    " but the enclave measures " + crypto::HexEncode(measured) +
                                    " (its code or configuration changed since it was signed)");
  }
  EnclaveIdentity identity;
  identity.mrenclave = measured;
  identity.mrsigner = SignerOf(signature.signer);
  identity.isv_svn = signature.isv_svn;
  identity.attributes = signature.attributes;
  return identity;
}

}  // namespace serdab::attestation
