// Placements for people (a table) and for programs (JSON).
#ifndef SERDAB_PARTITIONER_PLACEMENT_REPORT_H_
#define SERDAB_PARTITIONER_PLACEMENT_REPORT_H_

#include <string>

#include "partitioner/placement.h"

namespace serdab::partitioner {

// A fixed-width table: a summary line (fps, latency, bottleneck), then one row per stage and
// per link in pipeline order with the cost components in ms; the bottleneck row is marked.
// A replicated stage shows its slower replica's components. Under each enclave stage a line
// says where its weights live (resident, paged, streamed, or streamed and paged) and why: the
// cost of the alternative the cost model weighed, or the EPC it fits or overflows. A sharded
// stage's row shows its slowest shard; under it a line names its workers ("sharded 3 ways on
// a, b, c") and one line per shard gives its time and, in an enclave, its weights line.
std::string FormatPlacementTable(const Problem& problem, const Placement& placement);

// The same as a JSON object; times in ms, sizes in bytes, worker and layer names spelled out.
// Infinite fps is written as null. Every stage has "sharded"; its per-worker costs are under
// "shards" (in shard order) when it is sharded, "replicas" otherwise.
std::string PlacementToJson(const Problem& problem, const Placement& placement);

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_PLACEMENT_REPORT_H_
