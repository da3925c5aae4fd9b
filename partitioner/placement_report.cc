#include "partitioner/placement_report.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace serdab::partitioner {
namespace {

std::string Printf(const char* format, auto... args) {
  std::string out(256, '\0');
  const size_t size = static_cast<size_t>(std::snprintf(out.data(), out.size(), format, args...));
  if (size >= out.size()) {
    out.resize(size + 1);
    std::snprintf(out.data(), out.size(), format, args...);
  }
  out.resize(size);
  return out;
}

std::string WorkerNames(const Problem& problem, const std::vector<int>& workers) {
  std::string names;
  for (size_t i = 0; i < workers.size(); ++i) {
    if (i > 0) names += " + ";
    names += problem.cluster.workers[workers[i]].name;
  }
  return names;
}

std::string EndpointLabel(int stage) { return stage < 0 ? "client" : std::to_string(stage); }

std::string Truncate(const std::string& s, size_t width) {
  return s.size() <= width ? s : s.substr(0, width - 3) + "...";
}

// The replica whose time is the stage's time.
size_t SlowestReplica(const PlannedStage& stage) {
  size_t slowest = 0;
  for (size_t i = 1; i < stage.costs.size(); ++i) {
    if (stage.costs[i].total_ms() > stage.costs[slowest].total_ms()) slowest = i;
  }
  return slowest;
}

// "135,000": swap counts run to six digits and more.
std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

// Three significant digits in ms, or seconds from a second up: "0.25 ms", "160 ms", "2.1 s".
std::string FormatDuration(double ms) {
  return ms >= 999.5 ? Printf("%.1f s", ms / 1e3) : Printf("%.3g ms", ms);
}

// One way of holding a stage's weights and its price: "streamed 411.0 MiB/frame (AEAD 160
// ms)", "paging 135,000 swaps (2.1 s)". `chosen` picks the tense of the verbs.
std::string DescribeWeights(const WeightCost& weights, bool chosen) {
  const std::string streamed = Printf("%s %s/frame (AEAD %s)", chosen ? "streamed" : "streaming",
                                      FormatBytes(weights.streamed_weight_bytes).c_str(),
                                      FormatDuration(weights.stream_ms).c_str());
  const std::string paged =
      Printf("%s %s swaps (%s)", chosen ? "paged" : "paging",
             Grouped(weights.swapped_pages).c_str(), FormatDuration(weights.paging_ms).c_str());
  switch (weights.residency) {
    case WeightResidency::kResident:
      return "resident";
    case WeightResidency::kPaged:
      return paged;
    case WeightResidency::kStreamed:
      return streamed;
    case WeightResidency::kStreamedAndPaged:
      return streamed + " and " + paged;
  }
  return std::string(WeightResidencyName(weights.residency));
}

// Where an enclave stage's weights live and why: the residency the cost model chose and
// what the alternative it beat would have cost, or, with none, the EPC that decided it.
std::string WeightsLine(const StageCost& cost, const WorkerProfile& worker) {
  const WeightCost chosen{cost.weight_residency, cost.swapped_pages, cost.streamed_weight_bytes,
                          cost.paging_ms, cost.stream_ms};
  std::string line = "weights: " + DescribeWeights(chosen, true);
  if (cost.alternative) {
    line += " instead of " + DescribeWeights(*cost.alternative, false);
  } else if (cost.weight_residency == WeightResidency::kResident) {
    line += ", working set " + FormatBytes(cost.working_set_bytes) + " within the " +
            FormatBytes(worker.epc_bytes) + " EPC";
  } else {
    line += ", working set " + FormatBytes(cost.working_set_bytes) + " over the " +
            FormatBytes(worker.epc_bytes) + " EPC and nothing streamable";
  }
  return line;
}

bool IsBottleneck(const Placement& placement, double effective_ms) {
  return effective_ms == placement.bottleneck_ms;
}

// Ten significant digits, as the report has always been written (the nearest
// double to that decimal, which the JSON writer prints as the decimal); null
// for an infinite fps.
nlohmann::ordered_json JsonNumber(double v) {
  if (!std::isfinite(v)) return nullptr;
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%.10g", v);
  return std::strtod(digits, nullptr);
}

// The residency a stage's weights were weighed against; null when there was none.
nlohmann::ordered_json WeightCostJson(const std::optional<WeightCost>& weights) {
  if (!weights) return nullptr;
  return nlohmann::ordered_json{
      {"weight_residency", WeightResidencyName(weights->residency)},
      {"paging_ms", JsonNumber(weights->paging_ms)},
      {"stream_ms", JsonNumber(weights->stream_ms)},
      {"swapped_pages", weights->swapped_pages},
      {"streamed_weight_bytes", weights->streamed_weight_bytes},
  };
}

}  // namespace

