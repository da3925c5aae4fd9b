#include "enclave/engine/model.h"

#include <algorithm>
#include <limits>

#include "enclave/engine/chunked_layer.h"
#include "enclave/engine/graph_passes.h"
#include "enclave/engine/onnx_importer.h"

namespace serdab::engine {
namespace {

constexpr size_t Align(size_t n) {
  return (n + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

// Plans of recently run ranges are kept so that a pipeline stage, which runs
// the same range on every frame, plans once; profilers that sweep many ranges
// do not keep every arena alive.
constexpr size_t kMaxCachedPlans = 8;

struct Interval {
  int first;  // node that writes the value
  int last;   // last node that reads it
  size_t bytes;
  size_t offset = 0;
};

// Places values with overlapping lifetimes at disjoint offsets: largest first,
// each at the lowest offset that fits between already placed overlapping
// values (the greedy-by-size strategy of TFLite's arena planner). Returns the
// arena size.
size_t PlaceInArena(std::vector<Interval*>& values) {
  std::stable_sort(values.begin(), values.end(),
                   [](const Interval* a, const Interval* b) { return a->bytes > b->bytes; });
  std::vector<const Interval*> placed;
  size_t total = 0;
  for (Interval* v : values) {
    std::vector<const Interval*> overlapping;
    for (const Interval* p : placed) {
      if (p->first <= v->last && v->first <= p->last) overlapping.push_back(p);
    }
    std::sort(overlapping.begin(), overlapping.end(),
              [](const Interval* a, const Interval* b) { return a->offset < b->offset; });
    size_t offset = 0;
    for (const Interval* p : overlapping) {
      if (offset + v->bytes <= p->offset) break;
      offset = std::max(offset, p->offset + Align(p->bytes));
    }
    v->offset = offset;
    total = std::max(total, offset + Align(v->bytes));
    placed.push_back(v);
  }
  return total;
}

// A value that lives inside another one's memory: a Concat's input placed
// where the Concat would copy it to.
struct Alias {
  int target = -1;  // the value whose memory holds this one, or -1
  size_t offset = 0;
};

// Places each input of a Concat along its outermost non-unit axis directly in
// the Concat's output, so that its producer writes it there and the Concat
// copies nothing (Concat's kernel skips an input already in place). Only
// values produced and consumed inside the range take part (the arena holds
// them), each in at most one Concat: a value read by two Concats, as in a
// DenseNet block, is placed in the first and copied by the others.
std::vector<Alias> PlaceConcatInputs(const std::vector<Node>& nodes, const Graph& graph, int begin,
                                     int end, const std::vector<Interval>& intervals,
                                     const std::vector<bool>& leaves) {
  std::vector<Alias> alias(intervals.size());
  auto in_arena = [&](int v) { return v != kNoValue && intervals[v].first >= 0 && !leaves[v]; };
  for (int n = begin; n < end; ++n) {
    const Node& node = nodes[n];
    if (node.op_type != "Concat" || node.outputs.size() != 1 || !in_arena(node.outputs[0])) {
      continue;
    }
    const int out = node.outputs[0];
    const Shape& shape = graph.value(out).info.shape;
    const int64_t rank = static_cast<int64_t>(shape.size());
    int64_t axis = node.attrs.GetInt("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) continue;
    const bool contiguous_parts =
        std::all_of(shape.begin(), shape.begin() + axis, [](int64_t d) { return d == 1; });
    if (!contiguous_parts) continue;
    size_t offset = 0;
    for (int in : node.inputs) {
      if (in_arena(in) && in != out && alias[in].target < 0) alias[in] = Alias{out, offset};
      if (in != kNoValue) offset += graph.value(in).info.bytes();
    }
  }
  return alias;
}

}  // namespace

// Everything needed to run one layer range repeatedly without allocating,
// except for the range's outputs, which leave with the caller.
struct Model::RangePlan {
  int begin = 0;
  int end = 0;
  std::vector<int> input_values;       // cuts_[begin].values
  std::vector<int> output_values;      // cuts_[end].values
  std::vector<Tensor> slots;           // indexed by value id
  std::map<int, Tensor> output_cache;  // the range's outputs, reused when released
  std::vector<KernelIO> ios;           // one per layer in the range
  Tensor arena;
  Tensor scratch;
  uint64_t last_used = 0;
};

Model::Model(const ModelOptions& options) : options_(options) {
  if (options_.weight_allocator == nullptr) options_.weight_allocator = HeapAllocator();
  if (options_.activation_allocator == nullptr) options_.activation_allocator = HeapAllocator();
  options_.num_threads = std::max(1, options_.num_threads);
}

Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::LoadOnnx(const std::string& path,
                                               const ModelOptions& options) {
  SERDAB_ASSIGN_OR_RETURN(Graph graph, ImportOnnxFile(path, options.weight_allocator));
  Result<std::unique_ptr<Model>> model = FromGraph(std::move(graph), options);
  if (!model.ok()) return model.status().WithContext(path);
  return model;
}

Result<std::unique_ptr<Model>> Model::FromGraph(Graph graph, const ModelOptions& options) {
  std::unique_ptr<Model> model(new Model(options));
  SERDAB_RETURN_IF_ERROR(model->Prepare(std::move(graph)));
  return model;
}

size_t Model::weight_bytes() const {
  size_t total = 0;
  for (const LayerInfo& layer : layers_) total += layer.weight_bytes;
  return total;
}

Status Model::Prepare(Graph graph) {
  // A partition's weights move to weight_allocator afterwards, and only
  // those of its layers: the passes work on the heap meanwhile.
  Allocator* pass_allocator = options_.partition ? HeapAllocator() : options_.weight_allocator;
  SERDAB_RETURN_IF_ERROR(OptimizeGraph(&graph, options_.fuse, pass_allocator));
  graph_ = std::move(graph);
  pool_ = std::make_unique<ThreadPool>(options_.num_threads);

  const int total = static_cast<int>(graph_.nodes().size());
  kept_begin_ = options_.partition ? options_.keep_begin : 0;
  kept_end_ = options_.partition && options_.keep_end >= 0 ? options_.keep_end : total;
  if (kept_begin_ < 0 || kept_begin_ > kept_end_ || kept_end_ > total) {
    return Status::OutOfRange("kept layers [" + std::to_string(kept_begin_) + ", " +
                              std::to_string(kept_end_) + ") are not within the model's " +
                              std::to_string(total) + " layers");
  }
  const auto& nodes = graph_.nodes();
  auto setup_of = [&](const Node& node) {
    KernelSetup setup;
    setup.node = &node;
    setup.opset = graph_.opset();
    setup.num_threads = options_.num_threads;
    setup.limits = graph_.limits();
    setup.weight_allocator = options_.weight_allocator;
    for (int in : node.inputs) setup.inputs.push_back(in == kNoValue ? nullptr : &graph_.value(in));
    return setup;
  };
  // Which layers could stream their weights, while every constant is still
  // here: the layer view reports it for the whole model.
  std::vector<int> readers(graph_.values().size(), 0);
  for (const Node& node : nodes) {
    for (int in : node.inputs) {
      if (in != kNoValue) ++readers[in];
    }
  }
  std::vector<std::optional<OutputSplit>> splits(nodes.size());
  for (size_t n = 0; n < nodes.size(); ++n) {
    const Node& node = nodes[n];
    if (node.inputs.size() < 2 || node.inputs[1] == kNoValue) continue;
    Result<OutputSplit> split = FindOutputSplit(setup_of(node), readers[node.inputs[1]]);
    if (split.ok()) {
      splits[n] = *split;
    } else if (static_cast<int>(n) == options_.shard_layer) {
      return split.status().WithContext("layer " + std::to_string(n) + " ('" + node.name +
                                        "') cannot be sharded");
    }
  }
  const int shard_layer = options_.shard_layer;
  if (shard_layer >= 0) {
    if (!options_.partition || kept_begin_ != shard_layer || kept_end_ != shard_layer + 1) {
      return Status::InvalidArgument("a sharded layer's model keeps that layer alone");
    }
    if (!splits[shard_layer]) {
      return Status::FailedPrecondition("layer " + std::to_string(shard_layer) +
                                        " cannot be sharded: it has no weight to split");
    }
    const LayerShard& shard = options_.shard;
    if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count ||
        shard.count > splits[shard_layer]->features) {
      return Status::InvalidArgument(
          "layer " + std::to_string(shard_layer) + " has no shard " + std::to_string(shard.index) +
          " of " + std::to_string(shard.count) + ": it has " +
          std::to_string(splits[shard_layer]->features) + " output features");
    }
    splits[shard_layer] = ShardOf(*splits[shard_layer], shard.index, shard.count);
  }
  if (options_.streamed_weight_bytes > 0 && options_.weight_store == nullptr) {
    return Status::InvalidArgument("streamed weights need a weight store");
  }
  const std::vector<int64_t> streamed_chunks = ChooseStreamedChunks(splits);
  // Layers that hold their weight in chunks copy the chunks they keep
  // themselves.
  auto chunked = [&](size_t n) {
    return streamed_chunks[n] > 0 || static_cast<int>(n) == shard_layer;
  };
  std::set<int> chunked_weights;
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (chunked(n)) chunked_weights.insert(nodes[n].inputs[1]);
  }
  if (options_.partition) SERDAB_RETURN_IF_ERROR(KeepWeightsOfRange(chunked_weights));

  const OpRegistry& registry = OpRegistry::Builtin();
  const KernelFlavor flavor =
      options_.optimized_kernels ? KernelFlavor::kOptimized : KernelFlavor::kReference;
  for (size_t n = 0; n < nodes.size(); ++n) {
    const Node& node = nodes[n];
    const KernelSetup setup = setup_of(node);
    LayerInfo layer;
    layer.index = static_cast<int>(n);
    layer.name = node.name;
    layer.op_type = node.op_type;
    layer.fused = node.attrs.GetString(kFusedAttr, "");
    if (splits[n]) layer.streamable_weight_bytes = splits[n]->range_bytes();
    for (int in : node.inputs) {
      if (in != kNoValue && (graph_.value(in).is_constant() || released_.count(in))) {
        layer.weight_bytes += graph_.value(in).info.bytes();
      }
    }
    for (int in : node.inputs) {
      if (in != kNoValue && !graph_.value(in).is_constant() && !released_.count(in)) {
        layer.activation_bytes += graph_.value(in).info.bytes();
      }
    }
    for (int out : node.outputs) layer.activation_bytes += graph_.value(out).info.bytes();
    if (static_cast<int>(n) < kept_begin_ || static_cast<int>(n) >= kept_end_) {
      // Outside the kept range: described, never run.
      for (int out : node.outputs) layer.outputs.push_back(graph_.value(out).info);
      layers_.push_back(std::move(layer));
      kernels_.push_back(nullptr);
      continue;
    }
    std::unique_ptr<Kernel> kernel;
    ChunkedLayer* chunked_layer = nullptr;
    if (chunked(n)) {
      auto layer_kernel = std::make_unique<ChunkedLayer>(
          flavor, options_.weight_store, options_.weight_allocator, streamed_chunks[n],
          static_cast<int>(n) == shard_layer ? options_.shard : LayerShard{});
      chunked_layer = layer_kernel.get();
      kernel = std::move(layer_kernel);
    } else {
      kernel = registry.Create(node.op_type, flavor);
    }
    std::vector<TensorInfo> infos;
    SERDAB_RETURN_IF_ERROR(kernel->Setup(setup, &infos));
    if (chunked_layer != nullptr) {
      // The layer holds its resident chunks itself, and sealed the others.
      layer.streamed_weight_bytes = chunked_layer->streamed_bytes();
      graph_.value(node.inputs[1]).constant = Tensor();
      released_.insert(node.inputs[1]);
      // A shard holds, and outputs, its part alone.
      const OutputSplit& split = chunked_layer->split();
      layer.weight_bytes -= split.bytes_outside();
      if (static_cast<int>(n) == shard_layer) graph_.value(node.outputs[0]).info = infos[0];
    }
    for (size_t i = 0; i < infos.size(); ++i) {
      const TensorInfo& inferred = graph_.value(node.outputs[i]).info;
      if (infos[i].dtype != inferred.dtype || infos[i].shape != inferred.shape) {
        return Status::Internal(
            "node '" + node.name + "': the " +
            std::string(options_.optimized_kernels ? "optimised" : "reference") +
            " kernel computes output shape " + ShapeToString(infos[i].shape) +
            " but shape inference found " + ShapeToString(inferred.shape));
      }
    }
    layer.outputs = std::move(infos);
    layer.flops = kernel->Flops();
    // A prepared copy is resident too; streaming the layer would drop it (a
    // chunked layer's kernels take their weights at run time), so it counts
    // as streamable where the weight is.
    layer.prepared_weight_bytes = kernel->PreparedWeightBytes();
    layer.weight_bytes += layer.prepared_weight_bytes;
    if (splits[n]) layer.streamable_weight_bytes += layer.prepared_weight_bytes;
    layer.activation_bytes += kernel->ScratchBytes();
    layers_.push_back(std::move(layer));
    kernels_.push_back(std::move(kernel));
  }

  // Cuts: a value is live across the cut before layer k when it is produced
  // before k (or is a model input) and read at or after k (or is a model output).
  const int num_values = static_cast<int>(graph_.values().size());
  std::vector<int> producer = graph_.Producers();
  std::vector<int> last_reader(num_values, -1);
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (int in : nodes[n].inputs) {
      if (in != kNoValue) last_reader[in] = static_cast<int>(n);
    }
  }
  const int num_layers = static_cast<int>(nodes.size());
  for (int out : graph_.outputs()) last_reader[out] = num_layers;
  // Candidates in a stable order: inputs first, then by producing layer.
  std::vector<int> order;
  for (int in : graph_.inputs()) order.push_back(in);
  for (const Node& node : nodes) {
    for (int out : node.outputs) order.push_back(out);
  }
  cuts_.resize(num_layers + 1);
  for (int k = 0; k <= num_layers; ++k) {
    CutInfo& cut = cuts_[k];
    cut.index = k;
    if (k == 0) {
      cut.values = graph_.inputs();
    } else if (k == num_layers) {
      cut.values = graph_.outputs();
    } else {
      for (int v : order) {
        if (graph_.value(v).is_constant() || released_.count(v)) continue;
        if (producer[v] < k && last_reader[v] >= k) cut.values.push_back(v);
      }
    }
    for (int v : cut.values) {
      cut.names.push_back(graph_.value(v).name);
      cut.infos.push_back(graph_.value(v).info);
      cut.bytes += graph_.value(v).info.bytes();
    }
  }
  return Status::Ok();
}

std::vector<int64_t> Model::ChooseStreamedChunks(
    const std::vector<std::optional<OutputSplit>>& splits) {
  std::vector<int64_t> streamed(splits.size(), 0);
  if (options_.streamed_weight_bytes == 0) return streamed;
  // Largest weights first, each from its last chunk backwards.
  std::vector<int> candidates;
  for (int n = kept_begin_; n < kept_end_; ++n) {
    if (splits[n]) candidates.push_back(n);
  }
  std::stable_sort(candidates.begin(), candidates.end(), [&](int a, int b) {
    return splits[a]->range_bytes() > splits[b]->range_bytes();
  });
  size_t left = options_.streamed_weight_bytes;
  for (int n : candidates) {
    const WeightChunking chunking(*splits[n]);
    for (int64_t i = chunking.chunks - 1; i >= 0 && left > 0; --i) {
      left -= std::min(left, chunking.ChunkBytes(*splits[n], i));
      ++streamed[n];
    }
    if (left == 0) break;
  }
  return streamed;
}

Status Model::KeepWeightsOfRange(const std::set<int>& chunked) {
  const auto& nodes = graph_.nodes();
  std::vector<bool> used(graph_.values().size(), false);
  for (int n = kept_begin_; n < kept_end_; ++n) {
    for (int in : nodes[n].inputs) {
      if (in != kNoValue) used[in] = true;
    }
  }
  for (size_t v = 0; v < used.size(); ++v) {
    Value& value = graph_.value(static_cast<int>(v));
    if (!value.is_constant()) continue;
    if (!used[v]) {
      value.constant = Tensor();  // released; the info stays for the layer view
      released_.insert(static_cast<int>(v));
      continue;
    }
    if (chunked.count(static_cast<int>(v)) != 0) continue;
    SERDAB_ASSIGN_OR_RETURN(value.constant, value.constant.Clone(options_.weight_allocator));
  }
  return Status::Ok();
}

Result<Model::RangePlan*> Model::PlanFor(int begin, int end) {
  auto it = plans_.find({begin, end});
  if (it != plans_.end()) {
    it->second->last_used = ++plan_clock_;
    return it->second.get();
  }
  if (plans_.size() >= kMaxCachedPlans) {
    auto oldest = std::min_element(plans_.begin(), plans_.end(), [](const auto& a, const auto& b) {
      return a.second->last_used < b.second->last_used;
    });
    plans_.erase(oldest);
  }

  auto plan = std::make_unique<RangePlan>();
  plan->begin = begin;
  plan->end = end;
  plan->input_values = cuts_[begin].values;
  plan->output_values = cuts_[end].values;
  const auto& nodes = graph_.nodes();
  const int num_values = static_cast<int>(graph_.values().size());
  plan->slots.resize(num_values);
  for (int v = 0; v < num_values; ++v) {
    if (graph_.value(v).is_constant()) plan->slots[v] = graph_.value(v).constant;
  }

  // Lifetimes of the values produced and consumed inside the range.
  std::vector<bool> leaves(num_values, false);
  for (int v : plan->output_values) leaves[v] = true;
  std::vector<Interval> intervals(num_values, Interval{-1, -1, 0});
  size_t scratch_bytes = 0;
  for (int n = begin; n < end; ++n) {
    for (int out : nodes[n].outputs) {
      intervals[out].first = n;
      intervals[out].last = n;  // written even if never read
      intervals[out].bytes = graph_.value(out).info.bytes();
    }
    for (int in : nodes[n].inputs) {
      if (in != kNoValue && intervals[in].first >= 0) intervals[in].last = n;
    }
    scratch_bytes = std::max(scratch_bytes, kernels_[n]->ScratchBytes());
  }
  // A value placed inside a Concat's output lives as long as any part of
  // it: the root of each chain of aliases takes the lifetimes of its parts.
  const std::vector<Alias> alias = PlaceConcatInputs(nodes, graph_, begin, end, intervals, leaves);
  auto root_of = [&](int v, size_t* offset) {
    *offset = 0;
    while (alias[v].target >= 0) {
      *offset += alias[v].offset;
      v = alias[v].target;
    }
    return v;
  };
  for (int v = 0; v < num_values; ++v) {
    if (alias[v].target < 0) continue;
    size_t offset;
    Interval& root = intervals[root_of(v, &offset)];
    root.first = std::min(root.first, intervals[v].first);
    root.last = std::max(root.last, intervals[v].last);
  }
  std::vector<Interval*> arena_values;
  for (int v = 0; v < num_values; ++v) {
    if (intervals[v].first >= 0 && !leaves[v] && alias[v].target < 0) {
      arena_values.push_back(&intervals[v]);
    }
  }
  const size_t arena_bytes = PlaceInArena(arena_values);
  Allocator* alloc = options_.activation_allocator;
  SERDAB_ASSIGN_OR_RETURN(
      plan->arena,
      Tensor::Create(DataType::kFloat32, {static_cast<int64_t>(arena_bytes / 4)}, alloc));
  if (scratch_bytes > 0) {
    SERDAB_ASSIGN_OR_RETURN(
        plan->scratch, Tensor::Create(DataType::kFloat32,
                                      {static_cast<int64_t>(Align(scratch_bytes) / 4)}, alloc));
  }
  char* base = static_cast<char*>(plan->arena.raw());
  for (int v = 0; v < num_values; ++v) {
    if (intervals[v].first >= 0 && !leaves[v]) {
      const TensorInfo& info = graph_.value(v).info;
      size_t offset;
      const int root = root_of(v, &offset);
      plan->slots[v] = Tensor::Wrap(info.dtype, info.shape, base + intervals[root].offset + offset);
    }
  }
  for (int n = begin; n < end; ++n) {
    KernelIO io;
    io.pool = pool_.get();
    io.scratch = plan->scratch.defined() ? plan->scratch.raw() : nullptr;
    for (int in : nodes[n].inputs) io.inputs.push_back(in == kNoValue ? nullptr : &plan->slots[in]);
    for (int out : nodes[n].outputs) io.outputs.push_back(&plan->slots[out]);
    plan->ios.push_back(std::move(io));
  }
  plan->last_used = ++plan_clock_;
  RangePlan* raw = plan.get();
  plans_[{begin, end}] = std::move(plan);
  return raw;
}

Result<std::vector<Tensor>> Model::Run(int begin, int end, const std::vector<Tensor>& inputs) {
  if (begin < 0 || end > num_layers() || begin > end) {
    return Status::OutOfRange("layer range [" + std::to_string(begin) + ", " + std::to_string(end) +
                              ") is not within [0, " + std::to_string(num_layers()) + "]");
  }
  if (begin < end && (begin < kept_begin_ || end > kept_end_)) {
    return Status::FailedPrecondition("layers [" + std::to_string(begin) + ", " +
                                      std::to_string(end) + ") are outside the kept range [" +
                                      std::to_string(kept_begin_) + ", " +
                                      std::to_string(kept_end_) + ")");
  }
  const CutInfo& in_cut = cuts_[begin];
  if (inputs.size() != in_cut.values.size()) {
    return Status::InvalidArgument("layer range starting at " + std::to_string(begin) + " takes " +
                                   std::to_string(in_cut.values.size()) + " tensors, got " +
                                   std::to_string(inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorInfo& want = in_cut.infos[i];
    if (inputs[i].dtype() != want.dtype || inputs[i].shape() != want.shape) {
      return Status::InvalidArgument(
          "input '" + in_cut.names[i] + "' should be " + DataTypeName(want.dtype) + " " +
          ShapeToString(want.shape) + " (" + std::to_string(want.bytes()) + " bytes), got " +
          DataTypeName(inputs[i].dtype()) + " " + ShapeToString(inputs[i].shape()) + " (" +
          std::to_string(inputs[i].bytes()) + " bytes)");
    }
  }
  if (begin == end) return inputs;

  SERDAB_ASSIGN_OR_RETURN(RangePlan * plan, PlanFor(begin, end));
  for (size_t i = 0; i < inputs.size(); ++i) plan->slots[plan->input_values[i]] = inputs[i];
  std::vector<Tensor> outputs;
  for (int v : plan->output_values) {
    const TensorInfo& info = graph_.value(v).info;
    // An output that is also an input of the range passes straight through.
    bool passthrough = false;
    for (int in : plan->input_values) passthrough = passthrough || in == v;
    if (passthrough) continue;
    // Reuse last call's output buffer once the caller has let go of it, so a
    // stage's steady state allocates nothing (and, in an enclave, takes no
    // first-touch faults on fresh pages).
    Tensor& cached = plan->output_cache[v];
    if (!cached.unique_owner()) {
      SERDAB_ASSIGN_OR_RETURN(
          cached, Tensor::Create(info.dtype, info.shape, options_.activation_allocator));
    }
    plan->slots[v] = cached;
  }
  Status status;
  // The layers' loops follow each other closely: the pool's threads spin
  // between them instead of sleeping.
  const ThreadPool::BusyScope busy(pool_.get());
  for (int n = begin; n < end && status.ok(); ++n) {
    status = kernels_[n]->Run(plan->ios[n - begin]);
    if (!status.ok()) {
      status = status.WithContext("layer " + std::to_string(n) + " ('" + layers_[n].name + "')");
    }
  }
  for (int v : plan->output_values) outputs.push_back(plan->slots[v]);
  // Drop references to caller-owned and returned tensors.
  for (int v : plan->input_values) plan->slots[v] = Tensor();
  for (int v : plan->output_values) plan->slots[v] = Tensor();
  if (!status.ok()) return status;
  return outputs;
}

}  // namespace serdab::engine
