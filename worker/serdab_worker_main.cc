// serdab-worker: the daemon on each edge box that hosts sim enclaves and
// relays ciphertext to them. Thin: flags here, everything else in
// worker/worker_daemon.h.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "worker/cpu_info.h"
#include "worker/peer_link.h"
#include "worker/worker_daemon.h"

int main(int argc, char** argv) {
  serdab::worker::TuneAllocatorForLargeMessages();
  serdab::worker::DaemonOptions options;
  std::string log_level = "info";
  CLI::App app{
      "serdab-worker: hosts sim enclaves on this machine and serves them over gRPC.\n"
      "Enclaves and the sealed partitions their owners provisioned are kept in\n"
      "--state-dir and restored at start-up. A sim enclave protects nothing from\n"
      "this machine's administrator (see SECURITY.md)."};
  app.add_option("--platform", options.worker.platform_dir,
                 "this host's platform directory (serdab ca issue-platform)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--state-dir", options.worker.state_dir,
                 "where enclaves and sealed partitions are kept")
      ->required();
  app.add_option("--listen", options.listen.listen, "host:port to serve on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--tls-dir", options.listen.tls_dir,
                 "mutual TLS: node.crt, node.key and ca.crt (serdab ca issue-node)")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--insecure", options.listen.insecure,
               "serve plaintext gRPC instead (development; loopback addresses only)");
  app.add_option("--port-file", options.listen.port_file, "write the bound port here once serving");
  app.add_option("--max-enclaves", options.worker.max_enclaves, "enclaves this worker hosts")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--queue-depth", options.data_plane.queue_depth,
                 "frames that may wait for each enclave on the data plane")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--threads", options.threads,
                 "threads each enclave computes with (default: the CPUs this process may run "
                 "on); the orchestrator profiles and plans with this many")
      ->check(CLI::Range(1, 256));
  std::vector<std::string> labels;
  double epc_mib = 93.5;
  auto* orchestrator =
      app.add_option("--orchestrator", options.link.orchestrator,
                     "host:port of the orchestrator to register with and heartbeat to");
  app.add_option("--advertise", options.link.advertise,
                 "host:port the orchestrator reaches this worker at (default: the --listen "
                 "host and the bound port)")
      ->needs(orchestrator);
  app.add_option("--label", labels,
                 "a label for plans to select this worker by, KEY=VALUE "
                 "(repeatable), e.g. --label tier=edge --label site=home")
      ->needs(orchestrator)
      ->check([](const std::string& v) {
        const size_t eq = v.find('=');
        return eq == std::string::npos || eq == 0 || eq + 1 == v.size()
                   ? std::string("expected KEY=VALUE")
                   : std::string();
      });
  app.add_option("--name", options.link.name,
                 "the name to register under with --insecure (with TLS it is the "
                 "certificate's)")
      ->needs(orchestrator);
  app.add_option("--epc-mib", epc_mib, "the EPC an enclave here gets, reported as capacity")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1048576.0));
  app.add_option("--metrics-addr", options.metrics_addr,
                 "HOST:PORT to serve Prometheus metrics on at /metrics (plain HTTP; port 0: any "
                 "free port)");
  std::string scheduling = "batch";
  app.add_option("--scheduling", scheduling,
                 "the Linux scheduling policy of the daemon's threads: batch (a thread that "
                 "wakes for a message does not preempt an enclave mid-frame; more frames per "
                 "second on a busy core) or other (the kernel's default)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));
  // Before any thread starts, so that every one inherits it.
  const auto policy = serdab::worker::ParseSchedulingPolicy(scheduling);
  if (serdab::Status s =
          policy.ok() ? serdab::worker::SetSchedulingPolicy(*policy) : policy.status();
      !s.ok()) {
    spdlog::error("--scheduling {}: {}", scheduling, s.message());
    return 1;
  }
  for (const std::string& label : labels) {
    const size_t eq = label.find('=');
    options.link.labels[label.substr(0, eq)] = label.substr(eq + 1);
  }
  options.link.capacity.set_epc_bytes(static_cast<uint64_t>(epc_mib * 1048576.0));
  try {
    serdab::Status s = serdab::worker::RunWorkerDaemon(options);
    if (!s.ok()) {
      spdlog::error("{}", s.message());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("serdab-worker failed: {}", e.what());
    return 1;
  }
}
