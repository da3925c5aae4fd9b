// Fuzzes what a verifier reads from a peer before trusting it: quotes (parse
// and the whole verification, under a permissive and a strict policy),
// platform certificates and enclave signatures. Every format is strict
// (versioned, length-checked, no trailing bytes), so what parses must
// serialize back to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote.h"
#include "enclave/attestation/quote_verifier.h"
#include "tests/fuzz/fuzz_fixtures.h"

namespace serdab::fuzz {
namespace {

bool SameBytes(const crypto::Bytes& a, crypto::ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

struct Verifiers {
  Verifiers()
      : root(crypto::Ed25519KeyPair::FromSeed(RootSeed()).public_key()),
        permissive(attestation::QuoteVerifier::Create(root, PermissivePolicy()).value()),
        strict(attestation::QuoteVerifier::Create(root, StrictPolicy()).value()) {}

  static attestation::QuotePolicy PermissivePolicy() {
    attestation::QuotePolicy policy;
    policy.allow_any_enclave = true;
    policy.allow_simulation = true;
    policy.allow_debug = true;
    return policy;
  }
  static attestation::QuotePolicy StrictPolicy() {
    attestation::QuotePolicy policy;
    policy.allowed_mrenclaves.push_back(Enclave().mrenclave);
    policy.allowed_mrsigners.push_back(Enclave().mrsigner);
    policy.min_svn = 2;
    return policy;
  }

  crypto::Ed25519PublicKey root;
  attestation::QuoteVerifier permissive;
  attestation::QuoteVerifier strict;
};

void FuzzOne(crypto::ByteView bytes) {
  static const Verifiers verifiers;
  static const attestation::Nonce nonce = VerifierNonce();

  Result<attestation::Quote> quote = attestation::ParseQuote(bytes);
  if (quote.ok()) {
    if (!SameBytes(attestation::SerializeQuote(*quote), bytes)) std::abort();
    (void)attestation::QuoteSignatureValid(*quote);
  }
  // The binding's keys are all zero, as in the seeds' quotes.
  const Result<attestation::VerifiedQuote> verified = verifiers.permissive.Verify(bytes, nonce, {});
  if (verified.ok() && !quote.ok()) std::abort();
  (void)verifiers.strict.Verify(bytes, nonce, {});

  Result<attestation::PlatformCertificate> certificate =
      attestation::ParsePlatformCertificate(bytes);
  if (certificate.ok()) {
    if (!SameBytes(attestation::SerializePlatformCertificate(*certificate), bytes)) std::abort();
    (void)attestation::VerifyPlatformCertificate(*certificate, verifiers.root);
  }

  Result<attestation::EnclaveSignature> signature = attestation::ParseEnclaveSignature(bytes);
  if (signature.ok()) {
    if (!SameBytes(attestation::SerializeEnclaveSignature(*signature), bytes)) std::abort();
    (void)attestation::VerifyEnclaveSignature(*signature, signature->mrenclave);
  }
}

}  // namespace
}  // namespace serdab::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  serdab::fuzz::FuzzOne(serdab::crypto::ByteView(data, size));
  return 0;
}
