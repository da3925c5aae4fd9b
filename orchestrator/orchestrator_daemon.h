// The serdab-orchestrator daemon's lifecycle: open the core (its state
// database), serve the Orchestrator and grpc.health.v1 services, check
// worker liveness in the background, tell systemd it is ready, and shut
// down cleanly on SIGTERM or SIGINT.
#ifndef SERDAB_ORCHESTRATOR_ORCHESTRATOR_DAEMON_H_
#define SERDAB_ORCHESTRATOR_ORCHESTRATOR_DAEMON_H_

#include "enclave/common/status.h"
#include "orchestrator/orchestrator_core.h"
#include "worker/grpc_daemon.h"

namespace serdab::orchestrator {

struct OrchestratorDaemonOptions {
  OrchestratorOptions core;
  worker::ListenOptions listen{.listen = "127.0.0.1:7600"};
};

// Runs until SIGTERM or SIGINT. Returns the reason it could not run.
Status RunOrchestratorDaemon(const OrchestratorDaemonOptions& options);

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_ORCHESTRATOR_DAEMON_H_
