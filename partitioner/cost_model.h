// The cost model: what a stage and a link cost per frame.
//
// Stage (layers [b, e) on one worker), per frame:
//   compute = the sum of the worker's layer times.
//   working set = weights of [b, e) + the largest activation of any of its layers + the bytes
//     live at cut b (its input) + at cut e (its output).
//   weights (enclaves only): where they live, and what that costs (WeightResidency):
//     resident: the working set fits the EPC; nothing to pay.
//     paged: every page of the working set is swapped once per frame (see PriceWeights):
//       ceil(working set / 4 KiB) swaps x page_swap_ns. A swap is what the EPC heap counts as
//       one (epc_stats.h: a fault that evicted a page or paged one in), and page_swap_ns, for a
//       worker profiled with a target cost profile, is the price the heap's TEE-equivalent
//       clock charges per swap; so the prediction is in the same units as the enclave's tee_ns,
//       not the host's wall time.
//     streamed: the stage keeps S bytes of its streamable weights (Gemm, MatMul and Conv
//       weights; enclave/engine/streamed_weights.h) outside the EPC as sealed chunks and opens
//       them one chunk at a time into a window per engine thread, so it needs S = working set
//       + windows + the runtime's bytes - EPC. When S is at most the stage's streamable bytes
//       nothing pages, and a frame pays one AEAD open of S bytes, spread over the threads:
//       S / (aead_bytes_per_s x threads).
//     streamed and paged: when S exceeds the streamable bytes T, streaming all of T still
//       leaves working set - T + windows resident, over the EPC, and every page of that is
//       swapped as above, plus T / (aead_bytes_per_s x threads).
//     The choice (ChooseWeightResidency): resident when the working set fits; else streamed
//     when S <= T; else the cheaper of paged and streamed and paged (paged when T = 0). Where
//     a problem disallows paging, a stage that swaps pages (paged, or streamed and paged) is
//     infeasible; a streamed one is not.
//   crypto = (input + output bytes) / the worker's AEAD rate. Every hop is an encrypted
//     channel, so every stage opens its input and seals its output, accelerators included
//     (after the privacy cut they compute on plaintext, but the data still travels sealed).
//   ecall (enclaves only) = ecall_ns: one ECALL per frame plus the OCALLs for its I/O.
// Accelerators and native workers have no EPC: no paging, no streaming, no ECALL, no memory
// limit.
//
// Sharded stage (one layer l split by its output features into k shards, shard i on worker
// w_i; enclave/engine/output_slice.h), per frame, for each shard:
//   compute = l's time on w_i / k.
//   weights = l's weight bytes / k, of which l's streamable bytes / k can stream; working
//     set = those weights + l's activation bytes + the input cut's bytes (every shard
//     receives the whole input) + the output cut's bytes / k. The residency is chosen by
//     ChooseWeightResidency as for any stage, so a shard may still stream or page.
//   crypto = (input bytes + output bytes / k) / the worker's AEAD rate; ecall as any stage.
// The stage takes as long as its slowest shard and accepts frames as often (every frame
// visits every shard). The engine splits a layer's F output features into shards that differ
// by one feature; the model uses exact 1/k fractions (byte counts rounded up to whole bytes),
// within one feature's weights and outputs of either. Only a layer with streamable weights
// can be sharded (Gemm, MatMul and group-1 Conv both stream and shard).
//
// Link carrying the bytes of one cut: bytes / bandwidth + rtt / 2. AEAD is charged to the
// stages at both ends, not to the link.
//
// Where a sharded stage may stand: the data plane runs only these shapes, and the
// coordinator refuses to wire any other (EvaluatePlacement refuses them too):
//   - never first or last: the client sends whole frames and takes whole results, so the
//     stages next to it are whole (unsharded) ones;
//   - never next to another sharded stage: a sharded -> sharded hop would send each shard's
//     part to every shard of the next layer, which the enclaves do not support.
// So a sharded stage always sits between two whole stages (one worker, or two replicas).
//
// A hop into or out of a sharded stage is a fan:
//   fan-out (one worker, k shards): the sender sends the whole cut to every shard over its
//     one uplink: the sum over shards of bytes / bandwidth(sender -> shard i), plus the largest
//     rtt / 2, plus the k - 1 extra seals of the cut the sender makes beyond the one its stage
//     pays for: (k - 1) x bytes / the sender's AEAD rate. Those seals are the sending stage's
//     work; charging them to the link is an approximation that keeps every stage's cost
//     independent of its neighbours, so the solver's programme still decomposes.
//   fan-in (k shards, one worker): the receiver takes every shard's part over its one
//     downlink: the sum over shards of (bytes / k) / bandwidth(shard i -> receiver), plus the
//     largest rtt / 2.
//   A replicated stage on the other side keeps its parity: each replica's half of the frames
//     is a fan of its own, as replicas have a link each.
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
#include <optional>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/streamed_weights.h"
#include "partitioner/placement.h"
#include "partitioner/profile.h"

