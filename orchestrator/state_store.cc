#include "orchestrator/state_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace serdab::orchestrator {
namespace {

using json = nlohmann::json;

Status SqlError(sqlite3* db, const std::string& what) {
  return Status::IoError("state database: " + what + ": " + sqlite3_errmsg(db));
}

// One prepared statement, finalised on scope exit. Bind* take 1-based
// indexes as SQLite does.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  void Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    return p == nullptr
               ? std::string()
               : std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, column));
  }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

Status Exec(sqlite3* db, const char* sql, const std::string& what) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    return Status::IoError("state database: " + what + ": " + message);
  }
  return Status::Ok();
}

// Runs a statement that returns no rows.
Status Run(sqlite3* db, Statement& stmt, const std::string& what) {
  if (!stmt.ok()) return SqlError(db, what);
  if (stmt.Step() != SQLITE_DONE) return SqlError(db, what);
  return Status::Ok();
}

// JSON read back from our own database: a parse failure means the file was
// damaged or edited, which is reported rather than thrown.
Result<json> ParseStored(const std::string& text, const std::string& what) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return Status::Corruption("state database: " + what + " is not JSON");
  return value;
}

Result<WorkerRecord> ReadWorker(const Statement& row) {
  WorkerRecord w;
  w.name = row.Text(0);
  w.address = row.Text(1);
  SERDAB_ASSIGN_OR_RETURN(json labels, ParseStored(row.Text(2), "labels of " + w.name));
  if (!labels.is_object()) return Status::Corruption("state database: labels of " + w.name);
  for (const auto& [key, value] : labels.items()) {
    if (!value.is_string()) return Status::Corruption("state database: labels of " + w.name);
    w.labels[key] = value.get<std::string>();
  }
  w.capacity_json = row.Text(3);
  w.platform_key = row.Text(4);
  w.registered_ms = row.Int(5);
  w.last_heartbeat_ms = row.Int(6);
  w.ready = row.Int(7) != 0;
  return w;
}

