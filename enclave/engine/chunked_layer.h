// ChunkedLayer: a Gemm, MatMul or Conv whose weight is held in chunks of
// output features (output_slice.h), the last few sealed in a WeightChunkStore
// outside protected memory and the others resident, and which runs one chunk
// at a time (streamed_weights.h). It computes all of the layer's outputs, or
// one shard of them (a layer split across enclaves, each holding the weights
// of its shard).
//
// Each of the pool's threads takes every n-th chunk (so that the streamed
// ones, the last, are shared), with a window of its own in the layer's
// scratch: it opens a streamed chunk into its window (a resident one is read
// in place) and runs the layer's kernel, set up for the chunk's features, on
// one thread. The result is bit-identical to the resident
// layer, for any thread count.
#ifndef SERDAB_ENCLAVE_ENGINE_CHUNKED_LAYER_H_
#define SERDAB_ENCLAVE_ENGINE_CHUNKED_LAYER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "enclave/engine/graph.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/output_slice.h"
#include "enclave/engine/streamed_weights.h"

namespace serdab::engine {

// How a split's features [first, last) fall into chunks: all hold
// features_per_chunk features (at most kWeightChunkBytes, or one feature's
// weights when that is larger) except perhaps the last.
struct WeightChunking {
  int64_t features_per_chunk = 0;
  int64_t chunks = 0;

  explicit WeightChunking(const OutputSplit& split);
  // Weight bytes of chunk i.
  size_t ChunkBytes(const OutputSplit& split, int64_t i) const;
};

class ChunkedLayer : public Kernel {
 public:
  // The last `streamed_chunks` chunks go to `store`; the others, and the bias
  // slices, are copied to `weight_allocator`. Both must outlive the layer.
  ChunkedLayer(KernelFlavor flavor, WeightChunkStore* store, Allocator* weight_allocator,
               int64_t streamed_chunks, LayerShard shard = {});
  ~ChunkedLayer() override;

  // Splits the node's constant weight into chunks and seals the streamed ones;
  // the caller may then release the weight. The output is the shard's (its
  // features along the output axis). FailedPrecondition for a node
  // FindOutputSplit refuses, InvalidArgument for a shard it does not have.
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override;
  // Corruption, naming the chunk, when the store cannot open one.
  Status Run(const KernelIO& io) const override;
  int64_t Flops() const override { return flops_; }
  size_t ScratchBytes() const override { return slot_bytes_ * slots_; }

  // Weight bytes sealed in the store.
  size_t streamed_bytes() const { return streamed_bytes_; }
  // After Setup: the layer's split, narrowed to the shard.
  const OutputSplit& split() const { return split_; }

 private:
  // The node as set up for one chunk size: its own copy of the node and of
  // the input values, so that the kernel sees the chunk's shapes.
  struct ChunkKernel {
    Node node;
    std::vector<Value> values;
    std::unique_ptr<Kernel> kernel;
    TensorInfo output;
  };
  struct Chunk {
    int64_t begin = 0;  // first output feature, of the whole layer's
    int64_t end = 0;
    size_t weight_bytes = 0;
    Shape weight_shape;
    Tensor resident;  // the weight slice, when not streamed
    uint32_t id = 0;  // in the store, when streamed
    bool streamed = false;
    Tensor bias;  // the bias slice, if the bias splits
    const ChunkKernel* kernel = nullptr;
  };

  Result<const ChunkKernel*> KernelFor(const KernelSetup& setup, int64_t features);
  Status RunChunk(const KernelIO& io, const Chunk& chunk, char* slot) const;

  const KernelFlavor flavor_;
  WeightChunkStore* const store_;
  Allocator* const weight_allocator_;
  const int64_t streamed_chunks_;
  const LayerShard shard_;
  OutputSplit split_;
  std::vector<std::unique_ptr<ChunkKernel>> kernels_;  // at most two: full and last chunk
  std::vector<Chunk> chunks_;
  bool direct_ = false;  // chunks write straight into the output (nothing before its axis)
  int slots_ = 1;
  size_t window_bytes_ = 0;  // per slot: the largest streamed chunk
  size_t temp_bytes_ = 0;    // per slot: the largest chunk output, unless direct_
  size_t slot_bytes_ = 0;
  int64_t flops_ = 0;
  size_t streamed_bytes_ = 0;
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_CHUNKED_LAYER_H_