namespace serdab::partitioner {

// The protected memory a streaming stage needs beyond its resident bytes: the windows its
// chunks are opened into, one per engine thread (engine/chunked_layer.h).
inline int64_t StreamWindowBytes(const WorkerProfile& worker) {
  return std::max(1, worker.threads) * static_cast<int64_t>(engine::kWeightChunkBytes);
}

// Holding a stage's weights with `paged` bytes in the EPC, every page of them swapped once
// per frame, and `streamed` bytes opened from outside it. A stage touches its working set in
// the same order every frame, and the EPC pager's CLOCK evicts the oldest pages first, so
// once it exceeds the EPC every page misses once per frame (one swap: evict a victim, load
// the page). Measured on the sim enclave: resnet50 (101 MB working set, 93.5 MiB EPC) swaps
// ~25,800 pages per frame, i.e. all of it, not just the 8 MB excess.
inline WeightCost PriceWeights(const WorkerProfile& worker, WeightResidency residency,
                               int64_t paged, int64_t streamed) {
  WeightCost cost;
  cost.residency = residency;
  cost.swapped_pages = (paged + kPageBytes - 1) / kPageBytes;
  cost.paging_ms = static_cast<double>(cost.swapped_pages) * worker.page_swap_ns * 1e-6;
  cost.streamed_weight_bytes = streamed;
  cost.stream_ms =
      static_cast<double>(streamed) / (worker.aead_bytes_per_s * std::max(1, worker.threads)) * 1e3;
  return cost;
}

// The cheapest way for an enclave stage with this working set and `streamable` bytes of
// streamable weights to hold its weights. When streaming S bytes (working set + windows +
// runtime bytes - EPC) suffices, it is taken: that costs one AEAD open per byte of S, while paging
// costs a fault and two AEAD operations (seal the victim, open the page) per 4 KiB of the whole
// working set, which is larger than S. Otherwise the choice is between paging everything and
// streaming all it can while paging the rest, whichever costs less (ties go to paging, which
// needs no streaming). `alternative`, when given, receives the option the chosen one was
// weighed against (nullopt when there was none: the stage is resident, or paging is all it
// can do).
//
// Each outcome returns its own object: a selection between two made the compiler copy one
// through memory for every entry of the solver's tables, and that doubled the solve time.
inline WeightCost ChooseWeightResidency(const WorkerProfile& worker, int64_t working_set,
                                        int64_t streamable,
                                        std::optional<WeightCost>* alternative = nullptr) {
  if (alternative != nullptr) alternative->reset();
  if (working_set <= worker.epc_bytes) return WeightCost{};
  const WeightCost paged = PriceWeights(worker, WeightResidency::kPaged, working_set, 0);
  if (streamable == 0) return paged;
  const int64_t window = StreamWindowBytes(worker);
  const int64_t needed = working_set + window + worker.runtime_bytes - worker.epc_bytes;
  if (needed <= streamable) {
    if (alternative != nullptr) *alternative = paged;
    return PriceWeights(worker, WeightResidency::kStreamed, 0, needed);
  }
  const WeightCost mixed = PriceWeights(worker, WeightResidency::kStreamedAndPaged,
                                        working_set - streamable + window, streamable);
  if (mixed.ms() < paged.ms()) {
    if (alternative != nullptr) *alternative = paged;
    return mixed;
  }
  if (alternative != nullptr) *alternative = mixed;
  return paged;
}

// An enclave stage's weight fields, from the residency chosen for it.
inline void SetWeightCost(const WeightCost& weights, StageCost* cost) {
  cost->weight_residency = weights.residency;
  cost->swapped_pages = weights.swapped_pages;
  cost->streamed_weight_bytes = weights.streamed_weight_bytes;
  cost->paging_ms = weights.paging_ms;
  cost->stream_ms = weights.stream_ms;
}

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
    streamable_weight_bytes_ += layer.streamable_weight_bytes;
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
      SetWeightCost(ChooseWeightResidency(worker_, cost.working_set_bytes, streamable_weight_bytes_,
                                          &cost.alternative),
                    &cost);
    }
    return cost;
  }

  // Cost().total_ms(), computed the same way without filling a StageCost; the solver
  // tabulates it for every stage.
  double TotalMs() const {
    // total_ms()'s paging, stream and ecall terms are 0 here, and x + 0.0 == x.
    if (!worker_.is_enclave()) return compute_ms_ + CryptoMs();
    const WeightCost weights =
        ChooseWeightResidency(worker_, WorkingSetBytes(), streamable_weight_bytes_);
    return compute_ms_ + weights.paging_ms + weights.stream_ms + CryptoMs() + EcallMs();
  }

  // Whether the stage swaps EPC pages: its working set exceeds the EPC and streaming weights
  // cannot make up the difference.
  bool Pages() const {
    return worker_.is_enclave() &&
           ChooseWeightResidency(worker_, WorkingSetBytes(), streamable_weight_bytes_)
                   .swapped_pages > 0;
  }

 private:
  int64_t InOutBytes() const { return model_.cut_bytes[begin_] + model_.cut_bytes[end_]; }
  int64_t WorkingSetBytes() const { return weight_bytes_ + max_activation_bytes_ + InOutBytes(); }
  double CryptoMs() const {
    return static_cast<double>(InOutBytes()) / worker_.aead_bytes_per_s * 1e3;
  }
  double EcallMs() const { return worker_.ecall_ns * 1e-6; }

  const ModelProfile& model_;
  const WorkerProfile& worker_;
  const double* layer_ms_;
  int begin_;
  int end_;
  double compute_ms_ = 0;
  int64_t weight_bytes_ = 0;
  int64_t streamable_weight_bytes_ = 0;
  int64_t max_activation_bytes_ = 0;
};

