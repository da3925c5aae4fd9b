#include "orchestrator/orchestrator_core.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "enclave/crypto/keys.h"
#include "orchestrator/coordinator_host.h"
#include "orchestrator/deployment_plan.h"
#include "orchestrator/deployment_planner.h"
#include "partitioner/placement_report.h"
#include "worker/state_files.h"

namespace serdab::orchestrator {
namespace {

double FiniteOr(double v, double fallback) { return std::isfinite(v) ? v : fallback; }

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sets condition `type`, keeping its change time when nothing changed.
void SetCondition(std::vector<ConditionRecord>* conditions, const std::string& type,
                  const std::string& status, const std::string& reason, const std::string& message,
                  int64_t now) {
  for (ConditionRecord& c : *conditions) {
    if (c.type != type) continue;
    if (c.status != status) c.changed_ms = now;
    c.status = status;
    c.reason = reason;
    c.message = message;
    return;
  }
  conditions->push_back({type, status, reason, message, now});
}

}  // namespace

Result<std::unique_ptr<OrchestratorCore>> OrchestratorCore::Open(const OrchestratorOptions& options,
                                                                 Clock clock) {
  if (options.state_dir.empty()) return Status::InvalidArgument("no state directory given");
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) {
    return Status::IoError("cannot create the state directory '" + options.state_dir +
                           "': " + ec.message());
  }
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store,
                          StateStore::Open(options.state_dir + "/orchestrator.db"));
  std::unique_ptr<OrchestratorCore> core(new OrchestratorCore(
      options, std::move(store), clock != nullptr ? std::move(clock) : Clock(SystemNowMs)));
  SERDAB_ASSIGN_OR_RETURN(core->last_event_, core->store_->LastEventId());
  // A restarted orchestrator gives every worker one timeout to check in:
  // the heartbeat times it held in memory are gone.
  SERDAB_ASSIGN_OR_RETURN(std::vector<WorkerRecord> workers, core->store_->ListWorkers());
  const int64_t now = core->clock_();
  for (const WorkerRecord& w : workers) core->liveness_[w.name] = {now, w.ready};
  return core;
}

Status OrchestratorCore::AddEvent(const std::string& kind, const std::string& object,
                                  const std::string& reason, const std::string& message) {
  EventRecord event;
  event.unix_ms = clock_();
  event.kind = kind;
  event.object = object;
  event.reason = reason;
  event.message = message;
  SERDAB_ASSIGN_OR_RETURN(EventRecord stored, store_->AddEvent(std::move(event)));
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    last_event_ = std::max(last_event_, stored.id);
  }
  events_cv_.notify_all();
  return Status::Ok();
}

Status OrchestratorCore::RegisterWorker(const WorkerRegistration& r) {
  std::lock_guard<std::mutex> lock(state_mu_);
  const bool known = liveness_.count(r.name) > 0;  // every stored worker is in liveness_
  const int64_t now = clock_();
  WorkerRecord w;
  w.name = r.name;
  w.address = r.address;
  w.labels = r.labels;
  w.capacity_json = r.capacity_json;
  w.platform_key = r.platform_key;
  w.registered_ms = now;
  w.last_heartbeat_ms = now;
  w.ready = true;
  SERDAB_RETURN_IF_ERROR(store_->PutWorker(w));
  liveness_[r.name] = {now, true};
  return AddEvent("Worker", r.name, known ? "Reregistered" : "Registered",
                  "worker " + r.name + " at " + r.address + " is Ready");
}

// Heartbeats touch only memory; the database is written when a worker's
// readiness changes, so a cluster's heartbeats cost no disk syncs.
Result<bool> OrchestratorCore::Heartbeat(const std::string& name) {
  std::lock_guard<std::mutex> lock(state_mu_);
  const auto it = liveness_.find(name);
  if (it == liveness_.end()) return false;
  it->second.last_heartbeat_ms = clock_();
  if (it->second.ready) return true;
  SERDAB_ASSIGN_OR_RETURN(std::optional<WorkerRecord> w, store_->GetWorker(name));
  if (!w) return false;
  w->last_heartbeat_ms = it->second.last_heartbeat_ms;
  w->ready = true;
  SERDAB_RETURN_IF_ERROR(store_->PutWorker(*w));
  it->second.ready = true;
  SERDAB_RETURN_IF_ERROR(AddEvent("Worker", name, "Ready", "heartbeats resumed"));
  return true;
}

