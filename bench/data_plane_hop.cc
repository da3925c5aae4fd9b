// One encrypted hop of the data plane, enclave -> gRPC -> enclave, beside
// the same bytes sealed, sent over one raw loopback TCP connection and opened
// with the same AEAD, and beside plain raw TCP, in one run.
//
// The hop: two serdab-worker daemons (plaintext gRPC on loopback) and an
// in-process coordinator that provisions stage 0 (Gemm: 1 float -> M floats)
// on one and stage 1 (Gemm: M floats -> 1) on the other and wires them. A
// StreamClient sends frames of one float with the `block` policy, so what
// limits the pipeline is the M-float feature map that enclave 0 seals, its
// worker relays to the next over gRPC, and enclave 1 opens: MB/s is
// frames/s x 4M bytes. The raw baselines fork a receiver process.
//
//   build/bin/data_plane_hop [--seconds S]      (run from the repository root)
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/enclave_client.h"
#include "cli/local_enclave.h"
#include "cli/stream_client.h"
#include "cli/zoo/onnx_builder.h"
#include "enclave/attestation/coordination.h"
#include "enclave/attestation/platform.h"
#include "enclave/crypto/secure_channel.h"
#include "orchestrator/coordinator_host.h"
#include "serdab/v1/worker.grpc.pb.h"
#include "worker/peer_link.h"
#include "worker/remote_enclave.h"

