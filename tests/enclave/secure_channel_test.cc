// SecureChannel: tampering, replay, reordering, truncation and misrouting are
// each rejected with their own reason, and the channel then still accepts the
// next valid message. Also the attested handshakes that key it: mutual between
// two enclaves, one-sided from a client to an enclave.
#include "enclave/crypto/secure_channel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::crypto {
namespace {

constexpr uint64_t kStream = 0x5eed;
constexpr uint32_t kHop = 2;

Bytes Pattern(size_t n, uint8_t salt = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 13 + salt);
  return b;
}

class SecureChannelTest : public ::testing::TestWithParam<AeadAlgorithm> {
 protected:
  void SetUp() override {
    auto a = X25519KeyPair::Generate().value();
    auto b = X25519KeyPair::Generate().value();
    const Bytes transcript = Pattern(32, 1);
    auto initiator = SecureChannel::Create(ChannelRole::kInitiator, a.secret_key, b.public_key,
                                           transcript, GetParam());
    auto responder = SecureChannel::Create(ChannelRole::kResponder, b.secret_key, a.public_key,
                                           transcript, GetParam());
    ASSERT_TRUE(initiator.ok()) << initiator.status().ToString();
    ASSERT_TRUE(responder.ok()) << responder.status().ToString();
    sender_.emplace(std::move(initiator).value());
    receiver_.emplace(std::move(responder).value());
  }

  Bytes SealFrame(uint64_t frame_seq, size_t size = 40) {
    Bytes message;
    Status s = sender_->Seal(kStream, frame_seq, kHop, Pattern(size, frame_seq), &message);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return message;
  }

  // Opens `message` on (kStream, kHop) and checks it is frame `frame_seq`.
  void ExpectOpens(const Bytes& message, uint64_t frame_seq, size_t size = 40) {
    Bytes plain;
    auto opened = receiver_->Open(kStream, kHop, message, &plain);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(opened->frame_seq, frame_seq);
    EXPECT_EQ(plain, Pattern(size, frame_seq));
  }

  ChannelRejection Rejection(const Bytes& message, uint64_t stream = kStream, uint32_t hop = kHop) {
    Bytes plain = {1, 2, 3};
    auto opened = receiver_->Open(stream, hop, message, &plain);
    if (opened.ok()) return ChannelRejection::kNone;
    EXPECT_EQ(opened.status().code(), Status::Code::kCorruption);
    EXPECT_TRUE(plain.empty()) << "a rejected message released plaintext";
    return ChannelRejectionOf(opened.status());
  }

  std::optional<SecureChannel> sender_;
  std::optional<SecureChannel> receiver_;
};

TEST_P(SecureChannelTest, RoundTripsBothDirections) {
  for (uint64_t seq = 0; seq < 5; ++seq) ExpectOpens(SealFrame(seq * 10), seq * 10);
  Bytes reply, plain;
  ASSERT_TRUE(receiver_->Seal(kStream, 99, kHop + 1, Pattern(7), &reply).ok());
  auto opened = sender_->Open(kStream, kHop + 1, reply, &plain);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->frame_seq, 99u);
  EXPECT_EQ(opened->counter, 0u);
  EXPECT_EQ(plain, Pattern(7));
}

// Sealing from several buffers (a frame's headers and tensors where they
// lie) and opening into several (the stage's input tensors) is the same wire
// format as the one-buffer forms, with the same guarantees.
TEST_P(SecureChannelTest, PartsFormsMatchTheOneBufferForms) {
  const Bytes plain = Pattern(70000, 7);
  const std::vector<ByteView> parts = {ByteView(plain).subspan(0, 17), ByteView(),
                                       ByteView(plain).subspan(17, 50000),
                                       ByteView(plain).subspan(50017)};
  Bytes message;
  ASSERT_TRUE(sender_->SealParts(kStream, 7, kHop, parts, &message).ok());
  ASSERT_EQ(message.size(), SealedMessageBytes(plain.size()));
  ExpectOpens(message, 7, plain.size());

  const Bytes second = SealFrame(8, plain.size());
  Bytes head(5), body(plain.size() - 5);
  const std::vector<std::span<uint8_t>> into = {head, body};
  auto opened = receiver_->OpenPendingParts(kStream, kHop, second, into);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->frame_seq, 8u);
  Bytes joined = head;
  joined.insert(joined.end(), body.begin(), body.end());
  EXPECT_EQ(joined, Pattern(plain.size(), 8));
  receiver_->Accept(*opened);
  EXPECT_EQ(Rejection(SealFrame(9, 10)), ChannelRejection::kNone);
}

