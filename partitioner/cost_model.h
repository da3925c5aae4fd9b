// The cost model: what a stage and a link cost per frame.
//
// Stage (layers [b, e) on one worker), per frame:
//   compute = the sum of the worker's layer times.
//   working set = weights of [b, e) + the largest activation of any of its layers + the bytes
//     live at cut b (its input) + at cut e (its output).
//   paging (enclaves only) = when the working set exceeds the EPC, every page of it is
//     swapped once per frame (see SwappedPages): ceil(working set / 4 KiB) swaps x
//     page_swap_ns. A swap is what the EPC heap counts as one (epc_stats.h: a fault that
//     evicted a page or paged one in), and page_swap_ns, for a worker profiled with a target
//     cost profile, is the price the heap's TEE-equivalent clock charges per swap; so the
//     prediction is in the same units as the enclave's tee_ns, not the host's wall time.
//   crypto = (input + output bytes) / the worker's AEAD rate. Every hop is an encrypted
//     channel, so every stage opens its input and seals its output, accelerators included
//     (after the privacy cut they compute on plaintext, but the data still travels sealed).
//   ecall (enclaves only) = ecall_ns: one ECALL per frame plus the OCALLs for its I/O.
// Accelerators and native workers have no EPC: no paging, no ECALL, no memory limit.
//
// Link carrying the bytes of one cut: bytes / bandwidth + rtt / 2. AEAD is charged to the
// stages at both ends, not to the link.
//
// A pipeline runs at one frame per bottleneck: the largest per-frame time of any stage or
// link. A replicated stage takes alternate frames on its two workers, so it accepts a frame
// every max(replica times) / 2; the hops into and out of it are two links, each carrying
// every other frame (max(link times) / 2). Frames keep their parity from one replicated
// stage to the next (replica 0 feeds replica 0). A frame's latency is the sum of the stage
// and link times along the pipeline, where a replicated stage or a split hop counts its
// slower half: the worst frame's latency when at most one stage is replicated, and an upper
// bound on it otherwise.
#ifndef SERDAB_PARTITIONER_COST_MODEL_H_
#define SERDAB_PARTITIONER_COST_MODEL_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "enclave/common/status.h"
#include "partitioner/placement.h"
#include "partitioner/profile.h"

namespace serdab::partitioner {

// Walks a stage's end forward from `begin` one layer at a time, so that the costs of
// [begin, e) for every e take O(1) each. ComputeStageCost uses it too: every caller sums
// the layers in the same order and gets bit-identical costs.
class StageCostAccumulator {
 public:
  // `layer_ms` holds the worker's time for every layer of the model (WorkerLayerTimesMs).
  StageCostAccumulator(const ModelProfile& model, const WorkerProfile& worker,
                       const double* layer_ms, int begin)
      : model_(model), worker_(worker), layer_ms_(layer_ms), begin_(begin), end_(begin) {}

  int end() const { return end_; }

  // Adds layer end() to the stage.
  void Extend() {
    const LayerProfile& layer = model_.layers[end_];
    compute_ms_ += layer_ms_[end_];
    weight_bytes_ += layer.weight_bytes;
    max_activation_bytes_ = std::max(max_activation_bytes_, layer.activation_bytes);
    ++end_;
  }

  StageCost Cost() const {
    StageCost cost;
    cost.compute_ms = compute_ms_;
    cost.working_set_bytes = WorkingSetBytes();
    cost.crypto_ms = CryptoMs();
    if (worker_.is_enclave()) {
      cost.ecall_ms = EcallMs();
      cost.swapped_pages = SwappedPages(cost.working_set_bytes);
      cost.paging_ms = PagingMs(cost.swapped_pages);
    }
    return cost;
  }

  // Cost().total_ms(), computed the same way without filling a StageCost; the solver
  // tabulates it for every stage.
  double TotalMs() const {
    const double paging = worker_.is_enclave() ? PagingMs(SwappedPages(WorkingSetBytes())) : 0.0;
    const double ecall = worker_.is_enclave() ? EcallMs() : 0.0;
    return compute_ms_ + paging + CryptoMs() + ecall;
  }

  // Whether the working set exceeds the EPC, i.e. the stage pages.
  bool Pages() const { return worker_.is_enclave() && WorkingSetBytes() > worker_.epc_bytes; }

 private:
  int64_t InOutBytes() const { return model_.cut_bytes[begin_] + model_.cut_bytes[end_]; }
  int64_t WorkingSetBytes() const { return weight_bytes_ + max_activation_bytes_ + InOutBytes(); }
  double CryptoMs() const {
    return static_cast<double>(InOutBytes()) / worker_.aead_bytes_per_s * 1e3;
  }
  double EcallMs() const { return worker_.ecall_ns * 1e-6; }
  // A stage touches its working set in the same order every frame, and the
  // EPC pager's CLOCK evicts the oldest pages first, so once the working set
  // exceeds the EPC every page misses once per frame (one swap: evict a
  // victim, load the page). Measured on the sim enclave: resnet50 (101 MB
  // working set, 93.5 MiB EPC) swaps ~25,800 pages per frame, i.e. all of it,
  // not just the 8 MB excess.
  int64_t SwappedPages(int64_t working_set) const {
    if (working_set <= worker_.epc_bytes) return 0;
    return (working_set + kPageBytes - 1) / kPageBytes;
  }
  double PagingMs(int64_t swapped_pages) const {
    return static_cast<double>(swapped_pages) * worker_.page_swap_ns * 1e-6;
  }

  const ModelProfile& model_;
  const WorkerProfile& worker_;
  const double* layer_ms_;
  int begin_;
  int end_;
  double compute_ms_ = 0;
  int64_t weight_bytes_ = 0;
  int64_t max_activation_bytes_ = 0;
};

// Layers [begin, end) on `worker`, whose layer times are `layer_ms`.
StageCost ComputeStageCost(const ModelProfile& model, const WorkerProfile& worker,
                           const std::vector<double>& layer_ms, int begin, int end);

// One frame's cut of `bytes` over `link`.
inline double LinkTimeMs(int64_t bytes, const ResolvedLink& link) {
  return static_cast<double>(bytes) / link.bandwidth_bytes_per_s * 1e3 + link.rtt_ms / 2;
}

// Costs a plan and checks every constraint of the problem except the latency SLO: layer
// ranges, worker order, replication, max_stages, privacy, EPC without paging, links.
// Errors (FailedPrecondition, or InvalidArgument for a malformed plan) name what is broken.
// Assumes the problem's model and cluster are valid (ValidateModel, ValidateCluster).
Result<Placement> EvaluatePlacement(const Problem& problem, const std::vector<StagePlan>& plan);

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_COST_MODEL_H_
