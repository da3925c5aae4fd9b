#include "enclave/runtime/sim_enclave.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>

#include <nlohmann/json.hpp>

#include "enclave/attestation/evidence.h"
#include "enclave/attestation/quote.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/attestation/sealing.h"
#include "enclave/engine/layer_timer.h"
#include "enclave/engine/onnx_importer.h"
#include "enclave/engine/partition_file.h"
#include "enclave/engine/tensor_codec.h"

namespace serdab::enclave {
namespace {

// Outstanding evidence keys and challenges are bounded so that a host cannot
// grow enclave memory by asking for quotes it never uses.
constexpr size_t kMaxPending = 64;
// Open sessions an enclave keeps: each camera stream holds two, each hop one
// per direction. Anyone with a certificate of the deployment's CA may open
// one through a worker's data plane, so the table is bounded; a full table
// refuses new sessions until some are closed.
constexpr size_t kMaxSessions = 1024;

// Provisioning travels on stream 0, hop 0 of the owner's session.
constexpr uint64_t kProvisionStream = 0;
constexpr uint32_t kProvisionHop = 0;

// The additional data bound into a sealed partition.
constexpr std::string_view kPartitionSealLabel = "serdab.partition.v2";

size_t EncodedSize(const engine::CutInfo& cut) {
  size_t n = 2 + 4;
  for (const engine::TensorInfo& info : cut.infos) n += 2 + 8 * info.shape.size() + info.bytes();
  return n;
}

// Rounded to 1/scale: the precision the host has always been sent.
double Rounded(double v, double scale) { return std::round(v * scale) / scale; }

// One line of JSON. Invalid UTF-8 (none is expected) is replaced rather than
// thrown on: this runs inside ECALLs.
std::string Dump(const nlohmann::ordered_json& json) {
  return json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

crypto::ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

Result<std::unique_ptr<SimEnclave>> SimEnclave::Create(const crypto::Sha256Digest& image_digest,
                                                       std::string_view config_text,
                                                       const std::string& platform_dir,
                                                       crypto::ByteView sigstruct) {
  std::unique_ptr<SimEnclave> e(new SimEnclave);
  SERDAB_ASSIGN_OR_RETURN(e->config_, EnclaveConfig::Parse(config_text));
  e->peer_root_ = e->config_.peer_root;

  const attestation::Measurement measured =
      attestation::Measure(image_digest, AsBytes(config_text));
  if (sigstruct.empty()) {
    e->identity_.mrenclave = measured;
    e->identity_.isv_svn = e->config_.isv_svn;
    e->identity_.attributes = attestation::kAttributeDebug;
  } else {
    SERDAB_ASSIGN_OR_RETURN(attestation::EnclaveSignature sig,
                            attestation::ParseEnclaveSignature(sigstruct));
    SERDAB_ASSIGN_OR_RETURN(e->identity_, attestation::VerifyEnclaveSignature(sig, measured));
    if (e->config_.debug) e->identity_.attributes |= attestation::kAttributeDebug;
  }
  e->identity_.attributes |= attestation::kAttributeSimulation;
  SERDAB_RETURN_IF_ERROR(crypto::RandomBytes(e->instance_));

  SERDAB_ASSIGN_OR_RETURN(attestation::PlatformKey platform,
                          attestation::PlatformKey::Load(platform_dir));
  e->platform_ = std::make_unique<attestation::PlatformKey>(std::move(platform));
  SERDAB_ASSIGN_OR_RETURN(e->certificate_,
                          attestation::LoadPlatformCertificate(platform_dir + "/platform.cert"));
  if (e->certificate_.platform_key != e->platform_->public_key()) {
    return Status::FailedPrecondition(platform_dir +
                                      ": platform.cert certifies another platform key");
  }
  if (e->certificate_.type != attestation::PlatformType::kSim) {
    return Status::FailedPrecondition(
        platform_dir +
        ": platform.cert certifies a hardware platform, and the sim backend "
        "runs only on platforms certified as sim");
  }

  epc::EpcConfig epc;
  epc.heap_bytes = e->config_.heap_bytes();
  epc.epc_bytes = e->config_.epc_bytes();
  SERDAB_ASSIGN_OR_RETURN(epc.profile, epc::CostProfile::Parse(e->config_.cost_profile));
  SERDAB_ASSIGN_OR_RETURN(e->heap_, epc::EpcHeap::Create(epc));
  if (e->config_.coordinator) {
    e->coordinator_ = std::make_unique<Coordinator>(e->identity_, e->platform_->sealing_secret());
  }
  return e;
}

SimEnclave::~SimEnclave() {
  // The partition's tensors live in the heap: release them before it goes.
  partition_.reset();
}

bool SimEnclave::OverlapsTrusted(const void* ptr, size_t bytes) const {
  return heap_->OverlapsTrusted(ptr, bytes);
}

void SimEnclave::RecordEcall() { heap_->RecordEcall(); }

Result<crypto::Bytes> SimEnclave::Challenge() {
  std::lock_guard<std::mutex> lock(mu_);
  if (challenges_.size() >= kMaxPending) challenges_.erase(challenges_.begin());
  SERDAB_ASSIGN_OR_RETURN(attestation::Nonce nonce, attestation::NewNonce());
  crypto::Bytes bytes(nonce.begin(), nonce.end());
  challenges_.emplace(bytes.begin(), bytes.end());
  return bytes;
}

Result<crypto::Bytes> SimEnclave::GetQuote(crypto::ByteView nonce) {
  std::lock_guard<std::mutex> lock(mu_);
  SERDAB_ASSIGN_OR_RETURN(crypto::X25519KeyPair key, crypto::X25519KeyPair::Generate());
  attestation::Evidence evidence;
  evidence.binding.ephemeral_key = key.public_key;
  evidence.binding.instance = instance_;
  if (owner_) evidence.binding.owner = *owner_;
  // A coordinator has no owner: its quote binds the identity it owns worker
  // enclaves as, so that a client that attests it learns which owner the
  // deployment's enclaves must have.
  if (coordinator_) evidence.binding.owner = coordinator_->identity();
  const attestation::ReportData report = attestation::MakeReportData(nonce, evidence.binding);
  SERDAB_ASSIGN_OR_RETURN(attestation::Quote quote,
                          attestation::SignQuote(*platform_, certificate_, identity_, report));
  evidence.quote = attestation::SerializeQuote(quote);
  if (pending_.size() >= kMaxPending) pending_.erase(pending_.begin());
  pending_[key.public_key] = PendingKey{std::move(key), evidence.quote};
  return attestation::SerializeEvidence(evidence);
}

bool SimEnclave::Routed(const attestation::Principal& principal) const {
  return std::any_of(routes_.begin(), routes_.end(), [&](const attestation::Route& r) {
    return r.from == principal || r.to == principal;
  });
}

Result<SimEnclave::Session> SimEnclave::OpenPeerSession(const attestation::SessionRequest& request,
                                                        const PendingKey& pending) {
  if (challenges_.erase(std::string(request.challenge.begin(), request.challenge.end())) == 0) {
    return Status::PermissionDenied(
        "peer evidence answers a challenge this enclave did not issue (or already used)");
  }
  if (!peer_root_) {
    return Status::FailedPrecondition(
        "mutual sessions need a peer root: peer_root in the enclave config, or from the owner's "
        "routes");
  }
  if (!owner_) {
    return Status::FailedPrecondition(
        "this enclave has no owner yet: its owner provisions it and names its peers first");
  }
  // Which measurements may be peers is the owner's decision, made when it
  // attested them and named their instances in this enclave's routes.
  attestation::QuotePolicy policy;
  policy.allow_any_enclave = true;
  policy.allow_simulation = true;
  policy.allow_debug = identity_.debug();
  SERDAB_ASSIGN_OR_RETURN(attestation::QuoteVerifier verifier,
                          attestation::QuoteVerifier::Create(*peer_root_, policy));
  SERDAB_ASSIGN_OR_RETURN(attestation::Evidence peer,
                          attestation::ParseEvidence(request.peer_evidence));
  SERDAB_RETURN_IF_ERROR(verifier.Verify(peer.quote, request.challenge, peer.binding)
                             .status()
                             .WithContext("peer enclave"));
  if (peer.binding.owner != *owner_) {
    return Status::PermissionDenied("the peer enclave has another owner than this enclave");
  }
  const attestation::Principal principal{attestation::Principal::Kind::kEnclave,
                                         peer.binding.instance};
  if (!Routed(principal)) {
    return Status::PermissionDenied("the owner has not routed this enclave to peer " +
                                    attestation::DescribePrincipal(principal));
  }
  const bool initiator = request.role == crypto::ChannelRole::kInitiator;
  const auto transcript = initiator ? attestation::ChannelTranscript(pending.quote, peer.quote)
                                    : attestation::ChannelTranscript(peer.quote, pending.quote);
  SERDAB_ASSIGN_OR_RETURN(
      crypto::SecureChannel channel,
      crypto::SecureChannel::Create(request.role, pending.key.secret_key,
                                    peer.binding.ephemeral_key, transcript, request.algorithm));
  return Session{std::move(channel), principal};
}

Result<uint64_t> SimEnclave::OpenSession(crypto::ByteView request_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  SERDAB_ASSIGN_OR_RETURN(attestation::SessionRequest request,
                          attestation::ParseSessionRequest(request_bytes));
  if (sessions_.size() >= kMaxSessions) {
    return Status::ResourceExhausted("the enclave holds " + std::to_string(kMaxSessions) +
                                     " open sessions: close some first");
  }
  auto pending = pending_.find(request.evidence_key);
  if (pending == pending_.end()) {
    return Status::FailedPrecondition(
        "session request names an evidence key this enclave did not issue (or already used)");
  }
  std::optional<Session> session;
  if (request.kind == attestation::SessionRequest::Kind::kClient) {
    const auto transcript = attestation::ChannelTranscript({}, pending->second.quote);
    const crypto::Bytes statement =
        attestation::ClientSessionStatement(transcript, request.evidence_key, request.client_key);
    if (!crypto::Ed25519Verify(request.client_identity, attestation::kClientSessionContext,
                               statement, request.client_signature)) {
      return Status::PermissionDenied(
          "the client's signature over the session does not verify for the identity it names");
    }
    SERDAB_ASSIGN_OR_RETURN(crypto::SecureChannel channel,
                            crypto::SecureChannel::Create(
                                crypto::ChannelRole::kResponder, pending->second.key.secret_key,
                                request.client_key, transcript, request.algorithm));
    session.emplace(Session{
        std::move(channel),
        attestation::Principal{attestation::Principal::Kind::kClient, request.client_identity}});
  } else {
    SERDAB_ASSIGN_OR_RETURN(Session peer, OpenPeerSession(request, pending->second));
    session.emplace(std::move(peer));
  }
  pending_.erase(pending);
  const uint64_t id = next_session_++;
  sessions_.emplace(id, std::move(*session));
  return id;
}

Status SimEnclave::CloseSession(uint64_t session) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sessions_.erase(session) == 0) {
    return Status::NotFound("no session " + std::to_string(session));
  }
  return Status::Ok();
}

Result<SimEnclave::Session*> SimEnclave::FindSession(uint64_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return Status::NotFound("no session " + std::to_string(session));
  return &it->second;
}

Result<SimEnclave::Partition> SimEnclave::BuildPartition(const attestation::OwnerCommand& command) {
  // The model is decoded once, transiently; only the partition's weights
  // move into the EPC, so the enclave holds just its stage. The owner may
  // send only those weights (engine/partition_file.h): the others are
  // synthesized for their shapes, and a kept layer that would read one is
  // refused below.
  const std::string_view model_bytes(reinterpret_cast<const char*>(command.model.data()),
                                     command.model.size());
  engine::ImportOptions import;
  import.synthesize_absent_weights = true;
  SERDAB_ASSIGN_OR_RETURN(
      engine::Graph graph,
      engine::ImportOnnxBytes(model_bytes, "provisioned model", nullptr, {}, import));
  engine::ModelOptions options;
  options.num_threads = command.threads;
  options.weight_allocator = heap_.get();
  options.activation_allocator = heap_.get();
  options.partition = true;
  options.keep_begin = command.begin;
  options.keep_end = command.end;
  Partition p;
  if (command.streamed_weight_bytes > 0) {
    SERDAB_ASSIGN_OR_RETURN(p.weight_store, epc::SealedWeightStore::Create());
    options.weight_store = p.weight_store.get();
    options.streamed_weight_bytes = command.streamed_weight_bytes;
  }
  if (command.shard_count > 1) {
    options.shard_layer = command.begin;
    options.shard = engine::LayerShard{command.shard_index, command.shard_count};
  }
  SERDAB_ASSIGN_OR_RETURN(p.model, engine::Model::FromGraph(std::move(graph), options));
  if (!command.synthetic_weights) SERDAB_RETURN_IF_ERROR(engine::CheckPartitionWeights(*p.model));
  for (const engine::TensorInfo& info : p.model->cuts()[p.model->kept_begin()].infos) {
    SERDAB_ASSIGN_OR_RETURN(engine::Tensor t,
                            engine::Tensor::Create(info.dtype, info.shape, heap_.get()));
    p.inputs.push_back(std::move(t));
  }
  p.begin = p.model->kept_begin();
  p.end = p.model->kept_end();
  p.version = command.partition_version;
  p.synthetic_weights = command.synthetic_weights;
  p.shard = engine::LayerShard{command.shard_index, command.shard_count};
  return p;
}

// Buffers that are freed need no explicit wipe: the image's operator delete
// wipes every block (runtime/wiping_allocator.cc). Reused ones are wiped.
Result<crypto::Bytes> SimEnclave::RunOwnerCommand(uint64_t session_id, crypto::ByteView message,
                                                  size_t seal_capacity, size_t* needed) {
  std::lock_guard<std::mutex> lock(mu_);
  *needed = 0;
  if (coordinator_) return Status::FailedPrecondition("a coordinator enclave runs no partition");
  SERDAB_ASSIGN_OR_RETURN(Session * session, FindSession(session_id));
  if (session->principal.kind != attestation::Principal::Kind::kClient) {
    return Status::PermissionDenied("a peer enclave's session cannot command this enclave");
  }
  if (owner_ && session->principal.key != *owner_) {
    return Status::PermissionDenied(
        "only this enclave's owner may provision it or change its routes, and the session's "
        "client is not the owner");
  }
  crypto::Bytes plaintext;
  SERDAB_ASSIGN_OR_RETURN(
      crypto::OpenedMessage opened,
      session->channel.OpenPending(kProvisionStream, kProvisionHop, message, &plaintext));
  SERDAB_ASSIGN_OR_RETURN(attestation::OwnerCommand command,
                          attestation::ParseOwnerCommand(plaintext));

  if (command.kind == attestation::OwnerCommand::Kind::kSetRoutes) {
    if (!partition_) return Status::FailedPrecondition("no partition has been provisioned");
    if (partition_->version != command.partition_version) {
      return Status::FailedPrecondition(
          "the enclave holds partition version " + std::to_string(partition_->version) +
          ", not the owner's version " + std::to_string(command.partition_version) +
          " (a rolled-back sealed partition?): provision it again");
    }
    const int expected_end = command.end < 0 ? partition_->model->num_layers() : command.end;
    if (command.check_range &&
        (partition_->begin != command.begin || partition_->end != expected_end)) {
      return Status::FailedPrecondition("the enclave holds layers [" +
                                        std::to_string(partition_->begin) + ", " +
                                        std::to_string(partition_->end) +
                                        "), not the range the owner routes: provision it "
                                        "again");
    }
    // Shards of one layer hold the same range: which shard it holds counts too.
    if (command.check_range && (partition_->shard.index != command.shard_index ||
                                partition_->shard.count != command.shard_count)) {
      return Status::FailedPrecondition("the enclave holds shard " +
                                        std::to_string(partition_->shard.index) + " of " +
                                        std::to_string(partition_->shard.count) +
                                        ", not the one the owner routes: provision "
                                        "it again");
    }
    if (command.peer_root && config_.peer_root && *command.peer_root != *config_.peer_root) {
      return Status::PermissionDenied(
          "the owner names another peer root than this enclave's configuration");
    }
    ReplaceRoutes(std::move(command.routes));
    if (!config_.peer_root && command.peer_root) peer_root_ = command.peer_root;
    session->channel.Accept(opened);
    return crypto::Bytes();
  }

  if (partition_ && command.partition_version < partition_->version) {
    return Status::FailedPrecondition("the owner's partition version " +
                                      std::to_string(command.partition_version) +
                                      " is older than the version " +
                                      std::to_string(partition_->version) + " this enclave holds");
  }
  crypto::Bytes sealed;
  if (command.seal != attestation::PartitionSeal::kNone) {
    crypto::Bytes payload = attestation::SerializeSealedPartition(session->principal.key, command);
    const auto policy = command.seal == attestation::PartitionSeal::kMrEnclave
                            ? attestation::SealPolicy::kMrEnclave
                            : attestation::SealPolicy::kMrSigner;
    SERDAB_ASSIGN_OR_RETURN(
        sealed, attestation::Seal(platform_->sealing_secret(), identity_, policy, payload,
                                  AsBytes(kPartitionSealLabel)));
    if (sealed.size() > seal_capacity) {
      *needed = sealed.size();
      return Status::OutOfRange("the sealed partition needs " + std::to_string(sealed.size()) +
                                " bytes, the buffer holds " + std::to_string(seal_capacity));
    }
  }
  SERDAB_ASSIGN_OR_RETURN(Partition partition, BuildPartition(command));
  partition_ = std::move(partition);
  owner_ = session->principal.key;
  ReplaceRoutes(std::move(command.routes));
  session->channel.Accept(opened);
  return sealed;
}

Status SimEnclave::UnsealPartition(crypto::ByteView blob) {
  std::lock_guard<std::mutex> lock(mu_);
  if (coordinator_) return Status::FailedPrecondition("a coordinator enclave runs no partition");
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes plaintext,
                          attestation::Unseal(platform_->sealing_secret(), identity_, blob,
                                              AsBytes(kPartitionSealLabel)));
  SERDAB_ASSIGN_OR_RETURN(attestation::SealedPartition sealed,
                          attestation::ParseSealedPartition(plaintext));
  if (owner_ && sealed.owner != *owner_) {
    return Status::PermissionDenied("the sealed partition belongs to another owner");
  }
  if (partition_ && sealed.command.partition_version < partition_->version) {
    return Status::FailedPrecondition(
        "the sealed partition is version " + std::to_string(sealed.command.partition_version) +
        ", older than the version " + std::to_string(partition_->version) +
        " this enclave holds (rolled back)");
  }
  SERDAB_ASSIGN_OR_RETURN(Partition partition, BuildPartition(sealed.command));
  partition_ = std::move(partition);
  owner_ = sealed.owner;
  // Routes name sessions of the enclave's previous life; the owner re-issues
  // them, and by naming the version it expects, confirms this is not a
  // rolled-back partition.
  ReplaceRoutes({});
  return Status::Ok();
}

