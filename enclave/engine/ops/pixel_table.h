// Pixel tables: a model's first steps on its uint8 pixels as one lookup.
//
// A camera model starts by casting its uint8 input to float32, often moving
// channels first (NHWC to NCHW) and scaling each channel, (x / 255 - mean) /
// std. Each element it produces then depends on one byte and its channel
// only, so FusePixelInput (graph_passes.h) replaces those nodes with one Cast
// that looks each byte up in a table of 256 floats per channel. The table is
// computed with the float operations of the nodes it replaces, in their
// order, so the result is bit-identical to theirs; the frame is read once,
// and its plaintext was a byte per sample until then (a quarter of the bytes
// to send, seal and open of a float32 frame).
//
// The fused Cast's second input is the table, a float32 constant [K, 256]:
// [k, b] is the output for byte b at index k of the table's axis. The table
// is a weight of the layer like any other, whose sources are the constants it
// was computed from (a partition of the model keeps them). Its attributes,
// beside `to` (float32):
//   serdab.pixel_axis       the input axis that k runs along (K is its size),
//                           or -1 with K = 1: the same table for every byte
//   serdab.channels_first   1: the input is N x H x W x C and the output
//                           N x C x H x W (the Transpose [0, 3, 1, 2]), the
//                           table's axis then being 3 or -1; 0: same shape
#ifndef SERDAB_ENCLAVE_ENGINE_OPS_PIXEL_TABLE_H_
#define SERDAB_ENCLAVE_ENGINE_OPS_PIXEL_TABLE_H_

#include <cstdint>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

inline constexpr const char* kPixelAxisAttr = "serdab.pixel_axis";
inline constexpr const char* kPixelChannelsFirstAttr = "serdab.channels_first";

// One elementwise step the table folds in: value = value OP constant, or
// constant OP value when constant_first (Sub and Div, whose order matters).
// `constant` holds 1 value, or one per index of the table's axis.
struct PixelStep {
  char op = '+';  // one of + - * /
  bool constant_first = false;
  std::vector<float> constant;
};

// Fills `table` ([K, 256] float32) with what the Cast and `steps` compute,
// in order and with the same float operations.
void FillPixelTable(const std::vector<PixelStep>& steps, Tensor* table);

// The fused Cast: Setup validates its attributes against its input, Run
// looks the input up (rows split between the pool's threads; each output
// element has one value, so the bits do not depend on the split).
class PixelTableLookup {
 public:
  // True when the node is a fused Cast (then Setup must accept it).
  static bool Present(const Node& node) { return node.attrs.has(kPixelAxisAttr); }

  Status Setup(const KernelSetup& setup, TensorInfo* output);
  void Run(const Tensor& in, Tensor* out, ThreadPool* pool) const;

 private:
  const Tensor* table_ = nullptr;  // the node's constant input
  Shape in_shape_;
  int axis_ = -1;
  bool channels_first_ = false;
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPS_PIXEL_TABLE_H_
