// AEAD, key primitives and the byte codec under the trust formats.
#include "enclave/crypto/aead.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <random>
#include <vector>

#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"

namespace serdab::crypto {
namespace {

AeadKey TestKey(uint8_t seed) {
  AeadKey key;
  for (size_t i = 0; i < key.size(); ++i) key.data()[i] = static_cast<uint8_t>(seed + i);
  return key;
}

Bytes Pattern(size_t n) {
  Bytes b;
  b.reserve(n);
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i * 7 + 3));
  return b;
}

std::vector<AeadAlgorithm> AvailableAlgorithms() {
  std::vector<AeadAlgorithm> out = {AeadAlgorithm::kXChaCha20Poly1305};
  if (AeadAvailable(AeadAlgorithm::kAes256Gcm)) out.push_back(AeadAlgorithm::kAes256Gcm);
  return out;
}

class AeadTest : public ::testing::TestWithParam<AeadAlgorithm> {
 protected:
  Aead MakeAead(uint8_t seed = 1) {
    auto aead = Aead::Create(GetParam(), TestKey(seed));
    EXPECT_TRUE(aead.ok()) << aead.status().ToString();
    return std::move(aead).value();
  }
};

TEST_P(AeadTest, RoundTripsEverySize) {
  Aead aead = MakeAead();
  const Bytes ad = Pattern(13);
  for (size_t n : {0, 1, 15, 16, 17, 1000, 65536 + 3}) {
    const Bytes plain = Pattern(n);
    auto sealed = aead.Seal(42, ad, plain);
    ASSERT_TRUE(sealed.ok());
    ASSERT_EQ(sealed->size(), n + kAeadTagBytes);
    auto opened = aead.Open(42, ad, *sealed);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, plain);
  }
}

TEST_P(AeadTest, EveryFlippedBitFailsAuthentication) {
  Aead aead = MakeAead();
  const Bytes plain = Pattern(24);
  const Bytes sealed = aead.Seal(7, Pattern(5), plain).value();
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    Bytes bad = sealed;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto opened = aead.Open(7, Pattern(5), bad);
    ASSERT_FALSE(opened.ok()) << "bit " << bit;
    EXPECT_EQ(opened.status().code(), Status::Code::kCorruption);
  }
}

TEST_P(AeadTest, WrongCounterAdOrKeyFails) {
  Aead aead = MakeAead();
  const Bytes sealed = aead.Seal(7, Pattern(5), Pattern(100)).value();
  EXPECT_FALSE(aead.Open(8, Pattern(5), sealed).ok());
  EXPECT_FALSE(aead.Open(7, Pattern(6), sealed).ok());
  EXPECT_FALSE(aead.Open(7, {}, sealed).ok());
  EXPECT_FALSE(MakeAead(2).Open(7, Pattern(5), sealed).ok());
  EXPECT_TRUE(aead.Open(7, Pattern(5), sealed).ok());
}

TEST_P(AeadTest, ShortCiphertextAndBadBuffersAreErrors) {
  Aead aead = MakeAead();
  for (size_t n = 0; n < kAeadTagBytes; ++n) {
    auto opened = aead.Open(0, {}, Pattern(n));
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), Status::Code::kCorruption);
  }
  Bytes out(10);
  EXPECT_EQ(aead.Seal(0, {}, Pattern(10), out).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(aead.Open(0, {}, Pattern(40), out).code(), Status::Code::kInvalidArgument);
}

TEST_P(AeadTest, FailedOpenReleasesNoPlaintext) {
  Aead aead = MakeAead();
  Bytes sealed = aead.Seal(3, {}, Pattern(64)).value();
  sealed.back() ^= 1;
  Bytes out(64, 0xAA);
  EXPECT_FALSE(aead.Open(3, {}, sealed, out).ok());
  EXPECT_EQ(out, Bytes(64, 0));
}

TEST_P(AeadTest, CounterIsTheNonce) {
  // The documented expansion: counter little-endian in the first 8 bytes.
  const uint64_t counter = 0x0102030405060708;
  uint8_t nonce[24] = {};
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(counter >> (8 * i));
  const AeadKey key = TestKey(9);
  const Bytes plain = Pattern(33), ad = Pattern(4);
  Bytes expected(plain.size() + kAeadTagBytes);
  unsigned long long len = 0;
  if (GetParam() == AeadAlgorithm::kAes256Gcm) {
    crypto_aead_aes256gcm_encrypt(expected.data(), &len, plain.data(), plain.size(), ad.data(),
                                  ad.size(), nullptr, nonce, key.data());
  } else {
    crypto_aead_xchacha20poly1305_ietf_encrypt(expected.data(), &len, plain.data(), plain.size(),
                                               ad.data(), ad.size(), nullptr, nonce, key.data());
  }
  auto aead = Aead::Create(GetParam(), key);
  ASSERT_TRUE(aead.ok());
  EXPECT_EQ(aead->Seal(counter, ad, plain).value(), expected);
  EXPECT_NE(aead->Seal(counter + 1, ad, plain).value(), expected);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, AeadTest, ::testing::ValuesIn(AvailableAlgorithms()),
                         [](const auto& info) {
                           return info.param == AeadAlgorithm::kAes256Gcm ? "Aes256Gcm"
                                                                          : "XChaCha20Poly1305";
                         });

