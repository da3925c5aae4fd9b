// WorkerCore: the worker daemon's state and logic, with no gRPC in it (the
// Worker service in worker_service.h is a thin layer over it): the enclaves
// this host runs, by name, and the sealed partitions it keeps on disk so that
// after a restart it restores every enclave's partition without the model
// being sent again. Everything it holds is ciphertext, sealed blobs or public
// evidence.
//
// State directory layout (untrusted storage; the blobs are sealed):
//   STATE/enclaves/<name>/config            the enclave configuration text
//   STATE/enclaves/<name>/signature         the developer's signature, if any
//   STATE/enclaves/<name>/partition.sealed  the last partition its owner sealed
//
// Thread-safe. Calls on one enclave are serialised by the enclave itself;
// calls on different enclaves run in parallel.
#ifndef SERDAB_WORKER_WORKER_CORE_H_
#define SERDAB_WORKER_WORKER_CORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "enclave/common/status.h"
#include "worker/enclave_host.h"

namespace serdab::worker {

struct WorkerOptions {
  std::string platform_dir;  // platform.key and platform.cert (serdab ca issue-platform)
  std::string state_dir;
  int max_enclaves = 8;
};

struct EnclaveInfo {
  std::string name;
  std::string mrenclave;  // hex, as the enclave reports it
  bool restored = false;  // its partition was restored from disk at start-up
};

class WorkerCore {
 public:
  // Creates the state directory if needed and restores every enclave
  // recorded there (an enclave whose partition fails to restore is still
  // created, empty, and the failure is in `warnings`).
  static Result<std::unique_ptr<WorkerCore>> Open(const WorkerOptions& options,
                                                  std::vector<std::string>* warnings);

  // `name` is 1..63 characters of [a-z0-9-]; empty picks "e1", "e2", ...
  Result<EnclaveInfo> CreateEnclave(std::string name, const std::string& config,
                                    ByteView signature);
  Status DestroyEnclave(const std::string& name);
  std::vector<EnclaveInfo> List();

  Result<Bytes> Challenge(const std::string& name);
  Result<Bytes> GetQuote(const std::string& name, ByteView nonce);
  Result<uint64_t> OpenSession(const std::string& name, ByteView request);
  Status CloseSession(const std::string& name, uint64_t session);
  // Returns whether a sealed partition came back (and is now on disk).
  Result<bool> Provision(const std::string& name, uint64_t session, ByteView message);
  Result<Bytes> Process(const std::string& name, uint64_t in_session, uint32_t in_hop,
                        uint64_t out_session, uint32_t out_hop, uint64_t stream_id,
                        ByteView message);
  // Process for the data plane (EnclaveHost::ProcessFrame).
  Result<std::vector<Payload>> ProcessFrame(const std::string& name, uint64_t in_session,
                                            uint32_t in_hop,
                                            const std::vector<uint64_t>& out_sessions,
                                            uint32_t out_hop, uint64_t stream_id,
                                            const Payload& message);
  Result<std::string> Profile(const std::string& name, uint32_t repeats, bool measure_paging);
  Result<std::string> Stats(const std::string& name);

 private:
  struct Hosted {
    EnclaveInfo info;
    std::unique_ptr<EnclaveHost> host;
  };

  explicit WorkerCore(WorkerOptions options) : options_(std::move(options)) {}
  Result<std::shared_ptr<Hosted>> Find(const std::string& name);
  Result<std::shared_ptr<Hosted>> Start(const std::string& name, const std::string& config,
                                        ByteView signature);
  std::string EnclaveDir(const std::string& name) const;

  const WorkerOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Hosted>> enclaves_;
  int next_name_ = 1;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_WORKER_CORE_H_
