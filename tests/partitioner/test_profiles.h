// Small hand-made profiles for the partitioner's tests.
#ifndef SERDAB_TESTS_PARTITIONER_TEST_PROFILES_H_
#define SERDAB_TESTS_PARTITIONER_TEST_PROFILES_H_

#include <cstdint>
#include <string>

#include "partitioner/placement.h"

namespace serdab::partitioner::testing {

inline constexpr int64_t kMiB = 1 << 20;

// n layers named "l0".."l{n-1}", each taking `ms` in and out of enclaves, with the given
// weights and activations; every cut carries `cut` bytes.
inline ModelProfile UniformModel(int n, double ms, int64_t weight = 0, int64_t activation = 0,
                                 int64_t cut = 0) {
  ModelProfile model;
  model.name = "uniform";
  model.sha256 = "feed";
  for (int i = 0; i < n; ++i) {
    model.layers.push_back(LayerProfile{"l" + std::to_string(i), ms, ms, weight, activation});
  }
  model.cut_bytes.assign(n + 1, cut);
  return model;
}

// An enclave worker with no transition or paging cost and next to no crypto cost (1e18 B/s:
// nothing at all for zero-byte cuts, picoseconds otherwise).
inline WorkerProfile Enclave(const std::string& name, int64_t epc = 1024 * kMiB) {
  WorkerProfile w;
  w.name = name;
  w.fingerprint = name;
  w.kind = WorkerKind::kEnclave;
  w.epc_bytes = epc;
  w.aead_bytes_per_s = 1e18;
  return w;
}

inline WorkerProfile Accelerator(const std::string& name, double speed_factor) {
  WorkerProfile w = Enclave(name);
  w.kind = WorkerKind::kAccelerator;
  w.epc_bytes = 0;
  w.speed_factor = speed_factor;
  return w;
}

// A problem over `model` with every pair of workers linked at zero cost.
inline Problem FreeLinks(ModelProfile model) {
  Problem p;
  p.model = std::move(model);
  p.cluster.default_link = DefaultLink{1e18, 0};
  return p;
}

}  // namespace serdab::partitioner::testing

#endif  // SERDAB_TESTS_PARTITIONER_TEST_PROFILES_H_