// AES-256-GCM comes from libipsec-mb; libsodium's independent implementation
// must read what it writes and write what it reads (the wire format and
// sealed files predate the switch).
TEST(AeadInteropTest, AesGcmMatchesLibsodiumBothWays) {
  ASSERT_TRUE(InitSodium().ok());
  if (crypto_aead_aes256gcm_is_available() != 1) GTEST_SKIP() << "no AES-GCM on this CPU";
  const AeadKey key = TestKey(9);
  Aead aead = Aead::Create(AeadAlgorithm::kAes256Gcm, key).value();
  const Bytes ad = Pattern(29);
  for (size_t n : {0, 1, 16, 255, 65536 + 7}) {
    const Bytes plain = Pattern(n);
    uint8_t nonce[crypto_aead_aes256gcm_NPUBBYTES] = {0x2a};  // counter 42, little-endian
    Bytes ours = aead.Seal(42, ad, plain).value();
    Bytes theirs(n + kAeadTagBytes);
    unsigned long long theirs_size = 0;
    ASSERT_EQ(crypto_aead_aes256gcm_encrypt(theirs.data(), &theirs_size, plain.data(), n, ad.data(),
                                            ad.size(), nullptr, nonce, key.data()),
              0);
    EXPECT_EQ(ours, theirs) << n << " bytes";
    Bytes opened(n);
    unsigned long long opened_size = 0;
    EXPECT_EQ(crypto_aead_aes256gcm_decrypt(opened.data(), &opened_size, nullptr, ours.data(),
                                            ours.size(), ad.data(), ad.size(), nonce, key.data()),
              0);
    EXPECT_EQ(opened, plain);
  }
}

