// TimeLayer: how long one layer takes, for the partitioner's profiles.
//
// Runs layer k alone on its real inputs: two warm-up runs, then at least
// `min_runs` timed runs and more until 40 ms of runs have accumulated (at
// most 200), and returns the median. Short layers get many samples, which is
// what makes two profiles of the same machine agree.
#ifndef SERDAB_ENCLAVE_ENGINE_LAYER_TIMER_H_
#define SERDAB_ENCLAVE_ENGINE_LAYER_TIMER_H_

#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/model.h"

namespace serdab::engine {

// `inputs` are the tensors of cut k; `outputs` receives those of cut k + 1.
Result<double> TimeLayerMs(Model* model, int k, const std::vector<Tensor>& inputs, int min_runs,
                           std::vector<Tensor>* outputs);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_LAYER_TIMER_H_