// Sealing into another party's memory (an enclave's result in the host's
// buffer) makes the same messages, a slice at a time through scratch.
TEST_P(SecureChannelTest, SealingOutMatchesSealing) {
  const Bytes plain = Pattern(600000, 3);
  const std::vector<ByteView> parts = {ByteView(plain).subspan(0, 5), ByteView(),
                                       ByteView(plain).subspan(5, 300000),
                                       ByteView(plain).subspan(300005)};
  Bytes message(SealedMessageBytes(plain.size()));
  ASSERT_TRUE(sender_->SealPartsOut(kStream, 3, kHop, parts, message).ok());
  ExpectOpens(message, 3, plain.size());
  // A tag-sized message, and a buffer of the wrong size.
  Bytes empty(kChannelOverheadBytes);
  ASSERT_TRUE(sender_->SealPartsOut(kStream, 4, kHop, {}, empty).ok());
  ExpectOpens(empty, 4, 0);
  Bytes wrong(kChannelOverheadBytes + 1);
  EXPECT_EQ(sender_->SealPartsOut(kStream, 5, kHop, {}, wrong).code(),
            Status::Code::kInvalidArgument);
  ExpectOpens(SealFrame(6), 6);
}

// A large message is several records, each bound to its index and to the
// record count: records swapped, dropped, or taken from another message of
// the same size are rejected, and so is a size no sealer makes.
TEST_P(SecureChannelTest, RecordsCannotBeMovedDroppedOrSpliced) {
  const size_t size = 3 * kChannelRecordBytes + 100;
  const size_t full = kChannelRecordBytes + kAeadTagBytes;
  const Bytes m = SealFrame(1, size), other = SealFrame(2, size);
  ASSERT_EQ(m.size(), kChannelHeaderBytes + size + 4 * kAeadTagBytes);
  ASSERT_EQ(m.size(), SealedMessageBytes(size));
  auto record = [&](const Bytes& message, size_t i) {
    const auto begin =
        message.begin() + static_cast<std::ptrdiff_t>(kChannelHeaderBytes + i * full);
    return Bytes(begin, std::min(message.end(), begin + static_cast<std::ptrdiff_t>(full)));
  };
  auto join = [&](const Bytes& header_from, const std::vector<Bytes>& records) {
    Bytes out(header_from.begin(), header_from.begin() + kChannelHeaderBytes);
    for (const Bytes& r : records) out.insert(out.end(), r.begin(), r.end());
    return out;
  };
  const Bytes r0 = record(m, 0), r1 = record(m, 1), r2 = record(m, 2), r3 = record(m, 3);
  ASSERT_EQ(join(m, {r0, r1, r2, r3}), m);
  EXPECT_EQ(Rejection(join(m, {r1, r0, r2, r3})), ChannelRejection::kAuthFailed) << "swapped";
  EXPECT_EQ(Rejection(join(m, {r0, r1, r2})), ChannelRejection::kAuthFailed) << "last dropped";
  EXPECT_EQ(Rejection(join(m, {r0, r2, r3})), ChannelRejection::kAuthFailed) << "one dropped";
  EXPECT_EQ(Rejection(join(m, {r0, r1, record(other, 2), r3})), ChannelRejection::kAuthFailed)
      << "spliced from another message";
  EXPECT_EQ(Rejection(join(m, {r0, r1, r2, r3, r3})), ChannelRejection::kAuthFailed) << "added";
  EXPECT_EQ(Rejection(Bytes(m.begin(), m.end() - 110)), ChannelRejection::kTruncated)
      << "a last record shorter than its tag";
  ExpectOpens(m, 1, size);
  ExpectOpens(other, 2, size);
}