void SimEnclave::ReplaceRoutes(std::vector<attestation::Route> routes) {
  routes_ = std::move(routes);
  // Parts came along the old routes, for the old partition: a frame is
  // never put together from parts of two placements.
  gathering_.clear();
  gathered_through_.clear();
  // A peer enclave the routes no longer name (it was placed elsewhere, or
  // its worker died and came back as another instance) can carry no frame
  // here, and a dead one never closes its sessions: they go.
  std::erase_if(sessions_, [&](const auto& entry) {
    const attestation::Principal& peer = entry.second.principal;
    return peer.kind == attestation::Principal::Kind::kEnclave && !Routed(peer);
  });
}

Status SimEnclave::Process(uint64_t in_session, uint32_t in_hop,
                           const std::vector<uint64_t>& out_sessions, uint32_t out_hop,
                           uint64_t stream_id, crypto::ByteView message,
                           const crypto::MessageFetch& fetch, uint8_t* out, size_t capacity,
                           size_t* out_size) {
  std::lock_guard<std::mutex> lock(mu_);
  *out_size = 0;
  if (!partition_) return Status::FailedPrecondition("no partition has been provisioned");
  if (stream_id == kProvisionStream) {
    return Status::InvalidArgument("stream 0 carries owner commands, not frames");
  }
  if (out_sessions.empty() || out_sessions.size() > static_cast<size_t>(attestation::kMaxShards)) {
    return Status::InvalidArgument("a frame goes to 1.." + std::to_string(attestation::kMaxShards) +
                                   " sessions");
  }
  SERDAB_ASSIGN_OR_RETURN(Session * in, FindSession(in_session));
  // Every destination must be routed from the frame's source, all with the
  // same part: the host picks the sessions, the owner what they may carry.
  std::vector<Session*> to;
  const attestation::Route* route = nullptr;
  for (uint64_t id : out_sessions) {
    SERDAB_ASSIGN_OR_RETURN(Session * session, FindSession(id));
    if (std::find(to.begin(), to.end(), session) != to.end()) {
      return Status::InvalidArgument("a frame goes to each session once");
    }
    auto r = std::find_if(routes_.begin(), routes_.end(), [&](const attestation::Route& r) {
      return r.from == in->principal && r.to == session->principal &&
             (r.stream_id == 0 || r.stream_id == stream_id);
    });
    if (r == routes_.end()) {
      return Status::PermissionDenied("the owner has not routed stream " +
                                      std::to_string(stream_id) + " from " +
                                      attestation::DescribePrincipal(in->principal) + " to " +
                                      attestation::DescribePrincipal(session->principal));
    }
    if (route != nullptr && (r->part != route->part || r->parts != route->parts)) {
      return Status::PermissionDenied("the destinations take different parts of the frame");
    }
    route = &*r;
    to.push_back(session);
  }
  const size_t sealed_size =
      crypto::SealedMessageBytes(EncodedSize(partition_->model->cuts()[partition_->end]));
  const size_t needed = sealed_size * to.size();
  if (capacity < needed) {
    *out_size = needed;
    return Status::OutOfRange("the result needs " + std::to_string(needed) + " bytes");
  }
  const size_t frame_size =
      crypto::SealedMessageBytes(EncodedSize(partition_->model->cuts()[partition_->begin]));
  uint64_t frame_seq = 0;
  if (route->parts == 1) {
    // The frame is opened from the boundary's copy straight into the
    // stage's input tensors (its headers into a small buffer, checked
    // after), and the result is sealed from the output tensors where they
    // lie: no other copy of either plaintext is made.
    if (message.size() != frame_size) {
      return Status::Corruption("the frame message holds " + std::to_string(message.size()) +
                                " bytes; this stage's input takes " + std::to_string(frame_size));
    }
    const std::vector<std::span<uint8_t>> parts =
        engine::TensorDestinationParts(&partition_->inputs, &frame_headers_);
    SERDAB_ASSIGN_OR_RETURN(crypto::OpenedMessage opened,
                            in->channel.OpenPendingParts(stream_id, in_hop, message, parts,
                                                         ThreadsForRecords(), fetch));
    if (Status s = engine::CheckOpenedHeaders(frame_headers_, partition_->inputs); !s.ok()) {
      for (const std::span<uint8_t>& part : parts) crypto::SecureWipe(part.data(), part.size());
      return s;
    }
    SERDAB_RETURN_IF_ERROR(RunAndSeal(stream_id, opened.frame_seq, to, out_hop, out, needed));
    in->channel.Accept(opened);
    *out_size = needed;
    return Status::Ok();
  }
  fetch(0, message.size());
  SERDAB_ASSIGN_OR_RETURN(const bool complete, GatherPart(*in, in_hop, *route, stream_id, message,
                                                          frame_size, &frame_seq));
  if (!complete) return Status::Ok();  // *out_size 0: the part is kept, no result yet
  SERDAB_RETURN_IF_ERROR(RunAndSeal(stream_id, frame_seq, to, out_hop, out, needed));
  *out_size = needed;
  return Status::Ok();
}

