// The coordinator enclave and its host, in one process: a model owner hands
// it a model over an attested session, it provisions and wires worker
// enclaves, and a hostile host tries to make it provision the wrong enclave,
// replay evidence, take over a deployment or read what it keeps.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cli/enclave_client.h"
#include "cli/local_enclave.h"
#include "cli/zoo/model_zoo.h"
#include "cli/zoo/onnx_builder.h"
#include "enclave/attestation/coordination.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/platform.h"
#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"
#include "enclave/engine/tensor_codec.h"
#include "orchestrator/coordinator_host.h"
#include "worker/enclave_host.h"
#include "worker/peer_handshake.h"

namespace serdab::orchestrator {
namespace {

using attestation::CoordinatorRequest;

// A deployment root and platforms it certifies, in a temporary directory.
class Deployment {
 public:
  Deployment() : root_(attestation::DeploymentRoot::Generate().value()) {
    char tmpl[] = "/tmp/serdab-coordinator-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~Deployment() { std::filesystem::remove_all(dir_); }

  const std::string& dir() const { return dir_; }
  const crypto::Ed25519PublicKey& root() const { return root_.public_key(); }

  // A platform directory certified by this root (or by `other`).
  std::string Platform(const std::string& id, const attestation::DeploymentRoot* other = nullptr) {
    const std::string out = dir_ + "/platform-" + id;
    auto platform = attestation::PlatformKey::Generate().value();
    EXPECT_TRUE(platform.Save(out).ok());
    auto cert =
        attestation::IssuePlatformCertificate(other ? *other : root_, platform.public_key(), id, 0);
    EXPECT_TRUE(attestation::SavePlatformCertificate(*cert, out + "/platform.cert").ok());
    return out;
  }

 private:
  std::string dir_;
  attestation::DeploymentRoot root_;
};

// A worker's host that keeps a copy of every byte it relays.
class RecordingEndpoint final : public worker::EnclaveEndpoint {
 public:
  explicit RecordingEndpoint(worker::EnclaveEndpoint* inner) : inner_(inner) {}
  Result<worker::Bytes> Challenge() override { return Keep(inner_->Challenge()); }
  Result<worker::Bytes> GetQuote(worker::ByteView nonce) override {
    Keep(nonce);
    return Keep(inner_->GetQuote(nonce));
  }
  Result<uint64_t> OpenSession(worker::ByteView request) override {
    Keep(request);
    return inner_->OpenSession(request);
  }
  Result<worker::Bytes> Provision(uint64_t session, worker::ByteView message) override {
    Keep(message);
    commands_.emplace_back(message.begin(), message.end());
    return Keep(inner_->Provision(session, message));
  }
  Result<worker::Bytes> Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session,
                                uint32_t out_hop, uint64_t stream,
                                worker::ByteView message) override {
    Keep(message);
    return Keep(inner_->Process(in_session, in_hop, out_session, out_hop, stream, message));
  }
  Status CloseSession(uint64_t session) override { return inner_->CloseSession(session); }
  const std::vector<worker::Bytes>& seen() const { return seen_; }
  // The owner commands relayed to the enclave, in order.
  const std::vector<worker::Bytes>& commands() const { return commands_; }

 private:
  void Keep(worker::ByteView bytes) { seen_.emplace_back(bytes.begin(), bytes.end()); }
  Result<worker::Bytes> Keep(Result<worker::Bytes> bytes) {
    if (bytes.ok()) Keep(worker::ByteView(*bytes));
    return bytes;
  }

  worker::EnclaveEndpoint* inner_;
  std::vector<worker::Bytes> seen_;
  std::vector<worker::Bytes> commands_;
};

// A worker's host whose Provision waits until the test lets it go on, as a
// large model's partition takes its time to build.
class SlowProvisionEndpoint final : public worker::EnclaveEndpoint {
 public:
  explicit SlowProvisionEndpoint(worker::EnclaveEndpoint* inner) : inner_(inner) {}
  Result<worker::Bytes> Challenge() override { return inner_->Challenge(); }
  Result<worker::Bytes> GetQuote(worker::ByteView nonce) override {
    return inner_->GetQuote(nonce);
  }
  Result<uint64_t> OpenSession(worker::ByteView request) override {
    return inner_->OpenSession(request);
  }
  Result<worker::Bytes> Provision(uint64_t session, worker::ByteView message) override {
    std::call_once(entered_once_, [this] { entered_.set_value(); });
    released_.wait();
    return inner_->Provision(session, message);
  }
  Result<worker::Bytes> Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session,
                                uint32_t out_hop, uint64_t stream,
                                worker::ByteView message) override {
    return inner_->Process(in_session, in_hop, out_session, out_hop, stream, message);
  }
  Status CloseSession(uint64_t session) override { return inner_->CloseSession(session); }
  void WaitUntilProvisioning() { entered_future_.wait(); }
  void Release() { release_.set_value(); }

 private:
  worker::EnclaveEndpoint* inner_;
  std::once_flag entered_once_;
  std::promise<void> entered_;
  std::shared_future<void> entered_future_ = entered_.get_future().share();
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
};

attestation::QuotePolicy AnySimEnclave() {
  attestation::QuotePolicy policy;
  policy.allow_any_enclave = true;
  policy.allow_simulation = true;
  policy.allow_debug = true;
  return policy;
}

std::string WorkerConfig() { return cli::LocalEnclaveConfig(16, "none"); }

// The tiny model's layers on three stages.
const std::vector<std::pair<int, int>> kThreeStages = {{0, 3}, {3, 6}, {6, -1}};

nlohmann::json Stats(worker::EnclaveHost* host) {
  return nlohmann::json::parse(host->StatsJson().value());
}

bool Contains(const crypto::Bytes& haystack, const crypto::Bytes& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string text = zoo::BuildModel("tiny", 3).value();
    model_.assign(text.begin(), text.end());
    orchestrator_platform_ = deployment_.Platform("orchestrator");
    Start();
  }

  void Start() {
    host_.reset();
    std::vector<std::string> warnings;
    auto host =
        CoordinatorHost::Start(orchestrator_platform_, deployment_.dir() + "/state", &warnings);
    ASSERT_TRUE(host.ok()) << host.status().message();
    host_ = std::move(*host);
    warnings_ = warnings;
  }

