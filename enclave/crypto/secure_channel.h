// SecureChannel: an authenticated, encrypted, replay-protected message
// channel between two parties that each hold an X25519 key, bound to the
// attestation evidence that vouched for those keys.
//
// Key schedule. shared = X25519(our secret, peer public);
//   prk  = BLAKE2b(shared, "serdab.channel.v1", initiator public,
//                  responder public, transcript, algorithm)
//   i2r  = BLAKE2b(prk, "serdab.channel.i2r"),  r2i = BLAKE2b(prk, "...r2i")
// The initiator sends with i2r and receives with r2i; the responder the other
// way round, so a message can never be reflected back to its sender. The
// transcript is whatever bytes bind the channel to the attestation evidence
// (the caller hashes the quote(s) in): both sides must pass the same bytes or
// every message fails authentication. Mutual attestation between enclaves
// binds both quotes; a client talking to an enclave binds the enclave's quote
// only (the client's own key is ephemeral and unattested). The verified quote
// binds the enclave's ephemeral X25519 public key (see attestation/quote.h).
//
// Message = header || record_0 || ... || record_{n-1}, with the 18-byte header
//   u8 version (2) | u8 AEAD algorithm | u64 counter | u64 frame_seq
// (little-endian). The plaintext is cut into records of kChannelRecordBytes
// (the last one shorter; an empty plaintext is one empty record), and
//   record_i = AEAD(nonce (counter, i), associated data
//                   header || u64 stream_id || u32 hop || u32 i || u32 n)
// is its ciphertext || 16-byte tag. Records are independent, so a party
// with idle threads seals or opens a large frame's records in parallel (a
// RecordRunner). Binding i and n into every record means a record cannot be
// moved within its message or into another, and no record can be dropped
// or added: n is implied by the message's size, and a size no sealer
// produces is refused before anything is decrypted.
// The counter is the message's nonce: the sender's counter starts at 0 and
// goes up by one per message. frame_seq is the application's frame number;
// it travels in the clear (the untrusted host schedules by it) but is
// authenticated, and Open returns it. stream_id and hop are not sent at all:
// the receiver names the stream and hop it expects, so a message moved to
// another stream or hop fails authentication.
//
// Replay and reordering. Open accepts a message only if its counter is
// strictly greater than the last accepted one. Gaps are allowed: live video
// drops frames between sender and receiver (and the untrusted host can always
// drop), so what is guaranteed is that no message is accepted twice or after
// a later one. A rejected message changes no state: the next valid message
// still opens. A receiver may widen this with set_reorder_window(n): then
// a message up to n counters below the highest accepted one is accepted too,
// once. The camera client does so for results, which reach it by several
// paths when a stage is replicated; enclaves never do.
//
// Both parties must use the same AEAD algorithm (the handshake picks AES-GCM
// only when both CPUs have it); the header names it so that a mismatch is
// reported as such rather than as tampering.
//
// Thread safety: Seal and Open touch separate state and may run concurrently
// with each other, but each must be called from one thread at a time.
#ifndef SERDAB_ENCLAVE_CRYPTO_SECURE_CHANNEL_H_
#define SERDAB_ENCLAVE_CRYPTO_SECURE_CHANNEL_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "enclave/common/status.h"
#include "enclave/crypto/aead.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"

namespace serdab::crypto {

enum class ChannelRole : uint8_t { kInitiator, kResponder };

// Why Open rejected a message. Every rejection is Status::Corruption whose
// message contains "message rejected (<name>)"; ChannelRejectionOf recovers
// the reason from the Status (also after WithContext prefixes).
enum class ChannelRejection {
  kNone,               // not a channel rejection (OK, or another error)
  kTruncated,          // "truncated": shorter than header + tag
  kBadVersion,         // "bad_version": unknown header version
  kAlgorithmMismatch,  // "algorithm_mismatch": sealed with another AEAD
  kReplayed,           // "replayed": counter not above the last accepted
  kAuthFailed,         // "auth_failed": tampered, forged, other stream/hop/key
};

std::string_view ChannelRejectionName(ChannelRejection rejection);
ChannelRejection ChannelRejectionOf(const Status& status);

inline constexpr uint8_t kChannelVersion = 2;
inline constexpr size_t kChannelHeaderBytes = 18;
// Plaintext bytes per record: small enough for a frame of 600 KB to give two
// threads five records each, large enough that a record's own costs (a
// context, a tag) are lost in its cipher time.
inline constexpr size_t kChannelRecordBytes = 64 * 1024;
// What a message of one record (up to kChannelRecordBytes of plaintext)
// adds to its plaintext; also the size of the smallest message.
inline constexpr size_t kChannelOverheadBytes = kChannelHeaderBytes + kAeadTagBytes;
inline constexpr uint32_t kMaxReorderWindow = 64;

// The size of the message that seals `plaintext_bytes`.
size_t SealedMessageBytes(size_t plaintext_bytes);

// Calls body(i) once for each record i in [0, count), on one thread or
// several, and returns when every call has returned. An empty runner runs
// them one after another on the calling thread.
using RecordRunner =
    std::function<void(size_t count, const std::function<void(size_t record)>& body)>;

// Copies bytes [begin, end) of the message being opened into the receiver's
// buffer (OpenPendingParts). A receiver whose message lies in memory another
// party writes copies each record in just before it is opened, by the
// thread that opens it, while it is in cache.
using MessageFetch = std::function<void(size_t begin, size_t end)>;

// What Open learned from an accepted message besides its plaintext.
struct OpenedMessage {
  uint64_t frame_seq = 0;
  uint64_t counter = 0;
};

class SecureChannel {
 public:
  // Derives the per-direction keys. Fails if the peer key is a low-order
  // point or `algorithm` is not available on this CPU.
  static Result<SecureChannel> Create(ChannelRole role, const X25519SecretKey& our_secret,
                                      const X25519PublicKey& peer_public, ByteView transcript,
                                      AeadAlgorithm algorithm = PreferredAead());

