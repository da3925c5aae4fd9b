// What every command that talks to an orchestrator shares: the connection
// flags, the connection itself, RPC errors as Status values, and the
// coordinator enclave reached through the orchestrator.
#ifndef SERDAB_CLI_CLUSTER_CONNECTION_H_
#define SERDAB_CLI_CLUSTER_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "cli/cli_config.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/common/status.h"
#include "serdab/v1/orchestrator.grpc.pb.h"
#include "worker/enclave_endpoint.h"

namespace CLI {
class App;
}  // namespace CLI

namespace serdab::cli {

struct ConnectionFlags {
  std::string config;
  ClusterConnection connection;
};
// --config, --orchestrator, --credentials, --insecure.
void AddConnectionFlags(CLI::App* app, ConnectionFlags* flags);

struct Connection {
  std::string address;
  std::unique_ptr<v1::Orchestrator::Stub> stub;
  ClusterConnection resolved;
};
Result<Connection> Connect(const ConnectionFlags& flags);

// A context for one control-plane call (30 s deadline).
std::unique_ptr<grpc::ClientContext> CallContext();

// A failed call as a Status; an orchestrator that cannot be reached is
// said so, with what to check.
Status RpcError(const std::string& address, const grpc::Status& status, const std::string& what);

// The orchestrator's coordinator enclave, as a client reaches it: its quote
// and a session with it, relayed by the (untrusted) orchestrator.
class CoordinatorEndpoint final : public worker::EnclaveEndpoint {
 public:
  CoordinatorEndpoint(v1::Orchestrator::Stub* stub, std::string address)
      : stub_(stub), address_(std::move(address)) {}

  Result<worker::Bytes> Challenge() override;
  Result<worker::Bytes> GetQuote(worker::ByteView nonce) override;
  Result<uint64_t> OpenSession(worker::ByteView bytes) override;
  Result<worker::Bytes> Provision(uint64_t, worker::ByteView) override;
  Result<worker::Bytes> Process(uint64_t, uint32_t, uint64_t, uint32_t, uint64_t,
                                worker::ByteView) override;
  // The orchestrator ends the owner's session once the grant is in.
  Status CloseSession(uint64_t) override;

 private:
  v1::Orchestrator::Stub* stub_;
  const std::string address_;
};

// A verifier for this build's coordinator enclave (its measurement),
// chained to `root`, with simulation and debug as a plan allows them.
Result<attestation::QuoteVerifier> CoordinatorVerifier(const crypto::Ed25519PublicKey& root,
                                                       bool allow_simulation, bool allow_debug);

}  // namespace serdab::cli

#endif  // SERDAB_CLI_CLUSTER_CONNECTION_H_
