#include "enclave/engine/output_slice.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "enclave/engine/ops/conv_params.h"

namespace serdab::engine {
namespace {

// Elements before and after `axis` of `shape`, and the axis itself.
struct AxisBlocks {
  int64_t outer = 1;
  int64_t extent = 1;
  int64_t inner = 1;
};

AxisBlocks BlocksAround(const Shape& shape, int axis) {
  AxisBlocks b;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (d < axis) b.outer *= shape[d];
    if (d == axis) b.extent = shape[d];
    if (d > axis) b.inner *= shape[d];
  }
  return b;
}

}  // namespace

Result<OutputSplit> FindOutputSplit(const KernelSetup& setup, int weight_readers) {
  const Node& node = setup.n();
  const std::string& op = node.op_type;
  if (op != "Gemm" && op != "MatMul" && op != "Conv") {
    return Status::FailedPrecondition(op + " has no weight to split by output features");
  }
  const Tensor* weight = setup.constant(1);
  if (weight == nullptr || weight->dtype() != DataType::kFloat32) {
    return Status::FailedPrecondition("its weight is computed at run time");
  }
  if (weight_readers > 1) {
    return Status::FailedPrecondition("its weight is shared with another layer");
  }
  OutputSplit split;
  split.weight_bytes = weight->bytes();
  const Shape& w = weight->shape();
  if (op == "Gemm") {
    const bool trans_b = node.attrs.GetInt("transB", 0) != 0;
    split.weight_axis = trans_b ? 0 : 1;
    split.features = w[split.weight_axis];
    split.output_axis = 1;
    if (setup.has_input(2)) {
      const Shape& c = setup.info(2).shape;
      if (!c.empty() && c.back() == split.features) {
        if (setup.constant(2) == nullptr) {
          return Status::FailedPrecondition("its bias is computed at run time");
        }
        split.bias_input = 2;
        split.bias_axis = static_cast<int>(c.size()) - 1;
        split.bias_bytes = setup.constant(2)->bytes();
      }
    }
  } else if (op == "MatMul") {
    if (w.size() != 2) return Status::FailedPrecondition("its weight is not 2-D");
    split.weight_axis = 1;
    split.features = w[1];
    // The output's last axis holds the features; a batched A adds leading axes.
    split.output_axis = std::max<int>(0, static_cast<int>(setup.info(0).shape.size()) - 1);
  } else {
    if (node.attrs.GetInt("group", 1) != 1) {
      return Status::FailedPrecondition("it is a grouped Conv");
    }
    split.weight_axis = 0;
    split.features = w[0];
    split.output_axis = 1;
    if (setup.has_input(2)) {
      if (setup.constant(2) == nullptr) {
        return Status::FailedPrecondition("its bias is computed at run time");
      }
      split.bias_input = 2;
      split.bias_axis = 0;
      split.bias_bytes = setup.constant(2)->bytes();
    }
    if (node.attrs.GetInt(kConvResidualAttr, 0) != 0) {
      // A slice's features of a batch of one are one contiguous run.
      if (setup.info(0).shape[0] != 1) {
        return Status::FailedPrecondition("a residual is fused into it and its batch is above 1");
      }
      split.residual_input = 3;
    }
  }
  if (split.features < 2) return Status::FailedPrecondition("it has a single output feature");
  split.last = split.features;
  return split;
}

OutputSplit ShardOf(const OutputSplit& split, int index, int count) {
  const int64_t base = split.features / count;
  const int64_t extra = split.features % count;
  OutputSplit shard = split;
  shard.first = index * base + std::min<int64_t>(index, extra);
  shard.last = shard.first + base + (index < extra ? 1 : 0);
  return shard;
}

Result<Tensor> SliceAlongAxis(const Tensor& tensor, int axis, int64_t begin, int64_t end,
                              Allocator* allocator) {
  Shape shape = tensor.shape();
  shape[axis] = end - begin;
  SERDAB_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(tensor.dtype(), shape, allocator));
  const AxisBlocks b = BlocksAround(tensor.shape(), axis);
  const size_t element = ElementSize(tensor.dtype());
  const size_t run = static_cast<size_t>((end - begin) * b.inner) * element;
  const char* src = static_cast<const char*>(tensor.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t o = 0; o < b.outer; ++o) {
    std::memcpy(dst + o * run,
                src + static_cast<size_t>((o * b.extent + begin) * b.inner) * element, run);
  }
  return out;
}

void CopyIntoAxis(const Tensor& part, int axis, int64_t offset, Tensor* whole) {
  const AxisBlocks p = BlocksAround(part.shape(), axis);
  const AxisBlocks w = BlocksAround(whole->shape(), axis);
  const size_t element = ElementSize(part.dtype());
  const size_t run = static_cast<size_t>(p.extent * p.inner) * element;
  const char* src = static_cast<const char*>(part.raw());
  char* dst = static_cast<char*>(whole->raw());
  for (int64_t o = 0; o < p.outer; ++o) {
    std::memcpy(dst + static_cast<size_t>((o * w.extent + offset) * w.inner) * element,
                src + o * run, run);
  }
}

Result<Tensor> ConcatShards(const std::vector<Tensor>& parts, int axis, Allocator* allocator) {
  if (parts.empty()) return Status::InvalidArgument("no shard outputs to put together");
  Shape shape = parts[0].shape();
  if (axis < 0 || axis >= static_cast<int>(shape.size())) {
    return Status::InvalidArgument("shard axis " + std::to_string(axis) + " is not an axis of " +
                                   ShapeToString(shape));
  }
  shape[axis] = 0;
  for (const Tensor& part : parts) {
    const Shape& other = part.shape();
    bool fits = part.dtype() == parts[0].dtype() && other.size() == shape.size();
    for (size_t d = 0; fits && d < shape.size(); ++d) {
      fits = static_cast<int>(d) == axis || other[d] == shape[d];
    }
    if (!fits) {
      return Status::InvalidArgument("shard outputs " + ShapeToString(parts[0].shape()) + " and " +
                                     ShapeToString(other) + " do not go together");
    }
    shape[axis] += other[axis];
  }
  SERDAB_ASSIGN_OR_RETURN(Tensor whole, Tensor::Create(parts[0].dtype(), shape, allocator));
  int64_t offset = 0;
  for (const Tensor& part : parts) {
    CopyIntoAxis(part, axis, offset, &whole);
    offset += part.shape()[axis];
  }
  return whole;
}

}  // namespace serdab::engine