// Layers [begin, end) on `worker`, whose layer times are `layer_ms`.
StageCost ComputeStageCost(const ModelProfile& model, const WorkerProfile& worker,
                           const std::vector<double>& layer_ms, int begin, int end);

// Whether a layer can be sharded: it has streamable weights (the same layer kinds chunk and
// shard).
inline bool Shardable(const LayerProfile& layer) { return layer.streamable_weight_bytes > 0; }

// One of `shards` shards of layer `layer` on `worker`, whose layer times are `layer_ms`.
// Every shard of a layer costs the same on the same worker. Requires shards >= 1.
StageCost ComputeShardCost(const ModelProfile& model, const WorkerProfile& worker,
                           const std::vector<double>& layer_ms, int layer, int shards);

// One frame's cut of `bytes` over `link`.
inline double LinkTimeMs(int64_t bytes, const ResolvedLink& link) {
  return static_cast<double>(bytes) / link.bandwidth_bytes_per_s * 1e3 + link.rtt_ms / 2;
}

// A fan's time per frame, linear in the cut's bytes: the solver prices every cut with one
// multiply-add, and EvaluatePlacement does the same arithmetic, so both get the same bits.
struct FanTime {
  double ms_per_byte = 0;
  double fixed_ms = 0;

  double Ms(int64_t bytes) const { return static_cast<double>(bytes) * ms_per_byte + fixed_ms; }
};

// The fan-out from one worker, whose AEAD rate is `sender_aead_bytes_per_s`, to the `shards`
// shards of a sharded stage; links[i] joins it to shard i (the comment above).
FanTime ComputeFanOutTime(const ResolvedLink* links, int shards, double sender_aead_bytes_per_s);

// The fan-in from the `shards` shards of a sharded stage to one worker; links[i] joins
// shard i to it.
FanTime ComputeFanInTime(const ResolvedLink* links, int shards);

// Costs a plan and checks every constraint of the problem except the latency SLO: layer
// ranges, worker order, replication, sharding (where a sharded stage may stand, above, included),
// max_stages, privacy, EPC without paging, links.
// Errors (FailedPrecondition, or InvalidArgument for a malformed plan) name what is broken.
// Assumes the problem's model and cluster are valid (ValidateModel, ValidateCluster).
Result<Placement> EvaluatePlacement(const Problem& problem, const std::vector<StagePlan>& plan);

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_COST_MODEL_H_
