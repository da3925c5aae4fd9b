// What a worker reports about its CPU, so that workers with the same
// hardware can share a profile.
#ifndef SERDAB_WORKER_CPU_INFO_H_
#define SERDAB_WORKER_CPU_INFO_H_

#include <string>

namespace serdab::worker {

// This CPU's model name from /proc/cpuinfo ("unknown-cpu" if it names none).
std::string CpuModelName();

// The CPUs this process may run on (its affinity mask; at least 1).
int UsableCpuCount();

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_CPU_INFO_H_
