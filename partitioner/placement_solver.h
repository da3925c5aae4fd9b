// The exact placement solver.
//
// Workers are taken in the cluster's order, so a placement is a path through (cut, worker)
// pairs and dynamic programming finds the best one exactly:
//   f[e][B][k] = the best value for layers [0, e) with k stages, the last on worker group B
//   (one worker, two neighbours for a replicated stage, or 2..max_shards consecutive workers
//   for a sharded stage, which holds one layer), and
//   g[b][B][k] = the best value of a prefix ending at cut b, extended by the link into B.
// Splitting every transition into "link into B" (g) and "stage on B" (f) keeps one pass at
// O(n * G^2 * K + n^2 * G * K) for n layers, G groups and K stage counts (K is 1 when
// max_stages does not bind); shard groups add to G but take one layer each, so they add
// O(n * G * K) stage work, and their hops are skipped at cuts next to a layer that cannot
// be sharded. Every stage and link cost is tabulated once per solve; rows of
// stages are cut short by branch and bound (a stage's cost never falls as it grows, in the
// suffix-minimum sense, and no prefix that cannot beat the best complete placement is
// extended). The path is rebuilt afterwards by recomputing the same values, so the inner
// loops only take minima.
//
// Latency sums stage and link times; throughput takes their maximum (the bottleneck). Both
// decompose over the path, so both are exact. The throughput answer is refined to the lowest
// latency among the placements with the optimal bottleneck. With a latency SLO, throughput is
// searched over bottleneck values: feasible(c) = "the lowest latency with every stage and link
// at most c meets the SLO" is monotone in c, and the optimum is one of the stage or link
// costs, so a binary search over those candidates (selected with nth_element, no full sort)
// stays exact.
//
// Sharded stages keep both objectives decomposable because a fan's extra seals are charged
// to its link, not to the stage before it (cost_model.h). The data plane runs a sharded stage
// only between two whole ones (never first or last, where the client sends whole frames and
// takes whole results, and never next to another sharded stage, whose every shard would have
// to send its part to every shard of the next layer). Both rules are local to the path: a shard
// group gets no start, no hop from the client or to it, no completion, and no hop into another
// shard group, so the programme stays exact. Where the rules alone make a problem infeasible
// because a layer fits an EPC only sharded (paging disallowed) and is the first or the last, or
// sits next to another such layer, the error says so before any search.
//
// Solve time (bench/partitioner_bench.cc, 300 layers x 16 workers, most layers' weights
// streamable): 6-8 ms, 14-25 ms with a binding SLO; with max_shards 4 (three layers in four
// shardable), 9-11 ms, 22-36 ms with a binding SLO.
#ifndef SERDAB_PARTITIONER_PLACEMENT_SOLVER_H_
#define SERDAB_PARTITIONER_PLACEMENT_SOLVER_H_

#include "enclave/common/status.h"
#include "partitioner/placement.h"

namespace serdab::partitioner {

// The best placement for the problem's objective under all of its constraints.
// InvalidArgument for malformed profiles or parameters; FailedPrecondition, naming the
// constraint that cannot be met, when no placement exists.
Result<Placement> Solve(const Problem& problem);

// Checks the problem's profiles and parameters.
Status ValidateProblem(const Problem& problem);

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_PLACEMENT_SOLVER_H_
