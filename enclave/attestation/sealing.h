// Sealing: encrypting data so that only the same enclave (MRENCLAVE policy) or
// any enclave of the same signer at the same or a later security version
// (MRSIGNER policy), on the same platform, can decrypt it. These are SGX's two
// key policies.
//
// Each blob gets its own key:
//   key = BLAKE2b(platform sealing secret, "serdab.seal.v1", policy,
//                 mrenclave or mrsigner, isv_svn, attributes, key_id)
// with a fresh random 32-byte key_id, so the AEAD counter is always 0 and a
// (key, nonce) pair never repeats. The identity's attributes (simulation,
// debug) are bound, as SGX's attribute mask binds DEBUG: a debug build cannot
// open what a production build sealed.
//
// The sealer's isv_svn is recorded in the blob and bound into the key. An
// enclave unseals with the recorded svn only if its own svn is at least that:
// an upgraded enclave reads its predecessors' data, a downgraded one cannot
// read data sealed after the upgrade (as SGX's KEYREQUEST.ISVSVN).
//
// Blob (little-endian): "SDSL" | u16 version | u8 policy | u8 AEAD algorithm |
// u16 isv_svn | key_id[32] | ciphertext || tag. The associated data is the
// header (every byte before the ciphertext) plus the caller's additional data,
// which must be given again to unseal.
#ifndef SERDAB_ENCLAVE_ATTESTATION_SEALING_H_
#define SERDAB_ENCLAVE_ATTESTATION_SEALING_H_

#include <cstdint>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/platform.h"
#include "enclave/common/status.h"
#include "enclave/crypto/bytes.h"

namespace serdab::attestation {

// The numeric values appear in blobs; never renumber.
enum class SealPolicy : uint8_t {
  kMrEnclave = 1,
  kMrSigner = 2,
};

inline constexpr uint16_t kSealedBlobVersion = 1;
inline constexpr size_t kSealedHeaderBytes = 4 + 2 + 1 + 1 + 2 + 32;

// Seals `plaintext` for `self` (the sealing enclave's identity) under
// `policy`, with the platform's preferred AEAD.
Result<crypto::Bytes> Seal(const SealingSecret& secret, const EnclaveIdentity& self,
                           SealPolicy policy, crypto::ByteView plaintext,
                           crypto::ByteView additional_data = {});

// Opens a blob as enclave `self`. Corruption for a malformed blob or a failed
// authentication (another enclave, signer, platform or additional data, or a
// modified blob: these are indistinguishable by design); PermissionDenied if
// the blob was sealed by a later security version than self's.
Result<crypto::Bytes> Unseal(const SealingSecret& secret, const EnclaveIdentity& self,
                             crypto::ByteView blob, crypto::ByteView additional_data = {});

}  // namespace serdab::attestation

#endif  // SERDAB_ENCLAVE_ATTESTATION_SEALING_H_
