#include "worker/peer_link.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "worker/data_plane_endpoint.h"
#include "worker/grpc_daemon.h"
#include "worker/peer_handshake.h"
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

Result<std::shared_ptr<PeerLink>> PeerLink::Connect(WorkerCore* core,
                                                    const std::string& local_enclave,
                                                    const std::vector<v1::PipeStage>& rest,
                                                    uint32_t stage, size_t max_in_flight,
                                                    const std::string& tls_dir) {
  const v1::PipeStage& next = rest.front();
  SERDAB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          MakeChannelCredentials(next.address(), tls_dir, "node"));
  std::shared_ptr<PeerLink> link(new PeerLink(core, local_enclave, stage, max_in_flight));
  link->remote_address_ = next.address();
  link->stub_ = v1::DataPlane::NewStub(
      grpc::CreateCustomChannel(next.address(), credentials, DataPlaneChannelArguments()));
  SERDAB_RETURN_IF_ERROR(link->Handshake(next.enclave())
                             .WithContext("stage " + std::to_string(stage) + " (" + next.address() +
                                          "/" + next.enclave() + ")"));

  link->stream_ = link->stub_->Pipe(&link->context_);
  v1::PipeRequest open;
  for (const v1::PipeStage& s : rest) *open.mutable_open()->add_stages() = s;
  open.mutable_open()->set_first_stage(stage);
  if (!link->stream_->Write(open)) {
    const grpc::Status status = link->stream_->Finish();
    return FromGrpc(status,
                    "opening the pipe to stage " + std::to_string(stage) + " at " + next.address());
  }
  PeerLink* raw = link.get();
  link->reader_ = std::thread([raw] { raw->ReadReplies(); });
  return link;
}

Status PeerLink::Handshake(const std::string& remote_enclave) {
  LocalEnclave local(core_, local_enclave_);
  DataPlaneEndpoint remote(stub_, remote_address_, remote_enclave);
  PeerSessions sessions;
  Status status = OpenPeerSessions(&local, &remote, &sessions);
  if (!status.ok() && sessions.sender != 0) {
    (void)core_->CloseSession(local_enclave_, sessions.sender);
  }
  SERDAB_RETURN_IF_ERROR(status);
  local_session_ = sessions.sender;
  remote_session_ = sessions.receiver;
  return Status::Ok();
}

PeerLink::~PeerLink() {
  context_.TryCancel();
  if (reader_.joinable()) {
    // The last reference may be dropped by a reply callback on the reader
    // itself, which then finishes on its own.
    if (reader_.get_id() == std::this_thread::get_id()) {
      reader_.detach();
    } else {
      reader_.join();
    }
  }
  (void)core_->CloseSession(local_enclave_, local_session_);
}

bool PeerLink::broken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return broken_;
}

void PeerLink::Send(v1::Frame frame, Done done) {
  uint64_t id = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return broken_ || in_flight_.size() < max_in_flight_; });
    if (broken_) {
      const std::string why = broken_why_;
      lock.unlock();
      v1::PipeReply reply;
      reply.set_outcome(v1::PipeReply::UNAVAILABLE);
      reply.set_failed_stage(stage_);
      reply.set_error(why);
      done(std::move(reply));
      return;
    }
    id = next_id_++;
    in_flight_.emplace(id, std::move(done));
  }
  frame.set_id(id);
  frame.set_in_session(remote_session_);
  v1::PipeRequest request;
  *request.mutable_frame() = std::move(frame);
  bool written = false;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    written = !finished_ && stream_->Write(request);
  }
  if (!written)
    Break("the pipe to stage " + std::to_string(stage_) + " at " + remote_address_ + " closed");
}

void PeerLink::ReadReplies() {
  v1::PipeReply reply;
  while (stream_->Read(&reply)) {
    Done done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = in_flight_.find(reply.id());
      if (it == in_flight_.end()) continue;  // not ours: the next worker is confused
      done = std::move(it->second);
      in_flight_.erase(it);
    }
    room_.notify_all();
    // The next enclave itself could not take our frame (its session with
    // ours is gone: it was re-provisioned, or re-routed): every later frame
    // would fail the same way, so this link is done; the next pipe opened
    // through this worker makes a new one, with a new handshake.
    const bool stale =
        reply.outcome() == v1::PipeReply::UNAVAILABLE && reply.failed_stage() == stage_;
    const std::string why = stale ? "stage " + std::to_string(stage_) + " at " + remote_address_ +
                                        " refused this link: " + reply.error()
                                  : std::string();
    done(std::move(reply));
    if (stale) Break(why);
  }
  grpc::Status status;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    finished_ = true;
    status = stream_->Finish();
  }
  Break("stage " + std::to_string(stage_) + " at " + remote_address_ +
        " is unreachable: " + (status.ok() ? "the pipe ended" : status.error_message()));
}

void PeerLink::Break(const std::string& why) {
  std::map<uint64_t, Done> lost;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_) {
      broken_ = true;
      broken_why_ = why;
      spdlog::warn("data plane: {}", why);
    }
    lost.swap(in_flight_);
  }
  room_.notify_all();
  for (auto& [id, done] : lost) {
    v1::PipeReply reply;
    reply.set_id(id);
    reply.set_outcome(v1::PipeReply::UNAVAILABLE);
    reply.set_failed_stage(stage_);
    reply.set_error(why);
    done(std::move(reply));
  }
}

}  // namespace serdab::worker
