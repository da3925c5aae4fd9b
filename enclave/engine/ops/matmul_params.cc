#include "enclave/engine/ops/matmul_params.h"

#include <algorithm>
#include <string>

namespace serdab::engine {
namespace {

Result<Activation> FusedActivation(const KernelSetup& setup) {
  Result<Activation> act = Activation::FromAttributes(setup.n().attrs);
  if (!act.ok()) return setup.Error(act.status().message());
  return act;
}

Status CheckFloat(const KernelSetup& setup, int i, const char* name) {
  const DataType t = setup.info(i).dtype;
  if (t == DataType::kFloat32) return Status::Ok();
  if (t == DataType::kInt64) {
    return setup.Unsupported(std::string("integer ") + setup.n().op_type + " (input " + name +
                             " is int64); only float32 is supported");
  }
  return setup.Error(std::string("input ") + name + " has type " + DataTypeName(t));
}

}  // namespace

Result<GemmParams> ParseGemmParams(const KernelSetup& setup) {
  const Attributes& attrs = setup.n().attrs;
  SERDAB_RETURN_IF_ERROR(
      attrs.CheckKinds(setup.n().name, {"transA", "transB", "broadcast"}, {}, {"alpha", "beta"}));
  if (setup.num_inputs() < 2 || setup.num_inputs() > 3 || !setup.has_input(0) ||
      !setup.has_input(1)) {
    return setup.Error("expects inputs A, B and an optional C, got " +
                       std::to_string(setup.num_inputs()) + " inputs");
  }
  SERDAB_RETURN_IF_ERROR(CheckFloat(setup, 0, "A"));
  SERDAB_RETURN_IF_ERROR(CheckFloat(setup, 1, "B"));
  const Shape& a = setup.info(0).shape;
  const Shape& b = setup.info(1).shape;
  if (a.size() != 2 || b.size() != 2) {
    return setup.Error("A and B must be matrices, got " + ShapeToString(a) + " and " +
                       ShapeToString(b));
  }
  GemmParams p;
  p.trans_a = attrs.GetInt("transA", 0) != 0;
  p.trans_b = attrs.GetInt("transB", 0) != 0;
  p.alpha = attrs.GetFloat("alpha", 1.f);
  p.beta = attrs.GetFloat("beta", 1.f);
  p.m = p.trans_a ? a[1] : a[0];
  p.k = p.trans_a ? a[0] : a[1];
  const int64_t kb = p.trans_b ? b[1] : b[0];
  p.n = p.trans_b ? b[0] : b[1];
  if (kb != p.k) {
    return setup.Error("inner dimensions differ: op(A) is [" + std::to_string(p.m) + "," +
                       std::to_string(p.k) + "], op(B) is [" + std::to_string(kb) + "," +
                       std::to_string(p.n) + "] (transA=" + std::to_string(p.trans_a) +
                       ", transB=" + std::to_string(p.trans_b) + ")");
  }
  if (setup.has_input(2)) {
    SERDAB_RETURN_IF_ERROR(CheckFloat(setup, 2, "C"));
    const Shape& c = setup.info(2).shape;
    // Unidirectional broadcast: right-align C's shape with [M,N].
    if (c.size() > 2) {
      return setup.Error("C " + ShapeToString(c) + " does not broadcast to [" +
                         std::to_string(p.m) + "," + std::to_string(p.n) + "]");
    }
    const int64_t c_rows = c.size() == 2 ? c[0] : 1;
    const int64_t c_cols = c.empty() ? 1 : c.back();
    if ((c_rows != 1 && c_rows != p.m) || (c_cols != 1 && c_cols != p.n)) {
      return setup.Error("C " + ShapeToString(c) + " does not broadcast to [" +
                         std::to_string(p.m) + "," + std::to_string(p.n) + "]");
    }
    p.has_c = true;
    p.c_col_step = c_cols == 1 ? 0 : 1;
    p.c_row_step = c_rows == 1 ? 0 : c_cols;
  }
  SERDAB_ASSIGN_OR_RETURN(p.activation, FusedActivation(setup));
  return p;
}

Result<MatMulParams> ParseMatMulParams(const KernelSetup& setup) {
  if (setup.num_inputs() != 2 || !setup.has_input(0) || !setup.has_input(1)) {
    return setup.Error("expects inputs A and B, got " + std::to_string(setup.num_inputs()) +
                       " inputs");
  }
  SERDAB_RETURN_IF_ERROR(CheckFloat(setup, 0, "A"));
  SERDAB_RETURN_IF_ERROR(CheckFloat(setup, 1, "B"));
  Shape a = setup.info(0).shape;
  Shape b = setup.info(1).shape;
  if (a.empty() || b.empty()) {
    return setup.Error("operands must have rank >= 1, got " + ShapeToString(a) + " and " +
                       ShapeToString(b));
  }
  const bool a_vector = a.size() == 1;
  const bool b_vector = b.size() == 1;
  if (a_vector) a.insert(a.begin(), 1);
  if (b_vector) b.push_back(1);

  MatMulParams p;
  p.m = a[a.size() - 2];
  p.k = a[a.size() - 1];
  p.n = b[b.size() - 1];
  if (b[b.size() - 2] != p.k) {
    return setup.Error("inner dimensions differ: " + ShapeToString(setup.info(0).shape) + " x " +
                       ShapeToString(setup.info(1).shape));
  }

  // Broadcast the batch axes, right-aligned.
  const size_t a_batch_rank = a.size() - 2;
  const size_t b_batch_rank = b.size() - 2;
  const size_t batch_rank = std::max(a_batch_rank, b_batch_rank);
  Shape batch(batch_rank), a_batch(batch_rank, 1), b_batch(batch_rank, 1);
  for (size_t i = 0; i < a_batch_rank; ++i) a_batch[batch_rank - a_batch_rank + i] = a[i];
  for (size_t i = 0; i < b_batch_rank; ++i) b_batch[batch_rank - b_batch_rank + i] = b[i];
  for (size_t i = 0; i < batch_rank; ++i) {
    if (a_batch[i] != b_batch[i] && a_batch[i] != 1 && b_batch[i] != 1) {
      return setup.Error(
          "batch dimensions do not broadcast: " + ShapeToString(setup.info(0).shape) + " x " +
          ShapeToString(setup.info(1).shape));
    }
    batch[i] = a_batch[i] == 1 ? b_batch[i] : a_batch[i];
  }

  // Offsets of each output batch matrix's operands, walking the batch index
  // like an odometer; a broadcast axis does not advance its operand. Two
  // offsets per batch matrix: the batch must fit the limits first.
  SERDAB_RETURN_IF_ERROR(setup.CheckSize(DataType::kInt64, batch, "batch of matrices"));
  const int64_t count = NumElements(batch);
  const std::vector<int64_t> a_strides = Strides(a_batch);
  const std::vector<int64_t> b_strides = Strides(b_batch);
  p.a_offsets.resize(count);
  p.b_offsets.resize(count);
  std::vector<int64_t> index(batch_rank, 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t ao = 0, bo = 0;
    for (size_t d = 0; d < batch_rank; ++d) {
      if (a_batch[d] != 1) ao += index[d] * a_strides[d];
      if (b_batch[d] != 1) bo += index[d] * b_strides[d];
    }
    p.a_offsets[i] = ao * p.m * p.k;
    p.b_offsets[i] = bo * p.k * p.n;
    for (size_t d = batch_rank; d-- > 0;) {
      if (++index[d] < batch[d]) break;
      index[d] = 0;
    }
  }

  p.output_shape = batch;
  if (!a_vector) p.output_shape.push_back(p.m);
  if (!b_vector) p.output_shape.push_back(p.n);
  SERDAB_ASSIGN_OR_RETURN(p.activation, FusedActivation(setup));
  return p;
}

}  // namespace serdab::engine