// Records sealed and opened on several threads, in whatever order they run,
// make and take the same messages as one thread.
TEST_P(SecureChannelTest, RecordsSealAndOpenOnAnyRunner) {
  engine::ThreadPool pool(3);
  const RecordRunner threads = engine::ForEachOn(&pool);
  const RecordRunner backwards = [](size_t count, const std::function<void(size_t)>& body) {
    for (size_t i = count; i-- > 0;) body(i);
  };
  const size_t size = 5 * kChannelRecordBytes + 7;
  const Bytes plain = Pattern(size, 4);
  const std::vector<ByteView> parts = {ByteView(plain).subspan(0, 3),
                                       ByteView(plain).subspan(3, kChannelRecordBytes),
                                       ByteView(plain).subspan(3 + kChannelRecordBytes)};
  for (const RecordRunner& sealer : {RecordRunner(), threads, backwards}) {
    for (const RecordRunner& opener : {RecordRunner(), threads, backwards}) {
      Bytes message;
      ASSERT_TRUE(sender_->SealParts(kStream, 4, kHop, parts, &message, sealer).ok());
      Bytes head(10), body(size - 10);
      const std::vector<std::span<uint8_t>> into = {head, body};
      auto opened = receiver_->OpenPendingParts(kStream, kHop, message, into, opener);
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      receiver_->Accept(*opened);
      head.insert(head.end(), body.begin(), body.end());
      EXPECT_EQ(head, plain);
      // A record tampered with on a runner wipes every part.
      Bytes m2;
      ASSERT_TRUE(sender_->SealParts(kStream, 5, kHop, parts, &m2, sealer).ok());
      m2[m2.size() - 1] ^= 1;
      std::fill(body.begin(), body.end(), 0xEE);
      const std::vector<std::span<uint8_t>> again = {std::span(head.data(), 10), body};
      EXPECT_EQ(ChannelRejectionOf(
                    receiver_->OpenPendingParts(kStream, kHop, m2, again, opener).status()),
                ChannelRejection::kAuthFailed);
      EXPECT_TRUE(std::all_of(body.begin(), body.end(), [](uint8_t b) { return b == 0; }));
    }
  }
}

// With a fetch, the receiver's copy of the message is filled a range at a
// time, every byte exactly once and before it is read: what the host writes
// into its own buffer after a range was fetched changes nothing.
TEST_P(SecureChannelTest, FetchFillsTheReceiversCopyBeforeItIsRead) {
  engine::ThreadPool pool(2);
  const size_t size = 2 * kChannelRecordBytes + 500;
  Bytes host = SealFrame(3, size);
  Bytes copy(host.size(), 0xAA);
  std::mutex mu;
  std::vector<std::pair<size_t, size_t>> ranges;
  const MessageFetch fetch = [&](size_t begin, size_t end) {
    std::lock_guard<std::mutex> lock(mu);
    std::copy(host.begin() + begin, host.begin() + end, copy.begin() + begin);
    std::fill(host.begin() + begin, host.begin() + end, 0x55);  // the host changes it after
    ranges.emplace_back(begin, end);
  };
  Bytes plain(size);
  const std::vector<std::span<uint8_t>> into = {plain};
  auto opened =
      receiver_->OpenPendingParts(kStream, kHop, copy, into, engine::ForEachOn(&pool), fetch);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(plain, Pattern(size, 3));
  std::sort(ranges.begin(), ranges.end());
  size_t covered = 0;
  for (const auto& [begin, end] : ranges) {
    EXPECT_EQ(begin, covered) << "a range fetched twice, or a gap";
    covered = end;
  }
  EXPECT_EQ(covered, copy.size());
}

