#include "cli/enclave_client.h"

#include <algorithm>
#include <thread>

#include "enclave/attestation/quote.h"
#include "enclave/engine/tensor_codec.h"

namespace serdab::cli {

Result<std::unique_ptr<EnclaveClient>> EnclaveClient::AttestAndOpen(
    worker::EnclaveEndpoint* host, const attestation::QuoteVerifier& verifier,
    const crypto::Ed25519KeyPair& identity,
    const std::function<Status(const crypto::Ed25519PublicKey&)>& check_owner) {
  SERDAB_ASSIGN_OR_RETURN(attestation::Nonce nonce, attestation::NewNonce());
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes evidence_bytes, host->GetQuote(nonce));
  SERDAB_ASSIGN_OR_RETURN(attestation::Evidence evidence,
                          attestation::ParseEvidence(evidence_bytes));
  SERDAB_ASSIGN_OR_RETURN(attestation::VerifiedQuote verified,
                          verifier.Verify(evidence.quote, nonce, evidence.binding));
  SERDAB_RETURN_IF_ERROR(check_owner(verified.binding.owner));
  SERDAB_ASSIGN_OR_RETURN(attestation::ClientSession client,
                          attestation::OpenClientSession(evidence, identity));
  SERDAB_ASSIGN_OR_RETURN(uint64_t session, host->OpenSession(client.request));
  return std::unique_ptr<EnclaveClient>(new EnclaveClient(
      host, std::move(verified), std::move(client.channel), session, identity.public_key()));
}

Result<std::unique_ptr<EnclaveClient>> EnclaveClient::Attest(
    worker::EnclaveEndpoint* host, const attestation::QuoteVerifier& verifier,
    const crypto::Ed25519KeyPair& identity, const crypto::Ed25519PublicKey& owner) {
  return AttestAndOpen(host, verifier, identity, [&](const crypto::Ed25519PublicKey& actual) {
    const bool claimable = owner == identity.public_key() && actual == crypto::Ed25519PublicKey{};
    if (actual == owner || claimable) return Status::Ok();
    return Status::PermissionDenied(
        actual == crypto::Ed25519PublicKey{}
            ? "the enclave has no owner yet: its owner has not provisioned it"
            : "the enclave belongs to owner " + crypto::HexEncode(actual) + ", not " +
                  crypto::HexEncode(owner) + " (was it claimed by its host?)");
  });
}

Result<std::unique_ptr<EnclaveClient>> EnclaveClient::AttestCoordinator(
    worker::EnclaveEndpoint* host, const attestation::QuoteVerifier& verifier,
    const crypto::Ed25519KeyPair& identity) {
  return AttestAndOpen(host, verifier, identity, [](const crypto::Ed25519PublicKey& actual) {
    if (actual != crypto::Ed25519PublicKey{}) return Status::Ok();
    return Status::FailedPrecondition(
        "the coordinator enclave has no identity yet (its orchestrator has not started it)");
  });
}

attestation::Principal EnclaveClient::principal() const {
  return {attestation::Principal::Kind::kClient, identity_};
}

attestation::Principal EnclaveClient::enclave_principal() const {
  return {attestation::Principal::Kind::kEnclave, verified_.binding.instance};
}

std::vector<attestation::Route> EnclaveClient::SelfRoutes() const {
  return {attestation::Route{principal(), principal(), 0}};
}

Result<crypto::Bytes> EnclaveClient::SealOwnerMessage(crypto::ByteView plaintext) {
  crypto::Bytes message;
  SERDAB_RETURN_IF_ERROR(channel_.Seal(0, 0, 0, plaintext, &message));
  return message;
}

Result<crypto::Bytes> EnclaveClient::SendOwnerCommand(const attestation::OwnerCommand& command) {
  crypto::Bytes plaintext = attestation::SerializeOwnerCommand(command);
  auto message = SealOwnerMessage(plaintext);
  crypto::SecureWipe(plaintext.data(), plaintext.size());
  if (!message.ok()) return message.status();
  return host_->Provision(session_, *message);
}

Result<crypto::Bytes> EnclaveClient::Provision(const crypto::Bytes& model,
                                               const PartitionSpec& spec) {
  attestation::OwnerCommand command;
  command.kind = attestation::OwnerCommand::Kind::kProvision;
  command.partition_version = spec.version;
  command.routes = spec.routes;
  command.begin = spec.begin;
  command.end = spec.end;
  command.threads = spec.threads;
  command.seal = spec.seal;
  command.synthetic_weights = spec.synthetic_weights;
  command.streamed_weight_bytes = spec.streamed_weight_bytes;
  command.shard_index = spec.shard_index;
  command.shard_count = spec.shard_count;
  command.model = model;
  auto sealed = SendOwnerCommand(command);
  crypto::SecureWipe(command.model.data(), command.model.size());
  return sealed;
}

Status EnclaveClient::SetRoutes(uint64_t version, std::vector<attestation::Route> routes) {
  attestation::OwnerCommand command;
  command.kind = attestation::OwnerCommand::Kind::kSetRoutes;
  command.partition_version = version;
  command.routes = std::move(routes);
  return SendOwnerCommand(command).status();
}

Result<std::vector<engine::Tensor>> EnclaveClient::Infer(
    const std::vector<engine::Tensor>& inputs) {
  // The buffers are reused frame after frame (a fresh one would be mapped and
  // faulted in every time). The frame is sealed from the input tensors where
  // they lie; the result's plaintext is wiped after each use.
  const uint64_t frame = next_frame_++;
  const std::vector<crypto::ByteView> parts = engine::EncodedTensorParts(inputs, &frame_headers_);
  if (crypto::TotalSize<crypto::ByteView>(parts) > crypto::kChannelRecordBytes &&
      seal_pool_ == nullptr) {
    seal_pool_ = std::make_unique<engine::ThreadPool>(
        static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, kMaxSealThreads)),
        engine::ThreadPool::IdleWorkers::kSleep);
  }
  SERDAB_RETURN_IF_ERROR(channel_.SealParts(kStreamId, frame, kToEnclaveHop, parts, &frame_message_,
                                            engine::ForEachOn(seal_pool_.get())));
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes reply,
                          host_->Process(session_, kToEnclaveHop, session_, kFromEnclaveHop,
                                         kStreamId, frame_message_));
  SERDAB_ASSIGN_OR_RETURN(crypto::OpenedMessage opened,
                          channel_.Open(kStreamId, kFromEnclaveHop, reply, &frame_plaintext_));
  auto outputs = opened.frame_seq == frame
                     ? engine::DecodeTensors(frame_plaintext_)
                     : Result<std::vector<engine::Tensor>>(Status::Corruption(
                           "the enclave answered frame " + std::to_string(opened.frame_seq) +
                           " for frame " + std::to_string(frame)));
  crypto::SecureWipe(frame_plaintext_.data(), frame_plaintext_.size());
  return outputs;
}

}  // namespace serdab::cli
