// The stats JSON a sim enclave with the sgx1 cost profile and no modelled
// target gives (serdab_ecall_stats), for scripted profiling enclaves: the
// fields ProfileInEnclaves reads.
#ifndef SERDAB_TESTS_ORCHESTRATOR_SIM_ENCLAVE_STATS_H_
#define SERDAB_TESTS_ORCHESTRATOR_SIM_ENCLAVE_STATS_H_

#include <nlohmann/json.hpp>
#include <string>

namespace serdab::orchestrator::testing {

inline std::string Sgx1StatsJson() {
  return nlohmann::json{{"profile", "sgx1"},        {"has_target", false},
                        {"cycles_per_second", 2e9}, {"swap_price_cycles", 40000},
                        {"target_epc_bytes", 0},    {"memory_overhead", 0.0}}
      .dump();
}

}  // namespace serdab::orchestrator::testing

#endif  // SERDAB_TESTS_ORCHESTRATOR_SIM_ENCLAVE_STATS_H_
