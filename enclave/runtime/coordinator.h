// Coordinator: the trusted half of the orchestrator, run by an enclave whose
// configuration says `role = coordinator` (its own measurement). It plays
// the part MarbleRun's Coordinator plays for its Marbles:
//
//   * A model owner attests it and hands it a DeploymentGrant (the model and
//     the policy worker enclaves must meet) in an attested session. The
//     coordinator seals the grant to itself, for the untrusted host to keep
//     and give back after a restart: the host never holds a weight.
//   * It has a long-term Ed25519 identity, sealed the same way, and becomes
//     the owner of every worker enclave it provisions: an enclave someone
//     else claimed first gets nothing.
//   * Step by step, as the host's reconciler asks, it verifies each worker
//     enclave's quote against the owner's policy (its own nonce, the owner's
//     root), opens a session to it, seals the enclave's layer range of the
//     model into that session, and finally routes the stages to each other:
//     the owner's frames enter the first stage, each stage sends only to the
//     next, and the last returns results to the owner. Each stage's routes
//     name the version and layer range it must hold.
//   * A worker that restarts restores its partition, sealed to its enclave,
//     into a new enclave instance. The coordinator attests that instance and
//     adopts it at the range and version the host says it holds; wiring it
//     fails unless the enclave holds exactly those, so the model is not sent
//     again.
//
// The host decides which step runs when, and may lie about everything it
// passes; what it gets back is public (nonces, session requests) or sealed
// for an enclave the coordinator attested. It can refuse to serve, never
// learn a weight or misroute a frame to an enclave outside the deployment.
//
// Not thread-safe: SimEnclave serialises calls under its lock.
#ifndef SERDAB_ENCLAVE_RUNTIME_COORDINATOR_H_
#define SERDAB_ENCLAVE_RUNTIME_COORDINATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "enclave/attestation/coordination.h"
#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote.h"
#include "enclave/crypto/keys.h"
#include "enclave/crypto/secure_channel.h"
#include "enclave/engine/output_slice.h"
#include "enclave/engine/partition_file.h"

namespace serdab::enclave {

class Coordinator {
 public:
  // `self` and `sealing` belong to the hosting enclave; they seal the
  // coordinator's identity and grants to its MRENCLAVE.
  Coordinator(const attestation::EnclaveIdentity& self, const attestation::SealingSecret& sealing)
      : self_(self), sealing_(sealing) {}

  // The client session a kAdmit arrives on.
  struct OwnerSession {
    attestation::Principal principal;
    crypto::SecureChannel* channel = nullptr;
  };

  // Runs one request and returns its reply (SerializeReplyParts). A reply
  // larger than `capacity` is OutOfRange with *needed set, and then nothing
  // changed: the host can repeat the request with a larger buffer. That
  // reply is kept for the repeat, if it is the next request, so that a
  // stage's partition is built and sealed once, not once per buffer size.
  Result<crypto::Bytes> Run(const attestation::CoordinatorRequest& request, OwnerSession* owner,
                            size_t capacity, size_t* needed);

  // The identity's public half, for stats (all zero before kInit).
  crypto::Ed25519PublicKey identity() const;
  size_t deployments() const { return deployments_.size(); }

 private:
  struct Target {
    crypto::SecureChannel channel;
    attestation::InstanceId instance{};
    // Set by kProvision.
    bool provisioned = false;
    int32_t begin = 0;
    int32_t end = 0;
    uint64_t version = 0;
    engine::LayerShard shard;  // of the one layer [begin, end); count 1: the range
  };
  struct Deployment {
    crypto::Ed25519PublicKey owner{};
    attestation::DeploymentGrant grant;
    std::map<std::string, Target> targets;
    // The grant's model's weights by layer, found at its first provisioning.
    std::optional<engine::LayerWeightSources> sources;
  };
  // What a step returns, and what it changes only once its reply fits.
  struct Step {
    std::vector<crypto::Bytes> reply;
    std::function<void()> commit;
  };
  // A reply that did not fit the host's buffer, for the request it answers
  // (by digest). Any other request drops it, since it may change the state
  // the reply was built from. Owner requests are never kept: they open a
  // message in the owner's session, which a repeat must not skip.
  struct PendingReply {
    crypto::Sha256Digest request{};
    crypto::Bytes reply;
    std::function<void()> commit;
  };

  Result<Step> Init(const attestation::CoordinatorRequest& request);
  Result<Step> Admit(const attestation::CoordinatorRequest& request, OwnerSession* owner);
  Result<Step> Restore(const attestation::CoordinatorRequest& request);
  Result<Step> Attest(const attestation::CoordinatorRequest& request);
  Result<Step> Provision(const attestation::CoordinatorRequest& request);
  Result<Step> Wire(const attestation::CoordinatorRequest& request);
  Result<Step> Adopt(const attestation::CoordinatorRequest& request);
  Result<Deployment*> Find(const std::string& name);
  Result<crypto::Bytes> SealOwnerCommand(Target* target, const attestation::OwnerCommand& command);

  const attestation::EnclaveIdentity self_;
  const attestation::SealingSecret& sealing_;
  std::optional<crypto::Ed25519KeyPair> identity_;
  std::map<std::string, Deployment> deployments_;
  std::set<attestation::Nonce> challenges_;  // nonces issued, not yet answered
  std::optional<PendingReply> pending_;
};

}  // namespace serdab::enclave

#endif  // SERDAB_ENCLAVE_RUNTIME_COORDINATOR_H_
