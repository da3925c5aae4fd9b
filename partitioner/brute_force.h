// The test oracle: every placement, costed by the cost model.
//
// Enumerates every way to cut the model into contiguous stages, every assignment of those
// stages to workers in order (any worker may be skipped) and, when replication is allowed,
// every choice of replicating a stage on a worker and its neighbour, and, when sharding is
// allowed, every stage of one shardable layer sharded across 2..max_shards consecutive
// workers, except where the data plane cannot run one (first, last, or next to another sharded
// stage; cost_model.h). Each candidate goes through EvaluatePlacement, which checks the
// constraints (those shapes included); the latency SLO is checked here.
// It shares nothing with the solver but the cost model. Exponential: small instances only.
#ifndef SERDAB_PARTITIONER_BRUTE_FORCE_H_
#define SERDAB_PARTITIONER_BRUTE_FORCE_H_

#include <cstdint>
#include <optional>

#include "enclave/common/status.h"
#include "partitioner/placement.h"

namespace serdab::partitioner {

struct BruteForceResult {
  // The best placement: lowest objective value; under throughput, ties go to the lowest
  // latency. nullopt when no placement meets the constraints.
  std::optional<Placement> best;
  int64_t placements_considered = 0;
};

Result<BruteForceResult> BruteForceSolve(const Problem& problem);

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_BRUTE_FORCE_H_
