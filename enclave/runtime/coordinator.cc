#include "enclave/runtime/coordinator.h"

#include <memory>

#include "enclave/attestation/quote.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/attestation/sealing.h"
#include "enclave/engine/partition_file.h"

namespace serdab::enclave {
namespace {

using attestation::CoordinatorRequest;

// The additional data bound into the coordinator's sealed blobs.
constexpr std::string_view kIdentitySealLabel = "serdab.coordinator.identity.v1";
constexpr std::string_view kGrantSealLabel = "serdab.coordinator.grant.v1";
constexpr size_t kMaxChallenges = 256;

// Owner commands travel on stream 0, hop 0 (enclave/runtime/sim_enclave.cc).
constexpr uint64_t kOwnerStream = 0;
constexpr uint32_t kOwnerHop = 0;

Status TooLarge(size_t needed, size_t capacity) {
  return Status::OutOfRange("the coordinator's reply needs " + std::to_string(needed) +
                            " bytes, the buffer holds " + std::to_string(capacity));
}

attestation::Principal EnclavePrincipal(const attestation::InstanceId& instance) {
  return {attestation::Principal::Kind::kEnclave, instance};
}

}  // namespace

crypto::Ed25519PublicKey Coordinator::identity() const {
  return identity_ ? identity_->public_key() : crypto::Ed25519PublicKey{};
}

Result<Coordinator::Deployment*> Coordinator::Find(const std::string& name) {
  auto it = deployments_.find(name);
  if (it == deployments_.end()) {
    return Status::NotFound("the coordinator holds no grant for this deployment");
  }
  return &it->second;
}

Result<crypto::Bytes> Coordinator::Run(const CoordinatorRequest& request, OwnerSession* owner,
                                       size_t capacity, size_t* needed) {
  *needed = 0;
  std::optional<PendingReply> pending = std::move(pending_);
  pending_.reset();
  // Hashed only when a reply was too large: a grant's request holds a model.
  std::optional<crypto::Sha256Digest> digest;
  auto request_digest = [&] {
    if (!digest) digest = crypto::Sha256(attestation::SerializeCoordinatorRequest(request));
    return *digest;
  };
  if (pending && owner == nullptr && pending->request == request_digest()) {
    if (pending->reply.size() > capacity) {
      *needed = pending->reply.size();
      pending_ = std::move(pending);
      return TooLarge(*needed, capacity);
    }
    if (pending->commit) pending->commit();
    return std::move(pending->reply);
  }
  if (request.kind != CoordinatorRequest::Kind::kInit && !identity_) {
    return Status::FailedPrecondition("the coordinator has no identity yet (kInit first)");
  }
  Result<Step> step = Status::Internal("unhandled coordinator request");
  switch (request.kind) {
    case CoordinatorRequest::Kind::kInit:
      step = Init(request);
      break;
    case CoordinatorRequest::Kind::kAdmit:
      step = Admit(request, owner);
      break;
    case CoordinatorRequest::Kind::kRestore:
      step = Restore(request);
      break;
    case CoordinatorRequest::Kind::kForget:
      step = Step{{}, [this, name = request.deployment] { deployments_.erase(name); }};
      break;
    case CoordinatorRequest::Kind::kChallenge: {
      SERDAB_ASSIGN_OR_RETURN(attestation::Nonce nonce, attestation::NewNonce());
      step = Step{{crypto::Bytes(nonce.begin(), nonce.end())}, [this, nonce] {
                    if (challenges_.size() >= kMaxChallenges)
                      challenges_.erase(challenges_.begin());
                    challenges_.insert(nonce);
                  }};
      break;
    }
    case CoordinatorRequest::Kind::kAttest:
      step = Attest(request);
      break;
    case CoordinatorRequest::Kind::kProvision:
      step = Provision(request);
      break;
    case CoordinatorRequest::Kind::kWire:
      step = Wire(request);
      break;
    case CoordinatorRequest::Kind::kAdopt:
      step = Adopt(request);
      break;
  }
  if (!step.ok()) return step.status();
  crypto::Bytes reply = attestation::SerializeReplyParts(step->reply);
  if (reply.size() > capacity) {
    *needed = reply.size();
    if (owner == nullptr) {
      pending_ = PendingReply{request_digest(), std::move(reply), std::move(step->commit)};
    }
    return TooLarge(*needed, capacity);
  }
  if (step->commit) step->commit();
  return reply;
}

Result<Coordinator::Step> Coordinator::Init(const CoordinatorRequest& request) {
  if (identity_) return Status::FailedPrecondition("the coordinator already has its identity");
  std::optional<crypto::Ed25519KeyPair> key;
  crypto::Bytes sealed = request.blob;
  if (request.blob.empty()) {
    SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair fresh, crypto::Ed25519KeyPair::Generate());
    SERDAB_ASSIGN_OR_RETURN(
        sealed, attestation::Seal(sealing_, self_, attestation::SealPolicy::kMrEnclave,
                                  fresh.seed().view(), crypto::AsBytes(kIdentitySealLabel)));
    key.emplace(std::move(fresh));
  } else {
    SERDAB_ASSIGN_OR_RETURN(
        crypto::Bytes seed_bytes,
        attestation::Unseal(sealing_, self_, request.blob, crypto::AsBytes(kIdentitySealLabel)));
    if (seed_bytes.size() != crypto::Ed25519Seed::size()) {
      crypto::SecureWipe(seed_bytes.data(), seed_bytes.size());
      return Status::Corruption("the sealed coordinator identity has the wrong size");
    }
    crypto::Ed25519Seed seed;
    std::copy(seed_bytes.begin(), seed_bytes.end(), seed.data());
    crypto::SecureWipe(seed_bytes.data(), seed_bytes.size());
    key.emplace(crypto::Ed25519KeyPair::FromSeed(seed));
  }
  const crypto::Ed25519PublicKey pub = key->public_key();
  // std::function needs copyable captures: the key travels in a shared_ptr.
  auto shared = std::make_shared<crypto::Ed25519KeyPair>(std::move(*key));
  return Step{{crypto::Bytes(pub.begin(), pub.end()), sealed},
              [this, shared] { identity_.emplace(std::move(*shared)); }};
}

