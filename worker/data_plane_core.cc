#include "worker/data_plane_core.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

namespace serdab::worker {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The enclave's result for the client, as the reply's bytes field holds it.
std::string Flatten(const Payload& payload) {
  std::string out;
  out.reserve(payload.size());
  for (const ByteView& part : payload.parts) {
    out.append(reinterpret_cast<const char*>(part.data()), part.size());
  }
  return out;
}

// An enclave that refuses a message (it fails authentication, is replayed,
// or has the wrong size) has dropped that frame for good. One that was not
// routed met a pipeline its owner has since re-wired (or never wired): like
// a missing session or partition, that passes once the client finds the
// re-placed pipeline and sends the frame again.
bool Rejected(const Status& status) {
  switch (status.code()) {
    case Status::Code::kCorruption:
    case Status::Code::kInvalidArgument:
    case Status::Code::kOutOfRange:
      return true;
    default:
      return false;
  }
}

// The stages of a route, as a cache key.
std::string RouteKey(const std::vector<v1::PipeStage>& route) {
  std::string key;
  for (const v1::PipeStage& stage : route) {
    key += stage.address() + '\0' + stage.enclave() + '\0';
    for (const v1::PipeStage& replica : stage.replicas()) {
      key += '+' + replica.address() + '\0' + replica.enclave() + '\0';
    }
    for (const v1::PipeStage& shard : stage.shards()) {
      key += '|' + shard.address() + '\0' + shard.enclave() + '\0';
    }
    key += '\n';
  }
  return key;
}

// The replies of the k shards a frame fanned out to, put together: the
// frame's one reply goes upstream once all k are in. The result comes back
// on the pipe that brought the frame's last part, PART on the others.
class FanReplies {
 public:
  FanReplies(size_t shards, std::function<void(v1::PipeReply)> deliver)
      : waiting_(shards), deliver_(std::move(deliver)) {}

  void Add(v1::PipeReply reply) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto rank = [](const v1::PipeReply& r) {
      switch (r.outcome()) {
        case v1::PipeReply::RESULT:
          return 3;
        case v1::PipeReply::PART:
          return 1;
        default:
          return 2;  // the first error stands
      }
    };
    if (!chosen_ || rank(reply) > rank(*chosen_)) chosen_ = std::move(reply);
    if (--waiting_ > 0) return;
    v1::PipeReply out = std::move(*chosen_);
    lock.unlock();
    if (out.outcome() == v1::PipeReply::PART) {
      // Every shard's part was kept and none completed the frame: the stage
      // after them dropped it (a part was lost).
      out.set_outcome(v1::PipeReply::REJECTED);
      out.set_error("the frame's parts did not all reach the stage after the sharded layer");
    }
    deliver_(std::move(out));
  }

 private:
  std::mutex mu_;
  size_t waiting_;
  std::optional<v1::PipeReply> chosen_;
  const std::function<void(v1::PipeReply)> deliver_;
};

// Forwards a downstream reply for frame `id`, with this stage's times first.
v1::PipeReply Upstream(uint64_t id, double stage_ms, double queue_ms, v1::PipeReply downstream) {
  v1::PipeReply r;
  r.set_id(id);
  r.set_outcome(downstream.outcome());
  r.set_result(std::move(*downstream.mutable_result()));
  r.set_failed_stage(downstream.failed_stage());
  r.set_error(std::move(*downstream.mutable_error()));
  r.add_stage_ms(stage_ms);
  r.add_queue_ms(queue_ms);
  for (double ms : downstream.stage_ms()) r.add_stage_ms(ms);
  for (double ms : downstream.queue_ms()) r.add_queue_ms(ms);
  return r;
}

// The reply for a shard's part that the enclave kept until the frame's
// other parts are in: the frame's result goes back on the pipe of its last.
v1::PipeReply PartKept(uint64_t id, double stage_ms, double queue_ms) {
  v1::PipeReply reply;
  reply.set_id(id);
  reply.set_outcome(v1::PipeReply::PART);
  reply.add_stage_ms(stage_ms);
  reply.add_queue_ms(queue_ms);
  return reply;
}

