// serdab-worker --metrics-addr as a user runs it: a real daemon on loopback,
// one enclave created over gRPC, /metrics scraped over HTTP and, where
// promtool is installed, checked by `promtool check metrics`; a second
// daemon asked for the same metrics port refuses to start.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "serdab/v1/worker.grpc.pb.h"
#include "tests/enclave/test_platform.h"

namespace serdab {
namespace {

// A loopback port free right now (the kernel's pick, released at once).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// One serdab-worker process, SIGKILLed on destruction if still running.
class Worker {
 public:
  Worker(const std::string& platform_dir, const std::string& state_dir, int metrics_port)
      : port_file_(state_dir + ".port") {
    std::filesystem::remove(port_file_);
    std::vector<std::string> args = {"serdab-worker",  "--platform",
                                     platform_dir,     "--state-dir",
                                     state_dir,        "--listen",
                                     "127.0.0.1:0",    "--insecure",
                                     "--port-file",    port_file_,
                                     "--log-level",    "error",
                                     "--metrics-addr", "127.0.0.1:" + std::to_string(metrics_port)};
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(SERDAB_WORKER_BIN, argv.data());
      _exit(127);
    }
  }
  ~Worker() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove(port_file_);
  }

  // The gRPC port once serving; 0 if the daemon exited or 30 s passed
  // (then `exit_code` holds its exit status, or -1).
  int WaitServing(int* exit_code) {
    for (int i = 0; i < 300; ++i) {
      int port = 0;
      if (std::ifstream(port_file_) >> port && port > 0) return port;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    *exit_code = -1;
    return 0;
  }

 private:
  std::string port_file_;
  pid_t pid_ = -1;
};

TEST(WorkerMetricsTest, ExportsEnclaveStatsAndRpcsForPrometheus) {
  TestPlatform platform;
  char tmpl[] = "/tmp/serdab-worker-metrics-XXXXXX";
  const std::string state_dir = ::mkdtemp(tmpl);
  const int metrics_port = FreePort();
  ASSERT_GT(metrics_port, 0);
  {
    Worker worker(platform.platform_dir(), state_dir, metrics_port);
    int exit_code = 0;
    const int port = worker.WaitServing(&exit_code);
    ASSERT_GT(port, 0) << "serdab-worker exited with " << exit_code;

    auto stub = v1::Worker::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                        grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::CreateEnclaveRequest create;
    create.set_config("epc_mib = 16\ncost_profile = none\n");
    v1::CreateEnclaveResponse created;
    ASSERT_TRUE(stub->CreateEnclave(&context, create, &created).ok());
    const std::string enclave = "{enclave=\"" + created.enclave() + "\"}";

    httplib::Client client("127.0.0.1", metrics_port);
    client.set_connection_timeout(5);
    client.set_read_timeout(30);
    auto scrape = client.Get("/metrics");
    ASSERT_TRUE(scrape) << httplib::to_string(scrape.error());
    ASSERT_EQ(scrape->status, 200);
    const std::string& text = scrape->body;
    for (const std::string& line :
         {std::string("serdab_worker_enclaves 1\n"),
          "serdab_enclave_epc_bytes" + enclave + " 16777216\n",
          "serdab_enclave_sessions" + enclave + " 0\n",
          std::string("serdab_rpcs_total{service=\"serdab.v1.Worker\",method=\"CreateEnclave\","
                      "code=\"OK\"} 1\n")}) {
      EXPECT_NE(text.find(line), std::string::npos) << line << " not in\n" << text;
    }
    for (const char* family :
         {"serdab_enclave_ecalls_total", "serdab_enclave_page_faults_total",
          "serdab_enclave_evictions_total", "serdab_enclave_resident_pages",
          "serdab_enclave_page_swaps_total", "serdab_enclave_clock_seconds_total",
          "serdab_rpc_duration_seconds_count"}) {
      EXPECT_NE(text.find(family), std::string::npos) << family << " not in\n" << text;
    }

    if (::access("/usr/bin/promtool", X_OK) == 0) {
      const std::string file = state_dir + ".metrics";
      std::ofstream(file) << text;
      const int status = std::system(
          ("timeout 30 /usr/bin/promtool check metrics < " + file + " > /dev/null 2>&1").c_str());
      std::filesystem::remove(file);
      EXPECT_EQ(WEXITSTATUS(status), 0) << "promtool check metrics refused\n" << text;
    }

    // The same metrics port again: a clean refusal, not a second listener.
    const std::string other_state = state_dir + "-2";
    Worker second(platform.platform_dir(), other_state, metrics_port);
    EXPECT_EQ(second.WaitServing(&exit_code), 0);
    EXPECT_EQ(exit_code, 1);
    std::filesystem::remove_all(other_state);
  }
  std::filesystem::remove_all(state_dir);
}

}  // namespace
}  // namespace serdab