TEST_P(SecureChannelTest, OpeningIntoPartsReleasesNothingFromATamperedOrReplayedMessage) {
  const Bytes good = SealFrame(1, 4096);
  Bytes head(100), body(4096 - 100);
  const std::vector<std::span<uint8_t>> into = {head, body};
  auto zeroed = [&] {
    return std::all_of(head.begin(), head.end(), [](uint8_t b) { return b == 0; }) &&
           std::all_of(body.begin(), body.end(), [](uint8_t b) { return b == 0; });
  };
  for (size_t at : {kChannelHeaderBytes + 5, good.size() - 1}) {
    Bytes bad = good;
    bad[at] ^= 0x40;
    std::fill(body.begin(), body.end(), 0xEE);
    auto opened = receiver_->OpenPendingParts(kStream, kHop, bad, into);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(ChannelRejectionOf(opened.status()), ChannelRejection::kAuthFailed);
    EXPECT_TRUE(zeroed()) << "a rejected message left bytes in the destination";
  }
  auto opened = receiver_->OpenPendingParts(kStream, kHop, good, into);
  ASSERT_TRUE(opened.ok());
  receiver_->Accept(*opened);
  EXPECT_EQ(ChannelRejectionOf(receiver_->OpenPendingParts(kStream, kHop, good, into).status()),
            ChannelRejection::kReplayed);
  Bytes short_head(99);
  EXPECT_FALSE(
      receiver_->OpenPendingParts(kStream, kHop, SealFrame(2, 4096), {{short_head, body}}).ok())
      << "parts that do not add up to the plaintext were accepted";
}

TEST_P(SecureChannelTest, MessageLayout) {
  Bytes empty;
  ASSERT_TRUE(sender_->Seal(kStream, 0, kHop, {}, &empty).ok());
  EXPECT_EQ(empty.size(), kChannelOverheadBytes);
  const Bytes m = SealFrame(0x1122, 100);
  ASSERT_EQ(m.size(), 100 + kChannelOverheadBytes);
  EXPECT_EQ(m[0], kChannelVersion);
  EXPECT_EQ(m[1], static_cast<uint8_t>(GetParam()));
  EXPECT_EQ(m[2], 1);  // counter 1: the empty message above was counter 0
  EXPECT_EQ(m[10], 0x22);
  EXPECT_EQ(m[11], 0x11);
}

TEST_P(SecureChannelTest, FlippedBitAnywhereIsRejectedAndNextMessageOpens) {
  ExpectOpens(SealFrame(0), 0);
  for (size_t bit = 0; bit < (40 + kChannelOverheadBytes) * 8; ++bit) {
    const uint64_t seq = bit + 1;
    Bytes message = SealFrame(seq);
    Bytes bad = message;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    const ChannelRejection why = Rejection(bad);
    ASSERT_NE(why, ChannelRejection::kNone) << "bit " << bit << " flipped and still accepted";
    const size_t byte = bit / 8;
    if (byte == 0) {
      EXPECT_EQ(why, ChannelRejection::kBadVersion);
    } else if (byte == 1) {
      EXPECT_EQ(why, ChannelRejection::kAlgorithmMismatch);
    } else if (byte < 10) {
      // A lowered counter is a replay; a raised one no longer authenticates.
      EXPECT_TRUE(why == ChannelRejection::kReplayed || why == ChannelRejection::kAuthFailed);
    } else {
      EXPECT_EQ(why, ChannelRejection::kAuthFailed) << "bit " << bit;
    }
    ExpectOpens(message, seq);
  }
}

