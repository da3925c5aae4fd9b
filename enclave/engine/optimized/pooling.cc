// Optimised MaxPool, AveragePool, GlobalAveragePool and ReduceMean.
//
// MaxPool and AveragePool run planes (one N, C pair each) in parallel and are
// separable: for each output row, the row taps are first combined column by
// column into a buffer the width of the input (contiguous, so it vectorises),
// then each output takes its column taps from that buffer. With stride 1 or 2,
// no dilation and windows of up to 16, both combines run in registers, from
// the input to the output, the pads being the combine's identity
// (RowInRegisters). MaxPool gives the reference's values exactly; AveragePool
// adds in a different order and multiplies by the inverse count (within float
// rounding of the reference). GlobalAveragePool and ReduceMean share
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
#include "enclave/engine/optimized/lane_mask.h"
#include "enclave/engine/optimized/prefetch.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

// Elements per chunk for loops over small planes or blocks.
constexpr int64_t kGrain = 16 * 1024;
// Window rows and columns RowInRegisters takes at most: a column tap lies
// within the two (stride 1) or three (stride 2) blocks of 16 it keeps.
constexpr int64_t kMaxRegisterTaps = 16;
// Blocks of 16 output columns, at most, of a map pooled a plane at a time
// (PlaneInRegisters) rather than a row at a time (RowInRegisters), at
// stride 1 down the columns: at stride 1 across as well, and at stride 2.
constexpr int64_t kMaxPlaneBlocks = 4;
constexpr int64_t kMaxPlaneBlocksStrideTwo = 2;
// Output planes of at least this many pixels are split into bands of rows
// between the threads (see Setup).
constexpr int64_t kMinBandedPlane = 48 * 48;
// Row by row (RowsInRegisters), the input rows this many output rows ahead
// are asked for while a row is pooled. Each row waited on its loads from
// L2 or L3 otherwise, which the prefetchers did not run far enough ahead
// for with a window's rows read as three streams: in the frame at 2
// threads, resnet18's 3x3 stride-2 MaxPool at 112x112 took 202-229 us
// without this and 120-125 with it, googlenet's at 56x56 171-180 and 84.
constexpr int64_t kRowsAhead = 4;

// Asks for the cache lines of count floats at dst, owned for the stores: a
// pooled plane is a few hundred bytes written after little work, and in a
// whole model its lines are usually cold, so fetching them one store miss
// at a time would leave the core waiting on memory.
void PrefetchForWrite(const float* dst, int64_t count) {
  PrefetchLines<PrefetchFor::kWrite>(dst, count * static_cast<int64_t>(sizeof(float)));
}

