#include "orchestrator/reconciler.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "cli/local_enclave.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/quote.h"
#include "enclave/attestation/quote_verifier.h"
#include "orchestrator/deployment_plan.h"
#include "serdab/v1/orchestrator.pb.h"
#include "worker/grpc_daemon.h"
#include "worker/rpc_status.h"

namespace serdab::orchestrator {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(10);
constexpr int64_t kRetryMs = 30000;
// Enclaves run this cost profile unless a plan says otherwise; it is part of
// the measurement (`serdab enclave measure --epc-mib N` prints the same).
constexpr char kCostProfile[] = "sgx1";

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  return context;
}

Result<attestation::QuotePolicy> PolicyOf(const DeploymentPlan& plan) {
  attestation::QuotePolicy policy;
  for (const std::string& hex : plan.attestation.measurements) {
    SERDAB_ASSIGN_OR_RETURN(attestation::Measurement m,
                            crypto::HexDecodeArray<32>(hex, "measurement"));
    policy.allowed_mrenclaves.push_back(m);
  }
  policy.allow_any_enclave = plan.attestation.any_measurement;
  policy.min_svn = static_cast<uint16_t>(plan.attestation.min_svn);
  policy.allow_simulation = plan.attestation.allow_simulation;
  policy.allow_debug = plan.attestation.allow_debug;
  return policy;
}

// The enclave configuration a worker's enclave for a deployment runs with:
// the worker's EPC, the default cost profile.
std::string EnclaveConfigFor(const WorkerRecord& worker) {
  v1::WorkerCapacity capacity;
  double epc_mib = 93.5;
  if (google::protobuf::util::JsonStringToMessage(worker.capacity_json, &capacity).ok() &&
      capacity.epc_bytes() > 0) {
    epc_mib = static_cast<double>(capacity.epc_bytes()) / (1024.0 * 1024.0);
  }
  return cli::LocalEnclaveConfig(epc_mib, kCostProfile);
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
  const bool retry = std::any_of(
      deployment.attestations.begin(), deployment.attestations.end(),
      [&](const AttestationRecord& a) { return !a.attested && now_ms - a.checked_ms > kRetryMs; });
  const bool current = deployment.attested_generation == deployment.generation &&
                       attested_set == std::set<std::string>(matching.begin(), matching.end());
  if (current && !retry) return Status::Ok();

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
  SERDAB_ASSIGN_OR_RETURN(attestation::QuotePolicy policy, PolicyOf(plan));
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
  return core_->RecordAttestations(deployment.name, deployment.generation, std::move(records));
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
