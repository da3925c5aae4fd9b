// OrchestratorCore: the orchestrator's logic with no gRPC in it (the
// Orchestrator service in orchestrator_service.h is a thin layer over it):
// the worker registry with liveness, deployments as desired state, and the
// event log, all kept in a StateStore so that a restarted orchestrator
// resumes where it stopped.
//
// Callers are identified before they reach the core: a worker's name comes
// from its verified certificate, never from what it claims in a request.
//
// Thread-safe.
#ifndef SERDAB_ORCHESTRATOR_ORCHESTRATOR_CORE_H_
#define SERDAB_ORCHESTRATOR_ORCHESTRATOR_CORE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "enclave/common/status.h"
#include "orchestrator/state_store.h"

namespace serdab::orchestrator {

class CoordinatorHost;
class DeploymentPlanner;

// The phase of a deployment whose enclaves are being destroyed.
inline constexpr char kPhaseDeleting[] = "Deleting";

struct OrchestratorOptions {
  std::string state_dir;  // holds orchestrator.db
  // A worker is NotReady once this long has passed since its last heartbeat.
  std::chrono::milliseconds heartbeat_timeout{10000};
  // What workers are told to heartbeat at.
  std::chrono::milliseconds heartbeat_interval{2000};
};

struct WorkerRegistration {
  std::string name;  // from the caller's certificate
  std::string address;
  std::map<std::string, std::string> labels;
  std::string capacity_json;
  std::string platform_key;  // from the caller's certificate
};

// What `serdab apply` sends besides the plan: the model's architecture (no
// weights) to profile, and the model itself, sealed for the coordinator
// enclave in the owner's session with it.
struct ModelInputs {
  std::vector<uint8_t> architecture;
  std::string model_sha256;
  uint64_t coordinator_session = 0;
  std::vector<uint8_t> grant;
};

struct ApplyResult {
  std::string name;
  std::string result;  // "created", "configured", "unchanged"
  uint64_t generation = 0;
  std::vector<std::string> matching_workers;  // in tier order
  // The placement the plan gets now (with a planner attached).
  std::vector<StageRecord> stages;
  double predicted_fps = 0;
  double predicted_latency_ms = 0;
  std::string placement_table;
};

struct DeploymentView {
  DeploymentRecord record;
  std::vector<EventRecord> recent_events;
};

class OrchestratorCore {
 public:
  using Clock = std::function<int64_t()>;  // unix milliseconds

  // Opens STATE/orchestrator.db (creating the directory if needed). `clock`
  // defaults to the system clock; tests pass their own.
  static Result<std::unique_ptr<OrchestratorCore>> Open(const OrchestratorOptions& options,
                                                        Clock clock = nullptr);

  const OrchestratorOptions& options() const { return options_; }

  // Workers.
  Status RegisterWorker(const WorkerRegistration& registration);
  // False when `name` never registered (the worker should register).
  Result<bool> Heartbeat(const std::string& name);
  Result<std::vector<WorkerRecord>> ListWorkers();
  // Marks workers whose heartbeat is overdue NotReady (one event each).
  // The daemon calls it periodically.
  Status CheckLiveness();

  // Attaches what places plans and holds their models. Without them, Apply
  // validates and stores plans but places nothing (core tests).
  void Attach(DeploymentPlanner* planner, CoordinatorHost* coordinator) {
    planner_ = planner;
    coordinator_ = coordinator;
  }
  DeploymentPlanner* planner() const { return planner_; }
  CoordinatorHost* coordinator() const { return coordinator_; }

  // Deployments. Applies plan number `document` of the file text
  // `plan_yaml`; errors name `source`, line, column and field. With a
  // planner attached, the plan is placed on its matching Ready workers
  // first (profiling `model.architecture` there) and refused when no
  // placement satisfies it; then the model's grant goes to the coordinator.
  // A dry run validates, places and reports, storing nothing.
  Result<ApplyResult> Apply(const std::string& plan_yaml, const std::string& source,
                            size_t document, bool dry_run, const ModelInputs& model = {});
  // The architecture file of a deployment (STATE/architectures/SHA.onnx).
  Result<std::vector<uint8_t>> ReadArchitecture(const std::string& sha256);
  // Stores a rollout of `name` (ignored if the deployment changed since
  // `generation`), sets its Ready condition and phase, and records an event.
  Status RecordRollout(const std::string& name, uint64_t generation, RolloutRecord rollout,
                       bool ready, const std::string& reason, const std::string& message);
  Result<DeploymentView> GetDeployment(const std::string& name);
  Result<std::vector<DeploymentView>> ListDeployments();
  // A deployment with enclaves on workers turns Deleting until the
  // reconciler has destroyed them (FinishDeletion); one without is removed
  // at once. Either way the coordinator forgets its model once no enclave
  // holds a partition of it.
  Status DeleteDeployment(const std::string& name);
  // Removes a Deleting deployment once `pending` (workers whose enclave is
  // not destroyed yet) is empty; otherwise says whom it waits for.
  Status FinishDeletion(const std::string& name, const std::vector<std::string>& pending);
  // Stores the reconciler's attestation of `name`'s workers for
  // `generation` (ignored if the deployment changed since), sets its
  // conditions and records an event for each worker whose verdict changed.
  Status RecordAttestations(const std::string& name, uint64_t generation,
                            std::vector<AttestationRecord> attestations);

  // Events with id > `after`; waits up to `wait` for one when there are
  // none yet. Returns early (possibly empty) after Shutdown().
  Result<std::vector<EventRecord>> WaitForEvents(uint64_t after, std::chrono::milliseconds wait);
  // Wakes every WaitForEvents; later calls return at once.
  void Shutdown();
  bool shutting_down();

 private:
  OrchestratorCore(OrchestratorOptions options, std::unique_ptr<StateStore> store, Clock clock)
      : options_(std::move(options)), store_(std::move(store)), clock_(std::move(clock)) {}
  Status AddEvent(const std::string& kind, const std::string& object, const std::string& reason,
                  const std::string& message);

  const OrchestratorOptions options_;
  std::unique_ptr<StateStore> store_;
  DeploymentPlanner* planner_ = nullptr;
  CoordinatorHost* coordinator_ = nullptr;
  const Clock clock_;

  // Serialises applies and deletes, each from its first read to its last
  // write: what one gives the coordinator and what it stores go together.
  // Taken before state_mu_, which an apply releases while the coordinator
  // admits a model.
  std::mutex lifecycle_mu_;
  // Serialises read-modify-write of records (the store's own lock covers
  // single statements only), and guards liveness_.
  std::mutex state_mu_;
  // Every registered worker's last heartbeat and readiness. Readiness is
  // also in the store; heartbeat times live only here.
  struct Liveness {
    int64_t last_heartbeat_ms = 0;
    bool ready = false;
  };
  std::map<std::string, Liveness> liveness_;

  std::mutex events_mu_;
  std::condition_variable events_cv_;
  uint64_t last_event_ = 0;
  bool shutdown_ = false;
};

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_ORCHESTRATOR_CORE_H_
