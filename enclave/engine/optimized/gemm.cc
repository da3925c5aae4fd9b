// Optimised Gemm and MatMul.
//
// Two shapes of work:
// - B used transposed (Gemm transB=1, PyTorch's Linear) or a single output
//   column: every output is a dot product of two contiguous rows. At batch 1
//   this is a matrix-vector product that streams a large weight once, so it is
//   memory bound; it runs four weight rows at a time against the shared input
//   row and splits the weight rows across threads.
// - Otherwise: GEMM tiles (sgemm.h) over B's rows in place, split across
//   threads by blocks of output rows and columns.
// Scaling by alpha, adding beta * C and the fused activation happen per block
// of output while it is still in cache.
#include <algorithm>
#include <cstring>

#include "enclave/engine/activation.h"
#include "enclave/engine/ops/matmul_params.h"
#include "enclave/engine/ops/register_ops.h"
#include "enclave/engine/optimized/sgemm.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

// Output columns (dot-product path) per work unit.
constexpr int64_t kDotColumnsPerUnit = 16;
// GEMM tiles per work unit along the columns.
constexpr int64_t kTilesPerUnit = 4;

// Computes a [rows x cols] block of C = A * B with GEMM tiles. A is row-major
// (lda), B row-major (ldb); a, b and c point at the block's first element.
void TileBlock(int64_t rows, int64_t cols, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float* c, int64_t ldc) {
  GemmB gb;
  gb.stride = ldb;
  for (int64_t i = 0; i < rows; i += kGemmMr) {
    for (int64_t j = 0; j < cols; j += kGemmNr) {
      gb.data = b + j;
      GemmTile(std::min(kGemmMr, rows - i), std::min(kGemmNr, cols - j), k, a + i * lda, lda, gb,
               c + i * ldc + j, ldc, GemmInit::kZero, nullptr);
    }
  }
}

// Output block [rows) x [j_begin, j_end) of a Gemm: y = alpha * y + beta * C,
// then the activation.
void GemmEpilogue(const GemmParams& p, const float* c, int64_t i_begin, int64_t i_end,
                  int64_t j_begin, int64_t j_end, float* y) {
  for (int64_t i = i_begin; i < i_end; ++i) {
    float* row = y + i * p.n;
    if (p.alpha != 1.f) {
      for (int64_t j = j_begin; j < j_end; ++j) row[j] *= p.alpha;
    }
    if (c != nullptr) {
      const float* crow = c + i * p.c_row_step;
      for (int64_t j = j_begin; j < j_end; ++j) row[j] += p.beta * crow[j * p.c_col_step];
    }
    ApplyActivation(p.activation, row + j_begin, j_end - j_begin);
  }
}

class GemmOptimized : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_ASSIGN_OR_RETURN(p_, ParseGemmParams(setup));
    outputs->push_back({DataType::kFloat32, {p_.m, p_.n}});
    const int64_t features = setup.whole_output_features > 0 ? setup.whole_output_features : p_.n;
    dot_ = p_.trans_b || features == 1;
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* a = io.inputs[0]->data<float>();
    const float* b = io.inputs[1]->data<float>();
    const float* c = p_.has_c ? io.inputs[2]->data<float>() : nullptr;
    float* y = io.outputs[0]->data<float>();
    if (p_.m == 0 || p_.n == 0) return Status::Ok();
    if (p_.trans_a) {
      // The tiles and dot products read A by rows: transpose it once.
      float* at = static_cast<float*>(io.scratch);
      io.pool->ParallelFor(p_.m, 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          for (int64_t t = 0; t < p_.k; ++t) at[i * p_.k + t] = a[t * p_.m + i];
        }
      });
      a = at;
    }
    if (dot_) {
      // B^T rows are B's rows when transB=1, and B itself when N == 1.
      const int64_t units = (p_.n + kDotColumnsPerUnit - 1) / kDotColumnsPerUnit;
      io.pool->ParallelFor(units, 1, [&](int64_t begin, int64_t end) {
        const int64_t j_begin = begin * kDotColumnsPerUnit;
        const int64_t j_end = std::min(p_.n, end * kDotColumnsPerUnit);
        GemmDot(p_.m, j_end - j_begin, p_.k, a, p_.k, b + j_begin * p_.k, p_.k, y + j_begin, p_.n,
                nullptr);
        GemmEpilogue(p_, c, 0, p_.m, j_begin, j_end, y);
      });
      return Status::Ok();
    }
    const int64_t col_units = (p_.n + kTilesPerUnit * kGemmNr - 1) / (kTilesPerUnit * kGemmNr);
    const int64_t row_units = (p_.m + kGemmMr - 1) / kGemmMr;
    io.pool->ParallelFor(row_units * col_units, 1, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t i0 = u / col_units * kGemmMr;
        const int64_t i1 = std::min(p_.m, i0 + kGemmMr);
        const int64_t j0 = u % col_units * kTilesPerUnit * kGemmNr;
        const int64_t j1 = std::min(p_.n, j0 + kTilesPerUnit * kGemmNr);
        TileBlock(i1 - i0, j1 - j0, p_.k, a + i0 * p_.k, p_.k, b + j0, p_.n, y + i0 * p_.n + j0,
                  p_.n);
        GemmEpilogue(p_, c, i0, i1, j0, j1, y);
      }
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }
  size_t ScratchBytes() const override { return p_.trans_a ? p_.m * p_.k * sizeof(float) : 0; }

 private:
  GemmParams p_;
  bool dot_ = false;
};

