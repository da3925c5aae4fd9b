// The messages of Serdab's attestation and provisioning protocol, as they
// cross the enclave boundary and the network. Every format is versioned and
// length-checked; parse errors name the field, never a value parsed from the
// bytes (they come from the untrusted host).
//
//   Evidence        enclave -> verifier: a quote for the verifier's nonce and
//                   the keys its report data binds (QuoteBinding): a fresh
//                   ephemeral X25519 key, the enclave's instance id and its
//                   owner (all zero while it has none).
//   SessionRequest  verifier -> enclave: how to open a SecureChannel.
//                   kClient: a client (camera, model owner, coordinator) that
//                     verified the enclave's Evidence answers with its own
//                     X25519 key, and signs the session with its long-term
//                     Ed25519 identity, so the enclave knows who it talks to;
//                     the enclave is the responder.
//                   kPeer: another enclave's Evidence, answering a challenge
//                     nonce this enclave issued; mutual, both attested, the
//                     peer known by its instance id.
//   OwnerCommand    owner -> enclave, inside the owner's session (stream 0,
//                   hop 0): provision a partition, or replace the routes.
//
// Who may do what (enforced in enclave/runtime/sim_enclave.cc):
//   * The first client session that provisions a partition makes its
//     identity the enclave's owner, for the enclave's lifetime. Only the
//     owner may provision again or change routes. Quotes report the owner,
//     so a camera client refuses an enclave owned by anyone but its
//     deployment's coordinator, and the coordinator refuses an enclave that
//     someone else (the host) claimed first: that enclave never holds a
//     weight or sees a frame of theirs.
//   * A frame is processed only along a route the owner declared: input
//     from a session of principal `from`, result sealed to a session of
//     principal `to`, on `stream_id` (0: any stream but 0, which carries
//     owner commands). A host that names any other pair of sessions gets an
//     error, and nothing is decrypted.
#ifndef SERDAB_ENCLAVE_ATTESTATION_EVIDENCE_H_
#define SERDAB_ENCLAVE_ATTESTATION_EVIDENCE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "enclave/attestation/quote.h"
#include "enclave/common/status.h"
#include "enclave/crypto/aead.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"
#include "enclave/crypto/secure_channel.h"

