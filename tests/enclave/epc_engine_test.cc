// The engine on the EPC heap: tensors allocated from an EpcHeap much smaller
// than the data, worked on by the thread pool and by real kernels, give the
// same results as on the process heap.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"
#include "enclave/engine/thread_pool.h"
#include "enclave/epc/epc_heap.h"
#include "tests/engine/kernel_test_util.h"

namespace serdab::epc {
namespace {

using engine::DataType;
using engine::Tensor;

constexpr size_t kMiB = size_t{1} << 20;

std::unique_ptr<EpcHeap> MakeHeap(size_t epc_bytes) {
  EpcConfig config;
  config.heap_bytes = 64 * kMiB;
  config.epc_bytes = epc_bytes;
  Result<std::unique_ptr<EpcHeap>> heap = EpcHeap::Create(config);
  if (!heap.ok()) {
    ADD_FAILURE() << heap.status().ToString();
    return nullptr;
  }
  return std::move(heap).value();
}

TEST(EpcEngineTest, ParallelArithmeticOverTensorsSixTimesTheBudget) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  const int64_t n = static_cast<int64_t>(2 * kMinEpcBytes / sizeof(float));
  Result<Tensor> a = Tensor::Create(DataType::kFloat32, {n}, heap.get());
  Result<Tensor> b = Tensor::Create(DataType::kFloat32, {n}, heap.get());
  Result<Tensor> c = Tensor::Zeros(DataType::kFloat32, {n}, heap.get());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_TRUE(heap->Contains(a->raw()) && heap->Contains(c->raw()));
  engine::ThreadPool pool(4);
  float* pa = a->data<float>();
  float* pb = b->data<float>();
  float* pc = c->data<float>();
  pool.ParallelFor(n, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      pa[i] = static_cast<float>(i % 1000) * 0.5f;
      pb[i] = 2.0f - static_cast<float>(i % 7);
    }
  });
  for (int round = 0; round < 3; ++round) {
    pool.ParallelFor(n, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) pc[i] += pa[i] * pb[i] + 1.0f;
    });
  }
  for (int64_t i = 0; i < n; ++i) {
    const float x = static_cast<float>(i % 1000) * 0.5f;
    const float y = 2.0f - static_cast<float>(i % 7);
    float expected = 0.0f;
    for (int round = 0; round < 3; ++round) expected += x * y + 1.0f;
    ASSERT_EQ(pc[i], expected) << "element " << i;
  }
  const EpcStats s = heap->Stats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_GT(s.pages_in, 0u);
  EXPECT_LE(s.peak_resident_pages, heap->epc_pages());
}

// Runs a kernel with its inputs and outputs on `allocator`.
Result<std::vector<Tensor>> RunOn(engine::Allocator* allocator, const std::string& op,
                                  engine::KernelFlavor flavor, const std::vector<Tensor>& inputs) {
  std::vector<engine::testing::TestInput> placed;
  for (const Tensor& t : inputs) {
    SERDAB_ASSIGN_OR_RETURN(Tensor copy, t.Clone(allocator));
    placed.push_back(engine::testing::In(copy));
  }
  SERDAB_ASSIGN_OR_RETURN(
      engine::testing::KernelUnderTest kut,
      engine::testing::SetupKernel(op, flavor, engine::testing::MakeAttrs(), placed, 13, 2));
  engine::KernelIO io;
  for (const auto& in : placed) io.inputs.push_back(&in.tensor);
  std::vector<Tensor> outputs;
  for (const engine::TensorInfo& info : kut.outputs) {
    SERDAB_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(info.dtype, info.shape, allocator));
    outputs.push_back(std::move(t));
  }
  for (Tensor& t : outputs) io.outputs.push_back(&t);
  SERDAB_ASSIGN_OR_RETURN(
      Tensor scratch,
      Tensor::Create(DataType::kInt64, {static_cast<int64_t>((kut.kernel->ScratchBytes() + 7) / 8)},
                     allocator));
  io.scratch = scratch.raw();
  engine::ThreadPool pool(2);
  io.pool = &pool;
  SERDAB_RETURN_IF_ERROR(kut.kernel->Run(io));
  return outputs;
}

TEST(EpcEngineTest, MatMulKernelsAgreeWithTheProcessHeap) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  // A, B and C together are twice the budget.
  std::mt19937 rng(7);
  std::vector<Tensor> inputs = {engine::testing::RandomFloatTensor({256, 256}, &rng),
                                engine::testing::RandomFloatTensor({256, 128}, &rng)};
  for (engine::KernelFlavor flavor :
       {engine::KernelFlavor::kReference, engine::KernelFlavor::kOptimized}) {
    Result<std::vector<Tensor>> on_heap = RunOn(engine::HeapAllocator(), "MatMul", flavor, inputs);
    ASSERT_TRUE(on_heap.ok()) << on_heap.status().ToString();
    heap->ResetStats();
    Result<std::vector<Tensor>> on_epc = RunOn(heap.get(), "MatMul", flavor, inputs);
    ASSERT_TRUE(on_epc.ok()) << on_epc.status().ToString();
    ASSERT_TRUE(heap->Contains((*on_epc)[0].raw()));
    engine::testing::ExpectTensorEqual((*on_epc)[0], (*on_heap)[0]);
    EXPECT_GT(heap->Stats().evictions, 0u);
  }
}

TEST(EpcEngineTest, ReleasedTensorsLeaveTheResidentSet) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(kMiB);
  ASSERT_NE(heap, nullptr);
  {
    Result<Tensor> t = Tensor::Zeros(DataType::kInt64, {16, 1024}, heap.get());
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(heap->Stats().resident_pages, 32u);
    Result<Tensor> small = Tensor::Zeros(DataType::kFloat32, {3}, heap.get());
    ASSERT_TRUE(small.ok());
    EXPECT_EQ(heap->Stats().resident_pages, 33u);
  }
  const EpcStats s = heap->Stats();
  EXPECT_EQ(s.resident_pages, 0u);
  EXPECT_EQ(s.pages_dropped, 33u);
  EXPECT_EQ(heap->PhysicalBytes(), 0u);
}

TEST(EpcEngineTest, ExhaustedHeapIsAnError) {
  EpcConfig config;
  config.heap_bytes = kMiB;
  config.epc_bytes = kMinEpcBytes;
  Result<std::unique_ptr<EpcHeap>> heap = EpcHeap::Create(config);
  ASSERT_TRUE(heap.ok());
  Result<Tensor> t = Tensor::Create(DataType::kFloat32, {1024, 1024}, heap->get());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Status::Code::kResourceExhausted);
  EXPECT_NE(t.status().message().find("epc"), std::string::npos);
}

}  // namespace
}  // namespace serdab::epc
