#include "orchestrator/orchestrator_metrics.h"

#include <map>
#include <string>
#include <vector>

namespace serdab::orchestrator {

using metrics::MetricType;

void AddOrchestratorCollector(metrics::Registry* registry, OrchestratorCore* core) {
  registry->AddCollector([core](metrics::Collection* c) {
    // A store that cannot be read leaves its families out of this scrape;
    // the daemon's log says why at its next reconcile.
    if (Result<std::vector<WorkerRecord>> workers = core->ListWorkers(); workers.ok()) {
      double ready = 0;
      for (const WorkerRecord& w : *workers) ready += w.ready ? 1 : 0;
      const char* help = "Registered workers by state.";
      c->Add(MetricType::kGauge, "serdab_orchestrator_workers", help, {{"state", "Ready"}}, ready);
      c->Add(MetricType::kGauge, "serdab_orchestrator_workers", help, {{"state", "NotReady"}},
             static_cast<double>(workers->size()) - ready);
    }
    Result<std::vector<DeploymentView>> deployments = core->ListDeployments();
    if (!deployments.ok()) return;
    // Every phase is exported, zeros included, so a phase's series does not
    // vanish when its last deployment leaves it.
    std::map<std::string, double> phases = {
        {"Pending", 0}, {"Ready", 0}, {"Failed", 0}, {kPhaseDeleting, 0}};
    for (const DeploymentView& d : *deployments) phases[d.record.phase] += 1;
    for (const auto& [phase, count] : phases) {
      c->Add(MetricType::kGauge, "serdab_orchestrator_deployments", "Deployments by phase.",
             {{"phase", phase}}, count);
    }
    for (const DeploymentView& d : *deployments) {
      const DeploymentRecord& r = d.record;
      const std::vector<std::pair<std::string, std::string>> labels = {{"deployment", r.name}};
      c->Add(MetricType::kGauge, "serdab_deployment_generation",
             "The plan generation last applied to the deployment.", labels,
             static_cast<double>(r.generation));
      c->Add(MetricType::kGauge, "serdab_deployment_rollout_version",
             "The partition version the deployment's stages hold (0: none rolled out yet).", labels,
             static_cast<double>(r.rollout.version));
      c->Add(MetricType::kGauge, "serdab_deployment_stages",
             "Stages of the deployment's placement (a replicated stage counts once).", labels,
             static_cast<double>(PipelineStages(r.rollout.stages)));
      c->Add(MetricType::kGauge, "serdab_deployment_predicted_fps",
             "Frames per second the deployment's placement is predicted to sustain.", labels,
             r.rollout.predicted_fps);
    }
  });
}

}  // namespace serdab::orchestrator
