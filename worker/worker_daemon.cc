#include "worker/worker_daemon.h"

#include <spdlog/spdlog.h>

#include <unistd.h>
#include <algorithm>
#include <csignal>

#include "enclave/crypto/aead.h"
#include "worker/cpu_info.h"
#include "worker/data_plane_core.h"
#include "worker/data_plane_service.h"
#include "worker/grpc_daemon.h"
#include "worker/metrics_server.h"
#include "worker/peer_link.h"
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
  const std::string tls_dir = options.listen.tls_dir;
  WorkerCore* worker = core.get();
  DataPlaneCore data_plane(
      worker,
      [worker, tls_dir](const std::string& enclave, const std::vector<v1::PipeStage>& rest,
                        uint32_t stage,
                        size_t max_in_flight) -> Result<std::shared_ptr<NextStage>> {
        SERDAB_ASSIGN_OR_RETURN(
            std::shared_ptr<PeerLink> link,
            PeerLink::Connect(worker, enclave, rest, stage, max_in_flight, tls_dir));
        return std::shared_ptr<NextStage>(std::move(link));
      },
      options.data_plane);
  AddDataPlaneCollector(&registry, &data_plane);
  DataPlaneService data_plane_service(&data_plane, worker, !options.listen.insecure);
  grpc::ServerBuilder builder;
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument("grpc.http2.bdp_probe", 0);
  builder.AddChannelArgument("grpc.http2.lookahead_bytes", 64 << 20);
  builder.AddChannelArgument("grpc.http2.max_frame_size", 16 << 20);
  builder.RegisterService(&service);
  builder.RegisterService(&data_plane_service);
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
        link_options.capacity.set_threads(options.threads > 0 ? options.threads : UsableCpuCount());
        link_options.capacity.set_aes_ni(crypto::AeadAvailable(crypto::AeadAlgorithm::kAes256Gcm));
        link_options.capacity.set_max_enclaves(options.worker.max_enclaves);
        link_options.capacity.set_cpu_model(CpuModelName());
        if (Result<double> aead = AeadBytesPerSecond(); aead.ok()) {
          link_options.capacity.set_aead_bytes_per_s(*aead);
        }
        auto started = OrchestratorLink::Start(std::move(link_options));
        if (started.ok()) {
          link = std::move(started).value();
        } else {
          link_status = started.status();
          ::kill(::getpid(), SIGTERM);  // process-directed, so the signal waiter gets it
        }
      },
      nullptr);
  // Scrapes read the data plane: they end before it goes.
  metrics_server.Stop();
  SERDAB_RETURN_IF_ERROR(link_status);
  return served;
}

}  // namespace serdab::worker
