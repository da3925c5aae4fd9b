// CameraReader: one camera, decoded and preprocessed on its own thread.
//
//   SERDAB_ASSIGN_OR_RETURN(auto reader, CameraReader::Open("rtsp://cam/1", options));
//   reader->Start(on_frame, on_event);
//   ...
//   reader->Stop();                  // or, for a file: Status s = reader->Wait();
//
// Each preprocessed frame goes to `on_frame` on the reader's thread, in order.
// The callback may block: a file reader then waits (every frame arrives); a
// live camera's client should not block, and drops instead, because the
// camera does not wait (while it blocks, the reader reads nothing and the
// connection's buffers fill).
//
// Files and image directories end (a kEndOfFile event, then the reader
// stops) unless `loop`; they are read as fast as the callback returns, or at
// the pace of their timestamps with `realtime`. Live sources (RTSP, HTTP,
// V4L2) never end on their own: a lost, refused or silent connection is
// reported and retried with exponential backoff, and a watchdog reconnects a
// camera that stays connected but sends no frame. Frame numbers count on
// across loops and reconnects.
//
// All callbacks run on the reader's thread; they must not call Stop() or
// Wait() of their own reader.
#ifndef SERDAB_CLI_INGEST_CAMERA_READER_H_
#define SERDAB_CLI_INGEST_CAMERA_READER_H_

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/ingest/frame_source.h"
#include "cli/ingest/preprocessor.h"
#include "cli/ingest/rgb_image.h"
#include "cli/ingest/source.h"
#include "enclave/common/status.h"

namespace serdab::ingest {

struct Frame {
  int64_t number = 0;  // 0-based, +1 per delivered frame, across loops and reconnects
  // Source timestamp: pts in seconds since the start of the file (counting on
  // across loops) or of the live connection (from 0 again after a reconnect),
  // and the wall-clock time the reader decoded the frame (for a live camera,
  // its capture time plus network and decoding delay).
  double pts_seconds = 0;
  std::chrono::system_clock::time_point captured_at;
  int source_width = 0;  // the decoded picture's size, before preprocessing
  int source_height = 0;
  // 1 x 3 x height x width float32, NCHW, contiguous (PreprocessOptions);
  // with ReaderOptions::pixel_input, 1 x height x width x 3 uint8 in `pixels`
  // instead, and `tensor` is empty.
  std::array<int64_t, 4> shape{};
  std::vector<float> tensor;
  std::vector<uint8_t> pixels;
  // The decoded picture at its own size, with ReaderOptions::keep_picture
  // (for drawing results on); null otherwise.
  std::shared_ptr<const RgbImage> picture;
};

enum class EventKind {
  kConnected,          // a source was opened (message: what; width/height unknown yet: 0)
  kConnectFailed,      // a live source could not be opened (message: why)
  kDisconnected,       // a live source was lost (message: why)
  kReconnecting,       // next attempt in `seconds`
  kResumed,            // frames again after a gap of `seconds` without any
  kResolutionChanged,  // now width x height (message: from what)
  kCorruptSkipped,     // a packet or frame that failed to decode was dropped
  kEndOfFile,          // a file or image directory ended (looping or not)
};

// "connected", "connect failed", "disconnected", "reconnecting", "resumed",
// "resolution changed", "corrupt data skipped", "end of file".
const char* EventKindName(EventKind kind);

struct Event {
  EventKind kind = EventKind::kConnected;
  std::string message;  // for people: names the source
  double seconds = 0;   // kReconnecting: the delay; kResumed: the gap
  int width = 0;        // kResolutionChanged: the new size
  int height = 0;
};

struct ReaderOptions {
  PreprocessOptions preprocess;
  // Files and image directories.
  bool loop = false;
  bool realtime = false;  // pace frames by their timestamps
  double image_fps = 25;  // an image directory's frame rate (for pts and realtime)
  // Live sources.
  double reconnect_initial_seconds = 0.5;  // first delay; doubles per failed attempt
  double reconnect_max_seconds = 10;
  // Reconnect after this long without a frame. It also bounds a connection
  // attempt, so it must exceed the time a camera takes to deliver its first
  // frame (RTSP: about 2 s of stream analysis).
  double watchdog_seconds = 20;
  // Consecutive failed attempts after which the reader gives up (Wait()
  // returns why); 0 retries for ever.
  int max_reconnect_attempts = 0;
  int decoder_threads = 1;
  // Also deliver each decoded picture as RGB (Frame::picture).
  bool keep_picture = false;
  // Deliver the resized picture's bytes (Frame::pixels) for a model that
  // normalises its own input, not the normalised tensor.
  bool pixel_input = false;
};

// InvalidArgument naming the field that is out of range.
Status ValidateReaderOptions(const ReaderOptions& options);

using FrameCallback = std::function<void(Frame frame)>;
using EventCallback = std::function<void(const Event& event)>;

class CameraReader {
 public:
  // Classifies `url` (ParseSource) and checks what can be checked at once: a
  // local file, directory or device must exist, and a file or image directory
  // is opened here, so that a missing, empty, truncated or unreadable one is
  // this Status (naming the path and what is wrong), not a thread that ends.
  // A live source is first connected by Start().
  static Result<std::unique_ptr<CameraReader>> Open(const std::string& url,
                                                    const ReaderOptions& options);
  // Stops the reader.
  ~CameraReader();
  CameraReader(const CameraReader&) = delete;
  CameraReader& operator=(const CameraReader&) = delete;