  // The owner's side of `serdab apply`: attest the coordinator against this
  // build's coordinator measurement, seal the grant in that session.
  Status Admit(const std::string& name, const attestation::QuotePolicy& workers,
               const crypto::Ed25519KeyPair& owner, crypto::Bytes* message_out = nullptr,
               const std::string& grant_name = "") {
    attestation::QuotePolicy policy;
    policy.allowed_mrenclaves = {cli::ExpectedMeasurement(cli::CoordinatorEnclaveConfig()).value()};
    policy.allow_simulation = true;
    policy.allow_debug = true;
    auto verifier = attestation::QuoteVerifier::Create(deployment_.root(), policy).value();
    CoordinatorHostEndpoint endpoint(host_.get());
    SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<cli::EnclaveClient> client,
                            cli::EnclaveClient::AttestCoordinator(&endpoint, verifier, owner));
    attestation::DeploymentGrant grant;
    grant.deployment = grant_name.empty() ? name : grant_name;
    grant.root = deployment_.root();
    grant.workers = workers;
    grant.model = model_;
    SERDAB_ASSIGN_OR_RETURN(crypto::Bytes message,
                            client->SealOwnerMessage(attestation::SerializeDeploymentGrant(grant)));
    if (message_out != nullptr) *message_out = message;
    return host_->Admit(name, client->session(), message);
  }

  std::unique_ptr<worker::EnclaveHost> Worker(const std::string& platform) {
    return worker::EnclaveHost::Create(WorkerConfig(), platform).value();
  }

  // One worker enclave per range of "lobby", provisioned by the coordinator
  // at version 1 (each reporting the measurement the coordinator attested)
  // and wired in order.
  void ProvisionAndWire(const std::vector<std::pair<int, int>>& ranges,
                        std::vector<std::unique_ptr<worker::EnclaveHost>>* workers) {
    std::vector<StageSession> stages;
    for (size_t i = 0; i < ranges.size(); ++i) {
      workers->push_back(Worker(deployment_.Platform("w" + std::to_string(i))));
      auto stage =
          host_->ProvisionStage("lobby", "w" + std::to_string(i) + "/lobby", workers->back().get(),
                                ranges[i].first, ranges[i].second, 1, 1);
      ASSERT_TRUE(stage.ok()) << stage.status().message();
      EXPECT_EQ(stage->mrenclave, Stats(workers->back().get())["mrenclave"]);
      stages.push_back(*stage);
    }
    ASSERT_TRUE(host_->Wire("lobby", 1, stages).ok());
  }

  // Four worker enclaves of "lobby" at version 1, not wired: the layers
  // before a shardable middle layer, its two shards, and the layers after.
  void ProvisionAroundTwoShards(const engine::Model& whole,
                                std::vector<std::unique_ptr<worker::EnclaveHost>>* workers,
                                std::vector<StageSession>* stages) {
    int layer = -1;
    for (int l = 1; l + 1 < whole.num_layers() && layer < 0; ++l) {
      if (whole.layers()[l].streamable_weight_bytes > 0 && whole.cuts()[l].infos.size() == 1 &&
          whole.cuts()[l + 1].infos.size() == 1) {
        layer = l;
      }
    }
    ASSERT_GT(layer, 0);
    const std::vector<std::tuple<int, int, engine::LayerShard>> plan = {{0, layer, {}},
                                                                        {layer, layer + 1, {0, 2}},
                                                                        {layer, layer + 1, {1, 2}},
                                                                        {layer + 1, -1, {}}};
    for (const auto& [begin, end, shard] : plan) {
      const std::string name = "w" + std::to_string(workers->size());
      workers->push_back(Worker(deployment_.Platform(name)));
      auto stage = host_->ProvisionStage("lobby", name + "/lobby", workers->back().get(), begin,
                                         end, 1, 1, 0, shard);
      ASSERT_TRUE(stage.ok()) << stage.status().message();
      stages->push_back(*stage);
    }
  }

  // The coordinator's identity, which owns the stages' enclaves.
  crypto::Ed25519PublicKey CoordinatorKey() {
    crypto::Ed25519PublicKey key;
    std::copy_n(crypto::HexDecode(host_->identity())->begin(), 32, key.begin());
    return key;
  }

  // The deployment's model, run whole here as the stages' reference.
  std::unique_ptr<engine::Model> WholeModel() {
    return engine::Model::FromGraph(
               engine::ImportOnnxBytes(std::string(model_.begin(), model_.end()), "tiny").value())
        .value();
  }

  // An input for `model` whose values step by `step`.
  static std::vector<engine::Tensor> Input(const engine::Model& model, float step) {
    std::vector<engine::Tensor> input;
    for (const engine::TensorInfo& info : model.cuts().front().infos) {
      auto t = engine::Tensor::Create(info.dtype, info.shape).value();
      for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = step * (i % 97);
      input.push_back(std::move(t));
    }
    return input;
  }

  crypto::Bytes model_;
  Deployment deployment_;
  std::string orchestrator_platform_;
  std::unique_ptr<CoordinatorHost> host_;
  std::vector<std::string> warnings_;
  crypto::Ed25519KeyPair owner_ = crypto::Ed25519KeyPair::Generate().value();
};

TEST_F(CoordinatorTest, ProvisionsAndWiresStagesThatItOwns) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  EXPECT_TRUE(host_->HasGrant("lobby"));
  std::vector<std::unique_ptr<worker::EnclaveHost>> workers;
  ProvisionAndWire(kThreeStages, &workers);
  if (HasFatalFailure()) return;
  const auto& ranges = kThreeStages;
  for (size_t i = 0; i < workers.size(); ++i) {
    const nlohmann::json stats = Stats(workers[i].get());
    EXPECT_EQ(stats["owner"], host_->identity());
    EXPECT_EQ(stats["partition_version"], 1);
    EXPECT_EQ(stats["routes"], 1);
    EXPECT_EQ(stats["layers"][0], ranges[i].first);
  }
  // The owner's frames enter the first stage only, and go on to the second:
  // not back to the owner, whatever sessions the host names.
  const auto verifier = attestation::QuoteVerifier::Create(deployment_.root(), AnySimEnclave());
  auto client =
      cli::EnclaveClient::Attest(workers[0].get(), *verifier, owner_, crypto::Ed25519PublicKey{});
  ASSERT_FALSE(client.ok());  // the enclave has an owner: the coordinator
  client = cli::EnclaveClient::Attest(workers[0].get(), *verifier, owner_, CoordinatorKey());
  ASSERT_TRUE(client.ok()) << client.status().message();
  auto self_routed = (*client)->Infer(Input(*WholeModel(), 0));
  ASSERT_FALSE(self_routed.ok());
  EXPECT_NE(self_routed.status().message().find("has not routed"), std::string::npos)
      << self_routed.status().message();
}

// The placement's choice to stream a stage's weights reaches its enclave
// through the coordinator, which alone can command it.
TEST_F(CoordinatorTest, ProvisionsAStageThatStreamsItsWeights) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  auto worker = Worker(deployment_.Platform("w"));
  auto stage = host_->ProvisionStage("lobby", "w/lobby", worker.get(), 0, -1, 1, 1,
                                     /*streamed_weight_bytes=*/1 << 20);
  ASSERT_TRUE(stage.ok()) << stage.status().message();
  EXPECT_GT(Stats(worker.get())["streamed_weight_bytes"].get<uint64_t>(), 0u);
}

