// Finding a deployment's data-plane pipeline through the orchestrator, for a
// camera client: the stages of its Ready rollout (worker addresses, enclaves,
// instances) and the identity its coordinator enclave owns them as, learned
// from the coordinator's quote (this build's coordinator measurement, under
// the deployment root). The orchestrator is untrusted: what it says about
// stages is only where to look; the client attests the enclaves it finds
// there against that identity (cli/stream_client.h).
#ifndef SERDAB_CLI_DEPLOYMENT_PIPELINE_H_
#define SERDAB_CLI_DEPLOYMENT_PIPELINE_H_

#include <string>

#include "cli/cluster_connection.h"
#include "cli/stream_client.h"
#include "enclave/common/status.h"
#include "serdab/v1/orchestrator.pb.h"

namespace serdab::cli {

struct PipelineQuery {
  std::string deployment;
  crypto::Ed25519PublicKey root{};
  bool allow_simulation = false;  // for the coordinator's quote, as the plan says
  bool allow_debug = false;
};

// NotFound for an unknown deployment; FailedPrecondition, with its
// condition, for one that is not Ready.
Result<Pipeline> ResolvePipeline(Connection* connection, const PipelineQuery& query,
                                 v1::DeploymentStatus* status = nullptr);

// The coordinator's identity, from its quote for a fresh nonce.
Result<crypto::Ed25519PublicKey> AttestedCoordinatorIdentity(
    worker::EnclaveEndpoint* coordinator, const attestation::QuoteVerifier& verifier);

}  // namespace serdab::cli

#endif  // SERDAB_CLI_DEPLOYMENT_PIPELINE_H_
