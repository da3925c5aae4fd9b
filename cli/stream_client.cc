#include "cli/stream_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "cli/enclave_client.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"
#include "enclave/engine/tensor_codec.h"
#include "serdab/v1/data_plane.grpc.pb.h"
#include "worker/data_plane_endpoint.h"
#include "worker/grpc_daemon.h"
#include "worker/peer_link.h"
#include "worker/rpc_status.h"

namespace serdab::cli {
namespace {

using Clock = std::chrono::steady_clock;
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// A session with one enclave of the pipeline, and the endpoint it came from.
struct Attached {
  std::unique_ptr<worker::DataPlaneEndpoint> endpoint;
  std::unique_ptr<EnclaveClient> client;
  ~Attached() {
    if (endpoint && client) (void)endpoint->CloseSession(client->session());
  }
};

}  // namespace

class StreamClient::Impl {
 public:
  Impl(StreamClientOptions options, OnResult on_result, OnEvent on_event)
      : options_(std::move(options)),
        on_result_(std::move(on_result)),
        on_event_(std::move(on_event)) {}

  ~Impl() { Stop(); }

  Status Start() {
    SERDAB_ASSIGN_OR_RETURN(pipeline_, options_.resolve(false));
    SERDAB_RETURN_IF_ERROR(OpenPipes());
    sender_ = std::thread([this] { SendLoop(); });
    return Status::Ok();
  }

  Status AddStream(uint64_t id, OverloadPolicy policy, size_t queue) {
    if (id == 0) return Status::InvalidArgument("stream 0 carries owner commands, not frames");
    auto stream = std::make_unique<Stream>();
    stream->id = id;
    stream->policy = policy;
    stream->queue = queue == 0 ? 1 : queue;
    SERDAB_RETURN_IF_ERROR(Attach(stream.get()));
    std::lock_guard<std::mutex> lock(mu_);
    if (streams_.count(id) != 0) return Status::InvalidArgument("stream ids must be unique");
    streams_[id] = std::move(stream);
    return Status::Ok();
  }

  Status Submit(uint64_t id, FrameMeta meta, std::vector<engine::Tensor> inputs) {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return Status::NotFound("no stream " + std::to_string(id));
    Stream& s = *it->second;
    s.counters.in++;
    if (s.policy == OverloadPolicy::kBlock) {
      changed_.wait(lock,
                    [&] { return !failure_.ok() || stopping_ || s.waiting.size() < s.queue; });
      if (!failure_.ok()) return failure_;
      if (stopping_) return Status::FailedPrecondition("the stream client stopped");
    } else if (s.policy == OverloadPolicy::kLatestOnly) {
      s.counters.dropped += s.waiting.size();
      s.waiting.clear();
    } else if (s.policy == OverloadPolicy::kDropNewest && s.waiting.size() >= s.queue) {
      s.counters.dropped++;
      return Status::Ok();
    } else if (s.waiting.size() >= s.queue) {
      s.waiting.pop_front();
      s.counters.dropped++;
    }
    if (!failure_.ok()) return failure_;
    s.waiting.push_back(Frame{meta, std::move(inputs)});
    changed_.notify_all();
    return Status::Ok();
  }

  void EndStream(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(id);
    if (it != streams_.end()) it->second->ended = true;
    changed_.notify_all();
  }