// A layer split across two enclaves is provisioned shard by shard, and its
// shards are wired as one stage, in order.
TEST_F(CoordinatorTest, ProvisionsAndWiresTheShardsOfALayer) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  const std::unique_ptr<engine::Model> whole = WholeModel();
  std::vector<std::unique_ptr<worker::EnclaveHost>> workers;
  std::vector<StageSession> stages;
  ProvisionAroundTwoShards(*whole, &workers, &stages);
  if (HasFatalFailure()) return;
  EXPECT_EQ(Stats(workers[1].get())["shard"], (nlohmann::json{0, 2}));
  EXPECT_EQ(Stats(workers[2].get())["shard"], (nlohmann::json{1, 2}));

  std::vector<StageSession> swapped = stages;
  std::swap(swapped[1], swapped[2]);
  const Status refused = host_->Wire("lobby", 1, swapped);
  EXPECT_EQ(refused.code(), Status::Code::kInvalidArgument) << refused.message();
  EXPECT_NE(refused.message().find("shards"), std::string::npos) << refused.message();
  std::vector<StageSession> one_shard = stages;
  one_shard.erase(one_shard.begin() + 2);
  EXPECT_FALSE(host_->Wire("lobby", 1, one_shard).ok());
  // The owner's neighbours are whole stages.
  std::vector<StageSession> shards_last(stages.begin(), stages.begin() + 3);
  EXPECT_EQ(host_->Wire("lobby", 1, shards_last).code(), Status::Code::kInvalidArgument);
  const Status wired = host_->Wire("lobby", 1, stages);
  ASSERT_TRUE(wired.ok()) << wired.message();
  // Each shard is routed from the stage before and to the stage after.
  EXPECT_GT(Stats(workers[1].get())["routes"].get<int>(), 0);
  EXPECT_GT(Stats(workers[2].get())["routes"].get<int>(), 0);
}

// A frame through a layer split two ways, with the host's part played here:
// the stage before seals its output once for each shard (one process call),
// each shard computes its part, and the stage after keeps the first part and
// runs the frame when the second comes: the result is the whole model's. The
// host can neither swap the parts, nor replay one, nor complete a frame with
// a part of another: a frame with a part missing is dropped once a later
// frame completes, and the parts of frames in flight may interleave.
TEST_F(CoordinatorTest, AShardedLayerFansOutAndGathersItsParts) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  const std::unique_ptr<engine::Model> whole = WholeModel();
  std::vector<std::unique_ptr<worker::EnclaveHost>> workers;
  std::vector<StageSession> stages;
  ProvisionAroundTwoShards(*whole, &workers, &stages);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(host_->Wire("lobby", 1, stages).ok());
  worker::PeerSessions in0, in1, out0, out1;
  ASSERT_TRUE(worker::OpenPeerSessions(workers[0].get(), workers[1].get(), &in0).ok());
  ASSERT_TRUE(worker::OpenPeerSessions(workers[0].get(), workers[2].get(), &in1).ok());
  ASSERT_TRUE(worker::OpenPeerSessions(workers[1].get(), workers[3].get(), &out0).ok());
  ASSERT_TRUE(worker::OpenPeerSessions(workers[2].get(), workers[3].get(), &out1).ok());
  const crypto::Ed25519PublicKey coordinator = CoordinatorKey();
  const auto verifier = attestation::QuoteVerifier::Create(deployment_.root(), AnySimEnclave());
  auto head = cli::EnclaveClient::Attest(workers[0].get(), *verifier, owner_, coordinator);
  auto tail = cli::EnclaveClient::Attest(workers[3].get(), *verifier, owner_, coordinator);
  ASSERT_TRUE(head.ok() && tail.ok());

  constexpr uint64_t kStream = 9;
  crypto::Bytes headers;
  // Frame `frame` through the first stage: one message for each shard.
  auto fan_out = [&](uint64_t frame, const std::vector<engine::Tensor>& input) {
    crypto::Bytes message;
    EXPECT_TRUE(
        (*head)
            ->channel()
            ->SealParts(kStream, frame, 0, engine::EncodedTensorParts(input, &headers), &message)
            .ok());
    auto both = workers[0]->ProcessFrame((*head)->session(), 0, {in0.sender, in1.sender}, 1,
                                         kStream, worker::Payload{{message}, nullptr});
    EXPECT_TRUE(both.ok() && both->size() == 2) << both.status().message();
    auto bytes = [](const worker::Payload& p) {
      return crypto::Bytes(p.parts[0].begin(), p.parts[0].end());
    };
    return std::pair(bytes((*both)[0]), bytes((*both)[1]));
  };
  auto shard0 = [&](const crypto::Bytes& m) {
    return workers[1]->Process(in0.receiver, 1, out0.sender, 2, kStream, m);
  };
  auto shard1 = [&](const crypto::Bytes& m) {
    return workers[2]->Process(in1.receiver, 1, out1.sender, 2, kStream, m);
  };
  auto gather0 = [&](const crypto::Bytes& m) {
    return workers[3]->Process(out0.receiver, 2, (*tail)->session(), 3, kStream, m);
  };
  auto gather1 = [&](const crypto::Bytes& m) {
    return workers[3]->Process(out1.receiver, 2, (*tail)->session(), 3, kStream, m);
  };
  auto result = [&](const crypto::Bytes& m, uint64_t frame) {
    crypto::Bytes plain;
    auto opened = (*tail)->channel()->Open(kStream, 3, m, &plain);
    EXPECT_TRUE(opened.ok()) << opened.status().message();
    if (opened.ok()) {
      EXPECT_EQ(opened->frame_seq, frame);
    }
    return engine::DecodeTensors(plain).value();
  };
  auto expect_model = [&](const std::vector<engine::Tensor>& got,
                          const std::vector<engine::Tensor>& input) {
    const std::vector<engine::Tensor> expected = whole->Run(input).value();
    ASSERT_EQ(got.size(), expected.size());
    for (int64_t i = 0; i < got[0].num_elements(); ++i) {
      EXPECT_NEAR(got[0].data<float>()[i], expected[0].data<float>()[i], 1e-4) << i;
    }
  };

  // Frame 0, parts in order; frame 1, the second shard's part first.
  for (uint64_t frame : {0, 1}) {
    const std::vector<engine::Tensor> input = Input(*whole, 0.01f * (frame + 1));
    auto [m0, m1] = fan_out(frame, input);
    auto p0 = shard0(m0);
    auto p1 = shard1(m1);
    ASSERT_TRUE(p0.ok() && p1.ok()) << p0.status().message() << p1.status().message();
    auto first = frame == 0 ? gather0(*p0) : gather1(*p1);
    ASSERT_TRUE(first.ok()) << first.status().message();
    EXPECT_TRUE(first->empty());  // kept: no result yet
    auto done = frame == 0 ? gather1(*p1) : gather0(*p0);
    ASSERT_TRUE(done.ok()) << done.status().message();
    expect_model(result(*done, frame), input);
  }

  // Swapped parts do not open; a part replayed is refused.
  const std::vector<engine::Tensor> input2 = Input(*whole, 0.05f);
  auto [m0, m1] = fan_out(2, input2);
  auto p0 = shard0(m0);
  auto p1 = shard1(m1);
  ASSERT_TRUE(p0.ok() && p1.ok());
  EXPECT_EQ(crypto::ChannelRejectionOf(gather0(*p1).status()),
            crypto::ChannelRejection::kAuthFailed);
  ASSERT_TRUE(gather0(*p0).ok());
  EXPECT_EQ(crypto::ChannelRejectionOf(gather0(*p0).status()), crypto::ChannelRejection::kReplayed);
  // Frame 2's second part never comes: frame 3 completes without it, and
  // then frame 2 is dropped.
  const std::vector<engine::Tensor> input3 = Input(*whole, 0.07f);
  auto [n0, n1] = fan_out(3, input3);
  auto q0 = shard0(n0);
  auto q1 = shard1(n1);
  ASSERT_TRUE(q0.ok() && q1.ok());
  auto kept = gather1(*q1);
  ASSERT_TRUE(kept.ok() && kept->empty()) << kept.status().message();
  auto done = gather0(*q0);
  ASSERT_TRUE(done.ok() && !done->empty()) << done.status().message();
  expect_model(result(*done, 3), input3);
  // The late part of frame 2 is refused: its frame is gone.
  EXPECT_FALSE(gather1(*p1).ok());

  // The shards run in parallel: one may be a frame ahead of the other, and
  // the parts of frames 4 and 5 interleave.
  const std::vector<engine::Tensor> input4 = Input(*whole, 0.02f), input5 = Input(*whole, 0.03f);
  auto [a0, a1] = fan_out(4, input4);
  auto [b0, b1] = fan_out(5, input5);
  auto r0 = shard0(a0), r1 = shard1(a1), t0 = shard0(b0), t1 = shard1(b1);
  ASSERT_TRUE(r0.ok() && r1.ok() && t0.ok() && t1.ok());
  auto kept4 = gather0(*r0);
  auto kept5 = gather0(*t0);
  ASSERT_TRUE(kept4.ok() && kept4->empty() && kept5.ok() && kept5->empty());
  auto done4 = gather1(*r1);
  ASSERT_TRUE(done4.ok() && !done4->empty()) << done4.status().message();
  expect_model(result(*done4, 4), input4);
  auto done5 = gather1(*t1);
  ASSERT_TRUE(done5.ok() && !done5->empty()) << done5.status().message();
  expect_model(result(*done5, 5), input5);

  // Wired again (a re-placement): the part of frame 7 kept before is
  // dropped, so its other part alone completes nothing; and frame 3, which
  // was completed under the old routes, may come again.
  const std::vector<engine::Tensor> input7 = Input(*whole, 0.04f);
  auto [c0, c1] = fan_out(7, input7);
  auto u0 = shard0(c0), u1 = shard1(c1);
  ASSERT_TRUE(u0.ok() && u1.ok());
  auto kept7 = gather0(*u0);
  ASSERT_TRUE(kept7.ok() && kept7->empty());
  ASSERT_TRUE(host_->Wire("lobby", 1, stages).ok());
  auto alone7 = gather1(*u1);
  ASSERT_TRUE(alone7.ok()) << alone7.status().message();
  EXPECT_TRUE(alone7->empty());
  auto [d0, d1] = fan_out(3, input3);
  auto v0 = shard0(d0), v1 = shard1(d1);
  ASSERT_TRUE(v0.ok() && v1.ok());
  ASSERT_TRUE(gather0(*v0).ok());
  auto again3 = gather1(*v1);
  ASSERT_TRUE(again3.ok() && !again3->empty()) << again3.status().message();
  expect_model(result(*again3, 3), input3);

  // The first stage fans out only to the shards' sessions the owner routed.
  crypto::Bytes message;
  ASSERT_TRUE((*head)
                  ->channel()
                  ->SealParts(kStream, 6, 0, engine::EncodedTensorParts(input3, &headers), &message)
                  .ok());
  auto misrouted = workers[0]->ProcessFrame((*head)->session(), 0, {in0.sender, (*head)->session()},
                                            1, kStream, worker::Payload{{message}, nullptr});
  EXPECT_EQ(misrouted.status().code(), Status::Code::kPermissionDenied)
      << misrouted.status().message();
}