crypto::RecordRunner SimEnclave::ThreadsForRecords() const {
  return engine::ForEachOn(partition_->model->pool());
}

Status SimEnclave::RunAndSeal(uint64_t stream_id, uint64_t frame_seq,
                              const std::vector<Session*>& to, uint32_t out_hop, uint8_t* out,
                              size_t needed) {
  SERDAB_ASSIGN_OR_RETURN(
      std::vector<engine::Tensor> outputs,
      partition_->model->Run(partition_->begin, partition_->end, partition_->inputs));
  const std::vector<crypto::ByteView> result = engine::EncodedTensorParts(outputs, &frame_headers_);
  size_t plaintext_size = 0;
  for (const crypto::ByteView& part : result) plaintext_size += part.size();
  const size_t result_size = crypto::SealedMessageBytes(plaintext_size);
  if (result_size * to.size() != needed) {
    return Status::Internal("result size differs from its estimate");
  }
  // Sealed straight into the host's buffer, through a small buffer of the
  // enclave's own: the result's only copy out is of cache-hot ciphertext.
  // A fan-out (the shards of the next layer) gets one message per shard.
  for (size_t i = 0; i < to.size(); ++i) {
    SERDAB_RETURN_IF_ERROR(to[i]->channel.SealPartsOut(
        stream_id, frame_seq, out_hop, result, std::span(out + i * result_size, result_size),
        ThreadsForRecords()));
  }
  return Status::Ok();
}

