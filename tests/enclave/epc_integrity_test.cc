// The host's attacks on evicted EPC pages: a page whose sealed bytes were
// changed, replayed from an older eviction, or moved from another page must
// not come back; the enclave dies at page-in, as an SGX enclave would.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "enclave/epc/epc_heap.h"

namespace serdab::epc {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

std::unique_ptr<EpcHeap> MakeHeap() {
  EpcConfig config;
  config.heap_bytes = 8 * kMiB;
  config.epc_bytes = kMinEpcBytes;
  Result<std::unique_ptr<EpcHeap>> heap = EpcHeap::Create(config);
  if (!heap.ok()) {
    ADD_FAILURE() << heap.status().ToString();
    return nullptr;
  }
  return std::move(heap).value();
}

// Reads every word of the page so the compiler cannot skip the page-in.
uint64_t Touch(const uint64_t* page) {
  uint64_t sum = 0;
  for (size_t i = 0; i < kPageBytes / 8; ++i) sum += static_cast<const volatile uint64_t*>(page)[i];
  return sum;
}

class EpcIntegrityDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(EpcIntegrityDeathTest, TamperedPageIsDetectedAtPageIn) {
  EXPECT_DEATH(
      {
        std::unique_ptr<EpcHeap> heap = MakeHeap();
        auto* page = static_cast<uint64_t*>(heap->Allocate(kPageBytes));
        page[0] = 42;
        if (!heap->Evict(page).ok() || !heap->HostTamper(page).ok()) return;
        Touch(page);
      },
      "serdab epc: integrity violation: page 0 \\(version 1\\) failed authentication at "
      "page-in");
}

TEST_F(EpcIntegrityDeathTest, RolledBackPageIsDetectedAtPageIn) {
  EXPECT_DEATH(
      {
        std::unique_ptr<EpcHeap> heap = MakeHeap();
        auto* page = static_cast<uint64_t*>(heap->Allocate(kPageBytes));
        page[0] = 1;
        if (!heap->Evict(page).ok()) return;
        Result<SealedPage> old = heap->HostCopySealedPage(page);  // the host keeps version 1
        if (!old.ok()) return;
        page[0] = 2;  // page-in (verifies fine), then a new value
        if (!heap->Evict(page).ok()) return;
        if (!heap->HostReplaceSealedPage(page, *old).ok()) return;
        Touch(page);
      },
      "integrity violation: page 0 \\(version 2\\).*rolled back");
}

TEST_F(EpcIntegrityDeathTest, PageMovedFromAnotherIndexIsDetected) {
  EXPECT_DEATH(
      {
        std::unique_ptr<EpcHeap> heap = MakeHeap();
        auto* pages = static_cast<uint64_t*>(heap->Allocate(2 * kPageBytes));
        uint64_t* second = pages + kPageBytes / 8;
        pages[0] = 1;
        second[0] = 2;
        if (!heap->Evict(pages).ok() || !heap->Evict(second).ok()) return;
        Result<SealedPage> first = heap->HostCopySealedPage(pages);
        if (!first.ok() || !heap->HostReplaceSealedPage(second, *first).ok()) return;
        Touch(second);
      },
      "integrity violation: page 1 ");
}

TEST_F(EpcIntegrityDeathTest, TamperedPageFromAnEvictionBatchIsDetected) {
  // The same attack on a page the clock evicted in a batch, not the host.
  EXPECT_DEATH(
      {
        std::unique_ptr<EpcHeap> heap = MakeHeap();
        const size_t pages = 2 * heap->epc_pages();
        auto* data = static_cast<uint64_t*>(heap->Allocate(pages * kPageBytes));
        for (size_t p = 0; p < pages; ++p) data[p * kPageBytes / 8] = p;
        if (heap->Stats().eviction_passes >= heap->Stats().evictions) return;  // not batched
        uint64_t* victim = data;
        while (heap->IsResident(victim)) victim += kPageBytes / 8;
        if (!heap->HostTamper(victim).ok()) return;
        Touch(victim);
      },
      "serdab epc: integrity violation: page [0-9]+ \\(version 1\\) failed authentication");
}

TEST(EpcIntegrityTest, UntouchedSealedPagesStillVerify) {
  // The control for the death tests: the same steps without an attack.
  std::unique_ptr<EpcHeap> heap = MakeHeap();
  ASSERT_NE(heap, nullptr);
  auto* page = static_cast<uint64_t*>(heap->Allocate(kPageBytes));
  page[0] = 1;
  ASSERT_TRUE(heap->Evict(page).ok());
  Result<SealedPage> copy = heap->HostCopySealedPage(page);
  ASSERT_TRUE(copy.ok());
  ASSERT_TRUE(heap->HostReplaceSealedPage(page, *copy).ok());  // same bytes back
  EXPECT_EQ(page[0], 1u);
  EXPECT_EQ(heap->Stats().pages_in, 1u);
  heap->Deallocate(page, kPageBytes);
}

TEST(EpcIntegrityTest, SealedBytesAreNotThePlaintext) {
  std::unique_ptr<EpcHeap> heap = MakeHeap();
  ASSERT_NE(heap, nullptr);
  auto* page = static_cast<uint64_t*>(heap->Allocate(kPageBytes));
  for (size_t i = 0; i < kPageBytes / 8; ++i) page[i] = 0x5345524441425f5full;  // "__BADRES"
  ASSERT_TRUE(heap->Evict(page).ok());
  Result<SealedPage> sealed = heap->HostCopySealedPage(page);
  ASSERT_TRUE(sealed.ok());
  size_t same_words = 0;
  const auto* words = reinterpret_cast<const uint64_t*>(sealed->ciphertext.data());
  for (size_t i = 0; i < kPageBytes / 8; ++i) same_words += words[i] == 0x5345524441425f5full;
  EXPECT_EQ(same_words, 0u);
  heap->Deallocate(page, kPageBytes);
}

TEST(EpcIntegrityTest, HostCanOnlyTouchEvictedPages) {
  std::unique_ptr<EpcHeap> heap = MakeHeap();
  ASSERT_NE(heap, nullptr);
  auto* page = static_cast<uint64_t*>(heap->Allocate(kPageBytes));
  page[0] = 1;
  EXPECT_EQ(heap->HostTamper(page).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(heap->HostCopySealedPage(page).status().code(), Status::Code::kFailedPrecondition);
  uint64_t outside = 0;
  EXPECT_EQ(heap->Evict(&outside).code(), Status::Code::kInvalidArgument);
  SealedPage wrong_size;
  ASSERT_TRUE(heap->Evict(page).ok());
  EXPECT_EQ(heap->HostReplaceSealedPage(page, wrong_size).code(), Status::Code::kInvalidArgument);
  heap->Deallocate(page, kPageBytes);
}

}  // namespace
}  // namespace serdab::epc
