#include "orchestrator/reconciler.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "cli/enclave_client.h"
#include "cli/local_enclave.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/quote.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/crypto/keys.h"
#include "orchestrator/coordinator_host.h"
#include "orchestrator/deployment_plan.h"
#include "serdab/v1/orchestrator.pb.h"
#include "worker/grpc_daemon.h"
#include "worker/remote_enclave.h"
#include "worker/rpc_status.h"

namespace serdab::orchestrator {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(10);
constexpr int64_t kRetryMs = 30000;
// Enclaves run this cost profile unless a plan says otherwise; it is part of
// the measurement (`serdab enclave measure --epc-mib N` prints the same).
constexpr char kCostProfile[] = "sgx1";

// The coordinator's sessions with a rollout's stages, closed when the
// rollout ends, wired or failed (see StageSession).
struct RolloutSessions {
  ~RolloutSessions() {
    for (const StageSession& s : list) (void)s.enclave->CloseSession(s.session);
  }
  std::vector<StageSession> list;
};

// Which shard of its layer a stage's enclave computes (the whole layer range
// when the stage is not sharded).
engine::LayerShard ShardOf(const StageRecord& stage) {
  return stage.shards > 1 ? engine::LayerShard{stage.replica, stage.shards} : engine::LayerShard{};
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  return context;
}

// The enclave configuration a worker's enclave for a deployment runs with:
// the worker's EPC, the default cost profile.
std::string EnclaveConfigFor(const WorkerRecord& worker) {
  return cli::LocalEnclaveConfig(static_cast<double>(WorkerEpcBytes(worker)) / (1024.0 * 1024.0),
                                 kCostProfile);
}

// What changed from `before` to `after`: "+edge-3 -cloud-1".
std::string Changes(const std::vector<std::string>& before, const std::vector<std::string>& after) {
  std::string out;
  for (const std::string& name : after) {
    if (std::find(before.begin(), before.end(), name) == before.end()) out += " +" + name;
  }
  for (const std::string& name : before) {
    if (std::find(after.begin(), after.end(), name) == after.end()) out += " -" + name;
  }
  return out.empty() ? "reordered" : out.substr(1);
}

}  // namespace

Result<std::shared_ptr<v1::Worker::StubInterface>> Reconciler::Stub(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = stubs_.find(address);
  if (it != stubs_.end()) return it->second;
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          worker::MakeChannelCredentials(address, options_.tls_dir, "node"));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(1 << 30);
  args.SetMaxSendMessageSize(1 << 30);
  std::shared_ptr<v1::Worker::StubInterface> stub =
      v1::Worker::NewStub(grpc::CreateCustomChannel(address, credentials, args));
  stubs_[address] = stub;
  return stub;
}

