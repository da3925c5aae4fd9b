// Optimised Conv, Gemm and pooling on the heaviest layer shapes of ResNet-50,
// VGG-16, MobileNetV2, EfficientNet-B0, DenseNet-121, Inception-v3 and GoogLeNet (batch 1, 224x224
// input), at 1 and 2 threads. Reports GFLOP/s (a multiply-add counts two) so the numbers compare
// directly with torch.nn.functional.conv2d timed on the same shapes.
//
//   build/bin/kernels_bench --benchmark_filter=resnet50
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "enclave/engine/graph.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

Tensor RandomTensor(const Shape& shape, std::mt19937* rng) {
  Tensor t = Tensor::Create(DataType::kFloat32, shape).value();
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(*rng);
  return t;
}

// One node set up as the Model would: run-time input 0, constant weights.
struct OneKernel {
  Graph graph;
  std::unique_ptr<Kernel> kernel;
  std::vector<Tensor> inputs;
  Tensor output;
  Tensor scratch;
};

std::unique_ptr<OneKernel> MakeKernel(const std::string& op, const Attributes& attrs,
                                      std::vector<Tensor> inputs, int threads) {
  auto k = std::make_unique<OneKernel>();
  Node node;
  node.name = "bench";
  node.op_type = op;
  node.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int id = k->graph.AddValue("in" + std::to_string(i));
    k->graph.value(id).info = inputs[i].info();
    if (i > 0) k->graph.value(id).constant = inputs[i];
    node.inputs.push_back(id);
  }
  node.outputs.push_back(k->graph.AddValue("out"));
  k->graph.nodes().push_back(node);
  KernelSetup setup;
  setup.node = &k->graph.nodes().back();
  for (int id : setup.node->inputs) setup.inputs.push_back(&k->graph.value(id));
  setup.opset = 13;
  setup.num_threads = threads;
  k->kernel = OpRegistry::Builtin().Create(op, KernelFlavor::kOptimized);
  std::vector<TensorInfo> outs;
  Status s = k->kernel->Setup(setup, &outs);
  if (!s.ok()) return nullptr;
  k->inputs = std::move(inputs);
  k->output = Tensor::Create(outs[0].dtype, outs[0].shape).value();
  k->scratch = Tensor::Create(DataType::kFloat32,
                              {static_cast<int64_t>(k->kernel->ScratchBytes() / sizeof(float)) + 1})
                   .value();
  return k;
}

