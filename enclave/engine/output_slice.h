// Output slices: a Gemm, MatMul or Conv computed for a range of its output
// features only, from the matching slice of its weight.
//
// Streamed weights (streamed_weights.h) run a layer one weight chunk at a
// time, and a sharded layer runs on several enclaves, each holding a slice of
// the weight; both rest on this. A slice is computed by the layer's own kernel
// set up for the smaller weight, with KernelSetup::whole_output_features set
// so that the kernel makes every choice that affects rounding as it would for
// the whole layer: the slices, put side by side along the output axis, are
// bit-identical to the whole layer's output.
//
// Output features are the rows of a transposed Gemm weight (columns
// otherwise), the columns of a 2-D MatMul weight, and the output channels of a
// Conv with group 1. The bias slices with them (a Conv's B, a Gemm's C when it
// has a column per feature; a C broadcast along the features is shared whole).
#ifndef SERDAB_ENCLAVE_ENGINE_OUTPUT_SLICE_H_
#define SERDAB_ENCLAVE_ENGINE_OUTPUT_SLICE_H_

#include <cstdint>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/allocator.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

// How a layer's outputs split into features, and which of them a node
// computes: [first, last), all of them unless it is a shard.
struct OutputSplit {
  int64_t features = 0;  // the layer's, along output_axis
  int64_t first = 0;
  int64_t last = 0;
  int output_axis = 0;  // of output 0
  int weight_axis = 0;  // of input 1, the constant weight
  int bias_input = -1;  // the input sliced with the features, or -1
  int bias_axis = 0;
  // A Conv's fused residual (conv_params.h), shaped as the whole layer's
  // output: each slice reads its own features of it, along output_axis.
  int residual_input = -1;
  size_t weight_bytes = 0;  // the layer's
  size_t bias_bytes = 0;    // the layer's bias, when it splits

  // Bytes of weight per output feature.
  size_t feature_bytes() const { return weight_bytes / static_cast<size_t>(features); }
  // Weight bytes of [first, last).
  size_t range_bytes() const { return feature_bytes() * static_cast<size_t>(last - first); }
  // Weight and bias bytes of the features outside [first, last).
  size_t bytes_outside() const {
    const auto outside = static_cast<size_t>(features - (last - first));
    return (weight_bytes + bias_bytes) / static_cast<size_t>(features) * outside;
  }
};

// Which of a layer's outputs a node computes: shard `index` of `count`
// (ShardOf); count 1 is the whole layer.
struct LayerShard {
  int index = 0;
  int count = 1;
};

// Shard `index` of `count` (0 <= index < count <= split.features): the
// features split as evenly as they go, the first shards one larger when
// `count` does not divide them.
OutputSplit ShardOf(const OutputSplit& split, int index, int count);

// The split of the node `setup` describes, after the node's own kernel has
// validated it (Setup succeeded), or FailedPrecondition saying why the node
// cannot be split: another op type, a weight computed at run time, a grouped
// Conv, a Conv with a fused residual over a batch above 1, a weight shared
// with another node (`weight_readers` > 1), a MatMul weight that is not 2-D,
// or a single output feature.
Result<OutputSplit> FindOutputSplit(const KernelSetup& setup, int weight_readers);

// Elements [begin, end) of `tensor` along `axis`, copied into a new tensor
// from `allocator`.
Result<Tensor> SliceAlongAxis(const Tensor& tensor, int axis, int64_t begin, int64_t end,
                              Allocator* allocator);

// Copies `part` into `whole` along `axis` at `offset`; every other dimension
// of the two agrees.
void CopyIntoAxis(const Tensor& part, int axis, int64_t offset, Tensor* whole);

// The shards' outputs side by side along `axis`, in order: the whole layer's
// output. InvalidArgument when they differ in type or in another dimension.
Result<Tensor> ConcatShards(const std::vector<Tensor>& parts, int axis, Allocator* allocator);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OUTPUT_SLICE_H_