  Status Finish() {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] {
      if (!failure_.ok()) return true;
      if (!in_flight_.empty() || undelivered_ > 0) return false;
      for (const auto& [id, s] : streams_) {
        if (!s->ended || !s->waiting.empty()) return false;
      }
      return true;
    });
    return failure_;
  }

  StreamCounters Counters(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(id);
    return it == streams_.end() ? StreamCounters{} : it->second->counters;
  }

  const Pipeline& pipeline() const { return pipeline_; }

 private:
  struct Frame {
    FrameMeta meta;
    std::vector<engine::Tensor> inputs;
  };
  struct Stream {
    uint64_t id = 0;
    // The stream id its frames carry through the pipeline: drawn at random
    // each time its sessions open. Stage enclaves keep state per stream id
    // (the parts of a sharded layer's frames), which must not outlive a
    // run, a recovery that sends frames again, or mix two clients' frames.
    uint64_t wire_id = 0;
    OverloadPolicy policy = OverloadPolicy::kDropOldest;
    size_t queue = 2;
    std::deque<Frame> waiting;
    // One per replica of the first and of the last stage.
    std::vector<std::unique_ptr<Attached>> heads;  // frames are sealed to them
    std::vector<std::unique_ptr<Attached>> tails;  // results come from them
    StreamCounters counters;
    bool ended = false;
  };
  // A frame sent and not yet delivered. Its reply may come before those of
  // earlier frames of its stream (through another replica); it then waits
  // here, done, until they are delivered.
  struct InFlight {
    uint64_t stream = 0;
    uint64_t wire_stream = 0;  // the stream's wire_id when it was sent
    uint32_t lane = 0;
    Frame frame;
    bool done = false;
    std::optional<StreamResult> result;  // when done: empty if it was rejected
    std::string rejection;
  };
  using PipeStream = grpc::ClientReaderWriter<v1::PipeRequest, v1::PipeReply>;
  // The Pipe to one replica of the first stage, and its reader.
  struct PipeConnection {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<PipeStream> stream;
    std::thread reader;
  };

  // One channel per worker address, made once.
  Result<std::shared_ptr<v1::DataPlane::Stub>> StubFor(const std::string& address) {
    auto it = stubs_.find(address);
    if (it != stubs_.end()) return it->second;
    SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                            worker::MakeChannelCredentials(address, options_.tls_dir, "user"));
    auto stub = std::shared_ptr<v1::DataPlane::Stub>(v1::DataPlane::NewStub(
        grpc::CreateCustomChannel(address, credentials, worker::DataPlaneChannelArguments())));
    stubs_[address] = stub;
    return stub;
  }

  Result<std::unique_ptr<Attached>> AttachTo(const PipelineStage& stage) {
    SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<v1::DataPlane::Stub> stub, StubFor(stage.address));
    auto attached = std::make_unique<Attached>();
    attached->endpoint =
        std::make_unique<worker::DataPlaneEndpoint>(std::move(stub), stage.address, stage.enclave);
    SERDAB_ASSIGN_OR_RETURN(attached->client,
                            EnclaveClient::Attest(attached->endpoint.get(), *options_.verifier,
                                                  *options_.identity, pipeline_.coordinator));
    if (crypto::HexEncode(attached->client->enclave().binding.instance) != stage.instance) {
      return Status::PermissionDenied("enclave " + stage.enclave + " at " + stage.address +
                                      " is not the instance the coordinator provisioned");
    }
    return attached;
  }

  // Opens the stream's sessions with every replica of the first and the
  // last stages.
  Status Attach(Stream* stream) {
    std::vector<std::unique_ptr<Attached>> heads, tails;
    for (const PipelineStage& replica : pipeline_.stages.front()) {
      SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<Attached> head, AttachTo(replica));
      heads.push_back(std::move(head));
    }
    for (const PipelineStage& replica : pipeline_.stages.back()) {
      SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<Attached> tail, AttachTo(replica));
      // Results reach the client by as many paths as there are replicas.
      if (pipeline_.replicated()) {
        tail->client->channel()->set_reorder_window(crypto::kMaxReorderWindow);
      }
      tails.push_back(std::move(tail));
    }
    uint64_t wire_id = 0;
    while (wire_id == 0) {  // 0 carries owner commands
      SERDAB_RETURN_IF_ERROR(
          crypto::RandomBytes(std::span(reinterpret_cast<uint8_t*>(&wire_id), sizeof(wire_id))));
    }
    stream->heads = std::move(heads);
    stream->tails = std::move(tails);
    stream->wire_id = wire_id;
    return Status::Ok();
  }

  // Opens a Pipe to each replica of the first stage.
  Status OpenPipes() {
    v1::PipeOpen route;
    for (size_t i = 0; i < pipeline_.stages.size(); ++i) {
      const std::vector<PipelineStage>& replicas = pipeline_.stages[i];
      const bool sharded = i < pipeline_.sharded.size() && pipeline_.sharded[i];
      v1::PipeStage* stage = route.add_stages();
      for (size_t r = 0; r < replicas.size(); ++r) {
        v1::PipeStage* at =
            r == 0 ? stage : (sharded ? stage->add_shards() : stage->add_replicas());
        at->set_address(replicas[r].address);
        at->set_enclave(replicas[r].enclave);
      }
    }
    route.set_first_stage(0);
    {
      std::lock_guard<std::mutex> lock(mu_);
      pipe_broken_ = false;
    }
    size_t replicas = 0;
    for (const auto& stage : pipeline_.stages) replicas += stage.size();
    max_in_flight_ =
        options_.max_in_flight != 0 ? options_.max_in_flight : pipeline_.stage_capacity * replicas;
    for (const PipelineStage& head : pipeline_.stages.front()) {
      SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<v1::DataPlane::Stub> stub, StubFor(head.address));
      v1::PipeRequest open;
      *open.mutable_open() = route;
      v1::PipeStage* first = open.mutable_open()->mutable_stages(0);
      first->clear_replicas();
      first->set_address(head.address);
      first->set_enclave(head.enclave);
      auto pipe = std::make_unique<PipeConnection>();
      pipe->context = std::make_unique<grpc::ClientContext>();
      pipe->stream = stub->Pipe(pipe->context.get());
      if (!pipe->stream->Write(open)) {
        return worker::FromGrpc(pipe->stream->Finish(), "opening the pipe to " + head.address);
      }
      pipe->reader = std::thread([this, stream = pipe->stream.get()] { ReadLoop(stream); });
      pipes_.push_back(std::move(pipe));
    }
    return Status::Ok();
  }

  // Closes the pipes and waits for their readers.
  void ClosePipes() {
    for (auto& pipe : pipes_) pipe->context->TryCancel();
    for (auto& pipe : pipes_) {
      if (pipe->reader.joinable()) pipe->reader.join();
      (void)pipe->stream->Finish();
    }
    pipes_.clear();
  }

  void SendLoop() {
    for (;;) {
      std::unique_lock<std::mutex> lock(mu_);
      Stream* next = nullptr;
      changed_.wait(lock, [&] {
        if (stopping_ || !failure_.ok() || pipe_broken_) return true;
        if (in_flight_.size() >= max_in_flight_) return false;
        next = NextStream();
        return next != nullptr;
      });
      if (stopping_ || !failure_.ok()) return;
      if (pipe_broken_) {
        lock.unlock();
        Recover();
        continue;
      }
      const uint64_t id = next_id_++;
      InFlight& f = in_flight_[id];
      f.stream = next->id;
      f.wire_stream = next->wire_id;
      f.lane = next_lane_++;
      f.frame = std::move(next->waiting.front());
      next->waiting.pop_front();
      changed_.notify_all();  // room in the stream's queue
      EnclaveClient* head = next->heads[f.lane % next->heads.size()]->client.get();
      const uint64_t tail_session = next->tails[f.lane % next->tails.size()]->client->session();
      PipeStream* pipe = pipes_[f.lane % pipes_.size()]->stream.get();
      lock.unlock();
      // Only this thread seals to head sessions, in the order the pipes
      // carry the messages.
      v1::PipeRequest request;
      v1::Frame* frame = request.mutable_frame();
      frame->set_id(id);
      frame->set_stream(f.wire_stream);
      frame->set_in_session(head->session());
      frame->set_tail_session(tail_session);
      frame->set_lane(f.lane);
      Status sealed = head->channel()->SealParts(
          f.wire_stream, f.frame.meta.frame, 0,
          engine::EncodedTensorParts(f.frame.inputs, &headers_), &message_);
      if (!sealed.ok()) {
        Fail(sealed);
        return;
      }
      frame->set_payload(std::string(message_.begin(), message_.end()));
      if (!pipe->Write(request)) {
        std::lock_guard<std::mutex> relock(mu_);
        pipe_broken_ = true;
      }
    }
  }

  // Round-robin over the streams with a frame waiting; called locked.
  Stream* NextStream() {
    if (streams_.empty()) return nullptr;
    auto it = streams_.upper_bound(last_served_);
    for (size_t i = 0; i < streams_.size(); ++i, ++it) {
      if (it == streams_.end()) it = streams_.begin();
      if (!it->second->waiting.empty()) {
        last_served_ = it->first;
        return it->second.get();
      }
    }
    return nullptr;
  }

  void ReadLoop(PipeStream* pipe) {
    v1::PipeReply reply;
    crypto::Bytes plaintext;
    while (pipe->Read(&reply)) {
      if (reply.outcome() == v1::PipeReply::UNAVAILABLE) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = in_flight_.find(reply.id());
        // Already answered (a late reply for it): nothing to send again.
        if (it == in_flight_.end() || it->second.done) continue;
        // The frame stays in flight; recovery sends it again.
        pipe_broken_ = true;
        last_loss_ = "stage " + std::to_string(reply.failed_stage()) + " lost: " + reply.error();
        changed_.notify_all();
        Event(it->second.stream, last_loss_);
        break;
      }
      // Opening and delivering under one lock: replies on several pipes may
      // open in the same tail session, and each stream's results leave in
      // order.
      std::lock_guard<std::mutex> delivering(deliver_mu_);
      Stream* stream = nullptr;
      InFlight* f = nullptr;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = in_flight_.find(reply.id());
        if (it == in_flight_.end() || it->second.done) continue;
        f = &it->second;
        stream = streams_[f->stream].get();
      }
      // An unanswered entry is this reader's alone: the sender is done with
      // it, and recovery waits for the readers to stop.
      if (reply.outcome() == v1::PipeReply::RESULT) {
        Open(stream, f, reply, &plaintext);
      } else {
        f->rejection = "frame " + std::to_string(f->frame.meta.frame) + " rejected at stage " +
                       std::to_string(reply.failed_stage()) + ": " + reply.error();
      }
      std::vector<InFlight> ready;
      {
        std::lock_guard<std::mutex> lock(mu_);
        f->done = true;
        ready = TakeDeliverable(stream->id);
        changed_.notify_all();
      }
      for (InFlight& r : ready) Deliver(std::move(r));
    }
    std::lock_guard<std::mutex> lock(mu_);
    pipe_broken_ = true;
    changed_.notify_all();
  }

  // Opens a frame's result in the session with the tail replica its lane
  // chose. A result that does not open, or is another frame's, is recorded
  // as a rejection.
  void Open(Stream* stream, InFlight* f, const v1::PipeReply& reply, crypto::Bytes* plaintext) {
    const uint32_t hop = static_cast<uint32_t>(pipeline_.stages.size());
    crypto::ByteView message(reinterpret_cast<const uint8_t*>(reply.result().data()),
                             reply.result().size());
    EnclaveClient* tail = stream->tails[f->lane % stream->tails.size()]->client.get();
    auto opened = tail->channel()->Open(f->wire_stream, hop, message, plaintext);
    Result<std::vector<engine::Tensor>> outputs =
        !opened.ok() ? Result<std::vector<engine::Tensor>>(opened.status())
        : opened->frame_seq != f->frame.meta.frame
            ? Result<std::vector<engine::Tensor>>(Status::Corruption("result for another frame"))
            : engine::DecodeTensors(*plaintext);
    crypto::SecureWipe(plaintext->data(), plaintext->size());
    if (!outputs.ok()) {
      f->rejection = "result of frame " + std::to_string(f->frame.meta.frame) +
                     " rejected: " + outputs.status().ToString();
      return;
    }
    StreamResult& result = f->result.emplace();
    result.stream = f->stream;
    result.meta = f->frame.meta;
    result.latency_ms = static_cast<double>(NowNs() - f->frame.meta.captured_ns) / 1e6;
    result.outputs = std::move(outputs).value();
    result.stage_ms.assign(reply.stage_ms().begin(), reply.stage_ms().end());
    result.queue_ms.assign(reply.queue_ms().begin(), reply.queue_ms().end());
  }

  // Takes out of flight, in order, the stream's answered frames that no
  // unanswered frame of it precedes, and counts them; called locked.
  std::vector<InFlight> TakeDeliverable(uint64_t stream) {
    std::vector<InFlight> ready;
    Stream& s = *streams_[stream];
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      if (it->second.stream != stream) {
        ++it;
        continue;
      }
      if (!it->second.done) break;
      if (it->second.result) {
        s.counters.out++;
        recoveries_without_result_ = 0;
      } else {
        s.counters.rejected++;
      }
      ready.push_back(std::move(it->second));
      undelivered_++;
      it = in_flight_.erase(it);
    }
    return ready;
  }

  // Hands an answered frame to the caller; called with deliver_mu_ held.
  void Deliver(InFlight f) {
    if (f.result) {
      on_result_(std::move(*f.result));
    } else {
      Event(f.stream, f.rejection);
    }
    std::lock_guard<std::mutex> lock(mu_);
    undelivered_--;
    changed_.notify_all();
  }

  // A stage was lost: close the pipes, put the unanswered frames back (or
  // count them dropped), find the re-placed pipeline, attest it, reopen.
  void Recover() {
    ClosePipes();
    std::vector<InFlight> answered;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // A pipeline that fails again as soon as it is recovered would be
      // recovered for ever: give up once a recovery timeout has passed
      // since the last result with no result in between.
      const auto now = Clock::now();
      if (recoveries_without_result_++ == 0) first_recovery_ = now;
      if (now - first_recovery_ >
          std::chrono::milliseconds(static_cast<int64_t>(options_.recover_timeout_s * 1000))) {
        if (failure_.ok()) {
          failure_ = Status::FailedPrecondition(
              "no result for " + std::to_string(options_.recover_timeout_s) + " s over " +
              std::to_string(recoveries_without_result_.load()) +
              " recoveries of the pipeline; last: " + last_loss_);
        }
        changed_.notify_all();
        return;
      }
      // A live stream keeps the answers it has (each after the frames
      // before it, which are lost); a file's stream sends every frame from
      // its first unanswered one again, answered or not, so that its
      // results stay in order. In reverse, so that each goes in front of
      // the frames after it.
      for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
        Stream& s = *streams_[it->second.stream];
        if (s.policy == OverloadPolicy::kBlock || !it->second.done) continue;
        (it->second.result ? s.counters.out : s.counters.rejected)++;
        answered.push_back(std::move(it->second));
        undelivered_++;
      }
      for (auto it = in_flight_.rbegin(); it != in_flight_.rend(); ++it) {
        Stream& s = *streams_[it->second.stream];
        if (s.policy == OverloadPolicy::kBlock) {
          s.counters.resent++;
          s.waiting.push_front(std::move(it->second.frame));
        } else if (!it->second.done) {
          s.counters.dropped++;
        }
      }
      in_flight_.clear();
    }
    {
      std::lock_guard<std::mutex> delivering(deliver_mu_);
      for (InFlight& f : answered) Deliver(std::move(f));
    }
    const auto deadline =
        Clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(options_.recover_timeout_s * 1000));
    Status last;
    while (Clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
      }
      last = Reconnect();
      if (last.ok()) {
        Event(0, "pipeline recovered: " + std::to_string(pipeline_.stages.size()) +
                     " stages, rollout " + std::to_string(pipeline_.rollout));
        return;
      }
      Event(0, "waiting for the deployment to be re-placed: " + last.ToString());
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
    }
    Fail(Status::FailedPrecondition("the pipeline was not recovered within " +
                                    std::to_string(options_.recover_timeout_s) +
                                    " s: " + last.ToString()));
  }

  Status Reconnect() {
    SERDAB_ASSIGN_OR_RETURN(Pipeline pipeline, options_.resolve(true));
    pipeline_ = std::move(pipeline);
    std::vector<Stream*> streams;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [id, s] : streams_) streams.push_back(s.get());
    }
    for (Stream* s : streams) SERDAB_RETURN_IF_ERROR(Attach(s));
    return OpenPipes();
  }

  void Event(uint64_t stream, const std::string& what) {
    if (on_event_) on_event_(stream, what);
  }

  void Fail(const Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (failure_.ok()) failure_ = status;
    changed_.notify_all();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      changed_.notify_all();
    }
    if (sender_.joinable()) sender_.join();
    ClosePipes();
    std::lock_guard<std::mutex> lock(mu_);
    streams_.clear();
  }

  StreamClientOptions options_;
  OnResult on_result_;
  OnEvent on_event_;
  Pipeline pipeline_;  // replaced only by the sender, while no reader runs
  std::map<std::string, std::shared_ptr<v1::DataPlane::Stub>> stubs_;

  std::vector<std::unique_ptr<PipeConnection>> pipes_;  // one per first-stage replica
  std::thread sender_;
  size_t max_in_flight_ = 1;
  crypto::Bytes headers_;
  crypto::Bytes message_;

  std::mutex deliver_mu_;  // held while a result is opened and delivered
  // Frames taken out of flight whose callback has not returned yet: Finish()
  // waits for them too. Guarded by mu_.
  size_t undelivered_ = 0;
  std::mutex mu_;  // the rest, below
  std::condition_variable changed_;
  std::map<uint64_t, std::unique_ptr<Stream>> streams_;
  std::map<uint64_t, InFlight> in_flight_;
  uint64_t next_id_ = 1;
  uint32_t next_lane_ = 0;
  uint64_t last_served_ = 0;
  bool pipe_broken_ = false;
  std::atomic<int> recoveries_without_result_{0};  // reset by every result
  Clock::time_point first_recovery_;               // of those without a result since
  std::string last_loss_;                          // why the pipe broke last
  bool stopping_ = false;
  Status failure_;
};

