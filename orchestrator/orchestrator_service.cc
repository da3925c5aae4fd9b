#include "orchestrator/orchestrator_service.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>

#include "orchestrator/coordinator_host.h"
#include "worker/grpc_daemon.h"
#include "worker/rpc_status.h"

namespace serdab::orchestrator {
namespace {

using worker::ToGrpc;

grpc::Status Denied(const std::string& message) {
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message);
}

void Fill(const WorkerRecord& w, v1::WorkerStatus* out) {
  out->set_name(w.name);
  out->set_address(w.address);
  out->mutable_labels()->insert(w.labels.begin(), w.labels.end());
  // Stored from a WorkerCapacity by this service; an unreadable value
  // leaves the capacity empty rather than failing the listing.
  (void)google::protobuf::util::JsonStringToMessage(w.capacity_json, out->mutable_capacity());
  out->set_state(w.ready ? "Ready" : "NotReady");
  out->set_platform_key(w.platform_key);
  out->set_registered_unix_ms(w.registered_ms);
  out->set_last_heartbeat_unix_ms(w.last_heartbeat_ms);
}

void Fill(const EventRecord& e, v1::Event* out) {
  out->set_id(e.id);
  out->set_unix_ms(e.unix_ms);
  out->set_kind(e.kind);
  out->set_object(e.object);
  out->set_reason(e.reason);
  out->set_message(e.message);
}

void Fill(const StageRecord& s, uint32_t index, v1::Stage* out) {
  out->set_index(index);
  out->set_replica(static_cast<uint32_t>(s.replica));
  if (s.shards > 1) out->set_shards(static_cast<uint32_t>(s.shards));
  out->set_worker(s.worker);
  out->set_enclave(s.enclave);
  out->set_begin(s.begin);
  out->set_end(s.end);
  out->set_predicted_ms(s.predicted_ms);
  out->set_weight_residency(s.weight_residency);
  out->set_streamed_weight_bytes(s.streamed_weight_bytes);
  out->set_mrenclave(s.mrenclave);
  out->set_state(s.state);
  out->set_message(s.message);
  out->set_instance(s.instance);
}

// Records in pipeline order; a replicated stage's replicas share an index.
void FillStages(const std::vector<StageRecord>& stages,
                google::protobuf::RepeatedPtrField<v1::Stage>* out) {
  uint32_t index = 0;
  for (size_t i = 0; i < stages.size(); ++i) {
    if (i > 0 && stages[i].replica == 0) ++index;
    Fill(stages[i], index, out->Add());
  }
}

void Fill(const DeploymentView& view, v1::DeploymentStatus* out) {
  const DeploymentRecord& d = view.record;
  out->set_name(d.name);
  out->set_generation(d.generation);
  out->set_phase(d.phase);
  for (const ConditionRecord& c : d.conditions) {
    v1::Condition* condition = out->add_conditions();
    condition->set_type(c.type);
    condition->set_status(c.status);
    condition->set_reason(c.reason);
    condition->set_message(c.message);
    condition->set_changed_unix_ms(c.changed_ms);
  }
  out->set_plan_json(d.plan_json);
  out->set_plan_digest(d.plan_digest);
  out->set_created_unix_ms(d.created_ms);
  out->set_updated_unix_ms(d.updated_ms);
  for (const EventRecord& e : view.recent_events) Fill(e, out->add_recent_events());
  for (const AttestationRecord& a : d.attestations) {
    v1::WorkerAttestation* w = out->add_attestations();
    w->set_worker(a.worker);
    w->set_enclave(a.enclave);
    w->set_mrenclave(a.mrenclave);
    w->set_platform(a.platform);
    w->set_attested(a.attested);
    w->set_reason(a.reason);
    w->set_checked_unix_ms(a.checked_ms);
  }
  const RolloutRecord& r = d.rollout;
  FillStages(r.stages, out->mutable_stages());
  out->set_predicted_fps(r.predicted_fps);
  out->set_predicted_latency_ms(r.predicted_latency_ms);
  out->set_rollout(r.version);
  v1::RolloutTimings* t = out->mutable_timings();
  t->set_profile_ms(r.profile_ms);
  t->set_solve_ms(r.solve_ms);
  t->set_attest_ms(r.attest_ms);
  t->set_provision_ms(r.provision_ms);
  t->set_started_unix_ms(r.started_ms);
  t->set_ready_unix_ms(r.ready_ms);
}

}  // namespace

