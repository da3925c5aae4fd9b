// PeerLink: the NextStage link from this worker's enclave to the next stage's
// enclave on another worker, over gRPC (proto/serdab/v1/data_plane.proto).
//
// Connect attests both ways before any frame moves: each enclave issues a
// challenge, answers the other's with a quote, and opens its half of a
// mutual session from the other's evidence (enclave/attestation/evidence.h,
// kPeer). Each enclave checks the other's quote against the deployment root
// and that its owner routed it to exactly that enclave instance, so a host
// that points the link anywhere else gets a refusal, not a session. The
// worker hosts only carry the evidence.
//
// Then one Pipe stream carries the frames, in order, with at most
// `max_in_flight` awaiting their reply, on gRPC's callback API: frames go
// out as raw byte buffers that share the enclave's output (pipe_wire.h), one
// write at a time, and each reply goes to its frame's callback on a gRPC
// thread. When the stream breaks, every frame in flight gets an UNAVAILABLE
// reply and the link reports broken().
#ifndef SERDAB_WORKER_PEER_LINK_H_
#define SERDAB_WORKER_PEER_LINK_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "enclave/common/status.h"
#include "serdab/v1/data_plane.grpc.pb.h"
#include "worker/next_stage.h"
#include "worker/worker_core.h"

namespace serdab::worker {

// The channel arguments of every data-plane connection: messages up to
// kMaxDataPlaneMessage, and HTTP/2 windows sized for feature maps of
// megabytes (see shared/recipes/grpc-throughput.md).
inline constexpr int kMaxDataPlaneMessage = 256 << 20;
grpc::ChannelArguments DataPlaneChannelArguments();

// Keeps glibc from returning large freed buffers to the kernel: otherwise
// every message of megabytes that gRPC reads lands in fresh pages and
// faults them in (8% of raw TCP's throughput untuned, on this machine kind;
// see shared/recipes/grpc-throughput.md). For the processes that move
// frames: workers and the camera client. Call before any thread starts.
void TuneAllocatorForLargeMessages();

class PeerLink final : public NextStage {
 public:
  // `rest` are the stages from the next one on; `stage` is rest[0]'s index
  // in the pipeline. `tls_dir` holds this worker's node certificate (empty:
  // plaintext, loopback only).
  static Result<std::shared_ptr<PeerLink>> Connect(WorkerCore* core,
                                                   const std::string& local_enclave,
                                                   const std::vector<v1::PipeStage>& rest,
                                                   uint32_t stage, size_t max_in_flight,
                                                   const std::string& tls_dir);
  // Cancels the stream without waiting for it: the frames in flight get
  // their UNAVAILABLE replies from a gRPC thread.
  ~PeerLink() override;

  uint64_t out_session() const override { return local_session_; }
  void Send(PipeFrame frame, Done done) override;
  bool broken() const override;

 private:
  struct State;
  class Stream;

  PeerLink(WorkerCore* core, std::string local_enclave, std::shared_ptr<State> state)
      : core_(core), local_enclave_(std::move(local_enclave)), state_(std::move(state)) {}

  Status Handshake(const std::string& remote_enclave);

  WorkerCore* core_;
  const std::string local_enclave_;
  // Shared with the stream, which gRPC may finish after the link is gone.
  const std::shared_ptr<State> state_;
  std::shared_ptr<v1::DataPlane::Stub> stub_;
  uint64_t local_session_ = 0;
  uint64_t remote_session_ = 0;
  std::string remote_enclave_;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_PEER_LINK_H_
