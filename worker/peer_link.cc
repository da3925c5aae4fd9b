#include "worker/peer_link.h"

#include <grpcpp/generic/generic_stub.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

#include "worker/data_plane_endpoint.h"
#include "worker/grpc_daemon.h"
#include "worker/peer_handshake.h"
#include "worker/pipe_wire.h"
#include "worker/rpc_status.h"

namespace serdab::worker {
namespace {

// This worker's enclave, as the handshake sees it.
class LocalEnclave final : public EnclaveEndpoint {
 public:
  LocalEnclave(WorkerCore* core, std::string name) : core_(core), name_(std::move(name)) {}
  Result<Bytes> Challenge() override { return core_->Challenge(name_); }
  Result<Bytes> GetQuote(ByteView nonce) override { return core_->GetQuote(name_, nonce); }
  Result<uint64_t> OpenSession(ByteView request) override {
    return core_->OpenSession(name_, request);
  }
  Result<Bytes> Provision(uint64_t, ByteView) override { return Unsupported(); }
  Result<Bytes> Process(uint64_t, uint32_t, uint64_t, uint32_t, uint64_t, ByteView) override {
    return Unsupported();
  }
  Status CloseSession(uint64_t session) override { return core_->CloseSession(name_, session); }

 private:
  static Status Unsupported() { return Status::Unimplemented("a handshake only attests"); }
  WorkerCore* core_;
  const std::string name_;
};

}  // namespace

grpc::ChannelArguments DataPlaneChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxDataPlaneMessage);
  args.SetMaxSendMessageSize(kMaxDataPlaneMessage);
  args.SetInt("grpc.http2.bdp_probe", 0);
  args.SetInt("grpc.http2.lookahead_bytes", 64 << 20);
  args.SetInt("grpc.http2.max_frame_size", 16 << 20);
  // Reconnects after a worker restarts are quick, not minutes apart.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return args;
}

void TuneAllocatorForLargeMessages() {
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
}

// What the link and its stream share, under `mu`.
struct PeerLink::State {
  State(uint32_t stage, std::string remote_address, size_t max_in_flight)
      : stage(stage), remote_address(std::move(remote_address)), max_in_flight(max_in_flight) {}

  // Stops new writes and releases the stream's hold, so that gRPC can finish
  // it; called locked.
  void StopWrites(const std::string& why);
  // Fails every frame in flight with `why`; called unlocked.
  void Break(const std::string& why);

  const uint32_t stage;
  const std::string remote_address;
  const size_t max_in_flight;

  std::mutex mu;
  std::condition_variable changed;  // room for a frame, the pipe opened, or the stream done
  Stream* stream = nullptr;         // null once gRPC is done with it
  // Whether writes may start: the stream holds a hold while true.
  bool writable = false;
  std::string closed_why;
  bool opened = false;  // the opening message went out
  bool done = false;
  grpc::Status status;  // once done
  uint64_t next_id = 1;
  std::map<uint64_t, Done> in_flight;
  std::deque<grpc::ByteBuffer> writes;  // the front is being written when `writing`
  bool writing = false;
};

// The Pipe call. It deletes itself once gRPC is done with it, which may be
// after the link is gone.
class PeerLink::Stream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, v1::PipeReply> {
 public:
  Stream(std::shared_ptr<State> state, std::shared_ptr<grpc::Channel> channel)
      : state_(std::move(state)), channel_(std::move(channel)) {}

  // Starts the call with `open` as its first message. Frames are written
  // from outside the reactions (Send), hence the hold.
  void Start(grpc::ByteBuffer open) {
    grpc::TemplatedGenericStub<grpc::ByteBuffer, v1::PipeReply> stub(channel_);
    // The generated name of DataPlane.Pipe (proto/serdab/v1/data_plane.proto).
    stub.PrepareBidiStreamingCall(&context_, "/serdab.v1.DataPlane/Pipe", grpc::StubOptions(),
                                  this);
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stream = this;
    state_->writable = true;
    state_->writes.push_back(std::move(open));
    state_->writing = true;
    AddHold();
    StartWrite(&state_->writes.front());
    StartRead(&reply_);
    StartCall();
  }

  // Called locked, before OnDone.
  void Cancel() { context_.TryCancel(); }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->writes.pop_front();
    if (!ok) {
      state_->writes.clear();
      state_->writing = false;
      state_->StopWrites("the pipe to stage " + std::to_string(state_->stage) + " at " +
                         state_->remote_address + " closed");
      return;
    }
    state_->opened = true;
    state_->changed.notify_all();
    if (state_->writable && !state_->writes.empty()) {
      StartWrite(&state_->writes.front());
    } else {
      state_->writing = false;
    }
  }

  void OnReadDone(bool ok) override {
    Done done;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (!ok) {
        state_->StopWrites("the pipe to stage " + std::to_string(state_->stage) + " at " +
                           state_->remote_address + " ended");
        return;
      }
      auto it = state_->in_flight.find(reply_.id());
      // Not ours: the next worker is confused.
      if (it != state_->in_flight.end()) {
        done = std::move(it->second);
        state_->in_flight.erase(it);
        state_->changed.notify_all();
      }
      // The next enclave itself could not take our frame (its session with
      // ours is gone: it was re-provisioned, or re-routed): every later
      // frame would fail the same way, so this link takes no more; the next
      // pipe opened through this worker makes a new one, with a new
      // handshake, and the frames still in flight here fail once the stream
      // ends.
      if (reply_.outcome() == v1::PipeReply::UNAVAILABLE &&
          reply_.failed_stage() == state_->stage) {
        state_->StopWrites("stage " + std::to_string(state_->stage) + " at " +
                           state_->remote_address + " refused this link: " + reply_.error());
      }
    }
    // This may drop the last reference to the link, which only cancels.
    if (done) done(std::move(reply_));
    reply_.Clear();
    StartRead(&reply_);
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->stream = nullptr;
      state_->done = true;
      state_->status = status;
      state_->changed.notify_all();
    }
    state_->Break("stage " + std::to_string(state_->stage) + " at " + state_->remote_address +
                  " is unreachable: " + (status.ok() ? "the pipe ended" : status.error_message()));
    delete this;
  }

 private:
  const std::shared_ptr<State> state_;
  const std::shared_ptr<grpc::Channel> channel_;
  grpc::ClientContext context_;
  v1::PipeReply reply_;
};

