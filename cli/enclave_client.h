// EnclaveClient: the trusted end of a session with an enclave — a camera
// client, a model owner, or (later) the coordinator enclave acting as owner.
//
// Attest() sends a fresh nonce through the (untrusted) host, verifies the
// enclave's quote against the deployment's root and policy and that the
// enclave belongs to the owner the client expects, and opens a channel bound
// to that quote, signed with the client's long-term identity so that the
// enclave knows who it talks to. The owner then provisions a partition and
// declares routes; clients send frames along those routes. The host carries
// only ciphertext.
#ifndef SERDAB_CLI_ENCLAVE_CLIENT_H_
#define SERDAB_CLI_ENCLAVE_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "enclave/attestation/evidence.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/crypto/secure_channel.h"
#include "enclave/engine/tensor.h"
#include "enclave/engine/thread_pool.h"
#include "worker/enclave_endpoint.h"

namespace serdab::cli {

// What an owner provisions: a layer range of its model and the routes frames
// may take through it.
struct PartitionSpec {
  int begin = 0;
  int end = -1;  // -1: to the last layer
  int threads = 1;
  attestation::PartitionSeal seal = attestation::PartitionSeal::kNone;
  uint64_t version = 1;
  std::vector<attestation::Route> routes;
  // The model is architecture-only (engine::ArchitectureOnly) and the enclave
  // synthesizes its weights, for profiling; seal must then be kNone.
  bool synthetic_weights = false;
  // Weight bytes the enclave streams rather than holds in its EPC
  // (engine/streamed_weights.h); 0: every weight resident.
  uint64_t streamed_weight_bytes = 0;
  // With a count above 1, the range is one layer and the enclave computes
  // this shard of its outputs (engine/output_slice.h).
  int shard_index = 0;
  int shard_count = 1;
};

class EnclaveClient {
 public:
  // `owner` is the owner the enclave must have. A client that is the owner
  // passes its own identity's public key, and then also accepts an enclave
  // with no owner yet (it becomes the owner by provisioning). PermissionDenied
  // if the enclave belongs to anyone else: it may have been claimed by its
  // host, and must not see this client's model or frames.
  static Result<std::unique_ptr<EnclaveClient>> Attest(worker::EnclaveEndpoint* host,
                                                       const attestation::QuoteVerifier& verifier,
                                                       const crypto::Ed25519KeyPair& identity,
                                                       const crypto::Ed25519PublicKey& owner);

  // Attests a coordinator enclave (`verifier` must pin the coordinator's
  // measurement). Its quote binds, in place of an owner, the identity it owns
  // worker enclaves as: enclave().binding.owner.
  static Result<std::unique_ptr<EnclaveClient>> AttestCoordinator(
      worker::EnclaveEndpoint* host, const attestation::QuoteVerifier& verifier,
      const crypto::Ed25519KeyPair& identity);

  const attestation::VerifiedQuote& enclave() const { return verified_; }
  uint64_t session() const { return session_; }
  // This client as the enclave knows it, and the enclave as a peer knows it.
  attestation::Principal principal() const;
  attestation::Principal enclave_principal() const;
  // The route a client that runs the enclave for itself needs: frames from
  // it, results back to it, on any stream.
  std::vector<attestation::Route> SelfRoutes() const;

  // Owner commands. Provision returns the sealed partition when spec.seal
  // asks for one.
  Result<crypto::Bytes> Provision(const crypto::Bytes& model, const PartitionSpec& spec);
  Status SetRoutes(uint64_t version, std::vector<attestation::Route> routes);

  // Seals `plaintext` in this session as an owner message (stream 0, hop 0):
  // what carries a grant to the coordinator enclave.
  Result<crypto::Bytes> SealOwnerMessage(crypto::ByteView plaintext);

  // Encrypts one frame's tensors, has the enclave run its partition, and
  // decrypts the result.
  Result<std::vector<engine::Tensor>> Infer(const std::vector<engine::Tensor>& inputs);

  // The session's channel, for a client that moves frames itself (the data
  // plane: frames sealed to the first stage, results opened from the last).
  crypto::SecureChannel* channel() { return &channel_; }

 private:
  EnclaveClient(worker::EnclaveEndpoint* host, attestation::VerifiedQuote verified,
                crypto::SecureChannel channel, uint64_t session,
                const crypto::Ed25519PublicKey& identity)
      : host_(host),
        verified_(std::move(verified)),
        channel_(std::move(channel)),
        session_(session),
        identity_(identity) {}

  // Verifies the enclave's quote for a fresh nonce, has `check_owner`
  // approve the owner it binds, and opens a session.
  static Result<std::unique_ptr<EnclaveClient>> AttestAndOpen(
      worker::EnclaveEndpoint* host, const attestation::QuoteVerifier& verifier,
      const crypto::Ed25519KeyPair& identity,
      const std::function<Status(const crypto::Ed25519PublicKey&)>& check_owner);
  Result<crypto::Bytes> SendOwnerCommand(const attestation::OwnerCommand& command);

  static constexpr uint64_t kStreamId = 1;
  static constexpr uint32_t kToEnclaveHop = 0;
  static constexpr uint32_t kFromEnclaveHop = 1;
  static constexpr unsigned kMaxSealThreads = 4;

  worker::EnclaveEndpoint* host_;
  attestation::VerifiedQuote verified_;
  crypto::SecureChannel channel_;
  uint64_t session_;
  crypto::Ed25519PublicKey identity_;
  uint64_t next_frame_ = 0;
  crypto::Bytes frame_plaintext_;  // wiped after every frame
  crypto::Bytes frame_headers_;    // the input message's headers (no secrets)
  crypto::Bytes frame_message_;
  // Seals a frame's records (crypto::RecordRunner), made for the first
  // frame of more than one record; its workers sleep while the enclave runs.
  std::unique_ptr<engine::ThreadPool> seal_pool_;
};

}  // namespace serdab::cli

#endif  // SERDAB_CLI_ENCLAVE_CLIENT_H_