AttestationRecord Reconciler::Attest(const WorkerRecord& worker, const std::string& enclave,
                                     const attestation::QuoteVerifier& verifier) {
  AttestationRecord record;
  record.worker = worker.name;
  record.enclave = enclave;
  auto fail = [&](const std::string& why) {
    record.attested = false;
    record.reason = why;
    return record;
  };
  auto stub = Stub(worker.address);
  if (!stub.ok()) return fail(stub.status().message());

  // The worker's enclave for this deployment: reused when it exists (the
  // worker keeps it across restarts), created otherwise.
  v1::ListEnclavesResponse list;
  grpc::Status status = (*stub)->ListEnclaves(Context().get(), {}, &list);
  if (!status.ok()) return fail("cannot list its enclaves: " + status.error_message());
  bool exists = false;
  for (const v1::EnclaveSummary& e : list.enclaves()) {
    if (e.enclave() == enclave) {
      exists = true;
      record.mrenclave = e.mrenclave();
    }
  }
  if (!exists) {
    v1::CreateEnclaveRequest create;
    create.set_enclave(enclave);
    create.set_config(EnclaveConfigFor(worker));
    v1::CreateEnclaveResponse created;
    status = (*stub)->CreateEnclave(Context().get(), create, &created);
    if (!status.ok()) return fail("cannot create its enclave: " + status.error_message());
    record.mrenclave = created.mrenclave();
  }

  auto nonce = attestation::NewNonce();
  if (!nonce.ok()) return fail(nonce.status().message());
  v1::GetQuoteRequest quote_request;
  quote_request.set_enclave(enclave);
  quote_request.set_nonce(std::string(nonce->begin(), nonce->end()));
  v1::GetQuoteResponse quote;
  status = (*stub)->GetQuote(Context().get(), quote_request, &quote);
  if (!status.ok()) return fail("no quote: " + status.error_message());
  const std::string& bytes = quote.evidence();
  auto evidence = attestation::ParseEvidence(
      crypto::ByteView(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  if (!evidence.ok()) return fail("unreadable evidence: " + evidence.status().message());
  auto verified = verifier.Verify(evidence->quote, *nonce, evidence->binding);
  if (!verified.ok()) return fail("quote refused: " + verified.status().message());
  record.mrenclave = crypto::HexEncode(verified->identity.mrenclave);
  record.platform = verified->platform_id;
  record.instance = crypto::HexEncode(verified->binding.instance);
  record.attested = true;
  return record;
}

Status Reconciler::Reconcile(const DeploymentRecord& deployment,
                             const std::vector<WorkerRecord>& workers) {
  SERDAB_ASSIGN_OR_RETURN(DeploymentPlan plan, DeploymentPlanFromJson(deployment.plan_json));
  std::map<std::string, Labels> ready_labels;
  std::map<std::string, const WorkerRecord*> by_name;
  for (const WorkerRecord& w : workers) {
    by_name[w.name] = &w;
    if (w.ready) ready_labels[w.name] = w.labels;
  }
  const std::vector<std::string> matching = OrderWorkers(plan, ready_labels);
  std::set<std::string> attested_set;
  for (const AttestationRecord& a : deployment.attestations) attested_set.insert(a.worker);
  // Refusals are retried now and then: a worker that could not be reached
  // or had no room may since have recovered.
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  // A worker that registered again since its check may have restarted, and
  // restored its enclave as a new instance.
  const bool retry = std::any_of(
      deployment.attestations.begin(), deployment.attestations.end(),
      [&](const AttestationRecord& a) {
        const auto w = by_name.find(a.worker);
        const bool reregistered = w != by_name.end() && w->second->registered_ms > a.checked_ms;
        return reregistered || (!a.attested && now_ms - a.checked_ms > kRetryMs);
      });
  const bool current = deployment.attested_generation == deployment.generation &&
                       attested_set == std::set<std::string>(matching.begin(), matching.end());
  if (current && !retry) return Rollout(deployment, plan, workers);

  // A Ready worker the plan no longer selects loses the deployment's
  // enclave. (One that is NotReady keeps it until it matches again; the
  // worker restores it at start-up.)
  for (const AttestationRecord& a : deployment.attestations) {
    const auto w = by_name.find(a.worker);
    if (w == by_name.end() || !w->second->ready ||
        std::find(matching.begin(), matching.end(), a.worker) != matching.end()) {
      continue;
    }
    if (Status s = DestroyEnclave(*w->second, a.enclave); !s.ok()) {
      spdlog::warn("deployment {}: {}", deployment.name, s.message());
    }
  }

  // The plan was validated when it was applied, so its policy builds.
  SERDAB_ASSIGN_OR_RETURN(attestation::QuotePolicy policy, WorkerQuotePolicy(plan));
  SERDAB_ASSIGN_OR_RETURN(attestation::QuoteVerifier verifier,
                          attestation::QuoteVerifier::Create(options_.root, policy));
  std::vector<AttestationRecord> records;
  for (const std::string& name : matching) {
    AttestationRecord record = Attest(*by_name[name], deployment.name, verifier);
    if (!record.attested) {
      spdlog::warn("deployment {}: worker {} gets no partition: {}", deployment.name, name,
                   record.reason);
    }
    records.push_back(std::move(record));
  }
  SERDAB_RETURN_IF_ERROR(
      core_->RecordAttestations(deployment.name, deployment.generation, std::move(records)));
  SERDAB_ASSIGN_OR_RETURN(DeploymentView updated, core_->GetDeployment(deployment.name));
  return Rollout(updated.record, plan, workers);
}

Status Reconciler::Rollout(const DeploymentRecord& deployment, const DeploymentPlan& plan,
                           const std::vector<WorkerRecord>& workers) {
  DeploymentPlanner* planner = core_->planner();
  CoordinatorHost* coordinator = core_->coordinator();
  if (planner == nullptr || coordinator == nullptr || deployment.architecture_sha256.empty() ||
      deployment.attested_generation != deployment.generation) {
    return Status::Ok();
  }
  // The attested Ready workers, in the plan's tier order.
  std::map<std::string, const WorkerRecord*> ready;
  for (const WorkerRecord& w : workers) {
    if (w.ready) ready[w.name] = &w;
  }
  std::vector<WorkerRecord> candidates;
  std::vector<std::string> names;
  for (const AttestationRecord& a : deployment.attestations) {
    if (a.attested && ready.count(a.worker)) {
      candidates.push_back(*ready[a.worker]);
      names.push_back(a.worker);
    }
  }
  const RolloutRecord& current = deployment.rollout;
  // A stage is up while its worker is Ready and still runs the enclave
  // instance the coordinator provisioned (a restarted worker restores its
  // partition into a new instance, which its neighbours are not routed to).
  std::map<std::string, std::string> instances;
  for (const AttestationRecord& a : deployment.attestations) {
    if (a.attested) instances[a.worker] = a.instance;
  }
  const bool stages_up =
      !current.stages.empty() &&
      std::all_of(current.stages.begin(), current.stages.end(), [&](const StageRecord& s) {
        return ready.count(s.worker) && instances.count(s.worker) &&
               instances[s.worker] == s.instance;
      });
  const bool rolled_out = current.generation == deployment.generation && current.ready_ms != 0;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  if (rolled_out && stages_up && current.candidates == names) {
    // Nothing to do, unless its workers were away and are back (the
    // enclaves kept their partitions and routes): Ready again.
    return deployment.phase == "Ready"
               ? Status::Ok()
               : core_->RecordRollout(
                     deployment.name, deployment.generation, current, true, "Ready",
                     "every stage's worker is back; " + DescribeStages(current.stages) +
                         " provisioned and wired");
  }
  const bool stage_workers_back =
      !current.stages.empty() &&
      std::all_of(current.stages.begin(), current.stages.end(), [&](const StageRecord& s) {
        return ready.count(s.worker) && instances.count(s.worker);
      });
  if (rolled_out && !stages_up && stage_workers_back && current.candidates == names) {
    // A stage's worker restarted: its new enclave instance restored the
    // partition it kept sealed. Wiring it again is enough; the model is
    // sent again only if that fails.
    Status s = Rewire(deployment, current, ready);
    if (s.ok()) return s;
    spdlog::warn("deployment {}: {}; provisioning again", deployment.name, s.message());
  }
  if (candidates.empty()) {
    // Keep the placement: its workers may come back as they were.
    if (deployment.phase != "Ready") return Status::Ok();
    return core_->RecordRollout(deployment.name, deployment.generation, current, false,
                                "NoAttestedWorker",
                                "no matching Ready worker has an enclave that passed attestation");
  }
  const bool retry = current.ready_ms == 0 && current.generation == deployment.generation &&
                     now_ms - current.started_ms < kRetryMs && current.candidates == names;
  if (retry) return Status::Ok();

  // Why it rolls out again, for the deployment's events.
  std::string cause;
  if (current.generation != deployment.generation) {
    cause = "generation " + std::to_string(deployment.generation);
  } else if (current.ready_ms == 0) {
    cause = "the last rollout failed";
  } else if (current.candidates != names) {
    cause = "attested Ready workers " + Changes(current.candidates, names);
  } else {
    cause = "a stage's worker is gone or lost its enclave";
  }
  RolloutRecord rollout;
  rollout.version = current.version + 1;
  rollout.generation = deployment.generation;
  rollout.candidates = names;
  rollout.started_ms = now_ms;
  auto fail = [&](const std::string& reason, const std::string& message) {
    spdlog::warn("deployment {}: {}", deployment.name, message);
    return core_->RecordRollout(deployment.name, deployment.generation, rollout, false, reason,
                                message);
  };

  const auto start = std::chrono::steady_clock::now();
  SERDAB_ASSIGN_OR_RETURN(std::vector<uint8_t> architecture,
                          core_->ReadArchitecture(deployment.architecture_sha256));
  auto planned = planner->Plan(plan, architecture, candidates);
  if (!planned.ok()) return fail("PlacementFailed", planned.status().message());
  rollout.profile_ms = planned->profile_ms;
  rollout.solve_ms = planned->solve_ms;
  if (current.generation != deployment.generation && current.ready_ms == 0) {
    // The first rollout of a generation: apply profiled and solved it first.
    rollout.profile_ms += current.profile_ms;
    rollout.solve_ms += current.solve_ms;
    rollout.started_ms = current.started_ms;
  }
  rollout.predicted_fps = std::isfinite(planned->placement.fps) ? planned->placement.fps : 0;
  rollout.predicted_latency_ms = planned->placement.latency_ms;
  rollout.stages = PlannedStages(*planned, deployment.name);
  const std::string placed = "placed on " + DescribeStages(rollout.stages) + " (rollout " +
                             std::to_string(rollout.version) + ", for " + cause + ")";
  spdlog::info("deployment {}: {}", deployment.name, placed);
  SERDAB_RETURN_IF_ERROR(core_->RecordRollout(deployment.name, deployment.generation, rollout,
                                              false, "Provisioning",
                                              placed + "; the coordinator is provisioning them"));

  std::vector<std::unique_ptr<worker::RemoteEnclave>> endpoints;
  RolloutSessions sessions;
  for (StageRecord& stage : rollout.stages) {
    auto stub = Stub(ready[stage.worker]->address);
    if (!stub.ok()) return fail("ProvisionFailed", stub.status().message());
    endpoints.push_back(std::make_unique<worker::RemoteEnclave>(*stub, stage.enclave));
    auto session = coordinator->ProvisionStage(deployment.name, stage.worker + "/" + stage.enclave,
                                               endpoints.back().get(), stage.begin, stage.end,
                                               WorkerThreads(*ready[stage.worker]), rollout.version,
                                               stage.streamed_weight_bytes, ShardOf(stage));
    if (!session.ok()) {
      stage.state = "Failed";
      stage.message = session.status().message();
      return fail("ProvisionFailed", "stage on worker " + stage.worker + ": " + stage.message);
    }
    rollout.attest_ms += session->attest_ms;
    rollout.provision_ms += session->provision_ms;
    stage.mrenclave = session->mrenclave;
    stage.instance = session->instance;
    stage.state = "Provisioned";
    sessions.list.push_back(std::move(*session));
  }
  const auto wire_start = std::chrono::steady_clock::now();
  Status wired = coordinator->Wire(deployment.name, rollout.version, sessions.list);
  if (!wired.ok()) return fail("WiringFailed", wired.message());
  rollout.provision_ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wire_start)
          .count();
  rollout.ready_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  char message[256];
  std::snprintf(message, sizeof(message),
                "%s provisioned and wired (rollout %llu) in %.0f ms; predicted %.1f fps",
                DescribeStages(rollout.stages).c_str(),
                static_cast<unsigned long long>(rollout.version), total_ms, rollout.predicted_fps);
  spdlog::info("deployment {}: {}", deployment.name, message);
  return core_->RecordRollout(deployment.name, deployment.generation, std::move(rollout), true,
                              "Ready", message);
}

Status Reconciler::Rewire(const DeploymentRecord& deployment, const RolloutRecord& current,
                          const std::map<std::string, const WorkerRecord*>& ready) {
  CoordinatorHost* coordinator = core_->coordinator();
  RolloutRecord rewired = current;
  std::vector<std::unique_ptr<worker::RemoteEnclave>> endpoints;
  RolloutSessions sessions;
  std::vector<std::string> restarted;
  for (StageRecord& stage : rewired.stages) {
    SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<v1::Worker::StubInterface> stub,
                            Stub(ready.at(stage.worker)->address));
    endpoints.push_back(std::make_unique<worker::RemoteEnclave>(stub, stage.enclave));
    SERDAB_ASSIGN_OR_RETURN(
        StageSession session,
        coordinator->AdoptStage(deployment.name, stage.worker + "/" + stage.enclave,
                                endpoints.back().get(), stage.begin, stage.end, current.version,
                                ShardOf(stage)));
    if (session.instance != stage.instance) restarted.push_back(stage.worker);
    stage.instance = session.instance;
    stage.mrenclave = session.mrenclave;
    sessions.list.push_back(std::move(session));
  }
  SERDAB_RETURN_IF_ERROR(coordinator->Wire(deployment.name, current.version, sessions.list));
  std::string who;
  for (const std::string& w : restarted) who += (who.empty() ? "" : ", ") + w;
  return core_->RecordRollout(
      deployment.name, deployment.generation, std::move(rewired), true, "Rewired",
      "restarted worker(s) " + who + " restored their partitions; the stages are wired again");
}

