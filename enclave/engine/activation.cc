#include "enclave/engine/activation.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

namespace serdab::engine {
namespace {

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

}  // namespace

const char* Activation::KindName(Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "none";
    case Kind::kRelu:
      return "relu";
    case Kind::kClip:
      return "clip";
    case Kind::kLeakyRelu:
      return "leaky_relu";
    case Kind::kSigmoid:
      return "sigmoid";
    case Kind::kSilu:
      return "silu";
    case Kind::kHardSigmoid:
      return "hard_sigmoid";
    case Kind::kHardSwish:
      return "hard_swish";
    case Kind::kTanh:
      return "tanh";
  }
  return "none";
}

Result<Activation> Activation::FromAttributes(const Attributes& attrs) {
  Activation act;
  const std::string name = attrs.GetString(kAttrKind, "none");
  for (Kind k : {Kind::kNone, Kind::kRelu, Kind::kClip, Kind::kLeakyRelu, Kind::kSigmoid,
                 Kind::kSilu, Kind::kHardSigmoid, Kind::kHardSwish, Kind::kTanh}) {
    if (name == KindName(k)) {
      act.kind = k;
      act.alpha = attrs.GetFloat(kAttrAlpha, 0.f);
      act.beta = attrs.GetFloat(kAttrBeta, 0.f);
      return act;
    }
  }
  return Status::InvalidArgument("unknown fused activation '" + name + "'");
}

void Activation::ToAttributes(Attributes* attrs) const {
  attrs->set(kAttrKind, std::string(KindName(kind)));
  attrs->set(kAttrAlpha, alpha);
  attrs->set(kAttrBeta, beta);
}

void ApplyActivation(const Activation& act, const float* in, float* out, int64_t n) {
  ConstArrayMap x(in, n);
  ArrayMap y(out, n);
  switch (act.kind) {
    case Activation::Kind::kNone:
      if (in != out) y = x;
      return;
    case Activation::Kind::kRelu:
      y = x.max(0.f);
      return;
    case Activation::Kind::kClip:
      y = x.max(act.alpha).min(act.beta);
      return;
    case Activation::Kind::kLeakyRelu:
      y = (x >= 0.f).select(x, x * act.alpha);
      return;
    case Activation::Kind::kSigmoid:
      y = (1.f + (-x).exp()).inverse();
      return;
    case Activation::Kind::kSilu:
      y = x * (1.f + (-x).exp()).inverse();
      return;
    case Activation::Kind::kHardSigmoid:
      y = (x * act.alpha + act.beta).min(1.f).max(0.f);
      return;
    case Activation::Kind::kHardSwish:
      y = x * (x * (1.f / 6.f) + 0.5f).min(1.f).max(0.f);
      return;
    case Activation::Kind::kTanh:
      y = x.tanh();
      return;
  }
}

void ApplyActivation(const Activation& act, float* data, int64_t n) {
  ApplyActivation(act, data, data, n);
}

void ApplyActivationToSum(const Activation& act, const float* addend, float* data, int64_t n) {
  ArrayMap y(data, n);
  y += ConstArrayMap(addend, n);
  ApplyActivation(act, data, data, n);
}

float ActivationReference(const Activation& act, float x) {
  switch (act.kind) {
    case Activation::Kind::kNone:
      return x;
    case Activation::Kind::kRelu:
      return std::max(x, 0.f);
    case Activation::Kind::kClip:
      return std::min(std::max(x, act.alpha), act.beta);
    case Activation::Kind::kLeakyRelu:
      return x >= 0.f ? x : act.alpha * x;
    case Activation::Kind::kSigmoid:
      return 1.f / (1.f + std::exp(-x));
    case Activation::Kind::kSilu:
      return x * (1.f / (1.f + std::exp(-x)));
    case Activation::Kind::kHardSigmoid:
      return std::max(0.f, std::min(1.f, act.alpha * x + act.beta));
    case Activation::Kind::kHardSwish:
      return x * std::max(0.f, std::min(1.f, x * (1.f / 6.f) + 0.5f));
    case Activation::Kind::kTanh:
      return std::tanh(x);
  }
  return x;
}

}  // namespace serdab::engine