Result<DeploymentRecord> ReadDeployment(const Statement& row) {
  DeploymentRecord d;
  d.name = row.Text(0);
  d.plan_json = row.Text(1);
  d.plan_digest = row.Text(2);
  d.generation = static_cast<uint64_t>(row.Int(3));
  d.phase = row.Text(4);
  SERDAB_ASSIGN_OR_RETURN(json conditions, ParseStored(row.Text(5), "conditions of " + d.name));
  if (!conditions.is_array()) return Status::Corruption("state database: conditions of " + d.name);
  for (const json& c : conditions) {
    if (!c.is_object()) return Status::Corruption("state database: conditions of " + d.name);
    ConditionRecord r;
    r.type = c.value("type", "");
    r.status = c.value("status", "");
    r.reason = c.value("reason", "");
    r.message = c.value("message", "");
    r.changed_ms = c.value("changed_ms", int64_t{0});
    d.conditions.push_back(std::move(r));
  }
  d.created_ms = row.Int(6);
  d.updated_ms = row.Int(7);
  SERDAB_ASSIGN_OR_RETURN(json attestations, ParseStored(row.Text(8), "attestations of " + d.name));
  if (!attestations.is_array()) {
    return Status::Corruption("state database: attestations of " + d.name);
  }
  for (const json& a : attestations) {
    if (!a.is_object()) return Status::Corruption("state database: attestations of " + d.name);
    AttestationRecord r;
    r.worker = a.value("worker", "");
    r.enclave = a.value("enclave", "");
    r.mrenclave = a.value("mrenclave", "");
    r.platform = a.value("platform", "");
    r.instance = a.value("instance", "");
    r.attested = a.value("attested", false);
    r.reason = a.value("reason", "");
    r.checked_ms = a.value("checked_ms", int64_t{0});
    d.attestations.push_back(std::move(r));
  }
  d.attested_generation = static_cast<uint64_t>(row.Int(9));
  d.architecture_sha256 = row.Text(10);
  d.model_sha256 = row.Text(11);
  SERDAB_ASSIGN_OR_RETURN(json rollout, ParseStored(row.Text(12), "rollout of " + d.name));
  if (!rollout.is_object()) return Status::Corruption("state database: rollout of " + d.name);
  RolloutRecord& r = d.rollout;
  r.version = rollout.value("version", uint64_t{0});
  r.generation = rollout.value("generation", uint64_t{0});
  r.predicted_fps = rollout.value("predicted_fps", 0.0);
  r.predicted_latency_ms = rollout.value("predicted_latency_ms", 0.0);
  r.profile_ms = rollout.value("profile_ms", 0.0);
  r.solve_ms = rollout.value("solve_ms", 0.0);
  r.attest_ms = rollout.value("attest_ms", 0.0);
  r.provision_ms = rollout.value("provision_ms", 0.0);
  r.started_ms = rollout.value("started_ms", int64_t{0});
  r.ready_ms = rollout.value("ready_ms", int64_t{0});
  r.candidates = rollout.value("candidates", std::vector<std::string>{});
  const auto stages = rollout.find("stages");
  if (stages != rollout.end()) {
    if (!stages->is_array()) return Status::Corruption("state database: stages of " + d.name);
    for (const json& st : *stages) {
      if (!st.is_object()) return Status::Corruption("state database: stages of " + d.name);
      StageRecord stage;
      stage.worker = st.value("worker", "");
      stage.enclave = st.value("enclave", "");
      stage.begin = st.value("begin", 0);
      stage.end = st.value("end", 0);
      stage.replica = st.value("replica", 0);
      stage.shards = st.value("shards", 1);
      stage.predicted_ms = st.value("predicted_ms", 0.0);
      stage.weight_residency = st.value("weight_residency", "");
      stage.streamed_weight_bytes = st.value("streamed_weight_bytes", uint64_t{0});
      stage.mrenclave = st.value("mrenclave", "");
      stage.instance = st.value("instance", "");
      stage.state = st.value("state", "");
      stage.message = st.value("message", "");
      r.stages.push_back(std::move(stage));
    }
  }
  return d;
}

EventRecord ReadEvent(const Statement& row) {
  EventRecord e;
  e.id = static_cast<uint64_t>(row.Int(0));
  e.unix_ms = row.Int(1);
  e.kind = row.Text(2);
  e.object = row.Text(3);
  e.reason = row.Text(4);
  e.message = row.Text(5);
  return e;
}

constexpr char kWorkerColumns[] =
    "name, address, labels, capacity, platform_key, registered_ms, last_heartbeat_ms, ready";
constexpr char kDeploymentColumns[] =
    "name, plan, digest, generation, phase, conditions, created_ms, updated_ms, attestations, "
    "attested_generation, architecture, model_sha256, rollout";

}  // namespace

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    Status s = Status::IoError("cannot open the state database '" + path +
                               "': " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return s;
  }
  std::unique_ptr<StateStore> store(new StateStore(db));
  sqlite3_busy_timeout(db, 5000);
  SERDAB_RETURN_IF_ERROR(
      Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
           "set journal mode"));
  SERDAB_RETURN_IF_ERROR(store->Migrate());
  return store;
}

StateStore::~StateStore() { sqlite3_close(db_); }