namespace {

// A profiling enclave on a worker: a fresh enclave per layer range, owned by
// a throwaway identity, provisioned with the architecture only.
class RemoteProfilingEnclave final : public cli::ProfilingEnclave {
 public:
  RemoteProfilingEnclave(std::shared_ptr<v1::Worker::StubInterface> stub, std::string config,
                         const crypto::Bytes& architecture, int threads,
                         attestation::QuoteVerifier verifier, crypto::Ed25519KeyPair identity,
                         std::string name)
      : stub_(std::move(stub)),
        config_(std::move(config)),
        architecture_(architecture),
        threads_(threads),
        verifier_(std::move(verifier)),
        identity_(std::move(identity)),
        name_(std::move(name)) {}
  ~RemoteProfilingEnclave() override { Destroy(); }

  Result<std::string> Stats() override {
    if (!created_) SERDAB_RETURN_IF_ERROR(Create());
    v1::EnclaveRef ref;
    ref.set_enclave(name_);
    v1::StatsResponse response;
    SERDAB_RETURN_IF_ERROR(
        worker::FromGrpc(stub_->Stats(Context().get(), ref, &response), "enclave stats"));
    return response.json();
  }
  Status Provision(int begin, int end) override {
    // The enclave Stats() created is still empty: it takes the first range.
    if (!created_ || provisioned_) {
      Destroy();
      SERDAB_RETURN_IF_ERROR(Create());
    }
    provisioned_ = true;
    worker::RemoteEnclave remote(stub_, name_);
    SERDAB_ASSIGN_OR_RETURN(
        std::unique_ptr<cli::EnclaveClient> client,
        cli::EnclaveClient::Attest(&remote, verifier_, identity_, identity_.public_key()));
    cli::PartitionSpec spec;
    spec.begin = begin;
    spec.end = end;
    spec.threads = threads_;
    spec.synthetic_weights = true;
    return client->Provision(architecture_, spec).status();
  }
  Result<std::string> Profile(int repeats, bool measure_paging) override {
    v1::ProfileRequest request;
    request.set_enclave(name_);
    request.set_repeats(static_cast<uint32_t>(repeats));
    request.set_skip_paging(!measure_paging);
    v1::ProfileResponse response;
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    SERDAB_RETURN_IF_ERROR(
        worker::FromGrpc(stub_->Profile(context.get(), request, &response), "profile"));
    return response.json();
  }