Result<std::vector<WorkerRecord>> OrchestratorCore::ListWorkers() {
  std::lock_guard<std::mutex> lock(state_mu_);
  SERDAB_ASSIGN_OR_RETURN(std::vector<WorkerRecord> workers, store_->ListWorkers());
  for (WorkerRecord& w : workers) {
    const auto it = liveness_.find(w.name);
    if (it != liveness_.end()) w.last_heartbeat_ms = it->second.last_heartbeat_ms;
  }
  return workers;
}

Status OrchestratorCore::CheckLiveness() {
  std::lock_guard<std::mutex> lock(state_mu_);
  const int64_t now = clock_();
  const int64_t timeout = options_.heartbeat_timeout.count();
  for (auto& [name, liveness] : liveness_) {
    if (!liveness.ready || now - liveness.last_heartbeat_ms <= timeout) continue;
    SERDAB_ASSIGN_OR_RETURN(std::optional<WorkerRecord> w, store_->GetWorker(name));
    if (!w) continue;
    w->ready = false;
    w->last_heartbeat_ms = liveness.last_heartbeat_ms;
    SERDAB_RETURN_IF_ERROR(store_->PutWorker(*w));
    liveness.ready = false;
    SERDAB_RETURN_IF_ERROR(AddEvent(
        "Worker", name, "NotReady",
        "no heartbeat for " + std::to_string((now - liveness.last_heartbeat_ms) / 1000) + " s"));
  }
  return Status::Ok();
}