TEST_P(SecureChannelTest, ReplayIsRejectedAndNextMessageOpens) {
  const Bytes m0 = SealFrame(0);
  ExpectOpens(m0, 0);
  EXPECT_EQ(Rejection(m0), ChannelRejection::kReplayed);
  EXPECT_EQ(Rejection(m0), ChannelRejection::kReplayed);
  ExpectOpens(SealFrame(1), 1);
  EXPECT_EQ(Rejection(m0), ChannelRejection::kReplayed);
}

TEST_P(SecureChannelTest, ReorderIsRejectedAndNextMessageOpens) {
  const Bytes m0 = SealFrame(0), m1 = SealFrame(1), m2 = SealFrame(2);
  ExpectOpens(m1, 1);
  EXPECT_EQ(Rejection(m0), ChannelRejection::kReplayed);
  ExpectOpens(m2, 2);
  ExpectOpens(SealFrame(3), 3);
}

TEST_P(SecureChannelTest, DroppedMessagesAreAllowed) {
  SealFrame(0);
  SealFrame(1);
  const Bytes m2 = SealFrame(2);
  SealFrame(3);
  const Bytes m4 = SealFrame(4);
  ExpectOpens(m2, 2);
  ExpectOpens(m4, 4);
}

TEST_P(SecureChannelTest, AReorderWindowAcceptsLateMessagesOnceAndNoOlderOnes) {
  receiver_->set_reorder_window(4);
  std::vector<Bytes> m;
  for (uint64_t seq = 0; seq < 12; ++seq) m.push_back(SealFrame(seq));
  ExpectOpens(m[2], 2);
  ExpectOpens(m[0], 0);
  EXPECT_EQ(Rejection(m[0]), ChannelRejection::kReplayed);
  EXPECT_EQ(Rejection(m[2]), ChannelRejection::kReplayed);
  ExpectOpens(m[6], 6);
  // 1 is now 5 below the highest accepted counter: outside a window of 4.
  EXPECT_EQ(Rejection(m[1]), ChannelRejection::kReplayed);
  ExpectOpens(m[3], 3);
  EXPECT_EQ(Rejection(m[3]), ChannelRejection::kReplayed);
  ExpectOpens(m[5], 5);
  ExpectOpens(m[4], 4);
  EXPECT_EQ(Rejection(m[6]), ChannelRejection::kReplayed);
  // A jump past the window forgets what was accepted below it.
  ExpectOpens(m[11], 11);
  EXPECT_EQ(Rejection(m[6]), ChannelRejection::kReplayed);
  ExpectOpens(m[8], 8);
  EXPECT_EQ(Rejection(m[8]), ChannelRejection::kReplayed);
  // A tampered late message changes nothing: the genuine one still opens.
  Bytes tampered = m[9];
  tampered.back() ^= 1;
  EXPECT_EQ(Rejection(tampered), ChannelRejection::kAuthFailed);
  ExpectOpens(m[9], 9);
}

TEST_P(SecureChannelTest, OtherStreamOrHopIsRejectedAndTheRightOneStillOpens) {
  const Bytes m = SealFrame(0);
  EXPECT_EQ(Rejection(m, kStream + 1, kHop), ChannelRejection::kAuthFailed);
  EXPECT_EQ(Rejection(m, kStream, kHop + 1), ChannelRejection::kAuthFailed);
  EXPECT_EQ(Rejection(m, kStream, kHop - 1), ChannelRejection::kAuthFailed);
  // The rejections left no trace: the message opens where it belongs.
  ExpectOpens(m, 0);
  const Bytes next = SealFrame(1);
  EXPECT_EQ(Rejection(next, kStream ^ (uint64_t{1} << 63), kHop), ChannelRejection::kAuthFailed);
  ExpectOpens(next, 1);
}

