// Reconciler: drives each deployment toward its plan, a step at a time, as
// Kubernetes controllers do; the daemon runs it in a loop. For a deployment whose generation, or
// whose set of matching Ready workers, changed since it last looked, it makes sure each matching
// worker runs an enclave for the deployment (named after it, with the worker's EPC size), fetches
// that enclave's quote for a fresh nonce, and verifies it against the plan's attestation policy and
// the deployment root. A worker whose quote does not verify (a measurement the plan does not list,
// a platform not certified by this root, simulation or debug where the plan refuses them) is
// recorded as getting no partition, with the reason, in the deployment's status and events;
// refusals are retried every 30 s.
//
// The verdicts are for status: quotes are public, and the party that hands
// out partitions (the coordinator enclave) verifies them itself.
//
// Then it rolls the deployment out when its placement is stale (a new
// generation, a stage whose worker is gone, or a change in the attested
// workers it could use); a stage whose worker restarted and restored its
// sealed partition is only wired again. A rollout places the plan on the
// attested workers (DeploymentPlanner, from cached profiles), and has the
// coordinator attest each stage's enclave, provision its layer range and
// wire the stages in order. The deployment is Ready once every stage is provisioned and wired;
// a failed rollout is retried every 30 s.
//
// It is also the planner's ProfilingHost: profiling enclaves on workers,
// provisioned with the architecture only, owned by a throwaway identity.
#ifndef SERDAB_ORCHESTRATOR_RECONCILER_H_
#define SERDAB_ORCHESTRATOR_RECONCILER_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "enclave/attestation/quote_verifier.h"
#include "enclave/common/status.h"
#include "enclave/crypto/keys.h"
#include "orchestrator/deployment_planner.h"
#include "orchestrator/orchestrator_core.h"
#include "serdab/v1/worker.grpc.pb.h"

namespace serdab::orchestrator {

struct DeploymentPlan;

struct ReconcilerOptions {
  // The deployment root's public key (root.pub of `serdab ca init`), which
  // every worker's platform certificate must chain to.
  crypto::Ed25519PublicKey root{};
  // The orchestrator's node certificate (node.crt, node.key, ca.crt), to
  // call workers with; empty: plaintext, loopback workers only.
  std::string tls_dir;
};

class Reconciler final : public ProfilingHost {
 public:
  Reconciler(OrchestratorCore* core, ReconcilerOptions options)
      : core_(core), options_(std::move(options)) {}

  // One pass over every deployment. Errors reaching a worker are recorded
  // in the deployment's status, not returned; what is returned is a failure
  // of the orchestrator's own state.
  Status ReconcileAll();

  Result<std::unique_ptr<cli::ProfilingEnclave>> Start(const WorkerRecord& worker,
                                                       const crypto::Bytes& architecture,
                                                       int threads) override;

 private:
  Status Reconcile(const DeploymentRecord& deployment, const std::vector<WorkerRecord>& workers);
  // Destroys a deployment's enclave on a Ready worker (gone already: OK).
  Status DestroyEnclave(const WorkerRecord& worker, const std::string& enclave);
  // Destroys a Deleting deployment's enclaves on its workers.
  Status Finalize(const DeploymentRecord& deployment, const std::vector<WorkerRecord>& workers);
  // Rolls `deployment` out when its placement is stale.
  Status Rollout(const DeploymentRecord& deployment, const DeploymentPlan& plan,
                 const std::vector<WorkerRecord>& workers);
  // Wires the stages of `current` again, adopting the enclaves that
  // restored their partitions after their worker restarted.
  Status Rewire(const DeploymentRecord& deployment, const RolloutRecord& current,
                const std::map<std::string, const WorkerRecord*>& ready);
  AttestationRecord Attest(const WorkerRecord& worker, const std::string& enclave,
                           const attestation::QuoteVerifier& verifier);
  Result<std::shared_ptr<v1::Worker::StubInterface>> Stub(const std::string& address);

  OrchestratorCore* core_;
  const ReconcilerOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<v1::Worker::StubInterface>> stubs_;  // by address
};

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_RECONCILER_H_
