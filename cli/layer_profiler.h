// LayerProfiler: measures a model's layers for the placement solver.
//
// Native times come from the engine on this machine, one layer at a time on
// the tensors the previous layer produced. With an enclave, the model is
// provisioned to sim enclaves one small layer range at a time — each range's
// weights fit in half the EPC, so profiling does not thrash the EPC — and each
// enclave times its layers itself (serdab_ecall_profile). A layer whose own
// working set exceeds the EPC cannot be timed without paging; its enclave time
// is its native time scaled by the median enclave/native ratio of the others,
// and the cost model adds its paging from the measured swap cost.
//
// With a cost profile that models a target TEE (sgx1, sgx2, tdx, sev-snp),
// the profile predicts the target rather than this host: enclave layer times
// are TEE-equivalent (the wall time the layer took, resident, plus the
// target's memory-encryption overhead; the wall time is kept beside it), the
// worker's page swap cost is the target's price (the one the enclave's
// TEE-equivalent clock charges, epc_stats.h), its EPC the target's where the
// host cannot emulate it, and both name the target.
#ifndef SERDAB_CLI_LAYER_PROFILER_H_
#define SERDAB_CLI_LAYER_PROFILER_H_

#include <functional>
#include <string>

#include "enclave/crypto/bytes.h"

#include "cli/local_enclave.h"
#include "partitioner/profile.h"

namespace serdab::cli {

struct ProfilerOptions {
  int threads = 2;
  int repeats = 5;
  bool enclave = false;
  LocalEnclaveOptions enclave_options;
  // Progress lines for long runs ("native 12/40"); may be empty.
  std::function<void(const std::string&)> progress;
  // Where profiles are cached under partitioner::CacheKey (the model's sha256
  // and this machine's fingerprint); empty: no cache.
  std::string cache_dir;
  // The model is architecture-only (engine::ArchitectureOnly): its weights
  // are filled with synthetic values of the same shapes.
  bool synthetic_weights = false;
};

// $SERDAB_CACHE, else $XDG_CACHE_HOME/serdab/profiles, else
// ~/.cache/serdab/profiles.
std::string DefaultProfileCacheDir();

// What identifies this machine and setting for caching: CPU model, cores,
// threads, and the enclave's EPC and cost profile.
std::string MachineFingerprint(const ProfilerOptions& options);

struct ProfileResult {
  partitioner::ModelProfile model;
  partitioner::WorkerProfile worker;  // this machine, as a cluster entry
  bool from_cache = false;
};

Result<ProfileResult> ProfileModel(const std::string& onnx_path, const ProfilerOptions& options);
// As ProfileModel, for a model in memory; `name` names the profile.
Result<ProfileResult> ProfileModelBytes(const crypto::Bytes& onnx, const std::string& name,
                                        const ProfilerOptions& options);

// Where enclave profiling runs: a LocalEnclave here, or a worker daemon's
// enclave (the orchestrator's profiler). Each Provision starts from a fresh
// enclave, so the ranges profiled before do not crowd its EPC.
class ProfilingEnclave {
 public:
  virtual ~ProfilingEnclave() = default;
  // The stats JSON of serdab_ecall_stats for an enclave of this kind.
  virtual Result<std::string> Stats() = 0;
  // Provisions layers [begin, end) of the model into a fresh enclave.
  virtual Status Provision(int begin, int end) = 0;
  // serdab_ecall_profile of the enclave last provisioned.
  virtual Result<std::string> Profile(int repeats, bool measure_paging) = 0;
};

// Times every layer of `model` inside enclaves, in ranges whose weights and
// largest activations fit half of `worker->epc_bytes`, and sets each layer's
// enclave_ms and enclave_wall_ms and the worker's page swap and ECALL costs
// (with a modelled target TEE: the target's). Each range is also timed end to
// end, and its layers' times are scaled to add up to that: a stage runs its
// layers one after the other, not each alone on warm caches. A layer too large to time
// resident gets its native time scaled by the median enclave/native ratio of
// the others. The worker's epc_bytes comes back less what the enclave held
// beyond the cost model's working set (weights, largest activation, input
// and output) in the range where that excess was largest, so that a stage
// the planner sees fit does fit. `model` must hold the layers' native_ms,
// weight_bytes, activation_bytes and the cut bytes.
Status ProfileInEnclaves(ProfilingEnclave* enclave, int repeats,
                         const std::function<void(const std::string&)>& progress,
                         partitioner::ModelProfile* model, partitioner::WorkerProfile* worker);

}  // namespace serdab::cli

#endif  // SERDAB_CLI_LAYER_PROFILER_H_
