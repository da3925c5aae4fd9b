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
};

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
    }
  });
}

}  // namespace serdab::worker