Result<bool> SimEnclave::GatherPart(Session& in, uint32_t in_hop, const attestation::Route& route,
                                    uint64_t stream_id, crypto::ByteView message, size_t frame_size,
                                    uint64_t* frame_seq) {
  const std::vector<engine::TensorInfo>& infos = partition_->model->cuts()[partition_->begin].infos;
  if (infos.size() != 1) {
    return Status::FailedPrecondition("a stage whose input comes in parts takes one tensor");
  }
  // A part is at most the whole input, sealed.
  if (message.size() > frame_size) {
    return Status::Corruption("a part of " + std::to_string(message.size()) +
                              " bytes is larger than this stage's input");
  }
  crypto::Bytes plain;
  SERDAB_ASSIGN_OR_RETURN(crypto::OpenedMessage opened,
                          in.channel.OpenPending(stream_id, in_hop, message, &plain));
  auto decoded = engine::DecodeTensors(plain, heap_.get());
  crypto::SecureWipe(plain.data(), plain.size());
  if (!decoded.ok()) return decoded.status();
  if (decoded->size() != 1 || (*decoded)[0].dtype() != infos[0].dtype ||
      (*decoded)[0].shape().size() != infos[0].shape.size()) {
    return Status::InvalidArgument(
        "a part is not one tensor of this stage's input's type and rank");
  }
  // Parts of a frame that is complete (or was dropped) are refused.
  const uint64_t seq = opened.frame_seq;
  auto done = gathered_through_.find(stream_id);
  if (done != gathered_through_.end() && seq <= done->second) {
    return Status::FailedPrecondition("a part of frame " + std::to_string(seq) +
                                      ", which was completed or dropped");
  }
  const std::pair<uint64_t, uint64_t> key{stream_id, seq};
  auto it = gathering_.find(key);
  if (it == gathering_.end()) {
    if (gathering_.size() >= kGatherWindow) gathering_.erase(gathering_.begin());
    it = gathering_.emplace(key, Gather{}).first;
    it->second.parts.resize(route.parts);
  }
  std::vector<std::optional<engine::Tensor>>& parts = it->second.parts;
  if (parts.size() != route.parts) {
    return Status::InvalidArgument("frame " + std::to_string(seq) + " comes in " +
                                   std::to_string(parts.size()) + " parts, not " +
                                   std::to_string(route.parts));
  }
  if (parts[route.part]) {
    return Status::InvalidArgument("part " + std::to_string(route.part) + " of frame " +
                                   std::to_string(seq) + " came twice");
  }
  parts[route.part] = std::move((*decoded)[0]);
  in.channel.Accept(opened);
  for (const std::optional<engine::Tensor>& part : parts) {
    if (!part) return false;
  }
  // The frame is complete. Each shard sends its parts in frame order, so
  // the stream's earlier frames still open have lost a part: drop them.
  Gather gathered = std::move(it->second);
  gathering_.erase(gathering_.lower_bound({stream_id, 0}), std::next(it));
  gathered_through_[stream_id] = seq;
  if (gathered_through_.size() > kGatheredStreams) {
    gathered_through_.erase(gathered_through_.begin());
  }
  // Every part is here: side by side along the one axis where they are
  // smaller than the input, into the stage's input tensor.
  engine::Tensor& input = partition_->inputs[0];
  const engine::Shape& whole = input.shape();
  const engine::Shape& first = gathered.parts[0]->shape();
  size_t axis = 0;
  while (axis < whole.size() && first[axis] == whole[axis]) ++axis;
  if (axis == whole.size()) {
    return Status::InvalidArgument("a part is the whole input");
  }
  int64_t offset = 0;
  for (const std::optional<engine::Tensor>& part : gathered.parts) {
    for (size_t d = 0; d < whole.size(); ++d) {
      if (d != axis && part->shape()[d] != whole[d]) {
        return Status::InvalidArgument("the parts of frame " + std::to_string(seq) +
                                       " differ in more than one axis");
      }
    }
    offset += part->shape()[axis];
  }
  if (offset != whole[axis]) {
    return Status::InvalidArgument("the parts of frame " + std::to_string(seq) + " add up to " +
                                   std::to_string(offset) + " along axis " + std::to_string(axis) +
                                   ", not " + std::to_string(whole[axis]));
  }
  offset = 0;
  for (const std::optional<engine::Tensor>& part : gathered.parts) {
    engine::CopyIntoAxis(*part, static_cast<int>(axis), offset, &input);
    offset += part->shape()[axis];
  }
  *frame_seq = seq;
  return true;
}

