// ThreadPool: a fixed set of threads that run data-parallel loops.
//
// Work is split into contiguous chunks decided only by the loop size, the
// grain and the thread count, never by timing, so results are bit-identical
// from run to run. The calling thread takes part, so a pool of one thread runs
// everything inline.
#ifndef SERDAB_ENCLAVE_ENGINE_THREAD_POOL_H_
#define SERDAB_ENCLAVE_ENGINE_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace serdab::engine {

class ThreadPool {
 public:
  // num_threads counts the caller: N starts N-1 worker threads. Values < 1
  // mean 1.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) over [0, n), split into at most num_threads()
  // contiguous chunks of at least `grain` items (the last may be shorter), and
  // returns when every chunk is done. Not reentrant: fn must not call
  // ParallelFor on the same pool. One ParallelFor at a time per pool.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // How ParallelFor splits n items: the number of chunks and chunk i's range.
  static int64_t NumChunks(int64_t n, int64_t grain, int num_threads);
  static void ChunkRange(int64_t n, int64_t chunks, int64_t i, int64_t* begin, int64_t* end);

 private:
  void WorkerLoop();
  void RunChunks();

  const int num_threads_;
  std::vector<std::thread> workers_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  bool stop_ = false;
  uint64_t generation_ = 0;  // bumped for each ParallelFor
  int active_ = 0;           // workers inside RunChunks

  // The loop in flight.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  std::atomic<int64_t> pending_{0};
  std::atomic<uint64_t> published_{0};  // generation visible to spinning workers
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_THREAD_POOL_H_