// Each stage is sent the model with its own layers' weights only. What the
// hosts relay for three stages (the partition sealed to the stage on the
// way in, and sealed for the host's disk on the way back) is about twice
// one model, not twice three. (WiredStagesCarryFramesAndRefuseTamperedOnes
// checks that such partitions compute what the whole model does.)
TEST_F(CoordinatorTest, ProvisionsEachStageWithOnlyItsLayersWeights) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  size_t relayed = 0;
  std::vector<StageSession> stages;
  std::vector<std::unique_ptr<worker::EnclaveHost>> workers;
  for (size_t i = 0; i < kThreeStages.size(); ++i) {
    workers.push_back(Worker(deployment_.Platform("w" + std::to_string(i))));
    RecordingEndpoint relay(workers.back().get());
    auto stage = host_->ProvisionStage("lobby", "w" + std::to_string(i) + "/lobby", &relay,
                                       kThreeStages[i].first, kThreeStages[i].second, 1, 1);
    ASSERT_TRUE(stage.ok()) << stage.status().message();
    for (const worker::Bytes& bytes : relay.seen()) relayed += bytes.size();
    stage->enclave = workers.back().get();
    stages.push_back(*stage);
  }
  EXPECT_LT(relayed, 3 * model_.size()) << "model " << model_.size();
  EXPECT_TRUE(host_->Wire("lobby", 1, stages).ok());
}

// A stage's partition is larger than the first buffer the host offers for
// the coordinator's reply; the host asks again with the size the enclave
// named. The coordinator keeps the reply it built for that retry rather than
// building and sealing the partition again: the stage's one provisioning
// message is the first its session with the coordinator carries (counter
// 0), not a second one sealed after a first was thrown away.
TEST_F(CoordinatorTest, BuildsAPartitionTooLargeForTheFirstBufferOnce) {
  zoo::OnnxBuilder b("wide", 13);
  ASSERT_TRUE(b.AddInput("x", {1, 1}).ok());
  ASSERT_TRUE(b.AddFloatInitializer("w", {1, 64 * 1024}, [] { return 0.5f; }).ok());
  ASSERT_TRUE(b.AddNode("MatMul", "fan_out", {"x", "w"}, {}, "y").ok());
  ASSERT_TRUE(b.AddOutput("y", {1, 64 * 1024}).ok());
  const std::string text = b.Serialize().value();
  model_.assign(text.begin(), text.end());
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  auto worker = Worker(deployment_.Platform("w"));
  RecordingEndpoint relay(worker.get());
  auto stage = host_->ProvisionStage("lobby", "w/lobby", &relay, 0, -1, 1, 1);
  ASSERT_TRUE(stage.ok()) << stage.status().message();
  ASSERT_EQ(relay.commands().size(), 1u);
  const worker::Bytes& command = relay.commands()[0];
  ASSERT_GT(command.size(), 256u * 1024) << "the partition must not fit the first buffer";
  uint64_t counter = 0;  // the channel header's, after its version and algorithm bytes
  for (int i = 0; i < 8; ++i) counter |= static_cast<uint64_t>(command[2 + i]) << (8 * i);
  EXPECT_EQ(counter, 0u);
}

