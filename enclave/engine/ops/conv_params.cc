#include "enclave/engine/ops/conv_params.h"

#include <string>
#include <vector>

namespace serdab::engine {
namespace {

// Total padding that keeps out = ceil(in / stride) (auto_pad SAME_*).
int64_t SamePadding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation) {
  const int64_t out = (in + stride - 1) / stride;
  const int64_t needed = (out - 1) * stride + (kernel - 1) * dilation + 1 - in;
  return needed > 0 ? needed : 0;
}

// An INTS attribute with one value per spatial axis (strides, dilations),
// every value in [1, kMaxWindowGeometry], as [depth, height, width]: the axes
// a 1-D or 2-D convolution lacks get a 1.
Result<std::vector<int64_t>> PositiveTriple(const KernelSetup& setup, const char* name,
                                            int spatial_rank) {
  std::vector<int64_t> v = setup.n().attrs.GetInts(name, std::vector<int64_t>(spatial_rank, 1));
  if (static_cast<int>(v.size()) != spatial_rank) {
    return setup.Error(std::string(name) + " has " + std::to_string(v.size()) +
                       " values, expected " + std::to_string(spatial_rank) + " for a " +
                       std::to_string(spatial_rank) + "-D convolution");
  }
  v.insert(v.begin(), 3 - spatial_rank, 1);
  for (int64_t x : v) {
    if (x < 1 || x > kMaxWindowGeometry) {
      return setup.Error(std::string(name) + " must be in [1, 2^31], got " + std::to_string(x));
    }
  }
  return v;
}

}  // namespace

