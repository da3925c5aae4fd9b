#include "worker/stage_runner.h"

#include <utility>

namespace serdab::worker {

StageRunner::StageRunner(size_t depth) : depth_(depth == 0 ? 1 : depth) {
  thread_ = std::thread([this] { Loop(); });
}

StageRunner::~StageRunner() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool StageRunner::TryPush(Job job, std::function<void()> on_room) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (jobs_.size() >= depth_) {
      waiting_.push_back(std::move(on_room));
      return false;
    }
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

size_t StageRunner::queued() {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

void StageRunner::Loop() {
  for (;;) {
    Job job;
    std::vector<std::function<void()>> wake;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      wake.swap(waiting_);
    }
    for (auto& w : wake) w();
    job();
  }
}

}  // namespace serdab::worker
