// Optimised MaxPool, AveragePool, GlobalAveragePool and ReduceMean.
//
// MaxPool and AveragePool run planes (one N, C pair each) in parallel and are
// separable: for each output row, the row taps are first combined column by
// column into a buffer the width of the input (contiguous, so it vectorises),
// then each output takes its column taps from that buffer. With stride 1 or 2
// and no dilation the buffer holds the pads too (the combine's identity), so
// the column taps are plain vector loads (PaddedColumns). MaxPool gives the
// reference's values exactly; AveragePool adds in a different order (within
// float rounding of the reference). GlobalAveragePool and ReduceMean share
// their summation code with the reference and give identical results. 3-D
// MaxPool and AveragePool run the reference kernel.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "enclave/engine/allocator.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/pool_params.h"
#include "enclave/engine/ops/register_ops.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

// Elements per chunk for loops over small planes or blocks.
constexpr int64_t kGrain = 16 * 1024;

// Asks for the cache lines of dst[0, count) in a writable state ahead of the
// stores: a pooled plane is a few hundred bytes written after little work, and
// in a whole model its lines are usually cold, so fetching them one store miss
// at a time would leave the core waiting on memory.
void PrefetchForWrite(const float* dst, int64_t count) {
  const char* begin = reinterpret_cast<const char*>(dst);
  const char* end = reinterpret_cast<const char*>(dst + count);
  for (const char* line = begin; line < end; line += kTensorAlignment) {
    __builtin_prefetch(line, 1, 3);
  }
}

// Chunks of whole blocks of `block` elements, at least kGrain elements each.
int64_t BlockGrain(int64_t block) {
  return std::max<int64_t>(1, kGrain / std::max<int64_t>(block, 1));
}

