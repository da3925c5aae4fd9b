// Enclave identity with Intel SGX semantics, for the software ("sim") TEE.
//
//   mrenclave  SHA-256 over the enclave's code bytes and its configuration
//              (what SGX's MRENCLAVE records of the loaded pages);
//   mrsigner   SHA-256 of the public key that signed the enclave (SGX hashes
//              the signer's RSA modulus);
//   isv_svn    the security version the signer assigned;
//   attributes kAttributeSimulation (set on every sim enclave: production
//              policies refuse it) and kAttributeDebug (as SGX's DEBUG bit).
//
// EnclaveSignature plays SGX's SIGSTRUCT: the developer signs (mrenclave,
// isv_svn, attributes) with their key, and the platform loads an enclave only
// if the signature checks and the measurement it computed matches. That is
// what makes mrsigner mean "signed by this key".
#ifndef SERDAB_ENCLAVE_ATTESTATION_ENCLAVE_IDENTITY_H_
#define SERDAB_ENCLAVE_ATTESTATION_ENCLAVE_IDENTITY_H_

#include <cstdint>
#include <string>

#include "enclave/common/status.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"

namespace serdab::attestation {

using Measurement = crypto::ByteArray<32>;

inline constexpr uint64_t kAttributeSimulation = uint64_t{1} << 0;
inline constexpr uint64_t kAttributeDebug = uint64_t{1} << 1;
// Bits that have a meaning; parsers reject any other bit.
inline constexpr uint64_t kKnownAttributes = kAttributeSimulation | kAttributeDebug;

struct EnclaveIdentity {
  Measurement mrenclave{};
  Measurement mrsigner{};
  uint16_t isv_svn = 0;
  uint64_t attributes = 0;

  bool simulation() const { return (attributes & kAttributeSimulation) != 0; }
  bool debug() const { return (attributes & kAttributeDebug) != 0; }
  bool operator==(const EnclaveIdentity&) const = default;
};

// SHA-256("serdab.mrenclave.v1", code, config) with length framing, so that
// moving bytes between code and config changes the measurement.
Measurement Measure(crypto::ByteView code, crypto::ByteView config);

// SHA-256("serdab.mrsigner.v1", signer public key).
Measurement SignerOf(const crypto::Ed25519PublicKey& signer);

// "mrenclave=<hex> mrsigner=<hex> svn=N attributes=simulation|debug".
std::string DescribeIdentity(const EnclaveIdentity& identity);

// Wire form (74 bytes): mrenclave | mrsigner | u16 isv_svn | u64 attributes.
void WriteIdentity(const EnclaveIdentity& identity, crypto::Writer* w);
// Fails with Corruption on truncation or unknown attribute bits.
Result<EnclaveIdentity> ReadIdentity(crypto::Reader* r);

// The developer's signature over an enclave build (SGX's SIGSTRUCT).
struct EnclaveSignature {
  uint16_t version = 1;
  Measurement mrenclave{};
  uint16_t isv_svn = 0;
  uint64_t attributes = 0;
  crypto::Ed25519PublicKey signer{};
  crypto::Ed25519Signature signature{};
};

// Fails for attribute bits outside kKnownAttributes.
Result<EnclaveSignature> SignEnclave(const crypto::Ed25519KeyPair& signer,
                                     const Measurement& mrenclave, uint16_t isv_svn,
                                     uint64_t attributes);

// Versioned, length-checked wire form; Parse rejects trailing bytes.
crypto::Bytes SerializeEnclaveSignature(const EnclaveSignature& signature);
Result<EnclaveSignature> ParseEnclaveSignature(crypto::ByteView bytes);

// The identity the platform may quote for an enclave it measured as
// `measured`: checks the signature (PermissionDenied if forged) and that it
// signs this measurement (PermissionDenied if the code or config changed).
Result<EnclaveIdentity> VerifyEnclaveSignature(const EnclaveSignature& signature,
                                               const Measurement& measured);

}  // namespace serdab::attestation

#endif  // SERDAB_ENCLAVE_ATTESTATION_ENCLAVE_IDENTITY_H_
