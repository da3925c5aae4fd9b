// What a worker reports about its CPU, so that workers with the same
// hardware can share a profile, and how fast it seals.
#ifndef SERDAB_WORKER_CPU_INFO_H_
#define SERDAB_WORKER_CPU_INFO_H_

#include <string>

#include "enclave/common/status.h"

namespace serdab::worker {

// This CPU's model name from /proc/cpuinfo ("unknown-cpu" if it names none).
std::string CpuModelName();

// The CPUs this process may run on (its affinity mask; at least 1).
int UsableCpuCount();

// Bytes per second one thread seals with the data plane's AEAD: the median of
// nine 1 MiB seals (a few milliseconds). What the planner prices frames'
// and streamed weights' encryption at.
Result<double> AeadBytesPerSecond();

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_CPU_INFO_H_
