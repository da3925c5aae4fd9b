#include "enclave/engine/graph_passes.h"

#include <algorithm>
#include <cmath>

#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/batch_norm_params.h"
#include "enclave/engine/ops/conv_params.h"
#include "enclave/engine/ops/pixel_table.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

KernelSetup MakeSetup(const Graph& graph, const Node& node) {
  KernelSetup setup;
  setup.node = &node;
  setup.opset = graph.opset();
  setup.limits = graph.limits();
  for (int in : node.inputs) setup.inputs.push_back(in == kNoValue ? nullptr : &graph.value(in));
  return setup;
}

Status UnsupportedOp(const Graph& graph, const Node& node) {
  return Status::Unimplemented("unsupported op '" + node.op_type + "' at node '" + node.name +
                               "' (opset " + std::to_string(graph.opset()) + ")");
}

// The sources of the constants among `values`, each once.
std::vector<std::string> SourcesOf(const Graph& graph, const std::vector<int>& values) {
  std::vector<std::string> sources;
  for (int v : values) {
    if (v == kNoValue || !graph.value(v).is_constant()) continue;
    for (const std::string& s : graph.value(v).sources) {
      if (std::find(sources.begin(), sources.end(), s) == sources.end()) sources.push_back(s);
    }
  }
  return sources;
}

// Runs `node`'s reference kernel on its constant inputs and stores the results
// as constants. Shape nodes only read their input's shape, which is known.
// `constant_bytes` counts the graph's constants against
// limits().max_total_bytes: folding allocates from shapes the model chose
// (ConstantOfShape, Expand, Pad, Resize...), so it is held to the import's bound.
Status Fold(Graph* graph, const Node& node, const Kernel& kernel, Allocator* allocator,
            ThreadPool* pool, uint64_t* constant_bytes) {
  const TensorLimits& limits = graph->limits();
  uint64_t bytes = 0;
  for (int out : node.outputs) bytes += graph->value(out).info.bytes();
  if (*constant_bytes + bytes > limits.max_total_bytes) {
    return Status::InvalidArgument("node '" + node.name + "' (" + node.op_type + ") folds to " +
                                   std::to_string(bytes) +
                                   " bytes of constants, which takes the model's constants over "
                                   "the limit of " +
                                   std::to_string(limits.max_total_bytes) + " bytes in total");
  }
  if (kernel.ScratchBytes() > limits.max_tensor_bytes) {
    return Status::InvalidArgument(
        "node '" + node.name + "' (" + node.op_type + ") needs " +
        std::to_string(kernel.ScratchBytes()) + " bytes of scratch to fold, over the limit of " +
        std::to_string(limits.max_tensor_bytes) + " bytes for one tensor");
  }
  *constant_bytes += bytes;
  std::vector<Tensor> shape_only;  // placeholders carrying only a shape
  shape_only.reserve(node.inputs.size());
  KernelIO io;
  io.pool = pool;
  for (int in : node.inputs) {
    if (in == kNoValue) {
      io.inputs.push_back(nullptr);
      continue;
    }
    const Value& v = graph->value(in);
    if (v.is_constant()) {
      io.inputs.push_back(&v.constant);
    } else {
      shape_only.push_back(Tensor::Wrap(v.info.dtype, v.info.shape, nullptr));
      io.inputs.push_back(&shape_only.back());
    }
  }
  std::vector<Tensor> outputs;
  outputs.reserve(node.outputs.size());
  for (int out : node.outputs) {
    const TensorInfo& info = graph->value(out).info;
    SERDAB_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(info.dtype, info.shape, allocator));
    outputs.push_back(std::move(t));
  }
  for (Tensor& t : outputs) io.outputs.push_back(&t);
  Tensor scratch;
  if (kernel.ScratchBytes() > 0) {
    SERDAB_ASSIGN_OR_RETURN(
        scratch,
        Tensor::Create(DataType::kFloat32, {static_cast<int64_t>(kernel.ScratchBytes() + 3) / 4}));
    io.scratch = scratch.raw();
  }
  SERDAB_RETURN_IF_ERROR(kernel.Run(io).WithContext("while folding constants"));
  // A Constant node's value is a tensor of the file, named by its output.
  std::vector<std::string> sources;
  if (node.op_type == "Constant") {
    sources.push_back(graph->value(node.outputs[0]).name);
  } else {
    sources = SourcesOf(*graph, node.inputs);
  }
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    graph->value(node.outputs[i]).constant = std::move(outputs[i]);
    graph->value(node.outputs[i]).sources = sources;
  }
  return Status::Ok();
}

