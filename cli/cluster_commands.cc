// The commands that talk to an orchestrator, kubectl-style:
//   serdab apply -f plan.yaml [--dry-run]
//   serdab get workers|deployments [-o table|wide|json|yaml]
//   serdab describe deployment NAME
//   serdab delete deployment NAME
//   serdab watch [--since ID]
// Where the orchestrator is and which credentials to use come from the
// config file (cli/cli_config.h) or the flags every one of them takes.
#include <google/protobuf/util/json_util.h>
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <optional>
#include <string>

#include "cli/cli_config.h"
#include "cli/commands.h"
#include "orchestrator/deployment_plan.h"
#include "partitioner/yaml_reader.h"
#include "serdab/v1/orchestrator.grpc.pb.h"
#include "worker/grpc_daemon.h"
#include "worker/rpc_status.h"

namespace serdab::cli {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(30);

struct ConnectionFlags {
  std::string config;
  ClusterConnection connection;
};

void AddConnectionFlags(CLI::App* app, ConnectionFlags* flags) {
  app->add_option("--config", flags->config,
                  "the CLI config file (default: $SERDAB_CONFIG, else "
                  "~/.config/serdab/config.yaml)");
  app->add_option("--orchestrator", flags->connection.orchestrator,
                  "host:port of the orchestrator (overrides the config file)");
  app->add_option("--credentials", flags->connection.credentials,
                  "directory with user.crt, user.key and ca.crt (serdab ca issue-user)");
  app->add_flag("--insecure", flags->connection.insecure,
                "plaintext gRPC to a loopback orchestrator (development)");
}

struct Connection {
  std::string address;
  std::unique_ptr<v1::Orchestrator::Stub> stub;
};

Result<Connection> Connect(const ConnectionFlags& flags) {
  // gRPC's own log lines (a failed TLS handshake, say) would break the
  // one-line error contract; the failure reaches the user as a status.
  gpr_set_log_function([](gpr_log_func_args*) {});
  SERDAB_ASSIGN_OR_RETURN(ClusterConnection c,
                          ResolveClusterConnection(flags.config, flags.connection));
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          worker::MakeChannelCredentials(c.orchestrator, c.credentials, "user"));
  return Connection{c.orchestrator,
                    v1::Orchestrator::NewStub(grpc::CreateChannel(c.orchestrator, credentials))};
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  return context;
}

std::string Age(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t s = std::max<int64_t>(0, (now - unix_ms) / 1000);
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string Timestamp(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string JoinLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  std::string out;
  for (const auto& [k, v] : sorted) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "-" : out;
}

// A message as JSON or YAML (-o json|yaml), field names as in the .proto.
Result<std::string> Render(const google::protobuf::Message& message, const std::string& format) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    return Status::Internal("cannot render the reply as JSON");
  }
  if (format == "json") return json;
  // JSON is YAML; re-emitting it gives block style.
  YAML::Emitter out;
  out << YAML::Load(json);
  return std::string(out.c_str()) + "\n";
}

// Adds the connection flags, parses the command line and connects. Returns
// the exit code when the command should stop (help, a usage error, a
// connection that cannot be set up), else fills *connection.
std::optional<int> ParseAndConnect(CLI::App& app, ConnectionFlags& flags, int argc, char** argv,
                                   Connection* connection) {
  AddConnectionFlags(&app, &flags);
  if (auto code = ParseFlags(app, argc, argv)) return code;
  auto connected = Connect(flags);
  if (!connected.ok()) return ReportError(app.get_name(), connected.status(), /*usage=*/true);
  *connection = std::move(connected).value();
  return std::nullopt;
}

// `describe deployment NAME`, `delete deployment NAME`.
void AddDeploymentArguments(CLI::App& app, std::string* kind, std::string* name) {
  app.add_option("kind", *kind, "deployment")->required()->check(CLI::IsMember({"deployment"}));
  app.add_option("name", *name, "the deployment's name")->required();
}

