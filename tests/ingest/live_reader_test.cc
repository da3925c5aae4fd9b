// CameraReader on live sources: GStreamer's RTSP server, FFmpeg's HTTP MJPEG
// server, a listener that never answers, and a port nobody listens on.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cli/ingest/camera_reader.h"
#include "tests/ingest/reader_probe.h"
#include "tests/ingest/test_media.h"

namespace serdab::ingest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ChildProcess;
using testing::ReaderProbe;

ReaderOptions LiveOptions() {
  ReaderOptions options;
  options.preprocess.height = 16;
  options.preprocess.width = 16;
  options.reconnect_initial_seconds = 0.25;
  options.reconnect_max_seconds = 1;
  options.watchdog_seconds = 5;
  return options;
}

// The RTSP server script on `port` (0: a free one); its URL, or "" if it did
// not come up.
std::string StartRtspServer(std::unique_ptr<ChildProcess>* server, int port) {
  *server = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/python3", SERDAB_RTSP_SERVER_PY, "--port",
                               std::to_string(port), "--size", "160x120", "--fps", "15"},
      /*capture_stdout=*/true);
  const std::string line = (*server)->ReadLine(seconds(10));
  return line.starts_with("READY ") ? line.substr(6) : "";
}

int PortOf(const std::string& url) {
  const size_t colon = url.rfind(':');
  return std::stoi(url.substr(colon + 1));
}

TEST(IngestLiveReader, RtspReconnectsAfterServerRestart) {
  std::unique_ptr<ChildProcess> server;
  const std::string url = StartRtspServer(&server, 0);
  ASSERT_FALSE(url.empty()) << "RTSP server did not start";
  auto reader = CameraReader::Open(url, LiveOptions());
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ((*reader)->source().kind, SourceKind::kRtsp);
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  ASSERT_TRUE(probe.WaitForFrames(10, seconds(10)));
  EXPECT_EQ(probe.frames()[0].source_width, 160);

  server->Kill();
  ASSERT_TRUE(probe.WaitForEvent(EventKind::kDisconnected, 1, seconds(5)));
  const size_t before = probe.frame_count();
  // The camera is down for a while; the reader keeps retrying meanwhile.
  std::this_thread::sleep_for(seconds(3));
  EXPECT_GE(probe.Count(EventKind::kReconnecting), 2);
  EXPECT_GE(probe.Count(EventKind::kConnectFailed), 1);
  ASSERT_FALSE(StartRtspServer(&server, PortOf(url)).empty()) << "RTSP server did not restart";

  ASSERT_TRUE(probe.WaitForEvent(EventKind::kResumed, 1, seconds(15)));
  ASSERT_TRUE(probe.WaitForFrames(before + 5, seconds(5)));
  (*reader)->Stop();
  EXPECT_TRUE((*reader)->Wait().ok());

  for (const Event& e : probe.events()) {
    if (e.kind == EventKind::kResumed) {
      EXPECT_GE(e.seconds, 3.0) << e.message;
      EXPECT_LT(e.seconds, 15.0) << e.message;
    }
  }
  const std::vector<Frame> frames = probe.frames();
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(frames[i].number, static_cast<int64_t>(i));
}

TEST(IngestLiveReader, WatchdogReconnectsAFrozenRtspServer) {
  std::unique_ptr<ChildProcess> server;
  const std::string url = StartRtspServer(&server, 0);
  ASSERT_FALSE(url.empty()) << "RTSP server did not start";
  ReaderOptions options = LiveOptions();
  options.watchdog_seconds = 1;
  auto reader = CameraReader::Open(url, options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  ASSERT_TRUE(probe.WaitForFrames(5, seconds(10)));
  server->Signal(SIGSTOP);  // connected, but nothing more arrives
  ASSERT_TRUE(probe.WaitForEvent(EventKind::kDisconnected, 1, seconds(5)));
  server->Signal(SIGCONT);
  ASSERT_TRUE(probe.WaitForEvent(EventKind::kResumed, 1, seconds(15)));
  (*reader)->Stop();
  bool watchdog_said = false;
  for (const Event& e : probe.events()) {
    if (e.kind == EventKind::kDisconnected && e.message.find("watchdog") != std::string::npos) {
      watchdog_said = true;
    }
  }
  EXPECT_TRUE(watchdog_said);
}

TEST(IngestLiveReader, HttpMjpegFramesArrive) {
  const int port = testing::FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/cam.mjpg";
  // FFmpeg serves one client, then exits (quietly: the client hanging up is
  // an error to it).
  ChildProcess server({"ffmpeg",
                       "-nostdin",
                       "-loglevel",
                       "fatal",
                       "-re",
                       "-f",
                       "lavfi",
                       "-i",
                       "testsrc=size=160x120:rate=15",
                       "-c:v",
                       "mjpeg",
                       "-pix_fmt",
                       "yuvj420p",
                       "-q:v",
                       "5",
                       "-f",
                       "mpjpeg",
                       "-content_type",
                       "multipart/x-mixed-replace;boundary=ffmpeg",
                       "-listen",
                       "1",
                       url},
                      false);
  ASSERT_TRUE(testing::WaitListening(port, seconds(10)));
  auto reader = CameraReader::Open(url, LiveOptions());
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ((*reader)->source().kind, SourceKind::kHttp);
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(/*keep_tensors=*/true), probe.Events());
  ASSERT_TRUE(probe.WaitForFrames(10, seconds(10)));
  (*reader)->Stop();
  const std::vector<Frame> frames = probe.frames();
  EXPECT_EQ(frames[0].source_width, 160);
  EXPECT_EQ(frames[0].source_height, 120);
  EXPECT_EQ(frames[0].tensor.size(), 3u * 16 * 16);
  EXPECT_EQ(probe.Count(EventKind::kConnected), 1);
}

