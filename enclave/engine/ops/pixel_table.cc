#include "enclave/engine/ops/pixel_table.h"

#include <algorithm>
#include <string>

#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

// Bytes looked up per ParallelFor chunk, at least: below this the hand-off
// costs more than the lookups.
constexpr int64_t kMinBytesPerChunk = 16 * 1024;

float Apply(char op, float a, float b) {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    default:
      return a / b;
  }
}

}  // namespace

void FillPixelTable(const std::vector<PixelStep>& steps, Tensor* table) {
  const int64_t entries = table->shape()[0];
  float* out = table->data<float>();
  for (int64_t k = 0; k < entries; ++k) {
    for (int b = 0; b < 256; ++b) {
      float v = static_cast<float>(b);
      for (const PixelStep& step : steps) {
        const float c = step.constant[step.constant.size() == 1 ? 0 : static_cast<size_t>(k)];
        v = step.constant_first ? Apply(step.op, c, v) : Apply(step.op, v, c);
      }
      out[k * 256 + b] = v;
    }
  }
}

Status PixelTableLookup::Setup(const KernelSetup& setup, TensorInfo* output) {
  const Attributes& attrs = setup.n().attrs;
  const TensorInfo& in = setup.info(0);
  const int rank = static_cast<int>(in.shape.size());
  if (in.dtype != DataType::kUint8) {
    return setup.Error(std::string("a pixel table looks up uint8 input, not ") +
                       DataTypeName(in.dtype));
  }
  if (attrs.GetInt("to", 0) != static_cast<int64_t>(DataType::kFloat32)) {
    return setup.Error("a pixel table casts to float32 ('to' = 1)");
  }
  channels_first_ = attrs.GetInt(kPixelChannelsFirstAttr, 0) != 0;
  const int64_t axis = attrs.GetInt(kPixelAxisAttr, -1);
  if (axis < -1 || axis >= rank || (channels_first_ && axis != -1 && axis != 3)) {
    return setup.Error("pixel table axis " + std::to_string(axis) + " does not fit input " +
                       ShapeToString(in.shape) +
                       (channels_first_ ? " with channels moved first" : ""));
  }
  if (channels_first_ && rank != 4) {
    return setup.Error("moving channels first needs an N x H x W x C input, got " +
                       ShapeToString(in.shape));
  }
  axis_ = static_cast<int>(axis);
  table_ = setup.constant(1);
  const int64_t entries = axis_ < 0 ? 1 : in.shape[axis_];
  if (table_ == nullptr || table_->dtype() != DataType::kFloat32 ||
      table_->shape() != Shape{entries, 256}) {
    return setup.Error("a pixel table is a constant float32 [" + std::to_string(entries) +
                       ",256] for input " + ShapeToString(in.shape) +
                       (table_ == nullptr ? "; input 1 is not a constant"
                                          : ", got " + std::string(DataTypeName(table_->dtype())) +
                                                " " + ShapeToString(table_->shape())));
  }
  in_shape_ = in.shape;
  output->dtype = DataType::kFloat32;
  output->shape =
      channels_first_ ? Shape{in.shape[0], in.shape[3], in.shape[1], in.shape[2]} : in.shape;
  return Status::Ok();
}

void PixelTableLookup::Run(const Tensor& in, Tensor* out, ThreadPool* pool) const {
  const uint8_t* src = in.data<uint8_t>();
  float* dst = out->data<float>();
  const float* table = table_->data<float>();
  if (channels_first_) {
    // One row of W pixels of C channels becomes C rows of W floats.
    const int64_t n = in_shape_[0], h = in_shape_[1], w = in_shape_[2], c = in_shape_[3];
    const int64_t stride = axis_ < 0 ? 0 : 256;
    auto rows = [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t image = r / h, y = r % h;
        const uint8_t* pixels = src + r * w * c;
        for (int64_t ch = 0; ch < c; ++ch) {
          const float* t = table + ch * stride;
          float* o = dst + ((image * c + ch) * h + y) * w;
          for (int64_t x = 0; x < w; ++x) o[x] = t[pixels[x * c + ch]];
        }
      }
    };
    pool->ParallelFor(n * h, std::max<int64_t>(1, kMinBytesPerChunk / std::max<int64_t>(1, w * c)),
                      rows);
    return;
  }
  // Blocks of `inner` bytes that share an index k of the table's axis.
  int64_t inner = 1;
  for (int d = axis_ + 1; d < static_cast<int>(in_shape_.size()); ++d) inner *= in_shape_[d];
  const int64_t entries = axis_ < 0 ? 1 : in_shape_[axis_];
  const int64_t blocks = inner == 0 ? 0 : in.num_elements() / inner;
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const float* t = table + (b % entries) * 256;
      for (int64_t i = b * inner; i < (b + 1) * inner; ++i) dst[i] = t[src[i]];
    }
  };
  pool->ParallelFor(blocks, std::max<int64_t>(1, kMinBytesPerChunk / std::max<int64_t>(1, inner)),
                    run);
}

}  // namespace serdab::engine
