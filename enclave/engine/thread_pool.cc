#include "enclave/engine/thread_pool.h"

#include <algorithm>

namespace serdab::engine {
namespace {

// Workers spin this many times for the next loop before sleeping. A frame
// issues one loop per layer back to back, so a short spin saves a futex wake
// per layer; the bound keeps an idle pool from burning a core.
constexpr int kSpinIterations = 20000;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until `ready()` or kSpinIterations have passed; returns ready().
template <typename Ready>
bool SpinUntil(Ready ready) {
  for (int spin = 0; spin < kSpinIterations; ++spin) {
    if (ready()) return true;
    CpuRelax();
  }
  return ready();
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    ++generation_;
    published_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

int64_t ThreadPool::NumChunks(int64_t n, int64_t grain, int num_threads) {
  if (n <= 0) return 0;
  grain = std::max<int64_t>(1, grain);
  return std::clamp<int64_t>(n / grain, 1, num_threads);
}

void ThreadPool::ChunkRange(int64_t n, int64_t chunks, int64_t i, int64_t* begin, int64_t* end) {
  *begin = n * i / chunks;
  *end = n * (i + 1) / chunks;
}

void ThreadPool::RunChunks() {
  for (;;) {
    const int64_t i = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (i >= chunks_) return;
    int64_t begin, end;
    ChunkRange(n_, chunks_, i, &begin, &end);
    (*fn_)(begin, end);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_.notify_all();
    }
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t chunks = NumChunks(n, grain, num_threads_);
  if (chunks == 0) return;
  if (chunks == 1) {
    fn(0, n);
    return;
  }
  {
    // A worker that woke late for the previous loop may still be reading the
    // loop fields; wait for it before replacing them.
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return active_ == 0; });
    fn_ = &fn;
    n_ = n;
    chunks_ = chunks;
    next_chunk_.store(0, std::memory_order_relaxed);
    pending_.store(chunks, std::memory_order_relaxed);
    ++generation_;
    published_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  RunChunks();
  // The workers' chunks end within microseconds of the caller's: spin for
  // them before sleeping, since being woken costs the caller more than a
  // small layer's whole loop, and a frame runs several loops per layer.
  auto finished = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (SpinUntil(finished)) return;
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, finished);
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    SpinUntil([&] { return published_.load(std::memory_order_acquire) != seen; });
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait(lock, [&] { return generation_ != seen; });
    seen = generation_;
    if (stop_) return;
    ++active_;
    lock.unlock();
    RunChunks();
    lock.lock();
    if (--active_ == 0) done_.notify_all();
  }
}

}  // namespace serdab::engine