Result<Coordinator::Step> Coordinator::Admit(const CoordinatorRequest& request,
                                             OwnerSession* owner) {
  if (owner == nullptr || owner->channel == nullptr ||
      owner->principal.kind != attestation::Principal::Kind::kClient) {
    return Status::PermissionDenied("a grant must come in a model owner's client session");
  }
  crypto::Bytes plaintext;
  SERDAB_ASSIGN_OR_RETURN(
      crypto::OpenedMessage opened,
      owner->channel->OpenPending(kOwnerStream, kOwnerHop, request.blob, &plaintext));
  auto grant = attestation::ParseDeploymentGrant(plaintext);
  crypto::SecureWipe(plaintext.data(), plaintext.size());
  if (!grant.ok()) return grant.status();
  if (grant->deployment != request.deployment) {
    return Status::InvalidArgument("the owner's grant is for another deployment");
  }
  // The policy must be one a verifier accepts (not an empty one).
  SERDAB_RETURN_IF_ERROR(attestation::QuoteVerifier::Create(grant->root, grant->workers)
                             .status()
                             .WithContext("the grant's worker policy"));
  auto existing = deployments_.find(grant->deployment);
  if (existing != deployments_.end() && existing->second.owner != owner->principal.key) {
    return Status::PermissionDenied(
        "this deployment belongs to another owner; only its owner may replace its model");
  }
  crypto::Writer payload;
  payload.Raw(owner->principal.key);
  payload.Raw(attestation::SerializeDeploymentGrant(*grant));
  crypto::Bytes clear = payload.Take();
  auto sealed = attestation::Seal(sealing_, self_, attestation::SealPolicy::kMrEnclave, clear,
                                  crypto::AsBytes(kGrantSealLabel));
  crypto::SecureWipe(clear.data(), clear.size());
  if (!sealed.ok()) return sealed.status();
  return Step{
      {std::move(*sealed)},
      [this, owner, opened, key = owner->principal.key, grant = std::move(*grant)]() mutable {
        owner->channel->Accept(opened);
        Deployment& d = deployments_[grant.deployment];
        d.owner = key;
        d.grant = std::move(grant);
        d.sources.reset();
        // A new model or policy: every stage is provisioned again.
        d.targets.clear();
      }};
}

