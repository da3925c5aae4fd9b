#include "enclave/engine/chunked_layer.h"

#include <algorithm>
#include <mutex>
#include <string>

#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

size_t Align(size_t bytes) {
  return (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

// A chunk's kernel runs on the thread that took the chunk: a pool of one
// thread runs its loops inline and holds no state, so every thread can share
// it.
ThreadPool* SerialPool() {
  static ThreadPool* pool = new ThreadPool(1);
  return pool;
}

// Elements after `axis` in `shape`.
int64_t InnerElements(const Shape& shape, int axis) {
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  return inner;
}

}  // namespace

WeightChunking::WeightChunking(const OutputSplit& split) {
  const int64_t features = split.last - split.first;
  features_per_chunk = std::max<int64_t>(
      1, static_cast<int64_t>(kWeightChunkBytes / std::max<size_t>(1, split.feature_bytes())));
  features_per_chunk = std::min(features_per_chunk, features);
  chunks = (features + features_per_chunk - 1) / features_per_chunk;
}

size_t WeightChunking::ChunkBytes(const OutputSplit& split, int64_t i) const {
  const int64_t begin = split.first + i * features_per_chunk;
  const int64_t end = std::min(split.last, begin + features_per_chunk);
  return static_cast<size_t>(end - begin) * split.feature_bytes();
}

ChunkedLayer::ChunkedLayer(KernelFlavor flavor, WeightChunkStore* store,
                           Allocator* weight_allocator, int64_t streamed_chunks, LayerShard shard)
    : flavor_(flavor),
      store_(store),
      weight_allocator_(weight_allocator),
      streamed_chunks_(streamed_chunks),
      shard_(shard) {}

ChunkedLayer::~ChunkedLayer() = default;

Result<const ChunkedLayer::ChunkKernel*> ChunkedLayer::KernelFor(const KernelSetup& setup,
                                                                 int64_t features) {
  for (const auto& k : kernels_) {
    if (k->values[1].info.shape[split_.weight_axis] == features) return k.get();
  }
  auto k = std::make_unique<ChunkKernel>();
  k->node = setup.n();
  k->node.name = setup.n().name + " (" + std::to_string(features) + " of " +
                 std::to_string(split_.features) + " outputs)";
  k->values.resize(setup.inputs.size());
  KernelSetup sub = setup;
  sub.node = &k->node;
  sub.num_threads = 1;
  sub.whole_output_features = split_.features;
  for (size_t i = 0; i < setup.inputs.size(); ++i) {
    if (setup.inputs[i] == nullptr) continue;
    Value& v = k->values[i];
    v.name = setup.inputs[i]->name;
    v.info = setup.inputs[i]->info;
    // The weight and bias slices come at run time, so that one kernel serves
    // every chunk of this size; other inputs are as the layer has them.
    if (static_cast<int>(i) == 1) {
      v.info.shape[split_.weight_axis] = features;
    } else if (static_cast<int>(i) == split_.bias_input) {
      v.info.shape[split_.bias_axis] = features;
    } else if (static_cast<int>(i) == split_.residual_input) {
      v.info.shape[split_.output_axis] = features;
    } else {
      v.constant = setup.inputs[i]->constant;
    }
    sub.inputs[i] = &v;
  }
  k->kernel = OpRegistry::Builtin().Create(k->node.op_type, flavor_);
  std::vector<TensorInfo> infos;
  SERDAB_RETURN_IF_ERROR(k->kernel->Setup(sub, &infos));
  k->output = infos.at(0);
  kernels_.push_back(std::move(k));
  return kernels_.back().get();
}

Status ChunkedLayer::Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) {
  SERDAB_ASSIGN_OR_RETURN(split_, FindOutputSplit(setup, 1));
  if (shard_.count < 1 || shard_.index < 0 || shard_.index >= shard_.count ||
      shard_.count > split_.features) {
    return setup.Error("has no shard " + std::to_string(shard_.index) + " of " +
                       std::to_string(shard_.count) + ": it has " +
                       std::to_string(split_.features) + " output features");
  }
  split_ = ShardOf(split_, shard_.index, shard_.count);
  const WeightChunking chunking(split_);
  if (streamed_chunks_ < 0 || streamed_chunks_ > chunking.chunks) {
    return setup.Error("cannot stream " + std::to_string(streamed_chunks_) + " of its " +
                       std::to_string(chunking.chunks) + " weight chunks");
  }
  const Tensor& weight = *setup.constant(1);
  const Tensor* bias = split_.bias_input >= 0 ? setup.constant(split_.bias_input) : nullptr;
  size_t sub_scratch = 0;
  for (int64_t i = 0; i < chunking.chunks; ++i) {
    Chunk chunk;
    chunk.begin = split_.first + i * chunking.features_per_chunk;
    chunk.end = std::min(split_.last, chunk.begin + chunking.features_per_chunk);
    chunk.streamed = i >= chunking.chunks - streamed_chunks_;
    SERDAB_ASSIGN_OR_RETURN(chunk.kernel, KernelFor(setup, chunk.end - chunk.begin));
    sub_scratch = std::max(sub_scratch, chunk.kernel->kernel->ScratchBytes());
    flops_ += chunk.kernel->kernel->Flops();
    temp_bytes_ = std::max(temp_bytes_, Align(chunk.kernel->output.bytes()));
    SERDAB_ASSIGN_OR_RETURN(Tensor slice,
                            SliceAlongAxis(weight, split_.weight_axis, chunk.begin, chunk.end,
                                           chunk.streamed ? HeapAllocator() : weight_allocator_));
    chunk.weight_bytes = slice.bytes();
    chunk.weight_shape = slice.shape();
    if (chunk.streamed) {
      SERDAB_ASSIGN_OR_RETURN(chunk.id, store_->Put(slice.raw(), slice.bytes()));
      window_bytes_ = std::max(window_bytes_, Align(store_->WindowBytes(slice.bytes())));
      streamed_bytes_ += slice.bytes();
    } else {
      chunk.resident = std::move(slice);
    }
    if (bias != nullptr) {
      SERDAB_ASSIGN_OR_RETURN(chunk.bias, SliceAlongAxis(*bias, split_.bias_axis, chunk.begin,
                                                         chunk.end, weight_allocator_));
    }
    chunks_.push_back(std::move(chunk));
  }
  TensorInfo whole = kernels_.front()->output;
  whole.shape[split_.output_axis] = split_.last - split_.first;
  int64_t outer = 1;
  for (int d = 0; d < split_.output_axis; ++d) outer *= whole.shape[d];
  direct_ = outer == 1;
  if (direct_) temp_bytes_ = 0;
  slots_ = static_cast<int>(std::min<int64_t>(std::max(1, setup.num_threads), chunking.chunks));
  slot_bytes_ = window_bytes_ + temp_bytes_ + Align(sub_scratch);
  outputs->push_back(std::move(whole));
  return Status::Ok();
}