bool Pipeline::replicated() const {
  for (size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].size() > 1 && !(i < sharded.size() && sharded[i])) return true;
  }
  return false;
}

StreamClient::StreamClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamClient::~StreamClient() = default;

Result<std::unique_ptr<StreamClient>> StreamClient::Start(StreamClientOptions options,
                                                          OnResult on_result, OnEvent on_event) {
  if (options.identity == nullptr || options.verifier == nullptr || !options.resolve) {
    return Status::InvalidArgument("a stream client needs an identity, a verifier and a resolver");
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(on_result), std::move(on_event));
  SERDAB_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<StreamClient>(new StreamClient(std::move(impl)));
}

Status StreamClient::AddStream(uint64_t id, OverloadPolicy policy, size_t queue) {
  return impl_->AddStream(id, policy, queue);
}
Status StreamClient::Submit(uint64_t stream, FrameMeta meta, std::vector<engine::Tensor> inputs) {
  return impl_->Submit(stream, meta, std::move(inputs));
}
void StreamClient::EndStream(uint64_t stream) { impl_->EndStream(stream); }
Status StreamClient::Finish() { return impl_->Finish(); }
StreamCounters StreamClient::Counters(uint64_t stream) { return impl_->Counters(stream); }
const Pipeline& StreamClient::pipeline() const { return impl_->pipeline(); }

}  // namespace serdab::cli