Result<crypto::Bytes> SimEnclave::Coordinate(uint64_t session_id, crypto::ByteView request_bytes,
                                             size_t capacity, size_t* needed) {
  std::lock_guard<std::mutex> lock(mu_);
  *needed = 0;
  if (!coordinator_) {
    return Status::FailedPrecondition("this enclave is not a coordinator (role = coordinator)");
  }
  SERDAB_ASSIGN_OR_RETURN(attestation::CoordinatorRequest request,
                          attestation::ParseCoordinatorRequest(request_bytes));
  Coordinator::OwnerSession owner;
  if (session_id != 0) {
    SERDAB_ASSIGN_OR_RETURN(Session * session, FindSession(session_id));
    owner.principal = session->principal;
    owner.channel = &session->channel;
  }
  return coordinator_->Run(request, session_id != 0 ? &owner : nullptr, capacity, needed);
}

Result<std::string> SimEnclave::Profile(uint32_t repeats, bool measure_paging) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!partition_) return Status::FailedPrecondition("no partition has been provisioned");
  const int begin = partition_->begin, end = partition_->end;
  const epc::CostProfile& profile = heap_->config().profile;
  const double cycles_per_second = heap_->Stats().cycles_per_second;
  const double ns_per_cycle = cycles_per_second > 0 ? 1e9 / cycles_per_second : 0;
  nlohmann::ordered_json reply = {
      {"begin", begin},
      {"end", end},
      {"ecall_ns", Rounded(static_cast<double>(profile.ecall_cycles) * ns_per_cycle, 10)},
  };
  if (repeats > 0) {
    SERDAB_ASSIGN_OR_RETURN(const RangeTiming timing, TimeRange(std::min<uint32_t>(repeats, 1000)));
    nlohmann::ordered_json layer_ms = nlohmann::ordered_json::array();
    for (double ms : timing.layer_ms) layer_ms.push_back(Rounded(ms, 1e6));
    reply["layer_ms"] = std::move(layer_ms);
    reply["range_ms"] = Rounded(timing.range_ms, 1e6);
    reply["resident_bytes"] = timing.resident_bytes;
  }
  if (measure_paging) {
    SERDAB_ASSIGN_OR_RETURN(const double swap_ns, MeasurePageSwapNs(ns_per_cycle));
    reply["page_swap_ns"] = Rounded(swap_ns, 10);
  }
  return Dump(reply);
}

