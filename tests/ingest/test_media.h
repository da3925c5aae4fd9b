// Real media and real servers for the ingest tests: a scratch directory, the
// ffmpeg CLI, child processes killed by pid when a test ends (pass or fail),
// and free loopback ports.
#ifndef SERDAB_TESTS_INGEST_TEST_MEDIA_H_
#define SERDAB_TESTS_INGEST_TEST_MEDIA_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace serdab::ingest::testing {

// A directory removed with everything in it when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ingest-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A process this test started; SIGTERM, then SIGKILL, on Kill() or destruction.
class ChildProcess {
 public:
  // Starts argv[0] (searched in PATH) with stdin from /dev/null; its stdout
  // is readable with ReadLine() when `capture_stdout`.
  ChildProcess(const std::vector<std::string>& argv, bool capture_stdout) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    int pipe_fds[2] = {-1, -1};
    if (capture_stdout && pipe2(pipe_fds, O_CLOEXEC) == 0) {
      posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    if (pipe_fds[1] >= 0) close(pipe_fds[1]);
    stdout_fd_ = pipe_fds[0];
  }
  ~ChildProcess() {
    Kill();
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // One line of the child's stdout, without the newline; empty if none came
  // within `timeout`.
  std::string ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (stdout_fd_ < 0 || left.count() <= 0) return "";
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[512];
      const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }

  // Waits for the child to exit by itself, up to `timeout`; its exit status,
  // or -1 if it did not exit (it is then killed).
  int WaitExit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Kill();
    return -1;
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGCONT);  // a stopped child cannot handle SIGTERM
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
};

// Runs the ffmpeg CLI with `args` (after -nostdin -loglevel error -y); true
// if it exited 0 within 60 s.
inline bool Ffmpeg(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ffmpeg", "-nostdin", "-loglevel", "error", "-y"};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess ffmpeg(argv, false);
  return ffmpeg.started() && ffmpeg.WaitExit(std::chrono::seconds(60)) == 0;
}

// Writes `seconds` of FFmpeg's testsrc at `size` and 25 fps to `path`, in the
// codec `codec` (the container follows the file name).
inline bool MakeTestVideo(const std::string& path, const std::string& size, double seconds,
                          const std::string& codec) {
  std::vector<std::string> args = {
      "-f",   "lavfi", "-i", "testsrc=size=" + size + ":rate=25", "-t", std::to_string(seconds),
      "-c:v", codec};
  if (codec == "libx264") {
    args.insert(args.end(), {"-pix_fmt", "yuv420p", "-preset", "ultrafast", "-g", "10"});
  }
  if (codec == "mjpeg") args.insert(args.end(), {"-pix_fmt", "yuvj420p"});
  args.push_back(path);
  return Ffmpeg(args);
}

// A loopback TCP port nobody listens on at the moment of asking.
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Whether something listens on loopback TCP `port`, from /proc/net/tcp (a
// test connect would count as the client of a one-client server).
inline bool IsListening(int port) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    const size_t colon = local.find(':');
    if (colon == std::string::npos) continue;
    if (std::stoi(local.substr(colon + 1), nullptr, 16) == port && state == "0A") return true;
  }
  return false;
}

inline bool WaitListening(int port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (IsListening(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace serdab::ingest::testing

#endif  // SERDAB_TESTS_INGEST_TEST_MEDIA_H_