// Asks for the cache lines of count floats at src ahead of the loads: a
// plane at a time, the next plane's input while this one is pooled. Its
// lines are in L3 or the other core's cache (the layer before wrote them),
// and a plane of a few KiB is pooled in less time than they take to come
// one miss at a time: in the frame at 2 threads, googlenet's 3x3 stride-1
// MaxPools at 14x14 took 27-40 us without this and 22-30 with it,
// inception_v3's 3x3 AveragePools at 35x35 93-143 and 72-101.
void PrefetchForRead(const float* src, int64_t count) {
  PrefetchLines<PrefetchFor::kRead>(src, count * static_cast<int64_t>(sizeof(float)));
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
    threads_ = std::max(1, setup.num_threads);
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
    padded_columns_ = p_.dilation_w == 1 && (p_.stride_w == 1 || p_.stride_w == 2) &&
                      p_.kernel_w <= kMaxRegisterTaps && p_.kernel_h <= kMaxRegisterTaps;
#endif
    pad_left_ = std::max<int64_t>(0, -p_.cols[0].start);
    const int64_t blocks = (p_.out_w + 15) / 16;
    if (padded_columns_) {
      // RowInRegisters goes from the input to the output in registers;
      // PlaneInRegisters keeps each input row's column taps, whole vectors.
      plane_at_once_ = p_.stride_h == 1 &&
                       blocks <= (p_.stride_w == 1 ? kMaxPlaneBlocks : kMaxPlaneBlocksStrideTwo);
      row_floats_ = plane_at_once_ ? p_.in_h * blocks * 16 : 0;
      out_row_floats_ = 0;
      // On large maps the threads split each plane's rows rather than the
      // planes: the layer before, a GEMM over that many columns, split its
      // output by columns, that is by rows of every plane, so each thread
      // then reads what it wrote rather than lines the other core holds.
      // In the frame at 2 threads: squeezenet1_1's first MaxPool 160-164 ->
      // 100-107 us, googlenet's 214-217 -> 176-185. Not on small maps, whose
      // producers split by channels and whose planes the two threads would
      // write into the same lines: googlenet's 14x14 and 7x7 MaxPools took
      // twice as long.
      if (!plane_at_once_ && p_.out_h * p_.out_w >= kMinBandedPlane) row_bands_ = threads_;
    }
    auto count = [&](const PoolWindow& w) {
      return static_cast<float>(p_.count_include_pad ? w.padded_size : w.taps());
    };
    row_counts_.clear();
    col_counts_.clear();
    for (const PoolWindow& w : p_.rows) row_counts_.push_back(count(w));
    for (const PoolWindow& w : p_.cols) col_counts_.push_back(count(w));
    col_counts_.resize(blocks * 16, 1.f);  // whole vectors; the extra lanes are not stored
    // A vector division per 16 outputs took a third of a 3x3 AveragePool
    // (inception_v3's branch pools); a multiplication by the reciprocal
    // rounds once more, within the float rounding the summation order
    // already allows.
    inverse_counts_.clear();
    for (int64_t oh = 0; kind_ == PoolKind::kAverage && padded_columns_ && oh < p_.out_h; ++oh) {
      for (int64_t ow = 0; ow < blocks * 16; ++ow) {
        inverse_counts_.push_back(1.f / (row_counts_[oh] * col_counts_[ow]));
      }
    }
    outputs->assign(1, TensorInfo{DataType::kFloat32, p_.output_shape()});
    return Status::Ok();
  }

  // Planes move between threads (thread_pool.h), so each thread has its own
  // row buffers in scratch.
  Status Run(const KernelIO& io) const override {
    if (reference_ != nullptr) return reference_->Run(io);
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    float* scratch = static_cast<float*>(io.scratch);
    auto run_planes = [&](int64_t begin, int64_t end, float* row) {
      float* out_row = row + row_floats_;
      for (int64_t plane = begin; plane < end; ++plane) {
        const float* in = x + plane * p_.in_h * p_.in_w;
        float* out = y + plane * p_.out_h * p_.out_w;
        if (plane + 1 < end) {
          PrefetchForWrite(out + p_.out_h * p_.out_w, p_.out_h * p_.out_w);
          PrefetchForRead(in + p_.in_h * p_.in_w, p_.in_h * p_.in_w);
        }
        if (kind_ == PoolKind::kMax) {
          MaxPlane(in, out, row, out_row);
        } else {
          AveragePlane(in, out, row, out_row);
        }
      }
    };
    if (io.pool->num_threads() > threads_) {
      // A pool larger than Setup planned scratch for (no Model makes one).
      run_planes(0, p_.planes(), scratch);
      return Status::Ok();
    }
    if (row_bands_ > 1) {
      // Band-major units: thread t pools band t of every plane.
      const int64_t units = row_bands_ * p_.planes();
      io.pool->ParallelFor(units, 1, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) {
          const int64_t plane = u % p_.planes();
          int64_t oh_begin, oh_end;
          ThreadPool::ChunkRange(p_.out_h, row_bands_, u / p_.planes(), &oh_begin, &oh_end);
          const float* in = x + plane * p_.in_h * p_.in_w;
          float* out = y + plane * p_.out_h * p_.out_w;
          if (u + 1 < end && plane + 1 < p_.planes()) {  // the next plane's same band
            PrefetchForWrite(out + p_.out_h * p_.out_w + oh_begin * p_.out_w,
                             (oh_end - oh_begin) * p_.out_w);
          }
          RowsInRegisters(in, out, oh_begin, oh_end);
        }
      });
      return Status::Ok();
    }
    io.pool->ParallelFor(p_.planes(), 1, [&](int64_t begin, int64_t end) {
      run_planes(begin, end,
                 scratch + ThreadPool::CurrentThread() * (row_floats_ + out_row_floats_));
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }

  size_t ScratchBytes() const override {
    if (reference_ != nullptr) return reference_->ScratchBytes();
    return static_cast<size_t>(threads_) * (row_floats_ + out_row_floats_) * sizeof(float);
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

  // Each output row is stored once, from registers (RowInRegisters) or from
  // `out_row` (scratch, in L1): combining the column taps in the output
  // itself would read back lines that a cold output (the usual case in a
  // whole model) does not yet hold, and each such read waits for memory.
  void MaxPlane(const float* in, float* out, float* row, float* out_row) const {
    if (plane_at_once_) return PlaneInRegisters(in, row, out);
    if (padded_columns_) return RowsInRegisters(in, out, 0, p_.out_h);
    auto max = [](float a, float b) { return std::max(a, b); };
    for (int64_t oh = 0; oh < p_.out_h; ++oh) {
      CombineRows(in, oh, row, max);
      CombineColumns(row, out_row, max);
      std::copy(out_row, out_row + p_.out_w, out + oh * p_.out_w);
    }
  }

  void AveragePlane(const float* in, float* out, float* row, float* out_row) const {
    if (plane_at_once_) return PlaneInRegisters(in, row, out);
    if (padded_columns_) return RowsInRegisters(in, out, 0, p_.out_h);
    auto add = [](float a, float b) { return a + b; };
    for (int64_t oh = 0; oh < p_.out_h; ++oh) {
      CombineRows(in, oh, row, add);
      CombineColumns(row, out_row, add);
      float* __restrict dst = out + oh * p_.out_w;
      const float row_count = row_counts_[oh];
      const float* __restrict col_counts = col_counts_.data();
      for (int64_t ow = 0; ow < p_.out_w; ++ow)
        dst[ow] = out_row[ow] / (row_count * col_counts[ow]);
    }
  }

  // Output rows [oh_begin, oh_end) of one plane, each by RowInRegisters;
  // AveragePool's rows take their inverse counts.
  void RowsInRegisters(const float* in, float* out, int64_t oh_begin, int64_t oh_end) const {
    for (int64_t oh = oh_begin; oh < oh_end; ++oh) {
      // The input rows kRowsAhead output rows on, asked for now (see there).
      const int64_t y_begin = std::min(p_.in_h, (oh + kRowsAhead) * p_.stride_h);
      const int64_t y_end = std::min(p_.in_h, (oh + kRowsAhead + 1) * p_.stride_h);
      PrefetchForRead(in + y_begin * p_.in_w, (y_end - y_begin) * p_.in_w);
      const float* inverse_counts =
          kind_ == PoolKind::kMax ? nullptr : inverse_counts_.data() + oh * col_counts_.size();
      RowInRegisters(in, oh, inverse_counts, out + oh * p_.out_w);
    }
  }

  // One output row, from the input to the output in registers, for stride
  // 1 or 2 and kernel_w <= kMaxRegisterTaps. Block b holds 16 columns of the
  // padded row, P[16b + i] = input column 16b + i - pad_left_ (the
  // combine's identity outside the input), each column's row taps combined
  // top to bottom as CombineRows does; output column ox combines P[ox *
  // stride + j] for j = 0..kernel_w-1 from the identity, left to right,
  // each tap cut from the blocks with permutes; AveragePool then multiplies
  // by the row's inverse counts. (Through a row buffer in memory, each load
  // of a tap straddled two stores of the row combine that were still in
  // the store buffer, which cannot forward to it: half of the time of a 3x3
  // AveragePool on a 17x17 map.)
  void RowInRegisters(const float* in, int64_t oh, const float* inverse_counts, float* dst) const {
    const PoolWindow& r = p_.rows[oh];
    const float* rows[kMaxRegisterTaps];
    int64_t row_count = 0;
    for (int64_t i = r.first_tap; i < r.end_tap; ++i) {
      rows[row_count++] = in + (r.start + i * p_.dilation_h) * p_.in_w;
    }
    CombineInRegisters(rows, row_count, inverse_counts, dst, false);
  }

  // A map of up to kMaxPlaneBlocks blocks of output columns, at stride 1
  // down the columns, a plane at a time: first each input row's column taps
  // (CombineInRegisters of that row alone, whole vectors into `columns`),
  // then each output block the rows of its window, top to bottom, and the
  // inverse counts. Every vector of either pass is independent of the
  // others, so the core overlaps them, where row by row a small map chains
  // a dozen dependent operations per vector: googlenet's 3x3 MaxPools at
  // 14x14 took 0.79-0.91 of their time in the frame (at 2 threads). Row by
  // row cuts the columns once per output row rather than once per input
  // row, which at stride 2 is half as often: googlenet's stride-2 MaxPools
  // at 28x28 and 14x14 were 1.3-1.4x slower in two passes, and inception_v3's
  // at 147x147 1.4x.
  void PlaneInRegisters(const float* in, float* columns, float* out) const {
    if (kind_ == PoolKind::kMax) {
      PlaneInRegisters<true>(in, columns, out);
    } else {
      PlaneInRegisters<false>(in, columns, out);
    }
  }

  // The max or the sum fixed at compile time, so that neither pass tests it
  // per vector.
  template <bool kMax>
  void PlaneInRegisters(const float* in, float* columns, float* out) const {
#if defined(__AVX512F__)
    const int64_t blocks = (p_.out_w + 15) / 16;
    if (p_.stride_w == 1) {
      ColumnsAtStrideOne<kMax>(blocks, in, columns);
    } else {
      for (int64_t y = 0; y < p_.in_h; ++y) {
        const float* row = in + y * p_.in_w;
        CombineInRegisters(&row, 1, nullptr, columns + y * blocks * 16, true);
      }
    }
    using Fn = void (FastPoolKernel::*)(const float*, float*) const;
    static constexpr Fn kRows[kMaxPlaneBlocks] = {
        &FastPoolKernel::RowsOfColumns<kMax, 1>, &FastPoolKernel::RowsOfColumns<kMax, 2>,
        &FastPoolKernel::RowsOfColumns<kMax, 3>, &FastPoolKernel::RowsOfColumns<kMax, 4>};
    (this->*kRows[blocks - 1])(columns, out);
#else
    (void)in;
    (void)columns;
    (void)out;
#endif
  }

#if defined(__AVX512F__)
  // The second pass of PlaneInRegisters: each output row's window of
  // `columns` rows combined top to bottom, block by block, times the inverse
  // counts. The usual three-row window is spelled out, so that the blocks of
  // a row and the rows themselves are straight-line code the core overlaps.
  template <bool kMax, int kBlocks>
  void RowsOfColumns(const float* columns, float* out) const {
    __mmask16 store_masks[kBlocks];
    for (int b = 0; b < kBlocks; ++b) {
      store_masks[b] = static_cast<__mmask16>(LaneMask(0, p_.out_w - 16 * b, 16));
    }
    const int64_t step = p_.dilation_h * kBlocks * 16;
    for (int64_t oh = 0; oh < p_.out_h; ++oh) {
      const PoolWindow& r = p_.rows[oh];
      const float* first = columns + (r.start + r.first_tap * p_.dilation_h) * kBlocks * 16;
      const int64_t taps = r.end_tap - r.first_tap;
      const float* inverse_counts = inverse_counts_.data() + oh * col_counts_.size();
      float* dst = out + oh * p_.out_w;
#pragma GCC unroll 4
      for (int b = 0; b < kBlocks; ++b) {
        const float* column = first + 16 * b;
        __m512 acc = _mm512_load_ps(column);
        if (taps == 3) {
          acc = Combine(kMax, acc, _mm512_load_ps(column + step));
          acc = Combine(kMax, acc, _mm512_load_ps(column + 2 * step));
        } else {
          for (int64_t i = 1; i < taps; ++i) {
            acc = Combine(kMax, acc, _mm512_load_ps(column + i * step));
          }
        }
        if (!kMax) acc = _mm512_mul_ps(acc, _mm512_loadu_ps(inverse_counts + 16 * b));
        _mm512_mask_storeu_ps(dst + 16 * b, store_masks[b], acc);
      }
    }
  }

  // The first pass of PlaneInRegisters at stride 1 across: what
  // CombineInRegisters computes for one row alone, every output block of
  // the row cut from the same loaded input blocks, with the masks and the
  // taps' permutations made once per plane. (Called per row, the masks,
  // permutations and call took most of a 3x3 AveragePool at 17x17: about 80
  // cycles per output vector.)
  template <bool kMax>
  void ColumnsAtStrideOne(int64_t blocks, const float* in, float* columns) const {
    using Fn = void (FastPoolKernel::*)(const float*, float*) const;
    // [three taps][blocks - 1]
    static constexpr Fn kColumns[2][kMaxPlaneBlocks] = {
        {&FastPoolKernel::ColumnsAtStrideOne<kMax, 1, 0>,
         &FastPoolKernel::ColumnsAtStrideOne<kMax, 2, 0>,
         &FastPoolKernel::ColumnsAtStrideOne<kMax, 3, 0>,
         &FastPoolKernel::ColumnsAtStrideOne<kMax, 4, 0>},
        { &FastPoolKernel::ColumnsAtStrideOne<kMax, 1, 3>,
          &FastPoolKernel::ColumnsAtStrideOne<kMax, 2, 3>,
          &FastPoolKernel::ColumnsAtStrideOne<kMax, 3, 3>,
          &FastPoolKernel::ColumnsAtStrideOne<kMax, 4, 3> }};
    (this->*kColumns[p_.kernel_w == 3][blocks - 1])(in, columns);
  }

  // kBlocks output blocks; kTaps column taps, or 0 for p_.kernel_w. Fixed at
  // compile time, the input blocks and the taps' permutations stay in
  // registers (indexed at run time, the compiler kept them on the stack).
  template <bool kMax, int kBlocks, int kTaps>
  void ColumnsAtStrideOne(const float* in, float* columns) const {
    const int64_t taps = kTaps != 0 ? kTaps : p_.kernel_w;
    const __m512 identity = Identity();
    int64_t offsets[kBlocks + 1];
    __mmask16 masks[kBlocks + 1];
    for (int64_t b = 0; b <= kBlocks; ++b) {
      offsets[b] = (16 * b - pad_left_) * static_cast<int64_t>(sizeof(float));
      masks[b] =
          static_cast<__mmask16>(LaneMask(pad_left_ - 16 * b, pad_left_ - 16 * b + p_.in_w, 16));
    }
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i index[kTaps != 0 ? kTaps : kMaxRegisterTaps];
    for (int64_t j = 0; j < taps; ++j) {
      index[j] = _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(j)));
    }
    for (int64_t y = 0; y < p_.in_h; ++y) {
      // Lanes outside the row are masked off, never read: the address is
      // formed as an integer, since a block may start before the row.
      const uintptr_t row = reinterpret_cast<uintptr_t>(in + y * p_.in_w);
      __m512 input[kBlocks + 1];
#pragma GCC unroll 5
      for (int b = 0; b <= kBlocks; ++b) {
        input[b] = _mm512_mask_loadu_ps(identity, masks[b],
                                        reinterpret_cast<const float*>(row + offsets[b]));
      }
      float* dst = columns + y * kBlocks * 16;
#pragma GCC unroll 4
      for (int b = 0; b < kBlocks; ++b) {
        __m512 acc = identity;
#pragma GCC unroll 16
        for (int64_t j = 0; j < taps; ++j) {
          acc = Combine(kMax, acc, _mm512_permutex2var_ps(input[b], index[j], input[b + 1]));
        }
        _mm512_store_ps(dst + 16 * b, acc);
      }
    }
  }