TEST(IngestLiveReader, WatchdogGivesUpOnASilentServer) {
  // A listener that accepts connections (the kernel does) and never answers.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/cam";

  ReaderOptions options = LiveOptions();
  options.watchdog_seconds = 1;
  options.max_reconnect_attempts = 2;
  auto reader = CameraReader::Open(url, options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  const auto start = std::chrono::steady_clock::now();
  (*reader)->Start(probe.Frames(), probe.Events());
  const Status status = (*reader)->Wait();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  close(fd);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find(url), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("watchdog"), std::string::npos) << status.message();
  EXPECT_EQ(probe.Count(EventKind::kConnectFailed), 2);
  EXPECT_EQ(probe.Count(EventKind::kReconnecting), 1);
  EXPECT_EQ(probe.frame_count(), 0u);
  EXPECT_GT(took, 1.9);  // two watchdog periods and a backoff
  EXPECT_LT(took, 6.0);
}

TEST(IngestLiveReader, StopInterruptsABlockedConnect) {
  // A listener that never answers: the reader blocks inside libavformat.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string url = "rtsp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/cam";

  ReaderOptions options = LiveOptions();
  options.watchdog_seconds = 60;
  auto reader = CameraReader::Open(url, options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  // Nothing arrives: the reader is blocked waiting for the server's answer.
  EXPECT_FALSE(probe.WaitFor([](const auto&, const auto& events) { return !events.empty(); },
                             milliseconds(500)));
  const auto start = std::chrono::steady_clock::now();
  (*reader)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
  EXPECT_TRUE((*reader)->Wait().ok());
  close(fd);
}

TEST(IngestLiveReader, UnreachableUrlRetriesWithBackoffThenGivesUp) {
  const std::string url = "rtsp://127.0.0.1:" + std::to_string(testing::FreePort()) + "/x";
  ReaderOptions options = LiveOptions();
  options.reconnect_initial_seconds = 0.1;
  options.reconnect_max_seconds = 0.2;
  options.max_reconnect_attempts = 4;
  auto reader = CameraReader::Open(url, options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  const Status status = (*reader)->Wait();
  EXPECT_EQ(status.code(), Status::Code::kIoError);
  EXPECT_NE(status.message().find(url), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("refused"), std::string::npos) << status.message();
  EXPECT_EQ(probe.Count(EventKind::kConnectFailed), 4);
  std::vector<double> delays;
  for (const Event& e : probe.events()) {
    if (e.kind == EventKind::kReconnecting) delays.push_back(e.seconds);
  }
  EXPECT_EQ(delays, (std::vector<double>{0.1, 0.2, 0.2}));  // doubling, capped
}

TEST(IngestLiveReader, StopCutsABackoffShort) {
  const std::string url = "rtsp://127.0.0.1:" + std::to_string(testing::FreePort()) + "/x";
  ReaderOptions options = LiveOptions();
  options.reconnect_initial_seconds = 30;
  options.reconnect_max_seconds = 30;
  auto reader = CameraReader::Open(url, options);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  ReaderProbe probe;
  (*reader)->Start(probe.Frames(), probe.Events());
  ASSERT_TRUE(probe.WaitForEvent(EventKind::kReconnecting, 1, seconds(5)));
  const auto start = std::chrono::steady_clock::now();
  (*reader)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
  EXPECT_TRUE((*reader)->Wait().ok());
}

}  // namespace
}  // namespace serdab::ingest