// The data plane's security at the enclaves, with the host's part played
// here: adjacent stages open mutual sessions (the coordinator hands them the
// peer root with their routes), a frame goes owner -> 0 -> 1 -> 2 -> owner
// and equals the model run whole, and a message tampered with, replayed or
// reordered between two stages is refused, changing nothing: the next one
// still passes, and nothing is accepted twice.
TEST_F(CoordinatorTest, WiredStagesCarryFramesAndRefuseTamperedOnes) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  std::vector<std::unique_ptr<worker::EnclaveHost>> workers;
  ProvisionAndWire(kThreeStages, &workers);
  if (HasFatalFailure()) return;

  worker::PeerSessions hop1, hop2, skip;
  ASSERT_TRUE(worker::OpenPeerSessions(workers[0].get(), workers[1].get(), &hop1).ok());
  ASSERT_TRUE(worker::OpenPeerSessions(workers[1].get(), workers[2].get(), &hop2).ok());
  // Stages 0 and 2 are not each other's neighbours: no session, in either.
  const int held0 = Stats(workers[0].get())["sessions"].get<int>();
  const int held2 = Stats(workers[2].get())["sessions"].get<int>();
  const Status skipped = worker::OpenPeerSessions(workers[0].get(), workers[2].get(), &skip);
  EXPECT_EQ(skipped.code(), Status::Code::kPermissionDenied) << skipped.message();
  EXPECT_EQ(skip.sender, 0u);
  EXPECT_EQ(skip.receiver, 0u);
  EXPECT_EQ(Stats(workers[0].get())["sessions"].get<int>(), held0);
  EXPECT_EQ(Stats(workers[2].get())["sessions"].get<int>(), held2);

  const crypto::Ed25519PublicKey coordinator = CoordinatorKey();
  const auto verifier = attestation::QuoteVerifier::Create(deployment_.root(), AnySimEnclave());
  auto head = cli::EnclaveClient::Attest(workers[0].get(), *verifier, owner_, coordinator);
  auto tail = cli::EnclaveClient::Attest(workers[2].get(), *verifier, owner_, coordinator);
  ASSERT_TRUE(head.ok() && tail.ok());

  const std::unique_ptr<engine::Model> model = WholeModel();
  const std::vector<engine::Tensor> input = Input(*model, 0.01f);
  constexpr uint64_t kStream = 5;
  crypto::Bytes headers;
  auto from_owner = [&](uint64_t frame) {
    crypto::Bytes message;
    EXPECT_TRUE(
        (*head)
            ->channel()
            ->SealParts(kStream, frame, 0, engine::EncodedTensorParts(input, &headers), &message)
            .ok());
    return message;
  };
  auto stage0 = [&](const crypto::Bytes& m) {
    return workers[0]->Process((*head)->session(), 0, hop1.sender, 1, kStream, m);
  };
  auto stage1 = [&](const crypto::Bytes& m) {
    return workers[1]->Process(hop1.receiver, 1, hop2.sender, 2, kStream, m);
  };
  auto stage2 = [&](const crypto::Bytes& m) {
    return workers[2]->Process(hop2.receiver, 2, (*tail)->session(), 3, kStream, m);
  };
  auto to_owner = [&](const crypto::Bytes& m, uint64_t frame) {
    crypto::Bytes plain;
    auto opened = (*tail)->channel()->Open(kStream, 3, m, &plain);
    EXPECT_TRUE(opened.ok()) << opened.status().message();
    EXPECT_EQ(opened->frame_seq, frame);
    return engine::DecodeTensors(plain).value();
  };

  const std::vector<engine::Tensor> expected = model->Run(input).value();
  auto a = stage0(from_owner(0));
  ASSERT_TRUE(a.ok()) << a.status().message();
  auto b = stage1(*a);
  ASSERT_TRUE(b.ok()) << b.status().message();
  auto c = stage2(*b);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const std::vector<engine::Tensor> got = to_owner(*c, 0);
  ASSERT_EQ(got.size(), expected.size());
  for (int64_t i = 0; i < got[0].num_elements(); ++i) {
    EXPECT_NEAR(got[0].data<float>()[i], expected[0].data<float>()[i], 1e-4) << i;
  }

  // Tampered between stages 0 and 1: refused; the genuine message passes.
  a = stage0(from_owner(1));
  ASSERT_TRUE(a.ok());
  crypto::Bytes tampered = *a;
  tampered[tampered.size() / 2] ^= 0x10;
  EXPECT_EQ(crypto::ChannelRejectionOf(stage1(tampered).status()),
            crypto::ChannelRejection::kAuthFailed);
  b = stage1(*a);
  ASSERT_TRUE(b.ok()) << b.status().message();
  // Replayed: refused, also after its successor went through.
  EXPECT_EQ(crypto::ChannelRejectionOf(stage1(*a).status()), crypto::ChannelRejection::kReplayed);
  c = stage2(*b);
  ASSERT_TRUE(c.ok());
  to_owner(*c, 1);
  EXPECT_FALSE(stage2(*b).ok());

  // Reordered: a later frame first, then the earlier one is refused.
  auto x2 = stage0(from_owner(2));
  auto x3 = stage0(from_owner(3));
  ASSERT_TRUE(x2.ok() && x3.ok());
  ASSERT_TRUE(stage1(*x3).ok());
  EXPECT_EQ(crypto::ChannelRejectionOf(stage1(*x2).status()), crypto::ChannelRejection::kReplayed);

  // Misrouted: stage 1's output handed to stage 2 as if it were another
  // hop's, or on another stream, does not open.
  auto y = stage1(*stage0(from_owner(4)));
  ASSERT_TRUE(y.ok());
  EXPECT_FALSE(workers[2]->Process(hop2.receiver, 1, (*tail)->session(), 3, kStream, *y).ok());
  EXPECT_FALSE(workers[2]->Process(hop2.receiver, 2, (*tail)->session(), 3, kStream + 1, *y).ok());
  ASSERT_TRUE(stage2(*y).ok());
}