Status ChunkedLayer::RunChunk(const KernelIO& io, const Chunk& chunk, char* slot) const {
  char* window = slot;
  char* temp = slot + window_bytes_;
  char* sub_scratch = temp + temp_bytes_;
  Tensor weight = chunk.resident;
  if (chunk.streamed) {
    Status opened = store_->Get(chunk.id, window, chunk.weight_bytes);
    if (!opened.ok()) {
      return opened.WithContext("weight chunk for outputs [" + std::to_string(chunk.begin) + ", " +
                                std::to_string(chunk.end) + ")");
    }
    weight = Tensor::Wrap(DataType::kFloat32, chunk.weight_shape, window);
  }
  KernelIO sub;
  sub.pool = SerialPool();
  sub.scratch = sub_scratch;
  sub.inputs = io.inputs;
  sub.inputs[1] = &weight;
  if (split_.bias_input >= 0) sub.inputs[split_.bias_input] = &chunk.bias;
  Tensor* whole = io.outputs[0];
  const Shape& part_shape = chunk.kernel->output.shape;
  const int64_t inner = InnerElements(whole->shape(), split_.output_axis);
  Tensor part = direct_ ? Tensor::Wrap(DataType::kFloat32, part_shape,
                                       whole->data<float>() + (chunk.begin - split_.first) * inner)
                        : Tensor::Wrap(DataType::kFloat32, part_shape, temp);
  // The residual has the whole layer's features, a shard's included
  // (FindOutputSplit admits it for a batch of one, so direct_ holds).
  Tensor residual;
  if (split_.residual_input >= 0) {
    residual = Tensor::Wrap(
        DataType::kFloat32, part_shape,
        const_cast<float*>(io.inputs[split_.residual_input]->data<float>()) + chunk.begin * inner);
    sub.inputs[split_.residual_input] = &residual;
  }
  sub.outputs = {&part};
  SERDAB_RETURN_IF_ERROR(chunk.kernel->kernel->Run(sub));
  if (!direct_) CopyIntoAxis(part, split_.output_axis, chunk.begin - split_.first, whole);
  return Status::Ok();
}

Status ChunkedLayer::Run(const KernelIO& io) const {
  // Slot s takes chunks s, s + slots, ...: the streamed chunks are the last
  // ones, so striding shares their decryption among the threads.
  char* scratch = static_cast<char*>(io.scratch);
  const int64_t n = static_cast<int64_t>(chunks_.size());
  std::mutex mu;
  Status failed;
  io.pool->ParallelFor(slots_, 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      for (int64_t c = s; c < n; c += slots_) {
        Status status = RunChunk(io, chunks_[c], scratch + s * slot_bytes_);
        if (!status.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (failed.ok()) failed = std::move(status);
          return;
        }
      }
    }
  });
  return failed;
}

}  // namespace serdab::engine
