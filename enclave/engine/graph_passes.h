// Graph passes: the rewrites between import and execution.
//
//   InferShapes      every value gets its type and shape (each op's kernel
//                    Setup is the single source of shape rules); nodes whose
//                    inputs are all constant, and Shape nodes, are evaluated
//                    once here with the reference kernels and become constants.
//                    Every shape and constant is held to the graph's
//                    TensorLimits: a model's shapes are its author's choice.
//   FusePixelInput   Cast of a uint8 graph input to float32, with a Transpose
//                    from channels last to first before or after it and the
//                    Add, Sub, Mul and Div by per-channel constants after it
//                    ((x / 255 - mean) / std), becomes one Cast that looks
//                    each byte up in a table per channel (ops/pixel_table.h);
//                    same bits as the nodes it replaces.
//   FuseBatchNorm    Conv -> BatchNormalization becomes one Conv with rescaled
//                    weights and bias.
//   FuseActivations  Conv/Gemm/Add/BatchNormalization -> Relu | Clip |
//                    LeakyRelu | HardSigmoid | HardSwish | Sigmoid | Tanh, and
//                    the same -> x*sigmoid(x), become one node with an
//                    activation epilogue (an Add only when it adds float32).
//   FuseResidualAdds  Conv -> Add (float32, no broadcast, with any activation
//                    the Add took) becomes one Conv that sums the Add's other
//                    operand into its output before the activation, while
//                    the block is in cache (ResNet's residual connections).
//                    Of two Convs feeding the Add, the later one takes it.
//   FuseInputBatchNorm  BatchNormalization (with or without its Relu) -> a
//                    1x1 Conv of stride 1, no pads and one group that alone
//                    reads it becomes that Conv, applying the
//                    BatchNormalization to its input as it reads it (the ones
//                    FuseBatchNorm cannot fold: DenseNet's, after each
//                    Concat); same bits as the two layers.
//   FusePadPool      Pad (zeros around the spatial axes) -> AveragePool with
//                    no pads of its own, or pads it counts in its divisor,
//                    becomes one AveragePool with both pads, counted: what
//                    PyTorch exports for avg_pool2d(count_include_pad=True)
//                    (inception_v3), and for F.pad before it.
//   RemoveIdentities Identity and inference-mode Dropout disappear.
//
// Fused nodes record what was folded into them in the "serdab.fused"
// attribute (e.g. "BatchNormalization+Relu") for the layer view.
#ifndef SERDAB_ENCLAVE_ENGINE_GRAPH_PASSES_H_
#define SERDAB_ENCLAVE_ENGINE_GRAPH_PASSES_H_

#include "enclave/common/status.h"
#include "enclave/engine/allocator.h"
#include "enclave/engine/graph.h"

namespace serdab::engine {

inline constexpr const char* kFusedAttr = "serdab.fused";

// Constants created by folding and fusion are allocated from `allocator`.
Status InferShapes(Graph* graph, Allocator* allocator);
Status FusePixelInput(Graph* graph, Allocator* allocator);
Status FuseBatchNorm(Graph* graph, Allocator* allocator);
Status FuseActivations(Graph* graph);
Status FuseResidualAdds(Graph* graph);
Status FuseInputBatchNorm(Graph* graph, Allocator* allocator);
Status FusePadPool(Graph* graph);
Status RemoveIdentities(Graph* graph);

// All of the above in order (fusion only when `fuse`), then dead code removal.
Status OptimizeGraph(Graph* graph, bool fuse, Allocator* allocator);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_GRAPH_PASSES_H_
