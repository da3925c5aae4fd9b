// control_plane_latency: how long the orchestrator's calls take, over real
// mutual TLS on loopback: an OrchestratorService on a fresh state database
// with three registered workers and one applied plan, called by an admin
// certificate. Prints p50/p99/max per call kind, as a markdown table.
//
//   control_plane_latency [--calls N]
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "orchestrator/orchestrator_core.h"
#include "orchestrator/orchestrator_service.h"
#include "worker/grpc_daemon.h"
#include "worker/node_certificates.h"

namespace serdab {
namespace {

constexpr char kPlan[] = R"(apiVersion: serdab/v1
kind: Deployment
metadata: {name: lobby}
model: {zoo: resnet50}
workers: {selector: {site: home}, order: [edge, cloud]}
placement: {max_stages: 3}
attestation: {allow_simulation: true, any_measurement: true}
)";

void Check(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "control_plane_latency: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

void Check(const grpc::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "control_plane_latency: %s: %s\n", what, s.error_message().c_str());
  std::exit(1);
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

int Main(int argc, char** argv) {
  int calls = 2000;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--calls" && i + 1 < argc) {
      calls = std::max(100, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: control_plane_latency [--calls N]\n");
      return 2;
    }
  }
  char tmpl[] = "/tmp/serdab-cp-bench-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::filesystem::create_directories(dir + "/ca");
  Check(worker::CreateCertificateAuthority(dir + "/ca", "bench CA", 1), "CA");
  auto issue = [&](const std::string& name, worker::Role role, const std::string& out,
                   const std::string& stem) {
    worker::CertificateRequest request;
    request.name = name;
    request.role = role;
    request.hosts = {"127.0.0.1"};
    request.days = 1;
    Check(worker::IssueCertificate(dir + "/ca", request, dir + "/" + out, stem), "certificate");
  };
  issue("orch", worker::Role::kOrchestrator, "server", "node");
  issue("alice", worker::Role::kAdmin, "admin", "user");

  orchestrator::OrchestratorOptions options;
  options.state_dir = dir + "/state";
  auto core = orchestrator::OrchestratorCore::Open(options);
  Check(core.status(), "open");
  for (const char* name : {"edge-1", "edge-2", "cloud-1"}) {
    orchestrator::WorkerRegistration r;
    r.name = name;
    r.address = "127.0.0.1:1";
    r.labels = {{"site", "home"}, {"tier", name[0] == 'e' ? "edge" : "cloud"}};
    r.capacity_json = "{}";
    Check((*core)->RegisterWorker(r), "register");
  }
  orchestrator::OrchestratorService service(core->get(), /*authenticate=*/true);
  worker::ListenOptions listen{.listen = "127.0.0.1:0", .tls_dir = dir + "/server"};
  auto server_credentials = worker::MakeServerCredentials(listen);
  Check(server_credentials.status(), "server credentials");
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen.listen, *server_credentials, &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  const std::string target = "127.0.0.1:" + std::to_string(port);
  auto credentials = worker::MakeChannelCredentials(target, dir + "/admin", "user");
  Check(credentials.status(), "client credentials");
  auto stub = v1::Orchestrator::NewStub(grpc::CreateChannel(target, *credentials));

  v1::ApplyRequest apply;
  apply.set_plan_yaml(kPlan);
  apply.set_source("bench.yaml");
  v1::ApplyResponse applied;
  {
    grpc::ClientContext context;
    Check(stub->Apply(&context, apply, &applied), "apply");
  }

  struct Kind {
    const char* name;
    std::function<grpc::Status()> call;
  };
  std::vector<Kind> kinds = {{"get deployments (ListDeployments)",
                              [&] {
                                grpc::ClientContext c;
                                v1::ListDeploymentsResponse r;
                                return stub->ListDeployments(&c, {}, &r);
                              }},
                             {"get workers (ListWorkers)",
                              [&] {
                                grpc::ClientContext c;
                                v1::ListWorkersResponse r;
                                return stub->ListWorkers(&c, {}, &r);
                              }},
                             {"describe (GetDeployment)",
                              [&] {
                                grpc::ClientContext c;
                                v1::GetDeploymentRequest q;
                                q.set_name("lobby");
                                v1::DeploymentStatus r;
                                return stub->GetDeployment(&c, q, &r);
                              }},
                             {"apply, unchanged plan", [&] {
                                grpc::ClientContext c;
                                v1::ApplyResponse r;
                                return stub->Apply(&c, apply, &r);
                              }}};

  std::printf("| call | calls | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n");
  for (const Kind& kind : kinds) {
    for (int i = 0; i < 50; ++i) Check(kind.call(), kind.name);  // warm the channel
    std::vector<double> ms;
    ms.reserve(calls);
    for (int i = 0; i < calls; ++i) {
      const auto start = std::chrono::steady_clock::now();
      Check(kind.call(), kind.name);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::printf("| %s | %d | %.3f | %.3f | %.3f |\n", kind.name, calls, Percentile(ms, 0.5),
                Percentile(ms, 0.99), *std::max_element(ms.begin(), ms.end()));
    std::fflush(stdout);
  }
  server->Shutdown();
  std::filesystem::remove_all(dir);
  std::printf("\nOne client, sequential calls, mutual TLS on loopback, SQLite WAL state.\n");
  return 0;
}

}  // namespace
}  // namespace serdab

int main(int argc, char** argv) { return serdab::Main(argc, argv); }
