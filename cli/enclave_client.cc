#include "cli/enclave_client.h"

#include "enclave/attestation/evidence.h"
#include "enclave/attestation/quote.h"
#include "enclave/engine/tensor_codec.h"

namespace serdab::cli {

Result<std::unique_ptr<EnclaveClient>> EnclaveClient::Attest(
    worker::EnclaveHost* host, const attestation::QuoteVerifier& verifier) {
  SERDAB_ASSIGN_OR_RETURN(attestation::Nonce nonce, attestation::NewNonce());
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes evidence_bytes, host->GetQuote(nonce));
  SERDAB_ASSIGN_OR_RETURN(attestation::Evidence evidence,
                          attestation::ParseEvidence(evidence_bytes));
  SERDAB_ASSIGN_OR_RETURN(attestation::VerifiedQuote verified,
                          verifier.Verify(evidence.quote, nonce, evidence.ephemeral_key));
  SERDAB_ASSIGN_OR_RETURN(crypto::X25519KeyPair ours, crypto::X25519KeyPair::Generate());
  attestation::SessionRequest request;
  request.kind = attestation::SessionRequest::Kind::kClient;
  request.algorithm = crypto::PreferredAead();
  request.evidence_key = evidence.ephemeral_key;
  request.client_key = ours.public_key;
  SERDAB_ASSIGN_OR_RETURN(uint64_t session,
                          host->OpenSession(attestation::SerializeSessionRequest(request)));
  const auto transcript = attestation::ChannelTranscript({}, evidence.quote);
  SERDAB_ASSIGN_OR_RETURN(
      crypto::SecureChannel channel,
      crypto::SecureChannel::Create(crypto::ChannelRole::kInitiator, ours.secret_key,
                                    verified.ephemeral_key, transcript, request.algorithm));
  return std::unique_ptr<EnclaveClient>(
      new EnclaveClient(host, std::move(verified), std::move(channel), session));
}

Result<crypto::Bytes> EnclaveClient::Provision(const crypto::Bytes& model, int begin, int end,
                                               int threads, int32_t seal_policy) {
  attestation::ProvisionRequest request;
  request.model = model;
  request.begin = begin;
  request.end = end;
  request.threads = threads;
  crypto::Bytes plaintext = attestation::SerializeProvisionRequest(request);
  request.model.clear();
  crypto::Bytes message;
  SERDAB_RETURN_IF_ERROR(channel_.Seal(0, 0, 0, plaintext, &message));
  return host_->Provision(session_, message, seal_policy);
}

Result<std::vector<engine::Tensor>> EnclaveClient::Infer(
    const std::vector<engine::Tensor>& inputs) {
  crypto::Bytes plaintext;
  engine::EncodeTensors(inputs, &plaintext);
  crypto::Bytes message;
  const uint64_t frame = next_frame_++;
  SERDAB_RETURN_IF_ERROR(channel_.Seal(kStreamId, frame, kToEnclaveHop, plaintext, &message));
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes reply, host_->Process(session_, kToEnclaveHop, session_,
                                                              kFromEnclaveHop, kStreamId, message));
  SERDAB_ASSIGN_OR_RETURN(crypto::OpenedMessage opened,
                          channel_.Open(kStreamId, kFromEnclaveHop, reply, &plaintext));
  if (opened.frame_seq != frame) {
    return Status::Corruption("the enclave answered frame " + std::to_string(opened.frame_seq) +
                              " for frame " + std::to_string(frame));
  }
  return engine::DecodeTensors(plaintext);
}

}  // namespace serdab::cli