std::string FormatPlacementTable(const Problem& problem, const Placement& placement) {
  const ModelProfile& model = problem.model;
  std::string out = Printf(
      "placement of '%s' for %s: %.2f fps, latency %.2f ms, bottleneck %s (%.2f ms)\n",
      model.name.c_str(), std::string(ObjectiveName(placement.objective)).c_str(), placement.fps,
      placement.latency_ms, placement.bottleneck.c_str(), placement.bottleneck_ms);
  out += Printf("%-7s %-24s %-12s %-36s %9s %9s %9s %9s %9s %9s\n", "stage", "workers", "layers",
                "first .. last layer", "compute", "paging", "crypto", "ecall", "time", "per-frame");
  auto link_row = [&](const PlannedLink& link) {
    out += Printf("%-7s %-24s %-12s %-36s %9s %9s %9s %9s %9.3f %9.3f%s\n", "link",
                  (EndpointLabel(link.from_stage) + " -> " + EndpointLabel(link.to_stage)).c_str(),
                  Printf("cut %d", link.cut).c_str(), FormatBytes(link.bytes).c_str(), "", "", "",
                  "", link.time_ms, link.effective_ms,
                  IsBottleneck(placement, link.effective_ms) ? "  <- bottleneck" : "");
  };
  size_t next_link = 0;
  for (size_t s = 0; s < placement.stages.size(); ++s) {
    while (next_link < placement.links.size() &&
           placement.links[next_link].to_stage == static_cast<int>(s)) {
      link_row(placement.links[next_link++]);
    }
    const PlannedStage& stage = placement.stages[s];
    const size_t slowest = SlowestReplica(stage);
    const StageCost& cost = stage.costs[slowest];
    const WorkerProfile& worker = problem.cluster.workers[stage.workers[slowest]];
    const std::string edges =
        model.layers[stage.begin].name + " .. " + model.layers[stage.end - 1].name;
    out += Printf("%-7zu %-24s %-12s %-36s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f%s\n", s,
                  Truncate(WorkerNames(problem, stage.workers), 24).c_str(),
                  Printf("[%d, %d)", stage.begin, stage.end).c_str(), Truncate(edges, 36).c_str(),
                  cost.compute_ms, cost.paging_ms, cost.crypto_ms, cost.ecall_ms, stage.time_ms,
                  stage.effective_ms,
                  IsBottleneck(placement, stage.effective_ms) ? "  <- bottleneck" : "");
    if (!stage.sharded) {
      if (worker.is_enclave()) out += Printf("%-7s %s\n", "", WeightsLine(cost, worker).c_str());
      continue;
    }
    std::string names;
    for (size_t i = 0; i < stage.workers.size(); ++i) {
      names += (i > 0 ? ", " : "") + problem.cluster.workers[stage.workers[i]].name;
    }
    out += Printf("%-7s sharded %zu ways on %s\n", "", stage.workers.size(), names.c_str());
    for (size_t i = 0; i < stage.workers.size(); ++i) {
      const WorkerProfile& shard_worker = problem.cluster.workers[stage.workers[i]];
      out += Printf("%-7s shard %zu on %s: %s%s\n", "", i, shard_worker.name.c_str(),
                    FormatDuration(stage.costs[i].total_ms()).c_str(),
                    shard_worker.is_enclave()
                        ? ("; " + WeightsLine(stage.costs[i], shard_worker)).c_str()
                        : "");
    }
  }
  while (next_link < placement.links.size()) link_row(placement.links[next_link++]);
  return out;
}

std::string PlacementToJson(const Problem& problem, const Placement& placement) {
  using nlohmann::ordered_json;
  const ModelProfile& model = problem.model;
  ordered_json stages = ordered_json::array();
  for (size_t s = 0; s < placement.stages.size(); ++s) {
    const PlannedStage& stage = placement.stages[s];
    ordered_json replicas = ordered_json::array();
    for (size_t r = 0; r < stage.workers.size(); ++r) {
      const StageCost& c = stage.costs[r];
      replicas.push_back(ordered_json{
          {"worker", problem.cluster.workers[stage.workers[r]].name},
          {"compute_ms", JsonNumber(c.compute_ms)},
          {"paging_ms", JsonNumber(c.paging_ms)},
          {"stream_ms", JsonNumber(c.stream_ms)},
          {"crypto_ms", JsonNumber(c.crypto_ms)},
          {"ecall_ms", JsonNumber(c.ecall_ms)},
          {"total_ms", JsonNumber(c.total_ms())},
          {"working_set_bytes", c.working_set_bytes},
          {"swapped_pages", c.swapped_pages},
          {"weight_residency", WeightResidencyName(c.weight_residency)},
          {"streamed_weight_bytes", c.streamed_weight_bytes},
          {"weight_alternative", WeightCostJson(c.alternative)},
      });
    }
    stages.push_back(ordered_json{
        {"index", s},
        {"begin", stage.begin},
        {"end", stage.end},
        {"first_layer", model.layers[stage.begin].name},
        {"last_layer", model.layers[stage.end - 1].name},
        {"time_ms", JsonNumber(stage.time_ms)},
        {"effective_ms", JsonNumber(stage.effective_ms)},
        {"sharded", stage.sharded},
        {stage.sharded ? "shards" : "replicas", std::move(replicas)},
    });
  }
  ordered_json links = ordered_json::array();
  for (const PlannedLink& link : placement.links) {
    ordered_json link_ms = ordered_json::array();
    for (double ms : link.link_ms) link_ms.push_back(JsonNumber(ms));
    links.push_back(ordered_json{
        {"from", link.from_stage < 0 ? "client" : "stage " + std::to_string(link.from_stage)},
        {"to", link.to_stage < 0 ? "client" : "stage " + std::to_string(link.to_stage)},
        {"cut", link.cut},
        {"bytes", link.bytes},
        {"time_ms", JsonNumber(link.time_ms)},
        {"effective_ms", JsonNumber(link.effective_ms)},
        {"link_ms", std::move(link_ms)},
    });
  }
  const ordered_json json = {
      {"model", model.name},
      {"model_sha256", model.sha256},
      {"objective", ObjectiveName(placement.objective)},
      {"fps", JsonNumber(placement.fps)},
      {"latency_ms", JsonNumber(placement.latency_ms)},
      {"bottleneck_ms", JsonNumber(placement.bottleneck_ms)},
      {"bottleneck", placement.bottleneck},
      {"stages", std::move(stages)},
      {"links", std::move(links)},
  };
  // Names come from profile and cluster files: invalid UTF-8 in them is
  // replaced, not fatal.
  return json.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace serdab::partitioner
