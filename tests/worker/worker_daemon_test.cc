// serdab-worker as a user runs it: a real process on a free loopback port,
// driven over real gRPC. A model owner attests one of its enclaves through
// the daemon, provisions a sealed partition and runs a frame; the daemon is
// stopped with SIGTERM and started again, and restores the partition from
// its state directory without the model being sent again.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli/enclave_client.h"
#include "cli/zoo/model_zoo.h"
#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"
#include "tests/enclave/test_platform.h"
#include "worker/node_certificates.h"
#include "worker/remote_enclave.h"

namespace serdab {
namespace {

constexpr char kConfig[] = "epc_mib = 16\ncost_profile = none\n";

// One serdab-worker process; killed on destruction if still running, so a
// failing test never leaves it behind.
class WorkerProcess {
 public:
  // Plaintext on loopback, or mutual TLS with the node certificate in
  // `tls_dir`; `extra` flags after the others.
  WorkerProcess(const std::string& platform_dir, const std::string& state_dir,
                const std::string& tls_dir = "", const std::vector<std::string>& extra = {})
      : port_file_(state_dir + ".port") {
    std::filesystem::remove(port_file_);
    std::vector<std::string> args = {"serdab-worker", "--platform",  platform_dir,  "--state-dir",
                                     state_dir,       "--listen",    "127.0.0.1:0", "--port-file",
                                     port_file_,      "--log-level", "warn"};
    if (tls_dir.empty()) {
      args.push_back("--insecure");
    } else {
      args.insert(args.end(), {"--tls-dir", tls_dir});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(SERDAB_WORKER_BIN, argv.data());
      _exit(127);
    }
    // Bounded wait for the daemon to serve.
    for (int i = 0; i < 300 && port_ == 0; ++i) {
      std::ifstream in(port_file_);
      if (!(in >> port_)) {
        port_ = 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    grpc::ChannelArguments channel_args;
    channel_args.SetMaxReceiveMessageSize(1 << 30);
    channel_args.SetMaxSendMessageSize(1 << 30);
    stub_ = v1::Worker::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials(), channel_args));
  }
  ~WorkerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool serving() const { return port_ != 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::shared_ptr<v1::Worker::Stub> stub() const { return stub_; }

  // SIGTERM, then the exit status (-1 if it did not exit cleanly in 30 s).
  int Stop() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }

 private:
  std::string port_file_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::shared_ptr<v1::Worker::Stub> stub_;
};

engine::Tensor RandomInput(uint32_t seed) {
  auto t = engine::Tensor::Create(engine::DataType::kFloat32, {1, 3, 32, 32}).value();
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

bool SameAsNative(const crypto::Bytes& model, const engine::Tensor& x, const engine::Tensor& y) {
  const std::string_view bytes(reinterpret_cast<const char*>(model.data()), model.size());
  auto m = engine::Model::FromGraph(engine::ImportOnnxBytes(bytes, "m").value(), {}).value();
  const engine::Tensor native = m->Run({x}).value()[0];
  return native.shape() == y.shape() && std::memcmp(native.raw(), y.raw(), y.bytes()) == 0;
}

class WorkerDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/serdab-worker-state-XXXXXX";
    state_dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    std::filesystem::remove_all(state_dir_);
    std::filesystem::remove(state_dir_ + ".port");
  }

