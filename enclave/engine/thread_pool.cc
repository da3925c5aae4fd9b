#include "enclave/engine/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace serdab::engine {
namespace {

// Threads spin this long for the next loop, or for the last pieces of one,
// before sleeping. A frame issues several loops per layer back to back, and
// on a VM being woken costs tens of microseconds; the bound keeps an idle
// pool from burning a core. Timed, not counted: a pause takes 10 cycles on
// some cores and 140 on others.
constexpr std::chrono::microseconds kSpin(400);
// Within a BusyScope.
constexpr std::chrono::microseconds kBusySpin(4000);
// Pauses between looks at the clock.
constexpr int kPausesPerClockRead = 64;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// The index of the pool thread running a piece on this thread (see
// CurrentThread), set for the duration of the pieces it runs.
thread_local int current_thread = 0;

class CurrentThreadScope {
 public:
  explicit CurrentThreadScope(int self) : saved_(current_thread) { current_thread = self; }
  ~CurrentThreadScope() { current_thread = saved_; }
  CurrentThreadScope(const CurrentThreadScope&) = delete;
  CurrentThreadScope& operator=(const CurrentThreadScope&) = delete;

 private:
  const int saved_;
};

constexpr uint64_t Window(uint64_t front, uint64_t back) { return back << 32 | front; }
constexpr uint64_t Front(uint64_t window) { return window & 0xffffffffu; }
constexpr uint64_t Back(uint64_t window) { return window >> 32; }

}  // namespace

ThreadPool::ThreadPool(int num_threads, IdleWorkers idle)
    : num_threads_(std::max(1, num_threads)),
      idle_(idle),
      chunk_states_(new ChunkState[num_threads_]),
      worker_slots_(new WorkerSlot[num_threads_]) {
  for (int i = 1; i < num_threads_; ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  if (workers_.empty()) return;
  generation_.fetch_add(1, std::memory_order_seq_cst);
  for (int w = 1; w < num_threads_; ++w) {
    while (worker_slots_[w].reading.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }
  stop_ = true;
  generation_.fetch_add(1, std::memory_order_seq_cst);
  { std::lock_guard<std::mutex> lock(mu_); }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

int ThreadPool::CurrentThread() { return current_thread; }

int64_t ThreadPool::NumChunks(int64_t n, int64_t grain, int num_threads) {
  if (n <= 0) return 0;
  grain = std::max<int64_t>(1, grain);
  return std::clamp<int64_t>(n / grain, 1, num_threads);
}

void ThreadPool::ChunkRange(int64_t n, int64_t chunks, int64_t i, int64_t* begin, int64_t* end) {
  *begin = n * i / chunks;
  *end = n * (i + 1) / chunks;
}

int64_t ThreadPool::PiecesPerChunk(int64_t size, int64_t grain) {
  return std::clamp<int64_t>(size / std::max<int64_t>(1, grain), 1, kMaxPieces);
}

void ThreadPool::RunPiece(int64_t chunk, int64_t piece) {
  int64_t chunk_begin, chunk_end;
  ChunkRange(n_, chunks_, chunk, &chunk_begin, &chunk_end);
  const int64_t size = chunk_end - chunk_begin;
  int64_t begin, end;
  ChunkRange(size, PiecesPerChunk(size, grain_), piece, &begin, &end);
  (*fn_)(chunk_begin + begin, chunk_begin + end);
}

bool ThreadPool::TakeFront(int64_t chunk, int64_t* piece) {
  std::atomic<uint64_t>& window = chunk_states_[chunk].window;
  uint64_t w = window.load(std::memory_order_relaxed);
  while (Front(w) < Back(w)) {
    if (window.compare_exchange_weak(w, Window(Front(w) + 1, Back(w)), std::memory_order_relaxed)) {
      *piece = static_cast<int64_t>(Front(w));
      return true;
    }
  }
  return false;
}

bool ThreadPool::TakeBack(int64_t chunk, int64_t* piece) {
  std::atomic<uint64_t>& window = chunk_states_[chunk].window;
  uint64_t w = window.load(std::memory_order_relaxed);
  while (Front(w) < Back(w)) {
    if (window.compare_exchange_weak(w, Window(Front(w), Back(w) - 1), std::memory_order_relaxed)) {
      *piece = static_cast<int64_t>(Back(w) - 1);
      return true;
    }
  }
  return false;
}

template <typename Ready>
bool ThreadPool::SpinUntil(Ready ready) const {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < kPausesPerClockRead; ++i) {
      if (ready()) return true;
      CpuRelax();
    }
    const auto spun = std::chrono::steady_clock::now() - start;
    // A scope that ends while we spin shortens the spin to the short one.
    if (spun >= kBusySpin || (spun >= kSpin && busy_scopes_.load(std::memory_order_relaxed) == 0)) {
      return ready();
    }
  }
}

void ThreadPool::RunPieces(int self) {
  const CurrentThreadScope scope(self);
  int64_t done = 0;
  int64_t piece;
  if (self < chunks_) {
    while (TakeFront(self, &piece)) {
      RunPiece(self, piece);
      ++done;
    }
  }
  // Then help the others, nearest chunk first, from the far end of theirs.
  for (int64_t k = 1; k <= chunks_; ++k) {
    const int64_t chunk = (self + k) % chunks_;
    if (chunk == self) continue;
    while (TakeBack(chunk, &piece)) {
      RunPiece(chunk, piece);
      ++done;
    }
  }
  if (done == 0) return;
  if (pending_.fetch_sub(done, std::memory_order_seq_cst) == done &&
      caller_sleeping_.load(std::memory_order_seq_cst)) {
    { std::lock_guard<std::mutex> lock(mu_); }
    done_.notify_all();
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t chunks = NumChunks(n, grain, num_threads_);
  if (chunks == 0) return;
  grain = std::max<int64_t>(1, grain);
  if (chunks == 1) {
    const CurrentThreadScope scope(0);
    const int64_t pieces = PiecesPerChunk(n, grain);
    for (int64_t p = 0; p < pieces; ++p) {
      int64_t begin, end;
      ChunkRange(n, pieces, p, &begin, &end);
      fn(begin, end);
    }
    return;
  }
  // An odd generation tells workers that a loop is being written. A worker
  // still registered for the previous loop (it woke late and found nothing
  // left) leaves within a few instructions; wait for it before rewriting
  // what it reads. EnterLoop's re-check of the generation pairs with this.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  for (int w = 1; w < num_threads_; ++w) {
    while (worker_slots_[w].reading.load(std::memory_order_seq_cst) != 0) CpuRelax();
  }
  fn_ = &fn;
  n_ = n;
  chunks_ = chunks;
  grain_ = grain;
  int64_t pieces = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t begin, end;
    ChunkRange(n, chunks, c, &begin, &end);
    const int64_t chunk_pieces = PiecesPerChunk(end - begin, grain);
    chunk_states_[c].window.store(Window(0, static_cast<uint64_t>(chunk_pieces)),
                                  std::memory_order_relaxed);
    pieces += chunk_pieces;
  }
  pending_.store(pieces, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleeping_workers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    wake_.notify_all();
  }
  RunPieces(0);
  // The others' last pieces end within microseconds of ours: spin for them
  // before sleeping, since being woken costs more than a small layer.
  auto finished = [this] { return pending_.load(std::memory_order_seq_cst) == 0; };
  if (SpinUntil(finished)) return;
  std::unique_lock<std::mutex> lock(mu_);
  caller_sleeping_.store(true, std::memory_order_seq_cst);
  done_.wait(lock, finished);
  caller_sleeping_.store(false, std::memory_order_relaxed);
}

