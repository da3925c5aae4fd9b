// enclave_overhead: the cost of running inside a sim enclave, measured side
// by side with the native engine in one run.
//
// For each model: native ms/frame and, in alternating blocks of frames, the
// same model in a sim enclave (attested, provisioned, frames encrypted both
// ways, one ECALL per frame; the enclave's time is the client's whole frame:
// seal the input tensors, the ECALL, open and decode the result)
// with an EPC of 93.5 MiB under each cost profile (default `none` and
// `sgx1`), on two clocks per frame: wall time on the client's clock, and
// TEE-equivalent time, that wall time with the emulation's paging replaced
// by the target's prices (from the enclave's clocks, epc_stats.h). Also the
// emulation's share of the wall time, swaps, page faults and evictions per
// frame, and the calling thread's CPU time per frame beside each wall time
// (with --threads 1 the whole frame runs there, so wall minus CPU is the
// time the thread's CPU ran something else: another tenant, or the
// hypervisor's steal). resnet18 and
// mobilenet_v2 fit the EPC; resnet50 and vgg16 (528 MB of weights) page on
// every frame, unless --streamed-mib has the enclave stream that many MiB of
// the largest weights instead (engine/streamed_weights.h): a row per value,
// with the bytes the enclave then streams per frame. --pixel-input builds
// the models to take a camera's uint8 picture and normalise it themselves
// (zoo::ZooOptions), on both sides: the frame the client seals and the
// enclave opens is then a quarter of the size.
//
//   enclave_overhead [--models a,b] [--frames N] [--threads T] [--profiles p,q]
//                    [--streamed-mib x,y] [--pixel-input]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cli/enclave_client.h"
#include "cli/zoo/model_zoo.h"
#include "enclave/attestation/platform.h"
#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"
#include "worker/enclave_host.h"

