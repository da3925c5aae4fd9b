// ThreadPool: a fixed set of threads that run data-parallel loops.
//
// A loop over [0, n) is split into at most num_threads contiguous chunks, and
// chunk i belongs to thread i (the caller is thread 0). Consecutive loops of
// the same shape therefore give each thread the same part of the data: the
// rows a thread wrote in one layer are the rows it reads in the next, from its
// own cache. On a host where moving a cache line between cores costs hundreds
// of nanoseconds (vCPUs on different dies), that matters more than the
// arithmetic of a small layer.
//
// Each chunk is cut further into pieces. A thread runs its own chunk's pieces
// front to back, then takes the pieces still waiting in other chunks from
// their back ends, so a thread the host has descheduled, or a slower core,
// does not hold up the whole loop.
//
// Chunks and pieces depend only on the loop size, the grain and the thread
// count, never on timing, so results are bit-identical from run to run. The
// calling thread takes part, so a pool of one thread runs everything inline.
#ifndef SERDAB_ENCLAVE_ENGINE_THREAD_POOL_H_
#define SERDAB_ENCLAVE_ENGINE_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace serdab::engine {

class ThreadPool {
 public:
  // How idle workers wait for the next loop.
  enum class IdleWorkers {
    // Spin a while (longer in a BusyScope), then sleep: loops come back to
    // back, the layers of a frame.
    kSpin,
    // Sleep at once: loops are rare, and a spinning worker would take a core
    // from other work (a client seals a frame, then waits while the enclave
    // runs it on every core).
    kSleep,
  };

  // num_threads counts the caller: N starts N-1 worker threads. Values < 1
  // mean 1.
  explicit ThreadPool(int num_threads, IdleWorkers idle = IdleWorkers::kSpin);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) once for every piece of [0, n) (see above): at most
  // NumChunks(n, grain, num_threads()) chunks of at least `grain` items (the
  // last may be shorter), each cut into PiecesPerChunk pieces. Returns when
  // every piece is done. Calls run concurrently on distinct pieces, never more
  // than num_threads() at once. Not reentrant: fn must not call ParallelFor on
  // the same pool. One ParallelFor at a time per pool.
  //
  // A loop over k <= num_threads() items with grain 1 has one piece per item,
  // so a kernel may keep per-item scratch (one slice per chunk it plans). A
  // kernel whose pieces should move between threads keeps per-thread scratch
  // instead, indexed by CurrentThread().
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // While a BusyScope lives, the pool's threads wait for the next loop (and
  // the caller for a loop's last pieces) spinning for a few milliseconds
  // before they sleep, instead of a fraction of one: the owner is issuing
  // loops back to back, the layers of one frame, and the gaps between them
  // (a serial layer, a vCPU the host took away for a while) outlast the
  // short spin. On a VM a sleeping vCPU takes from tens of microseconds to
  // milliseconds to wake, and a worker that joins a layer late leaves its
  // share to the caller. Scopes may nest; when the last one ends, an idle
  // pool sleeps within the short spin again, so it burns no core between
  // frames.
  class BusyScope {
   public:
    explicit BusyScope(ThreadPool* pool) : pool_(pool) {
      pool_->busy_scopes_.fetch_add(1, std::memory_order_relaxed);
    }
    ~BusyScope() { pool_->busy_scopes_.fetch_sub(1, std::memory_order_relaxed); }
    BusyScope(const BusyScope&) = delete;
    BusyScope& operator=(const BusyScope&) = delete;

   private:
    ThreadPool* const pool_;
  };

  // Workers asleep now, waiting for a loop (for tests and diagnostics).
  int SleepingWorkers() const { return sleeping_workers_.load(std::memory_order_seq_cst); }

  // Within fn of a ParallelFor: the index in [0, num_threads()) of the thread
  // running it, 0 being the caller. No two pieces run at once on one index.
  static int CurrentThread();

  // How ParallelFor splits n items: the number of chunks and chunk i's range.
  static int64_t NumChunks(int64_t n, int64_t grain, int num_threads);
  static void ChunkRange(int64_t n, int64_t chunks, int64_t i, int64_t* begin, int64_t* end);
  // The pieces a chunk of `size` items is cut into (pieces are ChunkRange of
  // the chunk): as many as fit `grain` items each, at most kMaxPieces.
  static int64_t PiecesPerChunk(int64_t size, int64_t grain);
  static constexpr int64_t kMaxPieces = 4;

 private:
  // A chunk's pieces not yet taken: [front, back), packed in one word so
  // that the owner (taking the front) and thieves (taking the back) agree
  // with one compare-and-swap. One per cache line: the owner's claims stay
  // in its own cache until someone steals.
  struct alignas(64) ChunkState {
    std::atomic<uint64_t> window{0};
  };
  // Per worker: the loop generation it is reading, 0 when it reads none.
  struct alignas(64) WorkerSlot {
    std::atomic<uint64_t> reading{0};
  };

  void WorkerLoop(int self);
  // Runs the pieces thread `self` can take in the current loop.
  void RunPieces(int self);
  bool TakeFront(int64_t chunk, int64_t* piece);
  bool TakeBack(int64_t chunk, int64_t* piece);
  void RunPiece(int64_t chunk, int64_t piece);
  // Registers worker `self` as reading the loop published now; returns its
  // generation, or 0 if a new loop is being written (try again).
  uint64_t EnterLoop(int self);

  const int num_threads_;
  const IdleWorkers idle_;
  std::vector<std::thread> workers_;
  std::unique_ptr<ChunkState[]> chunk_states_;
  std::unique_ptr<WorkerSlot[]> worker_slots_;

  // The loop in flight: written by the caller only while no worker reads it
  // (see ParallelFor), published by `generation_`.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunks_ = 0;
  int64_t grain_ = 1;
  bool stop_ = false;

  // Odd while the caller writes a loop, even once it is published.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> pending_{0};  // pieces of the loop not yet finished

  // Sleeping: workers after spinning for a loop, the caller after spinning
  // for the workers' last pieces.
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<int> busy_scopes_{0};  // BusyScopes alive

  // Spins until ready() or the spin allowed now has passed; returns ready().
  template <typename Ready>
  bool SpinUntil(Ready ready) const;
};

// A loop runner over `pool`: run(count, body) calls body(i) for each i in
// [0, count), one item per piece, on the pool's threads (inline when `pool`
// is null). It is what crypto::RecordRunner takes, to seal or open a
// message's records in parallel.
std::function<void(size_t, const std::function<void(size_t)>&)> ForEachOn(ThreadPool* pool);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_THREAD_POOL_H_