Result<ConvParams> ParseConvParams(const KernelSetup& setup) {
  const Attributes& attrs = setup.n().attrs;
  SERDAB_RETURN_IF_ERROR(attrs.CheckKinds(
      setup.n().name, {"group", kConvResidualAttr, kConvInputAffineAttr, kConvInputReluAttr},
      {"kernel_shape", "strides", "pads", "dilations"}, {}, {"auto_pad"}));
  const bool residual = attrs.GetInt(kConvResidualAttr, 0) != 0;
  const bool affine = attrs.GetInt(kConvInputAffineAttr, 0) != 0;
  if (residual && (setup.num_inputs() < 4 || !setup.has_input(3))) {
    return setup.Error("a fused residual needs a fourth input, got " +
                       std::to_string(setup.num_inputs()) + " inputs");
  }
  if (affine && !residual && setup.has_input(3)) {
    return setup.Error("a fourth input needs a fused residual");
  }
  if (affine && (setup.num_inputs() != 6 || !setup.has_input(4) || !setup.has_input(5))) {
    return setup.Error("a fused input BatchNormalization needs inputs 5 and 6, got " +
                       std::to_string(setup.num_inputs()) + " inputs");
  }
  if (!affine && attrs.GetInt(kConvInputReluAttr, 0) != 0) {
    return setup.Error("an input Relu needs a fused input BatchNormalization");
  }
  if (setup.num_inputs() < 2 ||
      setup.num_inputs() > (affine     ? 6
                            : residual ? 4
                                       : 3) ||
      !setup.has_input(0) || !setup.has_input(1)) {
    return setup.Error("expects inputs X, W and an optional B, got " +
                       std::to_string(setup.num_inputs()) + " inputs");
  }
  TensorInfo x = setup.info(0);
  TensorInfo w = setup.info(1);
  if (x.shape.size() < 3 || x.shape.size() > 5) {
    return setup.Error("input X must have rank 4 [N,C,H,W], 3 [N,C,L] or 5 [N,C,D,H,W], got " +
                       ShapeToString(x.shape));
  }
  if (x.dtype != DataType::kFloat32 || w.dtype != DataType::kFloat32) {
    return setup.Error(std::string("inputs must be float32, got X ") + DataTypeName(x.dtype) +
                       " and W " + DataTypeName(w.dtype));
  }
  if (w.shape.size() != x.shape.size()) {
    return setup.Error("weight W must have the rank of X, " + std::to_string(x.shape.size()) +
                       ", got " + ShapeToString(w.shape));
  }
  // From here on X and W are [N,C,D,H,W] and [M,C/group,kd,kh,kw].
  const int spatial_rank = static_cast<int>(x.shape.size()) - 2;
  x.shape.insert(x.shape.begin() + 2, 3 - spatial_rank, 1);
  w.shape.insert(w.shape.begin() + 2, 3 - spatial_rank, 1);
  for (int i = 1; i < 5; ++i) {
    if (x.shape[i] < 1)
      return setup.Error("input X has an empty dimension: " + ShapeToString(x.shape));
    if (w.shape[i] < 1)
      return setup.Error("weight W has an empty dimension: " + ShapeToString(w.shape));
  }

  ConvParams p;
  p.spatial_rank = spatial_rank;
  p.batch = x.shape[0];
  p.in_channels = x.shape[1];
  p.in_d = x.shape[2];
  p.in_h = x.shape[3];
  p.in_w = x.shape[4];
  p.out_channels = w.shape[0];
  p.kernel_d = w.shape[2];
  p.kernel_h = w.shape[3];
  p.kernel_w = w.shape[4];
  p.group = attrs.GetInt("group", 1);
  if (p.group < 1) return setup.Error("group must be >= 1, got " + std::to_string(p.group));
  if (p.in_channels % p.group != 0) {
    return setup.Error("input channels " + std::to_string(p.in_channels) +
                       " not divisible by group " + std::to_string(p.group));
  }
  if (p.out_channels % p.group != 0) {
    return setup.Error("output channels " + std::to_string(p.out_channels) +
                       " not divisible by group " + std::to_string(p.group));
  }
  if (w.shape[1] != p.in_channels / p.group) {
    return setup.Error("weight shape " + ShapeToString(w.shape) +
                       " does not match input channels " + std::to_string(p.in_channels) +
                       " / group " + std::to_string(p.group) + " = " +
                       std::to_string(p.in_channels / p.group));
  }
  if (attrs.has("kernel_shape")) {
    const std::vector<int64_t> ks = attrs.GetInts("kernel_shape");
    const Shape kernel(w.shape.end() - spatial_rank, w.shape.end());
    if (ks != kernel) {
      return setup.Error("kernel_shape " + ShapeToString(ks) + " does not match weight shape " +
                         ShapeToString(setup.info(1).shape));
    }
  }
  if (setup.has_input(2)) {
    const TensorInfo& b = setup.info(2);
    if (b.dtype != DataType::kFloat32 || b.shape != Shape{p.out_channels}) {
      return setup.Error("bias B must be float32 [" + std::to_string(p.out_channels) + "], got " +
                         DataTypeName(b.dtype) + " " + ShapeToString(b.shape));
    }
    p.has_bias = true;
  }

  SERDAB_ASSIGN_OR_RETURN(std::vector<int64_t> strides,
                          PositiveTriple(setup, "strides", spatial_rank));
  SERDAB_ASSIGN_OR_RETURN(std::vector<int64_t> dilations,
                          PositiveTriple(setup, "dilations", spatial_rank));
  p.stride_d = strides[0];
  p.stride_h = strides[1];
  p.stride_w = strides[2];
  p.dilation_d = dilations[0];
  p.dilation_h = dilations[1];
  p.dilation_w = dilations[2];

  const std::string auto_pad = attrs.GetString("auto_pad", "NOTSET");
  // Begin and end padding as [front, top, left] and [back, bottom, right].
  int64_t begin[3] = {0, 0, 0}, end[3] = {0, 0, 0};
  const int64_t in[3] = {p.in_d, p.in_h, p.in_w};
  const int64_t kernel[3] = {p.kernel_d, p.kernel_h, p.kernel_w};
  if (auto_pad == "NOTSET") {
    const std::vector<int64_t> pads =
        attrs.GetInts("pads", std::vector<int64_t>(2 * spatial_rank, 0));
    if (static_cast<int>(pads.size()) != 2 * spatial_rank) {
      return setup.Error("pads has " + std::to_string(pads.size()) + " values, expected " +
                         std::to_string(2 * spatial_rank) + " for a " +
                         std::to_string(spatial_rank) + "-D convolution");
    }
    for (int64_t v : pads) {
      if (v < 0 || v > kMaxWindowGeometry) {
        return setup.Error("pads must be in [0, 2^31], got " + ShapeToString(pads));
      }
    }
    for (int i = 0; i < spatial_rank; ++i) {
      begin[3 - spatial_rank + i] = pads[i];
      end[3 - spatial_rank + i] = pads[spatial_rank + i];
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    // SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the beginning.
    const bool upper = auto_pad == "SAME_UPPER";
    for (int a = 0; a < 3; ++a) {
      const int64_t total = SamePadding(in[a], kernel[a], strides[a], dilations[a]);
      begin[a] = upper ? total / 2 : total - total / 2;
      end[a] = total - begin[a];
    }
  } else if (auto_pad != "VALID") {
    return setup.Error("auto_pad '" + auto_pad +
                       "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  }
  p.pad_front = begin[0];
  p.pad_top = begin[1];
  p.pad_left = begin[2];
  p.pad_back = end[0];
  p.pad_bottom = end[1];
  p.pad_right = end[2];

  int64_t out[3];
  for (int a = 0; a < 3; ++a) {
    const int64_t span = (kernel[a] - 1) * dilations[a] + 1;
    const int64_t padded = in[a] + begin[a] + end[a];
    if (padded < span) {
      return setup.Error("kernel " + ShapeToString(setup.info(1).shape) +
                         " (with dilation) is larger than the padded input " +
                         ShapeToString(setup.info(0).shape));
    }
    out[a] = (padded - span) / strides[a] + 1;
  }
  p.out_d = out[0];
  p.out_h = out[1];
  p.out_w = out[2];
  // The optimised kernel builds tables sized by the output.
  SERDAB_RETURN_IF_ERROR(setup.CheckSize(DataType::kFloat32, p.output_shape(), "output"));
  if (residual) {
    const TensorInfo& r = setup.info(3);
    if (r.dtype != DataType::kFloat32 || r.shape != p.output_shape()) {
      return setup.Error("the fused residual must be float32 " + ShapeToString(p.output_shape()) +
                         ", got " + DataTypeName(r.dtype) + " " + ShapeToString(r.shape));
    }
    p.has_residual = true;
  }
  if (affine) {
    for (int i : {4, 5}) {
      const TensorInfo& t = setup.info(i);
      if (t.dtype != DataType::kFloat32 || t.shape != Shape{p.in_channels}) {
        return setup.Error("the fused input BatchNormalization's coefficients must be float32 [" +
                           std::to_string(p.in_channels) + "], got " + DataTypeName(t.dtype) + " " +
                           ShapeToString(t.shape));
      }
    }
    p.has_input_affine = true;
    p.input_relu = attrs.GetInt(kConvInputReluAttr, 0) != 0;
  }

  Result<Activation> act = Activation::FromAttributes(attrs);
  if (!act.ok()) return setup.Error(act.status().message());
  p.activation = *act;
  return p;
}

}  // namespace serdab::engine
