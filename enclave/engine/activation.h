// Activation: an elementwise function applied to a Conv, Gemm or Add result.
//
// The graph passes fuse a standalone activation node into the producing
// Conv/Gemm/Add by recording it in the node's attributes (see ToAttributes). The
// standalone activation kernels and the fused epilogues both call
// ApplyActivation, so fusing never changes a single bit of the result.
#ifndef SERDAB_ENCLAVE_ENGINE_ACTIVATION_H_
#define SERDAB_ENCLAVE_ENGINE_ACTIVATION_H_

#include <cstdint>
#include <string>

#include "enclave/common/status.h"
#include "enclave/engine/graph.h"

namespace serdab::engine {

struct KernelSetup;

struct Activation {
  enum class Kind {
    kNone,
    kRelu,         // max(x, 0)
    kClip,         // min(max(x, alpha), beta)
    kLeakyRelu,    // x >= 0 ? x : alpha * x
    kSigmoid,      // 1 / (1 + exp(-x))
    kSilu,         // x * sigmoid(x): a Sigmoid whose input and output feed one Mul
    kHardSigmoid,  // max(0, min(1, alpha * x + beta))
    kHardSwish,    // x * max(0, min(1, x / 6 + 1 / 2))
    kTanh,
  };
  Kind kind = Kind::kNone;
  float alpha = 0.f;
  float beta = 0.f;

  bool is_none() const { return kind == Kind::kNone; }
  // None, a Relu or a Clip: at most a clamp, which rounds nothing, so that
  // vector and scalar code give the same bits and a GEMM tile may apply it
  // in registers.
  bool is_clamp() const {
    return kind == Kind::kNone || kind == Kind::kRelu || kind == Kind::kClip;
  }

  // Internal attribute names carried by fused Conv/Gemm nodes.
  static constexpr const char* kAttrKind = "serdab.activation";
  static constexpr const char* kAttrAlpha = "serdab.activation_alpha";
  static constexpr const char* kAttrBeta = "serdab.activation_beta";

  static Result<Activation> FromAttributes(const Attributes& attrs);
  void ToAttributes(Attributes* attrs) const;
  static const char* KindName(Kind kind);
};

// Reads an activation node (Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid,
// HardSwish, Tanh) into the Activation it computes, checking its inputs and
// attributes; used by the activation kernels and by the fusion pass alike.
Result<Activation> ActivationFromNode(const KernelSetup& setup);

// data[i] = f(data[i]) for i in [0, n). Vectorised; the single implementation
// used by fused epilogues and the optimised standalone kernels.
void ApplyActivation(const Activation& act, float* data, int64_t n);

// out[i] = f(in[i]); in and out may alias.
void ApplyActivation(const Activation& act, const float* in, float* out, int64_t n);

// data[i] = f(data[i] + addend[i]) for i in [0, n): a residual connection
// summed into a Conv's output before its activation (graph_passes.h:
// FuseResidualAdds). Bit-identical to an Add followed by the activation.
void ApplyActivationToSum(const Activation& act, const float* addend, float* data, int64_t n);

// A plain scalar version for reference kernels and tests.
float ActivationReference(const Activation& act, float x);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_ACTIVATION_H_
