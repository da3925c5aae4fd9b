// EPC stress: a working set several times the resident budget, random reads
// and writes from several threads, every byte verified at the end, and the
// counters checked against each other and against the kernel's view of the
// heap's physical memory. Built to run under ThreadSanitizer too
// (-DSERDAB_SANITIZE=thread).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "enclave/epc/epc_heap.h"

namespace serdab::epc {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Words of a working set spread over several allocations, addressed as one
// array. Every access is a relaxed atomic: threads read each other's words,
// and that must not be a data race for ThreadSanitizer; on x86 these are
// plain loads and stores, so the paging they cause is the same.
class WorkingSet {
 public:
  WorkingSet(EpcHeap* heap, size_t buffers, size_t buffer_bytes)
      : heap_(heap), buffer_bytes_(buffer_bytes), words_per_buffer_(buffer_bytes / 8) {
    for (size_t b = 0; b < buffers; ++b) {
      buffers_.push_back(static_cast<uint64_t*>(heap->Allocate(buffer_bytes)));
    }
  }
  ~WorkingSet() {
    for (uint64_t* p : buffers_) heap_->Deallocate(p, buffer_bytes_);
  }
  bool ok() const {
    return std::none_of(buffers_.begin(), buffers_.end(), [](uint64_t* p) { return !p; });
  }
  size_t words() const { return buffers_.size() * words_per_buffer_; }
  size_t pages() const { return buffers_.size() * buffer_bytes_ / kPageBytes; }
  std::atomic_ref<uint64_t> operator[](size_t i) const {
    return std::atomic_ref<uint64_t>(buffers_[i / words_per_buffer_][i % words_per_buffer_]);
  }