int Failed(const std::string& command, const Connection& connection, const grpc::Status& status,
           const std::string& what) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return ReportError(command,
                       Status::IoError("cannot reach the orchestrator at " + connection.address +
                                       " (is it running, and are the credentials "
                                       "from its CA?): " +
                                       status.error_message()));
  }
  return ReportError(command, worker::FromGrpc(status, what));
}

void PrintRow(const std::vector<std::string>& cells, const std::vector<size_t>& widths) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    line += cells[i];
    if (i + 1 < cells.size()) line += std::string(widths[i] + 2 - cells[i].size(), ' ');
  }
  std::printf("%s\n", line.c_str());
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) PrintRow(row, widths);
}

}  // namespace

int RunApplyCommand(int argc, char** argv) {
  const std::string cmd = "apply";
  CLI::App app{
      "Applies the deployment plans in a YAML file (apiVersion serdab/v1, kind Deployment;\n"
      "see deploy/examples/plan.yaml). Re-applying an unchanged plan changes nothing.",
      "apply"};
  ConnectionFlags flags;
  std::string file;
  bool dry_run = false;
  app.add_option("-f,--file", file, "the plan file")->required();
  app.add_flag("--dry-run", dry_run, "validate against the cluster and report, change nothing");
  AddConnectionFlags(&app, &flags);
  if (auto code = ParseFlags(app, argc, argv)) return *code;

  // Parsed here first so that a malformed file fails before any connection,
  // with the same file:line:col errors the orchestrator would give.
  auto text = partitioner::ReadTextFile(file);
  if (!text.ok()) return ReportError(cmd, text.status());
  auto plans = orchestrator::ParseDeploymentPlans(*text, file);
  if (!plans.ok()) return ReportError(cmd, plans.status());
  auto connection = Connect(flags);
  if (!connection.ok()) return ReportError(cmd, connection.status(), /*usage=*/true);
  v1::Orchestrator::Stub* stub = connection->stub.get();
  for (size_t i = 0; i < plans->size(); ++i) {
    v1::ApplyRequest request;
    request.set_plan_yaml(*text);
    request.set_source(file);
    request.set_document(static_cast<uint32_t>(i));
    request.set_dry_run(dry_run);
    v1::ApplyResponse response;
    grpc::Status status = stub->Apply(Context().get(), request, &response);
    if (!status.ok()) return Failed(cmd, *connection, status, "apply " + (*plans)[i].name);
    const bool changes = response.result() != "unchanged";
    const std::string result =
        dry_run && changes ? "would be " + response.result() : response.result();
    std::printf("deployment/%s %s (%sgeneration %llu; workers: ", response.name().c_str(),
                result.c_str(), dry_run ? "dry run; " : "",
                static_cast<unsigned long long>(response.generation()));
    for (int w = 0; w < response.matching_workers_size(); ++w) {
      std::printf("%s%s", w == 0 ? "" : ", ", response.matching_workers(w).c_str());
    }
    std::printf(")\n");
  }
  return 0;
}