Result<Coordinator::Step> Coordinator::Restore(const CoordinatorRequest& request) {
  SERDAB_ASSIGN_OR_RETURN(
      crypto::Bytes clear,
      attestation::Unseal(sealing_, self_, request.blob, crypto::AsBytes(kGrantSealLabel)));
  crypto::Reader r(clear, "sealed grant");
  auto owner = r.Array<32>("owner");
  auto grant = owner.ok() ? attestation::ParseDeploymentGrant(r.Rest())
                          : Result<attestation::DeploymentGrant>(owner.status());
  crypto::SecureWipe(clear.data(), clear.size());
  if (!grant.ok()) return grant.status();
  const std::string name = grant->deployment;
  return Step{{crypto::Bytes(name.begin(), name.end())},
              [this, owner = *owner, grant = std::move(*grant)]() mutable {
                Deployment& d = deployments_[grant.deployment];
                d.owner = owner;
                d.grant = std::move(grant);
                d.sources.reset();
                d.targets.clear();
              }};
}

Result<Coordinator::Step> Coordinator::Attest(const CoordinatorRequest& request) {
  SERDAB_ASSIGN_OR_RETURN(Deployment * d, Find(request.deployment));
  if (request.target.empty()) return Status::InvalidArgument("attest: no target named");
  attestation::Nonce nonce{};
  if (request.nonce.size() == nonce.size()) {
    std::copy(request.nonce.begin(), request.nonce.end(), nonce.begin());
  }
  if (request.nonce.size() != nonce.size() || challenges_.count(nonce) == 0) {
    return Status::PermissionDenied(
        "the evidence answers a nonce this coordinator did not issue (or already used)");
  }
  SERDAB_ASSIGN_OR_RETURN(attestation::QuoteVerifier verifier,
                          attestation::QuoteVerifier::Create(d->grant.root, d->grant.workers));
  SERDAB_ASSIGN_OR_RETURN(attestation::Evidence evidence, attestation::ParseEvidence(request.blob));
  SERDAB_ASSIGN_OR_RETURN(attestation::VerifiedQuote verified,
                          verifier.Verify(evidence.quote, request.nonce, evidence.binding));
  const crypto::Ed25519PublicKey self = identity_->public_key();
  if (verified.binding.owner != self && verified.binding.owner != crypto::Ed25519PublicKey{}) {
    return Status::PermissionDenied(
        "the enclave belongs to another owner (was it claimed by its host?)");
  }
  SERDAB_ASSIGN_OR_RETURN(attestation::ClientSession session,
                          attestation::OpenClientSession(evidence, *identity_));
  auto shared = std::make_shared<crypto::SecureChannel>(std::move(session.channel));
  return Step{
      {std::move(session.request)},
      [this, d, shared, nonce, target = request.target, instance = verified.binding.instance] {
        challenges_.erase(nonce);
        // A new session to the target: what it was provisioned with
        // before is its enclave's, and is provisioned again.
        Target fresh{std::move(*shared), instance, false, 0, 0, 0, {}};
        d->targets.insert_or_assign(target, std::move(fresh));
      }};
}

Result<crypto::Bytes> Coordinator::SealOwnerCommand(Target* target,
                                                    const attestation::OwnerCommand& command) {
  crypto::Bytes plaintext = attestation::SerializeOwnerCommand(command);
  crypto::Bytes message;
  Status sealed = target->channel.Seal(kOwnerStream, 0, kOwnerHop, plaintext, &message);
  crypto::SecureWipe(plaintext.data(), plaintext.size());
  SERDAB_RETURN_IF_ERROR(sealed);
  return message;
}