// Test Case 16 of McGrew and Viega's GCM specification (AES-256, 96-bit IV,
// 20 bytes of associated data, a plaintext that ends mid-block). The IV
// cafebabe facedbad decaf888 is counter 0xaddbcefabebafeca and record
// 0x88f8cade in AeadNonce's little-endian layout.
TEST(AeadInteropTest, AesGcmKnownAnswer) {
  if (!AeadAvailable(AeadAlgorithm::kAes256Gcm)) GTEST_SKIP() << "no AES-GCM on this CPU";
  const Bytes key_bytes =
      HexDecode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308").value();
  AeadKey key;
  std::copy(key_bytes.begin(), key_bytes.end(), key.data());
  const Bytes plain = HexDecode(
                          "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
                          .value();
  const Bytes ad = HexDecode("feedfacedeadbeeffeedfacedeadbeefabaddad2").value();
  const Bytes expected = HexDecode(
                             "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                             "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
                             "76fc6ece0f4e1768cddf8853bb2d551b")
                             .value();
  const AeadNonce nonce(0xaddbcefabebafecaull, 0x88f8cadeu);
  Aead aead = Aead::Create(AeadAlgorithm::kAes256Gcm, key).value();
  EXPECT_EQ(aead.Seal(nonce, ad, plain).value(), expected);
  EXPECT_EQ(aead.Open(nonce, ad, expected).value(), plain);
}

// A frame's plaintext lies in several buffers of any sizes (headers, then
// tensors): every way of cutting it seals to the one-buffer message and
// opens back into the pieces; a forged message leaves every piece zeroed.
TEST_P(AeadTest, PartsCutAnywhereMatchTheWholeMessage) {
  Aead aead = MakeAead();
  const Bytes ad = Pattern(21);
  const Bytes plain = Pattern(70001);
  const Bytes whole = aead.Seal(8, ad, plain).value();
  std::mt19937 random(11);
  for (int round = 0; round < 20; ++round) {
    std::vector<ByteView> parts;
    for (size_t at = 0; at < plain.size();) {
      const size_t limit = round % 2 == 0 ? 40 : 9000;
      const size_t n = std::min<size_t>(random() % limit, plain.size() - at);
      parts.push_back(ByteView(plain).subspan(at, n));
      at += n;
    }
    Bytes sealed(whole.size());
    ASSERT_TRUE(aead.SealParts(8, ad, parts, sealed).ok());
    EXPECT_EQ(sealed, whole) << "round " << round;
    Bytes out_scratch;
    Bytes sealed_out(whole.size());
    ASSERT_TRUE(aead.SealPartsOut(8, ad, parts, sealed_out, &out_scratch).ok());
    EXPECT_EQ(sealed_out, whole) << "round " << round;

    Bytes opened(plain.size());
    std::vector<std::span<uint8_t>> pieces;
    size_t at = 0;
    for (const ByteView& part : parts) {
      pieces.push_back(std::span(opened).subspan(at, part.size()));
      at += part.size();
    }
    ASSERT_TRUE(aead.OpenParts(8, ad, whole, pieces).ok());
    EXPECT_EQ(opened, plain) << "round " << round;
    Bytes forged = whole;
    forged[random() % forged.size()] ^= 0x40;
    EXPECT_FALSE(aead.OpenParts(8, ad, forged, pieces).ok());
    EXPECT_TRUE(std::all_of(opened.begin(), opened.end(), [](uint8_t b) { return b == 0; }))
        << "round " << round;
  }
}

TEST_P(AeadTest, SealsAndOpensInPlace) {
  Aead aead = MakeAead();
  const Bytes ad = Pattern(3);
  const Bytes plain = Pattern(5000);
  const Bytes sealed = aead.Seal(5, ad, plain).value();
  Bytes buffer = plain;
  buffer.resize(plain.size() + kAeadTagBytes);
  ASSERT_TRUE(aead.Seal(5, ad, std::span(buffer.data(), plain.size()), buffer).ok());
  EXPECT_EQ(buffer, sealed);
  ASSERT_TRUE(aead.Open(5, ad, buffer, std::span(buffer.data(), plain.size())).ok());
  EXPECT_EQ(Bytes(buffer.begin(), buffer.begin() + plain.size()), plain);
  Bytes tampered = sealed;
  tampered[10] ^= 1;
  EXPECT_FALSE(aead.Open(5, ad, tampered, std::span(tampered.data(), plain.size())).ok());
  EXPECT_TRUE(std::all_of(tampered.begin(), tampered.begin() + plain.size(), [](uint8_t b) {
    return b == 0;
  })) << "a failed in-place open must leave zeros, not unauthenticated plaintext";
}

TEST(AeadSelectionTest, PrefersAesGcmOnlyWhereAvailable) {
  ASSERT_TRUE(InitSodium().ok());
  // libsodium's own CPU check: AES-NI and PCLMUL.
  const bool aes = crypto_aead_aes256gcm_is_available() == 1;
  EXPECT_EQ(PreferredAead(), aes ? AeadAlgorithm::kAes256Gcm : AeadAlgorithm::kXChaCha20Poly1305);
  EXPECT_EQ(AeadAvailable(AeadAlgorithm::kAes256Gcm), aes);
  EXPECT_TRUE(AeadAvailable(AeadAlgorithm::kXChaCha20Poly1305));
  EXPECT_FALSE(AeadFromWire(0).ok());
  EXPECT_FALSE(AeadFromWire(3).ok());
  EXPECT_EQ(AeadFromWire(2).value(), AeadAlgorithm::kXChaCha20Poly1305);
}

TEST(KeysTest, X25519BothSidesAgree) {
  auto a = X25519KeyPair::Generate().value();
  auto b = X25519KeyPair::Generate().value();
  EXPECT_EQ(X25519PublicFromSecret(a.secret_key), a.public_key);
  auto ab = X25519SharedSecret(a.secret_key, b.public_key);
  auto ba = X25519SharedSecret(b.secret_key, a.public_key);
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_TRUE(ConstantTimeEqual(ab->view(), ba->view()));
}

TEST(KeysTest, X25519RefusesLowOrderPeerKey) {
  auto a = X25519KeyPair::Generate().value();
  X25519PublicKey zero{};
  auto shared = X25519SharedSecret(a.secret_key, zero);
  ASSERT_FALSE(shared.ok());
  EXPECT_EQ(shared.status().code(), Status::Code::kPermissionDenied);
}

TEST(KeysTest, Ed25519SignaturesAreBoundToContextMessageAndKey) {
  auto key = Ed25519KeyPair::Generate().value();
  auto other = Ed25519KeyPair::Generate().value();
  const Bytes msg = Pattern(50);
  const Ed25519Signature sig = key.Sign("serdab.test.a", msg);
  EXPECT_TRUE(Ed25519Verify(key.public_key(), "serdab.test.a", msg, sig));
  EXPECT_FALSE(Ed25519Verify(key.public_key(), "serdab.test.b", msg, sig));
  EXPECT_FALSE(Ed25519Verify(other.public_key(), "serdab.test.a", msg, sig));
  Bytes changed = msg;
  changed[0] ^= 1;
  EXPECT_FALSE(Ed25519Verify(key.public_key(), "serdab.test.a", changed, sig));
  // The seed reproduces the key pair (what is stored on disk).
  auto again = Ed25519KeyPair::FromSeed(key.seed());
  EXPECT_EQ(again.public_key(), key.public_key());
  EXPECT_EQ(again.Sign("serdab.test.a", msg), sig);
}

TEST(KeysTest, Sha256KnownAnswer) {
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(KeysTest, LabelledHashesAndKeysSeparateDomainsAndFraming) {
  const Bytes ab = {'a', 'b'}, c = {'c'}, a = {'a'}, bc = {'b', 'c'};
  EXPECT_NE(Sha256Labeled("x", {ab, c}), Sha256Labeled("x", {a, bc}));
  EXPECT_NE(Sha256Labeled("x", {ab}), Sha256Labeled("y", {ab}));
  const AeadKey k = TestKey(1);
  EXPECT_FALSE(ConstantTimeEqual(DeriveKey(k.view(), "x", {ab, c}).view(),
                                 DeriveKey(k.view(), "x", {a, bc}).view()));
  EXPECT_FALSE(
      ConstantTimeEqual(DeriveKey(k.view(), "x", {}).view(), DeriveKey(k.view(), "y", {}).view()));
  EXPECT_FALSE(ConstantTimeEqual(DeriveKey(k.view(), "x", {}).view(),
                                 DeriveKey(TestKey(2).view(), "x", {}).view()));
  EXPECT_TRUE(ConstantTimeEqual(DeriveKey(k.view(), "x", {ab}).view(),
                                DeriveKey(k.view(), "x", {ab}).view()));
  EXPECT_NE(Blake2b512Labeled("x", {ab}), Blake2b512Labeled("y", {ab}));
}

TEST(BytesTest, HexRoundTripAndErrors) {
  const Bytes b = {0x00, 0x7f, 0xab, 0xff};
  EXPECT_EQ(HexEncode(b), "007fabff");
  EXPECT_EQ(HexDecode("007FABff").value(), b);
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
  EXPECT_FALSE((HexDecodeArray<2>("abcdef", "key").ok()));
  EXPECT_EQ((HexDecodeArray<2>("abcd", "key").value()), (ByteArray<2>{0xab, 0xcd}));
}

TEST(BytesTest, ConstantTimeEqual) {
  EXPECT_TRUE(ConstantTimeEqual(Bytes{1, 2}, Bytes{1, 2}));
  EXPECT_FALSE(ConstantTimeEqual(Bytes{1, 2}, Bytes{1, 3}));
  EXPECT_FALSE(ConstantTimeEqual(Bytes{1, 2}, Bytes{1, 2, 3}));
  EXPECT_TRUE(ConstantTimeEqual(Bytes{}, Bytes{}));
}

TEST(BytesTest, ReaderChecksEveryLengthAndNamesTheField) {
  Writer w;
  w.U8(1);
  w.U16(0x0203);
  w.U32(0x04050607);
  w.U64(0x08090a0b0c0d0e0f);
  w.LengthPrefixed(Bytes{9, 9, 9});
  const Bytes wire = w.Take();
  ASSERT_EQ(wire.size(), 1u + 2 + 4 + 8 + 4 + 3);

  Reader r(wire, "test format");
  EXPECT_EQ(r.U8("a").value(), 1);
  EXPECT_EQ(r.U16("b").value(), 0x0203);
  EXPECT_EQ(r.U32("c").value(), 0x04050607u);
  EXPECT_EQ(r.U64("d").value(), 0x08090a0b0c0d0e0full);
  auto e = r.LengthPrefixed("e", 3);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(Bytes(e->begin(), e->end()), Bytes({9, 9, 9}));
  EXPECT_TRUE(r.ExpectEnd().ok());

  Reader truncated(ByteView(wire).first(5), "test format");
  ASSERT_TRUE(truncated.U8("a").ok());
  ASSERT_TRUE(truncated.U16("b").ok());
  auto c = truncated.U32("field_c");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kCorruption);
  EXPECT_NE(c.status().message().find("test format"), std::string::npos);
  EXPECT_NE(c.status().message().find("field_c"), std::string::npos);

  Reader limited(ByteView(wire).subspan(15), "test format");
  EXPECT_FALSE(limited.LengthPrefixed("e", 2).ok());

  Reader trailing(wire, "test format");
  ASSERT_TRUE(trailing.U8("a").ok());
  EXPECT_EQ(trailing.ExpectEnd().code(), Status::Code::kCorruption);
}

TEST(BytesTest, SecretBytesWipesOnDestruction) {
  alignas(SecretBytes<16>) unsigned char storage[sizeof(SecretBytes<16>)];
  auto* secret = new (storage) SecretBytes<16>();
  for (size_t i = 0; i < 16; ++i) secret->data()[i] = 0x5a;
  secret->~SecretBytes<16>();
  for (unsigned char c : storage) EXPECT_EQ(c, 0);
}

}  // namespace
}  // namespace serdab::crypto
