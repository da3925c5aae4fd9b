#include "worker/worker_metrics.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace serdab::worker {
namespace {

using metrics::MetricType;

// A stats field exported as a sample: its JSON key, metric and labels.
struct Field {
  const char* key;
  MetricType type;
  const char* name;
  const char* help;
  const char* direction;  // the direction label's value, or null for none
};

constexpr Field kFields[] = {
    {"ecalls", MetricType::kCounter, "serdab_enclave_ecalls_total", "ECALLs into the enclave.",
     nullptr},
    {"page_faults", MetricType::kCounter, "serdab_enclave_page_faults_total",
     "EPC page faults in the enclave.", nullptr},
    {"evictions", MetricType::kCounter, "serdab_enclave_evictions_total",
     "EPC pages evicted from the enclave.", nullptr},
    {"bytes_paged_in", MetricType::kCounter, "serdab_enclave_paged_bytes_total",
     "Bytes paged into or out of the enclave's EPC.", "in"},
    {"bytes_paged_out", MetricType::kCounter, "serdab_enclave_paged_bytes_total",
     "Bytes paged into or out of the enclave's EPC.", "out"},
    {"resident_pages", MetricType::kGauge, "serdab_enclave_resident_pages",
     "EPC pages resident in the enclave now.", nullptr},
    {"epc_bytes", MetricType::kGauge, "serdab_enclave_epc_bytes",
     "The EPC the enclave may keep resident.", nullptr},
    {"sessions", MetricType::kGauge, "serdab_enclave_sessions",
     "Sessions the enclave holds open: clients, peer enclaves and its owner.", nullptr},
    {"swaps", MetricType::kCounter, "serdab_enclave_page_swaps_total",
     "EPC faults that evicted a page or paged one in (what the cost profile prices).", nullptr},
};

// The enclave's clocks (enclave/epc/epc_stats.h), in seconds. The part of the
// host's time the emulation spent paging, and the target TEE's price for the
// same events: a stage's TEE-equivalent time per frame is its ECALL time less
// the first plus the second, each per frame.
struct Clock {
  const char* key;
  const char* label;
};
constexpr Clock kClocks[] = {{"emulation_ns", "emulation"}, {"priced_ns", "priced"}};

}  // namespace

void AddEnclaveCollector(metrics::Registry* registry, WorkerCore* core) {
  registry->AddCollector([core](metrics::Collection* c) {
    const std::vector<EnclaveInfo> enclaves = core->List();
    c->Add(MetricType::kGauge, "serdab_worker_enclaves", "Enclaves this worker hosts.", {},
           static_cast<double>(enclaves.size()));
    for (const EnclaveInfo& e : enclaves) {
      // An enclave destroyed since List(), or one whose stats do not parse,
      // is left out of this scrape rather than reported as zeros.
      Result<std::string> text = core->Stats(e.name);
      if (!text.ok()) continue;
      const nlohmann::json stats =
          nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (!stats.is_object()) continue;
      for (const Field& f : kFields) {
        const auto it = stats.find(f.key);
        if (it == stats.end() || !it->is_number()) continue;
        std::vector<std::pair<std::string, std::string>> labels = {{"enclave", e.name}};
        if (f.direction != nullptr) labels.emplace_back("direction", f.direction);
        c->Add(f.type, f.name, f.help, labels, it->get<double>());
      }
      for (const Clock& clock : kClocks) {
        const auto it = stats.find(clock.key);
        if (it == stats.end() || !it->is_number()) continue;
        c->Add(MetricType::kCounter, "serdab_enclave_clock_seconds_total",
               "Host time the EPC emulation spent paging, and the target TEE's price for the "
               "same swaps, first touches and ECALLs.",
               {{"enclave", e.name}, {"clock", clock.label}}, it->get<double>() * 1e-9);
      }
    }
  });
}

void AddDataPlaneCollector(metrics::Registry* registry, DataPlaneCore* data_plane) {
  registry->AddCollector([data_plane](metrics::Collection* c) {
    const DataPlaneCounters& n = data_plane->counters();
    constexpr char kFrames[] = "serdab_data_plane_frames_total";
    constexpr char kFramesHelp[] = "Frames through this worker's stages, by outcome.";
    c->Add(MetricType::kCounter, kFrames, kFramesHelp, {{"outcome", "in"}},
           static_cast<double>(n.frames_in.load()));
    c->Add(MetricType::kCounter, kFrames, kFramesHelp, {{"outcome", "out"}},
           static_cast<double>(n.frames_out.load()));
    c->Add(MetricType::kCounter, kFrames, kFramesHelp, {{"outcome", "rejected"}},
           static_cast<double>(n.frames_rejected.load()));
    c->Add(MetricType::kCounter, kFrames, kFramesHelp, {{"outcome", "lost"}},
           static_cast<double>(n.frames_lost.load()));
    constexpr char kBytes[] = "serdab_data_plane_bytes_total";
    constexpr char kBytesHelp[] = "Ciphertext bytes into and out of this worker's enclaves.";
    c->Add(MetricType::kCounter, kBytes, kBytesHelp, {{"direction", "in"}},
           static_cast<double>(n.bytes_in.load()));
    c->Add(MetricType::kCounter, kBytes, kBytesHelp, {{"direction", "out"}},
           static_cast<double>(n.bytes_out.load()));
    c->Add(MetricType::kCounter, "serdab_data_plane_busy_seconds_total",
           "Time this worker's enclaves spent in process ECALLs.", {},
           static_cast<double>(n.busy_ns.load()) / 1e9);
    for (const auto& [enclave, depth] : data_plane->QueueDepths()) {
      c->Add(MetricType::kGauge, "serdab_data_plane_queue_depth", "Frames waiting for the enclave.",
             {{"enclave", enclave}}, static_cast<double>(depth));
    }
  });
}

}  // namespace serdab::worker