  AeadAlgorithm algorithm() const { return tx_.algorithm(); }

  // Encrypts `plaintext` for (stream_id, frame_seq, hop) into `message`
  // (resized to SealedMessageBytes(plaintext.size()); its capacity is
  // reused). Fails only when the message counter is exhausted (after 2^64 - 1
  // messages) or the plaintext exceeds the AEAD's size limit.
  Status Seal(uint64_t stream_id, uint64_t frame_seq, uint32_t hop, ByteView plaintext,
              Bytes* message);

  // Seal of a plaintext in several buffers (Aead::SealParts): a frame's
  // tensors are sealed from where they lie, with no encoded copy; its
  // records on `runner`'s threads.
  Status SealParts(uint64_t stream_id, uint64_t frame_seq, uint32_t hop,
                   std::span<const ByteView> parts, Bytes* message,
                   const RecordRunner& runner = {});

  // SealParts into `message` in memory another party may read and write
  // (Aead::SealPartsOut, through a scratch buffer of the sealing thread's
  // own), which must hold exactly SealedMessageBytes(the parts' size). The
  // counter is used up even if sealing fails, since part of a message may
  // be out already.
  Status SealPartsOut(uint64_t stream_id, uint64_t frame_seq, uint32_t hop,
                      std::span<const ByteView> parts, std::span<uint8_t> message,
                      const RecordRunner& runner = {});

  // Verifies and decrypts a message expected on (stream_id, hop) into
  // `plaintext`. On rejection `plaintext` is left empty and the channel's
  // state is unchanged.
  Result<OpenedMessage> Open(uint64_t stream_id, uint32_t hop, ByteView message, Bytes* plaintext);

  // Open in two steps, for a receiver whose handling of a message can still
  // fail after it authenticates: OpenPending verifies and decrypts without
  // moving the replay window; Accept(opened) then moves it. A message that is
  // never accepted can be opened again, and is accepted at most once.
  Result<OpenedMessage> OpenPending(uint64_t stream_id, uint32_t hop, ByteView message,
                                    Bytes* plaintext) const;
  // OpenPending that decrypts into `parts` (Aead::OpenParts), whose sizes
  // must add up to the plaintext's: a frame goes straight into the stage's
  // input tensors, its records on `runner`'s threads. `message` must be the
  // receiver's own copy (never memory another party can write: it is read
  // more than once). With `fetch`, that copy is filled as it is read: each
  // byte range is fetched before the channel reads it, and read only there.
  // On rejection every part is zeroed.
  Result<OpenedMessage> OpenPendingParts(uint64_t stream_id, uint32_t hop, ByteView message,
                                         std::span<const std::span<uint8_t>> parts,
                                         const RecordRunner& runner = {},
                                         const MessageFetch& fetch = {}) const;
  void Accept(const OpenedMessage& opened);

  // Accepts messages that arrive up to `messages` (at most
  // kMaxReorderWindow) counters late, each at most once. 0, the default,
  // accepts only counters above the last accepted one.
  void set_reorder_window(uint32_t messages);

 private:
  SecureChannel(Aead tx, Aead rx) : tx_(std::move(tx)), rx_(std::move(rx)) {}

  // Seals the parts' records into `message` (SealedMessageBytes of them),
  // through per-thread scratch when `shared` (another party's memory).
  Status SealRecords(uint64_t stream_id, uint64_t frame_seq, uint32_t hop,
                     std::span<const ByteView> parts, std::span<uint8_t> message, bool shared,
                     const RecordRunner& runner);
  // Writes the header of the next message into `header` and returns its
  // counter; fails when the counters are exhausted.
  Result<uint64_t> WriteHeader(uint64_t frame_seq, uint8_t* header) const;
  // The checks before decryption: size, version, algorithm, replay. The
  // header is message's first bytes; `message_bytes` its whole size.
  Result<OpenedMessage> CheckHeader(const uint8_t* header, size_t message_bytes) const;

  Aead tx_;
  Aead rx_;
  uint64_t next_tx_counter_ = 0;
  // One above the highest counter accepted so far.
  uint64_t next_rx_counter_ = 0;
  // With a reorder window: bit i is set once counter next_rx_counter_ - 1 - i
  // has been accepted.
  uint32_t reorder_window_ = 0;
  uint64_t accepted_below_ = 0;
};

}  // namespace serdab::crypto

#endif  // SERDAB_ENCLAVE_CRYPTO_SECURE_CHANNEL_H_