void PeerLink::State::StopWrites(const std::string& why) {
  if (!writable) return;
  writable = false;
  closed_why = why;
  changed.notify_all();
  stream->RemoveHold();
}

void PeerLink::State::Break(const std::string& why) {
  spdlog::warn("data plane: {}", why);
  std::map<uint64_t, Done> lost;
  {
    std::lock_guard<std::mutex> lock(mu);
    lost.swap(in_flight);
  }
  for (auto& [id, done] : lost) {
    v1::PipeReply reply;
    reply.set_id(id);
    reply.set_outcome(v1::PipeReply::UNAVAILABLE);
    reply.set_failed_stage(stage);
    reply.set_error(why);
    done(std::move(reply));
  }
}

Result<std::shared_ptr<PeerLink>> PeerLink::Connect(WorkerCore* core,
                                                    const std::string& local_enclave,
                                                    const std::vector<v1::PipeStage>& rest,
                                                    uint32_t stage, size_t max_in_flight,
                                                    const std::string& tls_dir) {
  const v1::PipeStage& next = rest.front();
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          MakeChannelCredentials(next.address(), tls_dir, "node"));
  auto state = std::make_shared<State>(stage, next.address(), max_in_flight);
  std::shared_ptr<PeerLink> link(new PeerLink(core, local_enclave, state));
  const std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(next.address(), credentials, DataPlaneChannelArguments());
  link->stub_ = v1::DataPlane::NewStub(channel);
  SERDAB_RETURN_IF_ERROR(link->Handshake(next.enclave())
                             .WithContext("stage " + std::to_string(stage) + " (" + next.address() +
                                          "/" + next.enclave() + ")"));

  v1::PipeRequest open;
  for (const v1::PipeStage& s : rest) *open.mutable_open()->add_stages() = s;
  open.mutable_open()->set_first_stage(stage);
  SERDAB_ASSIGN_OR_RETURN(grpc::ByteBuffer open_bytes, WriteMessage(open));
  (new Stream(state, channel))->Start(std::move(open_bytes));
  std::unique_lock<std::mutex> lock(state->mu);
  state->changed.wait(lock, [&] { return state->opened || state->done; });
  if (!state->opened) {
    return FromGrpc(state->status,
                    "opening the pipe to stage " + std::to_string(stage) + " at " + next.address());
  }
  return link;
}

Status PeerLink::Handshake(const std::string& remote_enclave) {
  LocalEnclave local(core_, local_enclave_);
  DataPlaneEndpoint remote(stub_, state_->remote_address, remote_enclave);
  PeerSessions sessions;
  SERDAB_RETURN_IF_ERROR(OpenPeerSessions(&local, &remote, &sessions));
  local_session_ = sessions.sender;
  remote_session_ = sessions.receiver;
  remote_enclave_ = remote_enclave;
  return Status::Ok();
}

PeerLink::~PeerLink() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->stream != nullptr) {
      state_->StopWrites("the link to stage " + std::to_string(state_->stage) + " at " +
                         state_->remote_address + " was closed");
      state_->stream->Cancel();
    }
  }
  (void)core_->CloseSession(local_enclave_, local_session_);
  // The next enclave's half serves this link only; left open, every link
  // made again after a failure would hold one more of its sessions.
  if (remote_session_ != 0) {
    DataPlaneEndpoint(stub_, state_->remote_address, remote_enclave_)
        .CloseSessionLater(remote_session_);
  }
}

bool PeerLink::broken() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return !state_->writable;
}

void PeerLink::Send(PipeFrame frame, Done done) {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  s.changed.wait(lock, [&] { return !s.writable || s.in_flight.size() < s.max_in_flight; });
  if (!s.writable) {
    const std::string why = s.closed_why;
    lock.unlock();
    v1::PipeReply reply;
    reply.set_outcome(v1::PipeReply::UNAVAILABLE);
    reply.set_failed_stage(s.stage);
    reply.set_error(why);
    done(std::move(reply));
    return;
  }
  frame.id = s.next_id++;
  frame.in_session = remote_session_;
  s.in_flight.emplace(frame.id, std::move(done));
  s.writes.push_back(WritePipeFrame(frame));
  if (!s.writing) {
    s.writing = true;
    s.stream->StartWrite(&s.writes.front());
  }
}

}  // namespace serdab::worker
