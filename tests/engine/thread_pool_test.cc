#include "enclave/engine/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <vector>

namespace serdab::engine {
namespace {

TEST(ThreadPoolTest, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 5, 100, 1001}) {
      std::vector<std::atomic<int>> hits(n);
      pool.ParallelFor(n, 7, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
    }
  }
}

TEST(ThreadPoolTest, ChunksDependOnlyOnSizes) {
  ThreadPool pool(4);
  for (int round = 0; round < 50; ++round) {
    std::mutex mu;
    std::set<std::pair<int64_t, int64_t>> chunks;
    pool.ParallelFor(1000, 10, [&](int64_t b, int64_t e) {
      std::lock_guard<std::mutex> lock(mu);
      chunks.insert({b, e});
    });
    std::set<std::pair<int64_t, int64_t>> expected;
    const int64_t count = ThreadPool::NumChunks(1000, 10, 4);
    for (int64_t i = 0; i < count; ++i) {
      int64_t b, e;
      ThreadPool::ChunkRange(1000, count, i, &b, &e);
      expected.insert({b, e});
    }
    ASSERT_EQ(chunks, expected);
  }
}

TEST(ThreadPoolTest, GrainLimitsChunkCount) {
  EXPECT_EQ(ThreadPool::NumChunks(10, 100, 8), 1);
  EXPECT_EQ(ThreadPool::NumChunks(300, 100, 8), 3);
  EXPECT_EQ(ThreadPool::NumChunks(300, 1, 2), 2);
  EXPECT_EQ(ThreadPool::NumChunks(0, 1, 2), 0);
}

TEST(ThreadPoolTest, ManyBackToBackLoops) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int i = 0; i < 2000; ++i) {
    pool.ParallelFor(3, 1, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
  }
  EXPECT_EQ(sum.load(), 6000);
}

}  // namespace
}  // namespace serdab::engine
