// One encrypted hop of the data plane, enclave -> gRPC -> enclave, beside
// the same bytes sealed, sent over one raw loopback TCP connection and opened
// with the same AEAD, and beside plain raw TCP, in one run; then the hop's
// latency with frames offered at camera rate.
//
// The hop: two serdab-worker daemons (plaintext gRPC on loopback) and an
// in-process coordinator that provisions stage 0 (Gemm: 1 float -> M floats)
// on one and stage 1 (Gemm: M floats -> 1) on the other and wires them. A
// StreamClient sends frames of one float with the `block` policy, so what
// limits the pipeline is the M-float feature map that enclave 0 seals, its
// worker relays to the next over gRPC, and enclave 1 opens: MB/s is
// frames/s x 4M bytes. The raw baselines fork a receiver process.
//
// Latency: after the throughput run, the same client offers frames at 15 fps
// (paced by the clock, so no queue builds up). For each frame, what the
// client measures from submitting it to opening its result, less the two
// stages' process ECALLs (their own clocks, which include sealing the
// feature map in enclave 0 and copying it in and opening it in enclave 1),
// is the time spent outside the enclaves: the hop's relay through both
// workers and gRPC, plus the client's own one-float frame and one-float
// result (the "4 B" row shows that floor on its own).
//
// On a shared 2-core VM the baselines alone swing by a quarter from run to
// run, so each size runs --trials times, the three measurements back to
// back each time; the table has each column's median and the range of the
// per-trial ratio to TCP + AEAD.
//
// Each end of the hop has a core of its own, as on two machines (g_pin
// below): the sending end on the first core, the receiving end on the
// second, for the hop and the raw baselines alike; --no-pin leaves them to
// the scheduler. The workers run with their default scheduling policy
// (batch) unless --scheduling names another.
//
//   build/bin/data_plane_hop [--seconds S] [--trials T] [--latency-frames N] [--no-pin]
//                            [--scheduling batch|other] [--mib X]...
//   (run from the repository root; --mib picks tensor sizes, default 0.5 1.5 6)
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
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

// Whether each end of a hop runs on a core of its own, as on two machines
// (--no-pin: wherever the scheduler puts it). The sending end is core 0:
// this process (the raw sender; the camera client and coordinator) and
// stage 0's worker; the receiving end is core 1: the raw receiver and stage
// 1's worker. The hop's sending core thus also carries the client's work,
// which the raw sender's does not.
bool g_pin = true;

// The workers' --scheduling; empty: their default.
std::string g_scheduling;

