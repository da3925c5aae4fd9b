// DataPlaneCore's links to the next stage, with the connector played here:
// which routes it opens links for, and which pipes share them.
#include "worker/data_plane_core.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/local_enclave.h"
#include "tests/enclave/test_platform.h"

namespace serdab::worker {
namespace {

// A link that is never used to send: these tests only open pipes.
class IdleLink final : public NextStage {
 public:
  uint64_t out_session() const override { return 1; }
  void Send(PipeFrame, Done done) override {
    v1::PipeReply reply;
    reply.set_outcome(v1::PipeReply::UNAVAILABLE);
    done(std::move(reply));
  }
  bool broken() const override { return false; }
};

v1::PipeStage Stage(const std::string& address, std::vector<std::string> replicas = {}) {
  v1::PipeStage stage;
  stage.set_address(address);
  stage.set_enclave("lobby");
  for (const std::string& r : replicas) {
    v1::PipeStage* replica = stage.add_replicas();
    replica->set_address(r);
    replica->set_enclave("lobby");
  }
  return stage;
}

v1::PipeOpen Route(std::vector<v1::PipeStage> stages) {
  v1::PipeOpen open;
  for (v1::PipeStage& s : stages) *open.add_stages() = std::move(s);
  return open;
}

class DataPlaneCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/serdab-data-plane-test-XXXXXX";
    state_dir_ = ::mkdtemp(tmpl);
    std::vector<std::string> warnings;
    auto core = WorkerCore::Open({platform_.platform_dir(), state_dir_}, &warnings);
    ASSERT_TRUE(core.ok()) << core.status().message();
    core_ = std::move(core).value();
    ASSERT_TRUE(core_->CreateEnclave("lobby", cli::LocalEnclaveConfig(16, "none"), {}).ok());
    data_plane_ = std::make_unique<DataPlaneCore>(
        core_.get(),
        [this](const std::string& local, const std::vector<v1::PipeStage>& route, uint32_t stage,
               size_t) -> Result<std::shared_ptr<NextStage>> {
          EXPECT_EQ(local, "lobby");
          std::string text = std::to_string(stage) + ":";
          for (const v1::PipeStage& s : route) text += " " + s.address();
          EXPECT_EQ(route.front().replicas_size(), 0) << text;
          EXPECT_EQ(route.front().shards_size(), 0) << text;
          connected_.push_back(text);
          return std::shared_ptr<NextStage>(std::make_shared<IdleLink>());
        },
        DataPlaneOptions{});
  }

  void TearDown() override {
    data_plane_.reset();
    core_.reset();
    std::filesystem::remove_all(state_dir_);
  }

  std::shared_ptr<DataPlaneCore::Pipe> Open(const v1::PipeOpen& open) {
    auto pipe = data_plane_->Open(open, [](v1::PipeReply) {});
    EXPECT_TRUE(pipe.ok()) << pipe.status().message();
    return pipe.ok() ? *pipe : nullptr;
  }

  TestPlatform platform_;
  std::string state_dir_;
  std::unique_ptr<WorkerCore> core_;
  std::unique_ptr<DataPlaneCore> data_plane_;
  std::vector<std::string> connected_;
};

// Pipes along one route share its link. A pipe along another route over the
// same hop (the deployment was placed again: the next worker now has a
// stage after it, or one fewer) gets a link of its own, so that its frames
// reach a pipe at the next worker that follows the same route.
TEST_F(DataPlaneCoreTest, PipesShareALinkOnlyAlongTheSameRoute) {
  auto a = Open(Route({Stage("self"), Stage("b"), Stage("c")}));
  auto b = Open(Route({Stage("self"), Stage("b"), Stage("c")}));
  EXPECT_EQ(connected_, (std::vector<std::string>{"1: b c"}));
  auto longer = Open(Route({Stage("self"), Stage("b"), Stage("c"), Stage("d")}));
  auto shorter = Open(Route({Stage("self"), Stage("b")}));
  EXPECT_EQ(connected_, (std::vector<std::string>{"1: b c", "1: b c d", "1: b"}));
}

// The pipes own their links: once none uses one (its clients left, or the
// deployment was placed again), it goes, and closes its sessions in both
// enclaves; the next pipe along that route opens a new one.
TEST_F(DataPlaneCoreTest, ALinkGoesWithTheLastPipeThatUsesIt) {
  auto a = Open(Route({Stage("self"), Stage("b")}));
  auto b = Open(Route({Stage("self"), Stage("b")}));
  a.reset();
  auto c = Open(Route({Stage("self"), Stage("b")}));
  EXPECT_EQ(connected_, (std::vector<std::string>{"1: b"}));
  b.reset();
  c.reset();
  auto d = Open(Route({Stage("self"), Stage("b")}));
  EXPECT_EQ(connected_, (std::vector<std::string>{"1: b", "1: b"}));
}

// The next stage replicated: one link per replica, each along the route
// with that replica in the next stage's place.
TEST_F(DataPlaneCoreTest, AReplicatedNextStageGetsALinkPerReplica) {
  auto pipe = Open(Route({Stage("self"), Stage("b", {"b2"}), Stage("c")}));
  EXPECT_EQ(connected_, (std::vector<std::string>{"1: b c", "1: b2 c"}));
  v1::PipeOpen wide =
      Route({Stage("self"), Stage("b", std::vector<std::string>(kMaxReplicas, "x"))});
  auto refused = data_plane_->Open(wide, [](v1::PipeReply) {});
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
}

v1::PipeStage Sharded(const std::string& address, std::vector<std::string> shards) {
  v1::PipeStage stage = Stage(address);
  for (const std::string& s : shards) {
    v1::PipeStage* shard = stage.add_shards();
    shard->set_address(s);
    shard->set_enclave("lobby");
  }
  return stage;
}

// The next stage sharded: one link per shard, each along the route with
// that shard in the next stage's place (every frame takes all of them).
// A sharded stage stands between whole ones.
TEST_F(DataPlaneCoreTest, AShardedNextStageGetsALinkPerShard) {
  auto pipe = Open(Route({Stage("self"), Sharded("b", {"b2", "b3"}), Stage("c")}));
  EXPECT_EQ(connected_, (std::vector<std::string>{"1: b c", "1: b2 c", "1: b3 c"}));
  for (const v1::PipeOpen& bad : {
           Route({Sharded("self", {"x"}), Stage("c")}),
           Route({Stage("self"), Sharded("b", {"b2"})}),
           Route({Stage("self"), Sharded("b", {"b2"}), Sharded("c", {"c2"}), Stage("d")}),
           Route({Stage("self"), Sharded("b", std::vector<std::string>(kMaxShards, "x")),
                  Stage("c")}),
       }) {
    auto refused = data_plane_->Open(bad, [](v1::PipeReply) {});
    EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument) << bad.DebugString();
  }
  v1::PipeStage both = Sharded("b", {"b2"});
  both.add_replicas()->set_address("r");
  auto refused = data_plane_->Open(Route({Stage("self"), both, Stage("c")}), [](v1::PipeReply) {});
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace serdab::worker