 private:
  Status Create() {
    v1::CreateEnclaveRequest create;
    create.set_enclave(name_);
    create.set_config(config_);
    v1::CreateEnclaveResponse created;
    SERDAB_RETURN_IF_ERROR(worker::FromGrpc(stub_->CreateEnclave(Context().get(), create, &created),
                                            "create a profiling enclave"));
    created_ = true;
    return Status::Ok();
  }
  void Destroy() {
    if (!created_) return;
    v1::EnclaveRef ref;
    ref.set_enclave(name_);
    v1::DestroyEnclaveResponse response;
    (void)stub_->DestroyEnclave(Context().get(), ref, &response);
    created_ = false;
  }

  std::shared_ptr<v1::Worker::StubInterface> stub_;
  const std::string config_;
  const crypto::Bytes& architecture_;
  const int threads_;
  const attestation::QuoteVerifier verifier_;
  const crypto::Ed25519KeyPair identity_;
  const std::string name_;
  bool created_ = false;
  bool provisioned_ = false;
};

}  // namespace

Result<std::unique_ptr<cli::ProfilingEnclave>> Reconciler::Start(const WorkerRecord& worker,
                                                                 const crypto::Bytes& architecture,
                                                                 int threads) {
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<v1::Worker::StubInterface> stub, Stub(worker.address));
  // The profiling enclave holds no secret: any measurement, simulation and
  // debug are fine, as long as its platform is the deployment's.
  attestation::QuotePolicy policy;
  policy.allow_any_enclave = true;
  policy.allow_simulation = true;
  policy.allow_debug = true;
  SERDAB_ASSIGN_OR_RETURN(attestation::QuoteVerifier verifier,
                          attestation::QuoteVerifier::Create(options_.root, policy));
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair identity, crypto::Ed25519KeyPair::Generate());
  crypto::ByteArray<4> tag;
  SERDAB_RETURN_IF_ERROR(crypto::RandomBytes(tag));
  return std::unique_ptr<cli::ProfilingEnclave>(new RemoteProfilingEnclave(
      std::move(stub), EnclaveConfigFor(worker), architecture, threads, std::move(verifier),
      std::move(identity), "profile-" + crypto::HexEncode(tag)));
}

