// A second schedule for the optimised Conv: output channels in the vector
// lanes, as ONNX Runtime's NCHWc kernels have them, on NCHW tensors.
//
// The GEMM schedule of conv.cc puts output positions in the lanes and reads
// the weight in place, eight rows at a time; on 3x3 convolutions over maps of
// 14x14 and more it computes the dropped columns of its planes (2 of every
// 30 on a 28x28 map, more in bands), and most of its loads of B straddle two
// cache lines. Here a tile is 64 output channels (four vectors) by 6 output
// positions: each step of the reduction (input channel c, tap t) loads the 64
// weights of (c, t) as four aligned vectors and broadcasts the 6 positions'
// inputs, 24 FMAs for 10 loads, and only real output pixels are computed.
//
// Work units are (block of up to 64 output channels, chunk of output
// positions). A unit walks the input channels in blocks whose weights take
// 32 KiB: it packs that block's weights into [step][64] (a transpose of the
// ONNX weight's rows, in L1), copies the rows of those channels that its
// positions read into a zero-padded block, and runs every tile of its
// positions over them, the sums carried in a [position][64] buffer between
// blocks; at the end its output rows are transposed into a staging block
// and written whole. The packing is redone by every unit of a block of
// channels: per weight it costs about what reading the weight costs, against
// 64 x (the unit's positions) multiply-adds, so no packed copy of the weights
// is kept and the EPC holds the model's weights once, in their ONNX layout.
//
// Each output is bias + sum over (c, ky, kx) in that order, one FMA per
// term, as a GEMM tile sums it: the two give the same bits (the GEMM
// schedule's dot-product columns on small packed maps sum in another order;
// a slice of a layer takes the whole layer's schedule), and no result
// depends on the thread count or on how the units are cut.
#ifndef SERDAB_ENCLAVE_ENGINE_OPTIMIZED_CONV_CHANNEL_LANES_H_
#define SERDAB_ENCLAVE_ENGINE_OPTIMIZED_CONV_CHANNEL_LANES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "enclave/engine/ops/conv_params.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {

class ChannelLanesConv {
 public:
  // Whether this schedule is built (AVX-512) and takes `p`, a 2-D
  // convolution of one group whose layer has `layer_channels` output
  // channels (more than p's own for a slice of the layer: the whole layer
  // and every slice of it then take the same schedule).
  static bool Applies(const ConvParams& p, int64_t layer_channels);

  void Setup(const ConvParams& p, int threads);
  size_t ScratchBytes() const;

  // One image: out [M, out_h, out_w] = conv(image) + bias (bias may be
  // nullptr), then the residual (nullptr if none) and the activation.
  void Run(ThreadPool* pool, void* scratch, const float* image, const float* w, const float* bias,
           float* out, const float* residual) const;

 private:
  struct Unit;
  // Unit u: channel block u % channel_blocks_ of position chunk
  // u / channel_blocks_, and the padded input rows it reads.
  Unit UnitAt(int64_t u) const;
  // Floats of a scratch slice's block of padded input rows.
  int64_t RowFloats() const;
  void RunUnit(const Unit& unit, float* scratch, const float* image, const float* w,
               const float* bias, float* out, const float* residual) const;
  void PackWeights(const float* w, int64_t m_begin, int64_t c_begin, int64_t channels,
                   float* packed) const;
  void CopyInputRows(const float* image, int64_t c_begin, int64_t channels, int64_t row_begin,
                     int64_t row_count, float* rows) const;

  ConvParams p_;
  int64_t taps_ = 0;
  std::vector<int32_t> tap_offsets_;  // of tap (ky, kx) in a block of padded rows
  int64_t padded_w_ = 0;
  int64_t channels_per_step_ = 0;  // input channels per block of the reduction
  int64_t chunk_positions_ = 0;    // output positions per unit, but the last
  int64_t chunk_rows_ = 0;         // padded input rows a unit reads, at most
  int64_t block_channels_ = 0;     // output channels per unit: a multiple of 16, at most 64
  int64_t channel_blocks_ = 0;
  int64_t position_chunks_ = 0;
  int64_t units_ = 0;
  int threads_ = 1;  // slices of scratch, one per thread
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPTIMIZED_CONV_CHANNEL_LANES_H_
