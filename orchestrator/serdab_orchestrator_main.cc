// serdab-orchestrator: the control plane's daemon. Thin: flags here,
// everything else in orchestrator/orchestrator_daemon.h.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <exception>

#include "orchestrator/orchestrator_daemon.h"

int main(int argc, char** argv) {
  serdab::orchestrator::OrchestratorDaemonOptions options;
  std::string log_level = "info";
  int64_t heartbeat_timeout_ms = options.core.heartbeat_timeout.count();
  int64_t heartbeat_interval_ms = options.core.heartbeat_interval.count();
  CLI::App app{
      "serdab-orchestrator: registers worker daemons and tracks their liveness, keeps the\n"
      "deployments users apply (serdab apply) in its state database (--state-dir), profiles\n"
      "their architectures on the workers, places them, and has its coordinator enclave\n"
      "(on this box's platform, --platform-dir) attest, provision and wire the stages."};
  app.add_option("--state-dir", options.core.state_dir, "where orchestrator.db is kept")
      ->required();
  app.add_option("--root", options.root_public_key,
                 "the deployment root's public key, root.pub of serdab ca init (workers' "
                 "platforms must chain to it)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--platform-dir", options.platform_dir,
                 "this box's platform key and certificate (serdab ca issue-platform), for the "
                 "coordinator enclave")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--profile-repeats", options.profile_repeats,
                 "timed runs per layer when profiling a model on a worker")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--listen", options.listen.listen, "host:port to serve on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--tls-dir", options.listen.tls_dir,
                 "mutual TLS: node.crt, node.key and ca.crt (serdab ca issue-node --role "
                 "orchestrator)")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--insecure", options.listen.insecure,
               "serve plaintext gRPC instead (development; loopback addresses only)");
  app.add_option("--port-file", options.listen.port_file, "write the bound port here once serving");
  app.add_option("--heartbeat-interval-ms", heartbeat_interval_ms,
                 "how often workers are told to heartbeat")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  app.add_option("--heartbeat-timeout-ms", heartbeat_timeout_ms,
                 "a worker silent this long becomes NotReady")
      ->capture_default_str()
      ->check(CLI::Range(200, 3600000));
  app.add_option("--metrics-addr", options.metrics_addr,
                 "HOST:PORT to serve Prometheus metrics on at /metrics (plain HTTP; port 0: any "
                 "free port)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));
  options.core.heartbeat_interval = std::chrono::milliseconds(heartbeat_interval_ms);
  options.core.heartbeat_timeout = std::chrono::milliseconds(heartbeat_timeout_ms);
  if (options.core.heartbeat_timeout <= options.core.heartbeat_interval) {
    spdlog::error("--heartbeat-timeout-ms must exceed --heartbeat-interval-ms");
    return 2;
  }
  try {
    serdab::Status s = serdab::orchestrator::RunOrchestratorDaemon(options);
    if (!s.ok()) {
      spdlog::error("{}", s.message());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("serdab-orchestrator failed: {}", e.what());
    return 1;
  }
}
