#include "cli/ingest/camera_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

extern "C" {
#include <libavutil/frame.h>
}

namespace serdab::ingest {
namespace {

std::string Seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f s", s);
  return text;
}

std::string Size(int width, int height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

}  // namespace

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kConnected:
      return "connected";
    case EventKind::kConnectFailed:
      return "connect failed";
    case EventKind::kDisconnected:
      return "disconnected";
    case EventKind::kReconnecting:
      return "reconnecting";
    case EventKind::kResumed:
      return "resumed";
    case EventKind::kResolutionChanged:
      return "resolution changed";
    case EventKind::kCorruptSkipped:
      return "corrupt data skipped";
    case EventKind::kEndOfFile:
      return "end of file";
  }
  return "unknown";
}

Status ValidateReaderOptions(const ReaderOptions& options) {
  SERDAB_RETURN_IF_ERROR(ValidatePreprocessOptions(options.preprocess));
  auto positive = [](double value, const char* field) {
    return value > 0 && std::isfinite(value)
               ? Status::Ok()
               : Status::InvalidArgument(std::string(field) + ": expected a positive number, got " +
                                         std::to_string(value));
  };
  SERDAB_RETURN_IF_ERROR(positive(options.image_fps, "image_fps"));
  SERDAB_RETURN_IF_ERROR(positive(options.reconnect_initial_seconds, "reconnect_initial_seconds"));
  SERDAB_RETURN_IF_ERROR(positive(options.reconnect_max_seconds, "reconnect_max_seconds"));
  SERDAB_RETURN_IF_ERROR(positive(options.watchdog_seconds, "watchdog_seconds"));
  if (options.reconnect_max_seconds < options.reconnect_initial_seconds) {
    return Status::InvalidArgument("reconnect_max_seconds: expected at least " +
                                   std::to_string(options.reconnect_initial_seconds) +
                                   " (reconnect_initial_seconds)");
  }
  if (options.max_reconnect_attempts < 0) {
    return Status::InvalidArgument("max_reconnect_attempts: expected >= 0 (0: for ever)");
  }
  if (options.decoder_threads < 0) {
    return Status::InvalidArgument("decoder_threads: expected >= 0 (0: FFmpeg chooses)");
  }
  return Status::Ok();
}

CameraReader::CameraReader(SourceSpec spec, const ReaderOptions& options)
    : spec_(std::move(spec)), options_(options), preprocessor_(options.preprocess) {}

CameraReader::~CameraReader() { Stop(); }

Result<std::unique_ptr<CameraReader>> CameraReader::Open(const std::string& url,
                                                         const ReaderOptions& options) {
  SERDAB_RETURN_IF_ERROR(ValidateReaderOptions(options));
  SERDAB_ASSIGN_OR_RETURN(SourceSpec spec, ParseSource(url));
  std::unique_ptr<CameraReader> reader(new CameraReader(std::move(spec), options));
  if (!reader->spec_.live()) {
    SERDAB_ASSIGN_OR_RETURN(reader->first_source_,
                            OpenFrameSource(reader->spec_, reader->MakeInputOptions()));
  }
  return reader;
}

void CameraReader::Start(FrameCallback on_frame, EventCallback on_event) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (started_) return;
  started_ = true;
  on_frame_ = std::move(on_frame);
  on_event_ = std::move(on_event);
  thread_ = std::thread(&CameraReader::Run, this);
}

void CameraReader::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status CameraReader::Wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_) return Status::FailedPrecondition(spec_.url + ": reader not started");
  changed_.wait(lock, [this] { return done_; });
  return final_status_;
}

void CameraReader::Run() {
  Status status = spec_.live() ? RunLive() : RunFile();
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = true;
  final_status_ = std::move(status);
  changed_.notify_all();
}

InputOptions CameraReader::MakeInputOptions() {
  InputOptions input;
  input.io_timeout_seconds = options_.watchdog_seconds;
  input.interrupt = [this] { return ShouldInterrupt(); };
  input.on_corrupt = [this](const std::string& what) { Emit(EventKind::kCorruptSkipped, what); };
  input.image_fps = options_.image_fps;
  input.decoder_threads = options_.decoder_threads;
  return input;
}

bool CameraReader::ShouldInterrupt() {
  if (stopping()) return true;
  if (!spec_.live()) return false;
  const auto since = Clock::now() - Clock::time_point(Clock::duration(last_progress_.load()));
  if (since > std::chrono::duration<double>(options_.watchdog_seconds)) {
    watchdog_fired_ = true;
    return true;
  }
  return false;
}

void CameraReader::Emit(EventKind kind, std::string message, double seconds, int width,
                        int height) {
  if (on_event_) on_event_(Event{kind, std::move(message), seconds, width, height});
}

bool CameraReader::WaitUntil(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_until(lock, deadline, [this] { return stopping(); });
  return !stopping();
}

