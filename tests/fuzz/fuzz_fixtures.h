// Fixed keys and identities shared by the fuzz targets and fuzz_seeds, so that
// the generated seeds are valid for the targets and reach past the signature
// and authentication checks into the code behind them.
#ifndef SERDAB_TESTS_FUZZ_FUZZ_FIXTURES_H_
#define SERDAB_TESTS_FUZZ_FUZZ_FIXTURES_H_

#include <cstring>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote.h"
#include "enclave/crypto/keys.h"

namespace serdab::fuzz {

// The deployment root whose certificates the quote verifier trusts.
inline crypto::Ed25519Seed RootSeed() {
  crypto::Ed25519Seed seed;
  std::memset(seed.data(), 0x52, seed.size());
  return seed;
}

// The nonce the quote verifier sent; quotes bind it with an all-zero key.
inline attestation::Nonce VerifierNonce() {
  attestation::Nonce nonce;
  nonce.fill(0x4e);
  return nonce;
}

// The platform sealing secret, and the enclave that seals and unseals and
// that the seeds' quotes describe.
inline attestation::SealingSecret SealingSecret() {
  attestation::SealingSecret secret;
  std::memset(secret.data(), 0x53, secret.size());
  return secret;
}

inline attestation::EnclaveIdentity Enclave() {
  attestation::EnclaveIdentity identity;
  identity.mrenclave.fill(0x45);
  identity.mrsigner.fill(0x53);
  identity.isv_svn = 3;
  identity.attributes = attestation::kAttributeSimulation;
  return identity;
}

}  // namespace serdab::fuzz

#endif  // SERDAB_TESTS_FUZZ_FUZZ_FIXTURES_H_