Status StateStore::Migrate() {
  int version = 0;
  {
    Statement stmt(db_, "PRAGMA user_version;");
    if (!stmt.ok() || stmt.Step() != SQLITE_ROW) return SqlError(db_, "read schema version");
    version = static_cast<int>(stmt.Int(0));
  }
  if (version > kSchemaVersion) {
    return Status::FailedPrecondition(
        "the state database has schema version " + std::to_string(version) +
        ", newer than this orchestrator's " + std::to_string(kSchemaVersion) +
        "; run the newer orchestrator");
  }
  if (version == 0) {
    SERDAB_RETURN_IF_ERROR(CreateSchemaVersion1());
    version = 1;
  }
  if (version == 1) {
    // Version 1 -> 2: each deployment's worker attestations.
    SERDAB_RETURN_IF_ERROR(Exec(db_,
                                "BEGIN IMMEDIATE;"
                                "ALTER TABLE deployments ADD COLUMN attestations TEXT NOT NULL "
                                "DEFAULT '[]';"
                                "ALTER TABLE deployments ADD COLUMN attested_generation INTEGER "
                                "NOT NULL DEFAULT 0;"
                                "PRAGMA user_version = 2;"
                                "COMMIT;",
                                "migrate the schema to version 2"));
    version = 2;
  }
  if (version == 2) {
    // Version 2 -> 3: the model's architecture and the deployment's rollout.
    SERDAB_RETURN_IF_ERROR(Exec(db_,
                                "BEGIN IMMEDIATE;"
                                "ALTER TABLE deployments ADD COLUMN architecture TEXT NOT NULL "
                                "DEFAULT '';"
                                "ALTER TABLE deployments ADD COLUMN model_sha256 TEXT NOT NULL "
                                "DEFAULT '';"
                                "ALTER TABLE deployments ADD COLUMN rollout TEXT NOT NULL "
                                "DEFAULT '{}';"
                                "PRAGMA user_version = 3;"
                                "COMMIT;",
                                "migrate the schema to version 3"));
  }
  return Status::Ok();
}

Status StateStore::CreateSchemaVersion1() {
  return Exec(db_,
              "BEGIN IMMEDIATE;"
              "CREATE TABLE workers ("
              "  name TEXT PRIMARY KEY, address TEXT NOT NULL, labels TEXT NOT NULL,"
              "  capacity TEXT NOT NULL, platform_key TEXT NOT NULL,"
              "  registered_ms INTEGER NOT NULL, last_heartbeat_ms INTEGER NOT NULL,"
              "  ready INTEGER NOT NULL);"
              "CREATE TABLE deployments ("
              "  name TEXT PRIMARY KEY, plan TEXT NOT NULL, digest TEXT NOT NULL,"
              "  generation INTEGER NOT NULL, phase TEXT NOT NULL, conditions TEXT NOT NULL,"
              "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
              "CREATE TABLE events ("
              "  id INTEGER PRIMARY KEY AUTOINCREMENT, unix_ms INTEGER NOT NULL,"
              "  kind TEXT NOT NULL, object TEXT NOT NULL, reason TEXT NOT NULL,"
              "  message TEXT NOT NULL);"
              "CREATE INDEX events_by_object ON events(kind, object, id);"
              "PRAGMA user_version = 1;"
              "COMMIT;",
              "create schema version 1");
}

Status StateStore::PutWorker(const WorkerRecord& w) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_, (std::string("INSERT OR REPLACE INTO workers (") + kWorkerColumns +
                       ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                          .c_str());
  if (!stmt.ok()) return SqlError(db_, "store worker");
  stmt.Bind(1, w.name);
  stmt.Bind(2, w.address);
  stmt.Bind(3, json(w.labels).dump());
  stmt.Bind(4, w.capacity_json);
  stmt.Bind(5, w.platform_key);
  stmt.Bind(6, w.registered_ms);
  stmt.Bind(7, w.last_heartbeat_ms);
  stmt.Bind(8, int64_t{w.ready ? 1 : 0});
  return Run(db_, stmt, "store worker " + w.name);
}

Result<std::optional<WorkerRecord>> StateStore::GetWorker(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(
      db_, (std::string("SELECT ") + kWorkerColumns + " FROM workers WHERE name = ?1").c_str());
  if (!stmt.ok()) return SqlError(db_, "read worker");
  stmt.Bind(1, name);
  const int rc = stmt.Step();
  if (rc == SQLITE_DONE) return std::optional<WorkerRecord>();
  if (rc != SQLITE_ROW) return SqlError(db_, "read worker " + name);
  SERDAB_ASSIGN_OR_RETURN(WorkerRecord w, ReadWorker(stmt));
  return std::optional<WorkerRecord>(std::move(w));
}

