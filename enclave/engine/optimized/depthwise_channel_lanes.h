// A second schedule for depthwise convolutions: 16 channels in the vector
// lanes, as ONNX Runtime's NCHWc kernels have them, on NCHW tensors.
//
// conv.cc's depthwise kernel puts a row of output pixels in the lanes, one
// channel at a time. On maps narrower than a vector most lanes are wasted
// (9 of 16 on 7x7), a stride of 2 costs a permute per load, and every
// channel pays its own padding copy and loop set-up: on mnasnet1_0's 5x5
// layers over 7x7 maps it took 4x ONNX Runtime's time. Here a unit is a
// block of 16 channels by a band of output rows. It transposes the band's
// input rows 16 x 16 into a zero-padded [row][column][16] buffer, so that
// every tap of every pixel is one aligned load at any stride, computes each
// output pixel's 16 channels in one accumulator, and transposes the sums
// back into the output's planes, where the residual and the activation are
// applied a plane at a time as conv.cc's kernel applies them.
//
// Each output is bias + sum over (ky, kx) in that order, one FMA per term,
// whatever lane its channel lands in; the bands, and so the stretches of a
// plane the activation is applied to at once, depend on the geometry only.
// So no result depends on the thread count, and a slice of a layer's
// channels computes the same bits as the whole layer. The weights are read in their ONNX layout
// (a unit gathers its block's 16 x taps into [tap][16] on the stack).
#ifndef SERDAB_ENCLAVE_ENGINE_OPTIMIZED_DEPTHWISE_CHANNEL_LANES_H_
#define SERDAB_ENCLAVE_ENGINE_OPTIMIZED_DEPTHWISE_CHANNEL_LANES_H_

#include <cstddef>
#include <cstdint>

#include "enclave/engine/ops/conv_params.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {

class DepthwiseChannelLanes {
 public:
  // Whether this schedule is built (AVX-512) and takes `p`: a 2-D
  // depthwise convolution (one input and one output channel per group)
  // whose geometry is where it pays. Depends on the geometry only, not on
  // the channel count, so a slice of a layer takes the whole layer's choice.
  static bool Applies(const ConvParams& p);

  void Setup(const ConvParams& p, int threads);
  size_t ScratchBytes() const;

  // One image: out [C, out_h, out_w] = depthwise conv(image) + bias (bias
  // may be nullptr), then the residual (nullptr if none) and the activation.
  void Run(ThreadPool* pool, void* scratch, const float* image, const float* w, const float* bias,
           float* out, const float* residual) const;

 private:
  void RunUnit(int64_t unit, float* scratch, const float* image, const float* w, const float* bias,
               float* out, const float* residual) const;
  // Floats of one thread's scratch: the padded band, then the band's sums.
  int64_t PaddedFloats() const;
  int64_t SliceFloats() const;

  ConvParams p_;
  int64_t padded_w_ = 0;   // columns of the padded buffer
  int64_t band_rows_ = 0;  // output rows per unit, but the last band
  int64_t bands_ = 0;
  int64_t band_in_rows_ = 0;  // padded input rows a band reads, at most
  int64_t channel_blocks_ = 0;
  int64_t units_ = 0;
  int threads_ = 1;  // slices of scratch, one per thread
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPTIMIZED_DEPTHWISE_CHANNEL_LANES_H_