  // Starts the reader's thread; later calls do nothing. `on_frame` is
  // required, `on_event` may be empty.
  void Start(FrameCallback on_frame, EventCallback on_event);

  // Ends the reader promptly (an open or read under way is interrupted, a
  // pacing or backoff wait is cut short) and waits for its thread; the frame
  // callback under way, if any, is waited for. Idempotent.
  void Stop();

  // Waits until the reader ends by itself or through Stop(). OK at the end of
  // a file (not looping) or after Stop(); otherwise why it gave up: a read
  // error in a file, or max_reconnect_attempts used up.
  Status Wait();

  const SourceSpec& source() const { return spec_; }

 private:
  using Clock = std::chrono::steady_clock;

  CameraReader(SourceSpec spec, const ReaderOptions& options);

  void Run();
  Status RunFile();
  Status RunLive();
  // Preprocesses and delivers one picture.
  Status Deliver(const DecodedPicture& decoded, double pts_offset);
  InputOptions MakeInputOptions();
  void Emit(EventKind kind, std::string message, double seconds = 0, int width = 0, int height = 0);
  // Waits until `deadline` or Stop(); false if stopped.
  bool WaitUntil(Clock::time_point deadline);
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  // FFmpeg's interrupt check: Stop(), or the watchdog for live sources.
  bool ShouldInterrupt();

  const SourceSpec spec_;
  const ReaderOptions options_;
  Preprocessor preprocessor_;
  FrameCallback on_frame_;
  EventCallback on_event_;
  std::unique_ptr<FrameSource> first_source_;  // a file opened by Open()

  bool started_ = false;  // guarded by mutex_
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable changed_;  // stopping_ or done_
  bool done_ = false;
  Status final_status_;

  // Reader thread only (the watchdog is read by FFmpeg on this thread too).
  int64_t next_number_ = 0;
  int last_width_ = 0;
  int last_height_ = 0;
  std::atomic<Clock::rep> last_progress_{0};  // when a frame or a connect attempt last began
  std::atomic<bool> watchdog_fired_{false};
  std::optional<Clock::time_point> pace_start_;  // realtime: wall time of pace_pts_
  double pace_pts_ = 0;
};

}  // namespace serdab::ingest

#endif  // SERDAB_CLI_INGEST_CAMERA_READER_H_
