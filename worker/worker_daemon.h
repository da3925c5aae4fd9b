// The serdab-worker daemon's lifecycle: open the core (restoring enclaves
// from the state directory), serve the Worker and grpc.health.v1 services,
// tell systemd it is ready, and shut down cleanly on SIGTERM or SIGINT.
#ifndef SERDAB_WORKER_WORKER_DAEMON_H_
#define SERDAB_WORKER_WORKER_DAEMON_H_

#include <string>

#include "enclave/common/status.h"
#include "worker/data_plane_core.h"
#include "worker/grpc_daemon.h"
#include "worker/orchestrator_link.h"
#include "worker/worker_core.h"

namespace serdab::worker {

struct DaemonOptions {
  WorkerOptions worker;
  ListenOptions listen{
      .listen = "127.0.0.1:7700", .tls_dir = {}, .insecure = false, .port_file = {}};
  // Registration with an orchestrator (orchestrator_link.h); none when
  // link.orchestrator is empty. The daemon fills in the TLS directory, the
  // address to advertise (when empty: the listen host and bound port) and
  // the capacity's threads, AES-NI and enclave count.
  OrchestratorLinkOptions link;
  // The data plane's queues (data_plane_core.h).
  DataPlaneOptions data_plane;
  // HOST:PORT to serve Prometheus metrics on (worker_metrics.h,
  // rpc_metrics.h); none when empty.
  std::string metrics_addr;
  // Threads each enclave's stage computes with, reported to the orchestrator
  // as capacity (it profiles and provisions with this many); 0: the CPUs this
  // process may run on (its affinity mask, so `taskset` is respected).
  int threads = 0;
};

// Runs until SIGTERM or SIGINT. Returns the reason it could not run.
Status RunWorkerDaemon(const DaemonOptions& options);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_WORKER_DAEMON_H_