// The single node reading `value`, or -1 if it has other readers or is a graph output.
int SoleConsumer(const Graph& graph, const std::vector<int>& uses, int value) {
  if (uses[value] != 1) return -1;
  for (int out : graph.outputs()) {
    if (out == value) return -1;
  }
  const auto& nodes = graph.nodes();
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (int in : nodes[n].inputs) {
      if (in == value) return static_cast<int>(n);
    }
  }
  return -1;
}

void AppendFused(Node* node, const std::string& what) {
  const std::string prev = node->attrs.GetString(kFusedAttr, "");
  node->attrs.set(kFusedAttr, prev.empty() ? what : prev + "+" + what);
}

// A new constant value computed from the file's tensors `sources`.
int AddConstant(Graph* graph, const std::string& name, Tensor value,
                const std::vector<std::string>& sources) {
  const int id = graph->AddValue(name);
  graph->value(id).info = value.info();
  graph->value(id).constant = std::move(value);
  graph->value(id).sources = sources;
  return id;
}

const Tensor* ConstantInput(const Graph& graph, const Node& node, size_t i) {
  if (i >= node.inputs.size() || node.inputs[i] == kNoValue) return nullptr;
  const Value& v = graph.value(node.inputs[i]);
  return v.is_constant() ? &v.constant : nullptr;
}

// The activation a standalone node computes, if it can become an epilogue.
bool AsActivation(const Graph& graph, const Node& node, Activation* act) {
  const KernelSetup setup = MakeSetup(graph, node);
  Result<Activation> parsed = ActivationFromNode(setup);
  if (!parsed.ok()) return false;
  *act = *parsed;
  return true;
}

// Drops the nodes marked in `erase` (their outputs were rewired to the fused
// node), then whatever became dead.
void EraseNodes(Graph* graph, const std::vector<bool>& erase) {
  std::vector<Node> kept;
  for (size_t n = 0; n < graph->nodes().size(); ++n) {
    if (!erase[n]) kept.push_back(std::move(graph->nodes()[n]));
  }
  graph->nodes() = std::move(kept);
  graph->RemoveDeadCode();
}

// Conv and Gemm apply an activation to each block of their output while it is
// in cache; a float Add (a residual connection) and a BatchNormalization left
// unfolded (DenseNet's, after a Concat) apply it to each range they write,
// instead of a second pass over a tensor that has left the cache.
bool AcceptsEpilogue(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.attrs.has(Activation::kAttrKind)) return false;
  if (node.op_type == "Add" || node.op_type == "BatchNormalization") {
    return graph.value(node.outputs[0]).info.dtype == DataType::kFloat32;
  }
  return node.op_type == "Conv" || node.op_type == "Gemm";
}

}  // namespace

Status InferShapes(Graph* graph, Allocator* allocator) {
  const OpRegistry& registry = OpRegistry::Builtin();
  ThreadPool pool(1);
  uint64_t constant_bytes = 0;
  for (const Value& v : graph->values()) {
    if (v.is_constant()) constant_bytes += v.constant.bytes();
  }
  for (Node& node : graph->nodes()) {
    std::unique_ptr<Kernel> kernel = registry.Create(node.op_type, KernelFlavor::kReference);
    if (!kernel) return UnsupportedOp(*graph, node);
    std::vector<TensorInfo> infos;
    SERDAB_RETURN_IF_ERROR(kernel->Setup(MakeSetup(*graph, node), &infos));
    if (infos.size() != node.outputs.size()) {
      return Status::Unimplemented("node '" + node.name + "' (" + node.op_type + ") has " +
                                   std::to_string(node.outputs.size()) +
                                   " outputs; the engine supports " + std::to_string(infos.size()));
    }
    bool foldable = node.op_type == "Shape";
    if (!foldable) {
      foldable = true;
      for (int in : node.inputs) {
        foldable = foldable && (in == kNoValue || graph->value(in).is_constant());
      }
    }
    for (size_t i = 0; i < infos.size(); ++i) {
      // Every later Setup, and the executor's arena, sizes from these shapes.
      Value& out = graph->value(node.outputs[i]);
      SERDAB_RETURN_IF_ERROR(CheckedTensorBytes(infos[i].dtype, infos[i].shape, graph->limits(),
                                                "node '" + node.name + "' (" + node.op_type +
                                                    ") output '" + out.name + "'")
                                 .status());
      out.info = infos[i];
    }
    if (foldable) {
      SERDAB_RETURN_IF_ERROR(Fold(graph, node, *kernel, allocator, &pool, &constant_bytes));
    }
  }
  // Folded nodes are now dead: their outputs are constants nobody computes.
  std::vector<Node> live;
  for (Node& node : graph->nodes()) {
    bool folded = !node.outputs.empty();
    for (int out : node.outputs) folded = folded && graph->value(out).is_constant();
    if (!folded) live.push_back(std::move(node));
  }
  graph->nodes() = std::move(live);
  for (int out : graph->outputs()) {
    if (graph->value(out).is_constant()) {
      return Status::Unimplemented("model output '" + graph->value(out).name +
                                   "' is a constant; such models are not supported");
    }
  }
  graph->RemoveDeadCode();
  return Status::Ok();
}

