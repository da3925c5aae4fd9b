// StreamClient: the trusted camera client of a deployment's data plane
// (proto/serdab/v1/data_plane.proto), as `serdab stream` runs it.
//
// Each camera stream holds its own sessions: with the first stage's
// enclave, which its frames are sealed to, and with the last stage's, which
// seals its results back. Both enclaves are attested first: quote against
// the deployment's root and policy, and owned by the deployment's
// coordinator (the identity the client learned by attesting the
// coordinator), so a frame is never sealed to an enclave outside the
// deployment. All streams share the client's one Pipe to the first worker;
// results come back on it, and are delivered in order per stream.
//
// Replicated stages. A stage may run on several workers (replicas) that
// take frames in turn: the client numbers its frames' lanes 0, 1, 2, ...
// and each stage's worker sends a frame on to replica lane mod replicas of
// the next stage. A replicated first or last stage means a session with
// each of its replicas (and a Pipe to each first one); results, which then
// reach the client by several paths, are opened with a reorder window (at
// most once each) and put back in order.
//
// Flow control. At most max_in_flight frames are on the pipe; each stream
// has a small queue in front of it, and its overload policy decides what
// happens when the queue is full: drop the oldest frame (live cameras) or
// the new one, make the camera wait (files: every frame gets a result), or
// keep only the latest. Streams with frames waiting are served round-robin.
//
// Faults. A frame an enclave rejects (tampered, replayed on the way) is
// dropped and counted; the stream goes on. When a stage is lost (its worker
// died), the client asks `resolve` for the re-placed pipeline, attests its
// first and last enclaves again and sends every unanswered frame of its
// kBlock streams again (live streams count theirs as dropped), so a file's
// every frame gets exactly one result, in order.
//
// Stream ids. The `id` a caller gives a stream names it in results and
// counters; on the wire its frames carry an id drawn at random each time
// the stream's sessions open (at AddStream and at each recovery), so that
// what stage enclaves keep per stream (a sharded layer's parts) belongs to
// one run of one client: another client, a later run or the frames sent
// again after a recovery never meet it.
#ifndef SERDAB_CLI_STREAM_CLIENT_H_
#define SERDAB_CLI_STREAM_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/ingest/rgb_image.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/common/status.h"
#include "enclave/crypto/keys.h"
#include "enclave/engine/tensor.h"
#include "orchestrator/deployment_plan.h"

namespace serdab::cli {

// One stage of a Ready deployment, as the orchestrator reports it
// (untrusted: the enclaves' quotes are what the client believes).
struct PipelineStage {
  std::string address;  // the worker's data-plane address, host:port
  std::string enclave;
  std::string instance;  // hex enclave instance id the coordinator provisioned
};

struct Pipeline {
  // The stages in order, each with its replicas (one or more workers
  // running the same layers) or, when sharded[i], its shards in order (one
  // layer split across workers, every frame through all of them).
  std::vector<std::vector<PipelineStage>> stages;
  std::vector<bool> sharded;
  // The identity the coordinator owns the deployment's enclaves as.
  crypto::Ed25519PublicKey coordinator{};
  uint64_t rollout = 0;
  // Frames a stage holds at most (its queue and the one it runs).
  size_t stage_capacity = 3;

  bool replicated() const;
};

using orchestrator::OverloadPolicy;

struct StreamClientOptions {
  std::string tls_dir;  // the client's certificate (serdab ca issue-user); empty: plaintext
  const crypto::Ed25519KeyPair* identity = nullptr;
  // Verifies the first and last enclaves' quotes (the plan's policy).
  const attestation::QuoteVerifier* verifier = nullptr;
  // Finds the deployment's pipeline, now or after a re-placement; it may
  // wait for the deployment to be Ready again.
  std::function<Result<Pipeline>(bool after_failure)> resolve;
  // How long the client keeps trying to reach a re-placed pipeline.
  double recover_timeout_s = 120;
  // Frames on the pipe at once; 0: every stage's capacity.
  size_t max_in_flight = 0;
};

struct FrameMeta {
  uint64_t frame = 0;        // the source's frame number
  double source_time_s = 0;  // the source's timestamp
  int64_t captured_ns = 0;   // steady clock when the frame was taken
  int source_width = 0;      // the decoded picture's size, before preprocessing
  int source_height = 0;
  // The decoded picture, kept here (never sent) until its result comes, for
  // drawing the result on; may be null.
  std::shared_ptr<const ingest::RgbImage> picture;
};

struct StreamResult {
  uint64_t stream = 0;
  FrameMeta meta;
  double latency_ms = 0;  // from capture to the result's arrival
  std::vector<engine::Tensor> outputs;
  std::vector<double> stage_ms;  // each stage's time in its enclave
  std::vector<double> queue_ms;  // and in its queue
};

struct StreamCounters {
  uint64_t in = 0;        // frames offered
  uint64_t out = 0;       // results
  uint64_t dropped = 0;   // by the overload policy, or lost with a stage (live streams)
  uint64_t rejected = 0;  // refused by an enclave on the way (tampered, replayed)
  uint64_t resent = 0;    // sent again after a stage was lost
};

class StreamClient {
 public:
  using OnResult = std::function<void(StreamResult)>;
  // A stream event for the status line and the log: a frame rejected, a
  // stage lost, the pipeline recovered.
  using OnEvent = std::function<void(uint64_t stream, const std::string& what)>;

  // Resolves the pipeline and opens the pipe. `on_result` and `on_event` run
  // on the client's reader and sender threads.
  static Result<std::unique_ptr<StreamClient>> Start(StreamClientOptions options,
                                                     OnResult on_result, OnEvent on_event);
  // Stops at once; frames not answered are lost. Call Finish first to wait.
  ~StreamClient();

  // Adds a stream (`id` unique, not 0): attests the first and last enclaves
  // and opens its sessions. `queue` is the frames that may wait for it.
  Status AddStream(uint64_t id, OverloadPolicy policy, size_t queue = 2);
  // Offers a frame. kBlock waits for room; the drop policies never block.
  // Fails once the client has failed (the pipeline could not be recovered).
  Status Submit(uint64_t stream, FrameMeta meta, std::vector<engine::Tensor> inputs);
  // No more frames for `stream`.
  void EndStream(uint64_t stream);
  // Waits until every stream has ended and every frame sent was answered or
  // lost; returns why the client failed, if it did.
  Status Finish();

  StreamCounters Counters(uint64_t stream);
  const Pipeline& pipeline() const;

 private:
  class Impl;
  explicit StreamClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace serdab::cli

#endif  // SERDAB_CLI_STREAM_CLIENT_H_