#endif

#if defined(__AVX512F__)
  // The combine's identity: -inf for MaxPool, 0 for AveragePool.
  __m512 Identity() const {
    return _mm512_set1_ps(kind_ == PoolKind::kMax ? -std::numeric_limits<float>::infinity() : 0.f);
  }

  // std::max(acc, tap) lane by lane, NaNs included, or acc + tap.
  static __m512 Combine(bool max, __m512 acc, __m512 tap) {
    return max ? _mm512_max_ps(tap, acc) : _mm512_add_ps(acc, tap);
  }
#endif

  // The rows of a window (rows[0, row_count)) combined block by block, then
  // the column taps, times inverse_counts if set; stored to dst, the out_w
  // outputs (whole vectors if `whole`).
  void CombineInRegisters(const float* const* rows, int64_t row_count, const float* inverse_counts,
                          float* dst, bool whole) const {
#if defined(__AVX512F__)
    const bool max = kind_ == PoolKind::kMax;
    const __m512 identity = Identity();
    auto combine = [&](__m512 acc, __m512 tap) { return Combine(max, acc, tap); };
    auto block = [&](int64_t b) {
      const int64_t x = 16 * b - pad_left_;
      const __mmask16 m = static_cast<__mmask16>(LaneMask(-x, p_.in_w - x, 16));
      // The lanes outside the input are masked off, never read: the address
      // is formed as an integer, since x may lie before the row.
      auto load = [&](const float* row) {
        const float* at = reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(row) +
                                                         x * static_cast<int64_t>(sizeof(float)));
        return _mm512_mask_loadu_ps(identity, m, at);
      };
      __m512 v = row_count > 0 ? load(rows[0]) : identity;
      for (int64_t i = 1; i < row_count; ++i) v = combine(v, load(rows[i]));
      return v;
    };
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    auto store = [&](int64_t ox, __m512 acc) {
      if (inverse_counts != nullptr) acc = _mm512_mul_ps(acc, _mm512_loadu_ps(inverse_counts + ox));
      if (whole) {
        _mm512_store_ps(dst + ox, acc);
      } else {
        const int64_t lanes = std::min<int64_t>(16, p_.out_w - ox);
        _mm512_mask_storeu_ps(dst + ox, static_cast<__mmask16>((1u << lanes) - 1), acc);
      }
    };
    if (p_.stride_w == 2 && p_.kernel_w == 3) {
      // The usual 3-wide stride-2 window, its taps cut with fixed
      // permutations: P[2i] and P[2i + 1] are the even and odd lanes of
      // blocks 0 and 1, and P[2i + 2] the even lanes from lane 2 on, the
      // last of them block 2's first. (The general loop below made each
      // tap's permutation, and its lanes past block 1, per vector: 3x3
      // stride-2 MaxPools took 1.7-3.3x ONNX Runtime's time.)
      const __m512i even = _mm512_add_epi32(iota, iota);
      const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
      const __m512i next = _mm512_add_epi32(even, _mm512_set1_epi32(2));
      __m512 b0 = block(0);
      for (int64_t ox = 0; ox < p_.out_w; ox += 16) {
        const int64_t first = ox / 8;
        const __m512 b1 = block(first + 1);
        const __m512 b2 = block(first + 2);
        __m512 acc = combine(identity, _mm512_permutex2var_ps(b0, even, b1));
        acc = combine(acc, _mm512_permutex2var_ps(b0, odd, b1));
        acc = combine(acc, _mm512_mask_broadcastss_ps(_mm512_permutex2var_ps(b0, next, b1), 0x8000,
                                                      _mm512_castps512_ps128(b2)));
        store(ox, acc);
        b0 = b2;
      }
      return;
    }
    const int64_t span = p_.stride_w == 1 ? 2 : 3;  // blocks one output block reads
    __m512 blocks[3];
    for (int64_t i = 0; i + 1 < span; ++i) blocks[i] = block(i);
    for (int64_t ox = 0; ox < p_.out_w; ox += 16) {
      const int64_t first = ox / 16 * p_.stride_w;
      blocks[span - 1] = block(first + span - 1);
      __m512 acc = identity;
      for (int64_t j = 0; j < p_.kernel_w; ++j) {
        __m512 tap;
        if (p_.stride_w == 1) {
          // P[ox + j + i]: lanes j.. of block 0, then block 1.
          const __m512i index = _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(j)));
          tap = _mm512_permutex2var_ps(blocks[0], index, blocks[1]);
        } else {
          // P[2 (ox + i) + j]: from blocks 0 and 1 while 2i + j < 32, then 2.
          const __m512i index = _mm512_add_epi32(_mm512_add_epi32(iota, iota),
                                                 _mm512_set1_epi32(static_cast<int>(j)));
          tap = _mm512_permutex2var_ps(blocks[0], index, blocks[1]);
          const __mmask16 past = _mm512_cmpge_epi32_mask(index, _mm512_set1_epi32(32));
          tap = _mm512_mask_permutexvar_ps(
              tap, past, _mm512_sub_epi32(index, _mm512_set1_epi32(32)), blocks[2]);
        }
        acc = combine(acc, tap);
      }
      store(ox, acc);
      if (p_.stride_w == 1) {
        blocks[0] = blocks[1];
      } else {
        blocks[0] = blocks[2];
        blocks[1] = block(first + 3);
      }
    }
