// serdab profile: measures a model's layers on this machine (and in a sim
// enclave) and writes the model profile the placement solver reads.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/layer_profiler.h"
#include "partitioner/profile_io.h"

namespace serdab::cli {

int RunProfileCommand(int argc, char** argv) {
  std::string model_path, out, enclave = "none";
  ProfilerOptions options;
  bool no_cache = false;
  CLI::App app{
      "Measures every layer of a model (median of --repeat runs, one layer at a time)\n"
      "and writes a model profile for serdab plan: per layer the native and in-enclave\n"
      "time, weight and activation bytes, and the bytes live at every cut. With\n"
      "--enclave sim the layers are timed inside sim enclaves, a few layers at a time\n"
      "so that each range fits half the EPC (each range also end to end, its layers\n"
      "scaled to add up to that), and this machine's page swap, ECALL and\n"
      "AEAD costs are measured and printed as a cluster worker entry. Profiles are\n"
      "cached by model sha256 and machine fingerprint ($SERDAB_CACHE, else\n"
      "~/.cache/serdab/profiles); --no-cache measures again.",
      "profile"};
  app.add_option("--model", model_path, "ONNX model file")->required();
  app.add_option("--out", out, "where to write the profile (YAML)")->required();
  app.add_option("--threads", options.threads, "worker threads")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(1, 256));
  app.add_option("--repeat", options.repeats, "timed runs per layer")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(1, 1000));
  app.add_option("--enclave", enclave, "where the layers are timed")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "sim"}));
  app.add_option("--epc-mib", options.enclave_options.epc_mib, "sim enclave: EPC budget in MiB")
      ->capture_default_str();
  app.add_option("--enclave-profile", options.enclave_options.cost_profile,
                 "sim enclave: the target TEE, sgx1 | sgx2 | tdx | sev-snp (times are "
                 "TEE-equivalent on it), or none (this host's wall time)")
      ->capture_default_str();
  app.add_flag("--no-cache", no_cache,
               "measure again even if this model was profiled here with the same settings");
  if (auto rc = ParseFlags(app, argc, argv)) return *rc;
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
      "page_swap_ns: %.0f, ecall_ns: %.0f, aead_bytes_per_s: %.3g, threads: %d, "
      "runtime_bytes: %lld}\n",
      w.name.c_str(), w.target.empty() ? "" : ("target: " + w.target + ", ").c_str(),
      std::string(partitioner::WorkerKindName(w.kind)).c_str(), static_cast<long long>(w.epc_bytes),
      w.page_swap_ns, w.ecall_ns, w.aead_bytes_per_s, w.threads,
      static_cast<long long>(w.runtime_bytes));
  return 0;
}

}  // namespace serdab::cli