Result<ApplyResult> OrchestratorCore::Apply(const std::string& plan_yaml, const std::string& source,
                                            size_t document, bool dry_run,
                                            const ModelInputs& model) {
  SERDAB_ASSIGN_OR_RETURN(std::vector<DeploymentPlan> plans,
                          ParseDeploymentPlans(plan_yaml, source));
  if (document >= plans.size()) {
    return Status::InvalidArgument(source + ": holds " + std::to_string(plans.size()) +
                                   " plans, no plan number " + std::to_string(document + 1));
  }
  const DeploymentPlan& plan = plans[document];

  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  std::unique_lock<std::mutex> lock(state_mu_);
  SERDAB_ASSIGN_OR_RETURN(std::vector<WorkerRecord> workers, store_->ListWorkers());
  ApplyResult result;
  result.name = plan.name;
  std::map<std::string, Labels> ready_labels;
  for (const WorkerRecord& w : workers) {
    if (w.ready) ready_labels[w.name] = w.labels;
  }
  result.matching_workers = OrderWorkers(plan, ready_labels);
  if (result.matching_workers.empty()) {
    size_t ready = 0;
    for (const WorkerRecord& w : workers) ready += w.ready ? 1 : 0;
    return PlanFieldError(plan, "workers.selector",
                          "no Ready worker matches the selector with a tier in workers.order (" +
                              std::to_string(ready) + " of " + std::to_string(workers.size()) +
                              " registered workers are Ready)");
  }

  std::string architecture_sha256;
  double profile_ms = 0, solve_ms = 0;
  if (planner_ != nullptr) {
    if (model.architecture.empty() || model.model_sha256.empty()) {
      return Status::InvalidArgument(
          "the request carries no model architecture (serdab apply sends the model's)");
    }
    if (!dry_run && coordinator_ != nullptr && model.grant.empty()) {
      return Status::InvalidArgument(
          "the request carries no grant for the coordinator (serdab apply seals the model in "
          "an attested session with it)");
    }
    architecture_sha256 = crypto::HexEncode(crypto::Sha256(model.architecture));
    // Profiling takes seconds on a new model: the lock waits for nobody.
    std::vector<WorkerRecord> matching;
    for (const std::string& name : result.matching_workers) {
      for (const WorkerRecord& w : workers) {
        if (w.name == name) matching.push_back(w);
      }
    }
    lock.unlock();
    auto planned = planner_->Plan(plan, model.architecture, matching);
    lock.lock();
    if (!planned.ok()) return planned.status();
    profile_ms = planned->profile_ms;
    solve_ms = planned->solve_ms;
    result.stages = PlannedStages(*planned, plan.name);
    result.predicted_fps = FiniteOr(planned->placement.fps, 0);
    result.predicted_latency_ms = planned->placement.latency_ms;
    result.placement_table =
        partitioner::FormatPlacementTable(planned->problem, planned->placement);
  }
  const std::string digest = PlanDigest(plan);
  SERDAB_ASSIGN_OR_RETURN(std::optional<DeploymentRecord> existing,
                          store_->GetDeployment(plan.name));
  if (existing && existing->phase == kPhaseDeleting) {
    return Status::FailedPrecondition("deployment '" + plan.name +
                                      "' is being deleted; apply it again once it is gone");
  }
  const bool model_changed = existing && existing->model_sha256 != model.model_sha256;
  if (existing && existing->plan_digest == digest && !model_changed) {
    result.result = "unchanged";
    result.generation = existing->generation;
    if (!dry_run && coordinator_ != nullptr && !model.grant.empty()) {
      // The coordinator keeps the grant it has; one it lost is given again.
      lock.unlock();
      if (!coordinator_->HasGrant(plan.name)) {
        SERDAB_RETURN_IF_ERROR(
            coordinator_->Admit(plan.name, model.coordinator_session, model.grant));
      }
    }
    return result;
  }
  result.result = existing ? "configured" : "created";
  result.generation = existing ? existing->generation + 1 : 1;
  if (dry_run) return result;

  // Admitting a large model's grant takes seconds: heartbeats and the
  // reconciler's records do not wait for it (lifecycle_mu_ keeps other
  // applies and deletes out).
  lock.unlock();
  if (planner_ != nullptr) {
    const std::filesystem::path dir = std::filesystem::path(options_.state_dir) / "architectures";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    SERDAB_RETURN_IF_ERROR(
        worker::WriteFileAtomically(dir / (architecture_sha256 + ".onnx"), model.architecture));
  }
  if (coordinator_ != nullptr) {
    SERDAB_RETURN_IF_ERROR(coordinator_->Admit(plan.name, model.coordinator_session, model.grant)
                               .WithContext("the coordinator refused the model"));
  }
  lock.lock();
  // The reconciler may have recorded a step of the previous generation
  // meanwhile.
  SERDAB_ASSIGN_OR_RETURN(existing, store_->GetDeployment(plan.name));

  const int64_t now = clock_();
  DeploymentRecord d = existing ? *existing : DeploymentRecord{};
  d.name = plan.name;
  d.architecture_sha256 = architecture_sha256;
  d.model_sha256 = model.model_sha256;
  // The new generation's rollout starts here: the reconciler adds its steps
  // to the profiling and solving this apply did.
  d.rollout.generation = 0;
  d.rollout.ready_ms = 0;
  d.rollout.started_ms = now;
  d.rollout.profile_ms = profile_ms;
  d.rollout.solve_ms = solve_ms;
  d.plan_json = CanonicalPlanJson(plan);
  d.plan_digest = digest;
  d.generation = result.generation;
  d.phase = "Pending";
  if (!existing) d.created_ms = now;
  d.updated_ms = now;
  SetCondition(&d.conditions, "Accepted", "True", "Validated",
               "generation " + std::to_string(d.generation) + " stored", now);
  SetCondition(&d.conditions, "WorkersAvailable", "True", "SelectorMatches",
               std::to_string(result.matching_workers.size()) + " Ready workers match", now);
  SetCondition(&d.conditions, "Ready", "False", "AwaitingPlacement",
               "not yet placed and provisioned", now);
  SERDAB_RETURN_IF_ERROR(store_->PutDeployment(d));
  SERDAB_RETURN_IF_ERROR(AddEvent(
      "Deployment", d.name, existing ? "Configured" : "Created",
      "generation " + std::to_string(d.generation) + " (plan " + digest.substr(0, 12) + ")"));
  return result;
}

