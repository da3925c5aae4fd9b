#include "cli/cluster_connection.h"

#include <grpc/support/log.h>

#include <CLI/CLI.hpp>
#include <chrono>

#include "cli/local_enclave.h"
#include "worker/grpc_daemon.h"
#include "worker/rpc_status.h"

namespace serdab::cli {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(30);

Status Unsupported() {
  return Status::Unimplemented("the coordinator takes grants, not partitions or frames");
}

}  // namespace

void AddConnectionFlags(CLI::App* app, ConnectionFlags* flags) {
  app->add_option("--config", flags->config,
                  "the CLI config file (default: $SERDAB_CONFIG, else "
                  "~/.config/serdab/config.yaml)");
  app->add_option("--orchestrator", flags->connection.orchestrator,
                  "host:port of the orchestrator (overrides the config file)");
  app->add_option("--credentials", flags->connection.credentials,
                  "directory with user.crt, user.key and ca.crt (serdab ca issue-user)");
  app->add_flag("--insecure", flags->connection.insecure,
                "plaintext gRPC to loopback daemons (development)");
}

Result<Connection> Connect(const ConnectionFlags& flags) {
  // gRPC's own log lines (a failed TLS handshake, say) would break the
  // one-line error contract; the failure reaches the user as a status.
  gpr_set_log_function([](gpr_log_func_args*) {});
  SERDAB_ASSIGN_OR_RETURN(ClusterConnection c,
                          ResolveClusterConnection(flags.config, flags.connection));
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          worker::MakeChannelCredentials(c.orchestrator, c.credentials, "user"));
  grpc::ChannelArguments args;
  // An apply carries the model, sealed for the coordinator.
  args.SetMaxSendMessageSize(1 << 30);
  return Connection{
      c.orchestrator,
      v1::Orchestrator::NewStub(grpc::CreateCustomChannel(c.orchestrator, credentials, args)), c};
}

std::unique_ptr<grpc::ClientContext> CallContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  return context;
}

Status RpcError(const std::string& address, const grpc::Status& status, const std::string& what) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return Status::IoError(
        "cannot reach the orchestrator at " + address +
        " (is it running, and are the credentials from its CA?): " + status.error_message());
  }
  return worker::FromGrpc(status, what);
}

Result<worker::Bytes> CoordinatorEndpoint::Challenge() { return Unsupported(); }

Result<worker::Bytes> CoordinatorEndpoint::GetQuote(worker::ByteView nonce) {
  v1::CoordinatorQuoteRequest request;
  request.set_nonce(std::string(nonce.begin(), nonce.end()));
  v1::CoordinatorQuoteResponse response;
  SERDAB_RETURN_IF_ERROR(RpcError(address_,
                                  stub_->CoordinatorQuote(CallContext().get(), request, &response),
                                  "coordinator quote"));
  return worker::Bytes(response.evidence().begin(), response.evidence().end());
}

Result<uint64_t> CoordinatorEndpoint::OpenSession(worker::ByteView bytes) {
  v1::CoordinatorSessionRequest request;
  request.set_request(std::string(bytes.begin(), bytes.end()));
  v1::CoordinatorSessionResponse response;
  SERDAB_RETURN_IF_ERROR(
      RpcError(address_, stub_->CoordinatorSession(CallContext().get(), request, &response),
               "coordinator session"));
  return response.session();
}

Result<worker::Bytes> CoordinatorEndpoint::Provision(uint64_t, worker::ByteView) {
  return Unsupported();
}

Result<worker::Bytes> CoordinatorEndpoint::Process(uint64_t, uint32_t, uint64_t, uint32_t, uint64_t,
                                                   worker::ByteView) {
  return Unsupported();
}

Status CoordinatorEndpoint::CloseSession(uint64_t) { return Unsupported(); }

Result<attestation::QuoteVerifier> CoordinatorVerifier(const crypto::Ed25519PublicKey& root,
                                                       bool allow_simulation, bool allow_debug) {
  SERDAB_ASSIGN_OR_RETURN(attestation::Measurement coordinator,
                          ExpectedMeasurement(CoordinatorEnclaveConfig()));
  attestation::QuotePolicy policy;
  policy.allowed_mrenclaves = {coordinator};
  policy.allow_simulation = allow_simulation;
  policy.allow_debug = allow_debug;
  return attestation::QuoteVerifier::Create(root, policy);
}

}  // namespace serdab::cli