Result<Coordinator::Step> Coordinator::Provision(const CoordinatorRequest& request) {
  SERDAB_ASSIGN_OR_RETURN(Deployment * d, Find(request.deployment));
  auto it = d->targets.find(request.target);
  if (it == d->targets.end()) {
    return Status::FailedPrecondition("provision: the coordinator has not attested this target");
  }
  attestation::OwnerCommand command;
  command.kind = attestation::OwnerCommand::Kind::kProvision;
  command.partition_version = request.version;
  command.begin = request.begin;
  command.end = request.end;
  command.threads = request.threads;
  command.streamed_weight_bytes = request.streamed_weight_bytes;
  command.shard_index = request.shard_index;
  command.shard_count = request.shard_count;
  command.seal =
      request.seal ? attestation::PartitionSeal::kMrEnclave : attestation::PartitionSeal::kNone;
  if (command.threads < 1 || command.threads > attestation::kMaxPartitionThreads ||
      command.begin < 0 || command.end < -1 || (command.end >= 0 && command.end <= command.begin)) {
    return Status::InvalidArgument("provision: bad layer range or thread count");
  }
  if (command.shard_count > 1 && command.end != command.begin + 1 && command.end != -1) {
    return Status::InvalidArgument("provision: a shard's range is one layer");
  }
  // The stage gets the weights of its own layers only.
  const std::string_view model(reinterpret_cast<const char*>(d->grant.model.data()),
                               d->grant.model.size());
  if (!d->sources) {
    SERDAB_ASSIGN_OR_RETURN(engine::LayerWeightSources sources,
                            engine::LayerWeightSources::Of(model));
    d->sources = std::move(sources);
  }
  SERDAB_ASSIGN_OR_RETURN(
      std::string partition,
      engine::PartitionModelFile(model, *d->sources, request.begin, request.end));
  command.model.assign(partition.begin(), partition.end());
  crypto::SecureWipe(partition.data(), partition.size());
  auto message = SealOwnerCommand(&it->second, command);
  crypto::SecureWipe(command.model.data(), command.model.size());
  if (!message.ok()) return message.status();
  return Step{{std::move(*message)}, [t = &it->second, request] {
                t->provisioned = true;
                t->begin = request.begin;
                t->end = request.end;
                t->version = request.version;
                t->shard = engine::LayerShard{request.shard_index, request.shard_count};
              }};
}

Result<Coordinator::Step> Coordinator::Adopt(const CoordinatorRequest& request) {
  SERDAB_ASSIGN_OR_RETURN(Deployment * d, Find(request.deployment));
  auto it = d->targets.find(request.target);
  if (it == d->targets.end()) {
    return Status::FailedPrecondition("adopt: the coordinator has not attested this target");
  }
  if (request.begin < 0 || request.end < -1 || (request.end >= 0 && request.end <= request.begin)) {
    return Status::InvalidArgument("adopt: bad layer range");
  }
  // Taken on the host's word: the enclave refuses routes for any other
  // version or range than it holds.
  return Step{{}, [t = &it->second, request] {
                t->provisioned = true;
                t->begin = request.begin;
                t->end = request.end;
                t->version = request.version;
                t->shard = engine::LayerShard{request.shard_index, request.shard_count};
              }};
}

