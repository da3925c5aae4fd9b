#include "worker/cpu_info.h"

#include <algorithm>
#include <fstream>

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

}  // namespace serdab::worker
