// The worker daemon's enclave metrics, read from each enclave's stats JSON
// at scrape time (one Stats ECALL per enclave per scrape, which the ECALL
// count includes), labelled enclave="<name>":
//   serdab_worker_enclaves                        enclaves hosted
//   serdab_enclave_ecalls_total                   ECALLs into the enclave
//   serdab_enclave_page_faults_total              EPC page faults
//   serdab_enclave_evictions_total                EPC pages evicted
//   serdab_enclave_paged_bytes_total{direction}   bytes paged "in" or "out"
//   serdab_enclave_resident_pages                 EPC pages resident now
//   serdab_enclave_epc_bytes                      the enclave's EPC size
// and its data plane's, from DataPlaneCore's counters:
//   serdab_data_plane_frames_total{outcome}       frames queued ("in"), processed
//                                                 ("out"), refused ("rejected") or
//                                                 lost to a failed stage ("lost")
//   serdab_data_plane_bytes_total{direction}      ciphertext bytes "in" and "out"
//   serdab_data_plane_busy_seconds_total          time in process ECALLs
//   serdab_data_plane_queue_depth{enclave}        frames waiting per enclave
#ifndef SERDAB_WORKER_WORKER_METRICS_H_
#define SERDAB_WORKER_WORKER_METRICS_H_

#include "worker/data_plane_core.h"
#include "worker/metrics.h"
#include "worker/worker_core.h"

namespace serdab::worker {

// `core` must outlive every scrape of `registry`.
void AddEnclaveCollector(metrics::Registry* registry, WorkerCore* core);
// `data_plane` must outlive every scrape of `registry`.
void AddDataPlaneCollector(metrics::Registry* registry, DataPlaneCore* data_plane);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_WORKER_METRICS_H_