TEST_P(SecureChannelTest, TruncatedOrExtendedIsRejectedAndNextMessageOpens) {
  const Bytes m = SealFrame(0);
  for (size_t len = 0; len < m.size(); ++len) {
    const ChannelRejection why = Rejection(Bytes(m.begin(), m.begin() + len));
    if (len < kChannelOverheadBytes) {
      EXPECT_EQ(why, ChannelRejection::kTruncated) << "length " << len;
    } else {
      EXPECT_EQ(why, ChannelRejection::kAuthFailed) << "length " << len;
    }
  }
  Bytes longer = m;
  longer.push_back(0);
  EXPECT_EQ(Rejection(longer), ChannelRejection::kAuthFailed);
  ExpectOpens(m, 0);
}

TEST_P(SecureChannelTest, WrongVersionIsRejected) {
  const Bytes m = SealFrame(0);
  Bytes v2 = m;
  v2[0] = kChannelVersion + 1;
  EXPECT_EQ(Rejection(v2), ChannelRejection::kBadVersion);
  ExpectOpens(m, 0);
}

TEST_P(SecureChannelTest, ReflectedMessageIsRejected) {
  const Bytes m = SealFrame(0);
  Bytes plain;
  auto reflected = sender_->Open(kStream, kHop, m, &plain);
  ASSERT_FALSE(reflected.ok());
  EXPECT_EQ(ChannelRejectionOf(reflected.status()), ChannelRejection::kAuthFailed);
}

TEST_P(SecureChannelTest, RejectionReasonSurvivesContext) {
  const Bytes m = SealFrame(0);
  ExpectOpens(m, 0);
  Bytes plain;
  Status s = receiver_->Open(kStream, kHop, m, &plain).status().WithContext("worker 3, hop 2");
  EXPECT_EQ(ChannelRejectionOf(s), ChannelRejection::kReplayed);
  EXPECT_EQ(ChannelRejectionOf(Status::Ok()), ChannelRejection::kNone);
  EXPECT_EQ(ChannelRejectionOf(Status::Corruption("unrelated")), ChannelRejection::kNone);
  EXPECT_EQ(ChannelRejectionName(ChannelRejection::kAuthFailed), "auth_failed");
}

std::vector<AeadAlgorithm> AvailableAlgorithms() {
  std::vector<AeadAlgorithm> out = {AeadAlgorithm::kXChaCha20Poly1305};
  if (AeadAvailable(AeadAlgorithm::kAes256Gcm)) out.push_back(AeadAlgorithm::kAes256Gcm);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Algorithms, SecureChannelTest, ::testing::ValuesIn(AvailableAlgorithms()),
                         [](const auto& info) {
                           return info.param == AeadAlgorithm::kAes256Gcm ? "Aes256Gcm"
                                                                          : "XChaCha20Poly1305";
                         });

TEST(SecureChannelKeysTest, DifferentTranscriptsCannotTalk) {
  auto a = X25519KeyPair::Generate().value();
  auto b = X25519KeyPair::Generate().value();
  auto sender =
      SecureChannel::Create(ChannelRole::kInitiator, a.secret_key, b.public_key, Pattern(32, 1))
          .value();
  auto receiver =
      SecureChannel::Create(ChannelRole::kResponder, b.secret_key, a.public_key, Pattern(32, 2))
          .value();
  Bytes m, plain;
  ASSERT_TRUE(sender.Seal(1, 0, 0, Pattern(10), &m).ok());
  auto opened = receiver.Open(1, 0, m, &plain);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(ChannelRejectionOf(opened.status()), ChannelRejection::kAuthFailed);
}

TEST(SecureChannelKeysTest, AlgorithmMismatchIsReportedAsSuch) {
  if (!AeadAvailable(AeadAlgorithm::kAes256Gcm)) GTEST_SKIP() << "no AES-GCM on this CPU";
  auto a = X25519KeyPair::Generate().value();
  auto b = X25519KeyPair::Generate().value();
  auto sender = SecureChannel::Create(ChannelRole::kInitiator, a.secret_key, b.public_key, {},
                                      AeadAlgorithm::kAes256Gcm)
                    .value();
  auto receiver = SecureChannel::Create(ChannelRole::kResponder, b.secret_key, a.public_key, {},
                                        AeadAlgorithm::kXChaCha20Poly1305)
                      .value();
  Bytes m, plain;
  ASSERT_TRUE(sender.Seal(1, 0, 0, Pattern(10), &m).ok());
  EXPECT_EQ(ChannelRejectionOf(receiver.Open(1, 0, m, &plain).status()),
            ChannelRejection::kAlgorithmMismatch);
}

