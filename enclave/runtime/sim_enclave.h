// SimEnclave: one enclave instance of the `sim` backend, the trusted object
// behind the ECALLs in enclave/boundary.h.
//
// It owns the enclave's identity, its EPC-limited heap (every weight and
// activation of its partition lives there), the attestation keys it answered
// quotes with, its sessions, and the provisioned model partition. Nothing in
// here is reachable from the host except through boundary.cc, which passes
// bytes in and out.
//
// Who may do what is the session model of attestation/evidence.h: every
// session knows its principal (a client's signed identity, or a peer
// enclave's attested instance id); the first client to provision becomes the
// owner; only the owner provisions and routes; frames move only along the
// owner's routes. Failed commands and frames leave the enclave as it was: a
// new partition is built before it replaces the old one, and a frame's
// message counter advances only once its result is sealed.
//
// Thread safety: every public method takes the enclave's lock; ECALLs into
// one enclave are serialised, as a pipeline stage handles one frame at a
// time. (The engine still runs each frame on its own worker threads.)
#ifndef SERDAB_ENCLAVE_RUNTIME_SIM_ENCLAVE_H_
#define SERDAB_ENCLAVE_RUNTIME_SIM_ENCLAVE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/platform.h"
#include "enclave/crypto/secure_channel.h"
#include "enclave/engine/model.h"
#include "enclave/epc/epc_heap.h"
#include "enclave/epc/sealed_weight_store.h"
#include "enclave/runtime/coordinator.h"
#include "enclave/runtime/enclave_config.h"

namespace serdab::enclave {

class SimEnclave {
 public:
  // `image_digest` is the code identity of the enclave image as loaded
  // (attestation/enclave_image.h); with the config text it makes MRENCLAVE.
  static Result<std::unique_ptr<SimEnclave>> Create(const crypto::Sha256Digest& image_digest,
                                                    std::string_view config_text,
                                                    const std::string& platform_dir,
                                                    crypto::ByteView sigstruct);
  ~SimEnclave();

  const attestation::EnclaveIdentity& identity() const { return identity_; }
  // Whether [ptr, ptr + bytes) touches this enclave's trusted memory.
  bool OverlapsTrusted(const void* ptr, size_t bytes) const;

  // Counts one ECALL and charges its cost (called first by every ECALL).
  void RecordEcall();

  Result<crypto::Bytes> Challenge();
  Result<crypto::Bytes> GetQuote(crypto::ByteView nonce);
  Result<uint64_t> OpenSession(crypto::ByteView request);
  Status CloseSession(uint64_t session);
  // Runs an owner command (attestation/evidence.h) arriving on `session`.
  // Returns the sealed partition when the owner asked for one, else empty;
  // OutOfRange with *needed set, before any state changes, when it would not
  // fit in `seal_capacity`.
  Result<crypto::Bytes> RunOwnerCommand(uint64_t session, crypto::ByteView message,
                                        size_t seal_capacity, size_t* needed);
  Status UnsealPartition(crypto::ByteView blob);
  // See serdab_ecall_process. Needed output bytes are returned as
  // OutOfRange with *out_size set before any state changes. `message` must
  // be the enclave's own copy of the frame (it is read more than once), which
  // `fetch` fills a byte range at a time before it is read
  // (SecureChannel::OpenPendingParts).
  Status Process(uint64_t in_session, uint32_t in_hop, const std::vector<uint64_t>& out_sessions,
                 uint32_t out_hop, uint64_t stream_id, crypto::ByteView message,
                 const crypto::MessageFetch& fetch, uint8_t* out, size_t capacity,
                 size_t* out_size);
  // A coordinator enclave's step (serdab_ecall_coordinate): `session` is the
  // model owner's client session for a grant, else 0. FailedPrecondition in
  // an enclave that is not a coordinator. A reply larger than `capacity` is
  // OutOfRange with *needed set, and changes nothing.
  Result<crypto::Bytes> Coordinate(uint64_t session, crypto::ByteView request, size_t capacity,
                                   size_t* needed);
  // See serdab_ecall_profile.
  Result<std::string> Profile(uint32_t repeats, bool measure_paging);
  std::string StatsJson();

