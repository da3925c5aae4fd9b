#include "partitioner/brute_force.h"

#include <vector>

#include "partitioner/cost_model.h"
#include "partitioner/placement_solver.h"

namespace serdab::partitioner {
namespace {

bool Better(const Placement& a, const Placement& b) {
  if (a.objective_value() != b.objective_value()) return a.objective_value() < b.objective_value();
  return a.objective == Objective::kThroughput && a.latency_ms < b.latency_ms;
}

class Enumerator {
 public:
  explicit Enumerator(const Problem& problem) : problem_(problem) {}

  BruteForceResult Run() {
    Extend(0, 0);
    return std::move(result_);
  }

 private:
  // Places the stage that starts at layer `begin` on workers from `next_worker` on.
  void Extend(int begin, int next_worker) {
    const int n = problem_.model.num_layers();
    const int workers = problem_.cluster.num_workers();
    if (begin == n) {
      Consider();
      return;
    }
    for (int end = begin + 1; end <= n; ++end) {
      for (int w = next_worker; w < workers; ++w) {
        plan_.push_back(StagePlan{begin, end, {w}});
        Extend(end, w + 1);
        plan_.pop_back();
        if (problem_.allow_replication && w + 1 < workers) {
          plan_.push_back(StagePlan{begin, end, {w, w + 1}});
          Extend(end, w + 2);
          plan_.pop_back();
        }
      }
    }
    // Sharded stages: the layer alone, on every run of 2..max_shards consecutive workers;
    // never the first or the last stage, nor right after another sharded one (cost_model.h).
    if (!Shardable(problem_.model.layers[begin]) || begin == 0 || begin + 1 == n ||
        plan_.back().sharded) {
      return;
    }
    for (int k = 2; k <= problem_.max_shards; ++k) {
      for (int w = next_worker; w + k <= workers; ++w) {
        StagePlan stage{begin, begin + 1, {}, true};
        for (int i = 0; i < k; ++i) stage.workers.push_back(w + i);
        plan_.push_back(std::move(stage));
        Extend(begin + 1, w + k);
        plan_.pop_back();
      }
    }
  }

  void Consider() {
    ++result_.placements_considered;
    Result<Placement> placement = EvaluatePlacement(problem_, plan_);
    if (!placement.ok()) return;
    if (problem_.latency_slo_ms && placement->latency_ms > *problem_.latency_slo_ms) return;
    if (!result_.best || Better(*placement, *result_.best)) result_.best = std::move(*placement);
  }

  const Problem& problem_;
  std::vector<StagePlan> plan_;
  BruteForceResult result_;
};

}  // namespace

Result<BruteForceResult> BruteForceSolve(const Problem& problem) {
  SERDAB_RETURN_IF_ERROR(ValidateProblem(problem));
  return Enumerator(problem).Run();
}

}  // namespace serdab::partitioner
