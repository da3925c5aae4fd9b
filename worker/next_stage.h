// NextStage: a worker's ordered link to the next stage of a pipeline, as the
// data plane (data_plane_core.h) sees it. Frames leave sealed to the mutual
// session between this worker's enclave and the next one; the link keeps
// them in order (the session refuses a message older than one it accepted)
// and bounds how many are in flight, so a slow next stage blocks Send and
// pushes back. PeerLink implements it over gRPC; tests can chain cores in
// one process through another implementation.
#ifndef SERDAB_WORKER_NEXT_STAGE_H_
#define SERDAB_WORKER_NEXT_STAGE_H_

#include <cstdint>
#include <functional>

#include "serdab/v1/data_plane.pb.h"
#include "worker/pipe_frame.h"

namespace serdab::worker {

class NextStage {
 public:
  using Done = std::function<void(v1::PipeReply)>;
  virtual ~NextStage() = default;

  // This worker's enclave's session with the next enclave: what a frame
  // for the next stage is sealed to.
  virtual uint64_t out_session() const = 0;
  // Sends `frame` (its stream, tail session and payload; the link sets id
  // and in_session), blocking while the link has its most frames in flight.
  // `done` runs exactly once, on another thread, with the reply: the
  // result, or why the frame was lost (UNAVAILABLE when the link broke).
  virtual void Send(PipeFrame frame, Done done) = 0;
  // Whether the link broke; a broken link fails every Send at once.
  virtual bool broken() const = 0;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_NEXT_STAGE_H_
