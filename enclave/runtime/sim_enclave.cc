#include "enclave/runtime/sim_enclave.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "enclave/attestation/evidence.h"
#include "enclave/attestation/quote.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/attestation/sealing.h"
#include "enclave/engine/layer_timer.h"
#include "enclave/engine/onnx_importer.h"
#include "enclave/engine/tensor_codec.h"

namespace serdab::enclave {
namespace {

// Outstanding evidence keys and challenges are bounded so that a host cannot
// grow enclave memory by asking for quotes it never uses.
constexpr size_t kMaxPending = 64;

// Provisioning travels on stream 0, hop 0 of the owner's session.
constexpr uint64_t kProvisionStream = 0;
constexpr uint32_t kProvisionHop = 0;

// The additional data bound into a sealed partition.
constexpr std::string_view kPartitionSealLabel = "serdab.partition.v1";

size_t EncodedSize(const engine::CutInfo& cut) {
  size_t n = 2 + 4;
  for (const engine::TensorInfo& info : cut.infos) n += 2 + 8 * info.shape.size() + info.bytes();
  return n;
}

crypto::ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

Result<std::unique_ptr<SimEnclave>> SimEnclave::Create(crypto::ByteView code,
                                                       std::string_view config_text,
                                                       const std::string& platform_dir,
                                                       crypto::ByteView sigstruct) {
  std::unique_ptr<SimEnclave> e(new SimEnclave);
  SERDAB_ASSIGN_OR_RETURN(e->config_, EnclaveConfig::Parse(config_text));

  const attestation::Measurement measured = attestation::Measure(code, AsBytes(config_text));
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

  SERDAB_ASSIGN_OR_RETURN(attestation::PlatformKey platform,
                          attestation::PlatformKey::Load(platform_dir));
  e->platform_ = std::make_unique<attestation::PlatformKey>(std::move(platform));
  SERDAB_ASSIGN_OR_RETURN(e->certificate_,
                          attestation::LoadPlatformCertificate(platform_dir + "/platform.cert"));
  if (e->certificate_.platform_key != e->platform_->public_key()) {
    return Status::FailedPrecondition(platform_dir +
                                      ": platform.cert certifies another platform key");
  }

  epc::EpcConfig epc;
  epc.heap_bytes = e->config_.heap_bytes();
  epc.epc_bytes = e->config_.epc_bytes();
  SERDAB_ASSIGN_OR_RETURN(epc.profile, epc::CostProfile::Parse(e->config_.cost_profile));
  SERDAB_ASSIGN_OR_RETURN(e->heap_, epc::EpcHeap::Create(epc));
  return e;
}

SimEnclave::~SimEnclave() {
  // The model's tensors live in the heap: release them before it goes.
  inputs_.clear();
  model_.reset();
}

void SimEnclave::RecordEcall() { heap_->RecordEcall(); }

Result<crypto::Bytes> SimEnclave::Challenge() {
  std::lock_guard<std::mutex> lock(mu_);
  if (challenges_.size() >= kMaxPending) challenges_.erase(challenges_.begin());
  SERDAB_ASSIGN_OR_RETURN(attestation::Nonce nonce, attestation::NewNonce());
  crypto::Bytes bytes(nonce.begin(), nonce.end());
  challenges_[bytes] = true;
  return bytes;
}

Result<crypto::Bytes> SimEnclave::GetQuote(crypto::ByteView nonce) {
  std::lock_guard<std::mutex> lock(mu_);
  SERDAB_ASSIGN_OR_RETURN(crypto::X25519KeyPair key, crypto::X25519KeyPair::Generate());
  const attestation::ReportData report = attestation::MakeReportData(nonce, key.public_key);
  SERDAB_ASSIGN_OR_RETURN(attestation::Quote quote,
                          attestation::SignQuote(*platform_, certificate_, identity_, report));
  attestation::Evidence evidence;
  evidence.quote = attestation::SerializeQuote(quote);
  evidence.ephemeral_key = key.public_key;
  if (pending_.size() >= kMaxPending) pending_.erase(pending_.begin());
  pending_[key.public_key] = PendingKey{std::move(key), evidence.quote};
  return attestation::SerializeEvidence(evidence);
}

Result<uint64_t> SimEnclave::OpenSession(crypto::ByteView request_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  SERDAB_ASSIGN_OR_RETURN(attestation::SessionRequest request,
                          attestation::ParseSessionRequest(request_bytes));
  auto pending = pending_.find(request.evidence_key);
  if (pending == pending_.end()) {
    return Status::FailedPrecondition(
        "session request names an evidence key this enclave did not issue (or already used)");
  }
  Result<crypto::SecureChannel> channel = Status::Internal("unset");
  if (request.kind == attestation::SessionRequest::Kind::kClient) {
    const auto transcript = attestation::ChannelTranscript({}, pending->second.quote);
    channel = crypto::SecureChannel::Create(crypto::ChannelRole::kResponder,
                                            pending->second.key.secret_key, request.client_key,
                                            transcript, request.algorithm);
  } else {
    if (challenges_.erase(request.challenge) == 0) {
      return Status::PermissionDenied(
          "peer evidence answers a challenge this enclave did not issue (or already used)");
    }
    if (!config_.peer_root) {
      return Status::FailedPrecondition(
          "mutual sessions need peer_root in the enclave config (the deployment root key)");
    }
    attestation::QuotePolicy policy;
    policy.allowed_mrenclaves = {identity_.mrenclave};
    policy.min_svn = identity_.isv_svn;
    policy.allow_simulation = true;
    policy.allow_debug = identity_.debug();
    SERDAB_ASSIGN_OR_RETURN(attestation::QuoteVerifier verifier,
                            attestation::QuoteVerifier::Create(*config_.peer_root, policy));
    SERDAB_ASSIGN_OR_RETURN(attestation::Evidence peer,
                            attestation::ParseEvidence(request.peer_evidence));
    SERDAB_RETURN_IF_ERROR(verifier.Verify(peer.quote, request.challenge, peer.ephemeral_key)
                               .status()
                               .WithContext("peer enclave"));
    const bool initiator = request.role == crypto::ChannelRole::kInitiator;
    const auto transcript = initiator
                                ? attestation::ChannelTranscript(pending->second.quote, peer.quote)
                                : attestation::ChannelTranscript(peer.quote, pending->second.quote);
    channel = crypto::SecureChannel::Create(request.role, pending->second.key.secret_key,
                                            peer.ephemeral_key, transcript, request.algorithm);
  }
  if (!channel.ok()) return channel.status();
  pending_.erase(pending);
  const uint64_t id = next_session_++;
  sessions_[id] = std::make_unique<crypto::SecureChannel>(std::move(channel).value());
  return id;
}

Status SimEnclave::CloseSession(uint64_t session) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sessions_.erase(session) == 0) {
    return Status::NotFound("no session " + std::to_string(session));
  }
  return Status::Ok();
}