// A replicated stage: its replicas are adjacent targets with the same range.
// Each is routed from and to every replica of its neighbours, never to its
// twin; a frame may take either replica, and the groups must still cover the
// model in order.
TEST_F(CoordinatorTest, WiresAReplicatedStageToEveryReplicaOfItsNeighbours) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  std::vector<std::unique_ptr<worker::EnclaveHost>> workers;
  ProvisionAndWire({{0, 3}, {3, -1}, {3, -1}}, &workers);
  if (HasFatalFailure()) return;
  EXPECT_EQ(Stats(workers[0].get())["routes"], 2);
  EXPECT_EQ(Stats(workers[1].get())["routes"], 1);
  EXPECT_EQ(Stats(workers[2].get())["routes"], 1);
  worker::PeerSessions to_first, to_second, twins;
  ASSERT_TRUE(worker::OpenPeerSessions(workers[0].get(), workers[1].get(), &to_first).ok());
  ASSERT_TRUE(worker::OpenPeerSessions(workers[0].get(), workers[2].get(), &to_second).ok());
  EXPECT_EQ(worker::OpenPeerSessions(workers[1].get(), workers[2].get(), &twins).code(),
            Status::Code::kPermissionDenied);

  const crypto::Ed25519PublicKey coordinator = CoordinatorKey();
  const auto verifier = attestation::QuoteVerifier::Create(deployment_.root(), AnySimEnclave());
  auto head = cli::EnclaveClient::Attest(workers[0].get(), *verifier, owner_, coordinator);
  auto tail0 = cli::EnclaveClient::Attest(workers[1].get(), *verifier, owner_, coordinator);
  auto tail1 = cli::EnclaveClient::Attest(workers[2].get(), *verifier, owner_, coordinator);
  ASSERT_TRUE(head.ok() && tail0.ok() && tail1.ok());
  const std::unique_ptr<engine::Model> model = WholeModel();
  const std::vector<engine::Tensor> input = Input(*model, 0.02f);
  const std::vector<engine::Tensor> expected = model->Run(input).value();
  constexpr uint64_t kStream = 7;
  crypto::Bytes headers;
  // Frames alternate between the replicas; each replica's result opens in
  // the owner's session with that replica only.
  for (uint64_t frame = 0; frame < 4; ++frame) {
    const bool second = frame % 2 == 1;
    crypto::Bytes message;
    ASSERT_TRUE(
        (*head)
            ->channel()
            ->SealParts(kStream, frame, 0, engine::EncodedTensorParts(input, &headers), &message)
            .ok());
    const worker::PeerSessions& hop = second ? to_second : to_first;
    auto a = workers[0]->Process((*head)->session(), 0, hop.sender, 1, kStream, message);
    ASSERT_TRUE(a.ok()) << a.status().message();
    cli::EnclaveClient* tail = second ? tail1->get() : tail0->get();
    cli::EnclaveClient* other = second ? tail0->get() : tail1->get();
    worker::EnclaveHost* replica = workers[second ? 2 : 1].get();
    auto b = replica->Process(hop.receiver, 1, tail->session(), 2, kStream, *a);
    ASSERT_TRUE(b.ok()) << b.status().message();
    crypto::Bytes plain;
    EXPECT_FALSE(other->channel()->Open(kStream, 2, *b, &plain).ok());
    auto opened = tail->channel()->Open(kStream, 2, *b, &plain);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    EXPECT_EQ(opened->frame_seq, frame);
    const std::vector<engine::Tensor> got = engine::DecodeTensors(plain).value();
    ASSERT_EQ(got.size(), expected.size());
    for (int64_t i = 0; i < got[0].num_elements(); ++i) {
      ASSERT_NEAR(got[0].data<float>()[i], expected[0].data<float>()[i], 1e-4) << i;
    }
  }
}

// Wired again with another enclave after it (the deployment was placed
// again, or the next stage's worker died and another took its place), a
// stage drops its sessions with the peer its routes no longer name: that
// peer can send it nothing, and a dead one would never close them.
TEST_F(CoordinatorTest, DropsSessionsWithPeersItIsNoLongerRoutedTo) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  std::vector<std::unique_ptr<worker::EnclaveHost>> workers;
  std::vector<StageSession> stages;
  for (const auto& [name, begin, end] : {std::tuple{"a", 0, 3}, {"b", 3, -1}, {"c", 3, -1}}) {
    workers.push_back(Worker(deployment_.Platform(name)));
    auto stage = host_->ProvisionStage("lobby", std::string(name) + "/lobby", workers.back().get(),
                                       begin, end, 1, 1);
    ASSERT_TRUE(stage.ok()) << stage.status().message();
    stages.push_back(*stage);
  }
  ASSERT_TRUE(host_->Wire("lobby", 1, {stages[0], stages[1]}).ok());
  worker::PeerSessions to_b;
  ASSERT_TRUE(worker::OpenPeerSessions(workers[0].get(), workers[1].get(), &to_b).ok());
  const int held = Stats(workers[0].get())["sessions"].get<int>();

  ASSERT_TRUE(host_->Wire("lobby", 1, {stages[0], stages[2]}).ok());
  EXPECT_EQ(Stats(workers[0].get())["sessions"].get<int>(), held - 1);
  EXPECT_EQ(workers[0]->CloseSession(to_b.sender).code(), Status::Code::kNotFound);
  worker::PeerSessions to_c;
  EXPECT_TRUE(worker::OpenPeerSessions(workers[0].get(), workers[2].get(), &to_c).ok());
  // b, not wired again, still names a; a refuses it. The half b opened
  // before a refused is closed again.
  const int held_b = Stats(workers[1].get())["sessions"].get<int>();
  worker::PeerSessions refused;
  const Status back = worker::OpenPeerSessions(workers[1].get(), workers[0].get(), &refused);
  EXPECT_EQ(back.code(), Status::Code::kPermissionDenied) << back.message();
  EXPECT_NE(back.message().find("the receiving enclave refused"), std::string::npos)
      << back.message();
  EXPECT_EQ(refused.sender, 0u);
  EXPECT_EQ(Stats(workers[1].get())["sessions"].get<int>(), held_b);
}

TEST_F(CoordinatorTest, WiresReplicasOnlyWhenAdjacent) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  std::vector<std::unique_ptr<worker::EnclaveHost>> workers;
  std::vector<StageSession> stages;
  const std::vector<std::pair<int, int>> ranges = {{0, 3}, {3, -1}, {0, 3}};
  for (size_t i = 0; i < ranges.size(); ++i) {
    workers.push_back(Worker(deployment_.Platform("w" + std::to_string(i))));
    auto stage =
        host_->ProvisionStage("lobby", "w" + std::to_string(i) + "/lobby", workers.back().get(),
                              ranges[i].first, ranges[i].second, 1, 1);
    ASSERT_TRUE(stage.ok()) << stage.status().message();
    stages.push_back(*stage);
  }
  const Status wired = host_->Wire("lobby", 1, stages);
  EXPECT_EQ(wired.code(), Status::Code::kInvalidArgument) << wired.message();
  // Side by side, the two [0, 3) stages are one replicated first stage.
  std::swap(stages[1], stages[2]);
  const Status adjacent = host_->Wire("lobby", 1, stages);
  EXPECT_TRUE(adjacent.ok()) << adjacent.message();
}

TEST_F(CoordinatorTest, WiresARestoredStageOnlyAtTheRangeAndVersionItHolds) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  const std::string platform_a = deployment_.Platform("a");
  const std::string platform_b = deployment_.Platform("b");
  auto a = Worker(platform_a);
  auto b = Worker(platform_b);
  RecordingEndpoint relay_b(b.get());
  auto stage_a = host_->ProvisionStage("lobby", "a/lobby", a.get(), 0, 4, 1, 7);
  auto stage_b = host_->ProvisionStage("lobby", "b/lobby", &relay_b, 4, -1, 1, 7);
  ASSERT_TRUE(stage_a.ok() && stage_b.ok());
  // What b's enclave handed its host to keep: the partition, sealed to it.
  const crypto::Bytes sealed = relay_b.seen().back();
  ASSERT_TRUE(host_->Wire("lobby", 7, {*stage_a, *stage_b}).ok());
  // Worker b restarts: a new enclave instance restores that partition.
  b.reset();
  b = Worker(platform_b);
  ASSERT_TRUE(b->UnsealPartition(sealed).ok());
  EXPECT_EQ(Stats(b.get())["routes"], 0);

  // Adopted at another range or version than it holds, it is not wired.
  auto wrong_range = host_->AdoptStage("lobby", "b/lobby", b.get(), 3, -1, 7);
  ASSERT_TRUE(wrong_range.ok());
  auto again_a = host_->AdoptStage("lobby", "a/lobby", a.get(), 0, 3, 7);
  ASSERT_TRUE(again_a.ok());
  Status wired = host_->Wire("lobby", 7, {*again_a, *wrong_range});
  EXPECT_EQ(wired.code(), Status::Code::kFailedPrecondition) << wired.message();
  auto wrong_version = host_->AdoptStage("lobby", "b/lobby", b.get(), 4, -1, 6);
  again_a = host_->AdoptStage("lobby", "a/lobby", a.get(), 0, 4, 6);
  ASSERT_TRUE(wrong_version.ok() && again_a.ok());
  EXPECT_FALSE(host_->Wire("lobby", 6, {*again_a, *wrong_version}).ok());
  EXPECT_EQ(Stats(b.get())["routes"], 0);

  // At the range and version it holds, it is wired again without the model
  // being sent: adopting sends nothing but a quote request and a session.
  RecordingEndpoint relay_restored(b.get());
  auto restored = host_->AdoptStage("lobby", "b/lobby", &relay_restored, 4, -1, 7);
  again_a = host_->AdoptStage("lobby", "a/lobby", a.get(), 0, 4, 7);
  ASSERT_TRUE(restored.ok() && again_a.ok());
  size_t relayed = 0;
  for (const worker::Bytes& bytes : relay_restored.seen()) relayed += bytes.size();
  EXPECT_LT(relayed, 16u * 1024);
  ASSERT_TRUE(host_->Wire("lobby", 7, {*again_a, *restored}).ok());
  EXPECT_EQ(Stats(b.get())["routes"], 1);
  EXPECT_EQ(Stats(b.get())["owner"], host_->identity());
}