class MatMulOptimized : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_ASSIGN_OR_RETURN(p_, ParseMatMulParams(setup));
    outputs->push_back({DataType::kFloat32, p_.output_shape});
    const int64_t features = setup.whole_output_features > 0 ? setup.whole_output_features : p_.n;
    dot_ = features == 1;
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* a = io.inputs[0]->data<float>();
    const float* b = io.inputs[1]->data<float>();
    float* y = io.outputs[0]->data<float>();
    if (p_.m == 0 || p_.n == 0) return Status::Ok();
    if (p_.k == 0) {
      // An empty sum: zeros, then the activation.
      std::memset(y, 0, p_.batch() * p_.m * p_.n * sizeof(float));
      ApplyActivation(p_.activation, y, p_.batch() * p_.m * p_.n);
      return Status::Ok();
    }
    const int64_t row_units = (p_.m + kGemmMr - 1) / kGemmMr;
    const int64_t col_units = (p_.n + kTilesPerUnit * kGemmNr - 1) / (kTilesPerUnit * kGemmNr);
    const int64_t per_batch = row_units * col_units;
    io.pool->ParallelFor(p_.batch() * per_batch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t u = begin; u < end; ++u) {
        const int64_t batch = u / per_batch;
        const int64_t i0 = u % per_batch / col_units * kGemmMr;
        const int64_t i1 = std::min(p_.m, i0 + kGemmMr);
        const int64_t j0 = u % col_units * kTilesPerUnit * kGemmNr;
        const int64_t j1 = std::min(p_.n, j0 + kTilesPerUnit * kGemmNr);
        const float* ab = a + p_.a_offsets[batch];
        const float* bb = b + p_.b_offsets[batch];
        float* yb = y + batch * p_.m * p_.n;
        if (dot_) {
          GemmDot(i1 - i0, 1, p_.k, ab + i0 * p_.k, p_.k, bb, p_.k, yb + i0, 1, nullptr);
        } else {
          TileBlock(i1 - i0, j1 - j0, p_.k, ab + i0 * p_.k, p_.k, bb + j0, p_.n,
                    yb + i0 * p_.n + j0, p_.n);
        }
        for (int64_t i = i0; i < i1; ++i) {
          ApplyActivation(p_.activation, yb + i * p_.n + j0, j1 - j0);
        }
      }
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }

 private:
  MatMulParams p_;
  bool dot_ = false;  // a single output column: dot products along k
};

}  // namespace

void RegisterOptimizedMatMulOps(OpRegistry* registry) {
  RegisterKernel<GemmOptimized>(registry, "Gemm", KernelFlavor::kOptimized);
  RegisterKernel<MatMulOptimized>(registry, "MatMul", KernelFlavor::kOptimized);
}

}  // namespace serdab::engine