Result<crypto::SecureChannel*> SimEnclave::FindSession(uint64_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return Status::NotFound("no session " + std::to_string(session));
  return it->second.get();
}

Status SimEnclave::LoadPartition(crypto::ByteView plaintext) {
  SERDAB_ASSIGN_OR_RETURN(attestation::ProvisionRequest request,
                          attestation::ParseProvisionRequest(plaintext));
  model_.reset();
  // The whole model is decoded once, transiently; only the partition's
  // weights move into the EPC, so the enclave holds just its stage.
  const std::string_view model_bytes(reinterpret_cast<const char*>(request.model.data()),
                                     request.model.size());
  SERDAB_ASSIGN_OR_RETURN(engine::Graph graph,
                          engine::ImportOnnxBytes(model_bytes, "provisioned model"));
  std::vector<uint8_t>().swap(request.model);
  engine::ModelOptions options;
  options.num_threads = std::max(1, request.threads);
  options.weight_allocator = heap_.get();
  options.activation_allocator = heap_.get();
  options.partition = true;
  options.keep_begin = request.begin;
  options.keep_end = request.end;
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<engine::Model> model,
                          engine::Model::FromGraph(std::move(graph), options));
  inputs_.clear();
  for (const engine::TensorInfo& info : model->cuts()[model->kept_begin()].infos) {
    SERDAB_ASSIGN_OR_RETURN(engine::Tensor t,
                            engine::Tensor::Create(info.dtype, info.shape, heap_.get()));
    inputs_.push_back(std::move(t));
  }
  model_ = std::move(model);
  begin_ = model_->kept_begin();
  end_ = model_->kept_end();
  return Status::Ok();
}

Result<crypto::Bytes> SimEnclave::Provision(uint64_t session, crypto::ByteView message,
                                            int32_t seal_policy, size_t seal_capacity) {
  std::lock_guard<std::mutex> lock(mu_);
  if (seal_policy < -1 || seal_policy > 1) {
    return Status::InvalidArgument("seal_policy must be -1 (none), 0 (measurement) or 1 (signer)");
  }
  SERDAB_ASSIGN_OR_RETURN(crypto::SecureChannel * channel, FindSession(session));
  crypto::Bytes plaintext;
  SERDAB_RETURN_IF_ERROR(
      channel->Open(kProvisionStream, kProvisionHop, message, &plaintext).status());
  crypto::Bytes sealed;
  if (seal_policy >= 0) {
    const auto policy =
        seal_policy == 0 ? attestation::SealPolicy::kMrEnclave : attestation::SealPolicy::kMrSigner;
    SERDAB_ASSIGN_OR_RETURN(
        sealed, attestation::Seal(platform_->sealing_secret(), identity_, policy, plaintext,
                                  AsBytes(kPartitionSealLabel)));
    if (sealed.size() > seal_capacity) {
      return Status::OutOfRange("the sealed partition needs " + std::to_string(sealed.size()) +
                                " bytes, the buffer holds " + std::to_string(seal_capacity));
    }
  }
  SERDAB_RETURN_IF_ERROR(LoadPartition(plaintext));
  return sealed;
}

