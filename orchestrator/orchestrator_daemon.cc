#include "orchestrator/orchestrator_daemon.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "enclave/attestation/platform.h"
#include "orchestrator/coordinator_host.h"
#include "orchestrator/deployment_planner.h"
#include "orchestrator/orchestrator_metrics.h"
#include "orchestrator/orchestrator_service.h"
#include "orchestrator/reconciler.h"
#include "worker/metrics_server.h"
#include "worker/rpc_metrics.h"

namespace serdab::orchestrator {

Status RunOrchestratorDaemon(const OrchestratorDaemonOptions& options) {
  const sigset_t stop = worker::BlockStopSignals();
  // Credentials first, so that bad TLS flags fail before any state opens.
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                          worker::MakeServerCredentials(options.listen));
  ReconcilerOptions reconciler_options;
  SERDAB_ASSIGN_OR_RETURN(reconciler_options.root,
                          attestation::LoadRootPublicKey(options.root_public_key));
  reconciler_options.tls_dir = options.listen.tls_dir;
  // The coordinator first: unsealing its grants takes a while, and the
  // workers' liveness grace starts when the core opens.
  std::vector<std::string> warnings;
  SERDAB_ASSIGN_OR_RETURN(
      std::unique_ptr<CoordinatorHost> coordinator,
      CoordinatorHost::Start(options.platform_dir, options.core.state_dir, &warnings));
  for (const std::string& w : warnings) spdlog::warn("coordinator: {}", w);
  spdlog::info("coordinator enclave {} (identity {})", coordinator->mrenclave(),
               coordinator->identity().substr(0, 16));
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<OrchestratorCore> core,
                          OrchestratorCore::Open(options.core));
  spdlog::info("state in {}/orchestrator.db", options.core.state_dir);
  Reconciler reconciler(core.get(), reconciler_options);
  PlannerOptions planner_options;
  planner_options.cache_dir = options.core.state_dir + "/profiles";
  planner_options.repeats = options.profile_repeats;
  planner_options.progress = [](const std::string& line) { spdlog::info("planner: {}", line); };
  DeploymentPlanner planner(&reconciler, planner_options);
  core->Attach(&planner, coordinator.get());

  metrics::Registry registry;
  AddOrchestratorCollector(&registry, core.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  SERDAB_ASSIGN_OR_RETURN(interceptors.emplace_back(),
                          worker::MakeRpcMetricsInterceptor(&registry));
  // Declared after what its collector reads, so it stops before that goes.
  metrics::MetricsServer metrics_server(&registry);
  if (!options.metrics_addr.empty()) {
    SERDAB_RETURN_IF_ERROR(metrics_server.Start(options.metrics_addr));
    spdlog::info("serving metrics on {} (port {})", options.metrics_addr, metrics_server.port());
  }

  // Liveness: a worker whose heartbeats stop becomes NotReady within
  // heartbeat_timeout plus half an interval.
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread liveness([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, options.core.heartbeat_interval / 2, [&] { return stopping; })) {
      if (Status s = core->CheckLiveness(); !s.ok()) spdlog::error("{}", s.message());
    }
  });
  std::thread reconciling([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, options.reconcile_interval, [&] { return stopping; })) {
      lock.unlock();
      if (Status s = reconciler.ReconcileAll(); !s.ok()) spdlog::error("{}", s.message());
      lock.lock();
    }
  });

  OrchestratorService service(core.get(), /*authenticate=*/!options.listen.insecure);
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // An apply carries the model sealed for the coordinator.
  builder.SetMaxReceiveMessageSize(1 << 30);
  Status served = worker::ServeUntilSignal(&builder, options.listen, credentials, stop,
                                           "Orchestrator", nullptr, [&] {
                                             core->Shutdown();
                                             {
                                               std::lock_guard<std::mutex> lock(mu);
                                               stopping = true;
                                             }
                                             cv.notify_all();
                                           });
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  cv.notify_all();
  liveness.join();
  reconciling.join();
  return served;
}

}  // namespace serdab::orchestrator
