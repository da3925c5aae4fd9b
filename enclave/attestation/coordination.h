// The messages of the coordinator enclave (enclave/runtime/coordinator.h),
// which holds each deployment's model sealed to itself, attests the worker
// enclaves, and provisions and wires their partitions, the way MarbleRun's
// Coordinator does for its Marbles.
//
//   DeploymentGrant     owner -> coordinator, inside the owner's attested
//                       session (stream 0, hop 0): the model and the policy
//                       its worker enclaves must meet. The untrusted host
//                       never sees either in the clear.
//   CoordinatorRequest  host -> coordinator: one step of a rollout (attest
//                       this worker enclave's evidence, seal its partition,
//                       wire the stages). The host chooses the steps; every
//                       byte it passes is checked, and what comes back is
//                       either public or sealed for an attested enclave.
//
// Replies are a list of byte strings (SerializeReplyParts), per kind:
//   kInit       [identity public key (32 bytes), sealed identity]
//   kAdmit      [sealed grant]            for the host to keep
//   kRestore    [deployment name]
//   kForget     []
//   kChallenge  [nonce]                   for a worker enclave's quote
//   kAttest     [session request]         for the worker enclave's OpenSession
//   kProvision  [owner command message]   for the worker enclave's Provision
//   kWire       [owner command message, ...]  one per target, in order
//   kAdopt      []
#ifndef SERDAB_ENCLAVE_ATTESTATION_COORDINATION_H_
#define SERDAB_ENCLAVE_ATTESTATION_COORDINATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "enclave/attestation/quote_verifier.h"
#include "enclave/common/status.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"

namespace serdab::attestation {

// Deployment and target names: 1..kMaxCoordinatorName bytes of
// [a-z0-9./-] (targets are "worker/enclave").
inline constexpr size_t kMaxCoordinatorName = 160;
inline constexpr size_t kMaxStages = 64;
inline constexpr size_t kMaxPolicyMeasurements = 1024;

struct DeploymentGrant {
  std::string deployment;
  // The deployment root the worker enclaves' platforms must chain to.
  crypto::Ed25519PublicKey root{};
  // Which worker enclaves may hold a partition.
  QuotePolicy workers;
  crypto::Bytes model;  // the ONNX model, weights included
};
crypto::Bytes SerializeDeploymentGrant(const DeploymentGrant& grant);
Result<DeploymentGrant> ParseDeploymentGrant(crypto::ByteView bytes);

struct CoordinatorRequest {
  enum class Kind : uint8_t {
    kInit = 1,       // blob: the sealed identity of an earlier run, or empty for a new one
    kAdmit = 2,      // deployment; blob: the owner's session message holding a grant
    kRestore = 3,    // blob: a sealed grant kAdmit returned
    kForget = 4,     // deployment
    kChallenge = 5,  // (no fields)
    kAttest = 6,     // deployment, target, nonce (from kChallenge), blob: the target's evidence
    kProvision = 7,  // deployment, target, begin, end, threads, version, seal,
                     // streamed_weight_bytes, shard_index, shard_count
    kWire = 8,       // deployment, version, targets: the stages, first to last (a
                     // replicated stage's replicas, or a sharded layer's shards in
                     // order, adjacent, with the same range)
    kAdopt = 9,      // deployment, target, begin, end, version, shard_index,
                     // shard_count: an attested target restored a partition sealed
                     // earlier; wiring checks the claim
  };
  Kind kind = Kind::kInit;
  std::string deployment;
  std::string target;
  crypto::Bytes blob;
  crypto::Bytes nonce;
  int32_t begin = 0;
  int32_t end = 0;
  int32_t threads = 1;
  uint64_t version = 0;
  bool seal = false;  // kProvision: the worker keeps the partition sealed to its enclave
  // kProvision: weight bytes the stage streams rather than holds in its EPC,
  // as the placement chose (attestation::OwnerCommand).
  uint64_t streamed_weight_bytes = 0;
  // kProvision: shard `shard_index` of `shard_count` of the one layer
  // [begin, begin + 1) (attestation::OwnerCommand); count 1: no shard.
  int32_t shard_index = 0;
  int32_t shard_count = 1;
  std::vector<std::string> targets;
};
crypto::Bytes SerializeCoordinatorRequest(const CoordinatorRequest& request);
Result<CoordinatorRequest> ParseCoordinatorRequest(crypto::ByteView bytes);

crypto::Bytes SerializeReplyParts(const std::vector<crypto::Bytes>& parts);
Result<std::vector<crypto::Bytes>> ParseReplyParts(crypto::ByteView bytes);

}  // namespace serdab::attestation

#endif  // SERDAB_ENCLAVE_ATTESTATION_COORDINATION_H_
