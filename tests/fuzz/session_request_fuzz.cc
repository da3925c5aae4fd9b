// Fuzzes the attestation and provisioning messages an enclave parses from
// bytes the host hands it: a peer's evidence, session requests, the owner's
// commands, sealed partitions coming back from host storage, and the
// coordinator's requests, grants and replies. Only the
// parsers are named here, not the messages' fields, so the target follows
// the formats as they grow.
#include <cstddef>
#include <cstdint>

#include "enclave/attestation/coordination.h"
#include "enclave/attestation/evidence.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serdab;
  const crypto::ByteView bytes(data, size);
  (void)attestation::ParseEvidence(bytes);
  (void)attestation::ParseSessionRequest(bytes);
  (void)attestation::ParseOwnerCommand(bytes);
  (void)attestation::ParseSealedPartition(bytes);
  (void)attestation::ParseCoordinatorRequest(bytes);
  (void)attestation::ParseDeploymentGrant(bytes);
  (void)attestation::ParseReplyParts(bytes);
  return 0;
}