Result<SimEnclave::RangeTiming> SimEnclave::TimeRange(uint32_t repeats) {
  engine::Model* model = partition_->model.get();
  const int begin = partition_->begin, end = partition_->end;
  std::vector<engine::Tensor> current;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (const engine::TensorInfo& info : model->cuts()[begin].infos) {
    SERDAB_ASSIGN_OR_RETURN(engine::Tensor t,
                            engine::Tensor::Zeros(info.dtype, info.shape, heap_.get()));
    if (info.dtype == engine::DataType::kFloat32) {
      for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
    }
    current.push_back(std::move(t));
  }
  // The range end to end, as a stage runs it frame after frame: each layer
  // timed alone and repeated below finds its weights in cache, so the layers
  // add up to less than the range.
  RangeTiming timing;
  SERDAB_ASSIGN_OR_RETURN(
      timing.range_ms, engine::TimeRangeMs(model, begin, end, current, static_cast<int>(repeats)));
  // The EPC the range then held (weights, its activation arena, the kernels'
  // scratch, its input and output) is the stage's real footprint, which the
  // planner's estimate from weights and activations alone misses.
  timing.resident_bytes =
      static_cast<int64_t>(heap_->Stats().peak_resident_pages) * epc::kPageBytes;
  for (int k = begin; k < end; ++k) {
    std::vector<engine::Tensor> next;
    SERDAB_ASSIGN_OR_RETURN(
        const double ms, engine::TimeLayerMs(model, k, current, static_cast<int>(repeats), &next));
    timing.layer_ms.push_back(ms);
    current = std::move(next);
  }
  return timing;
}

