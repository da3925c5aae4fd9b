#include "orchestrator/coordinator_host.h"

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/local_enclave.h"
#include "enclave/attestation/evidence.h"
#include "worker/state_files.h"

namespace serdab::orchestrator {
namespace {

namespace fs = std::filesystem;
using attestation::CoordinatorRequest;

constexpr char kIdentityFile[] = "identity.sealed";
constexpr char kGrantSuffix[] = ".sealed";

}  // namespace

Result<std::unique_ptr<CoordinatorHost>> CoordinatorHost::Start(
    const std::string& platform_dir, const std::string& state_dir,
    std::vector<std::string>* warnings) {
  const fs::path dir = fs::path(state_dir) / "coordinator";
  std::error_code ec;
  fs::create_directories(dir / "grants", ec);
  if (ec) return Status::IoError(dir.string() + ": cannot create: " + ec.message());
  SERDAB_ASSIGN_OR_RETURN(
      std::unique_ptr<worker::EnclaveHost> enclave,
      worker::EnclaveHost::Create(cli::CoordinatorEnclaveConfig(), platform_dir));
  std::unique_ptr<CoordinatorHost> host(new CoordinatorHost(std::move(enclave), dir.string()));

  CoordinatorRequest init;
  init.kind = CoordinatorRequest::Kind::kInit;
  const fs::path identity_path = dir / kIdentityFile;
  const bool restoring = fs::exists(identity_path);
  if (restoring) {
    SERDAB_ASSIGN_OR_RETURN(init.blob, worker::ReadFileBytes(identity_path));
  }
  auto reply = host->Run(init);
  if (!reply.ok()) {
    return reply.status().WithContext(
        restoring ? identity_path.string() +
                        ": the coordinator's sealed identity does not unseal (another build, "
                        "platform or a modified file)"
                  : "coordinator identity");
  }
  if (reply->size() != 2) return Status::Corruption("coordinator: malformed init reply");
  host->identity_ = crypto::HexEncode((*reply)[0]);
  if (!restoring) {
    SERDAB_RETURN_IF_ERROR(worker::WriteFileAtomically(identity_path, (*reply)[1]));
  }

  SERDAB_ASSIGN_OR_RETURN(const std::string stats, host->enclave_->StatsJson());
  const nlohmann::json json = nlohmann::json::parse(stats, nullptr, false);
  if (json.is_object() && json.contains("mrenclave") && json["mrenclave"].is_string()) {
    host->mrenclave_ = json["mrenclave"].get<std::string>();
  }

  for (const fs::directory_entry& entry : fs::directory_iterator(dir / "grants", ec)) {
    if (entry.path().extension() != kGrantSuffix) continue;
    CoordinatorRequest restore;
    restore.kind = CoordinatorRequest::Kind::kRestore;
    auto blob = worker::ReadFileBytes(entry.path());
    Status s = blob.status();
    if (s.ok()) {
      restore.blob = std::move(*blob);
      s = host->Run(restore).status();
    }
    if (!s.ok()) warnings->push_back(entry.path().string() + ": " + s.message());
  }
  return host;
}

Result<std::vector<worker::Bytes>> CoordinatorHost::Run(const CoordinatorRequest& request,
                                                        uint64_t session) {
  std::lock_guard<std::mutex> lock(mu_);
  SERDAB_ASSIGN_OR_RETURN(
      worker::Bytes reply,
      enclave_->Coordinate(session, attestation::SerializeCoordinatorRequest(request)));
  return attestation::ParseReplyParts(reply);
}

std::string CoordinatorHost::GrantPath(const std::string& deployment) const {
  return (fs::path(state_dir_) / "grants" / (deployment + kGrantSuffix)).string();
}

Result<worker::Bytes> CoordinatorHost::GetQuote(worker::ByteView nonce) {
  std::lock_guard<std::mutex> lock(mu_);
  return enclave_->GetQuote(nonce);
}

Result<uint64_t> CoordinatorHost::OpenSession(worker::ByteView request) {
  std::lock_guard<std::mutex> lock(mu_);
  return enclave_->OpenSession(request);
}

Status CoordinatorHost::Admit(const std::string& deployment, uint64_t session,
                              worker::ByteView message) {
  std::lock_guard<std::mutex> lock(grants_mu_);
  CoordinatorRequest admit;
  admit.kind = CoordinatorRequest::Kind::kAdmit;
  admit.deployment = deployment;
  admit.blob.assign(message.begin(), message.end());
  auto reply = Run(admit, session);
  // The owner's session served its one purpose.
  CloseSession(session);
  if (!reply.ok()) return reply.status();
  if (reply->size() != 1) return Status::Corruption("coordinator: malformed admit reply");
  return worker::WriteFileAtomically(GrantPath(deployment), (*reply)[0]);
}

void CoordinatorHost::CloseSession(uint64_t session) {
  std::lock_guard<std::mutex> lock(mu_);
  (void)enclave_->CloseSession(session);
}

bool CoordinatorHost::HasGrant(const std::string& deployment) {
  std::lock_guard<std::mutex> lock(grants_mu_);
  std::error_code ec;
  return fs::exists(GrantPath(deployment), ec);
}

Status CoordinatorHost::Forget(const std::string& deployment) {
  std::lock_guard<std::mutex> lock(grants_mu_);
  CoordinatorRequest forget;
  forget.kind = CoordinatorRequest::Kind::kForget;
  forget.deployment = deployment;
  SERDAB_RETURN_IF_ERROR(Run(forget).status());
  std::error_code ec;
  fs::remove(GrantPath(deployment), ec);
  if (ec) return Status::IoError(GrantPath(deployment) + ": cannot remove: " + ec.message());
  return Status::Ok();
}

namespace {

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

Result<StageSession> CoordinatorHost::AttestStage(const std::string& deployment,
                                                  const std::string& target,
                                                  worker::EnclaveEndpoint* enclave) {
  const auto start = std::chrono::steady_clock::now();
  CoordinatorRequest challenge;
  challenge.kind = CoordinatorRequest::Kind::kChallenge;
  SERDAB_ASSIGN_OR_RETURN(std::vector<worker::Bytes> nonce, Run(challenge));
  if (nonce.size() != 1) return Status::Corruption("coordinator: malformed challenge reply");
  SERDAB_ASSIGN_OR_RETURN(worker::Bytes evidence, enclave->GetQuote(nonce[0]));

  CoordinatorRequest attest;
  attest.kind = CoordinatorRequest::Kind::kAttest;
  attest.deployment = deployment;
  attest.target = target;
  attest.nonce = nonce[0];
  attest.blob = evidence;
  SERDAB_ASSIGN_OR_RETURN(std::vector<worker::Bytes> request, Run(attest));
  if (request.size() != 1) return Status::Corruption("coordinator: malformed attest reply");
  StageSession stage;
  stage.target = target;
  stage.enclave = enclave;
  SERDAB_ASSIGN_OR_RETURN(stage.session, enclave->OpenSession(request[0]));
  // The coordinator verified the quote; the measurement and instance are
  // read here only to show them.
  if (auto parsed = attestation::ParseEvidence(evidence); parsed.ok()) {
    stage.instance = crypto::HexEncode(parsed->binding.instance);
    if (auto quote = attestation::ParseQuote(parsed->quote); quote.ok()) {
      stage.mrenclave = crypto::HexEncode(quote->identity.mrenclave);
    }
  }
  stage.attest_ms = MsSince(start);
  return stage;
}

Result<StageSession> CoordinatorHost::ProvisionStage(const std::string& deployment,
                                                     const std::string& target,
                                                     worker::EnclaveEndpoint* enclave, int begin,
                                                     int end, int threads, uint64_t version,
                                                     uint64_t streamed_weight_bytes,
                                                     engine::LayerShard shard) {
  SERDAB_ASSIGN_OR_RETURN(StageSession stage, AttestStage(deployment, target, enclave));
  const auto start = std::chrono::steady_clock::now();
  CoordinatorRequest provision;
  provision.kind = CoordinatorRequest::Kind::kProvision;
  provision.deployment = deployment;
  provision.target = target;
  provision.begin = begin;
  provision.end = end;
  provision.threads = threads;
  provision.version = version;
  provision.seal = true;
  provision.streamed_weight_bytes = streamed_weight_bytes;
  provision.shard_index = shard.index;
  provision.shard_count = shard.count;
  auto message = Run(provision);
  Status provisioned = message.status();
  if (provisioned.ok() && message->size() != 1) {
    provisioned = Status::Corruption("coordinator: malformed provision reply");
  }
  if (provisioned.ok()) provisioned = enclave->Provision(stage.session, (*message)[0]).status();
  if (!provisioned.ok()) {
    (void)enclave->CloseSession(stage.session);
    return provisioned;
  }
  stage.provision_ms = MsSince(start);
  return stage;
}

Result<StageSession> CoordinatorHost::AdoptStage(const std::string& deployment,
                                                 const std::string& target,
                                                 worker::EnclaveEndpoint* enclave, int begin,
                                                 int end, uint64_t version,
                                                 engine::LayerShard shard) {
  SERDAB_ASSIGN_OR_RETURN(StageSession stage, AttestStage(deployment, target, enclave));
  CoordinatorRequest adopt;
  adopt.kind = CoordinatorRequest::Kind::kAdopt;
  adopt.deployment = deployment;
  adopt.target = target;
  adopt.begin = begin;
  adopt.end = end;
  adopt.version = version;
  adopt.shard_index = shard.index;
  adopt.shard_count = shard.count;
  if (Status adopted = Run(adopt).status(); !adopted.ok()) {
    (void)enclave->CloseSession(stage.session);
    return adopted;
  }
  return stage;
}

Status CoordinatorHost::Wire(const std::string& deployment, uint64_t version,
                             const std::vector<StageSession>& stages) {
  CoordinatorRequest wire;
  wire.kind = CoordinatorRequest::Kind::kWire;
  wire.deployment = deployment;
  wire.version = version;
  for (const StageSession& s : stages) wire.targets.push_back(s.target);
  SERDAB_ASSIGN_OR_RETURN(std::vector<worker::Bytes> messages, Run(wire));
  if (messages.size() != stages.size()) {
    return Status::Corruption("coordinator: malformed wire reply");
  }
  for (size_t i = 0; i < stages.size(); ++i) {
    SERDAB_RETURN_IF_ERROR(stages[i]
                               .enclave->Provision(stages[i].session, messages[i])
                               .status()
                               .WithContext("routes for " + stages[i].target));
  }
  return Status::Ok();
}

}  // namespace serdab::orchestrator
