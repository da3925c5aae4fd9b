#include "cli/layer_profiler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "enclave/crypto/aead.h"
#include "enclave/crypto/keys.h"
#include "enclave/engine/layer_timer.h"
#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"
#include "partitioner/profile_io.h"
#include "worker/cpu_info.h"

namespace serdab::cli {
namespace {

using engine::Tensor;

// The EPC a worker without one is given: larger than any working set (2^50
// bytes, the most a profile may hold), so the cost model never pages.
constexpr int64_t kNoEpcLimit = int64_t{1} << 50;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The enclave's JSON replies come through the untrusted host: a malformed one
// is a Status naming `what`, never an exception.
Result<nlohmann::json> ParseReply(const std::string& text, const std::string& what) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return Status::Corruption(what + ": not a JSON object");
  return json;
}

Result<double> JsonNumber(const nlohmann::json& json, const std::string& what,
                          const std::string& key) {
  const auto it = json.find(key);
  if (it == json.end() || !it->is_number()) {
    return Status::Corruption(what + ": no number '" + key + "'");
  }
  return it->get<double>();
}

Result<std::vector<double>> JsonNumbers(const nlohmann::json& json, const std::string& what,
                                        const std::string& key) {
  const auto it = json.find(key);
  if (it == json.end() || !it->is_array()) {
    return Status::Corruption(what + ": no array '" + key + "'");
  }
  std::vector<double> values;
  for (const nlohmann::json& v : *it) {
    if (!v.is_number()) return Status::Corruption(what + ": '" + key + "' holds a non-number");
    values.push_back(v.get<double>());
  }
  return values;
}

// The target TEE the enclave's cost profile models, as its stats state it
// (epc_stats.h): the prices that turn the emulation's timings into the
// target's.
struct Target {
  std::string name;
  bool modelled = false;  // false for "none": timings are the host's
  int64_t epc_bytes = 0;  // 0: no limit
  double page_swap_ns = 0;
  double memory_overhead = 0;
};

Result<Target> ReadTarget(const std::string& stats_json) {
  const std::string what = "enclave stats";
  SERDAB_ASSIGN_OR_RETURN(const nlohmann::json stats, ParseReply(stats_json, what));
  Target t;
  const auto profile = stats.find("profile");
  if (profile == stats.end() || !profile->is_string()) {
    return Status::Corruption(what + ": no string 'profile'");
  }
  t.name = profile->get<std::string>();
  const auto has_target = stats.find("has_target");
  t.modelled = has_target != stats.end() && *has_target == true;
  SERDAB_ASSIGN_OR_RETURN(const double cycles_per_second,
                          JsonNumber(stats, what, "cycles_per_second"));
  SERDAB_ASSIGN_OR_RETURN(const double swap_cycles, JsonNumber(stats, what, "swap_price_cycles"));
  SERDAB_ASSIGN_OR_RETURN(const double epc, JsonNumber(stats, what, "target_epc_bytes"));
  SERDAB_ASSIGN_OR_RETURN(t.memory_overhead, JsonNumber(stats, what, "memory_overhead"));
  if (cycles_per_second <= 0) return Status::Corruption("enclave stats: no cycle rate");
  t.page_swap_ns = swap_cycles * 1e9 / cycles_per_second;
  t.epc_bytes = static_cast<int64_t>(epc);
  return t;
}

std::string CachePath(const std::string& dir, const std::string& key) {
  std::string name = key;
  std::replace(name.begin(), name.end(), '/', '-');
  return dir + "/" + name + ".yaml";
}

// The worker entry is cached beside the model profile, as a one-worker
// cluster file.
std::string WorkerCachePath(const std::string& dir, const std::string& key) {
  return CachePath(dir, key + "/worker");
}

Status StoreInCache(const ProfilerOptions& options, const std::string& key,
                    const ProfileResult& result) {
  if (options.cache_dir.empty()) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(options.cache_dir, ec);
  if (ec)
    return Status::IoError(options.cache_dir +
                           ": cannot create the profile cache: " + ec.message());
  partitioner::Cluster one;
  one.workers = {result.worker};
  SERDAB_RETURN_IF_ERROR(partitioner::SaveCluster(one, WorkerCachePath(options.cache_dir, key)));
  return partitioner::SaveModelProfile(result.model, CachePath(options.cache_dir, key));
}

// Profiles in LocalEnclaves, a fresh one per range.
class LocalProfilingEnclave final : public ProfilingEnclave {
 public:
  LocalProfilingEnclave(const ProfilerOptions& options, const crypto::Bytes& model)
      : options_(options), model_(model) {}

