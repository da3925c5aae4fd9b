// The serdab-worker daemon's lifecycle: open the core (restoring enclaves
// from the state directory), serve the Worker and grpc.health.v1 services,
// tell systemd it is ready, and shut down cleanly on SIGTERM or SIGINT.
#ifndef SERDAB_WORKER_WORKER_DAEMON_H_
#define SERDAB_WORKER_WORKER_DAEMON_H_

#include <string>

#include "enclave/common/status.h"
#include "worker/worker_core.h"

namespace serdab::worker {

struct DaemonOptions {
  WorkerOptions worker;
  std::string listen = "127.0.0.1:7700";  // host:port; port 0 picks a free one
  // Mutual TLS: DIR/node.crt, DIR/node.key and DIR/ca.crt (serdab ca
  // issue-node). Clients must present a certificate from the same CA.
  std::string tls_dir;
  // Plaintext gRPC instead, for development: refused on anything but a
  // loopback address.
  bool insecure = false;
  std::string port_file;  // written with the bound port once serving
};

// Runs until SIGTERM or SIGINT. Returns the reason it could not run.
Status RunWorkerDaemon(const DaemonOptions& options);

// Whether `listen` names a loopback address (127.0.0.0/8, [::1], localhost).
bool IsLoopbackAddress(const std::string& listen);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_WORKER_DAEMON_H_
