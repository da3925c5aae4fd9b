// TimeLayerMs and TimeRangeMs: how long layers take, for the partitioner's
// profiles.
//
// Both run their layers on real inputs a few times untimed, then at least
// `min_runs` timed runs and more until enough time has accumulated (at most
// 200 runs), and return the median. Short layers and short ranges get many
// samples, which is what makes two profiles of the same machine agree: on a
// shared VM a 6 ms range varies by +-10% from run to run, so a median of 3
// could differ by a fifth between two profiles taken a minute apart.
#ifndef SERDAB_ENCLAVE_ENGINE_LAYER_TIMER_H_
#define SERDAB_ENCLAVE_ENGINE_LAYER_TIMER_H_

#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/model.h"

namespace serdab::engine {

// Layer k alone, repeated until 40 ms of runs: its weights stay hot in cache.
// `inputs` are the tensors of cut k; `outputs` receives those of cut k + 1.
Result<double> TimeLayerMs(Model* model, int k, const std::vector<Tensor>& inputs, int min_runs,
                           std::vector<Tensor>* outputs);

// Layers [begin, end) end to end, as a stage runs them frame after frame,
// repeated until 300 ms of runs. `inputs` are the tensors of cut `begin`.
Result<double> TimeRangeMs(Model* model, int begin, int end, const std::vector<Tensor>& inputs,
                           int min_runs);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_LAYER_TIMER_H_
