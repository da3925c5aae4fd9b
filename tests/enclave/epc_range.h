// EpcRange: where an enclave's EPC heap lies in this process, read from its
// stats (heap_base, heap_bytes), as a host that mapped the enclave knows it.
#ifndef SERDAB_TESTS_ENCLAVE_EPC_RANGE_H_
#define SERDAB_TESTS_ENCLAVE_EPC_RANGE_H_

#include <cstdint>
#include <string>

namespace serdab {

struct EpcRange {
  uint8_t* begin = nullptr;
  size_t size = 0;

  bool Contains(uintptr_t address) const {
    const auto b = reinterpret_cast<uintptr_t>(begin);
    return address >= b && address < b + size;
  }

  // From an enclave's stats JSON; empty if it has no such fields.
  static EpcRange FromStats(const std::string& stats) {
    auto field = [&](const std::string& key) -> uint64_t {
      const size_t at = stats.find("\"" + key + "\":");
      return at == std::string::npos ? 0 : std::stoull(stats.substr(at + key.size() + 3));
    };
    return {reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(field("heap_base"))),
            static_cast<size_t>(field("heap_bytes"))};
  }
};

}  // namespace serdab

#endif  // SERDAB_TESTS_ENCLAVE_EPC_RANGE_H_
