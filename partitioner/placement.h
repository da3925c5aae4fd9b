// A placement problem and its answer: which contiguous layers run on which workers.
//
// A placement is a pipeline of stages. Each stage runs layers [begin, end) on one worker, or
// on two workers taking alternate frames (a replicated stage), or runs a single layer split
// by its output features across k workers (a sharded stage: every frame visits every shard,
// each holding 1/k of the layer's weights; enclave/engine/output_slice.h). Stages take
// workers in the cluster's order: every worker of a later stage comes after every worker of
// an earlier one, and any worker may be skipped. The two replicas of a stage, and the k
// shards of one, are neighbours in that order (workers j, j + 1, ...), so a tier lists the
// workers it is willing to pair side by side.
//
// The data plane runs a sharded stage only between two whole (unsharded) stages: it is never
// the first or the last stage, because the client sends whole frames and takes whole results
// (the coordinator refuses to wire a sharded first or last stage), and never next to another
// sharded stage, because a sharded -> sharded hop would send each shard's part to every shard
// of the next layer, which is not supported. A replicated stage next to a sharded one is fine.
#ifndef SERDAB_PARTITIONER_PLACEMENT_H_
#define SERDAB_PARTITIONER_PLACEMENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "partitioner/profile.h"

namespace serdab::partitioner {

enum class Objective {
  kThroughput,  // minimise the slowest stage or link (ms per frame), i.e. maximise fps
  kLatency,     // minimise the time from a frame entering the pipeline to its result
};

std::string_view ObjectiveName(Objective objective);

// The most workers one layer may be sharded across (Problem::max_shards).
inline constexpr int kMaxShards = 64;

struct Problem {
  ModelProfile model;
  Cluster cluster;
  Objective objective = Objective::kThroughput;
  int max_stages = 0;      // 0: no limit beyond the number of workers
  int privacy_layers = 0;  // layers [0, privacy_layers) run only in enclaves
  bool allow_paging = true;
  // Every placement must return a frame within this many ms. Under the throughput objective
  // the solver maximises fps among the placements that meet it.
  std::optional<double> latency_slo_ms;
  bool allow_replication = false;
  // A sharded stage may split its layer across 2..max_shards workers; 0 or 1: no sharding.
  // Only layers with streamable weights (Gemm, MatMul, Conv with group 1) can be sharded.
  int max_shards = 0;
};

// What the caller asks for: a stage's layer range and its worker indices (one, two
// neighbours when replicated, or k consecutive workers when sharded: workers[i] runs shard
// i of the one layer [begin, begin + 1); never the first or last stage, nor next to another
// sharded one).
struct StagePlan {
  int begin = 0;
  int end = 0;
  std::vector<int> workers;
  bool sharded = false;
};

// Where an enclave stage keeps its weights while it runs; cost_model.h prices each and
// chooses. Workers outside enclaves always hold theirs resident.
enum class WeightResidency {
  kResident,          // the working set fits the EPC
  kPaged,             // it does not, and every page of it is swapped once per frame
  kStreamed,          // enough streamable weights stay outside the EPC, sealed, and are opened
                      // chunk by chunk every frame that nothing pages
  kStreamedAndPaged,  // all streamable weights are streamed and the rest still pages
};

std::string_view WeightResidencyName(WeightResidency residency);

// What holding a stage's weights costs per frame under one residency.
struct WeightCost {
  WeightResidency residency = WeightResidency::kResident;
  int64_t swapped_pages = 0;
  int64_t streamed_weight_bytes = 0;
  double paging_ms = 0;
  double stream_ms = 0;

  double ms() const { return paging_ms + stream_ms; }
};

// The cost of running layers [begin, end) on one worker for one frame.
struct StageCost {
  double compute_ms = 0;
  double paging_ms = 0;  // EPC page swaps when the working set exceeds the EPC
  double stream_ms = 0;  // opening the streamed weights' chunks
  double crypto_ms = 0;  // opening the stage's input and sealing its output
  double ecall_ms = 0;   // enclave transitions
  int64_t working_set_bytes = 0;
  int64_t swapped_pages = 0;  // per frame: every page of an over-committed working set
  WeightResidency weight_residency = WeightResidency::kResident;
  // Weight bytes the enclave keeps outside its EPC and opens every frame: what the stage's
  // enclave must be told to stream (it streams at least this many).
  int64_t streamed_weight_bytes = 0;
  // The residency the chosen one was weighed against, for reports; nullopt when there was
  // none (resident, or paging with nothing streamable).
  std::optional<WeightCost> alternative;

  double total_ms() const { return compute_ms + paging_ms + stream_ms + crypto_ms + ecall_ms; }
};

struct PlannedStage {
  int begin = 0;
  int end = 0;
  std::vector<int> workers;
  // One layer split across the workers: workers[i] runs shard i of k = workers.size(), and
  // costs[i] is its cost.
  bool sharded = false;
  std::vector<StageCost> costs;  // one per worker
  double time_ms = 0;            // the slowest replica or shard: what a frame waits here
  // How often the stage accepts a frame: time_ms / replicas; time_ms when sharded (every
  // frame visits every shard).
  double effective_ms = 0;
};

// One hop of the pipeline: between two stages, or between the client and a stage. A hop
// into or out of a replicated stage is two links, each carrying every other frame. A hop
// into a sharded stage fans the cut out from the stage before's worker to every shard, and
// one out of it fans the shards' parts in to the next stage's worker; each such fan counts as
// one link here (cost_model.h). The client's hops never touch a sharded stage.
struct PlannedLink {
  int from_stage = -1;  // -1: the client
  int to_stage = -1;    // -1: the client
  int cut = 0;
  int64_t bytes = 0;
  std::vector<double> link_ms;  // per physical link (or fan)
  double time_ms = 0;           // the slowest of them
  double effective_ms = 0;      // time_ms / links
};

struct Placement {
  Objective objective = Objective::kThroughput;
  std::vector<PlannedStage> stages;
  std::vector<PlannedLink> links;  // in pipeline order
  double bottleneck_ms = 0;        // the largest effective_ms of any stage or link
  std::string bottleneck;          // what it is, e.g. "stage 2" or "link stage 1 -> stage 2"
  double latency_ms = 0;           // the sum of every time_ms along the pipeline
  double fps = 0;                  // 1000 / bottleneck_ms; infinite when nothing costs time

  // What the objective minimises: bottleneck_ms or latency_ms.
  double objective_value() const {
    return objective == Objective::kThroughput ? bottleneck_ms : latency_ms;
  }
};

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_PLACEMENT_H_