Result<std::vector<WorkerRecord>> StateStore::ListWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_,
                 (std::string("SELECT ") + kWorkerColumns + " FROM workers ORDER BY name").c_str());
  if (!stmt.ok()) return SqlError(db_, "list workers");
  std::vector<WorkerRecord> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    SERDAB_ASSIGN_OR_RETURN(WorkerRecord w, ReadWorker(stmt));
    out.push_back(std::move(w));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "list workers");
  return out;
}

Status StateStore::PutDeployment(const DeploymentRecord& d) {
  std::lock_guard<std::mutex> lock(mu_);
  json attestations = json::array();
  for (const AttestationRecord& a : d.attestations) {
    attestations.push_back({{"worker", a.worker},
                            {"enclave", a.enclave},
                            {"mrenclave", a.mrenclave},
                            {"platform", a.platform},
                            {"instance", a.instance},
                            {"attested", a.attested},
                            {"reason", a.reason},
                            {"checked_ms", a.checked_ms}});
  }
  json conditions = json::array();
  for (const ConditionRecord& c : d.conditions) {
    conditions.push_back({{"type", c.type},
                          {"status", c.status},
                          {"reason", c.reason},
                          {"message", c.message},
                          {"changed_ms", c.changed_ms}});
  }
  json stages = json::array();
  for (const StageRecord& st : d.rollout.stages) {
    stages.push_back({{"worker", st.worker},
                      {"enclave", st.enclave},
                      {"begin", st.begin},
                      {"end", st.end},
                      {"replica", st.replica},
                      {"shards", st.shards},
                      {"predicted_ms", st.predicted_ms},
                      {"weight_residency", st.weight_residency},
                      {"streamed_weight_bytes", st.streamed_weight_bytes},
                      {"mrenclave", st.mrenclave},
                      {"instance", st.instance},
                      {"state", st.state},
                      {"message", st.message}});
  }
  const RolloutRecord& r = d.rollout;
  const json rollout = {{"version", r.version},
                        {"generation", r.generation},
                        {"candidates", r.candidates},
                        {"stages", stages},
                        {"predicted_fps", r.predicted_fps},
                        {"predicted_latency_ms", r.predicted_latency_ms},
                        {"profile_ms", r.profile_ms},
                        {"solve_ms", r.solve_ms},
                        {"attest_ms", r.attest_ms},
                        {"provision_ms", r.provision_ms},
                        {"started_ms", r.started_ms},
                        {"ready_ms", r.ready_ms}};
  Statement stmt(db_, (std::string("INSERT OR REPLACE INTO deployments (") + kDeploymentColumns +
                       ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")
                          .c_str());
  if (!stmt.ok()) return SqlError(db_, "store deployment");
  stmt.Bind(1, d.name);
  stmt.Bind(2, d.plan_json);
  stmt.Bind(3, d.plan_digest);
  stmt.Bind(4, static_cast<int64_t>(d.generation));
  stmt.Bind(5, d.phase);
  stmt.Bind(6, conditions.dump());
  stmt.Bind(7, d.created_ms);
  stmt.Bind(8, d.updated_ms);
  stmt.Bind(9, attestations.dump());
  stmt.Bind(10, static_cast<int64_t>(d.attested_generation));
  stmt.Bind(11, d.architecture_sha256);
  stmt.Bind(12, d.model_sha256);
  stmt.Bind(13, rollout.dump());
  return Run(db_, stmt, "store deployment " + d.name);
}

Result<std::optional<DeploymentRecord>> StateStore::GetDeployment(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(
      db_,
      (std::string("SELECT ") + kDeploymentColumns + " FROM deployments WHERE name = ?1").c_str());
  if (!stmt.ok()) return SqlError(db_, "read deployment");
  stmt.Bind(1, name);
  const int rc = stmt.Step();
  if (rc == SQLITE_DONE) return std::optional<DeploymentRecord>();
  if (rc != SQLITE_ROW) return SqlError(db_, "read deployment " + name);
  SERDAB_ASSIGN_OR_RETURN(DeploymentRecord d, ReadDeployment(stmt));
  return std::optional<DeploymentRecord>(std::move(d));
}

Result<std::vector<DeploymentRecord>> StateStore::ListDeployments() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(
      db_,
      (std::string("SELECT ") + kDeploymentColumns + " FROM deployments ORDER BY name").c_str());
  if (!stmt.ok()) return SqlError(db_, "list deployments");
  std::vector<DeploymentRecord> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    SERDAB_ASSIGN_OR_RETURN(DeploymentRecord d, ReadDeployment(stmt));
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "list deployments");
  return out;
}