  Result<std::string> Stats() override {
    if (!enclave_) {
      SERDAB_ASSIGN_OR_RETURN(enclave_, LocalEnclave::Start(options_.enclave_options));
    }
    return enclave_->host().StatsJson();
  }
  Status Provision(int begin, int end) override {
    // The enclave Stats() started is still empty: it takes the first range.
    if (!enclave_ || provisioned_) {
      enclave_.reset();
      SERDAB_ASSIGN_OR_RETURN(enclave_, LocalEnclave::Start(options_.enclave_options));
    }
    provisioned_ = true;
    PartitionSpec spec;
    spec.begin = begin;
    spec.end = end;
    spec.threads = options_.threads;
    spec.synthetic_weights = options_.synthetic_weights;
    return enclave_->client().Provision(model_, spec).status();
  }
  Result<std::string> Profile(int repeats, bool measure_paging) override {
    if (!enclave_) return Status::FailedPrecondition("nothing provisioned to profile");
    return enclave_->host().Profile(repeats, measure_paging);
  }

 private:
  const ProfilerOptions& options_;
  const crypto::Bytes& model_;
  std::unique_ptr<LocalEnclave> enclave_;
  bool provisioned_ = false;
};

}  // namespace

Status ProfileInEnclaves(ProfilingEnclave* enclave, int repeats,
                         const std::function<void(const std::string&)>& progress,
                         partitioner::ModelProfile* model, partitioner::WorkerProfile* worker) {
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  partitioner::ModelProfile& profile = *model;
  const int n = profile.num_layers();
  const int64_t epc = worker->epc_bytes;
  std::vector<bool> timed(n, false);
  std::vector<double> swap_ns;
  int64_t overhead = 0;
  SERDAB_ASSIGN_OR_RETURN(const std::string stats, enclave->Stats());
  SERDAB_ASSIGN_OR_RETURN(const Target target, ReadTarget(stats));
  int begin = 0;
  while (begin < n) {
    int end = begin;
    int64_t weights = 0, activations = 0;
    while (end < n) {
      const auto& l = profile.layers[end];
      const int64_t w = weights + l.weight_bytes;
      const int64_t a = std::max(activations, l.activation_bytes);
      if (end > begin && w + a > epc / 2) break;
      weights = w;
      activations = a;
      ++end;
    }
    const bool fits = weights + activations <= epc / 2;
    say("enclave layers [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " +
        std::to_string(n) + (fits ? "" : " (larger than the EPC: scaled from native)"));
    // The swap cost is the enclave's, not the layers': measured once.
    const bool measure_paging = swap_ns.empty();
    if (!fits && !measure_paging) {
      // Its times would be discarded, and every run of it pages.
      begin = end;
      continue;
    }
    SERDAB_RETURN_IF_ERROR(enclave->Provision(begin, end));
    const std::string what = "profile reply";
    // A range that pages is not run (0 repeats): only the enclave's own
    // costs come back.
    SERDAB_ASSIGN_OR_RETURN(const std::string reply,
                            enclave->Profile(fits ? repeats : 0, measure_paging));
    SERDAB_ASSIGN_OR_RETURN(const nlohmann::json json, ParseReply(reply, what));
    if (fits) {
      SERDAB_ASSIGN_OR_RETURN(std::vector<double> layer_ms, JsonNumbers(json, what, "layer_ms"));
      if (static_cast<int>(layer_ms.size()) != end - begin) {
        return Status::Corruption("the enclave profiled " + std::to_string(layer_ms.size()) +
                                  " layers of " + std::to_string(end - begin));
      }
      // What the range held resident beyond the weights and activations the
      // cost model counts: the kernels' scratch, tensors kept alive across
      // layers, the arena's alignment. Stages get the EPC less the most any
      // range needed.
      SERDAB_ASSIGN_OR_RETURN(const double resident, JsonNumber(json, what, "resident_bytes"));
      overhead = std::max(overhead, static_cast<int64_t>(resident) - weights - activations -
                                        profile.cut_bytes[begin] - profile.cut_bytes[end]);
      // The layers' shares of the range timed end to end (an older enclave
      // sends no range_ms: the layer times stand), as a stage will run it.
      double sum_ms = 0;
      for (double ms : layer_ms) sum_ms += ms;
      if (json.contains("range_ms") && sum_ms > 0) {
        SERDAB_ASSIGN_OR_RETURN(const double range_ms, JsonNumber(json, what, "range_ms"));
        for (double& ms : layer_ms) ms *= range_ms / sum_ms;
      }
      // Resident layers page nothing, so the target differs from the host
      // only by its memory encryption.
      for (int k = begin; k < end; ++k) {
        profile.layers[k].enclave_wall_ms = layer_ms[k - begin];
        profile.layers[k].enclave_ms = layer_ms[k - begin] * (1 + target.memory_overhead);
        timed[k] = true;
      }
    }
    if (measure_paging) {
      SERDAB_ASSIGN_OR_RETURN(double swap, JsonNumber(json, what, "page_swap_ns"));
      swap_ns.push_back(swap);
    }
    SERDAB_ASSIGN_OR_RETURN(worker->ecall_ns, JsonNumber(json, what, "ecall_ns"));
    begin = end;
  }
  worker->page_swap_ns = Median(swap_ns);
  if (target.modelled) {
    // Predict the target, not this host: its swap price (the same the
    // enclave's TEE-equivalent clock charges) and its EPC, where that is
    // larger than the host can emulate (sgx2) or unlimited (a VM-level TEE).
    say("page swap: " + std::to_string(static_cast<int64_t>(worker->page_swap_ns)) +
        " ns on this host, " + std::to_string(static_cast<int64_t>(target.page_swap_ns)) +
        " ns on " + target.name);
    worker->page_swap_ns = target.page_swap_ns;
    if (target.epc_bytes == 0) {
      worker->epc_bytes = kNoEpcLimit;
    } else if (target.epc_bytes > worker->epc_bytes) {
      worker->epc_bytes = target.epc_bytes;
    }
    worker->target = target.name;
    profile.target = target.name;
  }
  if (overhead > 0 && worker->epc_bytes != kNoEpcLimit) {
    worker->epc_bytes = std::max<int64_t>(worker->epc_bytes - overhead, partitioner::kPageBytes);
    say("kernels' scratch and live tensors: " + std::to_string(overhead >> 10) +
        " KiB beyond weights and activations; EPC for stages: " +
        std::to_string(worker->epc_bytes >> 10) + " KiB");
  }
  // Layers that could not be timed resident: native time x the typical ratio.
  std::vector<double> ratios;
  for (int k = 0; k < n; ++k) {
    if (timed[k] && profile.layers[k].native_ms > 0.05) {
      ratios.push_back(profile.layers[k].enclave_ms / profile.layers[k].native_ms);
    }
  }
  const double ratio = ratios.empty() ? 1.0 : Median(ratios);
  for (int k = 0; k < n; ++k) {
    if (timed[k]) continue;
    profile.layers[k].enclave_ms = profile.layers[k].native_ms * ratio;
    profile.layers[k].enclave_wall_ms = profile.layers[k].enclave_ms / (1 + target.memory_overhead);
  }
  return Status::Ok();
}