Result<Coordinator::Step> Coordinator::Wire(const CoordinatorRequest& request) {
  SERDAB_ASSIGN_OR_RETURN(Deployment * d, Find(request.deployment));
  const std::vector<std::string>& names = request.targets;
  if (names.empty()) return Status::InvalidArgument("wire: no stages");
  std::vector<Target*> stages;
  for (const std::string& name : names) {
    auto it = d->targets.find(name);
    if (it == d->targets.end() || !it->second.provisioned ||
        it->second.version != request.version) {
      return Status::FailedPrecondition("wire: a stage was not provisioned with this version");
    }
    if (std::find(stages.begin(), stages.end(), &it->second) != stages.end()) {
      return Status::InvalidArgument("wire: a stage is named twice");
    }
    stages.push_back(&it->second);
  }
  // Replicas of a stage are adjacent and hold the same layers; the groups
  // of replicas must cover the model once, in order: the first from layer
  // 0, each from where the previous ended, the last to the model's end.
  std::vector<std::vector<Target*>> groups;
  for (Target* stage : stages) {
    if (!groups.empty() && groups.back().front()->begin == stage->begin &&
        groups.back().front()->end == stage->end) {
      groups.back().push_back(stage);
    } else {
      groups.push_back({stage});
    }
  }
  // A sharded layer's group is its shards, in order, and nothing else.
  for (const std::vector<Target*>& group : groups) {
    for (size_t i = 0; i < group.size(); ++i) {
      const engine::LayerShard& shard = group[i]->shard;
      if ((shard.count > 1 || group.front()->shard.count > 1) &&
          (shard.count != static_cast<int>(group.size()) || shard.index != static_cast<int>(i))) {
        return Status::InvalidArgument(
            "wire: a sharded layer's stages must be its shards, each once, in order");
      }
    }
  }
  // The owner sends whole frames and takes whole results: its neighbours
  // are whole stages.
  if (groups.front().front()->shard.count > 1 || groups.back().front()->shard.count > 1) {
    return Status::InvalidArgument("wire: a sharded layer is neither the first stage nor the last");
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    const int32_t want_begin = g == 0 ? 0 : groups[g - 1].front()->end;
    const bool last = g + 1 == groups.size();
    if (groups[g].front()->begin != want_begin || (last != (groups[g].front()->end == -1))) {
      return Status::InvalidArgument(
          "wire: the stages' layer ranges do not cover the model in order");
    }
  }
  // Every replica of a stage is routed from every replica of the stage
  // before it and to every replica of the one after: which replica a frame
  // takes is the host's choice, as is whether it moves at all.
  const attestation::Principal owner{attestation::Principal::Kind::kClient, d->owner};
  auto principals = [&](size_t g) {
    std::vector<attestation::Principal> out;
    if (g >= groups.size()) {
      out.push_back(owner);
    } else {
      for (const Target* t : groups[g]) out.push_back(EnclavePrincipal(t->instance));
    }
    return out;
  };
  std::vector<crypto::Bytes> messages;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<attestation::Principal> from =
        g == 0 ? std::vector<attestation::Principal>{owner} : principals(g - 1);
    const std::vector<attestation::Principal> to = principals(g + 1);
    // After a sharded layer, each shard's output is its part of the frame.
    const int parts = g == 0 ? 1 : groups[g - 1].front()->shard.count;
    for (Target* stage : groups[g]) {
      attestation::OwnerCommand command;
      command.kind = attestation::OwnerCommand::Kind::kSetRoutes;
      command.partition_version = request.version;
      command.check_range = true;
      command.begin = stage->begin;
      command.end = stage->end;
      command.shard_index = stage->shard.index;
      command.shard_count = stage->shard.count;
      for (size_t i = 0; i < from.size(); ++i) {
        for (const attestation::Principal& t : to) {
          command.routes.push_back(attestation::Route{from[i], t, 0,
                                                      parts > 1 ? static_cast<uint32_t>(i) : 0u,
                                                      static_cast<uint32_t>(parts)});
        }
      }
      // Adjacent stages open mutual sessions; the peers chain to the root
      // the coordinator attested them against.
      command.peer_root = d->grant.root;
      SERDAB_ASSIGN_OR_RETURN(crypto::Bytes message, SealOwnerCommand(stage, command));
      messages.push_back(std::move(message));
    }
  }
  return Step{std::move(messages), nullptr};
}

}  // namespace serdab::enclave
