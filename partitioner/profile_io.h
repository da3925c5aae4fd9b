// Profiles as YAML files, so that a measured profile can be cached (under CacheKey) and a
// cluster described by hand.
//
// Model profile:
//   model: vgg16
//   sha256: "9f2c..."
//   layers:
//     - {name: conv1_1, enclave_ms: 1.9, native_ms: 1.7, weight_bytes: 7168,
//        activation_bytes: 12845056}
//     - {name: fc6, enclave_ms: 80, native_ms: 70, weight_bytes: 411058176,
//        streamable_weight_bytes: 411041792, activation_bytes: 118784}
//                                           # enclave_wall_ms, streamable_weight_bytes optional
//   cut_bytes: [602112, 12845056, ...]      # one more than layers
//
// Cluster:
//   client: camera                          # optional
//   default_link: {bandwidth_bytes_per_s: 1.25e8, rtt_ms: 1}   # optional
//   workers:                                # in tier order
//     - {name: edge-1, fingerprint: "...", kind: enclave, epc_bytes: 98041856,
//        page_swap_ns: 40000, ecall_ns: 8000, aead_bytes_per_s: 2.0e9, threads: 4,
//        speed_factor: 1.0, layer_ms: [...]}   # fingerprint..layer_ms optional
//   links:
//     - {from: edge-1, to: cloud-1, bandwidth_bytes_per_s: 1.25e7, rtt_ms: 20}
//
// Every error names the file, line and column, the field, and what was expected; unknown
// fields are errors (a misspelt field would otherwise be silently ignored). Loading checks
// the syntax, the types and each number's range (times and latencies finite and >= 0,
// rates and speed factors > 0, byte counts up to 2^50 and EPC sizes > 0, threads 1..1024);
// ValidateModel and ValidateCluster check how fields relate (names, links, list lengths).
#ifndef SERDAB_PARTITIONER_PROFILE_IO_H_
#define SERDAB_PARTITIONER_PROFILE_IO_H_

#include <string>
#include <string_view>

#include "enclave/common/status.h"
#include "partitioner/profile.h"

namespace serdab::partitioner {

// `source` names the text in error messages (usually its file name).
Result<ModelProfile> ParseModelProfile(std::string_view yaml, std::string_view source);
Result<Cluster> ParseCluster(std::string_view yaml, std::string_view source);

std::string ModelProfileToYaml(const ModelProfile& model);
std::string ClusterToYaml(const Cluster& cluster);

Result<ModelProfile> LoadModelProfile(const std::string& path);
Result<Cluster> LoadCluster(const std::string& path);
Status SaveModelProfile(const ModelProfile& model, const std::string& path);
Status SaveCluster(const Cluster& cluster, const std::string& path);

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_PROFILE_IO_H_