grpc::Status OrchestratorService::AuthorizeUser(const grpc::ServerContext& context,
                                                Access access) const {
  if (!authenticate_) return grpc::Status::OK;
  auto peer = worker::VerifiedPeer(context);
  if (!peer.ok()) return ToGrpc(peer.status());
  if (peer->role == worker::Role::kAdmin) return grpc::Status::OK;
  if (peer->role == worker::Role::kViewer && access == Access::kRead) return grpc::Status::OK;
  return Denied(std::string(worker::RoleName(peer->role)) + " '" + peer->name + "' may not " +
                (access == Access::kRead ? "read deployments or workers"
                                         : "apply or delete deployments (admins only)"));
}

grpc::Status OrchestratorService::AuthorizeWorker(const grpc::ServerContext& context,
                                                  const std::string& name,
                                                  std::string* platform_key) const {
  if (!authenticate_) return grpc::Status::OK;
  auto peer = worker::VerifiedPeer(context);
  if (!peer.ok()) return ToGrpc(peer.status());
  if (peer->role != worker::Role::kWorker) {
    return Denied(std::string(worker::RoleName(peer->role)) + " '" + peer->name +
                  "' is not a worker");
  }
  if (peer->name != name) {
    return Denied("worker '" + peer->name + "' may not speak for worker '" + name + "'");
  }
  *platform_key = peer->platform_key_hex;
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::RegisterWorker(grpc::ServerContext* context,
                                                 const v1::RegisterWorkerRequest* request,
                                                 v1::RegisterWorkerResponse* response) {
  WorkerRegistration r;
  if (grpc::Status denied = AuthorizeWorker(*context, request->name(), &r.platform_key);
      !denied.ok()) {
    return denied;
  }
  r.name = request->name();
  r.address = request->address();
  r.labels.insert(request->labels().begin(), request->labels().end());
  if (!google::protobuf::util::MessageToJsonString(request->capacity(), &r.capacity_json).ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unreadable capacity");
  }
  if (Status s = core_->RegisterWorker(r); !s.ok()) return ToGrpc(s);
  response->set_heartbeat_interval_ms(
      static_cast<uint32_t>(core_->options().heartbeat_interval.count()));
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::Heartbeat(grpc::ServerContext* context,
                                            const v1::HeartbeatRequest* request,
                                            v1::HeartbeatResponse* response) {
  std::string platform_key;
  if (grpc::Status denied = AuthorizeWorker(*context, request->name(), &platform_key);
      !denied.ok()) {
    return denied;
  }
  auto known = core_->Heartbeat(request->name());
  if (!known.ok()) return ToGrpc(known.status());
  response->set_registered(*known);
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::ListWorkers(grpc::ServerContext* context,
                                              const v1::ListWorkersRequest*,
                                              v1::ListWorkersResponse* response) {
  if (grpc::Status denied = AuthorizeUser(*context, Access::kRead); !denied.ok()) return denied;
  auto workers = core_->ListWorkers();
  if (!workers.ok()) return ToGrpc(workers.status());
  for (const WorkerRecord& w : *workers) Fill(w, response->add_workers());
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::CoordinatorQuote(grpc::ServerContext* context,
                                                   const v1::CoordinatorQuoteRequest* request,
                                                   v1::CoordinatorQuoteResponse* response) {
  if (grpc::Status denied = AuthorizeUser(*context, Access::kWrite); !denied.ok()) return denied;
  if (core_->coordinator() == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this orchestrator runs no coordinator");
  }
  const std::string& nonce = request->nonce();
  auto evidence = core_->coordinator()->GetQuote(
      worker::ByteView(reinterpret_cast<const uint8_t*>(nonce.data()), nonce.size()));
  if (!evidence.ok()) return ToGrpc(evidence.status());
  response->set_evidence(std::string(evidence->begin(), evidence->end()));
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::CoordinatorSession(grpc::ServerContext* context,
                                                     const v1::CoordinatorSessionRequest* request,
                                                     v1::CoordinatorSessionResponse* response) {
  if (grpc::Status denied = AuthorizeUser(*context, Access::kWrite); !denied.ok()) return denied;
  if (core_->coordinator() == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this orchestrator runs no coordinator");
  }
  const std::string& bytes = request->request();
  auto session = core_->coordinator()->OpenSession(
      worker::ByteView(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  if (!session.ok()) return ToGrpc(session.status());
  response->set_session(*session);
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::Apply(grpc::ServerContext* context,
                                        const v1::ApplyRequest* request,
                                        v1::ApplyResponse* response) {
  if (grpc::Status denied = AuthorizeUser(*context, Access::kWrite); !denied.ok()) return denied;
  ModelInputs model;
  model.architecture.assign(request->architecture().begin(), request->architecture().end());
  model.model_sha256 = request->model_sha256();
  model.coordinator_session = request->coordinator_session();
  model.grant.assign(request->grant().begin(), request->grant().end());
  auto result =
      core_->Apply(request->plan_yaml(), request->source().empty() ? "<plan>" : request->source(),
                   request->document(), request->dry_run(), model);
  // The owner's session with the coordinator carried one grant: closed
  // whether the grant was taken, refused or not needed.
  if (model.coordinator_session != 0 && core_->coordinator() != nullptr) {
    core_->coordinator()->CloseSession(model.coordinator_session);
  }
  if (!result.ok()) return ToGrpc(result.status());
  response->set_name(result->name);
  response->set_result(result->result);
  response->set_generation(result->generation);
  for (const std::string& w : result->matching_workers) response->add_matching_workers(w);
  FillStages(result->stages, response->mutable_stages());
  response->set_predicted_fps(result->predicted_fps);
  response->set_predicted_latency_ms(result->predicted_latency_ms);
  response->set_placement(result->placement_table);
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::GetDeployment(grpc::ServerContext* context,
                                                const v1::GetDeploymentRequest* request,
                                                v1::DeploymentStatus* response) {
  if (grpc::Status denied = AuthorizeUser(*context, Access::kRead); !denied.ok()) return denied;
  auto view = core_->GetDeployment(request->name());
  if (!view.ok()) return ToGrpc(view.status());
  Fill(*view, response);
  if (core_->coordinator() != nullptr) {
    response->set_coordinator_mrenclave(core_->coordinator()->mrenclave());
  }
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::ListDeployments(grpc::ServerContext* context,
                                                  const v1::ListDeploymentsRequest*,
                                                  v1::ListDeploymentsResponse* response) {
  if (grpc::Status denied = AuthorizeUser(*context, Access::kRead); !denied.ok()) return denied;
  auto views = core_->ListDeployments();
  if (!views.ok()) return ToGrpc(views.status());
  for (const DeploymentView& v : *views) Fill(v, response->add_deployments());
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::DeleteDeployment(grpc::ServerContext* context,
                                                   const v1::DeleteDeploymentRequest* request,
                                                   v1::DeleteDeploymentResponse*) {
  if (grpc::Status denied = AuthorizeUser(*context, Access::kWrite); !denied.ok()) return denied;
  return ToGrpc(core_->DeleteDeployment(request->name()));
}

grpc::Status OrchestratorService::Watch(grpc::ServerContext* context,
                                        const v1::WatchRequest* request,
                                        grpc::ServerWriter<v1::Event>* writer) {
  if (grpc::Status denied = AuthorizeUser(*context, Access::kRead); !denied.ok()) return denied;
  uint64_t after = request->since();
  // Polls in short waits so that a cancelled watch or a shutdown ends the
  // call promptly.
  constexpr std::chrono::milliseconds kWait{500};
  while (!context->IsCancelled()) {
    auto events = core_->WaitForEvents(after, kWait);
    if (!events.ok()) return ToGrpc(events.status());
    for (const EventRecord& e : *events) {
      v1::Event event;
      Fill(e, &event);
      if (!writer->Write(event)) return grpc::Status::OK;
      after = e.id;
    }
    if (core_->shutting_down()) break;
  }
  return grpc::Status::OK;
}

}  // namespace serdab::orchestrator
