// The orchestrator's core and store without a socket, then its service over
// real mutual TLS on loopback, played by workers that try to speak for each
// other.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "orchestrator/orchestrator_core.h"
#include "orchestrator/orchestrator_service.h"
#include "orchestrator/state_store.h"
#include "worker/grpc_daemon.h"
#include "worker/node_certificates.h"

namespace serdab::orchestrator {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/serdab-orchestrator-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr char kPlan[] = R"(apiVersion: serdab/v1
kind: Deployment
metadata: {name: lobby}
model: {zoo: resnet50}
workers:
  selector: {site: home}
  order: [edge, cloud]
placement: {max_stages: 3}
attestation: {allow_simulation: true, any_measurement: true}
)";

WorkerRegistration Worker(const std::string& name, const std::string& tier) {
  WorkerRegistration r;
  r.name = name;
  r.address = "127.0.0.1:1";
  r.labels = {{"tier", tier}, {"site", "home"}};
  r.capacity_json = "{}";
  return r;
}

class OrchestratorCoreTest : public ::testing::Test {
 protected:
  void Open() {
    core_.reset();
    OrchestratorOptions options;
    options.state_dir = dir_.path();
    options.heartbeat_timeout = std::chrono::milliseconds(1000);
    auto core = OrchestratorCore::Open(options, [this] { return now_ms_; });
    ASSERT_TRUE(core.ok()) << core.status().ToString();
    core_ = std::move(core).value();
  }
  void SetUp() override { Open(); }

  std::string StateOf(const std::string& name) {
    auto workers = core_->ListWorkers();
    EXPECT_TRUE(workers.ok()) << workers.status().ToString();
    if (!workers.ok()) return "error";
    for (const WorkerRecord& w : *workers) {
      if (w.name == name) return w.ready ? "Ready" : "NotReady";
    }
    return "absent";
  }

  TempDir dir_;
  int64_t now_ms_ = 1'000'000;
  std::unique_ptr<OrchestratorCore> core_;
};

TEST_F(OrchestratorCoreTest, WorkersThatMissHeartbeatsBecomeNotReadyAndRecover) {
  ASSERT_TRUE(core_->RegisterWorker(Worker("edge-1", "edge")).ok());
  ASSERT_TRUE(core_->RegisterWorker(Worker("edge-2", "edge")).ok());
  EXPECT_FALSE(core_->Heartbeat("stranger").value()) << "an unknown worker must register";
  now_ms_ += 900;
  ASSERT_TRUE(core_->Heartbeat("edge-1").value());
  now_ms_ += 900;  // edge-2: 1.8 s silent; edge-1: 0.9 s
  ASSERT_TRUE(core_->CheckLiveness().ok());
  EXPECT_EQ(StateOf("edge-1"), "Ready");
  EXPECT_EQ(StateOf("edge-2"), "NotReady");
  ASSERT_TRUE(core_->Heartbeat("edge-2").value());
  EXPECT_EQ(StateOf("edge-2"), "Ready");
  auto events = core_->WaitForEvents(0, std::chrono::milliseconds(0)).value();
  std::string reasons;
  for (const EventRecord& e : events) reasons += e.object + ":" + e.reason + " ";
  EXPECT_EQ(reasons, "edge-1:Registered edge-2:Registered edge-2:NotReady edge-2:Ready ");
}

TEST_F(OrchestratorCoreTest, ApplyStoresOnlyWhatChangedAndSurvivesAReopen) {
  auto none = core_->Apply(kPlan, "plan.yaml", 0, false);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("plan.yaml:6:"), std::string::npos)
      << none.status().ToString();
  EXPECT_NE(none.status().message().find("workers.selector"), std::string::npos);

  ASSERT_TRUE(core_->RegisterWorker(Worker("cloud-1", "cloud")).ok());
  ASSERT_TRUE(core_->RegisterWorker(Worker("edge-1", "edge")).ok());
  ASSERT_TRUE(core_->RegisterWorker(Worker("other", "edge")).ok());
  auto dry = core_->Apply(kPlan, "plan.yaml", 0, /*dry_run=*/true).value();
  EXPECT_EQ(dry.result, "created");
  EXPECT_TRUE(core_->ListDeployments().value().empty());

  auto created = core_->Apply(kPlan, "plan.yaml", 0, false).value();
  EXPECT_EQ(created.result, "created");
  EXPECT_EQ(created.matching_workers, (std::vector<std::string>{"edge-1", "other", "cloud-1"}));
  EXPECT_EQ(core_->Apply(kPlan, "plan.yaml", 0, false).value().result, "unchanged");
  std::string changed = kPlan;
  changed.replace(changed.find("max_stages: 3"), 13, "max_stages: 2");
  auto configured = core_->Apply(changed, "plan.yaml", 0, false).value();
  EXPECT_EQ(configured.result, "configured");
  EXPECT_EQ(configured.generation, 2u);

  Open();
  auto view = core_->GetDeployment("lobby").value();
  EXPECT_EQ(view.record.generation, 2u);
  EXPECT_EQ(view.recent_events.size(), 2u);
  EXPECT_EQ(StateOf("edge-1"), "Ready");
  EXPECT_EQ(core_->Apply(changed, "plan.yaml", 0, false).value().result, "unchanged");
  ASSERT_TRUE(core_->DeleteDeployment("lobby").ok());
  EXPECT_EQ(core_->DeleteDeployment("lobby").code(), Status::Code::kNotFound);
}