Result<double> SimEnclave::MeasurePageSwapNs(double ns_per_cycle) {
  // Stream 2x the EPC through the heap twice, so the second pass evicts and
  // reloads every page.
  const epc::EpcStats before = heap_->Stats();
  const size_t bytes = 2 * config_.epc_bytes();
  void* region = heap_->Allocate(bytes);
  if (region == nullptr) return Status::ResourceExhausted("cannot map 2x the EPC to profile it");
  volatile uint8_t* p = static_cast<uint8_t*>(region);
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t off = 0; off < bytes; off += epc::kPageBytes)
      p[off] = static_cast<uint8_t>(off + pass);
  }
  heap_->Deallocate(region, bytes);
  const epc::EpcStats after = heap_->Stats();
  const double swaps = static_cast<double>(after.swaps - before.swaps);
  const double cycles =
      static_cast<double>((after.raw_swap_cycles - before.raw_swap_cycles) +
                          (after.swap_cycles_charged - before.swap_cycles_charged));
  return swaps > 0 ? cycles / swaps * ns_per_cycle : 0;
}

namespace {

// What the partition keeps sealed outside the EPC and opens every frame.
size_t StreamedWeightBytes(const engine::Model& model) {
  size_t total = 0;
  for (const engine::LayerInfo& layer : model.layers()) total += layer.streamed_weight_bytes;
  return total;
}

}  // namespace