#else
    (void)rows;
    (void)row_count;
    (void)inverse_counts;
    (void)dst;
    (void)whole;
#endif
  }

  PoolKind kind_;
  PoolParams p_;
  std::unique_ptr<Kernel> reference_;  // set for 3-D pooling, which it runs
  int threads_ = 1;                    // Setup's thread count: scratch has a row buffer per thread
  int64_t row_floats_ = 0;             // in_w rounded up to whole cache lines
  int64_t out_row_floats_ = 0;  // out_w rounded up to whole cache lines, or 0 (RowInRegisters)
  // The path of RowInRegisters, and the left pad it reads.
  bool padded_columns_ = false;
  int64_t row_bands_ = 1;       // bands of output rows per plane that threads share out
  bool plane_at_once_ = false;  // PlaneInRegisters: up to kMaxPlaneBlocks blocks
  int64_t pad_left_ = 0;
  // Output columns [full_begin_, full_end_) have every tap inside the input.
  int64_t full_begin_ = 0;
  int64_t full_end_ = 0;
  // AveragePool's divisor for (oh, ow) is row_counts_[oh] * col_counts_[ow]
  // (small integers, so the float product equals PoolParams::Divisor).
  std::vector<float> row_counts_;
  std::vector<float> col_counts_;
  // RowInRegisters: 1 / (row_counts_[oh] * col_counts_[ow]) at [oh][ow],
  // rows of whole vectors.
  std::vector<float> inverse_counts_;
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