class FastPoolKernel : public Kernel {
 public:
  explicit FastPoolKernel(PoolKind kind) : kind_(kind) {}

  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(ParsePoolParams(setup, kind_, &p_));
    if (p_.spatial_rank == 3) {
      reference_ = OpRegistry::Builtin().Create(setup.n().op_type, KernelFlavor::kReference);
      return reference_->Setup(setup, outputs);
    }
    max_chunks_ = std::max(1, setup.num_threads);
    constexpr int64_t kLine = kTensorAlignment / sizeof(float);
    row_floats_ = (p_.in_w + kLine - 1) / kLine * kLine;
    out_row_floats_ = (p_.out_w + kLine - 1) / kLine * kLine;
    full_begin_ = p_.out_w;
    full_end_ = p_.out_w;
    for (int64_t ow = 0; ow < p_.out_w; ++ow) {
      if (p_.cols[ow].first_tap == 0 && p_.cols[ow].end_tap == p_.kernel_w) {
        full_begin_ = std::min(full_begin_, ow);
        full_end_ = ow + 1;
      }
    }
#if defined(__AVX512F__)
    // Rows with their pads written out (the combine's identity) let every
    // output column take its taps with plain vector loads.
    padded_columns_ = p_.dilation_w == 1 && (p_.stride_w == 1 || p_.stride_w == 2);
#endif
    pad_left_ = std::max<int64_t>(0, -p_.cols[0].start);
    const int64_t blocks = (p_.out_w + 15) / 16;
    padded_row_floats_ = std::max(pad_left_ + p_.in_w, blocks * 16 * p_.stride_w + p_.kernel_w);
    padded_row_floats_ = (padded_row_floats_ + kLine - 1) / kLine * kLine;
    if (padded_columns_) {
      // PaddedColumns stores each output row from registers: no out_row.
      row_floats_ = padded_row_floats_;
      out_row_floats_ = 0;
    }
    auto count = [&](const PoolWindow& w) {
      return static_cast<float>(p_.count_include_pad ? w.padded_size : w.taps());
    };
    row_counts_.clear();
    col_counts_.clear();
    for (const PoolWindow& w : p_.rows) row_counts_.push_back(count(w));
    for (const PoolWindow& w : p_.cols) col_counts_.push_back(count(w));
    col_counts_.resize(blocks * 16, 1.f);  // whole vectors; the extra lanes are not stored
    outputs->assign(1, TensorInfo{DataType::kFloat32, p_.output_shape()});
    return Status::Ok();
  }

  // Each chunk of planes gets its own row buffer in scratch, so the loop runs
  // over chunk indices rather than planes.
  Status Run(const KernelIO& io) const override {
    if (reference_ != nullptr) return reference_->Run(io);
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    float* scratch = static_cast<float*>(io.scratch);
    const int threads = std::min(io.pool->num_threads(), max_chunks_);
    const int64_t chunks = ThreadPool::NumChunks(p_.planes(), 1, threads);
    io.pool->ParallelFor(chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
      for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
        int64_t begin, end;
        ThreadPool::ChunkRange(p_.planes(), chunks, chunk, &begin, &end);
        float* row = scratch + chunk * (row_floats_ + out_row_floats_);
        float* out_row = row + row_floats_;
        if (padded_columns_) {
          // The pads, never overwritten: only the input's columns are.
          const float identity =
              kind_ == PoolKind::kMax ? -std::numeric_limits<float>::infinity() : 0.f;
          std::fill(row, row + pad_left_, identity);
          std::fill(row + pad_left_ + p_.in_w, row + padded_row_floats_, identity);
        }
        for (int64_t plane = begin; plane < end; ++plane) {
          const float* in = x + plane * p_.in_h * p_.in_w;
          float* out = y + plane * p_.out_h * p_.out_w;
          if (plane + 1 < end) PrefetchForWrite(out + p_.out_h * p_.out_w, p_.out_h * p_.out_w);
          if (kind_ == PoolKind::kMax) {
            MaxPlane(in, out, row, out_row);
          } else {
            AveragePlane(in, out, row, out_row);
          }
        }
      }
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }

  size_t ScratchBytes() const override {
    if (reference_ != nullptr) return reference_->ScratchBytes();
    return static_cast<size_t>(max_chunks_) * (row_floats_ + out_row_floats_) * sizeof(float);
  }

 private:
  // Combines the row taps of output row `oh` column by column into `row`.
  template <typename Combine>
  void CombineRows(const float* in, int64_t oh, float* row, Combine combine) const {
    const int64_t w = p_.in_w;
    const PoolWindow& r = p_.rows[oh];
    const float* first = in + (r.start + r.first_tap * p_.dilation_h) * w;
    std::copy(first, first + w, row);
    for (int64_t i = r.first_tap + 1; i < r.end_tap; ++i) {
      const float* src = in + (r.start + i * p_.dilation_h) * w;
      for (int64_t k = 0; k < w; ++k) row[k] = combine(row[k], src[k]);
    }
  }

  // dst[ow] = the column taps of `row` combined, for every output column.
  template <typename Combine>
  void CombineColumns(const float* row, float* dst, Combine combine) const {
    auto edge = [&](int64_t ow) {
      const PoolWindow& c = p_.cols[ow];
      float v = row[c.start + c.first_tap * p_.dilation_w];
      for (int64_t j = c.first_tap + 1; j < c.end_tap; ++j) {
        v = combine(v, row[c.start + j * p_.dilation_w]);
      }
      dst[ow] = v;
    };
    for (int64_t ow = 0; ow < full_begin_; ++ow) edge(ow);
    for (int64_t ow = full_end_; ow < p_.out_w; ++ow) edge(ow);
    if (full_begin_ >= full_end_) return;
    // Columns whose taps all lie in the input: tap by tap, so that neighbouring
    // outputs are independent and the loop vectorises.
    const int64_t n = full_end_ - full_begin_;
    const float* base = row + p_.cols[full_begin_].start;
    float* out = dst + full_begin_;
    // A compile-time stride lets the compiler vectorise with shuffles.
    if (p_.stride_w == 1) {
      InteriorColumns<1>(base, out, n, combine);
    } else if (p_.stride_w == 2) {
      InteriorColumns<2>(base, out, n, combine);
    } else {
      InteriorColumns<0>(base, out, n, combine);
    }
  }

  // out[k] = the taps of output column k combined, where column k's first tap
  // is base[k * stride]. kStride is the stride, or 0 for p_.stride_w.
  template <int kStride, typename Combine>
  void InteriorColumns(const float* __restrict base, float* __restrict out, int64_t n,
                       Combine combine) const {
    const int64_t stride = kStride != 0 ? kStride : p_.stride_w;
    for (int64_t k = 0; k < n; ++k) out[k] = base[k * stride];
    for (int64_t j = 1; j < p_.kernel_w; ++j) {
      const float* __restrict tap = base + j * p_.dilation_w;
      for (int64_t k = 0; k < n; ++k) out[k] = combine(out[k], tap[k * stride]);
    }
  }

  // Each output row is stored once, from registers (PaddedColumns) or from
  // `out_row` (scratch, in L1): combining the column taps in the output
  // itself would read back lines that a cold output (the usual case in a
  // whole model) does not yet hold, and each such read waits for memory.
  void MaxPlane(const float* in, float* out, float* row, float* out_row) const {
    auto max = [](float a, float b) { return std::max(a, b); };
    for (int64_t oh = 0; oh < p_.out_h; ++oh) {
      if (padded_columns_) {
        CombineRows(in, oh, row + pad_left_, max);
        PaddedColumns(row, 1.f, out + oh * p_.out_w);
        continue;
      }
      CombineRows(in, oh, row, max);
      CombineColumns(row, out_row, max);
      std::copy(out_row, out_row + p_.out_w, out + oh * p_.out_w);
    }
  }

  void AveragePlane(const float* in, float* out, float* row, float* out_row) const {
    auto add = [](float a, float b) { return a + b; };
    for (int64_t oh = 0; oh < p_.out_h; ++oh) {
      if (padded_columns_) {
        CombineRows(in, oh, row + pad_left_, add);
        PaddedColumns(row, row_counts_[oh], out + oh * p_.out_w);
        continue;
      }
      CombineRows(in, oh, row, add);
      CombineColumns(row, out_row, add);
      float* __restrict dst = out + oh * p_.out_w;
      const float row_count = row_counts_[oh];
      const float* __restrict col_counts = col_counts_.data();
      for (int64_t ow = 0; ow < p_.out_w; ++ow)
        dst[ow] = out_row[ow] / (row_count * col_counts[ow]);
    }
  }

  // One output row from a combined input row whose pads are written out
  // (row[pad_left_ + x] is input column x): 16 columns at a time, the taps of
  // each column combined left to right from the identity, as the reference
  // does, then (AveragePool) divided by row_count times the column's count.
  void PaddedColumns(const float* row, float row_count, float* dst) const {
#if defined(__AVX512F__)
    const bool max = kind_ == PoolKind::kMax;
    const __m512i even =
        _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int64_t ox = 0; ox < p_.out_w; ox += 16) {
      const float* base = row + ox * p_.stride_w;
      __m512 acc = _mm512_set1_ps(max ? -std::numeric_limits<float>::infinity() : 0.f);
      for (int64_t j = 0; j < p_.kernel_w; ++j) {
        const __m512 tap = p_.stride_w == 1
                               ? _mm512_loadu_ps(base + j)
                               : _mm512_permutex2var_ps(_mm512_loadu_ps(base + j), even,
                                                        _mm512_loadu_ps(base + j + 16));
        // std::max(acc, tap) lane by lane, NaNs included.
        acc = max ? _mm512_max_ps(tap, acc) : _mm512_add_ps(acc, tap);
      }
      if (!max) {
        acc = _mm512_div_ps(acc, _mm512_mul_ps(_mm512_set1_ps(row_count),
                                               _mm512_loadu_ps(col_counts_.data() + ox)));
      }
      const int64_t lanes = std::min<int64_t>(16, p_.out_w - ox);
      _mm512_mask_storeu_ps(dst + ox, static_cast<__mmask16>((1u << lanes) - 1), acc);
    }
