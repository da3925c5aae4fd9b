#include "partitioner/placement_report.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
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
const StageCost& SlowestReplica(const PlannedStage& stage) {
  size_t slowest = 0;
  for (size_t i = 1; i < stage.costs.size(); ++i) {
    if (stage.costs[i].total_ms() > stage.costs[slowest].total_ms()) slowest = i;
  }
  return stage.costs[slowest];
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
    const StageCost& cost = SlowestReplica(stage);
    const std::string edges =
        model.layers[stage.begin].name + " .. " + model.layers[stage.end - 1].name;
    out += Printf("%-7zu %-24s %-12s %-36s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f%s\n", s,
                  Truncate(WorkerNames(problem, stage.workers), 24).c_str(),
                  Printf("[%d, %d)", stage.begin, stage.end).c_str(), Truncate(edges, 36).c_str(),
                  cost.compute_ms, cost.paging_ms, cost.crypto_ms, cost.ecall_ms, stage.time_ms,
                  stage.effective_ms,
                  IsBottleneck(placement, stage.effective_ms) ? "  <- bottleneck" : "");
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
          {"crypto_ms", JsonNumber(c.crypto_ms)},
          {"ecall_ms", JsonNumber(c.ecall_ms)},
          {"total_ms", JsonNumber(c.total_ms())},
          {"working_set_bytes", c.working_set_bytes},
          {"swapped_pages", c.swapped_pages},
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
        {"replicas", std::move(replicas)},
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
