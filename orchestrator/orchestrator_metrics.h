// The orchestrator daemon's metrics, read from its state at scrape time:
//   serdab_orchestrator_workers{state}              workers "Ready" or "NotReady"
//   serdab_orchestrator_deployments{phase}          deployments by phase
//   serdab_deployment_generation{deployment}        the plan generation applied
//   serdab_deployment_rollout_version{deployment}   partition version rolled out
//                                                   (each rollout raises it: changes())
//   serdab_deployment_stages{deployment}            stages of its placement
//   serdab_deployment_predicted_fps{deployment}     the placement's predicted fps
// Apply requests and every other call: serdab_rpcs_total (rpc_metrics.h).
#ifndef SERDAB_ORCHESTRATOR_ORCHESTRATOR_METRICS_H_
#define SERDAB_ORCHESTRATOR_ORCHESTRATOR_METRICS_H_

#include "orchestrator/orchestrator_core.h"
#include "worker/metrics.h"

namespace serdab::orchestrator {

// `core` must outlive every scrape of `registry`.
void AddOrchestratorCollector(metrics::Registry* registry, OrchestratorCore* core);

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_ORCHESTRATOR_METRICS_H_
