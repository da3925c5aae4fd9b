// MetricsServer: serves a Registry's exposition text at GET /metrics over
// plain HTTP on its own thread, for Prometheus to scrape (every daemon's and
// `serdab stream`'s --metrics-addr). Any other path is 404.
//
//   metrics::Registry registry;                // lives as long as the command
//   metrics::MetricsServer server(&registry);  // declared after it: stops first
//   if (!addr.empty()) SERDAB_RETURN_IF_ERROR(server.Start(addr));
//
// Metrics carry counts and timings, never a frame, a key or a weight; still,
// bind it to loopback or a management network: HTTP here has no TLS.
#ifndef SERDAB_WORKER_METRICS_SERVER_H_
#define SERDAB_WORKER_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "enclave/common/status.h"
#include "worker/metrics.h"

namespace serdab::metrics {

// The Content-Type of text exposition format 0.0.4.
inline constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

class MetricsServer {
 public:
  // `registry` must outlive the server.
  explicit MetricsServer(const Registry* registry);
  ~MetricsServer();  // Stop()s
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds `addr` (HOST:PORT; [V6]:PORT; port 0 picks a free one) and starts
  // serving. Fails with a message naming the address when it is malformed,
  // the host does not resolve to a local address, or the port is in use.
  Status Start(const std::string& addr);
  // The bound port, once started.
  int port() const { return port_; }
  // Stops accepting, finishes the requests in flight and joins the thread.
  void Stop();

 private:
  struct Impl;  // keeps httplib.h out of this header
  const Registry* registry_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace serdab::metrics

#endif  // SERDAB_WORKER_METRICS_SERVER_H_