  TestPlatform platform_;
  std::string state_dir_;
};

TEST_F(WorkerDaemonTest, ProvisionsOverGrpcAndRestoresItsPartitionAfterARestart) {
  const std::string zoo = zoo::BuildModel("tiny", 4).value();
  const crypto::Bytes model(zoo.begin(), zoo.end());
  const auto owner = crypto::Ed25519KeyPair::Generate().value();
  const engine::Tensor x = RandomInput(9);
  std::string name;
  {
    WorkerProcess worker(platform_.platform_dir(), state_dir_);
    ASSERT_TRUE(worker.serving());
    grpc::ClientContext context;
    v1::CreateEnclaveRequest create;
    create.set_config(kConfig);
    v1::CreateEnclaveResponse created;
    ASSERT_TRUE(worker.stub()->CreateEnclave(&context, create, &created).ok());
    name = created.enclave();
    EXPECT_EQ(created.mrenclave().size(), 64u);

    worker::RemoteEnclave endpoint(worker.stub(), name);
    auto client =
        cli::EnclaveClient::Attest(&endpoint, platform_.Verifier(), owner, owner.public_key());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    cli::PartitionSpec spec;
    spec.seal = attestation::PartitionSeal::kMrEnclave;
    spec.routes = (*client)->SelfRoutes();
    ASSERT_TRUE((*client)->Provision(model, spec).ok());
    auto y = (*client)->Infer({x});
    ASSERT_TRUE(y.ok()) << y.status().ToString();
    EXPECT_TRUE(SameAsNative(model, x, (*y)[0]));
    EXPECT_EQ(worker.Stop(), 0) << "SIGTERM should stop the daemon cleanly";
  }
  EXPECT_TRUE(std::filesystem::exists(state_dir_ + "/enclaves/" + name + "/partition.sealed"));

  WorkerProcess worker(platform_.platform_dir(), state_dir_);
  ASSERT_TRUE(worker.serving());
  grpc::ClientContext context;
  v1::ListEnclavesResponse list;
  ASSERT_TRUE(worker.stub()->ListEnclaves(&context, {}, &list).ok());
  ASSERT_EQ(list.enclaves_size(), 1);
  EXPECT_EQ(list.enclaves(0).enclave(), name);
  EXPECT_TRUE(list.enclaves(0).restored());

  // The owner re-issues its routes for the version it expects; the model is
  // not sent again.
  worker::RemoteEnclave endpoint(worker.stub(), name);
  auto client =
      cli::EnclaveClient::Attest(&endpoint, platform_.Verifier(), owner, owner.public_key());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE((*client)->SetRoutes(1, (*client)->SelfRoutes()).ok());
  auto y = (*client)->Infer({x});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_TRUE(SameAsNative(model, x, (*y)[0]));

  // Anyone else, through the same daemon, is refused by the enclave.
  const auto stranger = crypto::Ed25519KeyPair::Generate().value();
  auto other =
      cli::EnclaveClient::Attest(&endpoint, platform_.Verifier(), stranger, stranger.public_key());
  EXPECT_EQ(other.status().code(), Status::Code::kPermissionDenied);
}

// A channel to the worker as the holder of DIR/<stem>.crt.
std::unique_ptr<v1::Worker::Stub> StubAs(int port, const std::string& dir,
                                         const std::string& stem) {
  const worker::TlsFiles tls = worker::LoadTlsFiles(dir, stem).value();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls.ca_certificate;
  ssl.pem_private_key = tls.private_key;
  ssl.pem_cert_chain = tls.certificate;
  return v1::Worker::NewStub(
      grpc::CreateChannel("localhost:" + std::to_string(port), grpc::SslCredentials(ssl)));
}

grpc::StatusCode ListCode(v1::Worker::StubInterface* stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ListEnclavesResponse list;
  return stub->ListEnclaves(&context, {}, &list).error_code();
}

grpc::StatusCode CreateCode(v1::Worker::StubInterface* stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::CreateEnclaveRequest create;
  create.set_config(kConfig);
  v1::CreateEnclaveResponse created;
  return stub->CreateEnclave(&context, create, &created).error_code();
}

TEST_F(WorkerDaemonTest, MutualTlsAdmitsOnlyCertificatesOfItsCaAndChecksRoles) {
  const std::string pki = state_dir_ + "-pki";
  const std::string other = state_dir_ + "-other";
  std::filesystem::create_directories(pki);
  std::filesystem::create_directories(other);
  ASSERT_TRUE(worker::CreateCertificateAuthority(pki, "test deployment", 1).ok());
  ASSERT_TRUE(worker::CreateCertificateAuthority(other, "another deployment", 1).ok());
  auto issue = [](const std::string& ca, const std::string& name, worker::Role role,
                  const std::string& out, const std::string& stem) {
    worker::CertificateRequest r;
    r.name = name;
    r.role = role;
    r.hosts = {"localhost", "127.0.0.1"};
    return worker::IssueCertificate(ca, r, out, stem);
  };
  ASSERT_TRUE(issue(pki, "edge-1", worker::Role::kWorker, pki + "/edge-1", "node").ok());
  ASSERT_TRUE(issue(pki, "orch", worker::Role::kOrchestrator, pki + "/orch", "node").ok());
  ASSERT_TRUE(issue(pki, "vera", worker::Role::kViewer, pki + "/vera", "user").ok());
  ASSERT_TRUE(issue(pki, "edge-2", worker::Role::kWorker, pki + "/edge-2", "node").ok());
  ASSERT_TRUE(issue(other, "mallory", worker::Role::kAdmin, other + "/mallory", "user").ok());

  WorkerProcess worker(platform_.platform_dir(), state_dir_, pki + "/edge-1");
  ASSERT_TRUE(worker.serving());
  const int port = worker.port();
  auto orchestrator = StubAs(port, pki + "/orch", "node");
  EXPECT_EQ(CreateCode(orchestrator.get()), grpc::StatusCode::OK);
  EXPECT_EQ(ListCode(orchestrator.get()), grpc::StatusCode::OK);
  // A viewer reads, and may not change anything.
  auto viewer = StubAs(port, pki + "/vera", "user");
  EXPECT_EQ(ListCode(viewer.get()), grpc::StatusCode::OK);
  EXPECT_EQ(CreateCode(viewer.get()), grpc::StatusCode::PERMISSION_DENIED);
  // Another worker's certificate is not a client of this one.
  auto peer = StubAs(port, pki + "/edge-2", "node");
  EXPECT_EQ(ListCode(peer.get()), grpc::StatusCode::PERMISSION_DENIED);
  // A certificate from another deployment's CA does not get through the
  // handshake, nor does a client with no certificate or no TLS at all.
  auto stranger = StubAs(port, other + "/mallory", "user");
  EXPECT_EQ(ListCode(stranger.get()), grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions anonymous;
  anonymous.pem_root_certs = worker::LoadTlsFiles(pki + "/vera", "user")->ca_certificate;
  auto no_cert = v1::Worker::NewStub(
      grpc::CreateChannel("localhost:" + std::to_string(port), grpc::SslCredentials(anonymous)));
  EXPECT_EQ(ListCode(no_cert.get()), grpc::StatusCode::UNAVAILABLE);
  auto plaintext = v1::Worker::NewStub(
      grpc::CreateChannel("localhost:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  EXPECT_EQ(ListCode(plaintext.get()), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(worker.Stop(), 0);
  std::filesystem::remove_all(pki);
  std::filesystem::remove_all(other);
}

// The Linux scheduling policy of each of the process's threads.
std::vector<int> ThreadPolicies(pid_t pid) {
  std::vector<int> policies;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    policies.push_back(sched_getscheduler(std::stoi(task.path().filename().string())));
  }
  return policies;
}

TEST_F(WorkerDaemonTest, EveryThreadRunsUnderTheSchedulingPolicyAsked) {
  for (const auto& [flag, policy] :
       std::vector<std::pair<std::string, int>>{{"", SCHED_BATCH}, {"other", SCHED_OTHER}}) {
    std::vector<std::string> extra;
    if (!flag.empty()) extra = {"--scheduling", flag};
    WorkerProcess worker(platform_.platform_dir(), state_dir_, "", extra);
    ASSERT_TRUE(worker.serving()) << flag;
    const std::vector<int> policies = ThreadPolicies(worker.pid());
    // gRPC's pollers and executors as well as the main thread.
    EXPECT_GT(policies.size(), 2u);
    for (int p : policies) EXPECT_EQ(p, policy) << (flag.empty() ? "the default" : flag);
    EXPECT_EQ(worker.Stop(), 0);
  }
}

// Runs serdab-worker with plaintext serving and `flags`, expecting it to
// refuse to start: its exit status (-1 if it did not exit by itself).
int RefusedStartStatus(const std::string& platform_dir, const std::string& state_dir,
                       const std::vector<std::string>& flags) {
  std::vector<std::string> args = {"serdab-worker", "--platform", platform_dir,
                                   "--state-dir",   state_dir,    "--insecure"};
  args.insert(args.end(), flags.begin(), flags.end());
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(SERDAB_WORKER_BIN, argv.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST_F(WorkerDaemonTest, AnUnknownSchedulingPolicyIsRefused) {
  EXPECT_EQ(RefusedStartStatus(platform_.platform_dir(), state_dir_, {"--scheduling", "fifo"}), 1);
}

TEST_F(WorkerDaemonTest, PlaintextServingIsRefusedOffLoopback) {
  for (const char* listen : {"0.0.0.0:0", "10.1.2.3:7700"}) {
    EXPECT_EQ(RefusedStartStatus(platform_.platform_dir(), state_dir_, {"--listen", listen}), 1)
        << listen;
  }
}

}  // namespace
}  // namespace serdab
