#include "partitioner/cost_model.h"

#include <limits>
#include <string>

namespace serdab::partitioner {
namespace {

std::string StageLabel(int s) { return s < 0 ? "client" : "stage " + std::to_string(s); }

std::string RangeLabel(int begin, int end) {
  return "layers [" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

}  // namespace

std::string_view ObjectiveName(Objective objective) {
  return objective == Objective::kThroughput ? "throughput" : "latency";
}

std::string_view WeightResidencyName(WeightResidency residency) {
  switch (residency) {
    case WeightResidency::kResident:
      return "resident";
    case WeightResidency::kPaged:
      return "paged";
    case WeightResidency::kStreamed:
      return "streamed";
    case WeightResidency::kStreamedAndPaged:
      return "streamed_and_paged";
  }
  return "unknown";
}

StageCost ComputeStageCost(const ModelProfile& model, const WorkerProfile& worker,
                           const std::vector<double>& layer_ms, int begin, int end) {
  StageCostAccumulator acc(model, worker, layer_ms.data(), begin);
  while (acc.end() < end) acc.Extend();
  return acc.Cost();
}

Result<Placement> EvaluatePlacement(const Problem& problem, const std::vector<StagePlan>& plan) {
  const ModelProfile& model = problem.model;
  const Cluster& cluster = problem.cluster;
  const int n = model.num_layers();
  if (plan.empty()) return Status::InvalidArgument("the plan has no stages");
  if (problem.max_stages > 0 && static_cast<int>(plan.size()) > problem.max_stages) {
    return Status::FailedPrecondition("the plan has " + std::to_string(plan.size()) +
                                      " stages but max_stages is " +
                                      std::to_string(problem.max_stages));
  }

  Placement placement;
  placement.objective = problem.objective;
  int expected_begin = 0;
  int last_worker = -1;
  for (size_t s = 0; s < plan.size(); ++s) {
    const StagePlan& sp = plan[s];
    const std::string label = StageLabel(static_cast<int>(s));
    if (sp.begin != expected_begin || sp.end <= sp.begin || sp.end > n) {
      return Status::InvalidArgument(label + " covers " + RangeLabel(sp.begin, sp.end) +
                                     " but must start at layer " + std::to_string(expected_begin) +
                                     " and end after it, by layer " + std::to_string(n));
    }
    expected_begin = sp.end;
    if (sp.workers.empty() || sp.workers.size() > 2) {
      return Status::InvalidArgument(label + " must have one worker, or two when replicated");
    }
    if (sp.workers.size() == 2) {
      if (!problem.allow_replication) {
        return Status::FailedPrecondition(label + " is replicated but replication is disallowed");
      }
      if (sp.workers[1] != sp.workers[0] + 1) {
        return Status::InvalidArgument(label +
                                       ": the two replicas must be neighbours in the worker order");
      }
    }
    for (int w : sp.workers) {
      if (w < 0 || w >= cluster.num_workers()) {
        return Status::InvalidArgument(label + " names worker " + std::to_string(w) +
                                       " but the cluster has " +
                                       std::to_string(cluster.num_workers()));
      }
      if (w <= last_worker) {
        return Status::InvalidArgument(label + " uses worker '" + cluster.workers[w].name +
                                       "', which does not come after the previous stage's");
      }
      last_worker = w;
    }

    PlannedStage stage;
    stage.begin = sp.begin;
    stage.end = sp.end;
    stage.workers = sp.workers;
    for (int w : sp.workers) {
      const WorkerProfile& worker = cluster.workers[w];
      if (sp.begin < problem.privacy_layers && !worker.is_enclave()) {
        return Status::FailedPrecondition(label + " runs " + RangeLabel(sp.begin, sp.end) + " on " +
                                          std::string(WorkerKindName(worker.kind)) + " worker '" +
                                          worker.name + "', but privacy requires the first " +
                                          std::to_string(problem.privacy_layers) +
                                          " layers in enclaves");
      }
      const StageCost cost =
          ComputeStageCost(model, worker, WorkerLayerTimesMs(model, worker), sp.begin, sp.end);
      if (cost.swapped_pages > 0 && !problem.allow_paging) {
        // A stage with streamable weights weighed streaming them all (chosen or not), which
        // left too much resident: say how much.
        const std::optional<WeightCost>& other = cost.alternative;
        const int64_t streamable = cost.weight_residency == WeightResidency::kStreamedAndPaged
                                       ? cost.streamed_weight_bytes
                                   : other && other->residency == WeightResidency::kStreamedAndPaged
                                       ? other->streamed_weight_bytes
                                       : 0;
        const std::string streamed =
            streamable > 0
                ? " (" +
                      FormatBytes(cost.working_set_bytes - streamable + StreamWindowBytes(worker)) +
                      " with its " + FormatBytes(streamable) +
                      " of streamable weights streamed through " +
                      FormatBytes(StreamWindowBytes(worker)) + " of windows)"
                : std::string();
        return Status::FailedPrecondition(
            label + " needs " + FormatBytes(cost.working_set_bytes) + streamed + " for " +
            RangeLabel(sp.begin, sp.end) + " on worker '" + worker.name + "' whose EPC is " +
            FormatBytes(worker.epc_bytes) + ", and paging is disallowed");
      }
      stage.costs.push_back(cost);
      stage.time_ms = std::max(stage.time_ms, cost.total_ms());
    }
    stage.effective_ms = stage.time_ms / static_cast<double>(stage.workers.size());
    placement.stages.push_back(std::move(stage));
  }
  if (expected_begin != n) {
    return Status::InvalidArgument("the plan ends at layer " + std::to_string(expected_begin) +
                                   " but the model has " + std::to_string(n) + " layers");
  }

  // Hops in pipeline order; -1 is the client, which is only modelled when named.
  std::vector<std::pair<int, int>> hops;
  if (!cluster.client.empty()) hops.push_back({-1, 0});
  for (int s = 0; s + 1 < static_cast<int>(plan.size()); ++s) hops.push_back({s, s + 1});
  if (!cluster.client.empty()) hops.push_back({static_cast<int>(plan.size()) - 1, -1});
  for (const auto& [from, to] : hops) {
    PlannedLink link;
    link.from_stage = from;
    link.to_stage = to;
    link.cut = from < 0 ? 0 : plan[from].end;
    link.bytes = model.cut_bytes[link.cut];
    const std::vector<std::string> client = {cluster.client};
    auto endpoints = [&](int s) {
      if (s < 0) return client;
      std::vector<std::string> names;
      for (int w : plan[s].workers) names.push_back(cluster.workers[w].name);
      return names;
    };
    const std::vector<std::string> senders = endpoints(from);
    const std::vector<std::string> receivers = endpoints(to);
    // Alternate frames keep their replica index: sender k feeds receiver k, and a single end
    // serves both.
    const size_t count = std::max(senders.size(), receivers.size());
    for (size_t k = 0; k < count; ++k) {
      const std::string& a = senders[senders.size() == 1 ? 0 : k];
      const std::string& b = receivers[receivers.size() == 1 ? 0 : k];
      const std::optional<ResolvedLink> resolved = FindLink(cluster, a, b);
      if (!resolved) {
        return Status::FailedPrecondition("there is no link from '" + a + "' to '" + b +
                                          "' (needed by " + StageLabel(from) + " -> " +
                                          StageLabel(to) + ") and the cluster has no default link");
      }
      const double ms = LinkTimeMs(link.bytes, *resolved);
      link.link_ms.push_back(ms);
      link.time_ms = std::max(link.time_ms, ms);
    }
    link.effective_ms = link.time_ms / static_cast<double>(count);
    placement.links.push_back(std::move(link));
  }

  // Latency accumulates in pipeline order (client hop, stage 0, hop, stage 1, ...), the
  // order the solver's dynamic programme adds them in, so both get the same sum.
  size_t next_link = 0;
  auto take_link = [&](int to_stage) {
    if (next_link < placement.links.size() && placement.links[next_link].to_stage == to_stage) {
      const PlannedLink& link = placement.links[next_link++];
      placement.latency_ms += link.time_ms;
      if (link.effective_ms > placement.bottleneck_ms || placement.bottleneck.empty()) {
        placement.bottleneck_ms = link.effective_ms;
        placement.bottleneck =
            "link " + StageLabel(link.from_stage) + " -> " + StageLabel(to_stage);
      }
    }
  };
  for (int s = 0; s < static_cast<int>(placement.stages.size()); ++s) {
    take_link(s);
    const PlannedStage& stage = placement.stages[s];
    placement.latency_ms += stage.time_ms;
    if (stage.effective_ms > placement.bottleneck_ms || placement.bottleneck.empty()) {
      placement.bottleneck_ms = stage.effective_ms;
      placement.bottleneck = StageLabel(s);
    }
  }
  take_link(-1);
  placement.fps = placement.bottleneck_ms > 0 ? 1e3 / placement.bottleneck_ms
                                              : std::numeric_limits<double>::infinity();
  return placement;
}

}  // namespace serdab::partitioner
