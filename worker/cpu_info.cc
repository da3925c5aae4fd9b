#include "worker/cpu_info.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "enclave/crypto/aead.h"

namespace serdab::worker {

std::string CpuModelName() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    const size_t colon = line.find(':');
    if (line.rfind("model name", 0) == 0 && colon != std::string::npos) {
      return line.substr(std::min(line.size(), colon + 2));
    }
  }
  return "unknown-cpu";
}

int UsableCpuCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Result<double> AeadBytesPerSecond() {
  crypto::AeadKey key{};
  SERDAB_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::Create(crypto::PreferredAead(), key));
  const crypto::Bytes plain(1 << 20, 0x5a);
  std::vector<double> seconds;
  for (int i = 0; i < 9; ++i) {
    const auto start = std::chrono::steady_clock::now();
    SERDAB_RETURN_IF_ERROR(aead.Seal(i, {}, plain).status());
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return plain.size() / seconds[seconds.size() / 2];
}

Result<SchedulingPolicy> ParseSchedulingPolicy(const std::string& name) {
  if (name == "other") return SchedulingPolicy::kOther;
  if (name == "batch") return SchedulingPolicy::kBatch;
  return Status::InvalidArgument("unknown scheduling policy \"" + name +
                                 "\": expected \"batch\" or \"other\"");
}

Status SetSchedulingPolicy(SchedulingPolicy policy) {
  const sched_param param{};
  const int linux_policy = policy == SchedulingPolicy::kBatch ? SCHED_BATCH : SCHED_OTHER;
  if (sched_setscheduler(0, linux_policy, &param) != 0) {
    return Status::IoError(std::string("sched_setscheduler: ") + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace serdab::worker