Status SimEnclave::UnsealPartition(crypto::ByteView blob) {
  std::lock_guard<std::mutex> lock(mu_);
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes plaintext,
                          attestation::Unseal(platform_->sealing_secret(), identity_, blob,
                                              AsBytes(kPartitionSealLabel)));
  return LoadPartition(plaintext);
}

Status SimEnclave::Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session,
                           uint32_t out_hop, uint64_t stream_id, crypto::ByteView message,
                           uint8_t* out, size_t capacity, size_t* out_size) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!model_) return Status::FailedPrecondition("no partition has been provisioned");
  SERDAB_ASSIGN_OR_RETURN(crypto::SecureChannel * in, FindSession(in_session));
  SERDAB_ASSIGN_OR_RETURN(crypto::SecureChannel * to, FindSession(out_session));
  const size_t needed = EncodedSize(model_->cuts()[end_]) + crypto::kChannelOverheadBytes;
  *out_size = needed;
  if (capacity < needed) {
    return Status::OutOfRange("the result needs " + std::to_string(needed) + " bytes");
  }
  crypto::Bytes plaintext;
  SERDAB_ASSIGN_OR_RETURN(crypto::OpenedMessage opened,
                          in->Open(stream_id, in_hop, message, &plaintext));
  SERDAB_RETURN_IF_ERROR(engine::DecodeTensorsInto(plaintext, &inputs_));
  SERDAB_ASSIGN_OR_RETURN(std::vector<engine::Tensor> outputs, model_->Run(begin_, end_, inputs_));
  plaintext.clear();
  engine::EncodeTensors(outputs, &plaintext);
  crypto::Bytes sealed;
  SERDAB_RETURN_IF_ERROR(to->Seal(stream_id, opened.frame_seq, out_hop, plaintext, &sealed));
  if (sealed.size() != needed) return Status::Internal("result size differs from its estimate");
  std::copy(sealed.begin(), sealed.end(), out);
  return Status::Ok();
}

Result<std::string> SimEnclave::Profile(uint32_t repeats) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!model_) return Status::FailedPrecondition("no partition has been provisioned");
  repeats = std::clamp<uint32_t>(repeats, 1, 1000);
  std::vector<engine::Tensor> current;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (const engine::TensorInfo& info : model_->cuts()[begin_].infos) {
    SERDAB_ASSIGN_OR_RETURN(engine::Tensor t,
                            engine::Tensor::Zeros(info.dtype, info.shape, heap_.get()));
    if (info.dtype == engine::DataType::kFloat32) {
      for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
    }
    current.push_back(std::move(t));
  }
  std::string json = "{\"begin\":" + std::to_string(begin_) + ",\"end\":" + std::to_string(end_) +
                     ",\"layer_ms\":[";
  for (int k = begin_; k < end_; ++k) {
    std::vector<engine::Tensor> next;
    SERDAB_ASSIGN_OR_RETURN(
        const double layer_ms,
        engine::TimeLayerMs(model_.get(), k, current, static_cast<int>(repeats), &next));
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.6f", k > begin_ ? "," : "", layer_ms);
    json += buf;
    current = std::move(next);
  }
  current.clear();

  // Page swap cost: stream 2x the EPC through the heap twice, so the second
  // pass evicts and reloads every page.
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
  const double ns_per_cycle = after.cycles_per_second > 0 ? 1e9 / after.cycles_per_second : 0;
  const double swap_ns = swaps > 0 ? cycles / swaps * ns_per_cycle : 0;
  const epc::CostProfile& profile = heap_->config().profile;
  char tail[160];
  std::snprintf(tail, sizeof(tail), "],\"page_swap_ns\":%.1f,\"ecall_ns\":%.1f}", swap_ns,
                static_cast<double>(profile.ecall_cycles) * ns_per_cycle);
  return json + tail;
}

std::string SimEnclave::StatsJson() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string json = heap_->Stats().ToJson();
  std::string head = "{\"mrenclave\":\"" + crypto::HexEncode(identity_.mrenclave) +
                     "\",\"mrsigner\":\"" + crypto::HexEncode(identity_.mrsigner) +
                     "\",\"isv_svn\":" + std::to_string(identity_.isv_svn) +
                     ",\"debug\":" + (identity_.debug() ? "true" : "false") + ",\"layers\":[" +
                     std::to_string(begin_) + "," + std::to_string(end_) + "],";
  // Splice the heap's counters into one object.
  return head + json.substr(json.find('{') + 1);
}

}  // namespace serdab::enclave
