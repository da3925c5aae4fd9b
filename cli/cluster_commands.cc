// The commands that talk to an orchestrator, kubectl-style:
//   serdab apply -f plan.yaml [--dry-run] [--wait [--timeout S]]
//   serdab get workers|deployments [-o table|wide|json|yaml]
//   serdab describe deployment NAME
//   serdab delete deployment NAME
//   serdab watch [--since ID]
// Where the orchestrator is and which credentials to use come from the
// config file (cli/cli_config.h) or the flags every one of them takes.
#include <google/protobuf/util/json_util.h>
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "cli/cli_config.h"
#include "cli/cluster_connection.h"
#include "cli/commands.h"
#include "cli/enclave_client.h"
#include "cli/local_enclave.h"
#include "cli/zoo/model_zoo.h"
#include "enclave/attestation/coordination.h"
#include "enclave/attestation/platform.h"
#include "enclave/crypto/keys.h"
#include "enclave/engine/onnx_importer.h"
#include "enclave/engine/onnx_wire.h"
#include "orchestrator/deployment_plan.h"
#include "partitioner/yaml_reader.h"
#include "serdab/v1/orchestrator.grpc.pb.h"
#include "worker/grpc_daemon.h"
#include "worker/rpc_status.h"

namespace serdab::cli {
namespace {

// An apply profiles a new model on the workers before it answers.
constexpr auto kApplyTimeout = std::chrono::minutes(15);

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
  return ReportError(command, RpcError(connection.address, status, what));
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

// The model a plan names: a zoo model built with its seed, or an ONNX file
// (relative to the plan file), checked against the plan's sha256.
Result<crypto::Bytes> LoadPlanModel(const orchestrator::DeploymentPlan& plan,
                                    const std::string& plan_file) {
  crypto::Bytes bytes;
  if (!plan.model.zoo.empty()) {
    zoo::ZooOptions options;
    options.pixel_input = plan.model.pixel_input;
    SERDAB_ASSIGN_OR_RETURN(std::string built,
                            zoo::BuildModel(plan.model.zoo, plan.model.seed, options));
    bytes.assign(built.begin(), built.end());
  } else {
    const std::filesystem::path path(BesidePlanFile(plan.model.path, plan_file));
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return orchestrator::PlanFieldError(plan, "model.path",
                                          "cannot read the model file " + path.string());
    }
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string sha256 = crypto::HexEncode(crypto::Sha256(bytes));
  if (!plan.model.sha256.empty() && plan.model.sha256 != sha256) {
    return orchestrator::PlanFieldError(plan, "model.sha256",
                                        "the model's SHA-256 is " + sha256 + ", not this one");
  }
  return bytes;
}

// The plan's model.input against the input the model declares (its first
// graph input that is not an initializer): the type the client will send,
// and the shape where both give one. A mismatch would have every frame
// refused by the first stage, so it is refused here, at the plan's field.
Status CheckPlanModelInput(const orchestrator::DeploymentPlan& plan, const crypto::Bytes& bytes) {
  SERDAB_ASSIGN_OR_RETURN(const engine::onnx_wire::ModelProto model,
                          engine::onnx_wire::DecodeModel(std::string_view(
                              reinterpret_cast<const char*>(bytes.data()), bytes.size())));
  std::set<std::string_view> initializers;
  for (const auto& init : model.graph.initializer) initializers.insert(init.name);
  const engine::onnx_wire::ValueInfoProto* input = nullptr;
  for (const auto& in : model.graph.input) {
    if (initializers.count(in.name) == 0) {
      input = &in;
      break;
    }
  }
  if (input == nullptr || !input->type.has_tensor_type) return Status::Ok();  // the engine says
  const auto& type = input->type.tensor_type;
  const bool pixels = type.elem_type == engine::onnx_wire::TensorProto::kUint8;
  if (pixels != plan.model.pixel_input) {
    return orchestrator::PlanFieldError(
        plan, "model.input.type",
        "the model's input '" + std::string(input->name) + "' is " +
            (pixels ? "uint8 pixels: give model.input.type: uint8 (and no preprocess mean/std)"
                    : std::string(engine::onnx_wire::DataTypeName(type.elem_type)) +
                          ", not uint8 pixels: drop model.input.type: uint8"));
  }
  const std::vector<int64_t>& shape = plan.model.input_shape;
  bool matches = !type.has_shape || shape.empty() || shape.size() == type.shape.dim.size();
  for (size_t d = 0; matches && type.has_shape && d < shape.size(); ++d) {
    const auto& dim = type.shape.dim[d];
    matches = !dim.has_dim_value || dim.dim_value <= 0 || dim.dim_value == shape[d];
  }
  if (!matches) {
    std::string declared;
    for (const auto& dim : type.shape.dim) {
      declared += (declared.empty() ? "" : ", ") +
                  (dim.has_dim_value ? std::to_string(dim.dim_value) : std::string("?"));
    }
    return orchestrator::PlanFieldError(
        plan, "model.input.shape",
        "the model's input '" + std::string(input->name) + "' is [" + declared + "]");
  }
  return Status::Ok();
}

// Attests the coordinator enclave (its measurement must be this build's
// coordinator's, its platform certified by the deployment root, simulation
// and debug as the plan allows them) and seals the plan's grant, with the
// model, in a session signed by the owner key.
Status SealGrant(const orchestrator::DeploymentPlan& plan, const crypto::Bytes& model,
                 const ClusterConnection& resolved, v1::Orchestrator::Stub* stub,
                 v1::ApplyRequest* request) {
  if (resolved.root.empty() || resolved.owner_dir.empty()) {
    return Status::InvalidArgument(
        "no attestation root or owner key: give --root ROOT.PUB and --owner DIR, or credentials "
        "from serdab ca issue-user (which holds both)");
  }
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519PublicKey root,
                          attestation::LoadRootPublicKey(resolved.root));
  SERDAB_ASSIGN_OR_RETURN(attestation::ModelOwnerKey owner,
                          attestation::ModelOwnerKey::Load(resolved.owner_dir));
  SERDAB_ASSIGN_OR_RETURN(
      attestation::QuoteVerifier verifier,
      CoordinatorVerifier(root, plan.attestation.allow_simulation, plan.attestation.allow_debug));
  CoordinatorEndpoint endpoint(stub, resolved.orchestrator);
  auto client = EnclaveClient::AttestCoordinator(&endpoint, verifier, owner.key());
  if (!client.ok() && client.status().code() == Status::Code::kIoError) return client.status();
  if (!client.ok()) return client.status().WithContext("the coordinator enclave");
  SERDAB_ASSIGN_OR_RETURN(attestation::QuotePolicy workers, orchestrator::WorkerQuotePolicy(plan));
  attestation::DeploymentGrant grant;
  grant.deployment = plan.name;
  grant.root = root;
  grant.workers = std::move(workers);
  grant.model = model;
  crypto::Bytes plaintext = attestation::SerializeDeploymentGrant(grant);
  crypto::SecureWipe(grant.model.data(), grant.model.size());
  auto message = (*client)->SealOwnerMessage(plaintext);
  crypto::SecureWipe(plaintext.data(), plaintext.size());
  if (!message.ok()) return message.status();
  request->set_coordinator_session((*client)->session());
  request->set_grant(std::string(message->begin(), message->end()));
  return Status::Ok();
}

// Follows a deployment's events until it is Ready (0), or a rollout fails
// or the time runs out (1).
int WaitUntilReady(const std::string& cmd, const Connection& connection, const std::string& name,
                   int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  uint64_t last_event = 0;
  bool first = true;
  while (true) {
    v1::GetDeploymentRequest request;
    request.set_name(name);
    v1::DeploymentStatus status;
    grpc::Status rpc = connection.stub->GetDeployment(CallContext().get(), request, &status);
    if (!rpc.ok()) return Failed(cmd, connection, rpc, "get deployment " + name);
    for (const v1::Event& e : status.recent_events()) {
      if (e.id() <= last_event) continue;
      last_event = e.id();
      // The history before this apply is not progress.
      if (!first) {
        std::printf("deployment/%s: %s: %s\n", name.c_str(), e.reason().c_str(),
                    e.message().c_str());
      }
    }
    first = false;
    std::fflush(stdout);
    std::string reason;
    for (const v1::Condition& c : status.conditions()) {
      if (c.type() == "Ready") reason = c.reason();
    }
    if (status.phase() == "Ready") {
      const int stages =
          status.stages_size() == 0
              ? 0
              : static_cast<int>(status.stages(status.stages_size() - 1).index()) + 1;
      std::printf("deployment/%s Ready: %d stages, predicted %.1f fps\n", name.c_str(), stages,
                  status.predicted_fps());
      return 0;
    }
    if (reason == "PlacementFailed" || reason == "ProvisionFailed" || reason == "WiringFailed" ||
        reason == "NoAttestedWorker") {
      std::string message;
      for (const v1::Condition& c : status.conditions()) {
        if (c.type() == "Ready") message = c.message();
      }
      return ReportError(cmd, Status::FailedPrecondition("deployment " + name + " is not Ready (" +
                                                         reason + "): " + message));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return ReportError(cmd,
                         Status::FailedPrecondition("deployment " + name + " is not Ready after " +
                                                    std::to_string(timeout_s) + " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace

int RunApplyCommand(int argc, char** argv) {
  const std::string cmd = "apply";
  CLI::App app{
      "Applies the deployment plans in a YAML file (apiVersion serdab/v1, kind Deployment;\n"
      "see deploy/examples/plan.yaml). The model's architecture (no weights) goes to the\n"
      "orchestrator, which profiles it on the matching workers and places it; the model\n"
      "itself goes only to the orchestrator's coordinator enclave, sealed in a session\n"
      "with it after its quote verified against the deployment root and this build's\n"
      "coordinator measurement. Re-applying an unchanged plan changes nothing.",
      "apply"};
  ConnectionFlags flags;
  std::string file;
  bool dry_run = false;
  bool wait = false;
  int timeout_s = 600;
  app.add_option("-f,--file", file, "the plan file")->required();
  app.add_flag("--dry-run", dry_run,
               "validate and place against the cluster and print the placement, change nothing");
  app.add_flag("--wait", wait,
               "show progress until every deployment is Ready, or fail with the reason");
  app.add_option("--timeout", timeout_s, "seconds --wait waits at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_option("--root", flags.connection.root,
                 "the attestation root's root.pub (default: in the credentials directory)");
  app.add_option("--owner", flags.connection.owner_dir,
                 "the directory of the model owner key owner.key (default: the credentials "
                 "directory)");
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
  for (size_t i = 0; i < plans->size(); ++i) {
    const orchestrator::DeploymentPlan& plan = (*plans)[i];
    auto model = LoadPlanModel(plan, file);
    if (!model.ok()) return ReportError(cmd, model.status());
    if (Status s = CheckPlanModelInput(plan, *model); !s.ok()) return ReportError(cmd, s);
    v1::ApplyRequest request;
    request.set_plan_yaml(*text);
    request.set_source(file);
    request.set_document(static_cast<uint32_t>(i));
    request.set_dry_run(dry_run);
    request.set_model_sha256(crypto::HexEncode(crypto::Sha256(*model)));
    auto architecture = engine::ArchitectureOnly(
        std::string_view(reinterpret_cast<const char*>(model->data()), model->size()));
    if (!architecture.ok()) return ReportError(cmd, architecture.status());
    request.set_architecture(std::move(*architecture));
    if (!dry_run) {
      if (Status s =
              SealGrant(plan, *model, connection->resolved, connection->stub.get(), &request);
          !s.ok()) {
        return ReportError(cmd, s);
      }
    }
    crypto::SecureWipe(model->data(), model->size());
    // Progress for people: errors stay one line on stderr for scripts.
    if (wait || isatty(STDERR_FILENO)) {
      std::fprintf(stderr, "deployment/%s: profiling and placing on the cluster...\n",
                   plan.name.c_str());
    }
    v1::ApplyResponse response;
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + kApplyTimeout);
    grpc::Status status = connection->stub->Apply(context.get(), request, &response);
    if (!status.ok()) return Failed(cmd, *connection, status, "apply " + plan.name);
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
    if (dry_run && !response.placement().empty()) {
      std::printf("%s", response.placement().c_str());
      std::printf("predicted: %.1f fps, %.1f ms per frame\n", response.predicted_fps(),
                  response.predicted_latency_ms());
    }
  }
  if (!wait || dry_run) return 0;
  for (const orchestrator::DeploymentPlan& plan : *plans) {
    if (int code = WaitUntilReady(cmd, *connection, plan.name, timeout_s); code != 0) return code;
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
    grpc::Status status = stub->ListWorkers(CallContext().get(), {}, &response);
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
  grpc::Status status = stub->ListDeployments(CallContext().get(), {}, &response);
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
  rows.push_back({"NAME", "PHASE", "GENERATION", "STAGES", "PREDICTED-FPS", "AGE"});
  if (wide) rows.back().insert(rows.back().end(), {"READY-REASON", "PLAN"});
  for (const v1::DeploymentStatus& d : response.deployments()) {
    char fps[32] = "-";
    if (d.stages_size() > 0) std::snprintf(fps, sizeof(fps), "%.1f", d.predicted_fps());
    std::string workers;
    for (const v1::Stage& s : d.stages()) workers += (workers.empty() ? "" : ",") + s.worker();
    rows.push_back({d.name(), d.phase(), std::to_string(d.generation()),
                    d.stages().empty() ? "-" : workers, fps, Age(d.created_unix_ms())});
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
  CLI::App app{
      "Shows a deployment: its conditions, plan, stages (worker, layers, the enclave the\n"
      "coordinator attested and provisioned, predicted time), the last rollout's timings,\n"
      "each worker's attestation and recent events.",
      "describe"};
  ConnectionFlags flags;
  std::string kind, name;
  AddDeploymentArguments(app, &kind, &name);
  Connection connection;
  if (auto code = ParseAndConnect(app, flags, argc, argv, &connection)) return *code;
  v1::Orchestrator::Stub* stub = connection.stub.get();
  v1::GetDeploymentRequest request;
  request.set_name(name);
  v1::DeploymentStatus d;
  grpc::Status status = stub->GetDeployment(CallContext().get(), request, &d);
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
  if (!d.coordinator_mrenclave().empty()) {
    std::printf("Coordinator:  enclave %s\n", d.coordinator_mrenclave().c_str());
  }
  std::printf("Stages:");
  if (d.stages().empty()) {
    std::printf("\n  <not placed yet>\n");
  } else {
    std::printf("       rollout %llu, predicted %.1f fps, %.1f ms per frame\n",
                static_cast<unsigned long long>(d.rollout()), d.predicted_fps(),
                d.predicted_latency_ms());
    rows = {
        {"  STAGE", "WORKER", "ENCLAVE", "LAYERS", "PREDICTED", "WEIGHTS", "STATE", "MRENCLAVE"}};
    for (int i = 0; i < d.stages_size(); ++i) {
      const v1::Stage& s = d.stages(i);
      char predicted[32];
      std::snprintf(predicted, sizeof(predicted), "%.2f ms", s.predicted_ms());
      const std::string layers = "[" + std::to_string(s.begin()) + ", " +
                                 (s.end() < 0 ? std::string("end") : std::to_string(s.end())) + ")";
      // A replicated stage's rows say which replica each is, a sharded
      // stage's which shard of how many.
      const bool replicated =
          s.replica() > 0 || (i + 1 < d.stages_size() && d.stages(i + 1).index() == s.index());
      const std::string stage =
          std::to_string(s.index()) +
          (s.shards() > 1 ? " s" + std::to_string(s.replica()) + "/" + std::to_string(s.shards())
                          : (replicated ? " r" + std::to_string(s.replica()) : ""));
      std::string weights = s.weight_residency().empty() ? "-" : s.weight_residency();
      if (s.streamed_weight_bytes() > 0) {
        char streamed[48];
        std::snprintf(streamed, sizeof(streamed), ", %.1f MiB/frame",
                      static_cast<double>(s.streamed_weight_bytes()) / (1 << 20));
        weights += streamed;
      }
      rows.push_back({"  " + stage, s.worker(), s.enclave(), layers, predicted, weights,
                      s.state() + (s.message().empty() ? "" : ": " + s.message()),
                      s.mrenclave().empty() ? "-" : s.mrenclave().substr(0, 16)});
    }
    PrintTable(rows);
    const v1::RolloutTimings& t = d.timings();
    std::printf("Rollout:      profile %.0f ms, solve %.1f ms, attest %.0f ms, provision %.0f ms\n",
                t.profile_ms(), t.solve_ms(), t.attest_ms(), t.provision_ms());
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
  grpc::Status status = stub->DeleteDeployment(CallContext().get(), request, &response);
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