Result<std::vector<uint8_t>> OrchestratorCore::ReadArchitecture(const std::string& sha256) {
  return worker::ReadFileBytes(std::filesystem::path(options_.state_dir) / "architectures" /
                               (sha256 + ".onnx"));
}

Status OrchestratorCore::RecordRollout(const std::string& name, uint64_t generation,
                                       RolloutRecord rollout, bool ready, const std::string& reason,
                                       const std::string& message) {
  std::lock_guard<std::mutex> lock(state_mu_);
  SERDAB_ASSIGN_OR_RETURN(std::optional<DeploymentRecord> d, store_->GetDeployment(name));
  if (!d || d->phase == kPhaseDeleting || d->generation != generation) return Status::Ok();
  const int64_t now = clock_();
  d->rollout = std::move(rollout);
  d->phase = ready ? "Ready" : "Pending";
  d->updated_ms = now;
  SetCondition(&d->conditions, "Ready", ready ? "True" : "False", reason, message, now);
  SERDAB_RETURN_IF_ERROR(store_->PutDeployment(*d));
  return AddEvent("Deployment", name, reason, message);
}

Result<DeploymentView> OrchestratorCore::GetDeployment(const std::string& name) {
  SERDAB_ASSIGN_OR_RETURN(std::optional<DeploymentRecord> d, store_->GetDeployment(name));
  if (!d) return Status::NotFound("no deployment named '" + name + "'");
  DeploymentView view;
  view.record = std::move(*d);
  SERDAB_ASSIGN_OR_RETURN(view.recent_events, store_->EventsFor("Deployment", name, 20));
  return view;
}

Result<std::vector<DeploymentView>> OrchestratorCore::ListDeployments() {
  SERDAB_ASSIGN_OR_RETURN(std::vector<DeploymentRecord> records, store_->ListDeployments());
  std::vector<DeploymentView> out;
  for (DeploymentRecord& r : records) out.push_back({std::move(r), {}});
  return out;
}

Status OrchestratorCore::DeleteDeployment(const std::string& name) {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  std::lock_guard<std::mutex> lock(state_mu_);
  SERDAB_ASSIGN_OR_RETURN(std::optional<DeploymentRecord> d, store_->GetDeployment(name));
  if (!d) return Status::NotFound("no deployment named '" + name + "'");
  if (d->phase == kPhaseDeleting) {
    return Status::FailedPrecondition("deployment '" + name + "' is already being deleted");
  }
  if (d->attestations.empty()) {
    // No enclave holds a partition: the coordinator drops the model now.
    if (coordinator_ != nullptr) SERDAB_RETURN_IF_ERROR(coordinator_->Forget(name));
    SERDAB_RETURN_IF_ERROR(store_->DeleteDeployment(name));
    return AddEvent("Deployment", name, "Deleted", "deployment deleted");
  }
  const int64_t now = clock_();
  d->phase = kPhaseDeleting;
  d->updated_ms = now;
  SetCondition(&d->conditions, "Ready", "False", "Deleting",
               "destroying its enclaves on " + std::to_string(d->attestations.size()) + " workers",
               now);
  SERDAB_RETURN_IF_ERROR(store_->PutDeployment(*d));
  return AddEvent(
      "Deployment", name, "Deleting",
      "destroying its enclaves on " + std::to_string(d->attestations.size()) + " workers");
}