TEST(StateStoreTest, KeepsARolloutAcrossReopening) {
  TempDir dir;
  const std::string path = dir.path() + "/orchestrator.db";
  DeploymentRecord d;
  d.name = "lobby";
  d.plan_json = "{}";
  d.generation = 2;
  d.phase = "Ready";
  d.architecture_sha256 = std::string(64, 'a');
  d.model_sha256 = std::string(64, 'b');
  d.attestations = {{"edge-1", "lobby", "m1", "edge-1", "i1", true, "", 5}};
  d.rollout.version = 3;
  d.rollout.generation = 2;
  d.rollout.candidates = {"edge-1", "cloud-1"};
  auto stage = [](std::string worker, int begin, int end, double ms, std::string mrenclave,
                  std::string instance, int replica) {
    StageRecord r;
    r.worker = std::move(worker);
    r.enclave = "lobby";
    r.begin = begin;
    r.end = end;
    r.predicted_ms = ms;
    r.mrenclave = std::move(mrenclave);
    r.instance = std::move(instance);
    r.state = "Provisioned";
    r.replica = replica;
    return r;
  };
  d.rollout.stages = {stage("edge-1", 0, 40, 10.5, "m1", "i1", 0),
                      stage("cloud-1", 40, -1, 11.25, "m2", "i2", 0),
                      stage("cloud-2", 40, -1, 11.5, "m2", "i3", 1)};
  d.rollout.predicted_fps = 88.9;
  d.rollout.predicted_latency_ms = 21.75;
  d.rollout.profile_ms = 1000;
  d.rollout.solve_ms = 0.5;
  d.rollout.attest_ms = 12;
  d.rollout.provision_ms = 2000;
  d.rollout.started_ms = 100;
  d.rollout.ready_ms = 3200;
  ASSERT_TRUE(StateStore::Open(path).value()->PutDeployment(d).ok());
  const DeploymentRecord r = StateStore::Open(path).value()->GetDeployment("lobby").value().value();
  EXPECT_EQ(r.architecture_sha256, d.architecture_sha256);
  EXPECT_EQ(r.model_sha256, d.model_sha256);
  EXPECT_EQ(r.attestations[0].instance, "i1");
  EXPECT_EQ(r.rollout.version, 3u);
  EXPECT_EQ(r.rollout.generation, 2u);
  EXPECT_EQ(r.rollout.candidates, d.rollout.candidates);
  ASSERT_EQ(r.rollout.stages.size(), 3u);
  EXPECT_EQ(r.rollout.stages[1].replica, 0);
  EXPECT_EQ(r.rollout.stages[2].replica, 1);
  EXPECT_EQ(r.rollout.stages[1].worker, "cloud-1");
  EXPECT_EQ(r.rollout.stages[1].begin, 40);
  EXPECT_EQ(r.rollout.stages[1].end, -1);
  EXPECT_EQ(r.rollout.stages[1].predicted_ms, 11.25);
  EXPECT_EQ(r.rollout.stages[1].instance, "i2");
  EXPECT_EQ(r.rollout.stages[0].state, "Provisioned");
  EXPECT_EQ(r.rollout.predicted_fps, 88.9);
  EXPECT_EQ(r.rollout.solve_ms, 0.5);
  EXPECT_EQ(r.rollout.ready_ms, 3200);
}

TEST(StateStoreTest, RefusesADatabaseFromANewerSchema) {
  TempDir dir;
  const std::string path = dir.path() + "/orchestrator.db";
  ASSERT_TRUE(StateStore::Open(path).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto reopened = StateStore::Open(path);
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.status().message().find("newer"), std::string::npos);
}

TEST(StateStoreTest, MigratesADatabaseFromSchemaVersion1ToTheLatest) {
  TempDir dir;
  const std::string path = dir.path() + "/orchestrator.db";
  {
    auto store = StateStore::Open(path).value();
    DeploymentRecord d;
    d.name = "lobby";
    d.plan_json = "{}";
    d.generation = 3;
    d.phase = "Pending";
    ASSERT_TRUE(store->PutDeployment(d).ok());
  }
  // Back to what version 1 wrote.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "ALTER TABLE deployments DROP COLUMN attestations;"
                         "ALTER TABLE deployments DROP COLUMN attested_generation;"
                         "ALTER TABLE deployments DROP COLUMN architecture;"
                         "ALTER TABLE deployments DROP COLUMN model_sha256;"
                         "ALTER TABLE deployments DROP COLUMN rollout;"
                         "PRAGMA user_version = 1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto d = (*store)->GetDeployment("lobby").value();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->generation, 3u);
  EXPECT_TRUE(d->attestations.empty());
  EXPECT_EQ(d->attested_generation, 0u);
  EXPECT_TRUE(d->architecture_sha256.empty());
  EXPECT_EQ(d->rollout.version, 0u);
  EXPECT_TRUE(d->rollout.stages.empty());
}

