// OrchestratorLink: a worker daemon's side of the control plane. In the
// background it registers with the orchestrator (where its Worker service
// listens, its labels, its capacity), then heartbeats at the interval the
// orchestrator asks for, registering again whenever the orchestrator no
// longer knows it (a restarted orchestrator with a fresh database) and
// retrying with backoff while the orchestrator is unreachable. The worker
// keeps serving its enclaves either way.
#ifndef SERDAB_WORKER_ORCHESTRATOR_LINK_H_
#define SERDAB_WORKER_ORCHESTRATOR_LINK_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "enclave/common/status.h"
#include "serdab/v1/orchestrator.grpc.pb.h"

namespace serdab::worker {

struct OrchestratorLinkOptions {
  std::string orchestrator;  // host:port
  // Mutual TLS with the worker's node certificate (DIR/node.crt, node.key,
  // ca.crt); the name registered is the certificate's. Empty: plaintext,
  // loopback development only, under `name`.
  std::string tls_dir;
  std::string name;
  std::string advertise;  // host:port the orchestrator reaches this worker at
  std::map<std::string, std::string> labels;
  v1::WorkerCapacity capacity;
};

class OrchestratorLink {
 public:
  // Checks the options and starts the background thread.
  static Result<std::unique_ptr<OrchestratorLink>> Start(OrchestratorLinkOptions options);
  // Stops the thread (at once, even mid-backoff).
  ~OrchestratorLink();
  OrchestratorLink(const OrchestratorLink&) = delete;
  OrchestratorLink& operator=(const OrchestratorLink&) = delete;

 private:
  explicit OrchestratorLink(OrchestratorLinkOptions options) : options_(std::move(options)) {}
  void Run(std::unique_ptr<v1::Orchestrator::Stub> stub);
  // Waits up to `ms`; false once stopping.
  bool Sleep(int64_t ms);

  const OrchestratorLinkOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_ORCHESTRATOR_LINK_H_