Status FuseBatchNorm(Graph* graph, Allocator* allocator) {
  std::vector<int> uses = graph->UseCounts();
  std::vector<int> producers = graph->Producers();
  std::vector<bool> erase(graph->nodes().size(), false);
  auto& nodes = graph->nodes();
  for (size_t b = 0; b < nodes.size(); ++b) {
    Node& bn = nodes[b];
    if (bn.op_type != "BatchNormalization" || bn.outputs.size() != 1 || bn.inputs.size() != 5) {
      continue;
    }
    const int conv_index = producers[bn.inputs[0]];
    if (conv_index < 0 || uses[bn.inputs[0]] != 1) continue;
    Node& conv = nodes[conv_index];
    if (conv.op_type != "Conv" || conv.attrs.has(Activation::kAttrKind)) continue;
    const Tensor* w = ConstantInput(*graph, conv, 1);
    const Tensor* bias = ConstantInput(*graph, conv, 2);
    const bool has_bias_input = conv.inputs.size() > 2 && conv.inputs[2] != kNoValue;
    if (w == nullptr || (has_bias_input && bias == nullptr) || w->rank() < 2) continue;
    const Tensor* params[4];
    bool constant = true;
    for (int i = 0; i < 4; ++i) {
      params[i] = ConstantInput(*graph, bn, i + 1);
      constant = constant && params[i] != nullptr && params[i]->dtype() == DataType::kFloat32;
    }
    const int64_t cout = w->dim(0);
    if (!constant) continue;
    bool sizes_ok = true;
    for (const Tensor* p : params) sizes_ok = sizes_ok && p->num_elements() == cout;
    if (!sizes_ok) continue;

    const float eps = bn.attrs.GetFloat("epsilon", 1e-5f);
    const float* gamma = params[0]->data<float>();
    const float* beta = params[1]->data<float>();
    const float* mean = params[2]->data<float>();
    const float* var = params[3]->data<float>();
    SERDAB_ASSIGN_OR_RETURN(Tensor new_w,
                            Tensor::Create(DataType::kFloat32, w->shape(), allocator));
    SERDAB_ASSIGN_OR_RETURN(Tensor new_b, Tensor::Create(DataType::kFloat32, {cout}, allocator));
    const int64_t per_out = w->num_elements() / cout;
    for (int64_t o = 0; o < cout; ++o) {
      const float scale = gamma[o] / std::sqrt(var[o] + eps);
      const float* src = w->data<float>() + o * per_out;
      float* dst = new_w.data<float>() + o * per_out;
      for (int64_t i = 0; i < per_out; ++i) dst[i] = src[i] * scale;
      const float b0 = bias ? bias->data<float>()[o] : 0.f;
      new_b.data<float>()[o] = (b0 - mean[o]) * scale + beta[o];
    }
    std::vector<int> folded(bn.inputs.begin() + 1, bn.inputs.end());
    folded.push_back(conv.inputs[1]);
    if (has_bias_input) folded.push_back(conv.inputs[2]);
    const std::vector<std::string> sources = SourcesOf(*graph, folded);
    const int w_id = AddConstant(graph, conv.name + ":bn_weight", std::move(new_w), sources);
    const int b_id = AddConstant(graph, conv.name + ":bn_bias", std::move(new_b), sources);
    conv.inputs.resize(3);
    conv.inputs[1] = w_id;
    conv.inputs[2] = b_id;
    conv.outputs[0] = bn.outputs[0];
    AppendFused(&conv, "BatchNormalization");
    erase[b] = true;
  }
  EraseNodes(graph, erase);
  return Status::Ok();
}

