// Fuzzes the YAML readers of model profiles, cluster files and deployment plans (written
// by hand, so anything may be in them). What parses must also validate without crashing,
// and must survive a write and a re-read; a plan's canonical JSON must read back to the
// same text. A refused plan's error must be one line naming this file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/deployment_plan.h"
#include "partitioner/profile.h"
#include "partitioner/profile_io.h"

namespace {

void FuzzPlans(std::string_view yaml) {
  using namespace serdab::orchestrator;
  serdab::Result<std::vector<DeploymentPlan>> plans = ParseDeploymentPlans(yaml, "fuzz.yaml");
  if (!plans.ok()) {
    const std::string& message = plans.status().message();
    if (message.rfind("fuzz.yaml:", 0) != 0 || message.find('\n') != std::string::npos) {
      std::abort();
    }
    return;
  }
  for (const DeploymentPlan& plan : *plans) {
    const std::string json = CanonicalPlanJson(plan);
    serdab::Result<DeploymentPlan> back = DeploymentPlanFromJson(json);
    if (!back.ok() || CanonicalPlanJson(*back) != json) std::abort();
  }
}

}  // namespace

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
  FuzzPlans(yaml);
  return 0;
}