uint64_t ThreadPool::EnterLoop(int self) {
  const uint64_t generation = generation_.load(std::memory_order_seq_cst);
  if (generation % 2 != 0) return 0;
  std::atomic<uint64_t>& reading = worker_slots_[self].reading;
  reading.store(generation, std::memory_order_seq_cst);
  if (generation_.load(std::memory_order_seq_cst) != generation) {
    reading.store(0, std::memory_order_release);
    return 0;
  }
  return generation;
}

void ThreadPool::WorkerLoop(int self) {
  uint64_t seen = 0;
  auto ready = [&] {
    const uint64_t generation = generation_.load(std::memory_order_seq_cst);
    return generation != seen && generation % 2 == 0;
  };
  for (;;) {
    if (idle_ == IdleWorkers::kSleep || !SpinUntil(ready)) {
      std::unique_lock<std::mutex> lock(mu_);
      sleeping_workers_.fetch_add(1, std::memory_order_seq_cst);
      wake_.wait(lock, ready);
      sleeping_workers_.fetch_sub(1, std::memory_order_relaxed);
    }
    const uint64_t generation = EnterLoop(self);
    if (generation == 0) continue;
    seen = generation;
    const bool stop = stop_;
    if (!stop) RunPieces(self);
    worker_slots_[self].reading.store(0, std::memory_order_seq_cst);
    if (stop) return;
  }
}

std::function<void(size_t, const std::function<void(size_t)>&)> ForEachOn(ThreadPool* pool) {
  return [pool](size_t count, const std::function<void(size_t)>& body) {
    auto items = [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) body(static_cast<size_t>(i));
    };
    if (pool == nullptr) {
      items(0, static_cast<int64_t>(count));
    } else {
      pool->ParallelFor(static_cast<int64_t>(count), 1, items);
    }
  };
}

}  // namespace serdab::engine
