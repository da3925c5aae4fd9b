#include "worker/peer_handshake.h"

#include "enclave/attestation/evidence.h"
#include "enclave/crypto/aead.h"

namespace serdab::worker {

Status OpenPeerSessions(EnclaveEndpoint* sender, EnclaveEndpoint* receiver,
                        PeerSessions* sessions) {
  *sessions = PeerSessions{};
  SERDAB_ASSIGN_OR_RETURN(Bytes sender_challenge, sender->Challenge());
  SERDAB_ASSIGN_OR_RETURN(Bytes receiver_challenge, receiver->Challenge());
  SERDAB_ASSIGN_OR_RETURN(Bytes receiver_evidence, receiver->GetQuote(sender_challenge));
  SERDAB_ASSIGN_OR_RETURN(Bytes sender_evidence, sender->GetQuote(receiver_challenge));
  SERDAB_ASSIGN_OR_RETURN(attestation::Evidence theirs,
                          attestation::ParseEvidence(receiver_evidence));
  SERDAB_ASSIGN_OR_RETURN(attestation::Evidence ours, attestation::ParseEvidence(sender_evidence));

  attestation::SessionRequest request;
  request.kind = attestation::SessionRequest::Kind::kPeer;
  request.algorithm = crypto::PreferredAead();
  request.evidence_key = ours.binding.ephemeral_key;
  request.peer_evidence = std::move(receiver_evidence);
  request.challenge = std::move(sender_challenge);
  request.role = crypto::ChannelRole::kInitiator;
  Result<uint64_t> opened = sender->OpenSession(attestation::SerializeSessionRequest(request));
  if (!opened.ok()) {
    return opened.status().WithContext("the sending enclave refused the receiving one");
  }

  request.evidence_key = theirs.binding.ephemeral_key;
  request.peer_evidence = std::move(sender_evidence);
  request.challenge = std::move(receiver_challenge);
  request.role = crypto::ChannelRole::kResponder;
  Result<uint64_t> accepted = receiver->OpenSession(attestation::SerializeSessionRequest(request));
  if (!accepted.ok()) {
    (void)sender->CloseSession(*opened);
    return accepted.status().WithContext("the receiving enclave refused the sending one");
  }
  sessions->sender = *opened;
  sessions->receiver = *accepted;
  return Status::Ok();
}

}  // namespace serdab::worker
