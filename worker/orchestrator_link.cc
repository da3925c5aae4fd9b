#include "worker/orchestrator_link.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "worker/grpc_daemon.h"
#include "worker/node_certificates.h"

namespace serdab::worker {
namespace {

constexpr int64_t kMinBackoffMs = 200;
constexpr int64_t kMaxBackoffMs = 5000;
constexpr auto kCallTimeout = std::chrono::seconds(5);

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  return context;
}

}  // namespace

Result<std::unique_ptr<OrchestratorLink>> OrchestratorLink::Start(OrchestratorLinkOptions options) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          MakeChannelCredentials(options.orchestrator, options.tls_dir, "node"));
  if (options.tls_dir.empty()) {
    if (options.name.empty()) return Status::InvalidArgument("a plaintext link needs a name");
  } else {
    SERDAB_ASSIGN_OR_RETURN(TlsFiles tls, LoadTlsFiles(options.tls_dir, "node"));
    SERDAB_ASSIGN_OR_RETURN(PeerIdentity self, IdentityOfCertificate(tls.certificate));
    if (self.role != Role::kWorker) {
      return Status::InvalidArgument("the certificate in " + options.tls_dir + " is a " +
                                     std::string(RoleName(self.role)) +
                                     "'s, not a worker's (serdab ca issue-node --role worker)");
    }
    options.name = self.name;
  }
  // A restarted orchestrator must hear from its workers within its
  // heartbeat timeout: gRPC's reconnect backoff (up to two minutes by
  // default) would make them look dead.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto stub =
      v1::Orchestrator::NewStub(grpc::CreateCustomChannel(options.orchestrator, credentials, args));
  std::unique_ptr<OrchestratorLink> link(new OrchestratorLink(std::move(options)));
  link->thread_ = std::thread(&OrchestratorLink::Run, link.get(), std::move(stub));
  return link;
}

OrchestratorLink::~OrchestratorLink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool OrchestratorLink::Sleep(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_; });
}

void OrchestratorLink::Run(std::unique_ptr<v1::Orchestrator::Stub> stub) {
  v1::RegisterWorkerRequest registration;
  registration.set_name(options_.name);
  registration.set_address(options_.advertise);
  registration.mutable_labels()->insert(options_.labels.begin(), options_.labels.end());
  *registration.mutable_capacity() = options_.capacity;

  bool registered = false;
  int64_t interval_ms = 2000;
  int64_t backoff_ms = kMinBackoffMs;
  std::string last_error;
  do {
    grpc::Status status;
    if (!registered) {
      v1::RegisterWorkerResponse response;
      status = stub->RegisterWorker(Context().get(), registration, &response);
      if (status.ok()) {
        registered = true;
        interval_ms = std::max<int64_t>(100, response.heartbeat_interval_ms());
        spdlog::info("registered with the orchestrator at {} as {} (heartbeat every {} ms)",
                     options_.orchestrator, options_.name, interval_ms);
      }
    } else {
      v1::HeartbeatRequest heartbeat;
      heartbeat.set_name(options_.name);
      v1::HeartbeatResponse response;
      status = stub->Heartbeat(Context().get(), heartbeat, &response);
      if (status.ok() && !response.registered()) {
        spdlog::warn("the orchestrator no longer knows this worker; registering again");
        registered = false;
        continue;
      }
    }
    if (status.ok()) {
      backoff_ms = kMinBackoffMs;
      last_error.clear();
      continue;
    }
    // Logged once per distinct failure, not once per retry.
    if (status.error_message() != last_error) {
      last_error = status.error_message();
      spdlog::warn("orchestrator {}: {} (retrying)", options_.orchestrator, last_error);
    }
    if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) registered = false;
    // A registered worker keeps heartbeating at the interval, so that an
    // orchestrator back from a restart sees it alive at once; registering
    // backs off.
    if (!registered) {
      if (!Sleep(backoff_ms)) return;
      backoff_ms = std::min(kMaxBackoffMs, backoff_ms * 2);
    }
  } while (Sleep(registered ? interval_ms : 0));
}

}  // namespace serdab::worker