TEST_F(CoordinatorTest, AnswersAnOwnerWhileAStageBuildsItsPartition) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  auto worker = Worker(deployment_.Platform("w"));
  SlowProvisionEndpoint slow(worker.get());
  Result<StageSession> stage = Status::Internal("not provisioned");
  std::thread rollout(
      [&] { stage = host_->ProvisionStage("lobby", "w/lobby", &slow, 0, -1, 1, 1); });
  slow.WaitUntilProvisioning();
  // An owner (`serdab stream`) asks for the coordinator's quote meanwhile.
  CoordinatorHostEndpoint endpoint(host_.get());
  const worker::Bytes nonce(attestation::kNonceBytes, 7);
  auto quote = std::async(std::launch::async, [&] { return endpoint.GetQuote(nonce); });
  const bool answered = quote.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  slow.Release();
  rollout.join();
  EXPECT_TRUE(answered) << "the quote waited for the worker's partition";
  EXPECT_TRUE(quote.get().ok());
  ASSERT_TRUE(stage.ok()) << stage.status().message();
  EXPECT_TRUE(host_->Wire("lobby", 1, {*stage}).ok());
}

TEST_F(CoordinatorTest, RefusesWorkersOutsideTheOwnersPolicy) {
  attestation::QuotePolicy policy;
  policy.allowed_mrenclaves = {attestation::Measurement{}};  // no real enclave has it
  policy.allow_simulation = true;
  policy.allow_debug = true;
  ASSERT_TRUE(Admit("lobby", policy, owner_).ok());
  auto worker = Worker(deployment_.Platform("w"));
  auto stage = host_->ProvisionStage("lobby", "w/lobby", worker.get(), 0, -1, 1, 1);
  ASSERT_FALSE(stage.ok());
  EXPECT_NE(stage.status().message().find("measurement"), std::string::npos)
      << stage.status().message();
  EXPECT_EQ(Stats(worker.get())["owner"], "");

  // Simulation refused by the policy: a sim enclave gets nothing either.
  ASSERT_TRUE(Admit(
                  "hall",
                  [] {
                    auto p = AnySimEnclave();
                    p.allow_simulation = false;
                    return p;
                  }(),
                  owner_)
                  .ok());
  EXPECT_FALSE(host_->ProvisionStage("hall", "w/hall", worker.get(), 0, -1, 1, 1).ok());
  EXPECT_EQ(Stats(worker.get())["owner"], "");
}

TEST_F(CoordinatorTest, RefusesAPlatformFromAnotherRoot) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  const auto other = attestation::DeploymentRoot::Generate().value();
  auto worker = Worker(deployment_.Platform("foreign", &other));
  auto stage = host_->ProvisionStage("lobby", "foreign/lobby", worker.get(), 0, -1, 1, 1);
  ASSERT_FALSE(stage.ok());
  EXPECT_EQ(Stats(worker.get())["owner"], "");
}

TEST_F(CoordinatorTest, RefusesAnEnclaveItsHostClaimedFirst) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  auto worker = Worker(deployment_.Platform("w"));
  // The host provisions its own model first, and becomes the owner.
  const auto host_identity = crypto::Ed25519KeyPair::Generate().value();
  const auto verifier = attestation::QuoteVerifier::Create(deployment_.root(), AnySimEnclave());
  auto claim = cli::EnclaveClient::Attest(worker.get(), *verifier, host_identity,
                                          host_identity.public_key());
  ASSERT_TRUE(claim.ok());
  ASSERT_TRUE((*claim)->Provision(model_, cli::PartitionSpec{}).ok());
  auto stage = host_->ProvisionStage("lobby", "w/lobby", worker.get(), 0, -1, 1, 2);
  ASSERT_FALSE(stage.ok());
  EXPECT_NE(stage.status().message().find("another owner"), std::string::npos)
      << stage.status().message();
}

TEST_F(CoordinatorTest, AnotherOwnerCannotReplaceADeploymentsModel) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  const auto mallory = crypto::Ed25519KeyPair::Generate().value();
  Status s = Admit("lobby", AnySimEnclave(), mallory);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.message();
  // The owner may replace it.
  EXPECT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  // A grant for another deployment than the host names is refused.
  s = Admit("hall", AnySimEnclave(), owner_, nullptr, "lobby");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.message();
  EXPECT_FALSE(host_->HasGrant("hall"));
}

TEST_F(CoordinatorTest, TheHostHoldsOnlyCiphertextAndSealedBlobs) {
  crypto::Bytes message;
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_, &message).ok());
  // A run of the model's weights: bytes from the middle of the file that its
  // architecture does not hold.
  const crypto::Bytes weights(model_.begin() + model_.size() / 2,
                              model_.begin() + model_.size() / 2 + 64);
  const std::string architecture =
      engine::ArchitectureOnly(
          std::string_view(reinterpret_cast<const char*>(model_.data()), model_.size()))
          .value();
  ASSERT_FALSE(Contains(crypto::Bytes(architecture.begin(), architecture.end()), weights));
  EXPECT_FALSE(Contains(message, weights));
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(deployment_.dir() + "/state")) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const crypto::Bytes bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    EXPECT_FALSE(Contains(bytes, weights)) << entry.path();
  }
  // What the worker's host relays to provision and wire its stage.
  auto worker = Worker(deployment_.Platform("w"));
  RecordingEndpoint relay(worker.get());
  auto stage = host_->ProvisionStage("lobby", "w/lobby", &relay, 0, -1, 1, 1);
  ASSERT_TRUE(stage.ok()) << stage.status().message();
  ASSERT_TRUE(host_->Wire("lobby", 1, {*stage}).ok());
  size_t relayed = 0;
  for (const worker::Bytes& bytes : relay.seen()) {
    relayed += bytes.size();
    EXPECT_FALSE(Contains(bytes, weights));
  }
  EXPECT_GT(relayed, model_.size());  // the partition went through, sealed
}

