#include "partitioner/baselines.h"

#include <algorithm>
#include <vector>

#include "partitioner/cost_model.h"
#include "partitioner/placement_solver.h"

namespace serdab::partitioner {
namespace {

// The problem the baselines are costed under: paging always allowed, no stage limit (each
// baseline applies its own).
Problem BaselineProblem(const Problem& problem) {
  Problem relaxed = problem;
  relaxed.allow_paging = true;
  relaxed.max_stages = 0;
  return relaxed;
}

std::vector<int> EnclaveWorkers(const Problem& problem) {
  std::vector<int> enclaves;
  for (int w = 0; w < problem.cluster.num_workers(); ++w) {
    if (problem.cluster.workers[w].is_enclave()) enclaves.push_back(w);
  }
  return enclaves;
}

Result<std::vector<int>> ValidatedEnclaves(const Problem& problem, const char* baseline) {
  SERDAB_RETURN_IF_ERROR(ValidateProblem(problem));
  std::vector<int> enclaves = EnclaveWorkers(problem);
  if (enclaves.empty()) {
    return Status::FailedPrecondition(std::string(baseline) +
                                      " baseline: the cluster has no enclave worker");
  }
  return enclaves;
}

}  // namespace

Result<Placement> OneEnclaveBaseline(const Problem& problem) {
  SERDAB_ASSIGN_OR_RETURN(const std::vector<int> enclaves,
                          ValidatedEnclaves(problem, "one-enclave"));
  const Problem relaxed = BaselineProblem(problem);
  std::optional<Placement> best;
  Status last_error;
  for (int w : enclaves) {
    Result<Placement> placement =
        EvaluatePlacement(relaxed, {StagePlan{0, problem.model.num_layers(), {w}}});
    if (!placement.ok()) {
      last_error = placement.status();
      continue;
    }
    if (!best || placement->objective_value() < best->objective_value()) {
      best = std::move(*placement);
    }
  }
  if (!best) return last_error.WithContext("one-enclave baseline");
  return std::move(*best);
}

Result<Placement> EqualSplitBaseline(const Problem& problem, int stages) {
  SERDAB_ASSIGN_OR_RETURN(const std::vector<int> enclaves,
                          ValidatedEnclaves(problem, "equal-split"));
  const int n = problem.model.num_layers();
  int k = stages > 0 ? stages : static_cast<int>(enclaves.size());
  if (stages <= 0 && problem.max_stages > 0) k = std::min(k, problem.max_stages);
  k = std::min(k, n);
  if (k > static_cast<int>(enclaves.size())) {
    return Status::FailedPrecondition("equal-split baseline: " + std::to_string(k) +
                                      " stages requested but the cluster has only " +
                                      std::to_string(enclaves.size()) + " enclave workers");
  }
  std::vector<StagePlan> plan;
  for (int s = 0; s < k; ++s) {
    plan.push_back(StagePlan{s * n / k, (s + 1) * n / k, {enclaves[s]}});
  }
  Result<Placement> placement = EvaluatePlacement(BaselineProblem(problem), plan);
  if (!placement.ok()) return placement.status().WithContext("equal-split baseline");
  return placement;
}

Result<Placement> GreedyEpcFillBaseline(const Problem& problem) {
  SERDAB_ASSIGN_OR_RETURN(const std::vector<int> enclaves,
                          ValidatedEnclaves(problem, "greedy EPC-fill"));
  const ModelProfile& model = problem.model;
  const int n = model.num_layers();
  int usable = static_cast<int>(enclaves.size());
  if (problem.max_stages > 0) usable = std::min(usable, problem.max_stages);
  std::vector<StagePlan> plan;
  int begin = 0;
  for (int s = 0; s < usable && begin < n; ++s) {
    const WorkerProfile& worker = problem.cluster.workers[enclaves[s]];
    int end = n;
    if (s + 1 < usable) {
      const std::vector<double> layer_ms = WorkerLayerTimesMs(model, worker);
      end = begin + 1;
      while (end < n &&
             ComputeStageCost(model, worker, layer_ms, begin, end + 1).working_set_bytes <=
                 worker.epc_bytes) {
        ++end;
      }
    }
    plan.push_back(StagePlan{begin, end, {enclaves[s]}});
    begin = end;
  }
  Result<Placement> placement = EvaluatePlacement(BaselineProblem(problem), plan);
  if (!placement.ok()) return placement.status().WithContext("greedy EPC-fill baseline");
  return placement;
}

}  // namespace serdab::partitioner