namespace serdab {
namespace {

using engine::Tensor;

// CPU time of the calling thread: what the frame ran for, less the time its
// CPU was given to others (by this kernel, or by the hypervisor as steal).
// With --threads 1 the frame runs on the calling thread alone.
double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::string> SplitList(const char* list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

void Die(const Status& s, const char* what) {
  std::fprintf(stderr, "enclave_overhead: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

nlohmann::json ParseStats(const std::string& text) {
  nlohmann::json stats = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!stats.is_object()) Die(Status::Corruption("not a JSON object"), "enclave stats");
  return stats;
}

// A counter from the enclave's stats (-1 when absent).
double Counter(const nlohmann::json& stats, const char* key) {
  const auto it = stats.find(key);
  return it != stats.end() && it->is_number() ? it->get<double>() : -1;
}

void Usage() {
  std::fprintf(stderr,
               "usage: enclave_overhead [--models a,b] [--frames N] [--threads T] "
               "[--profiles p,q] [--streamed-mib x,y] [--pixel-input]\n");
}

int Main(int argc, char** argv) {
  std::vector<std::string> models = {"resnet18", "mobilenet_v2", "vgg16"};
  std::vector<std::string> profiles = {"none", "sgx1"};
  std::vector<double> streamed_mib = {0};
  int frames = 10, threads = 2;
  zoo::ZooOptions zoo_options;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--pixel-input") {
      zoo_options.pixel_input = true;
      --i;
    } else if (i + 1 == argc) {
      Usage();
      return 2;
    } else if (flag == "--models") {
      models = SplitList(argv[i + 1]);
    } else if (flag == "--profiles") {
      profiles = SplitList(argv[i + 1]);
    } else if (flag == "--streamed-mib") {
      streamed_mib.clear();
      for (const std::string& mib : SplitList(argv[i + 1])) streamed_mib.push_back(std::stod(mib));
    } else if (flag == "--frames") {
      frames = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--threads") {
      threads = std::max(1, std::atoi(argv[i + 1]));
    } else {
      Usage();
      return 2;
    }
  }

  char tmpl[] = "/tmp/serdab-overhead-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  auto root = attestation::DeploymentRoot::Generate().value();
  auto platform = attestation::PlatformKey::Generate().value();
  if (Status s = platform.Save(dir); !s.ok()) Die(s, "platform");
  auto cert =
      attestation::IssuePlatformCertificate(root, platform.public_key(), "bench", 0).value();
  if (Status s = attestation::SavePlatformCertificate(cert, dir + "/platform.cert"); !s.ok()) {
    Die(s, "certificate");
  }
  attestation::QuotePolicy policy;
  policy.allow_any_enclave = true;
  policy.allow_simulation = true;
  policy.allow_debug = true;
  auto verifier = attestation::QuoteVerifier::Create(root.public_key(), policy).value();

  std::printf(
      "| model | weights MiB | native ms | native CPU ms | enclave profile | streamed MiB/frame "
      "| enclave wall ms | enclave CPU ms | enclave TEE ms | TEE/native | emulation share of wall "
      "| swaps/frame | faults/frame | evictions/frame |\n|---|---:|---:|---:|---|---:|---:|---:|"
      "---:|---:|---:|---:|---:|---:|\n");
  for (const std::string& name : models) {
    std::fprintf(stderr, "[%s] building\n", name.c_str());
    auto built = zoo::BuildModel(name, 1, zoo_options);
    if (!built.ok()) Die(built.status(), "zoo");
    const crypto::Bytes bytes(built->begin(), built->end());
    std::string().swap(*built);
    double weight_mib = 0;
    Tensor input;
    engine::ModelOptions options;
    options.num_threads = threads;
    const std::string_view view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    auto graph = engine::ImportOnnxBytes(view, name);
    if (!graph.ok()) Die(graph.status(), "import");
    auto native = engine::Model::FromGraph(std::move(graph).value(), options);
    if (!native.ok()) Die(native.status(), "load");
    weight_mib = (*native)->weight_bytes() / 1048576.0;
    const engine::TensorInfo& info = (*native)->cuts().front().infos[0];
    input = Tensor::Create(info.dtype, info.shape).value();
    std::mt19937 rng(1);
    std::normal_distribution<float> dist;
    for (int64_t i = 0; i < input.num_elements(); ++i) {
      if (info.dtype == engine::DataType::kUint8) {
        input.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
      } else {
        input.data<float>()[i] = dist(rng);
      }
    }
    (*native)->Run({input}).value();
    for (const std::string& profile : profiles) {
      for (const double mib : streamed_mib) {
        std::fprintf(stderr, "[%s] enclave, %s, streaming %.0f MiB\n", name.c_str(),
                     profile.c_str(), mib);
        const std::string config = "epc_mib = 93.5\ncost_profile = " + profile + "\n";
        auto host = worker::EnclaveHost::Create(config, dir);
        if (!host.ok()) Die(host.status(), "enclave");
        const auto owner = crypto::Ed25519KeyPair::Generate().value();
        auto client = cli::EnclaveClient::Attest(host->get(), verifier, owner, owner.public_key());
        if (!client.ok()) Die(client.status(), "attest");
        cli::PartitionSpec spec;
        spec.threads = threads;
        spec.routes = (*client)->SelfRoutes();
        spec.streamed_weight_bytes = static_cast<uint64_t>(mib * 1048576);
        if (auto p = (*client)->Provision(bytes, spec); !p.ok()) Die(p.status(), "provision");
        const double streamed =
            Counter(ParseStats((*host)->StatsJson().value()), "streamed_weight_bytes") / 1048576;
        (*client)->Infer({input}).value();  // warm-up: first touches are not paging
        // Both clocks per frame: the client's around Infer, and the enclave's
        // counters around it for the TEE's extra time.
        // Native and enclave frames alternate in blocks, so that the VM's drift
        // (other tenants, frequency) weighs on both sides of the ratio alike.
        // Blocks rather than single frames: a pool's workers spin for a while
        // after its last loop, and that spin would steal a core from the other
        // side's next frame; in a block only the first frame (of five) meets it,
        // and the median discards it.
        constexpr int kBlock = 5;
        std::vector<double> native_ms, native_cpu_ms, wall_ms, cpu_ms, tee_ms, share;
        double swaps = 0, faults = 0, evictions = 0;
        for (int done = 0; done < frames; done += kBlock) {
          const int block = std::min(kBlock, frames - done);
          for (int f = 0; f < block; ++f) {
            const auto start = std::chrono::steady_clock::now();
            const double cpu_start = ThreadCpuMs();
            (*native)->Run({input}).value();
            native_cpu_ms.push_back(ThreadCpuMs() - cpu_start);
            native_ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count());
          }
          for (int f = 0; f < block; ++f) {
            const std::string before = (*host)->StatsJson().value();
            const auto start = std::chrono::steady_clock::now();
            const double cpu_start = ThreadCpuMs();
            (*client)->Infer({input}).value();
            cpu_ms.push_back(ThreadCpuMs() - cpu_start);
            const double frame_ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            const std::string after = (*host)->StatsJson().value();
            // Parsed only now, so that parsing is not in the frame's enclave time.
            const nlohmann::json stats_before = ParseStats(before), stats_after = ParseStats(after);
            auto delta = [&](const char* key) {
              return Counter(stats_after, key) - Counter(stats_before, key);
            };
            // The frame on the client's clock. The enclave's two clocks add
            // what the target TEE takes beyond the wall time (nothing under
            // `none`); their own span also holds most of the two stats
            // ECALLs around the frame, which are not the frame's.
            wall_ms.push_back(frame_ms);
            tee_ms.push_back(frame_ms + (delta("tee_ns") - delta("wall_ns")) * 1e-6);
            share.push_back(delta("emulation_ns") / delta("wall_ns"));
            swaps += delta("swaps");
            faults += delta("page_faults");
            evictions += delta("evictions");
          }
        }
        const double tee = Median(tee_ms);
        const double native_median = Median(native_ms);
        std::printf(
            "| %s | %.1f | %.2f | %.2f | %s | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | "
            "%.0f "
            "| %.0f |\n",
            name.c_str(), weight_mib, native_median, Median(native_cpu_ms), profile.c_str(),
            streamed, Median(wall_ms), Median(cpu_ms), tee, tee / native_median, Median(share),
            swaps / frames, faults / frames, evictions / frames);
        std::fflush(stdout);
      }
    }
  }
  std::filesystem::remove_all(dir);
  std::printf("\n%d frames per row (median), %d threads, EPC 93.5 MiB, %s input.\n", frames,
              threads, zoo_options.pixel_input ? "uint8 pixel" : "float32");
  return 0;
}

}  // namespace
}  // namespace serdab

int main(int argc, char** argv) { return serdab::Main(argc, argv); }