#else
    (void)row;
    (void)row_count;
    (void)dst;
#endif
  }

  PoolKind kind_;
  PoolParams p_;
  std::unique_ptr<Kernel> reference_;  // set for 3-D pooling, which it runs
  int max_chunks_ = 1;
  int64_t row_floats_ = 0;      // in_w rounded up to whole cache lines
  int64_t out_row_floats_ = 0;  // out_w rounded up to whole cache lines, or 0 (PaddedColumns)
  // The padded-row path (PaddedColumns): the left pad, and the row's width
  // with both pads and room for the last vector's loads.
  bool padded_columns_ = false;
  int64_t pad_left_ = 0;
  int64_t padded_row_floats_ = 0;
  // Output columns [full_begin_, full_end_) have every tap inside the input.
  int64_t full_begin_ = 0;
  int64_t full_end_ = 0;
  // AveragePool's divisor for (oh, ow) is row_counts_[oh] * col_counts_[ow]
  // (small integers, so the float product equals PoolParams::Divisor).
  std::vector<float> row_counts_;
  std::vector<float> col_counts_;
};

class FastMaxPoolKernel final : public FastPoolKernel {
 public:
  FastMaxPoolKernel() : FastPoolKernel(PoolKind::kMax) {}
};

class FastAveragePoolKernel final : public FastPoolKernel {
 public:
  FastAveragePoolKernel() : FastPoolKernel(PoolKind::kAverage) {}
};

class FastGlobalAveragePoolKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    TensorInfo out;
    SERDAB_RETURN_IF_ERROR(ParseGlobalPoolParams(setup, &p_, &out));
    outputs->assign(1, out);
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    io.pool->ParallelFor(p_.planes, BlockGrain(p_.plane_size), [&](int64_t begin, int64_t end) {
      MeanOfBlocks(x, p_.plane_size, y, begin, end);
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.planes * p_.plane_size; }

 private:
  GlobalPoolParams p_;
};

// Parallel when each output is the mean of one contiguous block (the common
// "mean over H, W" form); other axis sets run the reference loop.
class FastReduceMeanKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    TensorInfo out;
    SERDAB_RETURN_IF_ERROR(ParseReduceMeanParams(setup, &p_, &out));
    outputs->assign(1, out);
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    if (!p_.trailing()) {
      ReduceMeanGeneral(p_, x, y);
      return Status::Ok();
    }
    io.pool->ParallelFor(p_.out_elements, BlockGrain(p_.count), [&](int64_t begin, int64_t end) {
      MeanOfBlocks(x, p_.count, y, begin, end);
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.out_elements * p_.count; }

 private:
  ReduceMeanParams p_;
};

}  // namespace

void RegisterOptimizedPoolingOps(OpRegistry* registry) {
  RegisterKernel<FastMaxPoolKernel>(registry, "MaxPool", KernelFlavor::kOptimized);
  RegisterKernel<FastAveragePoolKernel>(registry, "AveragePool", KernelFlavor::kOptimized);
  RegisterKernel<FastGlobalAveragePoolKernel>(registry, "GlobalAveragePool",
                                              KernelFlavor::kOptimized);
  RegisterKernel<FastReduceMeanKernel>(registry, "ReduceMean", KernelFlavor::kOptimized);
}

}  // namespace serdab::engine