// Member `i` of a stage: the stage itself (0), or its replica or shard i.
v1::PipeStage Member(const v1::PipeStage& stage, size_t i) {
  v1::PipeStage member = stage;
  if (i > 0) {
    member = stage.shards_size() > 0 ? stage.shards(static_cast<int>(i - 1))
                                     : stage.replicas(static_cast<int>(i - 1));
  }
  member.clear_replicas();
  member.clear_shards();
  return member;
}

}  // namespace

class DataPlaneCore::Pipe {
 public:
  Pipe(std::string enclave, uint32_t stage, std::shared_ptr<StageRunner> runner,
       std::vector<v1::PipeStage> rest, std::vector<std::shared_ptr<NextStage>> next, Reply reply)
      : enclave(std::move(enclave)),
        stage(stage),
        runner(std::move(runner)),
        rest(std::move(rest)),
        next_(std::move(next)),
        reply_(std::move(reply)) {}

  void Deliver(v1::PipeReply reply) {
    std::lock_guard<std::mutex> lock(mu_);
    if (reply_) reply_(std::move(reply));
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    reply_ = nullptr;
  }

  // Whether every frame goes to each of the next stage's shards.
  bool fan_out() const { return !rest.empty() && rest[0].shards_size() > 0; }
  size_t members() const { return next_.size(); }
  // The link to the next stage's replica for `lane`; null at the last stage.
  size_t replica(uint32_t lane) const { return next_.empty() ? 0 : lane % next_.size(); }
  std::shared_ptr<NextStage> next(size_t replica) {
    std::lock_guard<std::mutex> lock(mu_);
    return next_.empty() ? nullptr : next_[replica];
  }
  void set_next(size_t replica, std::shared_ptr<NextStage> next) {
    std::lock_guard<std::mutex> lock(mu_);
    next_[replica] = std::move(next);
  }

  const std::string enclave;
  const uint32_t stage;
  const std::shared_ptr<StageRunner> runner;
  const std::vector<v1::PipeStage> rest;  // the stages after this one

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<NextStage>> next_;  // one per replica of rest[0]
  Reply reply_;
};

DataPlaneCore::DataPlaneCore(WorkerCore* core, Connector connector, DataPlaneOptions options)
    : core_(core), connector_(std::move(connector)), options_(options) {}

DataPlaneCore::~DataPlaneCore() {
  // Runners first: their queued jobs may still send on the links.
  std::map<std::string, std::shared_ptr<StageRunner>> runners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    runners.swap(runners_);
  }
  runners.clear();
  std::lock_guard<std::mutex> lock(links_mu_);
  links_.clear();
}

std::shared_ptr<StageRunner> DataPlaneCore::Runner(const std::string& enclave) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<StageRunner>& runner = runners_[enclave];
  if (!runner) runner = std::make_shared<StageRunner>(options_.queue_depth);
  return runner;
}

Result<std::shared_ptr<NextStage>> DataPlaneCore::Link(const std::string& enclave,
                                                       const std::vector<v1::PipeStage>& rest,
                                                       uint32_t stage, size_t replica) {
  // The link's own route: rest with its first stage narrowed to the
  // replica or shard.
  std::vector<v1::PipeStage> route = rest;
  route[0] = Member(rest[0], replica);
  const std::string route_key = RouteKey(route);
  std::lock_guard<std::mutex> lock(links_mu_);
  const LinkKey key{enclave, route.front().address(), route.front().enclave(), stage};
  auto it = links_.find(key);
  if (it != links_.end() && it->second.route == route_key) {
    std::shared_ptr<NextStage> shared = it->second.link.lock();
    if (shared && !shared->broken()) return shared;
  }
  // Room for every frame the stages after this one can hold: each runs one
  // and queues queue_depth.
  const size_t max_in_flight = (options_.queue_depth + 1) * route.size();
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<NextStage> link,
                          connector_(enclave, route, stage, max_in_flight));
  // Replaces a link of an earlier route over the same hop: the pipes that
  // still use it keep it until they close.
  links_[key] = CachedLink{route_key, link};
  std::erase_if(links_, [](const auto& entry) { return entry.second.link.expired(); });
  return link;
}