Status CameraReader::Deliver(const DecodedPicture& decoded, double pts_offset) {
  const AVFrame& picture = *decoded.picture;
  Frame frame;
  frame.captured_at = std::chrono::system_clock::now();
  frame.pts_seconds = decoded.pts_seconds + pts_offset;
  frame.source_width = picture.width;
  frame.source_height = picture.height;
  if (last_width_ != 0 && (picture.width != last_width_ || picture.height != last_height_)) {
    Emit(EventKind::kResolutionChanged,
         spec_.url + ": resolution changed from " + Size(last_width_, last_height_) + " to " +
             Size(picture.width, picture.height),
         0, picture.width, picture.height);
  }
  last_width_ = picture.width;
  last_height_ = picture.height;
  const int height = options_.preprocess.height, width = options_.preprocess.width;
  if (options_.pixel_input) {
    SERDAB_RETURN_IF_ERROR(preprocessor_.Pixels(picture, &frame.pixels).WithContext(spec_.url));
    frame.shape = {1, height, width, 3};
  } else {
    SERDAB_RETURN_IF_ERROR(preprocessor_.Run(picture, &frame.tensor).WithContext(spec_.url));
    frame.shape = {1, 3, height, width};
  }
  if (options_.keep_picture) {
    auto rgb = std::make_shared<RgbImage>();
    SERDAB_RETURN_IF_ERROR(preprocessor_.Picture(picture, rgb.get()).WithContext(spec_.url));
    frame.picture = std::move(rgb);
  }

  if (options_.realtime && !spec_.live()) {
    if (!pace_start_) {
      pace_start_ = Clock::now();
      pace_pts_ = frame.pts_seconds;
    } else {
      const auto due =
          *pace_start_ + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(frame.pts_seconds - pace_pts_));
      if (!WaitUntil(due)) return Status::Ok();
    }
  }
  frame.number = next_number_++;
  on_frame_(std::move(frame));
  // The watchdog counts from here: time the client spent in the callback is
  // not the camera's silence.
  last_progress_ = Clock::now().time_since_epoch().count();
  return Status::Ok();
}

Status CameraReader::RunFile() {
  std::unique_ptr<FrameSource> source = std::move(first_source_);
  double pts_offset = 0;
  while (true) {
    int64_t frames = 0;
    double last_pts = 0, period = 1.0 / options_.image_fps;
    while (true) {
      Result<DecodedPicture> next = source->Next();
      if (stopping()) return Status::Ok();
      if (!next.ok()) return next.status();
      if (next->picture == nullptr) break;
      if (frames > 0 && next->pts_seconds > last_pts) period = next->pts_seconds - last_pts;
      last_pts = next->pts_seconds;
      ++frames;
      SERDAB_RETURN_IF_ERROR(Deliver(*next, pts_offset));
      if (stopping()) return Status::Ok();
    }
    Emit(EventKind::kEndOfFile, spec_.url + ": end after " + std::to_string(frames) + " frames" +
                                    (options_.loop ? ", looping" : ""));
    if (!options_.loop) return Status::Ok();
    if (frames == 0) return Status::Corruption(spec_.url + ": no frame decoded, nothing to loop");
    // The next pass continues the timeline one frame period after this one.
    pts_offset += last_pts + period;
    Result<std::unique_ptr<FrameSource>> reopened = OpenFrameSource(spec_, MakeInputOptions());
    if (stopping()) return Status::Ok();
    if (!reopened.ok()) return reopened.status();
    source = std::move(reopened).value();
  }
}

Status CameraReader::RunLive() {
  const std::string watchdog_message =
      spec_.url + ": no frame for " + Seconds(options_.watchdog_seconds) + " (watchdog)";
  int failures = 0;  // consecutive attempts that brought no frame
  std::optional<Clock::time_point> last_frame_at;
  bool lost = false;  // frames stopped; the next one is a resumption
  while (!stopping()) {
    watchdog_fired_ = false;
    last_progress_ = Clock::now().time_since_epoch().count();
    std::string why;
    Result<std::unique_ptr<FrameSource>> opened = OpenFrameSource(spec_, MakeInputOptions());
    if (stopping()) break;
    if (!opened.ok()) {
      why = watchdog_fired_ ? watchdog_message : opened.status().message();
      Emit(EventKind::kConnectFailed, why);
    } else {
      Emit(EventKind::kConnected, spec_.url + ": connected");
      std::unique_ptr<FrameSource> source = std::move(opened).value();
      while (true) {
        Result<DecodedPicture> next = source->Next();
        if (stopping()) return Status::Ok();
        if (!next.ok()) {
          why = next.status().message();
          break;
        }
        if (next->picture == nullptr) {
          why = spec_.url + ": the stream ended";
          break;
        }
        if (lost && last_frame_at) {
          const double gap = std::chrono::duration<double>(Clock::now() - *last_frame_at).count();
          Emit(EventKind::kResumed, spec_.url + ": frames again after a gap of " + Seconds(gap),
               gap);
        }
        lost = false;
        failures = 0;
        Status delivered = Deliver(*next, 0);
        if (stopping()) return Status::Ok();
        if (!delivered.ok()) {
          why = delivered.message();
          break;
        }
        last_frame_at = Clock::now();
      }
      if (watchdog_fired_) why = watchdog_message;
      Emit(EventKind::kDisconnected, why);
    }
    lost = true;
    ++failures;
    if (options_.max_reconnect_attempts > 0 && failures >= options_.max_reconnect_attempts) {
      return Status::IoError(spec_.url + ": gave up after " + std::to_string(failures) +
                             " failed attempts; the last: " + why);
    }
    const double delay = std::min(options_.reconnect_initial_seconds * std::pow(2.0, failures - 1),
                                  options_.reconnect_max_seconds);
    Emit(EventKind::kReconnecting, spec_.url + ": reconnecting in " + Seconds(delay), delay);
    if (!WaitUntil(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(delay)))) {
      break;
    }
  }
  return Status::Ok();
}

}  // namespace serdab::ingest