std::string DefaultProfileCacheDir() {
  if (const char* dir = std::getenv("SERDAB_CACHE"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return std::string(xdg) + "/serdab/profiles";
  }
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/serdab/profiles";
}

std::string MachineFingerprint(const ProfilerOptions& options) {
  std::string text = worker::CpuModelName() +
                     "|cores=" + std::to_string(std::thread::hardware_concurrency()) +
                     "|threads=" + std::to_string(options.threads) +
                     "|repeats=" + std::to_string(options.repeats) +
                     "|clock=tee|resident|range-timed|streamable|scratch";
  if (options.enclave) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "|sim epc_mib=%.17g profile=%s",
                  options.enclave_options.epc_mib, options.enclave_options.cost_profile.c_str());
    text += buf;
  } else {
    text += "|native";
  }
  const crypto::Sha256Digest digest =
      crypto::Sha256(crypto::ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  return crypto::HexEncode(digest).substr(0, 16);
}

Result<ProfileResult> ProfileModel(const std::string& onnx_path, const ProfilerOptions& options) {
  std::ifstream in(onnx_path, std::ios::binary);
  if (!in) return Status::IoError(onnx_path + ": cannot open model");
  const crypto::Bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ProfileModelBytes(file, std::filesystem::path(onnx_path).stem().string(), options);
}

