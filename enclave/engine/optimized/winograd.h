// WinogradConv: a 3x3, stride 1, dilation 1, ungrouped 2-D convolution by
// Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms
// for Convolutional Neural Networks", 2016).
//
// Each 4x4 block of outputs ("tile") of each output channel comes from the
// 6x6 input patch under it: V = B^T d B per input channel, U = G g G^T per
// (output, input) channel pair, and Y = A^T (sum over input channels of
// U . V) A. The sum over input channels is 36 matrix products, one per
// position of the 6x6 transform, of U[xi] (out x in channels) by V[xi] (in
// channels x tiles), which run on the GEMM tiles of sgemm.h: 36
// multiply-adds per 4x4 outputs and input channel instead of 144. The
// transforms multiply by small integers (B, A) and G's sixths, so the sums
// round a little more than the direct sum's, within its tolerance on the
// models. (F(2x2, 3x3), 16 products per 2x2 outputs, which an earlier
// version ran, took 1.15-1.6 times as long on every layer measured.)
//
// A constant weight is transformed once, by PrepareWeights, into memory from
// the model's weight allocator: 36/9 of the layer's weight, which the layer
// view counts (Kernel::PreparedWeightBytes). A weight known only at run time
// (a streamed chunk) is transformed at every run, into scratch, by the same
// code, so both give the same bits.
//
// Tiles go in bands of whole tile rows, one band per thread at a time, so
// that a band's transformed input stays in L2 while every block of output
// channels uses it; a block's 36 products take a few tiles of its band at a
// time and are turned into outputs at once, from cache. A map of few tiles
// (14x14: 16) is one band, whose input the threads transform by input
// channels and whose blocks of output channels they then share.
#ifndef SERDAB_ENCLAVE_ENGINE_OPTIMIZED_WINOGRAD_H_
#define SERDAB_ENCLAVE_ENGINE_OPTIMIZED_WINOGRAD_H_

#include <cstddef>
#include <cstdint>

#include "enclave/common/status.h"
#include "enclave/engine/activation.h"
#include "enclave/engine/optimized/sgemm.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

class Allocator;
class ThreadPool;

// Tiles of 4x4 outputs over an out_h x out_w map.
inline int64_t WinogradTiles(int64_t out_h, int64_t out_w) {
  return ((out_h + 3) / 4) * ((out_w + 3) / 4);
}

// Whether the map's tiles fit the columns of one GEMM tile, so that
// WinogradConv splits the layer over its threads by output channels rather
// than by bands of tiles.
inline bool WinogradSplitsOutputs(int64_t out_h, int64_t out_w) {
  return WinogradTiles(out_h, out_w) <= kGemmNr;
}

struct WinogradShape {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t in_h = 0;
  int64_t in_w = 0;
  int64_t out_h = 0;
  int64_t out_w = 0;
  int64_t pad_top = 0;
  int64_t pad_left = 0;
};

class WinogradConv {
 public:
  WinogradConv(const WinogradShape& shape, int threads);

  // Transforms the ONNX weight [out, in, 3, 3] once, into memory from
  // `allocator` (the heap if null); Run then ignores its `w`.
  Status PrepareWeights(const float* w, Allocator* allocator);
  // Bytes PrepareWeights holds: 0 before it.
  size_t PreparedBytes() const { return transformed_.raw() != nullptr ? transformed_.bytes() : 0; }

  // Scratch Run needs: per thread a band's transformed input and products,
  // and the transformed weights unless they are prepared.
  size_t ScratchBytes() const;

  // out[k][y][x] = activation(bias[k] + residual[k][y][x] + sum_c,ky,kx
  // w[k][c][ky][kx] * image[c][y + ky - pad_top][x + kx - pad_left]), zero
  // outside the image. `w` is the ONNX weight [out, in, 3, 3]; bias and
  // residual (laid out as out) may be null.
  void Run(ThreadPool* pool, const float* image, const float* w, const float* bias,
           const Activation& activation, const float* residual, float* out, void* scratch) const;

 private:
  void TransformWeights(const float* w, int64_t k_begin, int64_t k_end, float* u) const;
  void TransformBand(const float* image, int64_t t_begin, int64_t t_end, int64_t c_begin,
                     int64_t c_end, float* v, float* rows) const;
  void RunBand(const float* image, const float* u, const float* bias, const Activation& activation,
               const float* residual, int64_t band, float* out, float* slot) const;
  void BlockOutputs(const float* v, const float* u, const float* bias, const Activation& activation,
                    const float* residual, int64_t t_begin, int64_t t_end, int64_t k_begin,
                    int64_t k_end, float* out, float* m) const;
  void OutputRows(const float* m, int64_t k0, int64_t rows_k, int64_t t_begin, int64_t t_end,
                  const float* bias, const Activation& activation, const float* residual,
                  float* out) const;
  int64_t SharedFloats() const;  // split_outputs_: the one band's transformed input
  int64_t SlotFloats() const;

  WinogradShape s_;
  // One band of every tile, its blocks of output channels split over the
  // threads (WinogradSplitsOutputs), rather than bands split over them.
  bool split_outputs_ = false;
  int64_t tiles_h_ = 0;
  int64_t tiles_w_ = 0;
  int64_t band_tiles_ = 0;  // tiles per band: whole tile rows, in row-major order
  int64_t bands_ = 0;
  int64_t slots_ = 0;  // bands in flight at once: one per thread
  int64_t row_floats_ = 0;
  Tensor transformed_;  // U in panels (TransformWeights), once prepared
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPTIMIZED_WINOGRAD_H_
