#include "enclave/crypto/secure_channel.h"

#include <algorithm>
#include <array>
#include <limits>

namespace serdab::crypto {

namespace {

constexpr uint64_t kMaxCounter = std::numeric_limits<uint64_t>::max();
constexpr size_t kAssociatedDataBytes = kChannelHeaderBytes + 8 + 4;

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

// The header as it is on the wire, followed by the stream id and hop.
std::array<uint8_t, kAssociatedDataBytes> AssociatedData(const uint8_t* header, uint64_t stream_id,
                                                         uint32_t hop) {
  std::array<uint8_t, kAssociatedDataBytes> ad;
  std::copy(header, header + kChannelHeaderBytes, ad.begin());
  PutLittleEndian(stream_id, 8, ad.data() + kChannelHeaderBytes);
  PutLittleEndian(hop, 4, ad.data() + kChannelHeaderBytes + 8);
  return ad;
}

}  // namespace

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
  message->resize(plaintext.size() + kChannelOverheadBytes);
  SERDAB_ASSIGN_OR_RETURN(const uint64_t counter, WriteHeader(frame_seq, message->data()));
  const auto ad = AssociatedData(message->data(), stream_id, hop);
  SERDAB_RETURN_IF_ERROR(
      tx_.Seal(counter, ad, plaintext,
               std::span(message->data() + kChannelHeaderBytes, plaintext.size() + kAeadTagBytes)));
  next_tx_counter_ = counter + 1;
  return Status::Ok();
}

Status SecureChannel::SealParts(uint64_t stream_id, uint64_t frame_seq, uint32_t hop,
                                std::span<const ByteView> parts, Bytes* message) {
  size_t plaintext_size = 0;
  for (const ByteView& part : parts) plaintext_size += part.size();
  message->resize(plaintext_size + kChannelOverheadBytes);
  SERDAB_ASSIGN_OR_RETURN(const uint64_t counter, WriteHeader(frame_seq, message->data()));
  const auto ad = AssociatedData(message->data(), stream_id, hop);
  SERDAB_RETURN_IF_ERROR(tx_.SealParts(
      counter, ad, parts,
      std::span(message->data() + kChannelHeaderBytes, plaintext_size + kAeadTagBytes)));
  next_tx_counter_ = counter + 1;
  return Status::Ok();
}

Status SecureChannel::SealPartsOut(uint64_t stream_id, uint64_t frame_seq, uint32_t hop,
                                   std::span<const ByteView> parts, std::span<uint8_t> message,
                                   Bytes* scratch) {
  size_t plaintext_size = 0;
  for (const ByteView& part : parts) plaintext_size += part.size();
  if (message.size() != plaintext_size + kChannelOverheadBytes) {
    return Status::InvalidArgument("secure channel message buffer holds " +
                                   std::to_string(message.size()) + " bytes, needs " +
                                   std::to_string(plaintext_size + kChannelOverheadBytes));
  }
  std::array<uint8_t, kChannelHeaderBytes> header;
  SERDAB_ASSIGN_OR_RETURN(const uint64_t counter, WriteHeader(frame_seq, header.data()));
  next_tx_counter_ = counter + 1;
  const auto ad = AssociatedData(header.data(), stream_id, hop);
  std::copy(header.begin(), header.end(), message.begin());
  return tx_.SealPartsOut(counter, ad, parts, message.subspan(kChannelHeaderBytes), scratch);
}

Result<OpenedMessage> SecureChannel::Open(uint64_t stream_id, uint32_t hop, ByteView message,
                                          Bytes* plaintext) {
  SERDAB_ASSIGN_OR_RETURN(OpenedMessage opened, OpenPending(stream_id, hop, message, plaintext));
  Accept(opened);
  return opened;
}

// Rejections say what was wrong, never the header's values: the message comes
// from the untrusted host.
Result<OpenedMessage> SecureChannel::CheckHeader(ByteView message) const {
  if (message.size() < kChannelOverheadBytes) {
    return Reject(
        ChannelRejection::kTruncated,
        "shorter than the " + std::to_string(kChannelOverheadBytes) + "-byte header and tag");
  }
  const uint8_t* header = message.data();
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
  plaintext->clear();
  SERDAB_ASSIGN_OR_RETURN(OpenedMessage opened, CheckHeader(message));
  const auto ad = AssociatedData(message.data(), stream_id, hop);
  plaintext->resize(message.size() - kChannelOverheadBytes);
  if (!rx_.Open(opened.counter, ad, message.subspan(kChannelHeaderBytes), *plaintext).ok()) {
    plaintext->clear();
    return AuthFailed(stream_id, hop);
  }
  return opened;
}

Result<OpenedMessage> SecureChannel::OpenPendingParts(
    uint64_t stream_id, uint32_t hop, ByteView message,
    std::span<const std::span<uint8_t>> parts) const {
  SERDAB_ASSIGN_OR_RETURN(OpenedMessage opened, CheckHeader(message));
  const auto ad = AssociatedData(message.data(), stream_id, hop);
  if (!rx_.OpenParts(opened.counter, ad, message.subspan(kChannelHeaderBytes), parts).ok()) {
    for (const std::span<uint8_t>& part : parts) SecureWipe(part.data(), part.size());
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
