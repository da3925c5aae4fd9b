#include "enclave/engine/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
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

// The pieces fn sees: each chunk of ChunkRange cut by PiecesPerChunk.
std::set<std::pair<int64_t, int64_t>> ExpectedPieces(int64_t n, int64_t grain, int threads) {
  std::set<std::pair<int64_t, int64_t>> pieces;
  const int64_t chunks = ThreadPool::NumChunks(n, grain, threads);
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t b, e;
    ThreadPool::ChunkRange(n, chunks, c, &b, &e);
    const int64_t count = ThreadPool::PiecesPerChunk(e - b, grain);
    for (int64_t p = 0; p < count; ++p) {
      int64_t pb, pe;
      ThreadPool::ChunkRange(e - b, count, p, &pb, &pe);
      pieces.insert({b + pb, b + pe});
    }
  }
  return pieces;
}

TEST(ThreadPoolTest, PiecesDependOnlyOnSizes) {
  ThreadPool pool(4);
  for (int64_t grain : {1, 10, 300}) {
    for (int round = 0; round < 50; ++round) {
      std::mutex mu;
      std::set<std::pair<int64_t, int64_t>> pieces;
      pool.ParallelFor(1000, grain, [&](int64_t b, int64_t e) {
        std::lock_guard<std::mutex> lock(mu);
        pieces.insert({b, e});
      });
      ASSERT_EQ(pieces, ExpectedPieces(1000, grain, 4)) << "grain " << grain;
    }
  }
}

TEST(ThreadPoolTest, FewItemsGetOnePieceEach) {
  // Kernels that plan one scratch slice per chunk loop over k <= threads
  // items with grain 1 and rely on one call per item.
  for (int64_t k = 1; k <= 4; ++k) {
    EXPECT_EQ(ExpectedPieces(k, 1, 4).size(), static_cast<size_t>(k));
  }
  EXPECT_EQ(ThreadPool::PiecesPerChunk(1, 1), 1);
  EXPECT_EQ(ThreadPool::PiecesPerChunk(100, 1), ThreadPool::kMaxPieces);
  EXPECT_EQ(ThreadPool::PiecesPerChunk(100, 40), 2);
}

