// Internals shared by the reference elementwise kernels (ops/binary_ops.cc,
// ops/activation_ops.cc) and the optimised ones (optimized/elementwise.cc), so
// that both flavours parse a node the same way and compute every element with
// the same code: the optimised binary ops are bit-identical to the reference.
//
// Binary ops use numpy multidirectional broadcasting. Setup reduces the two
// input shapes to a BroadcastPlan: dimensions of size 1 in the output are
// dropped and neighbouring dimensions that broadcast the same way are merged,
// so same-shape inputs become one flat loop and a [1,C,1,1] * [N,C,H,W]
// per-channel product becomes rows of H*W elements times one scalar each.
#ifndef SERDAB_ENCLAVE_ENGINE_OPS_BROADCAST_H_
#define SERDAB_ENCLAVE_ENGINE_OPS_BROADCAST_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

// The most dimensions a broadcast output may have (ONNX models use <= 6).
inline constexpr int kMaxBroadcastRank = 8;

struct BroadcastPlan {
  Shape out_shape;
  // The output as a row-major array of `dims` (at least one), and the element
  // stride into each input per dimension (0 where that input is broadcast).
  std::vector<int64_t> dims;
  std::vector<int64_t> a_strides;
  std::vector<int64_t> b_strides;
};

// Builds the plan for a op b; InvalidArgument naming both shapes if they do
// not broadcast, Unimplemented past kMaxBroadcastRank.
Status MakeBroadcastPlan(const Shape& a, const Shape& b, BroadcastPlan* plan);

// out[i] = op(a[i * a_stride], b[i * b_stride]) for i in [0, n); strides are 0
// or 1. One loop per stride pair so that each vectorises.
template <typename T, typename Op>
inline void BinarySpan(const T* a, int64_t a_stride, const T* b, int64_t b_stride, T* out,
                       int64_t n, Op op) {
  if (a_stride == 1 && b_stride == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (a_stride == 1) {
    const T bv = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], bv);
  } else if (b_stride == 1) {
    const T av = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(av, b[i]);
  } else {
    const T v = op(a[0], b[0]);
    std::fill(out, out + n, v);
  }
}

// Computes output elements [begin, end) (flat row-major indices) of a op b.
// Any split of the output into ranges gives the same bits.
template <typename T, typename Op>
void BinaryRange(const BroadcastPlan& plan, const T* a, const T* b, T* out, int64_t begin,
                 int64_t end, Op op) {
  if (begin >= end) return;
  const int outer_rank = static_cast<int>(plan.dims.size()) - 1;
  const int64_t inner = plan.dims.back();
  const int64_t a_inner = plan.a_strides.back();
  const int64_t b_inner = plan.b_strides.back();

  // The multi-index of `begin` over the outer dimensions, and its offsets.
  int64_t index[kMaxBroadcastRank] = {};
  int64_t row = begin / inner;
  int64_t col = begin % inner;
  int64_t a_off = 0;
  int64_t b_off = 0;
  for (int d = outer_rank - 1; d >= 0; --d) {
    index[d] = row % plan.dims[d];
    row /= plan.dims[d];
    a_off += index[d] * plan.a_strides[d];
    b_off += index[d] * plan.b_strides[d];
  }

  int64_t pos = begin;
  while (pos < end) {
    const int64_t n = std::min(inner - col, end - pos);
    BinarySpan(a + a_off + col * a_inner, a_inner, b + b_off + col * b_inner, b_inner, out + pos, n,
               op);
    pos += n;
    col = 0;
    // Odometer step over the outer dimensions.
    for (int d = outer_rank - 1; d >= 0; --d) {
      a_off += plan.a_strides[d];
      b_off += plan.b_strides[d];
      if (++index[d] < plan.dims[d]) break;
      a_off -= plan.a_strides[d] * plan.dims[d];
      b_off -= plan.b_strides[d] * plan.dims[d];
      index[d] = 0;
    }
  }
}

enum class BinaryOpKind { kAdd, kSub, kMul, kDiv, kPow };

// Setup shared by both flavours of Add/Sub/Mul/Div/Pow: checks the inputs and
// fills the plan and the output info. The inputs have one type, except that
// Pow admits a float32 base with int64 exponents (the output is float32).
Status SetupBinaryOp(const KernelSetup& setup, BroadcastPlan* plan, TensorInfo* output);
// As above, with input 1 broadcast as if it had `b_shape` (same elements).
Status SetupBinaryOp(const KernelSetup& setup, BroadcastPlan* plan, TensorInfo* output,
                     const Shape& b_shape);

// The activation fused into an Add (graph_passes.h: FuseActivations), or
// none. Any other op, or an Add of int64, carrying one is an error.
Result<Activation> BinaryEpilogue(const KernelSetup& setup, DataType dtype);

// Runs elements [begin, end) of the op on float32 or int64 inputs (the dtype
// SetupBinaryOp accepted). int64 Div truncates toward zero; a zero divisor is
// reported by CheckInt64Divisor before any range runs.
void RunBinaryRange(BinaryOpKind kind, DataType dtype, const BroadcastPlan& plan, const Tensor& a,
                    const Tensor& b, Tensor* out, int64_t begin, int64_t end);

// InvalidArgument if an int64 divisor holds a zero (C++ would trap on it).
Status CheckInt64Divisor(const Tensor& divisor);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPS_BROADCAST_H_
