#include "worker/worker_core.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "worker/state_files.h"

namespace serdab::worker {
namespace {

namespace fs = std::filesystem;

constexpr char kConfigFile[] = "config";
constexpr char kSignatureFile[] = "signature";
constexpr char kPartitionFile[] = "partition.sealed";

Status CheckName(const std::string& name) {
  const bool ok =
      !name.empty() && name.size() <= 63 &&
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
  if (ok) return Status::Ok();
  return Status::InvalidArgument("enclave name '" + name +
                                 "': expected 1 to 63 characters of a-z, 0-9 and '-'");
}

ByteView AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

Result<std::unique_ptr<WorkerCore>> WorkerCore::Open(const WorkerOptions& options,
                                                     std::vector<std::string>* warnings) {
  std::unique_ptr<WorkerCore> core(new WorkerCore(options));
  const fs::path root = fs::path(options.state_dir) / "enclaves";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::IoError(root.string() + ": cannot create: " + ec.message());
  for (const fs::directory_entry& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !CheckName(name).ok()) continue;
    auto config = ReadFileBytes(entry.path() / kConfigFile);
    if (!config.ok()) {
      warnings->push_back(config.status().message());
      continue;
    }
    Bytes signature;
    if (fs::exists(entry.path() / kSignatureFile)) {
      SERDAB_ASSIGN_OR_RETURN(signature, ReadFileBytes(entry.path() / kSignatureFile));
    }
    auto hosted = core->Start(name, std::string(config->begin(), config->end()), signature);
    if (!hosted.ok()) {
      warnings->push_back("enclave " + name + ": " + hosted.status().message());
      continue;
    }
    if (fs::exists(entry.path() / kPartitionFile)) {
      auto blob = ReadFileBytes(entry.path() / kPartitionFile);
      Status restored = blob.ok() ? (*hosted)->host->UnsealPartition(*blob) : blob.status();
      if (restored.ok()) {
        (*hosted)->info.restored = true;
      } else {
        warnings->push_back("enclave " + name +
                            ": its sealed partition was not restored: " + restored.message());
      }
    }
    core->enclaves_[name] = std::move(hosted).value();
  }
  if (ec) return Status::IoError(root.string() + ": cannot list: " + ec.message());
  return core;
}

std::string WorkerCore::EnclaveDir(const std::string& name) const {
  return (fs::path(options_.state_dir) / "enclaves" / name).string();
}

Result<std::shared_ptr<WorkerCore::Hosted>> WorkerCore::Start(const std::string& name,
                                                              const std::string& config,
                                                              ByteView signature) {
  auto hosted = std::make_shared<Hosted>();
  SERDAB_ASSIGN_OR_RETURN(hosted->host,
                          EnclaveHost::Create(config, options_.platform_dir, signature));
  SERDAB_ASSIGN_OR_RETURN(std::string stats_json, hosted->host->StatsJson());
  // Malformed stats from the enclave are an error, not an exception.
  const nlohmann::json stats =
      nlohmann::json::parse(stats_json, nullptr, /*allow_exceptions=*/false);
  if (!stats.is_object()) return Status::Corruption("enclave stats: not a JSON object");
  const auto mrenclave = stats.find("mrenclave");
  hosted->info.name = name;
  hosted->info.mrenclave =
      mrenclave != stats.end() && mrenclave->is_string() ? mrenclave->get<std::string>() : "";
  return hosted;
}

Result<EnclaveInfo> WorkerCore::CreateEnclave(std::string name, const std::string& config,
                                              ByteView signature) {
  std::lock_guard<std::mutex> lock(mu_);
  if (name.empty()) {
    while (enclaves_.count("e" + std::to_string(next_name_)) != 0) ++next_name_;
    name = "e" + std::to_string(next_name_++);
  }
  SERDAB_RETURN_IF_ERROR(CheckName(name));
  if (enclaves_.count(name) != 0) {
    return Status::FailedPrecondition("enclave '" + name + "' already exists on this worker");
  }
  if (static_cast<int>(enclaves_.size()) >= options_.max_enclaves) {
    return Status::ResourceExhausted("this worker hosts at most " +
                                     std::to_string(options_.max_enclaves) + " enclaves");
  }
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> hosted, Start(name, config, signature));
  const fs::path dir = EnclaveDir(name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(dir.string() + ": cannot create: " + ec.message());
  SERDAB_RETURN_IF_ERROR(WriteFileAtomically(dir / kConfigFile, AsBytes(config)));
  if (!signature.empty()) {
    SERDAB_RETURN_IF_ERROR(WriteFileAtomically(dir / kSignatureFile, signature));
  }
  enclaves_[name] = hosted;
  return hosted->info;
}

Status WorkerCore::DestroyEnclave(const std::string& name) {
  std::shared_ptr<Hosted> hosted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = enclaves_.find(name);
    if (it == enclaves_.end()) return Status::NotFound("no enclave '" + name + "'");
    hosted = std::move(it->second);
    enclaves_.erase(it);
  }
  std::error_code ec;
  fs::remove_all(EnclaveDir(name), ec);
  if (ec) return Status::IoError(EnclaveDir(name) + ": cannot remove: " + ec.message());
  return Status::Ok();
}