TEST(ThreadPoolTest, AStalledThreadsPiecesAreTakenByTheOthers) {
  // The worker sleeps in the first piece it takes, as a descheduled vCPU
  // would; the caller must finish its own chunk and then take the rest of the
  // worker's chunk from its far end instead of waiting.
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  const int64_t n = 2 * ThreadPool::kMaxPieces;
  std::vector<std::atomic<int>> hits(n);
  std::atomic<bool> stalled{false};
  std::mutex mu;
  std::set<int64_t> caller_items;
  pool.ParallelFor(n, 1, [&](int64_t b, int64_t e) {
    if (std::this_thread::get_id() != caller && !stalled.exchange(true)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    if (std::this_thread::get_id() == caller) {
      std::lock_guard<std::mutex> lock(mu);
      for (int64_t i = b; i < e; ++i) caller_items.insert(i);
    }
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
  // Chunk 1 is [n/2, n): the caller ran at least its last piece.
  EXPECT_TRUE(caller_items.count(n - 1)) << "the caller did not take over the stalled chunk";
  // The caller ran all of its own chunk.
  for (int64_t i = 0; i < n / 2; ++i) EXPECT_TRUE(caller_items.count(i)) << i;
}

// CurrentThread() names the thread running a piece, 0 for the caller, each
// index one thread, including for pieces a thread took from another's chunk
// (kernels index per-thread scratch with it); outside a loop it is 0.
TEST(ThreadPoolTest, CurrentThreadNamesTheRunningThread) {
  EXPECT_EQ(ThreadPool::CurrentThread(), 0);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    const std::thread::id caller = std::this_thread::get_id();
    std::mutex mu;
    std::vector<std::set<std::thread::id>> ids(threads);
    for (int loop = 0; loop < 50; ++loop) {
      pool.ParallelFor(1000, 1, [&](int64_t, int64_t) {
        const int self = ThreadPool::CurrentThread();
        ASSERT_GE(self, 0);
        ASSERT_LT(self, threads);
        std::lock_guard<std::mutex> lock(mu);
        ids[self].insert(std::this_thread::get_id());
      });
    }
    std::set<std::thread::id> all;
    for (int t = 0; t < threads; ++t) {
      EXPECT_LE(ids[t].size(), 1u) << "index " << t << " named several threads";
      all.insert(ids[t].begin(), ids[t].end());
    }
    EXPECT_EQ(ids[0], std::set<std::thread::id>{caller});
    EXPECT_EQ(all.size(), [&] {
      size_t used = 0;
      for (const auto& s : ids) used += s.size();
      return used;
    }()) << "one thread under several indices";
    EXPECT_EQ(ThreadPool::CurrentThread(), 0);
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

// Polls for up to two seconds until `pool` has `n` sleeping workers.
bool SleepersReach(const ThreadPool& pool, int n) {
  for (int i = 0; i < 2000; ++i) {
    if (pool.SleepingWorkers() == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// A loop that returns only after the worker has run a piece of it: the
// caller's piece waits for the worker's, so the caller cannot take it.
void LoopWithTheWorker(ThreadPool* pool) {
  std::atomic<bool> worker_ran{false};
  pool->ParallelFor(2, 1, [&](int64_t, int64_t) {
    if (ThreadPool::CurrentThread() != 0) {
      worker_ran.store(true);
      return;
    }
    while (!worker_ran.load()) std::this_thread::yield();
  });
}

// Without a BusyScope an idle worker sleeps soon after a loop. Within one it
// spins through a gap of a millisecond between loops (the layers of a
// frame), and once the scope ends it sleeps again.
TEST(ThreadPoolTest, ABusyScopeKeepsWorkersSpinningBetweenLoops) {
  ThreadPool pool(2);
  LoopWithTheWorker(&pool);
  ASSERT_TRUE(SleepersReach(pool, 1)) << "an idle worker never went to sleep";
  {
    const ThreadPool::BusyScope busy(&pool);
    // The gap is a quarter of the busy spin; a host that stalls this thread
    // for longer gets another try.
    bool stayed_awake = false;
    for (int attempt = 0; attempt < 5 && !stayed_awake; ++attempt) {
      LoopWithTheWorker(&pool);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      stayed_awake = pool.SleepingWorkers() == 0;
    }
    EXPECT_TRUE(stayed_awake) << "the worker slept between two loops of a busy scope";
  }
  EXPECT_TRUE(SleepersReach(pool, 1)) << "the worker kept spinning after the scope ended";
}

// A pool built to sleep at once puts its idle worker to sleep right after
// a loop, even inside a BusyScope (where a spinning pool's worker spins for
// 4 ms): a client that seals a frame leaves every core to the enclave.
TEST(ThreadPoolTest, ASleepingPoolsWorkersSleepRightAfterALoop) {
  ThreadPool pool(2, ThreadPool::IdleWorkers::kSleep);
  const ThreadPool::BusyScope busy(&pool);
  bool slept_at_once = false;
  for (int attempt = 0; attempt < 5 && !slept_at_once; ++attempt) {
    LoopWithTheWorker(&pool);
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2)) {
      if (pool.SleepingWorkers() == 1) {
        slept_at_once = true;
        break;
      }
    }
  }
  EXPECT_TRUE(slept_at_once) << "the worker spun after its loop";
}

// ForEachOn runs each item once, on the pool's threads or inline.
TEST(ThreadPoolTest, ForEachOnRunsEachItemOnce) {
  ThreadPool pool(3);
  for (ThreadPool* p : {&pool, static_cast<ThreadPool*>(nullptr)}) {
    std::vector<std::atomic<int>> seen(11);
    ForEachOn(p)(seen.size(), [&](size_t i) { seen[i].fetch_add(1); });
    for (const std::atomic<int>& count : seen) EXPECT_EQ(count.load(), 1);
  }
}

}  // namespace
}  // namespace serdab::engine