// Keeps the calling thread, and the threads and processes it starts, on the
// `nth` CPU the bench was started with (when it had at least two). The
// first call, before any pinning, learns which those are.
void PinTo(int nth) {
  static const cpu_set_t allowed = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    ::sched_getaffinity(0, sizeof(set), &set);
    return set;
  }();
  if (!g_pin || CPU_COUNT(&allowed) < 2) return;
  for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed) && seen++ == nth) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      ::sched_setaffinity(0, sizeof(one), &one);
      return;
    }
  }
}

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
// The fan-out takes its weights as a 1 x m row: the engine runs that as one
// broadcast row of multiply-adds, where transB would make it m dot products
// of length 1 (then the stage, not the hop, would bound the pipeline).
std::string HopModel(int64_t m) {
  zoo::OnnxBuilder b("hop", 13);
  Must(b.AddInput("x", {1, 1}), "model");
  float v = 0;
  auto next = [&] { return v = v > 1 ? 0.f : v + 1e-3f; };
  Must(b.AddFloatInitializer("w0", {1, m}, next), "model");
  Must(b.AddFloatInitializer("w1", {1, m}, next), "model");
  Must(b.AddNode("Gemm", "fan_out", {"x", "w0"}, {}, "h").status(), "model");
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
                                    const std::string& platform, int cpu) {
  auto d = std::make_unique<Daemon>();
  const std::string port_file = dir + "/port";
  const std::string log = dir + "/worker.log";
  d->pid = ::fork();
  if (d->pid == 0) {
    PinTo(cpu);
    std::freopen(log.c_str(), "w", stderr);
    std::freopen(log.c_str(), "a", stdout);
    std::vector<std::string> args = {
        bin,        "--platform",  platform,      "--state-dir", dir + "/state", "--insecure",
        "--listen", "127.0.0.1:0", "--port-file", port_file,     "--epc-mib",    "93.5"};
    if (!g_scheduling.empty()) args.insert(args.end(), {"--scheduling", g_scheduling});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
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

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// The value at fraction p of `v` (nearest rank).
double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct HopFigures {
  double mb_per_s = 0;  // through the pipeline, at full speed
  // Per frame at 15 fps: from submit to result, and that less both ECALLs.
  std::vector<double> end_to_end_ms;
  std::vector<double> ecall_ms;
  std::vector<double> outside_ms;
};

// The two-stage pipeline for feature maps of `bytes`: `seconds` at full
// speed (none: skipped), then `latency_frames` at 15 fps.
HopFigures EnclaveHop(const std::string& dir, size_t bytes, double seconds,
                      uint64_t latency_frames) {
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
    workers.push_back(StartWorker(bin, wdir, platform("w" + std::to_string(i)), i));
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
    pipeline.stages.push_back({{workers[i]->address, "hop", stages[i].instance}});
  }
  const auto verifier =
      Must(attestation::QuoteVerifier::Create(root.public_key(), workers_policy), "verifier");
  cli::StreamClientOptions options;
  options.identity = &owner;
  options.verifier = &verifier;
  options.resolve = [&](bool) -> Result<cli::Pipeline> { return pipeline; };
  HopFigures figures;
  std::atomic<uint64_t> results{0};
  std::mutex mu;
  uint64_t first_paced = UINT64_MAX;  // frame number where the paced frames start
  auto on_result = [&](cli::StreamResult r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (r.meta.frame >= first_paced) {
        double ecalls = 0;
        for (double ms : r.stage_ms) ecalls += ms;
        figures.end_to_end_ms.push_back(r.latency_ms);
        figures.ecall_ms.push_back(ecalls);
        figures.outside_ms.push_back(r.latency_ms - ecalls);
      }
    }
    results++;
  };
  auto streams = Must(cli::StreamClient::Start(options, on_result, nullptr), "stream client");
  Must(streams->AddStream(1, cli::OverloadPolicy::kBlock, 4), "stream");
  auto frame = [&](uint64_t n) {
    std::vector<engine::Tensor> input;
    input.push_back(Must(engine::Tensor::Zeros(engine::DataType::kFloat32, {1, 1}), "tensor"));
    cli::FrameMeta meta;
    meta.frame = n;
    meta.captured_ns = NowNs();
    Must(streams->Submit(1, meta, std::move(input)), "submit");
  };
  auto wait_for = [&](uint64_t count) {
    while (results < count) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  uint64_t n = 0;
  for (; n < 5; ++n) frame(n);  // warm-up: sessions, links, first-touch pages
  wait_for(n);
  if (seconds > 0) {
    const auto start = Clock::now();
    const uint64_t before = results;
    while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) frame(n++);
    wait_for(n);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    figures.mb_per_s =
        static_cast<double>(results - before) * static_cast<double>(bytes) / elapsed / 1e6;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    first_paced = n;
  }
  const auto period = std::chrono::nanoseconds(1'000'000'000 / 15);
  const auto paced_start = Clock::now();
  for (uint64_t i = 0; i < latency_frames; ++i) {
    std::this_thread::sleep_until(paced_start + i * period);
    frame(n++);
  }
  streams->EndStream(1);
  Must(streams->Finish(), "finish");
  streams.reset();
  coordinator.reset();
  StopDaemons();
  return figures;
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
  const size_t message = sealed ? crypto::SealedMessageBytes(bytes) : bytes;
  int results[2];
  if (::pipe(results) != 0) Die("pipe", Status::IoError("pipe"));
  const pid_t child = ::fork();
  if (child == 0) {
    PinTo(1);
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
  int trials = 3;
  uint64_t latency_frames = 120;
  std::vector<double> sizes_mib;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 < argc && flag == "--seconds") {
      seconds = std::stod(argv[++i]);
    } else if (i + 1 < argc && flag == "--trials") {
      trials = std::max(1, std::stoi(argv[++i]));
    } else if (i + 1 < argc && flag == "--latency-frames") {
      latency_frames = std::max(1, std::stoi(argv[++i]));
    } else if (flag == "--no-pin") {
      serdab::g_pin = false;
    } else if (i + 1 < argc && flag == "--scheduling") {
      serdab::g_scheduling = argv[++i];
    } else if (i + 1 < argc && flag == "--mib") {
      sizes_mib.push_back(std::stod(argv[++i]));
    } else {
      std::fprintf(stderr,
                   "usage: data_plane_hop [--seconds S] [--trials T] [--latency-frames N] "
                   "[--no-pin] [--scheduling batch|other] [--mib X]...\n");
      return 2;
    }
  }
  if (sizes_mib.empty()) sizes_mib = {0.5, 1.5, 6.0};
  serdab::PinTo(0);  // before any thread starts: they all stay on core 0
  char tmpl[] = "/tmp/serdab-hop-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::printf(
      "Medians of %d trials.\n\n| tensor | raw TCP MB/s | raw TCP + AEAD MB/s | "
      "enclave -> gRPC -> enclave MB/s | ratio to TCP + AEAD | its range | ratio to raw TCP "
      "|\n|---|---|---|---|---|---|---|\n",
      trials);
  std::fflush(stdout);  // before the raw baselines fork
  int index = 0;
  std::vector<std::pair<std::string, serdab::HopFigures>> latencies;
  for (const double mib : sizes_mib) {
    const size_t bytes = static_cast<size_t>(mib * 1024 * 1024);
    char name[32];
    std::snprintf(name, sizeof(name), "%.1f MiB", mib);
    std::vector<double> raw, aead, hop, to_aead, to_raw;
    for (int t = 0; t < trials; ++t) {
      raw.push_back(serdab::RawTcp(bytes, seconds, false));
      aead.push_back(serdab::RawTcp(bytes, seconds, true));
      // The latency run follows the first trial's throughput run only.
      serdab::HopFigures figures = serdab::EnclaveHop(dir + "/run" + std::to_string(index++), bytes,
                                                      seconds, t == 0 ? latency_frames : 0);
      hop.push_back(figures.mb_per_s);
      to_aead.push_back(hop.back() / aead.back());
      to_raw.push_back(hop.back() / raw.back());
      if (t == 0) latencies.emplace_back(name, std::move(figures));
    }
    using serdab::Percentile;
    std::printf("| %s | %.0f | %.0f | %.0f | %.2f | %.2f-%.2f | %.2f |\n", name,
                Percentile(raw, 0.5), Percentile(aead, 0.5), Percentile(hop, 0.5),
                Percentile(to_aead, 0.5), *std::min_element(to_aead.begin(), to_aead.end()),
                *std::max_element(to_aead.begin(), to_aead.end()), Percentile(to_raw, 0.5));
    std::fflush(stdout);
  }
  // The floor: the same pipeline with a one-float feature map.
  latencies.emplace_back(
      "4 B", serdab::EnclaveHop(dir + "/run" + std::to_string(index), 4, 0, latency_frames));
  std::printf(
      "\nLatency at 15 fps, %llu frames per size: ms from submit to result (end to end), in "
      "both stages' process ECALLs, and the rest (outside the enclaves).\n\n"
      "| tensor | end to end p50 | p99 | ECALLs p50 | outside p50 | outside p99 |\n"
      "|---|---|---|---|---|---|\n",
      static_cast<unsigned long long>(latency_frames));
  for (const auto& [name, f] : latencies) {
    using serdab::Percentile;
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", name.c_str(),
                Percentile(f.end_to_end_ms, 0.5), Percentile(f.end_to_end_ms, 0.99),
                Percentile(f.ecall_ms, 0.5), Percentile(f.outside_ms, 0.5),
                Percentile(f.outside_ms, 0.99));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