namespace serdab {
namespace {

using Clock = std::chrono::steady_clock;

// The worker daemons running, stopped by pid however the bench ends.
std::vector<pid_t> g_daemons;

void StopDaemons() {
  for (pid_t pid : g_daemons) {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  g_daemons.clear();
}

[[noreturn]] void Die(const std::string& what, const Status& status) {
  std::fprintf(stderr, "data_plane_hop: %s: %s\n", what.c_str(), status.ToString().c_str());
  StopDaemons();
  std::exit(1);
}

template <typename T>
T Must(Result<T> result, const std::string& what) {
  if (!result.ok()) Die(what, result.status());
  return std::move(result).value();
}

void Must(const Status& status, const std::string& what) {
  if (!status.ok()) Die(what, status);
}

// Gemm(1 -> m) then Gemm(m -> 1): the feature map between them is m floats.
std::string HopModel(int64_t m) {
  zoo::OnnxBuilder b("hop", 13);
  Must(b.AddInput("x", {1, 1}), "model");
  float v = 0;
  auto next = [&] { return v = v > 1 ? 0.f : v + 1e-3f; };
  Must(b.AddFloatInitializer("w0", {m, 1}, next), "model");
  Must(b.AddFloatInitializer("w1", {1, m}, next), "model");
  Must(b.AddNode("Gemm", "fan_out", {"x", "w0"}, {zoo::OnnxAttribute("transB", 1)}, "h").status(),
       "model");
  Must(b.AddNode("Gemm", "fan_in", {"h", "w1"}, {zoo::OnnxAttribute("transB", 1)}, "y").status(),
       "model");
  Must(b.AddOutput("y", {1, 1}), "model");
  return Must(b.Serialize(), "model");
}

// A worker daemon on a free loopback port (stopped by StopDaemons).
struct Daemon {
  pid_t pid = 0;
  std::string address;
};

std::unique_ptr<Daemon> StartWorker(const std::string& bin, const std::string& dir,
                                    const std::string& platform) {
  auto d = std::make_unique<Daemon>();
  const std::string port_file = dir + "/port";
  const std::string log = dir + "/worker.log";
  d->pid = ::fork();
  if (d->pid == 0) {
    std::freopen(log.c_str(), "w", stderr);
    std::freopen(log.c_str(), "a", stdout);
    ::execl(bin.c_str(), bin.c_str(), "--platform", platform.c_str(), "--state-dir",
            (dir + "/state").c_str(), "--insecure", "--listen", "127.0.0.1:0", "--port-file",
            port_file.c_str(), "--epc-mib", "93.5", static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  g_daemons.push_back(d->pid);
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      d->address = "127.0.0.1:" + std::to_string(port);
      return d;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Die("starting " + bin, Status::IoError("no port file; see " + log));
}

// MB/s through the two-stage pipeline for feature maps of `bytes`.
double EnclaveHop(const std::string& dir, size_t bytes, double seconds) {
  const std::string bin = "build/bin/serdab-worker";
  const attestation::DeploymentRoot root = Must(attestation::DeploymentRoot::Generate(), "root");
  auto platform = [&](const std::string& id) {
    const std::string out = dir + "/platform-" + id;
    auto key = Must(attestation::PlatformKey::Generate(), "platform");
    Must(key.Save(out), "platform");
    auto cert = Must(attestation::IssuePlatformCertificate(root, key.public_key(), id, 0), "cert");
    Must(attestation::SavePlatformCertificate(cert, out + "/platform.cert"), "cert");
    return out;
  };
  std::vector<std::unique_ptr<Daemon>> workers;
  std::vector<std::unique_ptr<worker::RemoteEnclave>> enclaves;
  for (int i = 0; i < 2; ++i) {
    const std::string wdir = dir + "/w" + std::to_string(i);
    std::filesystem::create_directories(wdir);
    workers.push_back(StartWorker(bin, wdir, platform("w" + std::to_string(i))));
    auto stub = std::shared_ptr<v1::Worker::StubInterface>(v1::Worker::NewStub(
        grpc::CreateChannel(workers.back()->address, grpc::InsecureChannelCredentials())));
    v1::CreateEnclaveRequest create;
    create.set_enclave("hop");
    create.set_config(cli::LocalEnclaveConfig(93.5, "sgx1"));
    v1::CreateEnclaveResponse created;
    grpc::ClientContext context;
    if (!stub->CreateEnclave(&context, create, &created).ok()) {
      Die("create enclave", Status::IoError(workers.back()->address));
    }
    enclaves.push_back(std::make_unique<worker::RemoteEnclave>(stub, "hop"));
  }

  std::vector<std::string> warnings;
  auto coordinator = Must(
      orchestrator::CoordinatorHost::Start(platform("orch"), dir + "/orch", &warnings), "coord");
  const crypto::Ed25519KeyPair owner = Must(crypto::Ed25519KeyPair::Generate(), "owner");
  attestation::QuotePolicy coordinator_policy;
  coordinator_policy.allowed_mrenclaves = {
      Must(cli::ExpectedMeasurement(cli::CoordinatorEnclaveConfig()), "measure")};
  coordinator_policy.allow_simulation = true;
  coordinator_policy.allow_debug = true;
  orchestrator::CoordinatorHostEndpoint endpoint(coordinator.get());
  auto client =
      Must(cli::EnclaveClient::AttestCoordinator(
               &endpoint,
               Must(attestation::QuoteVerifier::Create(root.public_key(), coordinator_policy), "v"),
               owner),
           "attest coordinator");
  attestation::QuotePolicy workers_policy;
  workers_policy.allow_any_enclave = true;
  workers_policy.allow_simulation = true;
  workers_policy.allow_debug = true;
  const std::string model = HopModel(static_cast<int64_t>(bytes / 4));
  attestation::DeploymentGrant grant{"hop", root.public_key(), workers_policy,
                                     crypto::Bytes(model.begin(), model.end())};
  Must(coordinator->Admit(
           "hop", client->session(),
           Must(client->SealOwnerMessage(attestation::SerializeDeploymentGrant(grant)), "seal")),
       "admit");
  std::vector<orchestrator::StageSession> stages;
  stages.push_back(Must(coordinator->ProvisionStage("hop", "w0/hop", enclaves[0].get(), 0, 1, 1, 1),
                        "provision 0"));
  stages.push_back(Must(
      coordinator->ProvisionStage("hop", "w1/hop", enclaves[1].get(), 1, -1, 1, 1), "provision 1"));
  Must(coordinator->Wire("hop", 1, stages), "wire");

  cli::Pipeline pipeline;
  std::copy_n(crypto::HexDecode(coordinator->identity())->begin(), 32,
              pipeline.coordinator.begin());
  for (int i = 0; i < 2; ++i) {
    pipeline.stages.push_back({workers[i]->address, "hop", stages[i].instance});
  }
  const auto verifier =
      Must(attestation::QuoteVerifier::Create(root.public_key(), workers_policy), "verifier");
  cli::StreamClientOptions options;
  options.identity = &owner;
  options.verifier = &verifier;
  options.resolve = [&](bool) -> Result<cli::Pipeline> { return pipeline; };
  std::atomic<uint64_t> results{0};
  auto streams = Must(cli::StreamClient::Start(
                          options, [&](cli::StreamResult) { results++; }, nullptr),
                      "stream client");
  Must(streams->AddStream(1, cli::OverloadPolicy::kBlock, 4), "stream");
  auto frame = [&](uint64_t n) {
    std::vector<engine::Tensor> input;
    input.push_back(Must(engine::Tensor::Zeros(engine::DataType::kFloat32, {1, 1}), "tensor"));
    cli::FrameMeta meta;
    meta.frame = n;
    Must(streams->Submit(1, meta, std::move(input)), "submit");
  };
  uint64_t n = 0;
  for (; n < 5; ++n) frame(n);  // warm-up: sessions, links, first-touch pages
  while (results < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto start = Clock::now();
  const uint64_t before = results;
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) frame(n++);
  streams->EndStream(1);
  Must(streams->Finish(), "finish");
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  streams.reset();
  coordinator.reset();
  StopDaemons();
  return static_cast<double>(results - before) * static_cast<double>(bytes) / elapsed / 1e6;
}

// MB/s of `bytes`-sized messages over one loopback TCP connection, sealed
// and opened with the data plane's AEAD when `sealed`.
double RawTcp(size_t bytes, double seconds, bool sealed) {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  ::listen(listener, 1);
  // Both ends derive the same channel (the receiver as responder).
  const auto a = Must(crypto::X25519KeyPair::Generate(), "key");
  const auto b = Must(crypto::X25519KeyPair::Generate(), "key");
  const crypto::Bytes transcript(32, 7);
  const size_t message = bytes + (sealed ? crypto::kChannelOverheadBytes : 0);
  int results[2];
  if (::pipe(results) != 0) Die("pipe", Status::IoError("pipe"));
  const pid_t child = ::fork();
  if (child == 0) {
    int fd = ::accept(listener, nullptr, nullptr);
    auto rx = Must(crypto::SecureChannel::Create(crypto::ChannelRole::kResponder, b.secret_key,
                                                 a.public_key, transcript),
                   "channel");
    crypto::Bytes buffer(message), plain;
    uint64_t received = 0;
    for (;;) {
      size_t got = 0;
      while (got < message) {
        const ssize_t r = ::read(fd, buffer.data() + got, message - got);
        if (r <= 0) {
          (void)!::write(results[1], &received, sizeof(received));
          std::_Exit(0);
        }
        got += static_cast<size_t>(r);
      }
      if (sealed) {
        auto opened = rx.Open(1, 1, buffer, &plain);
        if (!opened.ok()) std::_Exit(2);
        rx.Accept(*opened);
      }
      received++;
    }
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  auto tx = Must(crypto::SecureChannel::Create(crypto::ChannelRole::kInitiator, a.secret_key,
                                               b.public_key, transcript),
                 "channel");
  crypto::Bytes payload(bytes, 0x5a), out;
  const auto start = Clock::now();
  uint64_t frame = 0;
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    const crypto::Bytes* send = &payload;
    if (sealed) {
      Must(tx.Seal(1, frame, 1, payload, &out), "seal");
      send = &out;
    }
    size_t sent = 0;
    while (sent < send->size()) {
      const ssize_t w = ::write(fd, send->data() + sent, send->size() - sent);
      if (w <= 0) Die("write", Status::IoError("raw tcp"));
      sent += static_cast<size_t>(w);
    }
    frame++;
  }
  ::close(fd);
  uint64_t received = 0;
  (void)!::read(results[0], &received, sizeof(received));
  ::waitpid(child, nullptr, 0);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(listener);
  ::close(results[0]);
  ::close(results[1]);
  return static_cast<double>(received) * static_cast<double>(bytes) / elapsed / 1e6;
}

}  // namespace
}  // namespace serdab

int main(int argc, char** argv) {
  serdab::worker::TuneAllocatorForLargeMessages();  // as serdab stream does
  double seconds = 5;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--seconds") seconds = std::stod(argv[i + 1]);
  }
  char tmpl[] = "/tmp/serdab-hop-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::printf(
      "| tensor | raw TCP MB/s | raw TCP + AEAD MB/s | enclave -> gRPC -> enclave MB/s | "
      "ratio to TCP + AEAD | ratio to raw TCP |\n|---|---|---|---|---|---|\n");
  std::fflush(stdout);  // before the raw baselines fork
  int index = 0;
  for (const double mib : {0.5, 1.5, 6.0}) {
    const size_t bytes = static_cast<size_t>(mib * 1024 * 1024);
    const double raw = serdab::RawTcp(bytes, seconds, false);
    const double aead = serdab::RawTcp(bytes, seconds, true);
    const double hop = serdab::EnclaveHop(dir + "/run" + std::to_string(index++), bytes, seconds);
    std::printf("| %.1f MiB | %.0f | %.0f | %.0f | %.2f | %.2f |\n", mib, raw, aead, hop,
                hop / aead, hop / raw);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