std::string SimEnclave::StatsJson() {
  std::lock_guard<std::mutex> lock(mu_);
  const int begin = partition_ ? partition_->begin : 0;
  const int end = partition_ ? partition_->end : 0;
  // "protects_data_from_host": a sim enclave's host holds the platform key,
  // so it can forge quotes and unseal: say so wherever the enclave is shown.
  nlohmann::ordered_json json = {
      {"backend", "sim"},
      {"protects_data_from_host", false},
      {"mrenclave", crypto::HexEncode(identity_.mrenclave)},
      {"mrsigner", crypto::HexEncode(identity_.mrsigner)},
      {"isv_svn", identity_.isv_svn},
      {"debug", identity_.debug()},
      {"instance", crypto::HexEncode(instance_)},
      {"owner", owner_ ? crypto::HexEncode(*owner_) : std::string()},
      {"partition_version", partition_ ? partition_->version : 0},
      {"routes", routes_.size()},
      {"sessions", sessions_.size()},
      {"layers", {begin, end}},
      {"synthetic_weights", partition_ && partition_->synthetic_weights},
      {"streamed_weight_bytes", partition_ ? StreamedWeightBytes(*partition_->model) : 0},
      {"shard",
       {partition_ ? partition_->shard.index : 0, partition_ ? partition_->shard.count : 1}},
      {"role", coordinator_ ? "coordinator" : "worker"},
  };
  if (coordinator_) {
    json["coordinator_identity"] = crypto::HexEncode(coordinator_->identity());
    json["deployments"] = coordinator_->deployments();
  }
  // The heap's counters follow, in the same object.
  json.update(heap_->Stats().ToJsonObject());
  return Dump(json);
}

}  // namespace serdab::enclave
