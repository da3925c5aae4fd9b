#include "cli/deployment_pipeline.h"

#include <map>

#include "enclave/attestation/evidence.h"
#include "enclave/attestation/quote.h"

namespace serdab::cli {

Result<crypto::Ed25519PublicKey> AttestedCoordinatorIdentity(
    worker::EnclaveEndpoint* coordinator, const attestation::QuoteVerifier& verifier) {
  SERDAB_ASSIGN_OR_RETURN(attestation::Nonce nonce, attestation::NewNonce());
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes bytes, coordinator->GetQuote(nonce));
  SERDAB_ASSIGN_OR_RETURN(attestation::Evidence evidence, attestation::ParseEvidence(bytes));
  SERDAB_ASSIGN_OR_RETURN(attestation::VerifiedQuote verified,
                          verifier.Verify(evidence.quote, nonce, evidence.binding));
  if (verified.binding.owner == crypto::Ed25519PublicKey{}) {
    return Status::FailedPrecondition("the coordinator enclave has no identity yet");
  }
  return verified.binding.owner;
}

Result<Pipeline> ResolvePipeline(Connection* connection, const PipelineQuery& query,
                                 v1::DeploymentStatus* out) {
  v1::GetDeploymentRequest request;
  request.set_name(query.deployment);
  v1::DeploymentStatus status;
  SERDAB_RETURN_IF_ERROR(RpcError(
      connection->address, connection->stub->GetDeployment(CallContext().get(), request, &status),
      "deployment " + query.deployment));
  if (status.phase() != "Ready") {
    std::string why;
    for (const v1::Condition& c : status.conditions()) {
      if (c.type() == "Ready") why = c.reason() + ": " + c.message();
    }
    return Status::FailedPrecondition("deployment " + query.deployment + " is " + status.phase() +
                                      (why.empty() ? "" : " (" + why + ")"));
  }
  v1::ListWorkersResponse workers;
  SERDAB_RETURN_IF_ERROR(RpcError(
      connection->address,
      connection->stub->ListWorkers(CallContext().get(), v1::ListWorkersRequest(), &workers),
      "list workers"));
  std::map<std::string, std::string> addresses;
  for (const v1::WorkerStatus& w : workers.workers()) addresses[w.name()] = w.address();

  Pipeline pipeline;
  pipeline.rollout = status.rollout();
  for (const v1::Stage& s : status.stages()) {
    auto address = addresses.find(s.worker());
    if (address == addresses.end()) {
      return Status::FailedPrecondition("stage " + std::to_string(s.index()) + "'s worker " +
                                        s.worker() + " is not registered");
    }
    // Replicas share their stage's index and follow one another.
    if (s.index() != pipeline.stages.size() && s.index() + 1 != pipeline.stages.size()) {
      return Status::FailedPrecondition("deployment " + query.deployment +
                                        " lists its stages out of order");
    }
    if (s.index() == pipeline.stages.size()) {
      pipeline.stages.emplace_back();
      pipeline.sharded.push_back(s.shards() > 1);
    }
    pipeline.stages.back().push_back(PipelineStage{address->second, s.enclave(), s.instance()});
  }
  if (pipeline.stages.empty()) {
    return Status::FailedPrecondition("deployment " + query.deployment + " has no stages");
  }
  SERDAB_ASSIGN_OR_RETURN(
      attestation::QuoteVerifier verifier,
      CoordinatorVerifier(query.root, query.allow_simulation, query.allow_debug));
  CoordinatorEndpoint coordinator(connection->stub.get(), connection->address);
  SERDAB_ASSIGN_OR_RETURN(pipeline.coordinator,
                          AttestedCoordinatorIdentity(&coordinator, verifier));
  if (out != nullptr) *out = std::move(status);
  return pipeline;
}

}  // namespace serdab::cli
