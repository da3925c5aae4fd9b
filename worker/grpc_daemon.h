// What both daemons (serdab-worker, serdab-orchestrator) share around their
// gRPC server: mutual-TLS credentials from a node directory, the caller's
// verified identity, and serving until SIGTERM or SIGINT with systemd told
// when it is ready and when it stops.
#ifndef SERDAB_WORKER_GRPC_DAEMON_H_
#define SERDAB_WORKER_GRPC_DAEMON_H_

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <functional>
#include <memory>
#include <string>

#include "enclave/common/status.h"
#include "worker/node_certificates.h"

namespace serdab::worker {

struct ListenOptions {
  std::string listen;  // host:port; port 0 picks a free one
  // Mutual TLS: DIR/node.crt, DIR/node.key and DIR/ca.crt (serdab ca
  // issue-node). Clients must present a certificate from the same CA.
  std::string tls_dir;
  // Plaintext gRPC instead, for development: refused on anything but a
  // loopback address.
  bool insecure = false;
  std::string port_file;  // written with the bound port once serving
};

// Whether `listen` names a loopback address (127.0.0.0/8, [::1], localhost).
bool IsLoopbackAddress(const std::string& listen);

// Blocks SIGTERM and SIGINT in the calling thread and returns them as a set.
// Call it before any thread starts (gRPC starts some as soon as credentials
// are made), so that only ServeUntilSignal's waiter receives them.
sigset_t BlockStopSignals();

// Checks `options` (exactly one of tls_dir and insecure; insecure only on
// loopback) and makes the server's credentials.
Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ListenOptions& options);

// A control-plane client's credentials: mutual TLS with DIR/<stem>.crt,
// DIR/<stem>.key and DIR/ca.crt, or plaintext when `tls_dir` is empty, which
// is refused unless `target` is a loopback address.
Result<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const std::string& target,
                                                                         const std::string& tls_dir,
                                                                         const std::string& stem);

// Who called, from the verified client certificate. Unauthenticated when
// the connection carries none (a plaintext listener).
Result<PeerIdentity> VerifiedPeer(const grpc::ServerContext& context);

// Adds the listener (with `credentials`, from MakeServerCredentials) and the
// health service to `builder`, starts it, writes the port file, runs
// `on_serving` with the bound port, tells systemd READY=1, and serves until
// SIGTERM or SIGINT (from `stop`); then runs `on_stop` and shuts the server
// down. Either callback may be empty.
Status ServeUntilSignal(grpc::ServerBuilder* builder, const ListenOptions& options,
                        std::shared_ptr<grpc::ServerCredentials> credentials, const sigset_t& stop,
                        const std::string& service_name,
                        const std::function<void(int port)>& on_serving,
                        const std::function<void()>& on_stop);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_GRPC_DAEMON_H_