Status StateStore::DeleteDeployment(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_, "DELETE FROM deployments WHERE name = ?1");
  if (!stmt.ok()) return SqlError(db_, "delete deployment");
  stmt.Bind(1, name);
  SERDAB_RETURN_IF_ERROR(Run(db_, stmt, "delete deployment " + name));
  if (sqlite3_changes(db_) == 0) return Status::NotFound("no deployment named '" + name + "'");
  return Status::Ok();
}

Result<EventRecord> StateStore::AddEvent(EventRecord e) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_,
                 "INSERT INTO events (unix_ms, kind, object, reason, message) "
                 "VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!stmt.ok()) return SqlError(db_, "add event");
  stmt.Bind(1, e.unix_ms);
  stmt.Bind(2, e.kind);
  stmt.Bind(3, e.object);
  stmt.Bind(4, e.reason);
  stmt.Bind(5, e.message);
  SERDAB_RETURN_IF_ERROR(Run(db_, stmt, "add event"));
  e.id = static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
  return e;
}

Result<std::vector<EventRecord>> StateStore::EventsAfter(uint64_t after, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_,
                 "SELECT id, unix_ms, kind, object, reason, message FROM events "
                 "WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!stmt.ok()) return SqlError(db_, "read events");
  stmt.Bind(1, static_cast<int64_t>(after));
  stmt.Bind(2, int64_t{limit});
  std::vector<EventRecord> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) out.push_back(ReadEvent(stmt));
  if (rc != SQLITE_DONE) return SqlError(db_, "read events");
  return out;
}

Result<uint64_t> StateStore::LastEventId() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_, "SELECT COALESCE(MAX(id), 0) FROM events");
  if (!stmt.ok() || stmt.Step() != SQLITE_ROW) return SqlError(db_, "read events");
  return static_cast<uint64_t>(stmt.Int(0));
}

Result<std::vector<EventRecord>> StateStore::EventsFor(const std::string& kind,
                                                       const std::string& object, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_,
                 "SELECT id, unix_ms, kind, object, reason, message FROM events "
                 "WHERE kind = ?1 AND object = ?2 ORDER BY id DESC LIMIT ?3");
  if (!stmt.ok()) return SqlError(db_, "read events");
  stmt.Bind(1, kind);
  stmt.Bind(2, object);
  stmt.Bind(3, int64_t{limit});
  std::vector<EventRecord> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) out.push_back(ReadEvent(stmt));
  if (rc != SQLITE_DONE) return SqlError(db_, "read events");
  std::reverse(out.begin(), out.end());
  return out;
}

size_t PipelineStages(const std::vector<StageRecord>& stages) {
  return static_cast<size_t>(std::count_if(stages.begin(), stages.end(),
                                           [](const StageRecord& s) { return s.replica == 0; }));
}

std::string DescribeStages(const std::vector<StageRecord>& stages) {
  const size_t pipeline = PipelineStages(stages);
  std::string text = std::to_string(pipeline) + (pipeline == 1 ? " stage" : " stages");
  if (stages.size() != pipeline) text += " on " + std::to_string(stages.size()) + " workers";
  return text;
}

}  // namespace serdab::orchestrator
