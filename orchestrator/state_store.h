// StateStore: the orchestrator's desired and observed state in one SQLite
// database file (WAL journal, synchronous=FULL, so that a kill -9 loses no
// committed change). Workers, deployments and the event log; every write is
// one transaction. The schema is versioned: opening a database written by a
// newer schema is refused, an older one is migrated.
//
// Nothing secret is stored here in the clear: plans name models and
// policies, never weights or keys (the coordinator's sealed blobs, when
// stored, are sealed).
//
// Thread-safe (one connection behind a mutex).
#ifndef SERDAB_ORCHESTRATOR_STATE_STORE_H_
#define SERDAB_ORCHESTRATOR_STATE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "enclave/common/status.h"

struct sqlite3;

namespace serdab::orchestrator {

struct WorkerRecord {
  std::string name;
  std::string address;
  std::map<std::string, std::string> labels;
  std::string capacity_json;  // the registration's capacity, as JSON
  std::string platform_key;   // hex, from its certificate
  int64_t registered_ms = 0;
  int64_t last_heartbeat_ms = 0;  // stored as of its last readiness change
  bool ready = false;             // as last recorded by the liveness check
};

struct ConditionRecord {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;
  std::string message;
  int64_t changed_ms = 0;
};

struct AttestationRecord {
  std::string worker;
  std::string enclave;
  std::string mrenclave;
  std::string platform;
  std::string instance;  // hex instance id from the verified quote: a new one after a restart
  bool attested = false;
  std::string reason;
  int64_t checked_ms = 0;
};

// One stage of a rollout: layers [begin, end) of the model (end -1: to the
// last) in `enclave` on `worker`.
struct StageRecord {
  std::string worker;
  std::string enclave;
  int begin = 0;
  int end = 0;
  double predicted_ms = 0;
  std::string mrenclave;  // of the enclave the coordinator attested
  std::string instance;   // and its instance id (hex)
  std::string state;      // "Planned", "Provisioned", "Failed"
  std::string message;
  int replica = 0;  // 1: the second worker of a replicated stage (same range)
  // The placement's choice for the stage's weights (partitioner/placement.h's
  // WeightResidencyName) and the bytes its enclave streams every frame.
  std::string weight_residency;
  uint64_t streamed_weight_bytes = 0;
  // Above 1: the stage is one layer split this many ways, and `replica` is
  // this worker's shard of it (engine/output_slice.h).
  int shards = 1;
};

// The pipeline's stages among `stages` (a replicated stage counts once), and
// how a message says it: "3 stages", or "2 stages on 3 workers".
size_t PipelineStages(const std::vector<StageRecord>& stages);
std::string DescribeStages(const std::vector<StageRecord>& stages);

// The placement a deployment runs (or is being rolled out to).
struct RolloutRecord {
  uint64_t version = 0;                 // the partition version its stages hold; 0: none yet
  uint64_t generation = 0;              // the deployment generation it realises
  std::vector<std::string> candidates;  // the attested workers it was placed among
  std::vector<StageRecord> stages;
  double predicted_fps = 0;
  double predicted_latency_ms = 0;
  double profile_ms = 0;
  double solve_ms = 0;
  double attest_ms = 0;
  double provision_ms = 0;
  int64_t started_ms = 0;
  int64_t ready_ms = 0;  // 0: not (yet) Ready
};

struct DeploymentRecord {
  std::string name;
  std::string plan_json;
  std::string plan_digest;
  uint64_t generation = 0;
  std::string phase;  // "Pending", "Ready", "Failed"
  std::vector<ConditionRecord> conditions;
  std::vector<AttestationRecord> attestations;
  uint64_t attested_generation = 0;  // the generation `attestations` were made for
  // The model's architecture (STATE/architectures/<sha256>.onnx, no weights)
  // and the whole model's SHA-256, as its owner applied it.
  std::string architecture_sha256;
  std::string model_sha256;
  RolloutRecord rollout;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

struct EventRecord {
  uint64_t id = 0;
  int64_t unix_ms = 0;
  std::string kind;  // "Worker", "Deployment"
  std::string object;
  std::string reason;
  std::string message;
};

class StateStore {
 public:
  static constexpr int kSchemaVersion = 3;

  // Opens or creates the database at `path`.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& path);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  Status PutWorker(const WorkerRecord& worker);
  Result<std::optional<WorkerRecord>> GetWorker(const std::string& name);
  Result<std::vector<WorkerRecord>> ListWorkers();

  Status PutDeployment(const DeploymentRecord& deployment);
  Result<std::optional<DeploymentRecord>> GetDeployment(const std::string& name);
  Result<std::vector<DeploymentRecord>> ListDeployments();
  // NotFound if there is no such deployment.
  Status DeleteDeployment(const std::string& name);

  // Appends an event and returns it with its id.
  Result<EventRecord> AddEvent(EventRecord event);
  // Events with id > `after`, oldest first, at most `limit`.
  Result<std::vector<EventRecord>> EventsAfter(uint64_t after, int limit);
  // The id of the newest event; 0 when there is none.
  Result<uint64_t> LastEventId();
  // The last `limit` events about `object`, oldest first.
  Result<std::vector<EventRecord>> EventsFor(const std::string& kind, const std::string& object,
                                             int limit);

 private:
  explicit StateStore(sqlite3* db) : db_(db) {}
  Status Migrate();
  Status CreateSchemaVersion1();

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_STATE_STORE_H_