TEST(SecureChannelKeysTest, LowOrderPeerKeyIsRefused) {
  auto a = X25519KeyPair::Generate().value();
  auto channel =
      SecureChannel::Create(ChannelRole::kInitiator, a.secret_key, X25519PublicKey{}, {});
  EXPECT_FALSE(channel.ok());
}

// ---------------------------------------------------------------------------
// Attested handshakes, as the worker and client run them.

using attestation::ChannelTranscript;
using attestation::DeploymentRoot;
using attestation::EnclaveIdentity;
using attestation::MakeReportData;
using attestation::Nonce;
using attestation::PlatformCertificate;
using attestation::PlatformKey;
using attestation::QuotePolicy;
using attestation::QuoteVerifier;

// One sim enclave on one certified platform.
struct SimEnclave {
  PlatformKey platform;
  PlatformCertificate certificate;
  EnclaveIdentity identity;
  X25519KeyPair ephemeral;

  static SimEnclave Start(const DeploymentRoot& root, const std::string& host,
                          const Ed25519KeyPair& signer, const Bytes& code) {
    auto platform = PlatformKey::Generate().value();
    auto cert = attestation::IssuePlatformCertificate(root, platform.public_key(), host, 1700000000)
                    .value();
    const auto mrenclave = attestation::Measure(code, Pattern(16));
    auto signature =
        attestation::SignEnclave(signer, mrenclave, 3, attestation::kAttributeSimulation).value();
    auto identity = attestation::VerifyEnclaveSignature(signature, mrenclave).value();
    return SimEnclave{std::move(platform), std::move(cert), identity,
                      X25519KeyPair::Generate().value()};
  }

  // The quote answering a verifier's nonce.
  Bytes Quote(const Nonce& nonce) const {
    auto quote = attestation::SignQuote(platform, certificate, identity,
                                        MakeReportData(nonce, {ephemeral.public_key}));
    EXPECT_TRUE(quote.ok());
    return attestation::SerializeQuote(*quote);
  }
};

class AttestedChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.emplace(DeploymentRoot::Generate().value());
    signer_.emplace(Ed25519KeyPair::Generate().value());
    QuotePolicy policy;
    policy.allowed_mrsigners = {attestation::SignerOf(signer_->public_key())};
    policy.min_svn = 3;
    policy.allow_simulation = true;
    verifier_.emplace(QuoteVerifier::Create(root_->public_key(), policy).value());
  }

  std::optional<DeploymentRoot> root_;
  std::optional<Ed25519KeyPair> signer_;
  std::optional<QuoteVerifier> verifier_;
};