Result<std::shared_ptr<DataPlaneCore::Pipe>> DataPlaneCore::Open(const v1::PipeOpen& open,
                                                                 Reply reply) {
  if (open.stages().empty()) return Status::InvalidArgument("the pipe names no stage");
  if (open.stages().size() > 64) return Status::InvalidArgument("the pipe names over 64 stages");
  const std::string& enclave = open.stages(0).enclave();
  bool hosted = false;
  for (const EnclaveInfo& info : core_->List()) hosted = hosted || info.name == enclave;
  if (!hosted) return Status::NotFound("this worker runs no enclave '" + enclave + "'");
  for (int i = 0; i < open.stages_size(); ++i) {
    const v1::PipeStage& s = open.stages(i);
    if (s.replicas_size() > kMaxReplicas - 1) {
      return Status::InvalidArgument("a stage of the pipe names over " +
                                     std::to_string(kMaxReplicas) + " replicas");
    }
    if (s.shards_size() > kMaxShards - 1) {
      return Status::InvalidArgument("a stage of the pipe names over " +
                                     std::to_string(kMaxShards) + " shards");
    }
    if (s.shards_size() == 0) continue;
    if (s.replicas_size() > 0) {
      return Status::InvalidArgument("a stage of the pipe is both replicated and sharded");
    }
    // The stages around a sharded one are whole: the pipe's first stage,
    // which takes whole frames, and the one that gathers the parts.
    if (i == 0 || i + 1 == open.stages_size() || open.stages(i + 1).shards_size() > 0) {
      return Status::InvalidArgument(
          "a sharded stage of the pipe is first, last or next to another sharded stage");
    }
  }
  std::vector<std::shared_ptr<NextStage>> next;
  std::vector<v1::PipeStage> rest(open.stages().begin() + 1, open.stages().end());
  if (!rest.empty()) {
    const size_t members =
        1 + static_cast<size_t>(std::max(rest[0].replicas_size(), rest[0].shards_size()));
    for (size_t replica = 0; replica < members; ++replica) {
      SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<NextStage> link,
                              Link(enclave, rest, open.first_stage() + 1, replica));
      next.push_back(std::move(link));
    }
  }
  return std::make_shared<Pipe>(enclave, open.first_stage(), Runner(enclave), std::move(rest),
                                std::move(next), std::move(reply));
}

bool DataPlaneCore::Submit(const std::shared_ptr<Pipe>& pipe, PipeFrame* frame,
                           std::function<void()> on_room) {
  const int64_t queued = NowNs();
  // The job owns the frame only once the runner took it: a refused push
  // leaves *frame to the caller.
  auto job = std::make_shared<PipeFrame>();
  std::swap(*job, *frame);
  const bool pushed = pipe->runner->TryPush([this, pipe, job, queued] { Run(pipe, *job, queued); },
                                            std::move(on_room));
  if (!pushed) {
    std::swap(*frame, *job);
    return false;
  }
  counters_.frames_in++;
  counters_.bytes_in += job->payload.size();
  return true;
}

void DataPlaneCore::Close(const std::shared_ptr<Pipe>& pipe) { pipe->Close(); }

std::map<std::string, size_t> DataPlaneCore::QueueDepths() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, size_t> depths;
  for (const auto& [name, runner] : runners_) depths[name] = runner->queued();
  return depths;
}