Status FuseActivations(Graph* graph) {
  auto& nodes = graph->nodes();
  std::vector<int> uses = graph->UseCounts();
  std::vector<bool> erase(nodes.size(), false);
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (erase[n] || !AcceptsEpilogue(*graph, nodes[n])) continue;
    const int out = nodes[n].outputs[0];
    bool is_graph_output = false;
    for (int g : graph->outputs()) is_graph_output = is_graph_output || g == out;
    if (is_graph_output) continue;

    // Collect the readers of the node's output.
    std::vector<int> readers;
    for (size_t r = n + 1; r < nodes.size(); ++r) {
      for (int in : nodes[r].inputs) {
        if (in == out) {
          readers.push_back(static_cast<int>(r));
          break;
        }
      }
    }
    Activation act;
    if (readers.size() == 1 && uses[out] == 1 && !erase[readers[0]] &&
        nodes[readers[0]].inputs[0] == out && AsActivation(*graph, nodes[readers[0]], &act)) {
      Node& a = nodes[readers[0]];
      act.ToAttributes(&nodes[n].attrs);
      AppendFused(&nodes[n], a.op_type);
      nodes[n].outputs[0] = a.outputs[0];
      erase[readers[0]] = true;
      continue;
    }
    // x * gate(x): one gate reading x, one Mul reading x and the gate. A
    // Sigmoid gate is SiLU; a HardSigmoid of alpha 1/6 and beta 1/2 is
    // HardSwish, which exports before opset 14 spell this way.
    if (readers.size() == 2 && uses[out] == 2) {
      int gate = readers[0], mul = readers[1];
      if (nodes[gate].op_type == "Mul") std::swap(gate, mul);
      const Node& s = nodes[gate];
      const Node& m = nodes[mul];
      if (m.op_type != "Mul" || erase[gate] || erase[mul]) continue;
      Activation gate_act;
      if (!AsActivation(*graph, s, &gate_act) || s.inputs[0] != out) continue;
      if (gate_act.kind == Activation::Kind::kSigmoid) {
        act.kind = Activation::Kind::kSilu;
      } else if (gate_act.kind == Activation::Kind::kHardSigmoid && gate_act.alpha == 1.f / 6.f &&
                 gate_act.beta == 0.5f) {
        act.kind = Activation::Kind::kHardSwish;
      } else {
        continue;
      }
      const int s_out = s.outputs[0];
      if (SoleConsumer(*graph, uses, s_out) != mul || m.inputs.size() != 2) continue;
      const bool operands = (m.inputs[0] == out && m.inputs[1] == s_out) ||
                            (m.inputs[0] == s_out && m.inputs[1] == out);
      if (!operands) continue;
      act.ToAttributes(&nodes[n].attrs);
      AppendFused(&nodes[n], s.op_type + "+Mul");
      nodes[n].outputs[0] = m.outputs[0];
      erase[gate] = true;
      erase[mul] = true;
    }
  }
  EraseNodes(graph, erase);
  return Status::Ok();
}

