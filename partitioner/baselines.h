// Baseline placements to compare the solver against. All of them use enclave workers only
// (so privacy always holds), page when a stage does not fit its EPC whatever the problem
// allows, and ignore the latency SLO; they are costed by the same cost model.
#ifndef SERDAB_PARTITIONER_BASELINES_H_
#define SERDAB_PARTITIONER_BASELINES_H_

#include "enclave/common/status.h"
#include "partitioner/placement.h"

namespace serdab::partitioner {

// The whole model in one enclave: the best enclave worker for the problem's objective.
Result<Placement> OneEnclaveBaseline(const Problem& problem);

// The layers split into `stages` runs of equal length (give or take one) on the first
// `stages` enclave workers. stages <= 0: as many as there are enclave workers, capped by
// max_stages and the number of layers.
Result<Placement> EqualSplitBaseline(const Problem& problem, int stages = 0);

// Each enclave in order takes layers until the next would overflow its EPC; the last one
// allowed (by the enclave count or max_stages) takes whatever remains.
Result<Placement> GreedyEpcFillBaseline(const Problem& problem);

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_BASELINES_H_
