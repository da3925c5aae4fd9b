// Profiles: what the placement solver knows about a model, the workers and the
// links between them.
//
// Units: times in milliseconds unless a field says otherwise, sizes in bytes,
// rates in bytes per second. A model has n layers in topological order and
// n + 1 cuts: cut i lies just before layer i, so cut 0 is the model input and
// cut n its output; cut_bytes[i] is what must cross the cut (every tensor
// produced before it and consumed after it).
//
// Layer times come from a reference machine (the model profile) or from the
// worker itself (WorkerProfile::layer_ms, measured there). Profiles are cached
// under CacheKey(model, worker): the model's sha256 and the worker's
// fingerprint, so a changed model or a changed machine is re-profiled.
#ifndef SERDAB_PARTITIONER_PROFILE_H_
#define SERDAB_PARTITIONER_PROFILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::partitioner {

inline constexpr int64_t kPageBytes = 4096;

// WorkerProfile::runtime_bytes of a sim enclave, as measured: vgg16 in one sgx1 enclave with
// its fc weights streamed held 2.5 MiB more than its working set and windows, and streaming
// just enough to fit those left it paging every page of them each frame (29,345 swaps).
inline constexpr int64_t kSimEnclaveRuntimeBytes = int64_t{4} << 20;

struct LayerProfile {
  std::string name;
  // Median time inside an enclave, with everything resident. With a target
  // (ModelProfile::target) this is TEE-equivalent time on the target, and
  // enclave_wall_ms the wall time the host took; otherwise both are wall time.
  double enclave_ms = 0;
  double native_ms = 0;  // median time outside any enclave
  int64_t weight_bytes = 0;
  int64_t activation_bytes = 0;  // peak working activations while the layer runs
  double enclave_wall_ms = 0;    // 0: not recorded (profiles from before targets)
  // Of weight_bytes: what an enclave can keep outside its EPC and stream in sealed chunks
  // (enclave/engine/streamed_weights.h). 0 for layers that cannot stream and in profiles
  // from before streaming.
  int64_t streamable_weight_bytes = 0;
};

struct ModelProfile {
  std::string name;
  std::string sha256;
  // The TEE the enclave times stand for (an enclave cost profile: sgx1, sgx2,
  // tdx, sev-snp); empty when they are the host's own wall times.
  std::string target;
  std::vector<LayerProfile> layers;
  std::vector<int64_t> cut_bytes;  // layers.size() + 1 entries

  int num_layers() const { return static_cast<int>(layers.size()); }
};

enum class WorkerKind {
  kEnclave,      // runs layers inside an enclave: EPC limit, paging, ECALLs
  kAccelerator,  // a GPU or similar outside any enclave
  kNative,       // a plain CPU process outside any enclave
};

std::string_view WorkerKindName(WorkerKind kind);
Result<WorkerKind> ParseWorkerKind(std::string_view name);

struct WorkerProfile {
  std::string name;
  std::string fingerprint;  // identifies the machine (CPU, EPC, backend) for caching
  // Enclaves: the TEE whose costs epc_bytes, page_swap_ns and ecall_ns are
  // (an enclave cost profile name); empty when they were measured on the host
  // as is. Informational: the planner reports it.
  std::string target;
  WorkerKind kind = WorkerKind::kEnclave;
  int64_t epc_bytes = 0;        // usable EPC; enclaves only
  double page_swap_ns = 0;      // one 4 KiB page moved out of or into the EPC (encrypt + MAC, or
                                // verify + decrypt, plus the fault); enclaves only
  double ecall_ns = 0;          // enclave transitions per frame: the ECALL and the OCALLs for I/O
  double aead_bytes_per_s = 0;  // sealing or opening frames on this worker
  int threads = 1;  // the layer times were measured with these; a streaming stage opens its
                    // weight chunks on as many threads at once
  // Enclaves: EPC the enclave's runtime holds besides a stage's working set (a frame's sealed
  // and opened copies, its own allocations), kept free when deciding how much to stream.
  int64_t runtime_bytes = 0;
  // Relative speed against the machine the model profile was measured on: reference times
  // are divided by it (2.0 = twice as fast). Ignored when layer_ms is given.
  double speed_factor = 1.0;
  // Per-layer times measured on this worker (in its enclave for enclave workers, natively
  // otherwise); empty = derive from the model profile and speed_factor.
  std::vector<double> layer_ms;

  bool is_enclave() const { return kind == WorkerKind::kEnclave; }
};

// A network path between two endpoints (worker names, or the cluster's client). Links are
// symmetric unless both directions are given, in which case each direction uses its own.
struct LinkProfile {
  std::string from;
  std::string to;
  double bandwidth_bytes_per_s = 0;
  double rtt_ms = 0;
};

// The link assumed between endpoints that have no LinkProfile. Without one, a missing link
// makes every placement that needs it infeasible: the solver never invents a network path.
struct DefaultLink {
  double bandwidth_bytes_per_s = 0;
  double rtt_ms = 0;
};

struct Cluster {
  std::vector<WorkerProfile> workers;  // in tier order (e.g. edge before cloud)
  std::vector<LinkProfile> links;
  std::optional<DefaultLink> default_link;
  // Where frames come from and results go to. Empty: the client is not modelled and only
  // links between stages count. Otherwise its links to the first and from the last stage
  // count like any other link.
  std::string client;

  int num_workers() const { return static_cast<int>(workers.size()); }
};

// The bandwidth and round trip between two endpoints, after defaults; nullopt when there is
// neither a link nor a default.
struct ResolvedLink {
  double bandwidth_bytes_per_s = 0;
  double rtt_ms = 0;
};
std::optional<ResolvedLink> FindLink(const Cluster& cluster, std::string_view from,
                                     std::string_view to);

// Layer times on this worker, one per layer of the model.
std::vector<double> WorkerLayerTimesMs(const ModelProfile& model, const WorkerProfile& worker);

// The cache key for a (model, worker) profile.
std::string CacheKey(const ModelProfile& model, const WorkerProfile& worker);

// Checks sizes, signs and names; errors name the field at fault.
Status ValidateModel(const ModelProfile& model);
Status ValidateCluster(const Cluster& cluster, const ModelProfile& model);

// "93.5 MiB" style sizes for messages and reports.
std::string FormatBytes(int64_t bytes);

}  // namespace serdab::partitioner

#endif  // SERDAB_PARTITIONER_PROFILE_H_