Result<ProfileResult> ProfileModelBytes(const crypto::Bytes& file, const std::string& name,
                                        const ProfilerOptions& options) {
  auto say = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };

  const std::string sha256 = crypto::HexEncode(crypto::Sha256(file));
  const std::string fingerprint = MachineFingerprint(options);
  const std::string key = sha256 + "/" + fingerprint;
  if (!options.cache_dir.empty()) {
    auto cached = partitioner::LoadModelProfile(CachePath(options.cache_dir, key));
    auto cluster = partitioner::LoadCluster(WorkerCachePath(options.cache_dir, key));
    if (cached.ok() && cluster.ok() && cluster->workers.size() == 1 && cached->sha256 == sha256) {
      say("using the cached profile " + CachePath(options.cache_dir, key));
      return ProfileResult{std::move(cached).value(), cluster->workers[0], true};
    }
  }

  engine::ModelOptions model_options;
  model_options.num_threads = options.threads;
  engine::ImportOptions import_options;
  import_options.synthesize_absent_weights = options.synthetic_weights;
  SERDAB_ASSIGN_OR_RETURN(
      engine::Graph graph,
      engine::ImportOnnxBytes(
          std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), name, nullptr,
          {}, import_options));
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<engine::Model> model,
                          engine::Model::FromGraph(std::move(graph), model_options));
  const int n = model->num_layers();
  ProfileResult result;
  partitioner::ModelProfile& profile = result.model;
  profile.name = name;
  profile.sha256 = sha256;
  for (const engine::CutInfo& cut : model->cuts()) {
    profile.cut_bytes.push_back(static_cast<int64_t>(cut.bytes));
  }

  // Native: each layer alone on its real inputs, median of the repeats.
  std::vector<Tensor> current;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (const engine::TensorInfo& info : model->cuts().front().infos) {
    SERDAB_ASSIGN_OR_RETURN(Tensor t, Tensor::Zeros(info.dtype, info.shape));
    if (info.dtype == engine::DataType::kFloat32) {
      for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
    }
    current.push_back(std::move(t));
  }
  for (int k = 0; k < n; ++k) {
    const engine::LayerInfo& layer = model->layers()[k];
    std::vector<Tensor> next;
    SERDAB_ASSIGN_OR_RETURN(const double layer_ms,
                            engine::TimeLayerMs(model.get(), k, current, options.repeats, &next));
    current = std::move(next);
    partitioner::LayerProfile lp;
    lp.name = layer.name;
    lp.native_ms = layer_ms;
    lp.enclave_ms = lp.native_ms;
    lp.weight_bytes = static_cast<int64_t>(layer.weight_bytes);
    lp.streamable_weight_bytes = static_cast<int64_t>(layer.streamable_weight_bytes);
    lp.activation_bytes = static_cast<int64_t>(layer.activation_bytes);
    profile.layers.push_back(lp);
    if ((k + 1) % 10 == 0 || k + 1 == n) {
      say("native layers " + std::to_string(k + 1) + "/" + std::to_string(n));
    }
  }
  current.clear();

  partitioner::WorkerProfile& worker = result.worker;
  worker.name = "this-host";
  worker.fingerprint = fingerprint;
  worker.threads = options.threads;
  SERDAB_ASSIGN_OR_RETURN(worker.aead_bytes_per_s, worker::AeadBytesPerSecond());
  if (!options.enclave) {
    worker.kind = partitioner::WorkerKind::kNative;
    SERDAB_RETURN_IF_ERROR(StoreInCache(options, key, result));
    return result;
  }

  // Enclave: ranges whose weights and largest activations fit half the EPC.
  worker.kind = partitioner::WorkerKind::kEnclave;
  worker.epc_bytes = static_cast<int64_t>(options.enclave_options.epc_mib * 1024 * 1024);
  worker.runtime_bytes = partitioner::kSimEnclaveRuntimeBytes;
  LocalProfilingEnclave enclave(options, file);
  SERDAB_RETURN_IF_ERROR(
      ProfileInEnclaves(&enclave, options.repeats, options.progress, &profile, &worker));
  SERDAB_RETURN_IF_ERROR(StoreInCache(options, key, result));
  return result;
}

}  // namespace serdab::cli
