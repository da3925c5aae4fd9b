// serdab profile: measures a model's layers on this machine (and in a sim
// enclave) and writes the model profile the placement solver reads.
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/layer_profiler.h"
#include "partitioner/profile_io.h"

namespace serdab::cli {

int RunProfileCommand(int argc, char** argv) {
  std::string model_path, out, enclave = "none";
  int64_t threads = 2, repeat = 5;
  ProfilerOptions options;
  FlagParser flags(
      "profile",
      "Measures every layer of a model (median of --repeat runs, one layer at a time)\n"
      "and writes a model profile for serdab plan: per layer the native and in-enclave\n"
      "time, weight and activation bytes, and the bytes live at every cut. With\n"
      "--enclave sim the layers are timed inside sim enclaves, a few layers at a time\n"
      "so that each range fits half the EPC, and this machine's page swap, ECALL and\n"
      "AEAD costs are measured and printed as a cluster worker entry. Profiles are\n"
      "cached by model sha256 and machine fingerprint ($SERDAB_CACHE, else\n"
      "~/.cache/serdab/profiles); --no-cache measures again.");
  flags.AddString("model", &model_path, "ONNX model file", true);
  flags.AddString("out", &out, "where to write the profile (YAML)", true);
  flags.AddInt("threads", &threads, "worker threads", 1, 256);
  flags.AddInt("repeat", &repeat, "timed runs per layer", 1, 1000);
  flags.AddString("enclave", &enclave, "none | sim");
  flags.AddDouble("epc-mib", &options.enclave_options.epc_mib, "sim enclave: EPC budget in MiB");
  flags.AddString("enclave-profile", &options.enclave_options.cost_profile,
                  "sim enclave: the target TEE, sgx1 | sgx2 | tdx | sev-snp (times are "
                  "TEE-equivalent on it), or none (this host's wall time)");
  bool no_cache = false;
  flags.AddBool("no-cache", &no_cache,
                "measure again even if this model was profiled here with the same settings");
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return ReportError("profile", s, true);
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (enclave != "none" && enclave != "sim") {
    return ReportError(
        "profile",
        Status::InvalidArgument("--enclave: expected none or sim, got '" + enclave + "'"), true);
  }
  options.threads = static_cast<int>(threads);
  options.repeats = static_cast<int>(repeat);
  options.enclave = enclave == "sim";
  options.cache_dir = no_cache ? "" : DefaultProfileCacheDir();
  options.progress = [](const std::string& line) {
    std::fprintf(stderr, "profile: %s\n", line.c_str());
  };
  auto result = ProfileModel(model_path, options);
  if (!result.ok()) return ReportError("profile", result.status());
  if (Status s = partitioner::SaveModelProfile(result->model, out); !s.ok()) {
    return ReportError("profile", s);
  }
  double native = 0, in_enclave = 0;
  for (const auto& l : result->model.layers) {
    native += l.native_ms;
    in_enclave += l.enclave_ms;
  }
  const partitioner::WorkerProfile& w = result->worker;
  const std::string& target = result->model.target;
  std::printf("wrote %s: %d layers, %.2f ms native, %.2f ms in the enclave (resident%s)\n",
              out.c_str(), result->model.num_layers(), native, in_enclave,
              target.empty() ? "" : (", " + target + "-equivalent").c_str());
  std::printf(
      "this machine as a cluster worker:\n  - {name: %s, %skind: %s, epc_bytes: %lld, "
      "page_swap_ns: %.0f, ecall_ns: %.0f, aead_bytes_per_s: %.3g, threads: %d}\n",
      w.name.c_str(), w.target.empty() ? "" : ("target: " + w.target + ", ").c_str(),
      std::string(partitioner::WorkerKindName(w.kind)).c_str(), static_cast<long long>(w.epc_bytes),
      w.page_swap_ns, w.ecall_ns, w.aead_bytes_per_s, w.threads);
  return 0;
}

}  // namespace serdab::cli