std::shared_ptr<NextStage> DataPlaneCore::LiveLink(const std::shared_ptr<Pipe>& pipe,
                                                   size_t member) {
  std::shared_ptr<NextStage> next = pipe->next(member);
  if (next && next->broken()) {
    // A pipe outlives its link when the stage after it was lost or
    // re-provisioned: take a new link (a new handshake) for this frame. If
    // the next stage cannot be reached, the broken link answers the frame.
    Result<std::shared_ptr<NextStage>> fresh =
        Link(pipe->enclave, pipe->rest, pipe->stage + 1, member);
    if (fresh.ok()) {
      next = std::move(fresh).value();
      pipe->set_next(member, next);
    }
  }
  return next;
}

void DataPlaneCore::Fail(const std::shared_ptr<Pipe>& pipe, uint64_t id, const Status& status) {
  const bool rejected = Rejected(status);
  (rejected ? counters_.frames_rejected : counters_.frames_lost)++;
  v1::PipeReply reply;
  reply.set_id(id);
  reply.set_outcome(rejected ? v1::PipeReply::REJECTED : v1::PipeReply::UNAVAILABLE);
  reply.set_failed_stage(pipe->stage);
  reply.set_error(status.ToString());
  pipe->Deliver(std::move(reply));
}

void DataPlaneCore::Run(const std::shared_ptr<Pipe>& pipe, const PipeFrame& frame,
                        int64_t queued_ns) {
  const int64_t started = NowNs();
  const double queue_ms = static_cast<double>(started - queued_ns) / 1e6;
  // Where the output goes: the replica the frame's lane picks, every shard
  // of a sharded next stage, or (last stage) back to the client.
  std::vector<std::shared_ptr<NextStage>> links;
  if (pipe->fan_out()) {
    for (size_t i = 0; i < pipe->members(); ++i) links.push_back(LiveLink(pipe, i));
  } else if (std::shared_ptr<NextStage> next = LiveLink(pipe, pipe->replica(frame.lane))) {
    links.push_back(std::move(next));
  }
  std::vector<uint64_t> out_sessions;
  for (const std::shared_ptr<NextStage>& link : links) out_sessions.push_back(link->out_session());
  if (links.empty()) out_sessions.push_back(frame.tail_session);
  Result<std::vector<Payload>> outputs =
      core_->ProcessFrame(pipe->enclave, frame.in_session, pipe->stage, out_sessions,
                          pipe->stage + 1, frame.stream, frame.payload);
  const int64_t busy = NowNs() - started;
  counters_.busy_ns += static_cast<uint64_t>(busy);
  const double stage_ms = static_cast<double>(busy) / 1e6;
  if (!outputs.ok()) {
    Fail(pipe, frame.id, outputs.status());
    return;
  }
  if (outputs->front().size() == 0) {
    // A sharded layer's part, kept until the frame's others are in.
    pipe->Deliver(PartKept(frame.id, stage_ms, queue_ms));
    return;
  }
  counters_.frames_out++;
  for (const Payload& output : *outputs) counters_.bytes_out += output.size();
  if (links.empty()) {
    v1::PipeReply reply;
    reply.set_id(frame.id);
    reply.set_outcome(v1::PipeReply::RESULT);
    reply.set_result(Flatten(outputs->front()));
    reply.add_stage_ms(stage_ms);
    reply.add_queue_ms(queue_ms);
    pipe->Deliver(std::move(reply));
    return;
  }
  std::function<void(v1::PipeReply)> upstream = [pipe, id = frame.id, stage_ms,
                                                 queue_ms](v1::PipeReply downstream) {
    pipe->Deliver(Upstream(id, stage_ms, queue_ms, std::move(downstream)));
  };
  // A fanned-out frame answers once every shard has.
  if (links.size() > 1) {
    auto replies = std::make_shared<FanReplies>(links.size(), std::move(upstream));
    upstream = [replies](v1::PipeReply downstream) { replies->Add(std::move(downstream)); };
  }
  for (size_t i = 0; i < links.size(); ++i) {
    PipeFrame onward;
    onward.stream = frame.stream;
    onward.tail_session = frame.tail_session;
    onward.lane = frame.lane;
    onward.payload = std::move((*outputs)[i]);
    links[i]->Send(std::move(onward), upstream);
  }
}

}  // namespace serdab::worker
