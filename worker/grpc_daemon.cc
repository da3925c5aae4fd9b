#include "worker/grpc_daemon.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <fstream>
#include <thread>

namespace serdab::worker {

bool IsLoopbackAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

sigset_t BlockStopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  return stop;
}

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ListenOptions& options) {
  if (options.insecure == !options.tls_dir.empty()) {
    return Status::InvalidArgument(
        "give either --tls-dir (mutual TLS, serdab ca issue-node) or --insecure (plaintext, "
        "loopback only)");
  }
  if (options.insecure) {
    if (!IsLoopbackAddress(options.listen)) {
      return Status::InvalidArgument("--insecure refuses the non-loopback address " +
                                     options.listen);
    }
    return grpc::InsecureServerCredentials();
  }
  SERDAB_ASSIGN_OR_RETURN(TlsFiles tls, LoadTlsFiles(options.tls_dir, "node"));
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls.ca_certificate;
  ssl.pem_key_cert_pairs.push_back({tls.private_key, tls.certificate});
  return grpc::SslServerCredentials(ssl);
}

Result<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const std::string& target,
                                                                         const std::string& tls_dir,
                                                                         const std::string& stem) {
  if (tls_dir.empty()) {
    if (!IsLoopbackAddress(target)) {
      return Status::InvalidArgument("plaintext gRPC refuses the non-loopback address " + target +
                                     " (give TLS credentials)");
    }
    return grpc::InsecureChannelCredentials();
  }
  SERDAB_ASSIGN_OR_RETURN(TlsFiles tls, LoadTlsFiles(tls_dir, stem));
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls.ca_certificate;
  ssl.pem_private_key = tls.private_key;
  ssl.pem_cert_chain = tls.certificate;
  return grpc::SslCredentials(ssl);
}

Result<PeerIdentity> VerifiedPeer(const grpc::ServerContext& context) {
  const auto auth = context.auth_context();
  const auto pem = auth == nullptr ? std::vector<grpc::string_ref>()
                                   : auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) return Status::PermissionDenied("no client certificate");
  return IdentityOfCertificate(std::string_view(pem.front().data(), pem.front().size()));
}

Status ServeUntilSignal(grpc::ServerBuilder* builder, const ListenOptions& options,
                        std::shared_ptr<grpc::ServerCredentials> credentials, const sigset_t& stop,
                        const std::string& service_name,
                        const std::function<void(int port)>& on_serving,
                        const std::function<void()>& on_stop) {
  grpc::EnableDefaultHealthCheckService(true);
  int port = 0;
  builder->AddListeningPort(options.listen, credentials, &port);
  std::unique_ptr<grpc::Server> server = builder->BuildAndStart();
  if (server == nullptr || port == 0) return Status::IoError("cannot listen on " + options.listen);
  spdlog::info("serving the {} service on {} (port {}), {}", service_name, options.listen, port,
               options.insecure ? "plaintext on loopback" : "mutual TLS");
  if (!options.port_file.empty()) std::ofstream(options.port_file) << port << "\n";
  if (on_serving) on_serving(port);
  sd_notify(0, "READY=1");

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop, &sig);
    spdlog::info("signal {}: shutting down", sig);
    sd_notify(0, "STOPPING=1");
    if (on_stop) on_stop();
    server->Shutdown();
  });
  server->Wait();
  waiter.join();
  return Status::Ok();
}

}  // namespace serdab::worker
