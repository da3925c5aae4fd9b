#include "partitioner/cost_model.h"

#include <limits>
#include <string>

namespace serdab::partitioner {
namespace {

std::string StageLabel(int s) { return s < 0 ? "client" : "stage " + std::to_string(s); }

std::string RangeLabel(int begin, int end) {
  return "layers [" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

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

StageCost ComputeShardCost(const ModelProfile& model, const WorkerProfile& worker,
                           const std::vector<double>& layer_ms, int layer, int shards) {
  const LayerProfile& profile = model.layers[layer];
  const int64_t in = model.cut_bytes[layer];
  const int64_t out = model.cut_bytes[layer + 1];
  const double k = shards;
  StageCost cost;
  cost.compute_ms = layer_ms[layer] / k;
  cost.working_set_bytes =
      CeilDiv(profile.weight_bytes, shards) + profile.activation_bytes + in + CeilDiv(out, shards);
  cost.crypto_ms =
      (static_cast<double>(in) + static_cast<double>(out) / k) / worker.aead_bytes_per_s * 1e3;
  if (worker.is_enclave()) {
    cost.ecall_ms = worker.ecall_ns * 1e-6;
    SetWeightCost(
        ChooseWeightResidency(worker, cost.working_set_bytes,
                              CeilDiv(profile.streamable_weight_bytes, shards), &cost.alternative),
        &cost);
  }
  return cost;
}

FanTime ComputeFanOutTime(const ResolvedLink* links, int shards, double sender_aead_bytes_per_s) {
  // The sender's uplink carries the whole cut to every shard, and it seals the cut once more
  // for every shard past the first; each shard's downlink carries the cut once, less than that.
  FanTime fan;
  for (int i = 0; i < shards; ++i) {
    fan.ms_per_byte += 1e3 / links[i].bandwidth_bytes_per_s;
    fan.fixed_ms = std::max(fan.fixed_ms, links[i].rtt_ms / 2);
  }
  fan.ms_per_byte += (shards - 1) * 1e3 / sender_aead_bytes_per_s;
  return fan;
}

FanTime ComputeFanInTime(const ResolvedLink* links, int shards) {
  // The receiver's downlink carries every shard's 1 / shards of the cut; each shard's uplink
  // only its own part, less than that.
  FanTime fan;
  for (int i = 0; i < shards; ++i) {
    fan.ms_per_byte += 1e3 / links[i].bandwidth_bytes_per_s;
    fan.fixed_ms = std::max(fan.fixed_ms, links[i].rtt_ms / 2);
  }
  fan.ms_per_byte /= shards;
  return fan;
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
    const int k = static_cast<int>(sp.workers.size());
    if (sp.sharded) {
      if (problem.max_shards < 2) {
        return Status::FailedPrecondition(label + " is sharded but sharding is disallowed");
      }
      if (k < 2) {
        return Status::InvalidArgument(label + " is sharded, so it must have at least two workers");
      }
      if (k > problem.max_shards) {
        return Status::FailedPrecondition(label + " is sharded " + std::to_string(k) +
                                          " ways but max_shards is " +
                                          std::to_string(problem.max_shards));
      }
      if (sp.end != sp.begin + 1) {
        return Status::InvalidArgument(label + " is sharded, so it must hold one layer, not " +
                                       RangeLabel(sp.begin, sp.end));
      }
      const LayerProfile& layer = model.layers[sp.begin];
      if (!Shardable(layer)) {
        return Status::FailedPrecondition(
            label + " shards layer " + std::to_string(sp.begin) + " '" + layer.name +
            "', which has no streamable weights (only Gemm, MatMul and group-1 Conv layers "
            "can be sharded)");
      }
      for (int i = 1; i < k; ++i) {
        if (sp.workers[i] != sp.workers[0] + i) {
          return Status::InvalidArgument(
              label + ": the shards must run on consecutive workers in the worker order");
        }
      }
      // Where the data plane can run a sharded stage (cost_model.h).
      if (s == 0 || s + 1 == plan.size()) {
        return Status::InvalidArgument(
            label +
            " is sharded, but a sharded stage cannot be the first or the last: the "
            "client sends whole frames and takes whole results");
      }
      if (plan[s - 1].sharded) {
        return Status::InvalidArgument(
            "stages " + std::to_string(s - 1) + " and " + std::to_string(s) +
            " are both sharded, but two sharded stages cannot be adjacent: each shard's part "
            "would have to reach every shard of the next layer");
      }
    } else if (sp.workers.empty() || sp.workers.size() > 2) {
      return Status::InvalidArgument(label + " must have one worker, or two when replicated");
    } else if (sp.workers.size() == 2) {
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
    stage.sharded = sp.sharded;
    for (int i = 0; i < k; ++i) {
      const WorkerProfile& worker = cluster.workers[sp.workers[i]];
      const std::string range = sp.sharded
                                    ? "shard " + std::to_string(i) + " of " + std::to_string(k) +
                                          " of " + RangeLabel(sp.begin, sp.end)
                                    : RangeLabel(sp.begin, sp.end);
      if (sp.begin < problem.privacy_layers && !worker.is_enclave()) {
        return Status::FailedPrecondition(
            label + " runs " + range + " on " + std::string(WorkerKindName(worker.kind)) +
            " worker '" + worker.name + "', but privacy requires the first " +
            std::to_string(problem.privacy_layers) + " layers in enclaves");
      }
      const std::vector<double> layer_ms = WorkerLayerTimesMs(model, worker);
      const StageCost cost = sp.sharded
                                 ? ComputeShardCost(model, worker, layer_ms, sp.begin, k)
                                 : ComputeStageCost(model, worker, layer_ms, sp.begin, sp.end);
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
            label + " needs " + FormatBytes(cost.working_set_bytes) + streamed + " for " + range +
            " on worker '" + worker.name + "' whose EPC is " + FormatBytes(worker.epc_bytes) +
            ", and paging is disallowed");
      }
      stage.costs.push_back(cost);
      stage.time_ms = std::max(stage.time_ms, cost.total_ms());
    }
    stage.effective_ms =
        sp.sharded ? stage.time_ms : stage.time_ms / static_cast<double>(stage.workers.size());
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
    // Each side's endpoints per frame parity: a replica takes alternate frames, the shards of
    // a sharded stage take every frame together; -1 is the client. The checks above leave a
    // single worker (per parity) on the other side of a sharded stage.
    auto sides = [&](int s) -> std::vector<std::vector<int>> {
      if (s < 0) return {{-1}};
      if (plan[s].sharded) return {plan[s].workers};
      std::vector<std::vector<int>> replicas;
      for (int w : plan[s].workers) replicas.push_back({w});
      return replicas;
    };
    auto name = [&](int w) -> const std::string& {
      return w < 0 ? cluster.client : cluster.workers[w].name;
    };
    const std::vector<std::vector<int>> senders = sides(from);
    const std::vector<std::vector<int>> receivers = sides(to);
    // Alternate frames keep their replica index: sender k feeds receiver k, and a single end
    // serves both.
    const size_t count = std::max(senders.size(), receivers.size());
    for (size_t k = 0; k < count; ++k) {
      const std::vector<int>& out = senders[senders.size() == 1 ? 0 : k];
      const std::vector<int>& in = receivers[receivers.size() == 1 ? 0 : k];
      std::vector<ResolvedLink> resolved;
      for (int a : out) {
        for (int b : in) {
          const std::optional<ResolvedLink> found = FindLink(cluster, name(a), name(b));
          if (!found) {
            return Status::FailedPrecondition("there is no link from '" + name(a) + "' to '" +
                                              name(b) + "' (needed by " + StageLabel(from) +
                                              " -> " + StageLabel(to) +
                                              ") and the cluster has no default link");
          }
          resolved.push_back(*found);
        }
      }
      const int shards = static_cast<int>(resolved.size());
      const double ms =
          shards == 1 ? LinkTimeMs(link.bytes, resolved[0])
          : out.size() == 1
              ? ComputeFanOutTime(resolved.data(), shards, cluster.workers[out[0]].aead_bytes_per_s)
                    .Ms(link.bytes)
              : ComputeFanInTime(resolved.data(), shards).Ms(link.bytes);
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
