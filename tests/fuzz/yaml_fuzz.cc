// Fuzzes the YAML readers of model profiles and cluster files (written by
// hand, so anything may be in them). What parses must also validate without
// crashing, and must survive a write and a re-read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "partitioner/profile.h"
#include "partitioner/profile_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serdab::partitioner;
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  serdab::Result<ModelProfile> model = ParseModelProfile(yaml, "fuzz.yaml");
  if (model.ok()) {
    (void)ValidateModel(*model);
    if (!ParseModelProfile(ModelProfileToYaml(*model), "again.yaml").ok()) std::abort();
  }
  serdab::Result<Cluster> cluster = ParseCluster(yaml, "fuzz.yaml");
  if (cluster.ok()) {
    ModelProfile two_layers;
    two_layers.name = "fuzz";
    two_layers.layers = {{"a", 1, 1, 0, 0}, {"b", 1, 1, 0, 0}};
    two_layers.cut_bytes = {0, 0, 0};
    (void)ValidateCluster(*cluster, two_layers);
    if (!ParseCluster(ClusterToYaml(*cluster), "again.yaml").ok()) std::abort();
  }
  return 0;
}
