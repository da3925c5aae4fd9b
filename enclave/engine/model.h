// Model: a loaded, optimised graph that runs whole or one layer range at a time.
//
// Loading imports ONNX, infers shapes, folds constants, fuses BatchNorm and
// activations into Conv/Gemm, and prepares one kernel per remaining node. Each
// remaining node is a *layer*; the cut before layer k is the set of tensors
// produced before k and read at or after k. A pipeline stage runs a layer
// range [begin, end): it is handed the tensors live at cut `begin` and returns
// those live at cut `end`. Running [0,k) then [k,n) gives bit-identical
// results to running [0,n), for every k.
#ifndef SERDAB_ENCLAVE_ENGINE_MODEL_H_
#define SERDAB_ENCLAVE_ENGINE_MODEL_H_

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/allocator.h"
#include "enclave/engine/graph.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/output_slice.h"
#include "enclave/engine/streamed_weights.h"
#include "enclave/engine/tensor.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {

struct ModelOptions {
  int num_threads = 1;
  // Use optimised kernels where they exist; reference kernels otherwise.
  bool optimized_kernels = true;
  // Where weights live, and where activations and scratch live. Null: heap.
  Allocator* weight_allocator = nullptr;
  Allocator* activation_allocator = nullptr;
  // Apply BatchNorm and activation fusion (constant folding always runs).
  bool fuse = true;
  // Partition mode: keep only the weights of layers [keep_begin, keep_end)
  // (keep_end -1: to the last layer), moved into weight_allocator; the other
  // layers' weights are released and those layers cannot run. A pipeline
  // stage holds just its partition this way. Off: every weight stays where
  // import put it.
  bool partition = false;
  int keep_begin = 0;
  int keep_end = -1;
  // Streamed weights (streamed_weights.h): at least this many bytes of the
  // kept layers' weights (or all that can stream, if fewer) are sealed into
  // `weight_store` and opened chunk by chunk on every run. The store must
  // outlive the model. 0: every weight is resident.
  size_t streamed_weight_bytes = 0;
  WeightChunkStore* weight_store = nullptr;
  // A layer split across enclaves: the kept range is this one layer (a Gemm,
  // MatMul or Conv that output_slice.h can split), and the model computes
  // `shard` of its output features, holding only that shard's weights. Its
  // output, at cut shard_layer + 1, is the shard's part; ConcatShards puts
  // the parts back together. -1: no shard.
  int shard_layer = -1;
  LayerShard shard;
};

// One layer of the layer view (see partitioner/).
struct LayerInfo {
  int index = 0;
  std::string name;     // the ONNX node's name (or a generated one)
  std::string op_type;  // after fusion, e.g. "Conv"
  std::string fused;    // what was fused into it, e.g. "BatchNormalization+Relu", or ""
  std::vector<TensorInfo> outputs;
  // Bytes of constant inputs, and of the weights the layer's kernel prepared
  // from them (Kernel::PreparedWeightBytes): what the layer keeps resident.
  size_t weight_bytes = 0;
  // Of weight_bytes: what could be streamed through the enclave in chunks
  // (streamed_weights.h: the weight of a Gemm, MatMul or Conv, split along the
  // layer's output features), and what this model does stream, so that the
  // bytes resident in protected memory are weight_bytes - streamed_weight_bytes.
  size_t streamable_weight_bytes = 0;
  size_t streamed_weight_bytes = 0;
  // Of weight_bytes: the copy the kernel prepared (Kernel::PreparedWeightBytes).
  size_t prepared_weight_bytes = 0;
  int64_t flops = 0;  // 0 for layers outside a kept range
  // Non-constant input and output bytes, plus the kernel's scratch memory
  // when the layer is in the kept range: what it works in while it runs.
  size_t activation_bytes = 0;
};

// The tensors live across the cut before layer `index` (index == num_layers:
// the model's outputs).
struct CutInfo {
  int index = 0;
  std::vector<int> values;  // value ids, in a stable order
  std::vector<std::string> names;
  std::vector<TensorInfo> infos;
  size_t bytes = 0;
};

class Model {
 public:
  // Imports and prepares an ONNX file. Errors name the file and the problem.
  static Result<std::unique_ptr<Model>> LoadOnnx(const std::string& path,
                                                 const ModelOptions& options = {});
  // Prepares an already imported graph (constant folding, fusion, kernels).
  static Result<std::unique_ptr<Model>> FromGraph(Graph graph, const ModelOptions& options = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const Graph& graph() const { return graph_; }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  const std::vector<LayerInfo>& layers() const { return layers_; }
  // Cuts 0..num_layers(); cut 0 holds the model's inputs.
  const std::vector<CutInfo>& cuts() const { return cuts_; }
  size_t weight_bytes() const;
  const ModelOptions& options() const { return options_; }
  // The threads the layers run on. Between Runs, the model's owner may run
  // loops of its own on them (an enclave opens a frame's records there).
  ThreadPool* pool() const { return pool_.get(); }

  // The layers whose weights are held (all, unless ModelOptions kept a range).
  int kept_begin() const { return kept_begin_; }
  int kept_end() const { return kept_end_; }

  // Runs layers [begin, end), which must lie in the kept range. `inputs` are
  // the tensors of cuts()[begin], in order; returns those of cuts()[end]. Types and shapes are
  // checked. One Run at a time per Model; activation memory is reused between calls.
  Result<std::vector<Tensor>> Run(int begin, int end, const std::vector<Tensor>& inputs);

  // Runs the whole model.
  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) {
    return Run(0, num_layers(), inputs);
  }

 private:
  struct RangePlan;
  explicit Model(const ModelOptions& options);
  Status Prepare(Graph graph);
  Result<RangePlan*> PlanFor(int begin, int end);
  // Moves the kept layers' constants into weight_allocator, except those in
  // `chunked` (their layers keep the chunks they hold and seal the others).
  Status KeepWeightsOfRange(const std::set<int>& chunked);
  // How many of each layer's weight chunks stream (ModelOptions), from the
  // splits FindOutputSplit found (nullopt: the layer cannot stream).
  std::vector<int64_t> ChooseStreamedChunks(const std::vector<std::optional<OutputSplit>>& splits);

  ModelOptions options_;
  Graph graph_;
  std::vector<std::unique_ptr<Kernel>> kernels_;  // one per layer
  std::vector<LayerInfo> layers_;
  std::vector<CutInfo> cuts_;
  std::unique_ptr<ThreadPool> pool_;
  std::map<std::pair<int, int>, std::unique_ptr<RangePlan>> plans_;
  uint64_t plan_clock_ = 0;  // orders plans by last use
  int kept_begin_ = 0;
  int kept_end_ = 0;
  std::set<int> released_;  // constants dropped outside the kept range
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_MODEL_H_
