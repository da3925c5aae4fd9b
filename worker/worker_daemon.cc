#include "worker/worker_daemon.h"

#include <spdlog/spdlog.h>

#include <unistd.h>
#include <algorithm>
#include <csignal>
#include <thread>

#include "enclave/crypto/aead.h"
#include "worker/cpu_info.h"
#include "worker/grpc_daemon.h"
#include "worker/metrics_server.h"
#include "worker/rpc_metrics.h"
#include "worker/worker_metrics.h"
#include "worker/worker_service.h"

namespace serdab::worker {
namespace {

// The largest message a Worker call carries: a provisioned model.
constexpr int kMaxMessageBytes = 1 << 30;

}  // namespace

Status RunWorkerDaemon(const DaemonOptions& options) {
  const sigset_t stop = BlockStopSignals();
  // Credentials first, so that bad TLS flags fail before any state opens.
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                          MakeServerCredentials(options.listen));

  std::vector<std::string> warnings;
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<WorkerCore> core,
                          WorkerCore::Open(options.worker, &warnings));
  for (const std::string& w : warnings) spdlog::warn("{}", w);
  for (const EnclaveInfo& e : core->List()) {
    spdlog::info("enclave {} mrenclave {}{}", e.name, e.mrenclave,
                 e.restored ? " (partition restored from disk)" : "");
  }

  // Always kept, served only with --metrics-addr: what records metrics
  // (the data plane too) takes &registry and need not check for it.
  metrics::Registry registry;
  AddEnclaveCollector(&registry, core.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  SERDAB_ASSIGN_OR_RETURN(interceptors.emplace_back(), MakeRpcMetricsInterceptor(&registry));
  // Declared after what its collectors read, so it stops before they go.
  metrics::MetricsServer metrics_server(&registry);
  if (!options.metrics_addr.empty()) {
    SERDAB_RETURN_IF_ERROR(metrics_server.Start(options.metrics_addr));
    spdlog::info("serving metrics on {} (port {})", options.metrics_addr, metrics_server.port());
  }

  WorkerService service(core.get(), /*authenticate=*/!options.listen.insecure);
  grpc::ServerBuilder builder;
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.RegisterService(&service);
  std::unique_ptr<OrchestratorLink> link;
  Status link_status;
  Status served = ServeUntilSignal(
      &builder, options.listen, credentials, stop, "Worker",
      [&](int port) {
        if (options.link.orchestrator.empty()) return;
        OrchestratorLinkOptions link_options = options.link;
        link_options.tls_dir = options.listen.tls_dir;
        if (link_options.advertise.empty()) {
          // A wildcard listener is reached at the machine's name.
          const std::string& listen = options.listen.listen;
          std::string host = listen.substr(0, listen.rfind(':'));
          if (host.empty() || host == "0.0.0.0" || host == "[::]") {
            char name[256] = {};
            ::gethostname(name, sizeof(name) - 1);
            host = name;
          }
          link_options.advertise = host + ":" + std::to_string(port);
        }
        link_options.capacity.set_threads(std::max(1u, std::thread::hardware_concurrency()));
        link_options.capacity.set_aes_ni(crypto::AeadAvailable(crypto::AeadAlgorithm::kAes256Gcm));
        link_options.capacity.set_max_enclaves(options.worker.max_enclaves);
        link_options.capacity.set_cpu_model(CpuModelName());
        auto started = OrchestratorLink::Start(std::move(link_options));
        if (started.ok()) {
          link = std::move(started).value();
        } else {
          link_status = started.status();
          ::kill(::getpid(), SIGTERM);  // process-directed, so the signal waiter gets it
        }
      },
      nullptr);
  SERDAB_RETURN_IF_ERROR(link_status);
  return served;
}

}  // namespace serdab::worker
