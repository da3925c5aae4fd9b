// The mutual attestation between two adjacent stages' enclaves, run by their
// untrusted hosts: each enclave issues a challenge, answers the other's with
// a quote bound to a fresh key, and opens its half of the session from the
// other's evidence (enclave/attestation/evidence.h, SessionRequest kPeer).
// Each enclave checks the other's quote against the deployment root and that
// its owner routed it to exactly that enclave instance; the hosts only carry
// the evidence, and can make the handshake fail, not succeed wrongly.
#ifndef SERDAB_WORKER_PEER_HANDSHAKE_H_
#define SERDAB_WORKER_PEER_HANDSHAKE_H_

#include <cstdint>

#include "enclave/common/status.h"
#include "worker/enclave_endpoint.h"

namespace serdab::worker {

struct PeerSessions {
  uint64_t sender = 0;    // in the sender's enclave: what its output is sealed to
  uint64_t receiver = 0;  // in the receiver's enclave: what that output is opened from
};

// Fills *sessions once both halves are open. On failure neither is left
// open (a sender's half opened before the receiver refused is closed) and
// *sessions is zero.
Status OpenPeerSessions(EnclaveEndpoint* sender, EnclaveEndpoint* receiver, PeerSessions* sessions);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_PEER_HANDSHAKE_H_
