// DataPlaneCore: a worker's data plane with no gRPC in it (the DataPlane
// service in data_plane_service.h is a thin layer over it).
//
// A pipe is what one upstream party (a camera client or the previous stage's
// worker) opened to this worker: the stages from this worker's enclave to the
// last. Its frames queue on the enclave's StageRunner (bounded, shared by
// every pipe into that enclave), run through the enclave with one process
// ECALL, and then either come back as the result (last stage) or go on to the
// next stage over a NextStage link shared by every pipe that takes the same
// hop, so that the hop's session sees its messages in order. Every frame gets
// exactly one reply. When the next stage is replicated, each frame goes to
// the replica its lane picks (data_plane.proto), so replies may come back
// out of the order the frames were queued in; they carry the frame's id.
// When the next stage is a layer split across workers, the enclave seals the
// frame's output once per shard (one ECALL) and each shard gets its copy;
// the frame's reply goes upstream once every shard's is in. The stage after
// the shards gets each shard's part on that shard's pipe; its enclave keeps
// the parts until a frame's are all in (PART replies) and runs the frame on
// the last one.
//
// The worker only relays ciphertext: the enclave opens the frame from the
// session it arrived on and seals its output to the next enclave's session
// (or the client's), and refuses any pair of sessions its owner did not
// route.
//
// Thread-safe.
#ifndef SERDAB_WORKER_DATA_PLANE_CORE_H_
#define SERDAB_WORKER_DATA_PLANE_CORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "enclave/common/status.h"
#include "serdab/v1/data_plane.pb.h"
#include "worker/next_stage.h"
#include "worker/pipe_frame.h"
#include "worker/stage_runner.h"
#include "worker/worker_core.h"

namespace serdab::worker {

// Replicas, or shards, a stage of a pipe may have.
inline constexpr int kMaxReplicas = 8;
inline constexpr int kMaxShards = 16;

struct DataPlaneOptions {
  // Frames that may wait for each enclave (besides the one it runs).
  size_t queue_depth = 2;
};

// Counters for metrics and tests, per worker.
struct DataPlaneCounters {
  std::atomic<uint64_t> frames_in{0};        // queued on a stage
  std::atomic<uint64_t> frames_out{0};       // processed by this worker's enclave
  std::atomic<uint64_t> frames_rejected{0};  // refused by this worker's enclave
  std::atomic<uint64_t> frames_lost{0};      // failed for another reason
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> busy_ns{0};  // time in process ECALLs
};

class DataPlaneCore {
 public:
  // Opens the link from `local_enclave` to rest[0], whose stage index is
  // `stage`, allowing `max_in_flight` frames on it.
  using Connector = std::function<Result<std::shared_ptr<NextStage>>(
      const std::string& local_enclave, const std::vector<v1::PipeStage>& rest, uint32_t stage,
      size_t max_in_flight)>;

  DataPlaneCore(WorkerCore* core, Connector connector, DataPlaneOptions options);
  ~DataPlaneCore();
  DataPlaneCore(const DataPlaneCore&) = delete;
  DataPlaneCore& operator=(const DataPlaneCore&) = delete;

  class Pipe;
  using Reply = std::function<void(v1::PipeReply)>;

  // Opens a pipe. `reply` receives every frame's reply (see above for its order), on the
  // core's threads; it must not block for long. InvalidArgument for a bad
  // open message, NotFound for an enclave this worker does not run, and the
  // link's error when the next stage cannot be reached or attested.
  Result<std::shared_ptr<Pipe>> Open(const v1::PipeOpen& open, Reply reply);

  // Queues `frame` (moved from) on the pipe's stage. False when the stage's
  // queue is full: the frame is untouched, and `on_room` runs once there is
  // room (then submit again).
  bool Submit(const std::shared_ptr<Pipe>& pipe, PipeFrame* frame, std::function<void()> on_room);

  // Drops the pipe's reply function: its upstream party is gone. Frames
  // already queued still run, so the sessions they use stay in step.
  void Close(const std::shared_ptr<Pipe>& pipe);

  const DataPlaneCounters& counters() const { return counters_; }
  // Frames waiting per enclave.
  std::map<std::string, size_t> QueueDepths();

 private:
  // Links are shared by the pipes that take the same hop along the same
  // route: (local enclave, next address, next enclave, next stage). The
  // pipes own them: a link goes, and closes its sessions in both enclaves,
  // once no pipe uses it (its route was re-placed, or its clients left).
  using LinkKey = std::tuple<std::string, std::string, std::string, uint32_t>;
  struct CachedLink {
    // Every stage after the hop: a link opened for another route (before
    // the deployment was re-placed) would carry frames into a pipe that
    // still follows that route.
    std::string route;
    std::weak_ptr<NextStage> link;
  };

  std::shared_ptr<StageRunner> Runner(const std::string& enclave);
  // The link to replica `replica` of rest[0] (0: rest[0] itself).
  Result<std::shared_ptr<NextStage>> Link(const std::string& enclave,
                                          const std::vector<v1::PipeStage>& rest, uint32_t stage,
                                          size_t replica);
  // The pipe's link to member `member` of the next stage, opened again if
  // it broke.
  std::shared_ptr<NextStage> LiveLink(const std::shared_ptr<Pipe>& pipe, size_t member);
  void Run(const std::shared_ptr<Pipe>& pipe, const PipeFrame& frame, int64_t queued_ns);
  // Answers frame `id` with why the enclave did not process it.
  void Fail(const std::shared_ptr<Pipe>& pipe, uint64_t id, const Status& status);

  WorkerCore* core_;
  const Connector connector_;
  const DataPlaneOptions options_;
  DataPlaneCounters counters_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<StageRunner>> runners_;
  // Held while a link is opened, so that pipes taking the same hop share one.
  std::mutex links_mu_;
  std::map<LinkKey, CachedLink> links_;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_DATA_PLANE_CORE_H_
