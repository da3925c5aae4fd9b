#include "worker/data_plane_core.h"

#include <chrono>
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
    key += '\n';
  }
  return key;
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
  // The link's own route: rest with its first stage narrowed to the replica.
  std::vector<v1::PipeStage> route = rest;
  if (replica > 0) route[0] = rest[0].replicas(static_cast<int>(replica - 1));
  route[0].clear_replicas();
  const std::string route_key = RouteKey(route);
  std::lock_guard<std::mutex> lock(links_mu_);
  const LinkKey key{enclave, route.front().address(), route.front().enclave(), stage};
  auto it = links_.find(key);
  if (it != links_.end() && it->second.route == route_key && !it->second.link->broken()) {
    return it->second.link;
  }
  // Room for every frame the stages after this one can hold: each runs one
  // and queues queue_depth.
  const size_t max_in_flight = (options_.queue_depth + 1) * route.size();
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<NextStage> link,
                          connector_(enclave, route, stage, max_in_flight));
  // Replaces a link of an earlier route over the same hop: the pipes that
  // still use it keep it until they close.
  links_[key] = CachedLink{route_key, link};
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
  for (const v1::PipeStage& s : open.stages()) {
    if (s.replicas_size() > kMaxReplicas - 1) {
      return Status::InvalidArgument("a stage of the pipe names over " +
                                     std::to_string(kMaxReplicas) + " replicas");
    }
  }
  std::vector<std::shared_ptr<NextStage>> next;
  std::vector<v1::PipeStage> rest(open.stages().begin() + 1, open.stages().end());
  if (!rest.empty()) {
    for (size_t replica = 0; replica <= static_cast<size_t>(rest[0].replicas_size()); ++replica) {
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

void DataPlaneCore::Run(const std::shared_ptr<Pipe>& pipe, const PipeFrame& frame,
                        int64_t queued_ns) {
  const int64_t started = NowNs();
  const double queue_ms = static_cast<double>(started - queued_ns) / 1e6;
  const size_t replica = pipe->replica(frame.lane);
  std::shared_ptr<NextStage> next = pipe->next(replica);
  if (next && next->broken()) {
    // A pipe outlives its link when the stage after it was lost or
    // re-provisioned: take a new link (a new handshake) for this frame. If
    // the next stage cannot be reached, the broken link answers the frame.
    Result<std::shared_ptr<NextStage>> fresh =
        Link(pipe->enclave, pipe->rest, pipe->stage + 1, replica);
    if (fresh.ok()) {
      next = std::move(fresh).value();
      pipe->set_next(replica, next);
    }
  }
  const uint64_t out_session = next ? next->out_session() : frame.tail_session;
  Result<Payload> output =
      core_->ProcessFrame(pipe->enclave, frame.in_session, pipe->stage, out_session,
                          pipe->stage + 1, frame.stream, frame.payload);
  const int64_t busy = NowNs() - started;
  counters_.busy_ns += static_cast<uint64_t>(busy);
  const double stage_ms = static_cast<double>(busy) / 1e6;
  v1::PipeReply reply;
  reply.set_id(frame.id);
  if (!output.ok()) {
    const bool rejected = Rejected(output.status());
    (rejected ? counters_.frames_rejected : counters_.frames_lost)++;
    reply.set_outcome(rejected ? v1::PipeReply::REJECTED : v1::PipeReply::UNAVAILABLE);
    reply.set_failed_stage(pipe->stage);
    reply.set_error(output.status().ToString());
    pipe->Deliver(std::move(reply));
    return;
  }
  counters_.frames_out++;
  counters_.bytes_out += output->size();
  if (!next) {
    reply.set_outcome(v1::PipeReply::RESULT);
    reply.set_result(Flatten(*output));
    reply.add_stage_ms(stage_ms);
    reply.add_queue_ms(queue_ms);
    pipe->Deliver(std::move(reply));
    return;
  }
  PipeFrame onward;
  onward.stream = frame.stream;
  onward.tail_session = frame.tail_session;
  onward.lane = frame.lane;
  onward.payload = std::move(output).value();
  next->Send(std::move(onward),
             [pipe, id = frame.id, stage_ms, queue_ms](v1::PipeReply downstream) {
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
               pipe->Deliver(std::move(r));
             });
}

}  // namespace serdab::worker