int RunGetCommand(int argc, char** argv) {
  const std::string cmd = "get";
  CLI::App app{"Lists workers or deployments.", "get"};
  ConnectionFlags flags;
  std::string kind;
  std::string output = "table";
  app.add_option("kind", kind, "workers or deployments")
      ->required()
      ->check(CLI::IsMember({"workers", "deployments"}));
  app.add_option("-o,--output", output, "table, wide, json or yaml")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "wide", "json", "yaml"}));
  Connection connection;
  if (auto code = ParseAndConnect(app, flags, argc, argv, &connection)) return *code;
  v1::Orchestrator::Stub* stub = connection.stub.get();
  const bool wide = output == "wide";

  if (kind == "workers") {
    v1::ListWorkersResponse response;
    grpc::Status status = stub->ListWorkers(Context().get(), {}, &response);
    if (!status.ok()) return Failed(cmd, connection, status, "list workers");
    if (output == "json" || output == "yaml") {
      auto text = Render(response, output);
      if (!text.ok()) return ReportError(cmd, text.status());
      std::printf("%s", text->c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"NAME", "STATE", "ADDRESS", "LABELS", "HEARTBEAT"});
    if (wide) rows.back().insert(rows.back().end(), {"EPC-MIB", "THREADS", "AES-NI", "PLATFORM"});
    for (const v1::WorkerStatus& w : response.workers()) {
      rows.push_back({w.name(), w.state(), w.address(), JoinLabels(w.labels()),
                      Age(w.last_heartbeat_unix_ms()) + " ago"});
      if (wide) {
        char epc[32];
        std::snprintf(epc, sizeof(epc), "%.1f", w.capacity().epc_bytes() / 1048576.0);
        rows.back().insert(
            rows.back().end(),
            {epc, std::to_string(w.capacity().threads()), w.capacity().aes_ni() ? "yes" : "no",
             w.platform_key().empty() ? "-" : w.platform_key().substr(0, 16)});
      }
    }
    if (response.workers().empty()) {
      std::printf("no workers registered\n");
      return 0;
    }
    PrintTable(rows);
    return 0;
  }

  v1::ListDeploymentsResponse response;
  grpc::Status status = stub->ListDeployments(Context().get(), {}, &response);
  if (!status.ok()) return Failed(cmd, connection, status, "list deployments");
  if (output == "json" || output == "yaml") {
    auto text = Render(response, output);
    if (!text.ok()) return ReportError(cmd, text.status());
    std::printf("%s", text->c_str());
    return 0;
  }
  if (response.deployments().empty()) {
    std::printf("no deployments\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "PHASE", "GENERATION", "AGE"});
  if (wide) rows.back().insert(rows.back().end(), {"READY-REASON", "PLAN"});
  for (const v1::DeploymentStatus& d : response.deployments()) {
    rows.push_back({d.name(), d.phase(), std::to_string(d.generation()), Age(d.created_unix_ms())});
    if (wide) {
      std::string reason = "-";
      for (const v1::Condition& c : d.conditions()) {
        if (c.type() == "Ready") reason = c.reason();
      }
      rows.back().insert(rows.back().end(), {reason, d.plan_digest().substr(0, 12)});
    }
  }
  PrintTable(rows);
  return 0;
}

int RunDescribeCommand(int argc, char** argv) {
  const std::string cmd = "describe";
  CLI::App app{"Shows a deployment: its conditions, plan and recent events.", "describe"};
  ConnectionFlags flags;
  std::string kind, name;
  AddDeploymentArguments(app, &kind, &name);
  Connection connection;
  if (auto code = ParseAndConnect(app, flags, argc, argv, &connection)) return *code;
  v1::Orchestrator::Stub* stub = connection.stub.get();
  v1::GetDeploymentRequest request;
  request.set_name(name);
  v1::DeploymentStatus d;
  grpc::Status status = stub->GetDeployment(Context().get(), request, &d);
  if (!status.ok()) return Failed(cmd, connection, status, "describe deployment " + name);

  std::printf("Name:         %s\n", d.name().c_str());
  std::printf("Generation:   %llu\n", static_cast<unsigned long long>(d.generation()));
  std::printf("Phase:        %s\n", d.phase().c_str());
  std::printf("Plan digest:  %s\n", d.plan_digest().c_str());
  std::printf("Created:      %s\n", Timestamp(d.created_unix_ms()).c_str());
  std::printf("Updated:      %s\n", Timestamp(d.updated_unix_ms()).c_str());
  std::printf("Conditions:\n");
  std::vector<std::vector<std::string>> rows = {{"  TYPE", "STATUS", "REASON", "MESSAGE"}};
  for (const v1::Condition& c : d.conditions()) {
    rows.push_back({"  " + c.type(), c.status(), c.reason(), c.message()});
  }
  PrintTable(rows);
  auto plan = orchestrator::DeploymentPlanFromJson(d.plan_json());
  if (plan.ok()) {
    const orchestrator::DeploymentPlan& p = *plan;
    std::printf("Model:        %s\n",
                p.model.zoo.empty() ? p.model.path.c_str() : ("zoo " + p.model.zoo).c_str());
    std::string order;
    for (const std::string& tier : p.workers.order) order += (order.empty() ? "" : ", ") + tier;
    std::printf("Tiers:        %s\n", order.c_str());
    std::printf("Max stages:   %d\n", p.placement.max_stages);
    std::printf("Attestation:  %s, %zu measurement(s)%s\n",
                p.attestation.allow_simulation ? "simulation allowed" : "hardware only",
                p.attestation.measurements.size(),
                p.attestation.any_measurement ? ", any measurement" : "");
  }
  std::printf("Workers:\n");
  if (d.attestations().empty()) std::printf("  <not attested yet>\n");
  rows = {{"  WORKER", "ENCLAVE", "ATTESTED", "MRENCLAVE", "PLATFORM", "REASON"}};
  for (const v1::WorkerAttestation& a : d.attestations()) {
    rows.push_back({"  " + a.worker(), a.enclave(), a.attested() ? "yes" : "no",
                    a.mrenclave().empty() ? "-" : a.mrenclave().substr(0, 16),
                    a.platform().empty() ? "-" : a.platform(), a.attested() ? "-" : a.reason()});
  }
  if (rows.size() > 1) PrintTable(rows);
  std::printf("Events:\n");
  if (d.recent_events().empty()) std::printf("  <none>\n");
  rows = {{"  TIME", "REASON", "MESSAGE"}};
  for (const v1::Event& e : d.recent_events()) {
    rows.push_back({"  " + Timestamp(e.unix_ms()), e.reason(), e.message()});
  }
  if (rows.size() > 1) PrintTable(rows);
  return 0;
}

int RunDeleteCommand(int argc, char** argv) {
  const std::string cmd = "delete";
  CLI::App app{"Deletes a deployment.", "delete"};
  ConnectionFlags flags;
  std::string kind, name;
  AddDeploymentArguments(app, &kind, &name);
  Connection connection;
  if (auto code = ParseAndConnect(app, flags, argc, argv, &connection)) return *code;
  v1::Orchestrator::Stub* stub = connection.stub.get();
  v1::DeleteDeploymentRequest request;
  request.set_name(name);
  v1::DeleteDeploymentResponse response;
  grpc::Status status = stub->DeleteDeployment(Context().get(), request, &response);
  if (!status.ok()) return Failed(cmd, connection, status, "delete deployment " + name);
  std::printf("deployment/%s deleted\n", name.c_str());
  return 0;
}

int RunWatchCommand(int argc, char** argv) {
  const std::string cmd = "watch";
  CLI::App app{"Prints the orchestrator's events as they happen, until interrupted.", "watch"};
  ConnectionFlags flags;
  uint64_t since = 0;
  app.add_option("--since", since, "start after this event id (default: the recent history)");
  Connection connection;
  if (auto code = ParseAndConnect(app, flags, argc, argv, &connection)) return *code;
  v1::Orchestrator::Stub* stub = connection.stub.get();
  grpc::ClientContext context;  // no deadline: a watch lasts until interrupted
  v1::WatchRequest request;
  request.set_since(since);
  auto reader = stub->Watch(&context, request);
  v1::Event e;
  while (reader->Read(&e)) {
    std::printf("%s  %-6llu %-10s %-16s %-13s %s\n", Timestamp(e.unix_ms()).c_str(),
                static_cast<unsigned long long>(e.id()), e.kind().c_str(), e.object().c_str(),
                e.reason().c_str(), e.message().c_str());
    std::fflush(stdout);
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return Failed(cmd, connection, status, "watch");
  return 0;
}

}  // namespace serdab::cli