namespace serdab::attestation {

struct Evidence {
  crypto::Bytes quote;  // SerializeQuote output
  QuoteBinding binding;
};
crypto::Bytes SerializeEvidence(const Evidence& evidence);
Result<Evidence> ParseEvidence(crypto::ByteView bytes);

// What a client signs to open a session as its identity: the channel
// transcript (which hashes the enclave's fresh quote) and both X25519 keys,
// so the signature cannot be replayed to another session or enclave.
crypto::Bytes ClientSessionStatement(const crypto::Sha256Digest& transcript,
                                     const crypto::X25519PublicKey& evidence_key,
                                     const crypto::X25519PublicKey& client_key);
inline constexpr std::string_view kClientSessionContext = "serdab.client-session.v1";

struct SessionRequest {
  enum class Kind : uint8_t { kClient = 1, kPeer = 2 };
  Kind kind = Kind::kClient;
  crypto::AeadAlgorithm algorithm = crypto::AeadAlgorithm::kXChaCha20Poly1305;
  // Which of this enclave's evidence keys the session uses.
  crypto::X25519PublicKey evidence_key{};
  // kClient: the client's X25519 key, its Ed25519 identity, and the
  // identity's signature over ClientSessionStatement(...).
  crypto::X25519PublicKey client_key{};
  crypto::Ed25519PublicKey client_identity{};
  crypto::Ed25519Signature client_signature{};
  // kPeer: the peer's evidence, the nonce this enclave issued for it, and this
  // enclave's role in the channel.
  crypto::Bytes peer_evidence;
  crypto::Bytes challenge;
  crypto::ChannelRole role = crypto::ChannelRole::kResponder;
};
crypto::Bytes SerializeSessionRequest(const SessionRequest& request);
Result<SessionRequest> ParseSessionRequest(crypto::ByteView bytes);

// A client's half of a kClient session with an enclave whose evidence it
// has verified: the request to send through the host (signed with the
// client's identity) and the channel, bound to that quote, it then talks on.
struct ClientSession {
  crypto::Bytes request;  // SerializeSessionRequest output
  crypto::SecureChannel channel;
};
Result<ClientSession> OpenClientSession(const Evidence& evidence,
                                        const crypto::Ed25519KeyPair& identity);

// Who is at the other end of a session: a client, by its Ed25519 identity,
// or a peer enclave, by its instance id.
struct Principal {
  enum class Kind : uint8_t { kClient = 1, kEnclave = 2 };
  Kind kind = Kind::kClient;
  crypto::ByteArray<32> key{};
  bool operator==(const Principal&) const = default;
};
std::string DescribePrincipal(const Principal& principal);  // "client 1a2b3c4d…"

// "Frames of `stream_id` from `from` may be processed, with the result sealed
// to `to`". stream_id 0 matches every stream except 0. A route with `parts`
// above 1 carries part `part` of every frame: the output of shard `part` of a
// layer split `parts` ways (engine/output_slice.h), which the receiving
// enclave gathers from each shard's route before it runs the frame.
struct Route {
  Principal from;
  Principal to;
  uint64_t stream_id = 0;
  uint32_t part = 0;
  uint32_t parts = 1;
  bool operator==(const Route&) const = default;
};

// How the enclave seals a provisioned partition for the host to keep. The
// owner chooses, not the host. Numeric values are on the wire.
enum class PartitionSeal : uint8_t { kNone = 0, kMrEnclave = 1, kMrSigner = 2 };

// Limits the enclave enforces on an owner's command.
inline constexpr int32_t kMaxPartitionThreads = 64;
inline constexpr size_t kMaxRoutes = 4096;
inline constexpr int32_t kMaxShards = 64;

// A shard on the wire: its index and count, two u32. ReadShard refuses a
// count outside 1..kMaxShards or an index not below it (InvalidArgument,
// naming `what`).
void WriteShard(int32_t index, int32_t count, crypto::Writer* w);
Status ReadShard(crypto::Reader* r, const std::string& what, int32_t* index, int32_t* count);

struct OwnerCommand {
  enum class Kind : uint8_t { kProvision = 1, kSetRoutes = 2 };
  Kind kind = Kind::kProvision;
  // The owner's version of this enclave's partition. A provision may not go
  // below the version the enclave holds; kSetRoutes names the version it
  // expects the enclave to hold, and fails if it holds another (a sealed
  // partition rolled back by the host is caught there).
  uint64_t partition_version = 0;
  std::vector<Route> routes;  // replaces the enclave's routes
  // kProvision: the layer range, engine threads (1..kMaxPartitionThreads),
  // how to seal the partition, and the model's ONNX bytes (the coordinator
  // sends only the range's weights: engine/partition_file.h). kSetRoutes with
  // check_range: the layer range the owner expects the enclave to hold (it
  // fails if it holds another), so that a host cannot have a restored
  // enclave routed into the wrong place of a pipeline.
  bool check_range = false;
  int32_t begin = 0;
  int32_t end = -1;  // -1: to the last layer
  int32_t threads = 1;
  PartitionSeal seal = PartitionSeal::kNone;
  // kProvision: weight bytes the partition streams through the enclave
  // rather than holding them in the EPC (engine/streamed_weights.h), as the
  // placement chose; 0: every weight resident.
  uint64_t streamed_weight_bytes = 0;
  // kProvision: the partition computes shard `shard_index` of `shard_count`
  // of the output features of its one layer (engine/output_slice.h) and
  // holds only that shard's weights; a count of 1 is the whole range.
  // kSetRoutes with check_range: the shard the owner expects it to hold.
  int32_t shard_index = 0;
  int32_t shard_count = 1;
  crypto::Bytes model;
  // kProvision only: the model is architecture-only (engine::ArchitectureOnly)
  // and the enclave fills its weights with synthetic values, for profiling
  // before the real weights are entrusted to it. Such a partition cannot be
  // sealed: a command that asks for both is refused as InvalidArgument.
  bool synthetic_weights = false;
  // kSetRoutes only: the deployment root the peer enclaves named in the
  // routes chain to. Mutual sessions with them need a root; an enclave whose
  // configuration has no peer_root takes the owner's (the owner attested the
  // peers against it), and one whose configuration has one refuses another.
  std::optional<crypto::Ed25519PublicKey> peer_root;
};
crypto::Bytes SerializeOwnerCommand(const OwnerCommand& command);
Result<OwnerCommand> ParseOwnerCommand(crypto::ByteView bytes);

// What a sealed partition holds: the owner it belongs to, the version, and
// the provision command without its routes (routes name sessions and peers
// of one enclave lifetime; the owner re-issues them after a restore, which
// also confirms the version).
struct SealedPartition {
  crypto::Ed25519PublicKey owner{};
  OwnerCommand command;
};
// The routes of `command` are not serialised.
crypto::Bytes SerializeSealedPartition(const crypto::Ed25519PublicKey& owner,
                                       const OwnerCommand& command);
Result<SealedPartition> ParseSealedPartition(crypto::ByteView bytes);

}  // namespace serdab::attestation

#endif  // SERDAB_ENCLAVE_ATTESTATION_EVIDENCE_H_