Status OrchestratorCore::FinishDeletion(const std::string& name,
                                        const std::vector<std::string>& pending) {
  std::lock_guard<std::mutex> lock(state_mu_);
  SERDAB_ASSIGN_OR_RETURN(std::optional<DeploymentRecord> d, store_->GetDeployment(name));
  if (!d || d->phase != kPhaseDeleting) return Status::Ok();
  if (pending.empty()) {
    SERDAB_RETURN_IF_ERROR(store_->DeleteDeployment(name));
    return AddEvent("Deployment", name, "Deleted",
                    "its enclaves are destroyed; deployment deleted");
  }
  std::string waiting;
  for (const std::string& w : pending) waiting += (waiting.empty() ? "" : ", ") + w;
  const int64_t now = clock_();
  SetCondition(&d->conditions, "Ready", "False", "Deleting",
               "waiting for workers " + waiting + " to destroy its enclave", now);
  return store_->PutDeployment(*d);
}

Status OrchestratorCore::RecordAttestations(const std::string& name, uint64_t generation,
                                            std::vector<AttestationRecord> attestations) {
  std::lock_guard<std::mutex> lock(state_mu_);
  SERDAB_ASSIGN_OR_RETURN(std::optional<DeploymentRecord> d, store_->GetDeployment(name));
  // Deleted, being deleted or re-applied since.
  if (!d || d->phase == kPhaseDeleting || d->generation != generation) return Status::Ok();
  const int64_t now = clock_();
  std::map<std::string, AttestationRecord> before;
  for (const AttestationRecord& a : d->attestations) before[a.worker] = a;
  size_t attested = 0;
  std::string refused;
  for (AttestationRecord& a : attestations) {
    a.checked_ms = now;
    if (a.attested) {
      ++attested;
    } else {
      refused += (refused.empty() ? "" : "; ") + a.worker + ": " + a.reason;
    }
    const auto old = before.find(a.worker);
    if (old != before.end() && old->second.attested == a.attested &&
        old->second.reason == a.reason && d->attested_generation == generation) {
      continue;
    }
    SERDAB_RETURN_IF_ERROR(
        a.attested ? AddEvent("Deployment", name, "Attested",
                              "worker " + a.worker + ", enclave " + a.enclave + " (mrenclave " +
                                  a.mrenclave.substr(0, 16) + ", platform " + a.platform + ")")
                   : AddEvent("Deployment", name, "AttestationFailed",
                              "worker " + a.worker + " gets no partition: " + a.reason));
  }
  const std::string summary =
      std::to_string(attested) + " of " + std::to_string(attestations.size()) + " workers attested";
  SetCondition(&d->conditions, "WorkersAttested",
               attested == attestations.size() ? "True" : "False",
               attested == attestations.size() ? "QuotesVerified" : "QuotesRefused",
               refused.empty() ? summary : summary + "; " + refused, now);
  // A deployment rolled out for this generation stays as its rollout left
  // it: the reconciler re-places it if the attested workers changed.
  const bool rolled_out = d->rollout.generation == generation && d->rollout.ready_ms != 0;
  if (!rolled_out) {
    SetCondition(&d->conditions, "Ready", "False",
                 attested > 0 ? "AwaitingProvisioning" : "NoAttestedWorker",
                 attested > 0 ? "attested; not yet placed and provisioned"
                              : "no matching worker's enclave passed attestation (" + refused + ")",
                 now);
  }
  d->attestations = std::move(attestations);
  d->attested_generation = generation;
  d->updated_ms = now;
  return store_->PutDeployment(*d);
}

Result<std::vector<EventRecord>> OrchestratorCore::WaitForEvents(uint64_t after,
                                                                 std::chrono::milliseconds wait) {
  {
    std::unique_lock<std::mutex> lock(events_mu_);
    events_cv_.wait_for(lock, wait, [&] { return shutdown_ || last_event_ > after; });
  }
  return store_->EventsAfter(after, 1000);
}

bool OrchestratorCore::shutting_down() {
  std::lock_guard<std::mutex> lock(events_mu_);
  return shutdown_;
}

void OrchestratorCore::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    shutdown_ = true;
  }
  events_cv_.notify_all();
}

}  // namespace serdab::orchestrator