// The service on a real mutual-TLS listener, with certificates from a fresh CA.
class OrchestratorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string ca = dir_.path() + "/ca";
    std::filesystem::create_directories(ca);
    ASSERT_TRUE(worker::CreateCertificateAuthority(ca, "test CA", 1).ok());
    Issue(ca, "orch", worker::Role::kOrchestrator, "server");
    Issue(ca, "edge-1", worker::Role::kWorker, "edge-1");
    Issue(ca, "edge-2", worker::Role::kWorker, "edge-2");
    Issue(ca, "bob", worker::Role::kViewer, "viewer");

    OrchestratorOptions options;
    options.state_dir = dir_.path() + "/state";
    core_ = OrchestratorCore::Open(options).value();
    service_ = std::make_unique<OrchestratorService>(core_.get(), /*authenticate=*/true);
    worker::ListenOptions listen;
    listen.listen = "127.0.0.1:0";
    listen.tls_dir = dir_.path() + "/server";
    auto credentials = worker::MakeServerCredentials(listen);
    ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
    grpc::ServerBuilder builder;
    builder.AddListeningPort(listen.listen, *credentials, &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  void Issue(const std::string& ca, const std::string& name, worker::Role role,
             const std::string& dir) {
    worker::CertificateRequest request;
    request.name = name;
    request.role = role;
    request.hosts = {"127.0.0.1"};
    request.days = 1;
    const bool node = role == worker::Role::kWorker || role == worker::Role::kOrchestrator;
    ASSERT_TRUE(
        worker::IssueCertificate(ca, request, dir_.path() + "/" + dir, node ? "node" : "user")
            .ok());
  }

  std::unique_ptr<v1::Orchestrator::Stub> Stub(const std::string& dir, const std::string& stem) {
    const std::string target = "127.0.0.1:" + std::to_string(port_);
    auto credentials = worker::MakeChannelCredentials(target, dir_.path() + "/" + dir, stem);
    EXPECT_TRUE(credentials.ok());
    return v1::Orchestrator::NewStub(grpc::CreateChannel(target, *credentials));
  }

  TempDir dir_;
  std::unique_ptr<OrchestratorCore> core_;
  std::unique_ptr<OrchestratorService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(OrchestratorServiceTest, AWorkerSpeaksOnlyForItself) {
  auto edge1 = Stub("edge-1", "node");
  v1::RegisterWorkerRequest registration;
  registration.set_name("edge-1");
  registration.set_address("127.0.0.1:7700");
  v1::RegisterWorkerResponse registered;
  grpc::ClientContext c1;
  ASSERT_TRUE(edge1->RegisterWorker(&c1, registration, &registered).ok());

  // edge-1's certificate may not register or heartbeat as edge-2.
  registration.set_name("edge-2");
  grpc::ClientContext c2;
  grpc::Status status = edge1->RegisterWorker(&c2, registration, &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_NE(status.error_message().find("may not speak for worker 'edge-2'"), std::string::npos);

  auto edge2 = Stub("edge-2", "node");
  grpc::ClientContext c3;
  registration.set_name("edge-2");
  ASSERT_TRUE(edge2->RegisterWorker(&c3, registration, &registered).ok());
  const int64_t edge2_heartbeat = core_->ListWorkers().value()[1].last_heartbeat_ms;

  v1::HeartbeatRequest heartbeat;
  heartbeat.set_name("edge-2");
  v1::HeartbeatResponse beat;
  grpc::ClientContext c4;
  status = edge1->Heartbeat(&c4, heartbeat, &beat);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(core_->ListWorkers().value()[1].last_heartbeat_ms, edge2_heartbeat)
      << "a heartbeat under another worker's name was recorded";

  // Neither a viewer nor the orchestrator's own certificate is a worker.
  for (auto* stub : {Stub("viewer", "user").release(), Stub("server", "node").release()}) {
    std::unique_ptr<v1::Orchestrator::Stub> owned(stub);
    grpc::ClientContext c;
    registration.set_name("bob");
    EXPECT_EQ(owned->RegisterWorker(&c, registration, &registered).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // And a worker is no user.
  grpc::ClientContext c5;
  v1::ListDeploymentsResponse list;
  EXPECT_EQ(edge1->ListDeployments(&c5, {}, &list).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace serdab::orchestrator
