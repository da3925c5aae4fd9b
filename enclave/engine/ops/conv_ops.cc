// Reference Conv: the definition written as plain loops, one output element at
// a time. The optimised kernel (optimized/conv.cc) is tested against it.
#include "enclave/engine/activation.h"
#include "enclave/engine/ops/conv_params.h"
#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {
namespace {

class ConvReference : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_ASSIGN_OR_RETURN(p_, ParseConvParams(setup));
    outputs->push_back({DataType::kFloat32, p_.output_shape()});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    const float* w = io.inputs[1]->data<float>();
    const float* b = p_.has_bias && io.inputs[2] != nullptr ? io.inputs[2]->data<float>() : nullptr;
    float* y = io.outputs[0]->data<float>();
    const int64_t cin_g = p_.in_channels_per_group();
    const int64_t cout_g = p_.out_channels_per_group();
    for (int64_t n = 0; n < p_.batch; ++n) {
      for (int64_t m = 0; m < p_.out_channels; ++m) {
        const int64_t g = m / cout_g;
        for (int64_t oy = 0; oy < p_.out_h; ++oy) {
          for (int64_t ox = 0; ox < p_.out_w; ++ox) {
            float acc = b != nullptr ? b[m] : 0.f;
            for (int64_t c = 0; c < cin_g; ++c) {
              const int64_t ci = g * cin_g + c;
              for (int64_t ky = 0; ky < p_.kernel_h; ++ky) {
                const int64_t iy = oy * p_.stride_h - p_.pad_top + ky * p_.dilation_h;
                if (iy < 0 || iy >= p_.in_h) continue;
                for (int64_t kx = 0; kx < p_.kernel_w; ++kx) {
                  const int64_t ix = ox * p_.stride_w - p_.pad_left + kx * p_.dilation_w;
                  if (ix < 0 || ix >= p_.in_w) continue;
                  const float xv = x[((n * p_.in_channels + ci) * p_.in_h + iy) * p_.in_w + ix];
                  const float wv = w[((m * cin_g + c) * p_.kernel_h + ky) * p_.kernel_w + kx];
                  acc += xv * wv;
                }
              }
            }
            y[((n * p_.out_channels + m) * p_.out_h + oy) * p_.out_w + ox] =
                ActivationReference(p_.activation, acc);
          }
        }
      }
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }

 private:
  ConvParams p_;
};

}  // namespace

void RegisterConvOps(OpRegistry* registry) {
  RegisterKernel<ConvReference>(registry, "Conv", KernelFlavor::kReference);
}

}  // namespace serdab::engine
