#include "enclave/crypto/secure_channel.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <vector>

namespace serdab::crypto {

namespace {

constexpr uint64_t kMaxCounter = std::numeric_limits<uint64_t>::max();
constexpr size_t kAssociatedDataBytes = kChannelHeaderBytes + 8 + 4 + 4 + 4;
constexpr size_t kFullRecordBytes = kChannelRecordBytes + kAeadTagBytes;

constexpr std::array<std::string_view, 6> kRejectionNames = {
    "none", "truncated", "bad_version", "algorithm_mismatch", "replayed", "auth_failed"};
constexpr std::string_view kRejectedMarker = "message rejected (";

Status Reject(ChannelRejection rejection, const std::string& detail) {
  return Status::Corruption("secure channel " + std::string(kRejectedMarker) +
                            std::string(ChannelRejectionName(rejection)) + "): " + detail);
}

void PutLittleEndian(uint64_t v, int n, uint8_t* out) {
  for (int i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLittleEndian64(const uint8_t* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | in[i];
  return v;
}

// Record i of n: the header as it is on the wire, the stream id and hop,
// i and n.
std::array<uint8_t, kAssociatedDataBytes> AssociatedData(const uint8_t* header, uint64_t stream_id,
                                                         uint32_t hop, size_t record,
                                                         size_t records) {
  std::array<uint8_t, kAssociatedDataBytes> ad;
  std::copy(header, header + kChannelHeaderBytes, ad.begin());
  PutLittleEndian(stream_id, 8, ad.data() + kChannelHeaderBytes);
  PutLittleEndian(hop, 4, ad.data() + kChannelHeaderBytes + 8);
  PutLittleEndian(record, 4, ad.data() + kChannelHeaderBytes + 12);
  PutLittleEndian(records, 4, ad.data() + kChannelHeaderBytes + 16);
  return ad;
}

size_t RecordCount(size_t plaintext_bytes) {
  return std::max<size_t>(1, (plaintext_bytes + kChannelRecordBytes - 1) / kChannelRecordBytes);
}

// The plaintext size of a message of `message_bytes`, if a sealer makes
// messages of that size.
std::optional<size_t> PlaintextBytes(size_t message_bytes) {
  if (message_bytes < kChannelOverheadBytes) return std::nullopt;
  const size_t body = message_bytes - kChannelHeaderBytes;
  const size_t records = (body + kFullRecordBytes - 1) / kFullRecordBytes;
  const size_t plaintext = body - records * kAeadTagBytes;
  if (RecordCount(plaintext) != records) return std::nullopt;
  return plaintext;
}

// Where record i's plaintext lies in a plaintext of `plaintext_bytes`.
std::pair<size_t, size_t> RecordRange(size_t record, size_t plaintext_bytes) {
  const size_t begin = record * kChannelRecordBytes;
  return {begin, std::min(plaintext_bytes, begin + kChannelRecordBytes)};
}

// The pieces of `parts`, buffers laid end to end, that hold bytes
// [begin, end) of their concatenation.
template <typename Byte>
std::vector<std::span<Byte>> SliceParts(std::span<const std::span<Byte>> parts, size_t begin,
                                        size_t end) {
  std::vector<std::span<Byte>> slice;
  size_t at = 0;
  for (const std::span<Byte>& part : parts) {
    const size_t part_end = at + part.size();
    if (part_end > begin && at < end) {
      const size_t from = std::max(begin, at) - at;
      slice.push_back(part.subspan(from, std::min(end, part_end) - at - from));
    }
    at = part_end;
    if (at >= end) break;
  }
  return slice;
}

// Runs body(i) for i in [0, count) on `runner`, or inline for one record
// (waking threads for it would cost more than it saves) or no runner.
void RunRecords(const RecordRunner& runner, size_t count, const std::function<void(size_t)>& body) {
  if (count == 1 || !runner) {
    for (size_t i = 0; i < count; ++i) body(i);
  } else {
    runner(count, body);
  }
}

// The first failure among the records', or OK.
Status FirstFailure(const std::vector<Status>& statuses) {
  for (const Status& s : statuses) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

size_t SealedMessageBytes(size_t plaintext_bytes) {
  return kChannelHeaderBytes + plaintext_bytes + RecordCount(plaintext_bytes) * kAeadTagBytes;
}

std::string_view ChannelRejectionName(ChannelRejection rejection) {
  return kRejectionNames[static_cast<size_t>(rejection)];
}

ChannelRejection ChannelRejectionOf(const Status& status) {
  const std::string& m = status.message();
  size_t at = m.find(kRejectedMarker);
  if (status.ok() || at == std::string::npos) return ChannelRejection::kNone;
  at += kRejectedMarker.size();
  size_t end = m.find(')', at);
  if (end == std::string::npos) return ChannelRejection::kNone;
  std::string_view name(m.data() + at, end - at);
  for (size_t i = 1; i < kRejectionNames.size(); ++i) {
    if (kRejectionNames[i] == name) return static_cast<ChannelRejection>(i);
  }
  return ChannelRejection::kNone;
}

Result<SecureChannel> SecureChannel::Create(ChannelRole role, const X25519SecretKey& our_secret,
                                            const X25519PublicKey& peer_public, ByteView transcript,
                                            AeadAlgorithm algorithm) {
  SERDAB_RETURN_IF_ERROR(InitSodium());
  SERDAB_ASSIGN_OR_RETURN(SecretBytes<32> shared, X25519SharedSecret(our_secret, peer_public));
  const X25519PublicKey our_public = X25519PublicFromSecret(our_secret);
  const bool initiator = role == ChannelRole::kInitiator;
  const X25519PublicKey& initiator_public = initiator ? our_public : peer_public;
  const X25519PublicKey& responder_public = initiator ? peer_public : our_public;
  const uint8_t algorithm_id = static_cast<uint8_t>(algorithm);

  SecretBytes<32> prk =
      DeriveKey(shared.view(), "serdab.channel.v1",
                {initiator_public, responder_public, transcript, ByteView(&algorithm_id, 1)});
  AeadKey i2r = DeriveKey(prk.view(), "serdab.channel.i2r", {});
  AeadKey r2i = DeriveKey(prk.view(), "serdab.channel.r2i", {});
  SERDAB_ASSIGN_OR_RETURN(Aead tx, Aead::Create(algorithm, initiator ? i2r : r2i));
  SERDAB_ASSIGN_OR_RETURN(Aead rx, Aead::Create(algorithm, initiator ? r2i : i2r));
  return SecureChannel(std::move(tx), std::move(rx));
}

Result<uint64_t> SecureChannel::WriteHeader(uint64_t frame_seq, uint8_t* header) const {
  if (next_tx_counter_ == kMaxCounter) {
    return Status::ResourceExhausted(
        "secure channel has sent 2^64 - 1 messages; open a new channel");
  }
  header[0] = kChannelVersion;
  header[1] = static_cast<uint8_t>(tx_.algorithm());
  PutLittleEndian(next_tx_counter_, 8, header + 2);
  PutLittleEndian(frame_seq, 8, header + 10);
  return next_tx_counter_;
}

Status SecureChannel::Seal(uint64_t stream_id, uint64_t frame_seq, uint32_t hop, ByteView plaintext,
                           Bytes* message) {
  const ByteView parts[] = {plaintext};
  return SealParts(stream_id, frame_seq, hop, parts, message);
}

Status SecureChannel::SealParts(uint64_t stream_id, uint64_t frame_seq, uint32_t hop,
                                std::span<const ByteView> parts, Bytes* message,
                                const RecordRunner& runner) {
  message->resize(SealedMessageBytes(TotalSize(parts)));
  SERDAB_RETURN_IF_ERROR(
      SealRecords(stream_id, frame_seq, hop, parts, *message, /*shared=*/false, runner));
  return Status::Ok();
}

Status SecureChannel::SealPartsOut(uint64_t stream_id, uint64_t frame_seq, uint32_t hop,
                                   std::span<const ByteView> parts, std::span<uint8_t> message,
                                   const RecordRunner& runner) {
  return SealRecords(stream_id, frame_seq, hop, parts, message, /*shared=*/true, runner);
}

Status SecureChannel::SealRecords(uint64_t stream_id, uint64_t frame_seq, uint32_t hop,
                                  std::span<const ByteView> parts, std::span<uint8_t> message,
                                  bool shared, const RecordRunner& runner) {
  const size_t plaintext_size = TotalSize(parts);
  const size_t records = RecordCount(plaintext_size);
  if (records > std::numeric_limits<uint32_t>::max()) {
    return Status::OutOfRange("secure channel plaintext of " + std::to_string(plaintext_size) +
                              " bytes needs more than 2^32 - 1 records");
  }
  if (message.size() != SealedMessageBytes(plaintext_size)) {
    return Status::InvalidArgument("secure channel message buffer holds " +
                                   std::to_string(message.size()) + " bytes, needs " +
                                   std::to_string(SealedMessageBytes(plaintext_size)));
  }
  std::array<uint8_t, kChannelHeaderBytes> header;
  SERDAB_ASSIGN_OR_RETURN(const uint64_t counter, WriteHeader(frame_seq, header.data()));
  // A message that went out in part has used its counter up.
  if (shared) next_tx_counter_ = counter + 1;
  std::copy(header.begin(), header.end(), message.begin());
  std::vector<Status> statuses(records);
  RunRecords(runner, records, [&](size_t i) {
    const auto [begin, end] = RecordRange(i, plaintext_size);
    const std::vector<ByteView> slice = SliceParts(parts, begin, end);
    const auto ad = AssociatedData(header.data(), stream_id, hop, i, records);
    const std::span<uint8_t> out =
        message.subspan(kChannelHeaderBytes + i * kFullRecordBytes, end - begin + kAeadTagBytes);
    const AeadNonce nonce(counter, static_cast<uint32_t>(i));
    if (shared) {
      // Each thread seals through a scratch buffer of its own.
      thread_local Bytes scratch;
      statuses[i] = tx_.SealPartsOut(nonce, ad, slice, out, &scratch);
    } else {
      statuses[i] = tx_.SealParts(nonce, ad, slice, out);
    }
  });
  SERDAB_RETURN_IF_ERROR(FirstFailure(statuses));
  next_tx_counter_ = counter + 1;
  return Status::Ok();
}

Result<OpenedMessage> SecureChannel::Open(uint64_t stream_id, uint32_t hop, ByteView message,
                                          Bytes* plaintext) {
  SERDAB_ASSIGN_OR_RETURN(OpenedMessage opened, OpenPending(stream_id, hop, message, plaintext));
  Accept(opened);
  return opened;
}

// Rejections say what was wrong, never the header's values: the message comes
// from the untrusted host.
Result<OpenedMessage> SecureChannel::CheckHeader(const uint8_t* header,
                                                 size_t message_bytes) const {
  if (message_bytes < kChannelOverheadBytes) {
    return Reject(
        ChannelRejection::kTruncated,
        "shorter than the " + std::to_string(kChannelOverheadBytes) + "-byte header and tag");
  }
  if (header[0] != kChannelVersion) {
    return Reject(ChannelRejection::kBadVersion,
                  "unknown header version, expected " + std::to_string(kChannelVersion));
  }
  if (header[1] != static_cast<uint8_t>(rx_.algorithm())) {
    return Reject(ChannelRejection::kAlgorithmMismatch,
                  "sealed with another AEAD algorithm than this channel's " +
                      std::string(AeadName(rx_.algorithm())));
  }
  OpenedMessage opened;
  opened.counter = GetLittleEndian64(header + 2);
  opened.frame_seq = GetLittleEndian64(header + 10);
  if (opened.counter < next_rx_counter_) {
    const uint64_t late = next_rx_counter_ - 1 - opened.counter;
    if (late >= reorder_window_ || (accepted_below_ >> late) & 1) {
      return Reject(ChannelRejection::kReplayed,
                    "its counter is not above the last accepted one (replayed or reordered)");
    }
  }
  if (!PlaintextBytes(message_bytes)) {
    return Reject(ChannelRejection::kTruncated,
                  "no sealed message has its size: records were cut short, dropped or added");
  }
  // No sender ever uses the last counter (Seal refuses it), so a message that
  // claims it is forged; refusing it keeps next_rx_counter_ from wrapping.
  if (opened.counter == kMaxCounter) {
    return Reject(ChannelRejection::kAuthFailed, "counter 2^64 - 1 is never sent");
  }
  return opened;
}

namespace {

Status AuthFailed(uint64_t stream_id, uint32_t hop) {
  return Reject(ChannelRejection::kAuthFailed,
                "the message was modified, or was sealed for another stream, hop or "
                "channel (expected stream " +
                    std::to_string(stream_id) + ", hop " + std::to_string(hop) + ")");
}

}  // namespace

Result<OpenedMessage> SecureChannel::OpenPending(uint64_t stream_id, uint32_t hop, ByteView message,
                                                 Bytes* plaintext) const {
  // Sized for the plaintext the message's size implies; OpenPendingParts
  // rejects a message whose size implies none.
  plaintext->resize(PlaintextBytes(message.size()).value_or(0));
  const std::span<uint8_t> parts[] = {*plaintext};
  auto opened = OpenPendingParts(stream_id, hop, message, parts);
  if (!opened.ok()) plaintext->clear();
  return opened;
}

Result<OpenedMessage> SecureChannel::OpenPendingParts(uint64_t stream_id, uint32_t hop,
                                                      ByteView message,
                                                      std::span<const std::span<uint8_t>> parts,
                                                      const RecordRunner& runner,
                                                      const MessageFetch& fetch) const {
  if (fetch) fetch(0, std::min(message.size(), kChannelHeaderBytes));
  auto checked = CheckHeader(message.data(), message.size());
  if (!checked.ok()) {
    SecureWipeParts(parts);
    return checked.status();
  }
  const OpenedMessage opened = *checked;
  const size_t plaintext_size = *PlaintextBytes(message.size());
  if (TotalSize(parts) != plaintext_size) {
    SecureWipeParts(parts);
    return Status::InvalidArgument(
        "secure channel: the parts hold " + std::to_string(TotalSize(parts)) +
        " bytes, the message's plaintext " + std::to_string(plaintext_size));
  }
  const size_t records = RecordCount(plaintext_size);
  std::vector<char> authentic(records, 0);
  RunRecords(runner, records, [&](size_t i) {
    const auto [begin, end] = RecordRange(i, plaintext_size);
    const size_t at = kChannelHeaderBytes + i * kFullRecordBytes;
    const size_t size = end - begin + kAeadTagBytes;
    if (fetch) fetch(at, at + size);
    const std::vector<std::span<uint8_t>> slice = SliceParts(parts, begin, end);
    const auto ad = AssociatedData(message.data(), stream_id, hop, i, records);
    authentic[i] = rx_.OpenParts(AeadNonce(opened.counter, static_cast<uint32_t>(i)), ad,
                                 message.subspan(at, size), slice)
                       .ok();
  });
  if (std::find(authentic.begin(), authentic.end(), 0) != authentic.end()) {
    SecureWipeParts(parts);
    return AuthFailed(stream_id, hop);
  }
  return opened;
}

void SecureChannel::Accept(const OpenedMessage& opened) {
  if (opened.counter >= next_rx_counter_) {
    const uint64_t shift = opened.counter + 1 - next_rx_counter_;
    accepted_below_ = (shift >= 64 ? 0 : accepted_below_ << shift) | 1;
    next_rx_counter_ = opened.counter + 1;
  } else {
    accepted_below_ |= uint64_t{1} << (next_rx_counter_ - 1 - opened.counter);
  }
}

void SecureChannel::set_reorder_window(uint32_t messages) {
  reorder_window_ = std::min(messages, kMaxReorderWindow);
}

}  // namespace serdab::crypto