TEST_F(AttestedChannelTest, MutualBetweenTwoEnclaves) {
  // Stage 1 (edge box) hands its activations to stage 2 (cloud box); each
  // attests the other before either sends a byte of data.
  SimEnclave a = SimEnclave::Start(*root_, "edge-1", *signer_, Pattern(1000, 1));
  SimEnclave b = SimEnclave::Start(*root_, "cloud-7", *signer_, Pattern(1000, 2));
  const Nonce nonce_from_a = attestation::NewNonce().value();
  const Nonce nonce_from_b = attestation::NewNonce().value();
  const Bytes quote_a = a.Quote(nonce_from_b);
  const Bytes quote_b = b.Quote(nonce_from_a);

  auto b_seen_by_a = verifier_->Verify(quote_b, nonce_from_a, {b.ephemeral.public_key});
  auto a_seen_by_b = verifier_->Verify(quote_a, nonce_from_b, {a.ephemeral.public_key});
  ASSERT_TRUE(b_seen_by_a.ok()) << b_seen_by_a.status().ToString();
  ASSERT_TRUE(a_seen_by_b.ok()) << a_seen_by_b.status().ToString();
  EXPECT_EQ(b_seen_by_a->platform_id, "cloud-7");

  const auto transcript = ChannelTranscript(quote_a, quote_b);
  auto at_a = SecureChannel::Create(ChannelRole::kInitiator, a.ephemeral.secret_key,
                                    b_seen_by_a->binding.ephemeral_key, transcript)
                  .value();
  auto at_b = SecureChannel::Create(ChannelRole::kResponder, b.ephemeral.secret_key,
                                    a_seen_by_b->binding.ephemeral_key, transcript)
                  .value();
  Bytes message, plain;
  for (uint64_t frame = 0; frame < 3; ++frame) {
    ASSERT_TRUE(at_a.Seal(kStream, frame, 1, Pattern(4096, frame), &message).ok());
    auto opened = at_b.Open(kStream, 1, message, &plain);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(plain, Pattern(4096, frame));
  }
  ASSERT_TRUE(at_b.Seal(kStream, 2, 2, Pattern(5), &message).ok());
  ASSERT_TRUE(at_a.Open(kStream, 2, message, &plain).ok());

  // A relay that swaps in another quote (say, from an old session) ends up
  // with a different transcript, and nothing authenticates.
  const Bytes stale_quote_b = b.Quote(attestation::NewNonce().value());
  auto spoofed =
      SecureChannel::Create(ChannelRole::kResponder, b.ephemeral.secret_key, a.ephemeral.public_key,
                            ChannelTranscript(quote_a, stale_quote_b))
          .value();
  ASSERT_TRUE(at_a.Seal(kStream, 3, 1, Pattern(8), &message).ok());
  EXPECT_EQ(ChannelRejectionOf(spoofed.Open(kStream, 1, message, &plain).status()),
            ChannelRejection::kAuthFailed);
}

TEST_F(AttestedChannelTest, OneSidedClientToEnclave) {
  SimEnclave head = SimEnclave::Start(*root_, "edge-1", *signer_, Pattern(1000, 1));
  // The client sends a nonce; the enclave answers with a quote binding it and
  // its ephemeral key; the client verifies and keys the channel with its own
  // (unattested) ephemeral key.
  const Nonce nonce = attestation::NewNonce().value();
  const Bytes quote = head.Quote(nonce);
  auto verified = verifier_->Verify(quote, nonce, {head.ephemeral.public_key});
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();

  auto client_key = X25519KeyPair::Generate().value();
  const auto transcript = ChannelTranscript({}, quote);
  auto client = SecureChannel::Create(ChannelRole::kInitiator, client_key.secret_key,
                                      verified->binding.ephemeral_key, transcript)
                    .value();
  auto enclave = SecureChannel::Create(ChannelRole::kResponder, head.ephemeral.secret_key,
                                       client_key.public_key, transcript)
                     .value();

  Bytes frame, result, plain;
  ASSERT_TRUE(client.Seal(kStream, 17, 0, Pattern(3 * 224 * 224), &frame).ok());
  auto opened = enclave.Open(kStream, 0, frame, &plain);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->frame_seq, 17u);
  ASSERT_TRUE(enclave.Seal(kStream, 17, 5, Pattern(40), &result).ok());
  ASSERT_TRUE(client.Open(kStream, 5, result, &plain).ok());
  EXPECT_EQ(plain, Pattern(40));

  // A man in the middle who presents his own key with the genuine quote is
  // caught by the verifier: the quote binds the enclave's key.
  auto mitm = X25519KeyPair::Generate().value();
  auto refused = verifier_->Verify(quote, nonce, {mitm.public_key});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(attestation::RejectionOf(refused.status()), attestation::QuoteRejection::kStaleNonce);
}

}  // namespace
}  // namespace serdab::crypto
