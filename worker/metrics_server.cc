#include "worker/metrics_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "worker/listen_address.h"

namespace serdab::metrics {
namespace {

// A scrape is one small request at a time; the library's default pool
// (at least 8 threads) would be idle weight in every daemon.
constexpr size_t kServerThreads = 2;

}  // namespace

struct MetricsServer::Impl {
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> finished{false};  // listen_after_bind returned
};

MetricsServer::MetricsServer(const Registry* registry) : registry_(registry) {}

MetricsServer::~MetricsServer() { Stop(); }

Status MetricsServer::Start(const std::string& addr) {
  if (impl_ != nullptr) return Status::FailedPrecondition("the metrics server is already started");
  SERDAB_ASSIGN_OR_RETURN(
      ListenAddress where,
      ParseListenAddress(addr, "metrics", "127.0.0.1:9464, [::1]:0 or 0.0.0.0:9464"));
  auto impl = std::make_unique<Impl>();
  impl->http.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  // SO_REUSEADDR only: the library's default, SO_REUSEPORT, would let a
  // second process bind the same port and take half the scrapes.
  impl->http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Short keep-alive and read timeouts so that Stop() waits at most a
  // couple of seconds on an idle or silent client's connection.
  impl->http.set_keep_alive_timeout(1);
  impl->http.set_read_timeout(2);
  const Registry* registry = registry_;
  impl->http.Get("/metrics", [registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry->Render(), kExpositionContentType);
  });

  errno = 0;
  const int port = where.port == 0
                       ? impl->http.bind_to_any_port(where.host)
                       : (impl->http.bind_to_port(where.host, where.port) ? where.port : -1);
  if (port < 0) {
    const int error = errno;
    return Status::IoError(
        "cannot serve metrics on " + addr + ": " +
        (error != 0 ? std::strerror(error) : "the host is not an address of this machine"));
  }
  impl->thread = std::thread([impl = impl.get()] {
    impl->http.listen_after_bind();
    impl->finished = true;
  });
  // httplib's stop() does nothing until the accept loop runs; wait for it so
  // that a Stop() right after Start() cannot leave the thread serving.
  while (!impl->http.is_running() && !impl->finished) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (impl->finished) {
    impl->thread.join();
    return Status::IoError("cannot serve metrics on " + addr + ": the listener stopped at once");
  }
  port_ = port;
  impl_ = std::move(impl);
  return Status::Ok();
}

void MetricsServer::Stop() {
  if (impl_ == nullptr) return;
  impl_->http.stop();
  impl_->thread.join();
  impl_.reset();
}

}  // namespace serdab::metrics
