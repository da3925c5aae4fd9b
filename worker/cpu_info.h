// What a worker reports about its CPU, so that workers with the same
// hardware can share a profile, and how fast it seals; and the scheduling
// policy its threads run under.
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

// Linux scheduling policies for a daemon's threads (sched(7)).
enum class SchedulingPolicy {
  // SCHED_OTHER: a thread that wakes may preempt the one running.
  kOther,
  // SCHED_BATCH: a thread that wakes waits for the running one to block or
  // use up its slice. A worker's gRPC threads wake for every message; under
  // kOther each wake-up interrupts an enclave mid-frame, and on a busy core
  // those switches, not the work, are what a small frame costs.
  kBatch,
};

// "other" or "batch"; InvalidArgument for anything else.
Result<SchedulingPolicy> ParseSchedulingPolicy(const std::string& name);

// Puts the calling thread under `policy`. Threads it starts afterwards
// inherit it, so a daemon calls this before it starts any.
Status SetSchedulingPolicy(SchedulingPolicy policy);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_CPU_INFO_H_