void RunKernelLoop(benchmark::State& state, OneKernel* k, int threads) {
  ThreadPool pool(threads);
  KernelIO io;
  for (const Tensor& t : k->inputs) io.inputs.push_back(&t);
  io.outputs.push_back(&k->output);
  io.pool = &pool;
  io.scratch = k->scratch.raw();
  for (auto _ : state) {
    Status s = k->kernel->Run(io);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(k->output.raw());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(static_cast<double>(k->kernel->Flops()) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

struct ConvShape {
  const char* name;
  int64_t cin, cout, kernel, stride, h, group;
  int64_t kernel_w = 0;  // 0: square, kernel x kernel
  int64_t width() const { return kernel_w > 0 ? kernel_w : kernel; }
};

// Batch 1; pads keep "same" geometry (kernel / 2 on each axis).
constexpr ConvShape kConvShapes[] = {
    {"resnet50/conv1_7x7s2_3to64_224", 3, 64, 7, 2, 224, 1},
    {"resnet50/1x1_64to64_56", 64, 64, 1, 1, 56, 1},
    {"resnet50/3x3_64_56", 64, 64, 3, 1, 56, 1},
    {"resnet50/1x1_64to256_56", 64, 256, 1, 1, 56, 1},
    {"resnet50/1x1_256to64_56", 256, 64, 1, 1, 56, 1},
    {"resnet50/3x3s2_128_56", 128, 128, 3, 2, 56, 1},
    {"resnet50/1x1s2_256to512_56", 256, 512, 1, 2, 56, 1},
    {"resnet50/3x3_128_28", 128, 128, 3, 1, 28, 1},
    {"resnet50/1x1_512to128_28", 512, 128, 1, 1, 28, 1},
    {"resnet50/3x3_256_14", 256, 256, 3, 1, 14, 1},
    {"resnet50/1x1_1024to256_14", 1024, 256, 1, 1, 14, 1},
    {"resnet50/1x1_256to1024_14", 256, 1024, 1, 1, 14, 1},
    {"resnet50/3x3_512_7", 512, 512, 3, 1, 7, 1},
    {"resnet50/1x1_2048to512_7", 2048, 512, 1, 1, 7, 1},
    {"resnet50/1x1_512to2048_7", 512, 2048, 1, 1, 7, 1},
    {"vgg16/3x3_3to64_224", 3, 64, 3, 1, 224, 1},
    {"vgg16/3x3_64_224", 64, 64, 3, 1, 224, 1},
    {"vgg16/3x3_128_112", 128, 128, 3, 1, 112, 1},
    {"vgg16/3x3_256_56", 256, 256, 3, 1, 56, 1},
    {"vgg16/3x3_512_28", 512, 512, 3, 1, 28, 1},
    {"vgg16/3x3_512_14", 512, 512, 3, 1, 14, 1},
    {"densenet121/3x3_128to32_56", 128, 32, 3, 1, 56, 1},
    {"densenet121/3x3_128to32_28", 128, 32, 3, 1, 28, 1},
    {"densenet121/3x3_128to32_14", 128, 32, 3, 1, 14, 1},
    {"inception_v3/3x3_32to64_147", 32, 64, 3, 1, 147, 1},
    {"inception_v3/3x3_80to192_71", 80, 192, 3, 1, 71, 1},
    {"inception_v3/3x3s2_288to384_35", 288, 384, 3, 2, 35, 1},
    {"inception_v3/1x7_160_17", 160, 160, 1, 1, 17, 1, 7},
    {"inception_v3/7x1_192_17", 192, 192, 7, 1, 17, 1, 1},
    {"inception_v3/5x5_48to64_35", 48, 64, 5, 1, 35, 1},
    {"mobilenet_v2/conv1_3x3s2_3to32_224", 3, 32, 3, 2, 224, 1},
    {"mobilenet_v2/1x1_24to144_56", 24, 144, 1, 1, 56, 1},
    {"mobilenet_v2/1x1_144to24_56", 144, 24, 1, 1, 56, 1},
    {"mobilenet_v2/dw3x3_32_112", 32, 32, 3, 1, 112, 32},
    {"mobilenet_v2/dw3x3s2_96_112", 96, 96, 3, 2, 112, 96},
    {"mobilenet_v2/dw3x3_144_56", 144, 144, 3, 1, 56, 144},
    {"mobilenet_v2/dw3x3s2_144_56", 144, 144, 3, 2, 56, 144},
    {"mobilenet_v2/dw3x3_960_7", 960, 960, 3, 1, 7, 960},
    {"efficientnet_b0/dw5x5s2_144_56", 144, 144, 5, 2, 56, 144},
    {"efficientnet_b0/dw5x5_240_28", 240, 240, 5, 1, 28, 240},
    {"efficientnet_b0/dw5x5_672_14", 672, 672, 5, 1, 14, 672},
    {"efficientnet_b0/dw5x5s2_672_14", 672, 672, 5, 2, 14, 672},
    {"efficientnet_b0/dw5x5_1152_7", 1152, 1152, 5, 1, 7, 1152},
};

void BM_Conv(benchmark::State& state, ConvShape shape) {
  const int threads = static_cast<int>(state.range(0));
  std::mt19937 rng(1);
  Attributes attrs;
  const int64_t pad_h = shape.kernel / 2, pad_w = shape.width() / 2;
  attrs.set("pads", std::vector<int64_t>{pad_h, pad_w, pad_h, pad_w});
  attrs.set("strides", std::vector<int64_t>{shape.stride, shape.stride});
  attrs.set("group", shape.group);
  auto k = MakeKernel(
      "Conv", attrs,
      {RandomTensor({1, shape.cin, shape.h, shape.h}, &rng),
       RandomTensor({shape.cout, shape.cin / shape.group, shape.kernel, shape.width()}, &rng),
       RandomTensor({shape.cout}, &rng)},
      threads);
  if (k == nullptr) {
    state.SkipWithError("Setup failed");
    return;
  }
  RunKernelLoop(state, k.get(), threads);
}

// VGG-16's classifier at batch 1: Linear layers are Gemm with transB=1, a
// matrix-vector product over a weight that does not fit any cache.
void BM_Linear(benchmark::State& state, int64_t in, int64_t out) {
  const int threads = static_cast<int>(state.range(0));
  std::mt19937 rng(1);
  Attributes attrs;
  attrs.set("transB", int64_t{1});
  auto k = MakeKernel(
      "Gemm", attrs,
      {RandomTensor({1, in}, &rng), RandomTensor({out, in}, &rng), RandomTensor({out}, &rng)},
      threads);
  if (k == nullptr) {
    state.SkipWithError("Setup failed");
    return;
  }
  RunKernelLoop(state, k.get(), threads);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(in * out * sizeof(float)) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

struct PoolShape {
  const char* name;
  const char* op;
  int64_t channels, h, kernel, stride, pad;
};

// inception_v3's branch pools (count_include_pad, as the graph passes fuse
// them with their Pad) and its stem's MaxPool; googlenet's stride-1 MaxPool.
constexpr PoolShape kPoolShapes[] = {
    {"inception_v3/avg3x3_288_35", "AveragePool", 288, 35, 3, 1, 1},
    {"inception_v3/avg3x3_768_17", "AveragePool", 768, 17, 3, 1, 1},
    {"inception_v3/max3x3s2_64_147", "MaxPool", 64, 147, 3, 2, 0},
    {"googlenet/max3x3_480_14", "MaxPool", 480, 14, 3, 1, 1},
};

void BM_Pool(benchmark::State& state, PoolShape shape) {
  const int threads = static_cast<int>(state.range(0));
  std::mt19937 rng(1);
  Attributes attrs;
  attrs.set("kernel_shape", std::vector<int64_t>{shape.kernel, shape.kernel});
  attrs.set("strides", std::vector<int64_t>{shape.stride, shape.stride});
  attrs.set("pads", std::vector<int64_t>{shape.pad, shape.pad, shape.pad, shape.pad});
  if (std::string(shape.op) == "AveragePool") attrs.set("count_include_pad", int64_t{1});
  auto k = MakeKernel(shape.op, attrs, {RandomTensor({1, shape.channels, shape.h, shape.h}, &rng)},
                      threads);
  if (k == nullptr) {
    state.SkipWithError("Setup failed");
    return;
  }
  RunKernelLoop(state, k.get(), threads);
}

// At 1 and 2 threads, in microseconds of wall time.
template <typename... Args>
void RegisterAtOneAndTwoThreads(const std::string& name, Args&&... args) {
  benchmark::RegisterBenchmark(name.c_str(), std::forward<Args>(args)...)
      ->Arg(1)
      ->Arg(2)
      ->ArgName("threads")
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
}

const bool kRegistered = [] {
  for (const PoolShape& shape : kPoolShapes) {
    RegisterAtOneAndTwoThreads(std::string("Pool/") + shape.name, BM_Pool, shape);
  }
  for (const ConvShape& shape : kConvShapes) {
    RegisterAtOneAndTwoThreads(std::string("Conv/") + shape.name, BM_Conv, shape);
  }
  RegisterAtOneAndTwoThreads("Gemm/vgg16/fc6_25088to4096", BM_Linear, 25088, 4096);
  RegisterAtOneAndTwoThreads("Gemm/vgg16/fc7_4096to4096", BM_Linear, 4096, 4096);
  return true;
}();

}  // namespace
}  // namespace serdab::engine

BENCHMARK_MAIN();