std::vector<EnclaveInfo> WorkerCore::List() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<EnclaveInfo> out;
  for (const auto& [name, hosted] : enclaves_) out.push_back(hosted->info);
  return out;
}

Result<std::shared_ptr<WorkerCore::Hosted>> WorkerCore::Find(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = enclaves_.find(name);
  if (it == enclaves_.end()) return Status::NotFound("no enclave '" + name + "' on this worker");
  return it->second;
}

Result<Bytes> WorkerCore::Challenge(const std::string& name) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> e, Find(name));
  return e->host->Challenge();
}

Result<Bytes> WorkerCore::GetQuote(const std::string& name, ByteView nonce) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> e, Find(name));
  return e->host->GetQuote(nonce);
}

Result<uint64_t> WorkerCore::OpenSession(const std::string& name, ByteView request) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> e, Find(name));
  return e->host->OpenSession(request);
}

Status WorkerCore::CloseSession(const std::string& name, uint64_t session) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> e, Find(name));
  return e->host->CloseSession(session);
}

Result<bool> WorkerCore::Provision(const std::string& name, uint64_t session, ByteView message) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> e, Find(name));
  SERDAB_ASSIGN_OR_RETURN(Bytes sealed, e->host->Provision(session, message));
  if (sealed.empty()) return false;
  SERDAB_RETURN_IF_ERROR(WriteFileAtomically(fs::path(EnclaveDir(name)) / kPartitionFile, sealed));
  return true;
}

Result<Bytes> WorkerCore::Process(const std::string& name, uint64_t in_session, uint32_t in_hop,
                                  uint64_t out_session, uint32_t out_hop, uint64_t stream_id,
                                  ByteView message) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> e, Find(name));
  return e->host->Process(in_session, in_hop, out_session, out_hop, stream_id, message);
}

Result<std::vector<Payload>> WorkerCore::ProcessFrame(const std::string& name, uint64_t in_session,
                                                      uint32_t in_hop,
                                                      const std::vector<uint64_t>& out_sessions,
                                                      uint32_t out_hop, uint64_t stream_id,
                                                      const Payload& message) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> e, Find(name));
  return e->host->ProcessFrame(in_session, in_hop, out_sessions, out_hop, stream_id, message);
}

Result<std::string> WorkerCore::Profile(const std::string& name, uint32_t repeats,
                                        bool measure_paging) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> e, Find(name));
  return e->host->Profile(repeats, measure_paging);
}

Result<std::string> WorkerCore::Stats(const std::string& name) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<Hosted> e, Find(name));
  return e->host->StatsJson();
}

}  // namespace serdab::worker