 private:
  EpcHeap* heap_;
  size_t buffer_bytes_;
  size_t words_per_buffer_;
  std::vector<uint64_t*> buffers_;
};

void ExpectConsistent(const EpcStats& s, uint64_t epc_pages) {
  EXPECT_EQ(s.page_faults, s.pages_in + s.zero_fills);
  EXPECT_LE(s.evictions, s.page_faults);
  EXPECT_LE(s.pages_in, s.evictions);
  EXPECT_LE(s.swaps, s.page_faults);
  EXPECT_EQ(s.resident_pages, s.page_faults - s.evictions - s.pages_dropped);
  EXPECT_LE(s.resident_pages, epc_pages);
  EXPECT_LE(s.peak_resident_pages, epc_pages);
  EXPECT_EQ(s.bytes_paged_in(), s.pages_in * kPageBytes);
  EXPECT_EQ(s.bytes_paged_out(), s.evictions * kPageBytes);
}

struct StressParams {
  int threads;
  size_t epc_bytes;
  size_t oversubscription;  // working set / budget
  int ops_per_thread;
};

void RunStress(const StressParams& params) {
  EpcConfig config;
  config.heap_bytes = 64 * kMiB;
  config.epc_bytes = params.epc_bytes;
  Result<std::unique_ptr<EpcHeap>> created = EpcHeap::Create(config);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EpcHeap& heap = **created;
  const uint64_t epc_pages = heap.epc_pages();

  // Three allocations, so that faults cross allocation boundaries.
  const size_t total = params.oversubscription * params.epc_bytes;
  WorkingSet ws(&heap, 3, total / 3 / kPageBytes * kPageBytes);
  ASSERT_TRUE(ws.ok());
  const size_t words = ws.words();
  for (size_t w = 0; w < words; ++w) ws[w].store(Mix(w), std::memory_order_relaxed);

  // Thread t owns the words w with w % threads == t: only it writes them,
  // and its shadow copy says what each must hold. Everyone reads everything.
  const int threads = params.threads;
  std::vector<std::vector<uint64_t>> shadow(threads);
  for (int t = 0; t < threads; ++t) {
    for (size_t w = t; w < words; w += threads) shadow[t].push_back(Mix(w));
  }
  std::vector<uint64_t> stale_reads(threads, 0);
  std::atomic<bool> done{false};
  uint64_t max_resident = 0;
  size_t max_physical = 0;
  std::thread monitor([&] {
    while (!done.load()) {
      max_resident = std::max(max_resident, heap.Stats().resident_pages);
      max_physical = std::max(max_physical, heap.PhysicalBytes());
      // PhysicalBytes takes the pager's lock: sample it, don't contend for it.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(1234 + t);
      std::vector<uint64_t>& mine = shadow[t];
      for (int op = 0; op < params.ops_per_thread; ++op) {
        const uint64_t r = rng();
        const size_t slot = (r >> 8) % mine.size();
        const size_t word = slot * threads + t;
        switch (r & 3) {
          case 0:
          case 1: {
            const uint64_t value = Mix(r);
            ws[word].store(value, std::memory_order_relaxed);
            mine[slot] = value;
            break;
          }
          case 2:
            if (ws[word].load(std::memory_order_relaxed) != mine[slot]) ++stale_reads[t];
            break;
          default:
            (void)ws[(r >> 8) % words].load(std::memory_order_relaxed);
            break;
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  done.store(true);
  monitor.join();

  for (int t = 0; t < threads; ++t) EXPECT_EQ(stale_reads[t], 0u) << "thread " << t;
  size_t lost = 0;
  for (size_t w = 0; w < words; ++w) {
    const int t = static_cast<int>(w % threads);
    if (ws[w].load(std::memory_order_relaxed) != shadow[t][w / threads]) ++lost;
  }
  EXPECT_EQ(lost, 0u) << "words that lost a write, of " << words;

  const EpcStats s = heap.Stats();
  ExpectConsistent(s, epc_pages);
  EXPECT_EQ(s.zero_fills, ws.pages());
  EXPECT_GE(s.evictions, ws.pages() - epc_pages);
  EXPECT_GT(s.pages_in, static_cast<uint64_t>(params.ops_per_thread));  // it really paged
  EXPECT_LE(max_resident, epc_pages);
  EXPECT_LE(max_physical, params.epc_bytes);
  EXPECT_LE(heap.PhysicalBytes(), params.epc_bytes);
  std::printf("[ stats    ] %s\n", s.ToJson().c_str());
}

TEST(EpcStressTest, FourThreadsSixTimesTheBudget) {
  RunStress({.threads = 4, .epc_bytes = kMiB, .oversubscription = 6, .ops_per_thread = 40000});
}

TEST(EpcStressTest, TwoThreadsEightTimesASmallBudget) {
  RunStress(
      {.threads = 2, .epc_bytes = kMinEpcBytes, .oversubscription = 8, .ops_per_thread = 40000});
}

// Several threads fault on the same few pages while the host keeps evicting
// them: a thread that waits for a page another one is filling must retry and
// see that page's contents, and no increment may be lost.
TEST(EpcStressTest, ContendedPagesUnderConstantEviction) {
  EpcConfig config;
  config.heap_bytes = 8 * kMiB;
  config.epc_bytes = kMinEpcBytes;
  Result<std::unique_ptr<EpcHeap>> created = EpcHeap::Create(config);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EpcHeap& heap = **created;
  constexpr int kThreads = 4;
  constexpr size_t kPages = 4;
  constexpr int kRounds = 200;
  auto* data = static_cast<uint64_t*>(heap.Allocate(kPages * kPageBytes));
  ASSERT_NE(data, nullptr);
  // One counter per thread per page, each on its own cache line.
  auto counter = [&](int t, size_t page) {
    return std::atomic_ref<uint64_t>(data[page * kPageBytes / 8 + t * 8]);
  };
  std::atomic<int> rounds{0};
  std::atomic<uint64_t> progress{0};  // increments done by all threads
  std::vector<std::vector<uint64_t>> expected(kThreads, std::vector<uint64_t>(kPages, 0));
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t i = 0; rounds.load() < kRounds; ++i) {
        std::atomic_ref<uint64_t> c = counter(t, i % kPages);
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        ++expected[t][i % kPages];
        progress.fetch_add(1);
      }
    });
  }
  // Each round evicts every page, then lets the workers fault them back in.
  for (; rounds.load() < kRounds; rounds.fetch_add(1)) {
    for (size_t p = 0; p < kPages; ++p) ASSERT_TRUE(heap.Evict(data + p * kPageBytes / 8).ok());
    const uint64_t target = progress.load() + 4 * kThreads * kPages;
    while (progress.load() < target) std::this_thread::yield();
  }
  for (std::thread& w : workers) w.join();
  for (int t = 0; t < kThreads; ++t) {
    for (size_t p = 0; p < kPages; ++p) {
      EXPECT_EQ(counter(t, p).load(std::memory_order_relaxed), expected[t][p])
          << "thread " << t << " page " << p;
    }
  }
  const EpcStats s = heap.Stats();
  ExpectConsistent(s, heap.epc_pages());
  EXPECT_GE(s.pages_in, static_cast<uint64_t>(kRounds));
  std::printf("[ stats    ] %s\n", s.ToJson().c_str());
  heap.Deallocate(data, kPages * kPageBytes);
}

}  // namespace
}  // namespace serdab::epc