TEST_F(CoordinatorTest, ARestartedCoordinatorKeepsItsIdentityAndGrants) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  const std::string identity = host_->identity();
  Start();
  EXPECT_TRUE(warnings_.empty());
  EXPECT_EQ(host_->identity(), identity);
  EXPECT_TRUE(host_->HasGrant("lobby"));
  auto worker = Worker(deployment_.Platform("w"));
  auto stage = host_->ProvisionStage("lobby", "w/lobby", worker.get(), 0, -1, 1, 1);
  ASSERT_TRUE(stage.ok()) << stage.status().message();
  EXPECT_EQ(Stats(worker.get())["owner"], identity);

  // A sealed grant the host modified does not come back.
  const std::string grant = deployment_.dir() + "/state/coordinator/grants/lobby.sealed";
  std::fstream f(grant, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(60);
  const char byte = static_cast<char>(f.get());
  // Flipped, not overwritten: a fixed value is already there one time in 256.
  f.seekp(60);
  f.put(static_cast<char>(byte ^ 0x5a));
  f.close();
  Start();
  EXPECT_EQ(warnings_.size(), 1u);
  EXPECT_FALSE(host_
                   ->ProvisionStage("lobby", "w2/lobby", Worker(deployment_.Platform("w2")).get(),
                                    0, -1, 1, 1)
                   .ok());
}

TEST_F(CoordinatorTest, RefusesForgedStepsFromItsHost) {
  ASSERT_TRUE(Admit("lobby", AnySimEnclave(), owner_).ok());
  // The coordinator enclave itself, driven directly as a hostile host would.
  auto coordinator =
      worker::EnclaveHost::Create(cli::CoordinatorEnclaveConfig(), orchestrator_platform_).value();
  auto run = [&](const CoordinatorRequest& request) {
    return coordinator->Coordinate(0, attestation::SerializeCoordinatorRequest(request));
  };
  CoordinatorRequest init;
  init.kind = CoordinatorRequest::Kind::kInit;
  ASSERT_TRUE(run(init).ok());
  EXPECT_FALSE(run(init).ok());  // one identity per life

  // The owner's grant reaches this coordinator too.
  const auto policy =
      attestation::QuotePolicy{{cli::ExpectedMeasurement(cli::CoordinatorEnclaveConfig()).value()},
                               {},
                               false,
                               0,
                               true,
                               true};
  auto owner_client = cli::EnclaveClient::AttestCoordinator(
      coordinator.get(), attestation::QuoteVerifier::Create(deployment_.root(), policy).value(),
      owner_);
  ASSERT_TRUE(owner_client.ok()) << owner_client.status().message();
  attestation::DeploymentGrant grant{"lobby", deployment_.root(), AnySimEnclave(), model_};
  CoordinatorRequest admit;
  admit.kind = CoordinatorRequest::Kind::kAdmit;
  admit.deployment = "lobby";
  admit.blob =
      (*owner_client)->SealOwnerMessage(attestation::SerializeDeploymentGrant(grant)).value();
  ASSERT_TRUE(
      coordinator
          ->Coordinate((*owner_client)->session(), attestation::SerializeCoordinatorRequest(admit))
          .ok());
  // The host cannot send the grant again (replay), nor as the host.
  EXPECT_FALSE(
      coordinator
          ->Coordinate((*owner_client)->session(), attestation::SerializeCoordinatorRequest(admit))
          .ok());
  EXPECT_FALSE(run(admit).ok());

  auto worker = Worker(deployment_.Platform("w"));
  CoordinatorRequest attest;
  attest.kind = CoordinatorRequest::Kind::kAttest;
  attest.deployment = "lobby";
  attest.target = "w/lobby";
  attest.nonce = crypto::Bytes(32, 7);  // not issued by the coordinator
  attest.blob = worker->GetQuote(attest.nonce).value();
  EXPECT_EQ(run(attest).status().code(), Status::Code::kPermissionDenied);
  CoordinatorRequest challenge;
  challenge.kind = CoordinatorRequest::Kind::kChallenge;
  attest.nonce = attestation::ParseReplyParts(run(challenge).value()).value()[0];
  attest.blob = worker->GetQuote(attest.nonce).value();
  EXPECT_TRUE(run(attest).ok());
  // The same evidence again: its nonce is spent.
  EXPECT_EQ(run(attest).status().code(), Status::Code::kPermissionDenied);
  // Evidence for one nonce does not answer another.
  attest.nonce = attestation::ParseReplyParts(run(challenge).value()).value()[0];
  EXPECT_FALSE(run(attest).ok());
  // Provisioning a target it never attested is refused.
  CoordinatorRequest provision;
  provision.kind = CoordinatorRequest::Kind::kProvision;
  provision.deployment = "lobby";
  provision.target = "other/lobby";
  provision.end = -1;
  provision.version = 1;
  EXPECT_EQ(run(provision).status().code(), Status::Code::kFailedPrecondition);
  // Nor is a shard that does not exist, or of more than one layer.
  provision.target = "w/lobby";
  provision.shard_index = 2;
  provision.shard_count = 2;
  EXPECT_EQ(run(provision).status().code(), Status::Code::kInvalidArgument);
  provision.shard_index = 0;
  provision.end = 3;
  EXPECT_EQ(run(provision).status().code(), Status::Code::kInvalidArgument);
  provision.shard_count = 1;

  // Wiring stages out of order, or never provisioned, is refused (through
  // the real host, which has the grant).
  std::vector<std::unique_ptr<worker::EnclaveHost>> workers;
  std::vector<StageSession> stages;
  const std::vector<std::pair<int, int>> ranges = {{0, 4}, {4, -1}};
  for (size_t i = 0; i < ranges.size(); ++i) {
    workers.push_back(Worker(deployment_.Platform("s" + std::to_string(i))));
    stages.push_back(host_
                         ->ProvisionStage("lobby", "s" + std::to_string(i) + "/lobby",
                                          workers.back().get(), ranges[i].first, ranges[i].second,
                                          1, 1)
                         .value());
  }
  std::vector<StageSession> reversed(stages.rbegin(), stages.rend());
  EXPECT_EQ(host_->Wire("lobby", 1, reversed).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(host_->Wire("lobby", 2, stages).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(Stats(workers[0].get())["routes"], 0);
  EXPECT_TRUE(host_->Wire("lobby", 1, stages).ok());

  // Truncated or garbled requests are refused without effect.
  crypto::Bytes bytes = attestation::SerializeCoordinatorRequest(init);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(coordinator->Coordinate(0, crypto::ByteView(bytes.data(), n)).ok()) << n;
  }

  // A worker enclave is no coordinator, and a coordinator runs no partition.
  EXPECT_EQ(
      workers[0]->Coordinate(0, attestation::SerializeCoordinatorRequest(init)).status().code(),
      Status::Code::kFailedPrecondition);
  EXPECT_FALSE(coordinator->Provision(1, crypto::Bytes(64, 0)).ok());
}

}  // namespace
}  // namespace serdab::orchestrator
