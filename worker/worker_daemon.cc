#include "worker/worker_daemon.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <fstream>
#include <thread>

#include "worker/node_certificates.h"
#include "worker/worker_service.h"

namespace serdab::worker {
namespace {

// The largest message a Worker call carries: a provisioned model.
constexpr int kMaxMessageBytes = 1 << 30;

}  // namespace

bool IsLoopbackAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

Status RunWorkerDaemon(const DaemonOptions& options) {
  // Block the stop signals before any thread starts (gRPC starts some as
  // soon as credentials are made), so that only the waiter below gets them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  if (options.insecure == !options.tls_dir.empty()) {
    return Status::InvalidArgument(
        "give either --tls-dir (mutual TLS, serdab ca issue-node) or --insecure (plaintext, "
        "loopback only)");
  }
  if (options.insecure && !IsLoopbackAddress(options.listen)) {
    return Status::InvalidArgument("--insecure refuses the non-loopback address " + options.listen);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_dir.empty()) {
    SERDAB_ASSIGN_OR_RETURN(TlsFiles tls, LoadTlsFiles(options.tls_dir, "node"));
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = tls.ca_certificate;
    ssl.pem_key_cert_pairs.push_back({tls.private_key, tls.certificate});
    credentials = grpc::SslServerCredentials(ssl);
  }

  std::vector<std::string> warnings;
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<WorkerCore> core,
                          WorkerCore::Open(options.worker, &warnings));
  for (const std::string& w : warnings) spdlog::warn("{}", w);
  for (const EnclaveInfo& e : core->List()) {
    spdlog::info("enclave {} mrenclave {}{}", e.name, e.mrenclave,
                 e.restored ? " (partition restored from disk)" : "");
  }

  WorkerService service(core.get(), /*authenticate=*/!options.insecure);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Status::IoError("cannot listen on " + options.listen);
  }
  spdlog::info("serving the Worker service on {} (port {}), {}", options.listen, port,
               options.insecure ? "plaintext on loopback" : "mutual TLS");
  if (!options.port_file.empty()) {
    std::ofstream(options.port_file) << port << "\n";
  }
  sd_notify(0, "READY=1");

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop, &sig);
    spdlog::info("signal {}: shutting down", sig);
    sd_notify(0, "STOPPING=1");
    server->Shutdown();
  });
  server->Wait();
  waiter.join();
  return Status::Ok();
}

}  // namespace serdab::worker
