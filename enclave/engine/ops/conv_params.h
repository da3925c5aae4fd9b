// ConvParams: the geometry of one 2-D NCHW convolution, parsed once from a
// Conv node's attributes and input shapes and shared by the reference and the
// optimised Conv kernels, so both agree on every shape and error message.
//
// A 1-D convolution, X [N,C,L] and W [M,C/group,k], has the memory layout of
// the 2-D one with H = 1 and a kernel height of 1, so it is parsed as that and
// runs on the same kernels; only its output shape keeps rank 3. A 3-D one adds
// a depth axis (the d fields, all 1 or 0 otherwise), which only the reference
// kernel walks: the optimised one hands 3-D convolutions to it.
#ifndef SERDAB_ENCLAVE_ENGINE_OPS_CONV_PARAMS_H_
#define SERDAB_ENCLAVE_ENGINE_OPS_CONV_PARAMS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "enclave/common/status.h"
#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

// Set (to 1) by the graph passes on a Conv that took over the Add after it
// (graph_passes.h: FuseResidualAdds): the node then has a fourth input, the
// Add's other operand, shaped as the output and summed into it before the
// activation. ONNX's Conv has three inputs; a fourth without this is refused.
inline constexpr const char* kConvResidualAttr = "serdab.residual";

// Set (to 1) by the graph passes on a 1x1 Conv that took over the
// BatchNormalization before it (graph_passes.h: FuseInputBatchNorm): inputs 4
// and 5 are then A [C] and B [C], and the Conv reads each value x of input
// channel c as ConvInputValue(x, A[c], B[c], relu), relu being
// kConvInputReluAttr (a Relu fused after the BatchNormalization). Input 3 is
// the residual or absent. A fifth or sixth input without this is refused.
inline constexpr const char* kConvInputAffineAttr = "serdab.input_affine";
inline constexpr const char* kConvInputReluAttr = "serdab.input_relu";

// What BatchNormalization computes (one fused multiply-add, batch_norm_params.h),
// then its Relu: the same bits as the two layers.
inline float ConvInputValue(float x, float a, float b, bool relu) {
  const float y = std::fma(x, a, b);
  return relu ? std::max(y, 0.f) : y;
}

struct ConvParams {
  int64_t batch = 0;
  int64_t in_channels = 0;
  int64_t in_h = 0;
  int64_t in_w = 0;
  int64_t out_channels = 0;
  int64_t kernel_h = 0;
  int64_t kernel_w = 0;
  int64_t stride_h = 1;
  int64_t stride_w = 1;
  int64_t dilation_h = 1;
  int64_t dilation_w = 1;
  // Zero padding before (top, left) and after (bottom, right) the input.
  int64_t pad_top = 0;
  int64_t pad_left = 0;
  int64_t pad_bottom = 0;
  int64_t pad_right = 0;
  int64_t group = 1;
  int64_t out_h = 0;
  int64_t out_w = 0;
  bool has_bias = false;
  int spatial_rank = 2;  // 1: in_h, kernel_h, out_h are 1; 3: the depth axis is used
  int64_t in_d = 1;
  int64_t kernel_d = 1;
  int64_t stride_d = 1;
  int64_t dilation_d = 1;
  int64_t pad_front = 0;
  int64_t pad_back = 0;
  int64_t out_d = 1;
  Activation activation;          // fused by the graph passes; kNone when absent
  bool has_residual = false;      // input 3 is added before the activation
  bool has_input_affine = false;  // inputs 4 and 5 transform the input (kConvInputAffineAttr)
  bool input_relu = false;

  int64_t in_channels_per_group() const { return in_channels / group; }
  int64_t out_channels_per_group() const { return out_channels / group; }
  // Multiply-adds per output element: the length of each dot product.
  int64_t reduction_size() const {
    return in_channels_per_group() * kernel_d * kernel_h * kernel_w;
  }
  Shape output_shape() const {
    if (spatial_rank == 1) return {batch, out_channels, out_w};
    if (spatial_rank == 3) return {batch, out_channels, out_d, out_h, out_w};
    return {batch, out_channels, out_h, out_w};
  }
  int64_t Flops() const {
    return 2 * batch * out_channels * out_d * out_h * out_w * reduction_size();
  }
};

// Parses and validates a Conv node: inputs X [N,C,H,W], W [M,C/group,kh,kw]
// (or the 1-D [N,C,L], [M,C/group,k], or the 3-D [N,C,D,H,W],
// [M,C/group,kd,kh,kw]) and optional B [M]. Malformed models get setup.Error.
Result<ConvParams> ParseConvParams(const KernelSetup& setup);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPS_CONV_PARAMS_H_
