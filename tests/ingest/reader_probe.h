// ReaderProbe: the callbacks of a CameraReader under test, recording what
// arrives so the test can wait for it with a bound.
#ifndef SERDAB_TESTS_INGEST_READER_PROBE_H_
#define SERDAB_TESTS_INGEST_READER_PROBE_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "cli/ingest/camera_reader.h"

namespace serdab::ingest::testing {

class ReaderProbe {
 public:
  // The frame callback; keeps each frame without its tensor unless `keep_tensors`.
  FrameCallback Frames(bool keep_tensors = false) {
    return [this, keep_tensors](Frame frame) {
      if (!keep_tensors) frame.tensor.clear();
      std::lock_guard<std::mutex> lock(mutex_);
      frames_.push_back(std::move(frame));
      changed_.notify_all();
    };
  }
  EventCallback Events() {
    return [this](const Event& event) {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(event);
      changed_.notify_all();
    };
  }

  std::vector<Frame> frames() {
    std::lock_guard<std::mutex> lock(mutex_);
    return frames_;
  }
  size_t frame_count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return frames_.size();
  }
  std::vector<Event> events() {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_;
  }
  int Count(EventKind kind) {
    std::lock_guard<std::mutex> lock(mutex_);
    int n = 0;
    for (const Event& e : events_) n += e.kind == kind;
    return n;
  }

  // True once `done(frames, events)` holds (checked, under the probe's lock,
  // whenever a frame or event arrives).
  using Predicate = std::function<bool(const std::vector<Frame>&, const std::vector<Event>&)>;
  bool WaitFor(const Predicate& done, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return done(frames_, events_); });
  }
  bool WaitForFrames(size_t n, std::chrono::milliseconds timeout) {
    return WaitFor([n](const auto& frames, const auto&) { return frames.size() >= n; }, timeout);
  }
  bool WaitForEvent(EventKind kind, int n, std::chrono::milliseconds timeout) {
    return WaitFor(
        [kind, n](const auto&, const auto& events) {
          int seen = 0;
          for (const Event& e : events) seen += e.kind == kind;
          return seen >= n;
        },
        timeout);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Frame> frames_;
  std::vector<Event> events_;
};

}  // namespace serdab::ingest::testing

#endif  // SERDAB_TESTS_INGEST_READER_PROBE_H_