Status FuseResidualAdds(Graph* graph) {
  auto& nodes = graph->nodes();
  const std::vector<int> uses = graph->UseCounts();
  const std::vector<int> producers = graph->Producers();
  std::vector<bool> erase(nodes.size(), false);
  for (size_t a = 0; a < nodes.size(); ++a) {
    const Node& add = nodes[a];
    if (add.op_type != "Add" || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    const TensorInfo& sum = graph->value(add.outputs[0]).info;
    if (sum.dtype != DataType::kFloat32) continue;
    // Of the operands that a Conv computes for this Add alone, the later
    // one's Conv takes the Add: the other operand exists by the time it runs
    // (a ResNet downsample comes after the block's last Conv).
    int conv = -1, residual = kNoValue;
    for (int side = 0; side < 2; ++side) {
      const int operand = add.inputs[side], other = add.inputs[1 - side];
      const int c = producers[operand];
      if (c < 0 || c <= conv || operand == other || producers[other] >= c) continue;
      const Node& candidate = nodes[c];
      if (candidate.op_type != "Conv" || candidate.outputs.size() != 1 ||
          candidate.inputs.size() > 3 || candidate.attrs.has(Activation::kAttrKind) ||
          SoleConsumer(*graph, uses, operand) != static_cast<int>(a) ||
          graph->value(operand).info.shape != sum.shape ||
          graph->value(other).info.dtype != DataType::kFloat32 ||
          graph->value(other).info.shape != sum.shape) {
        continue;
      }
      conv = c;
      residual = other;
    }
    if (conv < 0) continue;
    Node& c = nodes[conv];
    c.inputs.resize(4, kNoValue);
    c.inputs[3] = residual;
    c.attrs.set(kConvResidualAttr, int64_t{1});
    Result<Activation> act = Activation::FromAttributes(add.attrs);
    SERDAB_RETURN_IF_ERROR(act.status());
    if (!act->is_none()) act->ToAttributes(&c.attrs);
    const std::string add_fused = add.attrs.GetString(kFusedAttr, "");
    AppendFused(&c, add_fused.empty() ? "Add" : "Add+" + add_fused);
    c.outputs[0] = add.outputs[0];
    erase[a] = true;
  }
  EraseNodes(graph, erase);
  return Status::Ok();
}

namespace {

// Whether `conv` is a 1x1 Conv of stride 1, no pads and one group, over a
// 4-D input, without an input BatchNormalization already.
bool IsPlain1x1Conv(const Graph& graph, const Node& conv) {
  if (conv.op_type != "Conv" || conv.outputs.size() != 1 || conv.inputs.size() < 2 ||
      conv.inputs.size() > 4 || conv.attrs.has(kConvInputAffineAttr) ||
      conv.attrs.GetInt("group", 1) != 1) {
    return false;
  }
  const TensorInfo& x = graph.value(conv.inputs[0]).info;
  const TensorInfo& w = graph.value(conv.inputs[1]).info;
  if (x.dtype != DataType::kFloat32 || x.shape.size() != 4 || w.shape.size() != 4 ||
      w.shape[2] != 1 || w.shape[3] != 1 || x.shape[1] < 2) {
    return false;
  }
  for (int64_t s : conv.attrs.GetInts("strides")) {
    if (s != 1) return false;
  }
  for (int64_t p : conv.attrs.GetInts("pads")) {
    if (p != 0) return false;
  }
  return true;
}

}  // namespace

Status FuseInputBatchNorm(Graph* graph, Allocator* allocator) {
  auto& nodes = graph->nodes();
  const std::vector<int> uses = graph->UseCounts();
  std::vector<bool> erase(nodes.size(), false);
  for (size_t b = 0; b < nodes.size(); ++b) {
    const Node& bn = nodes[b];
    if (bn.op_type != "BatchNormalization" || bn.outputs.size() != 1 || bn.inputs.size() != 5 ||
        bn.attrs.GetInt("training_mode", 0) != 0 ||
        (graph->opset() < 9 && bn.attrs.GetInt("spatial", 1) != 1)) {
      continue;
    }
    Result<Activation> act = Activation::FromAttributes(bn.attrs);
    if (!act.ok() || (!act->is_none() && act->kind != Activation::Kind::kRelu)) continue;
    const int c = SoleConsumer(*graph, uses, bn.outputs[0]);
    if (c < 0 || !IsPlain1x1Conv(*graph, nodes[c]) || nodes[c].inputs[0] != bn.outputs[0]) continue;
    const TensorInfo& x = graph->value(bn.inputs[0]).info;
    if (x.dtype != DataType::kFloat32 || x.shape.size() != 4) continue;
    const int64_t channels = x.shape[1];
    const float* params[4];
    bool constant = true;
    for (int i = 0; i < 4; ++i) {
      const Tensor* t = ConstantInput(*graph, bn, i + 1);
      constant = constant && t != nullptr && t->dtype() == DataType::kFloat32 &&
                 t->num_elements() == channels;
      params[i] = constant ? t->data<float>() : nullptr;
    }
    if (!constant) continue;
    const float eps = bn.attrs.GetFloat("epsilon", 1e-5f);
    SERDAB_ASSIGN_OR_RETURN(Tensor a, Tensor::Create(DataType::kFloat32, {channels}, allocator));
    SERDAB_ASSIGN_OR_RETURN(Tensor shift,
                            Tensor::Create(DataType::kFloat32, {channels}, allocator));
    for (int64_t i = 0; i < channels; ++i) {
      const BatchNormCoefficients k =
          ComputeBatchNormCoefficients(params[0][i], params[1][i], params[2][i], params[3][i], eps);
      a.data<float>()[i] = k.a;
      shift.data<float>()[i] = k.b;
    }
    Node& conv = nodes[c];
    const std::vector<std::string> sources =
        SourcesOf(*graph, std::vector<int>(bn.inputs.begin() + 1, bn.inputs.end()));
    const int a_id = AddConstant(graph, conv.name + ":input_bn_scale", std::move(a), sources);
    const int b_id = AddConstant(graph, conv.name + ":input_bn_shift", std::move(shift), sources);
    conv.inputs[0] = bn.inputs[0];
    conv.inputs.resize(6, kNoValue);
    conv.inputs[4] = a_id;
    conv.inputs[5] = b_id;
    conv.attrs.set(kConvInputAffineAttr, int64_t{1});
    if (!act->is_none()) conv.attrs.set(kConvInputReluAttr, int64_t{1});
    const std::string fused = conv.attrs.GetString(kFusedAttr, "");
    const std::string before = act->is_none() ? "BatchNormalization" : "BatchNormalization+Relu";
    conv.attrs.set(kFusedAttr, fused.empty() ? before + " before" : before + " before, " + fused);
    erase[b] = true;
  }
  EraseNodes(graph, erase);
  return Status::Ok();
}

namespace {

// The pads of a Pad node that adds only zeros, and only around a 4-D
// tensor's last two axes: {top, left, bottom, right}. Empty otherwise.
std::vector<int64_t> ZeroSpatialPads(const Graph& graph, const Node& pad) {
  if (pad.op_type != "Pad" || pad.outputs.size() != 1 || pad.inputs.empty() ||
      pad.attrs.GetString("mode", "constant") != "constant") {
    return {};
  }
  std::vector<int64_t> pads;
  if (graph.opset() < 11) {
    if (pad.attrs.GetFloat("value", 0.f) != 0.f) return {};
    pads = pad.attrs.GetInts("pads");
  } else {
    const Tensor* given = ConstantInput(graph, pad, 1);
    if (given == nullptr || given->dtype() != DataType::kInt64) return {};
    pads.assign(given->data<int64_t>(), given->data<int64_t>() + given->num_elements());
    if (pad.inputs.size() > 2 && pad.inputs[2] != kNoValue) {
      const Tensor* value = ConstantInput(graph, pad, 2);
      if (value == nullptr || value->dtype() != DataType::kFloat32 || value->num_elements() != 1 ||
          value->data<float>()[0] != 0.f) {
        return {};
      }
    }
  }
  const TensorInfo& in = graph.value(pad.inputs[0]).info;
  if (in.dtype != DataType::kFloat32 || in.shape.size() != 4 || pads.size() != 8) return {};
  for (int64_t p : pads) {
    if (p < 0) return {};
  }
  if (pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0) return {};
  return {pads[2], pads[3], pads[6], pads[7]};
}

// The pads of a 2-D AveragePool that rounds its output size down and either
// pads nothing or counts its pads in its divisor, so that zeros padded before
// it are the same as pads of its own: {top, left, bottom, right}. Empty for
// any other node.
std::vector<int64_t> CountedPoolPads(const Node& pool) {
  if (pool.op_type != "AveragePool" || pool.attrs.GetInts("kernel_shape").size() != 2 ||
      pool.attrs.GetString("auto_pad", "NOTSET") != "NOTSET" ||
      pool.attrs.GetInt("ceil_mode", 0) != 0) {
    return {};
  }
  std::vector<int64_t> pads = pool.attrs.GetInts("pads", {0, 0, 0, 0});
  if (pads.size() != 4) return {};
  const bool counted = pool.attrs.GetInt("count_include_pad", 0) == 1;
  for (int64_t p : pads) {
    if (p < 0 || (p != 0 && !counted)) return {};
  }
  return pads;
}

}  // namespace

Status FusePadPool(Graph* graph) {
  // Once a Pad is fused, the Pad before it (a Pad of a Pad, as PyTorch
  // exports F.pad before avg_pool2d) may be next.
  for (bool fused = true; fused;) {
    fused = false;
    auto& nodes = graph->nodes();
    const std::vector<int> uses = graph->UseCounts();
    std::vector<bool> erase(nodes.size(), false);
    for (size_t n = 0; n < nodes.size(); ++n) {
      const std::vector<int64_t> pads = ZeroSpatialPads(*graph, nodes[n]);
      if (pads.empty()) continue;
      const int pool = SoleConsumer(*graph, uses, nodes[n].outputs[0]);
      if (pool < 0 || nodes[pool].inputs[0] != nodes[n].outputs[0]) continue;
      std::vector<int64_t> pool_pads = CountedPoolPads(nodes[pool]);
      if (pool_pads.empty()) continue;
      // A pad as wide as the window would leave a window with no input in it,
      // which the pool refuses (a Pad before it does not).
      const std::vector<int64_t> kernel = nodes[pool].attrs.GetInts("kernel_shape");
      bool fits = true;
      for (size_t i = 0; i < pool_pads.size(); ++i) {
        pool_pads[i] += pads[i];
        fits = fits && pool_pads[i] < kernel[i % 2];
      }
      if (!fits) continue;
      Node& p = nodes[pool];
      p.inputs[0] = nodes[n].inputs[0];
      p.attrs.set("pads", pool_pads);
      p.attrs.set("count_include_pad", int64_t{1});
      AppendFused(&p, "Pad");
      erase[n] = true;
      fused = true;
    }
    if (fused) EraseNodes(graph, erase);
  }
  return Status::Ok();
}

Status RemoveIdentities(Graph* graph) {
  auto& nodes = graph->nodes();
  std::vector<int> uses = graph->UseCounts();
  std::vector<Node> kept;
  for (Node& node : nodes) {
    const bool passthrough = (node.op_type == "Identity" || node.op_type == "Dropout") &&
                             !node.inputs.empty() && node.inputs[0] != kNoValue &&
                             (node.outputs.size() == 1 || uses[node.outputs[1]] == 0);
    bool feeds_output = false;
    for (int g : graph->outputs()) feeds_output = feeds_output || g == node.outputs[0];
    // An Identity that names a graph output keeps that name alive; leave it.
    if (passthrough && !feeds_output) {
      graph->ReplaceUses(node.outputs[0], node.inputs[0]);
      continue;
    }
    kept.push_back(std::move(node));
  }
  nodes = std::move(kept);
  graph->RemoveDeadCode();
  return Status::Ok();
}

namespace {

// Tables of more entries than this are not built: pixels have a few channels.
constexpr int64_t kMaxPixelTableEntries = 64;

// The op of a step FusePixelInput can fold, or 0.
char PixelStepOp(const std::string& op_type) {
  if (op_type == "Add") return '+';
  if (op_type == "Sub") return '-';
  if (op_type == "Mul") return '*';
  if (op_type == "Div") return '/';
  return 0;
}

// The axis of `shape` along which the constant `k` varies when broadcast
// against it: -1 when k has one element, -2 when k is not a per-axis
// constant of that shape (it varies along two axes, or would grow it).
int ConstantAxis(const Tensor& k, const Shape& shape) {
  const int rank = static_cast<int>(shape.size());
  const int k_rank = static_cast<int>(k.shape().size());
  if (k_rank > rank) return -2;
  int axis = -1;
  for (int j = 0; j < k_rank; ++j) {
    const int64_t d = k.shape()[j];
    if (d == 1) continue;
    const int a = rank - k_rank + j;
    if (axis != -1 || d != shape[a]) return -2;
    axis = a;
  }
  return axis;
}

}  // namespace

Status FusePixelInput(Graph* graph, Allocator* allocator) {
  constexpr int64_t kChannelsFirst[] = {0, 3, 1, 2};
  const std::vector<int> uses = graph->UseCounts();
  auto& nodes = graph->nodes();
  std::vector<bool> erase(nodes.size(), false);
  bool fused_any = false;
  for (const int input : graph->inputs()) {
    const Shape in_shape = graph->value(input).info.shape;
    if (graph->value(input).info.dtype != DataType::kUint8) continue;
    bool cast = false, channels_first = false;
    int axis = -1;  // the input axis the table runs along
    std::vector<PixelStep> steps;
    std::vector<int> chain, constants;
    int value = input;
    for (;;) {
      const int n = SoleConsumer(*graph, uses, value);
      if (n < 0 || nodes[n].outputs.size() != 1 || nodes[n].attrs.has(kFusedAttr)) break;
      const Node& node = nodes[n];
      const char op = PixelStepOp(node.op_type);
      if (node.op_type == "Transpose" && !channels_first && in_shape.size() == 4 &&
          node.attrs.GetInts("perm") ==
              std::vector<int64_t>(std::begin(kChannelsFirst), std::end(kChannelsFirst)) &&
          (axis == -1 || axis == 3)) {
        channels_first = true;
      } else if (node.op_type == "Cast" && !cast && node.attrs.all().size() == 1 &&
                 node.attrs.GetInt("to", 0) == static_cast<int64_t>(DataType::kFloat32)) {
        cast = true;
      } else if (op != 0 && cast && node.inputs.size() == 2 && node.inputs[0] != node.inputs[1] &&
                 node.attrs.all().empty()) {
        const bool constant_first = node.inputs[1] == value;
        const Tensor* k = ConstantInput(*graph, node, constant_first ? 0 : 1);
        if (k == nullptr || k->dtype() != DataType::kFloat32) break;
        const int k_axis = ConstantAxis(*k, graph->value(value).info.shape);
        if (k_axis == -2) break;
        if (k_axis >= 0) {
          const int in_axis = channels_first ? static_cast<int>(kChannelsFirst[k_axis]) : k_axis;
          if ((axis != -1 && axis != in_axis) || (channels_first && in_axis != 3) ||
              in_shape[in_axis] > kMaxPixelTableEntries) {
            break;
          }
          axis = in_axis;
        }
        steps.push_back(
            {op, constant_first,
             std::vector<float>(k->data<float>(), k->data<float>() + k->num_elements())});
        constants.push_back(node.inputs[constant_first ? 0 : 1]);
      } else {
        break;
      }
      chain.push_back(n);
      value = node.outputs[0];
    }
    if (!cast) continue;  // a Transpose of bytes alone is left as it is
    SERDAB_ASSIGN_OR_RETURN(
        Tensor table,
        Tensor::Create(DataType::kFloat32, {axis < 0 ? 1 : in_shape[axis], 256}, allocator));
    FillPixelTable(steps, &table);
    Node fused;
    fused.op_type = "Cast";
    fused.outputs = nodes[chain.back()].outputs;
    fused.attrs.set("to", static_cast<int64_t>(DataType::kFloat32));
    fused.attrs.set(kPixelAxisAttr, static_cast<int64_t>(axis));
    fused.attrs.set(kPixelChannelsFirstAttr, int64_t{channels_first ? 1 : 0});
    for (const int n : chain) {
      if (nodes[n].op_type == "Cast") {
        fused.name = nodes[n].name;
      } else {
        AppendFused(&fused, nodes[n].op_type);
      }
      erase[n] = true;
    }
    fused.inputs = {input, AddConstant(graph, fused.name + ":pixel_table", std::move(table),
                                       SourcesOf(*graph, constants))};
    erase[chain.back()] = false;
    nodes[chain.back()] = std::move(fused);
    fused_any = true;
  }
  if (fused_any) EraseNodes(graph, erase);
  return Status::Ok();
}

Status OptimizeGraph(Graph* graph, bool fuse, Allocator* allocator) {
  SERDAB_RETURN_IF_ERROR(InferShapes(graph, allocator));
  SERDAB_RETURN_IF_ERROR(RemoveIdentities(graph));
  if (fuse) {
    SERDAB_RETURN_IF_ERROR(FusePixelInput(graph, allocator));
    SERDAB_RETURN_IF_ERROR(FuseBatchNorm(graph, allocator));
    SERDAB_RETURN_IF_ERROR(FuseActivations(graph));
    SERDAB_RETURN_IF_ERROR(FuseResidualAdds(graph));
    SERDAB_RETURN_IF_ERROR(FuseInputBatchNorm(graph, allocator));
    SERDAB_RETURN_IF_ERROR(FusePadPool(graph));
  }
  return Status::Ok();
}

}  // namespace serdab::engine
