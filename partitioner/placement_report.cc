#include "partitioner/placement_report.h"

#include <cmath>
#include <cstdio>
#include <string_view>
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

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          *out += Printf("\\u%04x", static_cast<unsigned>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

std::string JsonNumber(double v) { return std::isfinite(v) ? Printf("%.10g", v) : "null"; }

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
  const ModelProfile& model = problem.model;
  std::string out = "{\"model\": ";
  AppendJsonString(model.name, &out);
  out += ", \"model_sha256\": ";
  AppendJsonString(model.sha256, &out);
  out += ", \"objective\": ";
  AppendJsonString(ObjectiveName(placement.objective), &out);
  out += ", \"fps\": " + JsonNumber(placement.fps);
  out += ", \"latency_ms\": " + JsonNumber(placement.latency_ms);
  out += ", \"bottleneck_ms\": " + JsonNumber(placement.bottleneck_ms);
  out += ", \"bottleneck\": ";
  AppendJsonString(placement.bottleneck, &out);
  out += ", \"stages\": [";
  for (size_t s = 0; s < placement.stages.size(); ++s) {
    const PlannedStage& stage = placement.stages[s];
    out += s ? ", " : "";
    out += Printf("{\"index\": %zu, \"begin\": %d, \"end\": %d, \"first_layer\": ", s, stage.begin,
                  stage.end);
    AppendJsonString(model.layers[stage.begin].name, &out);
    out += ", \"last_layer\": ";
    AppendJsonString(model.layers[stage.end - 1].name, &out);
    out += ", \"time_ms\": " + JsonNumber(stage.time_ms);
    out += ", \"effective_ms\": " + JsonNumber(stage.effective_ms);
    out += ", \"replicas\": [";
    for (size_t r = 0; r < stage.workers.size(); ++r) {
      const StageCost& c = stage.costs[r];
      out += r ? ", " : "";
      out += "{\"worker\": ";
      AppendJsonString(problem.cluster.workers[stage.workers[r]].name, &out);
      out += ", \"compute_ms\": " + JsonNumber(c.compute_ms);
      out += ", \"paging_ms\": " + JsonNumber(c.paging_ms);
      out += ", \"crypto_ms\": " + JsonNumber(c.crypto_ms);
      out += ", \"ecall_ms\": " + JsonNumber(c.ecall_ms);
      out += ", \"total_ms\": " + JsonNumber(c.total_ms());
      out += Printf(", \"working_set_bytes\": %lld, \"swapped_pages\": %lld}",
                    static_cast<long long>(c.working_set_bytes),
                    static_cast<long long>(c.swapped_pages));
    }
    out += "]}";
  }
  out += "], \"links\": [";
  for (size_t i = 0; i < placement.links.size(); ++i) {
    const PlannedLink& link = placement.links[i];
    out += i ? ", " : "";
    out += "{\"from\": ";
    AppendJsonString(link.from_stage < 0 ? "client" : "stage " + std::to_string(link.from_stage),
                     &out);
    out += ", \"to\": ";
    AppendJsonString(link.to_stage < 0 ? "client" : "stage " + std::to_string(link.to_stage), &out);
    out += Printf(", \"cut\": %d, \"bytes\": %lld", link.cut, static_cast<long long>(link.bytes));
    out += ", \"time_ms\": " + JsonNumber(link.time_ms);
    out += ", \"effective_ms\": " + JsonNumber(link.effective_ms);
    out += ", \"link_ms\": [";
    for (size_t k = 0; k < link.link_ms.size(); ++k) {
      out += (k ? ", " : "") + JsonNumber(link.link_ms[k]);
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace serdab::partitioner
