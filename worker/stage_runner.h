// StageRunner: one enclave's frame queue and the thread that drains it.
//
// A stage processes one frame at a time (the enclave runs its layers on all
// its threads), so its frames wait in a FIFO of bounded depth. TryPush never
// blocks: when the queue is full it remembers the caller's wake-up, which
// runs once a frame has left the queue, and the caller (a pipe that stopped
// reading from its socket) tries again. That is how a slow stage pushes back
// to the stages and the client before it without any unbounded buffer. Jobs
// run in the order they were queued, on the runner's thread, which may block
// inside a job (on the next stage's link) and so push back in turn.
#ifndef SERDAB_WORKER_STAGE_RUNNER_H_
#define SERDAB_WORKER_STAGE_RUNNER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace serdab::worker {

class StageRunner {
 public:
  using Job = std::function<void()>;

  explicit StageRunner(size_t depth);
  // Runs the queued jobs, then stops the thread.
  ~StageRunner();
  StageRunner(const StageRunner&) = delete;
  StageRunner& operator=(const StageRunner&) = delete;

  // Queues `job` and returns true, or returns false when `depth` jobs wait;
  // then `on_room` runs (on the runner's thread, without its lock) once one
  // has left the queue.
  bool TryPush(Job job, std::function<void()> on_room);

  size_t depth() const { return depth_; }
  size_t queued();

 private:
  void Loop();

  const size_t depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<std::function<void()>> waiting_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_STAGE_RUNNER_H_