 private:
  struct PendingKey {
    crypto::X25519KeyPair key;
    crypto::Bytes quote;
  };
  struct Session {
    crypto::SecureChannel channel;
    attestation::Principal principal;
  };
  // The provisioned range on a synthetic input (serdab_ecall_profile): each
  // layer alone, the range end to end, and the EPC a frame holds.
  struct RangeTiming {
    std::vector<double> layer_ms;
    double range_ms = 0;
    int64_t resident_bytes = 0;
  };
  // A provisioned layer range and the buffers its frames are decoded into.
  struct Partition {
    // The chunks of the weights it streams, sealed to this partition alone;
    // declared first so that the model, which reads them, goes first.
    std::unique_ptr<epc::SealedWeightStore> weight_store;
    std::unique_ptr<engine::Model> model;
    std::vector<engine::Tensor> inputs;  // reused every frame
    int begin = 0;
    int end = 0;
    uint64_t version = 0;
    // Built from an architecture-only model with synthetic weights (for
    // profiling): its results mean nothing.
    bool synthetic_weights = false;
    engine::LayerShard shard;  // of its one layer's outputs; count 1: the whole range
  };

  SimEnclave() = default;
  Result<Partition> BuildPartition(const attestation::OwnerCommand& command);
  Result<Session*> FindSession(uint64_t session);
  // The owner's routes; frames being gathered, and sessions with peers the
  // routes no longer name, are dropped.
  void ReplaceRoutes(std::vector<attestation::Route> routes);
  // Process's parts; the caller holds mu_ and a partition. RunAndSeal runs
  // the stage on its input tensors and seals the result to each of `to`,
  // back to back in `out`. GatherPart opens one part of a frame (route.parts
  // > 1) and keeps it; true once the frame's parts are all here and side by
  // side in the input tensor, *frame_seq set. ThreadsForRecords seals and
  // opens a message's records on the partition's threads.
  crypto::RecordRunner ThreadsForRecords() const;
  Status RunAndSeal(uint64_t stream_id, uint64_t frame_seq, const std::vector<Session*>& to,
                    uint32_t out_hop, uint8_t* out, size_t needed);
  Result<bool> GatherPart(Session& in, uint32_t in_hop, const attestation::Route& route,
                          uint64_t stream_id, crypto::ByteView message, size_t frame_size,
                          uint64_t* frame_seq);
  // Profile's parts; the caller holds mu_ and a partition.
  Result<RangeTiming> TimeRange(uint32_t repeats);
  Result<double> MeasurePageSwapNs(double ns_per_cycle);
  bool Routed(const attestation::Principal& principal) const;
  Result<Session> OpenPeerSession(const attestation::SessionRequest& request,
                                  const PendingKey& pending);

  std::mutex mu_;
  EnclaveConfig config_;
  attestation::EnclaveIdentity identity_;
  attestation::InstanceId instance_{};
  std::unique_ptr<attestation::PlatformKey> platform_;
  attestation::PlatformCertificate certificate_;
  std::unique_ptr<epc::EpcHeap> heap_;
  // Set in an enclave whose config says role = coordinator; such an enclave
  // holds no partition.
  std::unique_ptr<Coordinator> coordinator_;

  std::map<crypto::X25519PublicKey, PendingKey> pending_;  // evidence keys not yet used
  std::set<std::string> challenges_;                       // nonces issued, not yet answered
  std::map<uint64_t, Session> sessions_;
  uint64_t next_session_ = 1;

  // Set by the first provision, or by a sealed partition; never changes after.
  std::optional<crypto::Ed25519PublicKey> owner_;
  std::vector<attestation::Route> routes_;
  // The root peer enclaves chain to: the configuration's, else the owner's.
  std::optional<crypto::Ed25519PublicKey> peer_root_;
  std::optional<Partition> partition_;
  // A frame's message headers, reused frame after frame.
  crypto::Bytes frame_headers_;
  // Frames whose parts are being gathered, by (stream, frame): the shards
  // run in parallel, so the parts of the few frames in flight interleave.
  // Each shard sends its parts in frame order, so when a frame completes,
  // the stream's earlier frames still open have lost a part and are
  // dropped, and parts of frames up to it are refused after. At most
  // kGatherWindow frames are open (a new one drops the oldest), and the last
  // completed frame is kept for kGatheredStreams streams. A stream id names
  // one run of one client (the client draws it at random, again after each
  // recovery: cli/stream_client.h), and new routes clear it all.
  struct Gather {
    std::vector<std::optional<engine::Tensor>> parts;
  };
  static constexpr size_t kGatherWindow = 16;
  static constexpr size_t kGatheredStreams = 1024;
  std::map<std::pair<uint64_t, uint64_t>, Gather> gathering_;
  std::map<uint64_t, uint64_t> gathered_through_;
};

}  // namespace serdab::enclave

#endif  // SERDAB_ENCLAVE_RUNTIME_SIM_ENCLAVE_H_
