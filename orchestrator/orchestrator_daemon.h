// The serdab-orchestrator daemon's lifecycle: open the core (its state
// database), serve the Orchestrator and grpc.health.v1 services, check
// worker liveness in the background, tell systemd it is ready, and shut
// down cleanly on SIGTERM or SIGINT. It starts the coordinator enclave
// (coordinator_host.h) and the planner (deployment_planner.h, profiles
// cached in STATE/profiles); a reconciler (reconciler.h) runs in the
// background and calls workers with the orchestrator's own certificate.
#ifndef SERDAB_ORCHESTRATOR_ORCHESTRATOR_DAEMON_H_
#define SERDAB_ORCHESTRATOR_ORCHESTRATOR_DAEMON_H_

#include "enclave/common/status.h"
#include "orchestrator/orchestrator_core.h"
#include "worker/grpc_daemon.h"

namespace serdab::orchestrator {

struct OrchestratorDaemonOptions {
  OrchestratorOptions core;
  worker::ListenOptions listen{
      .listen = "127.0.0.1:7600", .tls_dir = {}, .insecure = false, .port_file = {}};
  // The deployment root's public key file (root.pub of `serdab ca init`):
  // workers' platforms must chain to it.
  std::string root_public_key;
  // This box's platform key and certificate, for the coordinator enclave.
  std::string platform_dir;
  int profile_repeats = 3;
  // How often the reconciler looks at every deployment.
  std::chrono::milliseconds reconcile_interval{1000};
  // HOST:PORT to serve Prometheus metrics on (orchestrator_metrics.h,
  // worker/rpc_metrics.h); none when empty.
  std::string metrics_addr;
};

// Runs until SIGTERM or SIGINT. Returns the reason it could not run.
Status RunOrchestratorDaemon(const OrchestratorDaemonOptions& options);

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_ORCHESTRATOR_DAEMON_H_