Status Reconciler::DestroyEnclave(const WorkerRecord& worker, const std::string& enclave) {
  if (!worker.ready) return Status::FailedPrecondition("worker " + worker.name + " is NotReady");
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<v1::Worker::StubInterface> stub, Stub(worker.address));
  v1::EnclaveRef ref;
  ref.set_enclave(enclave);
  v1::DestroyEnclaveResponse response;
  const grpc::Status status = stub->DestroyEnclave(Context().get(), ref, &response);
  if (status.ok() || status.error_code() == grpc::StatusCode::NOT_FOUND) return Status::Ok();
  return worker::FromGrpc(status, "worker " + worker.name + ": destroy enclave " + enclave);
}

Status Reconciler::Finalize(const DeploymentRecord& deployment,
                            const std::vector<WorkerRecord>& workers) {
  std::vector<std::string> pending;
  for (const AttestationRecord& a : deployment.attestations) {
    const auto w = std::find_if(workers.begin(), workers.end(),
                                [&](const WorkerRecord& r) { return r.name == a.worker; });
    if (w == workers.end()) continue;  // unregistered: nothing left to ask
    if (Status s = DestroyEnclave(*w, a.enclave); !s.ok()) {
      spdlog::warn("deployment {}: {}", deployment.name, s.message());
      pending.push_back(a.worker);
    }
  }
  // Once no enclave holds a partition, the coordinator drops the model.
  if (pending.empty() && core_->coordinator() != nullptr) {
    SERDAB_RETURN_IF_ERROR(core_->coordinator()->Forget(deployment.name));
  }
  return core_->FinishDeletion(deployment.name, pending);
}

Status Reconciler::ReconcileAll() {
  SERDAB_ASSIGN_OR_RETURN(std::vector<WorkerRecord> workers, core_->ListWorkers());
  SERDAB_ASSIGN_OR_RETURN(std::vector<DeploymentView> deployments, core_->ListDeployments());
  for (const DeploymentView& d : deployments) {
    Status s = d.record.phase == kPhaseDeleting ? Finalize(d.record, workers)
                                                : Reconcile(d.record, workers);
    if (!s.ok()) {
      spdlog::error("deployment {}: {}", d.record.name, s.message());
    }
  }
  return Status::Ok();
}

}  // namespace serdab::orchestrator
