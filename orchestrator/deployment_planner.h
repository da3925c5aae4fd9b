// DeploymentPlanner: turns a plan and the workers it matches into a
// placement. It profiles the model's architecture (never its weights):
// natively here for the layers' sizes and reference times, and inside an
// enclave on one worker of each kind of machine (workers with the same CPU,
// EPC and threads share a profile), where the enclave fills the weights with
// synthetic values. Profiles are cached on disk under the architecture's
// hash and the worker's fingerprint. A plan with `workers.profile: each`
// has every worker profiled in its own enclave instead, each profile cached
// under the worker's name as well: for cores of one model that do not run
// at one speed. Then it solves the placement
// (partitioner/placement_solver.h) under the plan's objective, stage limit,
// privacy cut, paging rule and SLO; a plan no placement satisfies is
// refused with a PlanFieldError that names the field at fault.
//
// Workers are reached through `ProfilingHost`, so the planner can be tested
// without gRPC.
#ifndef SERDAB_ORCHESTRATOR_DEPLOYMENT_PLANNER_H_
#define SERDAB_ORCHESTRATOR_DEPLOYMENT_PLANNER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/layer_profiler.h"
#include "enclave/common/status.h"
#include "orchestrator/deployment_plan.h"
#include "orchestrator/state_store.h"
#include "partitioner/placement.h"
#include "partitioner/profile.h"

namespace serdab::orchestrator {

// Starts profiling enclaves on a worker.
class ProfilingHost {
 public:
  virtual ~ProfilingHost() = default;
  // An enclave session on `worker` that profiles `architecture`; destroying
  // it destroys its enclaves.
  virtual Result<std::unique_ptr<cli::ProfilingEnclave>> Start(const WorkerRecord& worker,
                                                               const crypto::Bytes& architecture,
                                                               int threads) = 0;
};

struct PlannerOptions {
  std::string cache_dir;  // empty: no cache
  int repeats = 3;
  int native_threads = 2;
  // The link assumed between workers when the plan declares none (no probe
  // measures them yet): 10 Gbit/s, 0.2 ms.
  double link_bandwidth_bytes_per_s = 1.25e9;
  double link_rtt_ms = 0.2;
  std::function<void(const std::string&)> progress;
};

struct PlannedDeployment {
  partitioner::Problem problem;
  partitioner::Placement placement;
  std::vector<std::string> workers;  // problem.cluster's workers, by name
  double profile_ms = 0;
  double solve_ms = 0;
};

// The placement's stages as records, state "Planned": layers [begin, end)
// (end -1 for the last) in `enclave` on each stage's worker; a replicated
// stage is one record per replica, side by side.
std::vector<StageRecord> PlannedStages(const PlannedDeployment& planned,
                                       const std::string& enclave);

// What a worker's enclave profile is cached under: CPU, EPC, threads.
std::string WorkerFingerprint(const WorkerRecord& worker);
// The EPC and threads a worker's registration states.
int64_t WorkerEpcBytes(const WorkerRecord& worker);
int WorkerThreads(const WorkerRecord& worker);
// The AEAD rate it measured when it started (2 GB/s from a worker that did
// not say).
double WorkerAeadBytesPerSecond(const WorkerRecord& worker);

class DeploymentPlanner {
 public:
  DeploymentPlanner(ProfilingHost* host, PlannerOptions options)
      : host_(host), options_(std::move(options)) {}

  // `workers` are the plan's matching Ready workers in tier order.
  Result<PlannedDeployment> Plan(const DeploymentPlan& plan, const crypto::Bytes& architecture,
                                 const std::vector<WorkerRecord>& workers);

 private:
  // `shared`: a profile of another worker with the same fingerprint serves;
  // otherwise only the worker's own.
  Result<partitioner::WorkerProfile> ProfileWorker(const WorkerRecord& worker,
                                                   const crypto::Bytes& architecture,
                                                   const partitioner::ModelProfile& native,
                                                   bool shared);

  ProfilingHost* host_;
  const PlannerOptions options_;
};

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_DEPLOYMENT_PLANNER_H_
