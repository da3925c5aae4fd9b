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
// `max_in_flight` awaiting their reply; a reader thread hands each reply to
// its frame's callback. When the stream breaks, every frame in flight gets
// an UNAVAILABLE reply and the link reports broken().
#ifndef SERDAB_WORKER_PEER_LINK_H_
#define SERDAB_WORKER_PEER_LINK_H_

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
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
  ~PeerLink() override;

  uint64_t out_session() const override { return local_session_; }
  void Send(v1::Frame frame, Done done) override;
  bool broken() const override;

 private:
  PeerLink(WorkerCore* core, std::string local_enclave, uint32_t stage, size_t max_in_flight)
      : core_(core),
        local_enclave_(std::move(local_enclave)),
        stage_(stage),
        max_in_flight_(max_in_flight) {}

  Status Handshake(const std::string& remote_enclave);
  void ReadReplies();
  void Break(const std::string& why);

  WorkerCore* core_;
  const std::string local_enclave_;
  const uint32_t stage_;
  const size_t max_in_flight_;
  std::string remote_address_;
  std::shared_ptr<v1::DataPlane::Stub> stub_;
  uint64_t local_session_ = 0;
  uint64_t remote_session_ = 0;

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PipeRequest, v1::PipeReply>> stream_;
  std::thread reader_;

  mutable std::mutex mu_;
  std::condition_variable room_;
  bool broken_ = false;
  std::string broken_why_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Done> in_flight_;
  std::mutex write_mu_;
  bool finished_ = false;  // guarded by write_mu_: the stream is over
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_PEER_LINK_H_
