// Sealing: round trips under both key policies; another measurement, signer,
// platform, attribute set, newer svn, other additional data or any tampering
// fails.
#include "enclave/attestation/sealing.h"

#include <gtest/gtest.h>

#include <optional>

#include "enclave/crypto/aead.h"
#include "enclave/crypto/keys.h"

namespace serdab::attestation {
namespace {

using crypto::Bytes;

Bytes Pattern(size_t n, uint8_t salt = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 11 + salt);
  return b;
}

class SealingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    platform_.emplace(PlatformKey::Generate().value());
    auto signer = crypto::Ed25519KeyPair::Generate().value();
    self_.mrenclave = Measure(Pattern(4000), Pattern(20));
    self_.mrsigner = SignerOf(signer.public_key());
    self_.isv_svn = 2;
    self_.attributes = kAttributeSimulation;
  }

  const SealingSecret& secret() const { return platform_->sealing_secret(); }

  Bytes SealAs(const EnclaveIdentity& who, SealPolicy policy, const Bytes& data,
               const Bytes& ad = {}) {
    auto blob = Seal(secret(), who, policy, data, ad);
    EXPECT_TRUE(blob.ok()) << blob.status().ToString();
    return std::move(blob).value();
  }

  std::optional<PlatformKey> platform_;
  EnclaveIdentity self_;
};

TEST_F(SealingTest, RoundTripsUnderBothPolicies) {
  for (SealPolicy policy : {SealPolicy::kMrEnclave, SealPolicy::kMrSigner}) {
    for (size_t n : {0, 1, 100, 1 << 20}) {
      const Bytes data = Pattern(n, 3);
      const Bytes blob = SealAs(self_, policy, data, Pattern(9));
      EXPECT_EQ(blob.size(), kSealedHeaderBytes + n + crypto::kAeadTagBytes);
      auto opened = Unseal(secret(), self_, blob, Pattern(9));
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      EXPECT_EQ(*opened, data);
    }
  }
}

TEST_F(SealingTest, EachBlobHasItsOwnKey) {
  const Bytes a = SealAs(self_, SealPolicy::kMrEnclave, Pattern(64));
  const Bytes b = SealAs(self_, SealPolicy::kMrEnclave, Pattern(64));
  EXPECT_NE(a, b);
}

TEST_F(SealingTest, UnsealUnderAnotherMeasurementFails) {
  const Bytes blob = SealAs(self_, SealPolicy::kMrEnclave, Pattern(256));
  EnclaveIdentity other = self_;
  other.mrenclave = Measure(Pattern(4000, 1), Pattern(20));
  auto opened = Unseal(secret(), other, blob);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Status::Code::kCorruption);
  EXPECT_NE(opened.status().message().find("another measurement"), std::string::npos);
}

TEST_F(SealingTest, MrSignerSurvivesAMeasurementChangeButNotASignerChange) {
  const Bytes blob = SealAs(self_, SealPolicy::kMrSigner, Pattern(256));
  EnclaveIdentity upgraded = self_;
  upgraded.mrenclave = Measure(Pattern(4100), Pattern(20));
  upgraded.isv_svn = 3;
  auto opened = Unseal(secret(), upgraded, blob);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, Pattern(256));

  EnclaveIdentity foreign = self_;
  foreign.mrsigner = SignerOf(crypto::Ed25519KeyPair::Generate().value().public_key());
  EXPECT_EQ(Unseal(secret(), foreign, blob).status().code(), Status::Code::kCorruption);
}

TEST_F(SealingTest, OlderSecurityVersionCannotUnsealNewerData) {
  const Bytes blob = SealAs(self_, SealPolicy::kMrSigner, Pattern(32));
  EnclaveIdentity older = self_;
  older.isv_svn = 1;
  auto opened = Unseal(secret(), older, blob);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Status::Code::kPermissionDenied);
}

TEST_F(SealingTest, DebugBuildCannotUnsealProductionData) {
  const Bytes blob = SealAs(self_, SealPolicy::kMrSigner, Pattern(32));
  EnclaveIdentity debug = self_;
  debug.attributes |= kAttributeDebug;
  EXPECT_FALSE(Unseal(secret(), debug, blob).ok());
}

TEST_F(SealingTest, AnotherPlatformCannotUnseal) {
  const Bytes blob = SealAs(self_, SealPolicy::kMrEnclave, Pattern(32));
  auto elsewhere = PlatformKey::Generate().value();
  EXPECT_FALSE(Unseal(elsewhere.sealing_secret(), self_, blob).ok());
}

TEST_F(SealingTest, AdditionalDataMustMatch) {
  const Bytes blob = SealAs(self_, SealPolicy::kMrEnclave, Pattern(32), Pattern(8));
  EXPECT_FALSE(Unseal(secret(), self_, blob).ok());
  EXPECT_FALSE(Unseal(secret(), self_, blob, Pattern(8, 1)).ok());
  EXPECT_TRUE(Unseal(secret(), self_, blob, Pattern(8)).ok());
}

TEST_F(SealingTest, TamperedBlobFails) {
  for (SealPolicy policy : {SealPolicy::kMrEnclave, SealPolicy::kMrSigner}) {
    const Bytes blob = SealAs(self_, policy, Pattern(48));
    for (size_t i = 0; i < blob.size(); ++i) {
      for (uint8_t flip : {0x01, 0x80}) {
        Bytes tampered = blob;
        tampered[i] ^= flip;
        auto opened = Unseal(secret(), self_, tampered);
        ASSERT_FALSE(opened.ok()) << "byte " << i << " flip " << int{flip};
        // Lowering the recorded svn fails authentication like any other
        // change; raising it above ours is refused before decryption.
        EXPECT_TRUE(opened.status().code() == Status::Code::kCorruption ||
                    opened.status().code() == Status::Code::kPermissionDenied)
            << opened.status().ToString();
      }
    }
  }
}

TEST_F(SealingTest, TruncatedOrExtendedBlobFails) {
  const Bytes blob = SealAs(self_, SealPolicy::kMrEnclave, Pattern(48));
  for (size_t len = 0; len < blob.size(); ++len) {
    auto opened = Unseal(secret(), self_, crypto::ByteView(blob).first(len));
    ASSERT_FALSE(opened.ok()) << "length " << len;
    EXPECT_EQ(opened.status().code(), Status::Code::kCorruption);
  }
  Bytes longer = blob;
  longer.push_back(0);
  EXPECT_FALSE(Unseal(secret(), self_, longer).ok());
}

}  // namespace
}  // namespace serdab::attestation
