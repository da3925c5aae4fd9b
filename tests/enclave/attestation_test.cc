// Identity, platform chain, quotes and the verifier. Every way a quote can be
// wrong is rejected with its own reason; malformed input never crashes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote.h"
#include "enclave/attestation/quote_verifier.h"

namespace serdab::attestation {
namespace {

using crypto::Bytes;
using crypto::Ed25519KeyPair;
using crypto::X25519KeyPair;

Bytes Pattern(size_t n, uint8_t salt = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 31 + salt);
  return b;
}

class QuoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.emplace(DeploymentRoot::Generate().value());
    platform_.emplace(PlatformKey::Generate().value());
    cert_ = IssuePlatformCertificate(*root_, platform_->public_key(), "edge-1", 1700000000).value();
    signer_.emplace(Ed25519KeyPair::Generate().value());
    identity_ = Identity(Pattern(5000), /*svn=*/4, /*attributes=*/0);
    ephemeral_.emplace(X25519KeyPair::Generate().value());
    binding_.ephemeral_key = ephemeral_->public_key;
    binding_.instance = InstanceId{7, 7, 7};
    binding_.owner = Ed25519KeyPair::Generate().value().public_key();
    nonce_ = NewNonce().value();
    policy_.allowed_mrenclaves = {identity_.mrenclave};
    policy_.allowed_mrsigners = {SignerOf(signer_->public_key())};
    policy_.min_svn = 4;
    policy_.allow_simulation = true;
  }

  EnclaveIdentity Identity(const Bytes& code, uint16_t svn, uint64_t attributes,
                           const Ed25519KeyPair* signer = nullptr) {
    const Measurement m = Measure(code, Pattern(64, 9));
    auto sig = SignEnclave(signer ? *signer : *signer_, m, svn, attributes).value();
    return VerifyEnclaveSignature(sig, m).value();
  }

  Bytes MakeQuote(const EnclaveIdentity& identity) {
    auto quote = SignQuote(*platform_, cert_, identity, MakeReportData(nonce_, binding_));
    EXPECT_TRUE(quote.ok()) << quote.status().ToString();
    return SerializeQuote(*quote);
  }
  Bytes MakeQuote() { return MakeQuote(identity_); }

  Result<VerifiedQuote> Verify(const Bytes& quote) { return Verify(quote, policy_); }
  Result<VerifiedQuote> Verify(const Bytes& quote, const QuotePolicy& policy) {
    auto verifier = QuoteVerifier::Create(root_->public_key(), policy);
    EXPECT_TRUE(verifier.ok()) << verifier.status().ToString();
    return verifier->Verify(quote, nonce_, binding_);
  }

  // Verifies and returns the rejection reason (kNone if accepted), checking
  // the status code that goes with it.
  QuoteRejection Rejection(const Bytes& quote) { return Rejection(quote, policy_); }
  QuoteRejection Rejection(const Bytes& quote, const QuotePolicy& policy) {
    auto verified = Verify(quote, policy);
    if (verified.ok()) return QuoteRejection::kNone;
    const QuoteRejection why = RejectionOf(verified.status());
    EXPECT_EQ(verified.status().code(), why == QuoteRejection::kMalformed
                                            ? Status::Code::kCorruption
                                            : Status::Code::kPermissionDenied)
        << verified.status().ToString();
    EXPECT_NE(verified.status().message().find(QuoteRejectionName(why)), std::string::npos);
    return why;
  }

  std::optional<DeploymentRoot> root_;
  std::optional<PlatformKey> platform_;
  PlatformCertificate cert_;
  std::optional<Ed25519KeyPair> signer_;
  EnclaveIdentity identity_;
  std::optional<X25519KeyPair> ephemeral_;
  QuoteBinding binding_;
  Nonce nonce_;
  QuotePolicy policy_;
};

TEST_F(QuoteTest, AcceptsAValidQuote) {
  auto verified = Verify(MakeQuote());
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->identity.mrenclave, identity_.mrenclave);
  EXPECT_EQ(verified->identity.mrsigner, SignerOf(signer_->public_key()));
  EXPECT_EQ(verified->identity.isv_svn, 4);
  EXPECT_TRUE(verified->identity.simulation());
  EXPECT_FALSE(verified->identity.debug());
  EXPECT_EQ(verified->platform_id, "edge-1");
  EXPECT_EQ(verified->platform_key, platform_->public_key());
  EXPECT_EQ(verified->binding.ephemeral_key, ephemeral_->public_key);
  EXPECT_EQ(verified->binding.owner, binding_.owner);
  EXPECT_EQ(verified->platform_type, PlatformType::kSim);
}

TEST_F(QuoteTest, QuoteRoundTripsThroughTheWire) {
  const Bytes wire = MakeQuote();
  auto quote = ParseQuote(wire);
  ASSERT_TRUE(quote.ok()) << quote.status().ToString();
  EXPECT_EQ(quote->identity.mrenclave, identity_.mrenclave);
  EXPECT_EQ(quote->platform_certificate.platform_id, "edge-1");
  EXPECT_EQ(quote->platform_certificate.issued_unix, 1700000000u);
  EXPECT_EQ(SerializeQuote(*quote), wire);
  EXPECT_TRUE(QuoteSignatureValid(*quote));
}

TEST_F(QuoteTest, ForgedSignatureIsRejected) {
  const Bytes good = MakeQuote();
  for (size_t i = good.size() - 64; i < good.size(); i += 7) {
    Bytes forged = good;
    forged[i] ^= 0x40;
    EXPECT_EQ(Rejection(forged), QuoteRejection::kBadSignature) << "byte " << i;
  }
}

TEST_F(QuoteTest, AlteredIdentityBreaksTheSignature) {
  // Raising the svn in the signed body (offset 4 magic + 2 version + 64).
  Bytes altered = MakeQuote();
  altered[6 + 64] = 9;
  EXPECT_EQ(Rejection(altered), QuoteRejection::kBadSignature);
}

TEST_F(QuoteTest, UnknownMeasurementIsRejected) {
  const EnclaveIdentity other = Identity(Pattern(5000, 1), 4, 0);
  EXPECT_EQ(Rejection(MakeQuote(other)), QuoteRejection::kUnknownMeasurement);
}

TEST_F(QuoteTest, WrongSignerIsRejected) {
  auto mallory = Ed25519KeyPair::Generate().value();
  const EnclaveIdentity other = Identity(Pattern(5000), 4, 0, &mallory);
  // Same code, same measurement: only the signer list can catch it.
  ASSERT_EQ(other.mrenclave, identity_.mrenclave);
  EXPECT_EQ(Rejection(MakeQuote(other)), QuoteRejection::kWrongSigner);
  QuotePolicy signer_only = policy_;
  signer_only.allowed_mrenclaves.clear();
  EXPECT_EQ(Rejection(MakeQuote(other), signer_only), QuoteRejection::kWrongSigner);
  EXPECT_EQ(Rejection(MakeQuote(), signer_only), QuoteRejection::kNone);
}

TEST_F(QuoteTest, SvnTooLowIsRejected) {
  const EnclaveIdentity old = Identity(Pattern(5000), 3, 0);
  EXPECT_EQ(Rejection(MakeQuote(old)), QuoteRejection::kSvnTooLow);
  const EnclaveIdentity newer = Identity(Pattern(5000), 5, 0);
  EXPECT_EQ(Rejection(MakeQuote(newer)), QuoteRejection::kNone);
}

TEST_F(QuoteTest, SimulationRefusedByPolicy) {
  QuotePolicy production = policy_;
  production.allow_simulation = false;
  EXPECT_EQ(Rejection(MakeQuote(), production), QuoteRejection::kSimulationRefused);
}

TEST_F(QuoteTest, SimPlatformAlwaysMarksSimulation) {
  ASSERT_FALSE(identity_.simulation());
  auto quote = SignQuote(*platform_, cert_, identity_, ReportData{});
  ASSERT_TRUE(quote.ok());
  EXPECT_TRUE(quote->identity.simulation());
}

TEST_F(QuoteTest, DebugRefusedByPolicy) {
  const EnclaveIdentity debug = Identity(Pattern(5000), 4, kAttributeDebug);
  EXPECT_EQ(Rejection(MakeQuote(debug)), QuoteRejection::kDebugRefused);
  QuotePolicy lab = policy_;
  lab.allow_debug = true;
  EXPECT_EQ(Rejection(MakeQuote(debug), lab), QuoteRejection::kNone);
}

TEST_F(QuoteTest, StaleNonceIsRejected) {
  const Nonce mine = nonce_;
  nonce_ = NewNonce().value();
  const Bytes old_quote = MakeQuote();  // answers a nonce from another session
  nonce_ = mine;
  EXPECT_EQ(Rejection(old_quote), QuoteRejection::kStaleNonce);
}

TEST_F(QuoteTest, SubstitutedEphemeralKeyIsRejected) {
  const Bytes quote = MakeQuote();
  auto verifier = QuoteVerifier::Create(root_->public_key(), policy_).value();
  QuoteBinding other = binding_;
  other.ephemeral_key = X25519KeyPair::Generate().value().public_key;
  auto verified = verifier.Verify(quote, nonce_, other);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(RejectionOf(verified.status()), QuoteRejection::kStaleNonce);
}

// A host that claimed an enclave cannot present it as its victim's: the quote
// binds the owner and the instance.
TEST_F(QuoteTest, SubstitutedOwnerOrInstanceIsRejected) {
  const Bytes quote = MakeQuote();
  auto verifier = QuoteVerifier::Create(root_->public_key(), policy_).value();
  QuoteBinding owner = binding_;
  owner.owner = Ed25519KeyPair::Generate().value().public_key();
  EXPECT_EQ(RejectionOf(verifier.Verify(quote, nonce_, owner).status()),
            QuoteRejection::kStaleNonce);
  QuoteBinding instance = binding_;
  instance.instance[0] ^= 1;
  EXPECT_EQ(RejectionOf(verifier.Verify(quote, nonce_, instance).status()),
            QuoteRejection::kStaleNonce);
}

// The sim host holds the platform key: it signs a quote with the simulation
// and debug bits cleared. The root's certificate says the platform is sim,
// and that is what a policy that refuses simulation refuses.
TEST_F(QuoteTest, ForgedQuoteFromASimPlatformIsRefusedWhateverItClaims) {
  Quote quote = ParseQuote(MakeQuote()).value();
  quote.identity.attributes = 0;  // "hardware, production"
  Bytes body = SerializeQuote(quote);
  body.resize(body.size() - quote.platform_signature.size());
  quote.platform_signature = platform_->signing_key().Sign("serdab.quote.v1", body);
  const Bytes forged = SerializeQuote(quote);
  ASSERT_TRUE(QuoteSignatureValid(ParseQuote(forged).value()));

  QuotePolicy strict = policy_;
  strict.allow_simulation = false;
  EXPECT_EQ(Rejection(forged, strict), QuoteRejection::kSimulationRefused);
  // Only a platform the root certified as hardware passes that policy.
  cert_ = IssuePlatformCertificate(*root_, platform_->public_key(), "edge-1", 1700000000,
                                   PlatformType::kSgx)
              .value();
  quote.platform_certificate = cert_;
  body = SerializeQuote(quote);
  body.resize(body.size() - quote.platform_signature.size());
  quote.platform_signature = platform_->signing_key().Sign("serdab.quote.v1", body);
  EXPECT_EQ(Rejection(SerializeQuote(quote), strict), QuoteRejection::kNone);
}

TEST_F(QuoteTest, PolicyPinningTheUnsignedSignerIsRefused) {
  QuotePolicy zero;
  zero.allowed_mrsigners = {Measurement{}};
  zero.allow_simulation = true;
  auto verifier = QuoteVerifier::Create(root_->public_key(), zero);
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(verifier.status().message().find("all-zero signer"), std::string::npos);
}

TEST_F(QuoteTest, PlatformNotCertifiedByTheRootIsRejected) {
  auto rogue_root = DeploymentRoot::Generate().value();
  cert_ =
      IssuePlatformCertificate(rogue_root, platform_->public_key(), "edge-1", 1700000000).value();
  EXPECT_EQ(Rejection(MakeQuote()), QuoteRejection::kUntrustedPlatform);
}

TEST_F(QuoteTest, AlteredCertificateIsRejected) {
  // Renaming the platform in its certificate breaks the root's signature.
  auto quote = ParseQuote(MakeQuote()).value();
  quote.platform_certificate.platform_id = "edge-2";
  EXPECT_EQ(Rejection(SerializeQuote(quote)), QuoteRejection::kUntrustedPlatform);
}

TEST_F(QuoteTest, QuoteSignedByAnotherPlatformThanCertifiedIsRejected) {
  // Mallory has a genuine certificate for her own platform, but signs with a
  // platform key that is not certified, then attaches the honest certificate.
  const PlatformCertificate honest_cert = cert_;
  platform_.emplace(PlatformKey::Generate().value());
  cert_ = IssuePlatformCertificate(*root_, platform_->public_key(), "mallory", 1).value();
  auto quote = ParseQuote(MakeQuote()).value();
  quote.platform_certificate = honest_cert;
  EXPECT_EQ(Rejection(SerializeQuote(quote)), QuoteRejection::kBadSignature);
}

TEST_F(QuoteTest, SignQuoteRefusesAForeignCertificate) {
  auto other = PlatformKey::Generate().value();
  auto quote = SignQuote(other, cert_, identity_, ReportData{});
  EXPECT_EQ(quote.status().code(), Status::Code::kInvalidArgument);
}

TEST_F(QuoteTest, TruncatedQuoteAtEveryLengthIsMalformed) {
  const Bytes good = MakeQuote();
  for (size_t len = 0; len < good.size(); ++len) {
    ASSERT_EQ(Rejection(Bytes(good.begin(), good.begin() + len)), QuoteRejection::kMalformed)
        << "length " << len;
  }
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_EQ(Rejection(longer), QuoteRejection::kMalformed);
}

TEST_F(QuoteTest, BadMagicVersionAndAttributesAreMalformed) {
  const Bytes good = MakeQuote();
  Bytes magic = good;
  magic[0] = 'X';
  EXPECT_EQ(Rejection(magic), QuoteRejection::kMalformed);
  Bytes version = good;
  version[4] = 2;
  EXPECT_EQ(Rejection(version), QuoteRejection::kMalformed);
  Bytes attributes = good;
  attributes[6 + 32 + 32 + 2 + 7] = 0x80;  // top byte of the attribute bits
  EXPECT_EQ(Rejection(attributes), QuoteRejection::kMalformed);
}

TEST_F(QuoteTest, GarbledQuoteIsAlwaysRejectedAndNeverCrashes) {
  const Bytes good = MakeQuote();
  std::mt19937 rng(20200511);
  std::set<QuoteRejection> seen;
  for (int iteration = 0; iteration < 200; ++iteration) {
    Bytes garbled = good;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) {
      // XOR with a non-zero value: every flip really changes the byte.
      garbled[rng() % garbled.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    }
    if (iteration % 4 == 0) garbled.resize(rng() % (garbled.size() + 8), 0);
    if (garbled == good) continue;
    const QuoteRejection why = Rejection(garbled);
    ASSERT_NE(why, QuoteRejection::kNone) << "iteration " << iteration << " accepted";
    seen.insert(why);
  }
  EXPECT_TRUE(seen.count(QuoteRejection::kMalformed));
  EXPECT_TRUE(seen.count(QuoteRejection::kBadSignature));
}

TEST_F(QuoteTest, EachFailureHasItsOwnReason) {
  std::set<std::string_view> names;
  for (int i = 1; i <= static_cast<int>(QuoteRejection::kDebugRefused); ++i) {
    names.insert(QuoteRejectionName(static_cast<QuoteRejection>(i)));
  }
  EXPECT_EQ(names.size(), 9u);
  auto s = Verify(Bytes{1, 2, 3}).status().WithContext("worker edge-1");
  EXPECT_EQ(RejectionOf(s), QuoteRejection::kMalformed);
  EXPECT_EQ(RejectionOf(Status::Ok()), QuoteRejection::kNone);
  EXPECT_EQ(RejectionOf(Status::PermissionDenied("other")), QuoteRejection::kNone);
}

TEST_F(QuoteTest, PolicyMustNameSomething) {
  QuotePolicy empty;
  EXPECT_EQ(QuoteVerifier::Create(root_->public_key(), empty).status().code(),
            Status::Code::kInvalidArgument);
  QuotePolicy any;
  any.allow_any_enclave = true;
  any.allow_simulation = true;
  EXPECT_EQ(Rejection(MakeQuote(), any), QuoteRejection::kNone);
}

TEST_F(QuoteTest, ShortNonceIsACallerError) {
  auto verifier = QuoteVerifier::Create(root_->public_key(), policy_).value();
  auto verified = verifier.Verify(MakeQuote(), crypto::ByteView(nonce_).first(8), binding_);
  EXPECT_EQ(verified.status().code(), Status::Code::kInvalidArgument);
}

TEST(EnclaveIdentityTest, MeasurementFramesCodeAndConfig) {
  const Bytes ab = {'a', 'b'}, c = {'c'}, a = {'a'}, bc = {'b', 'c'};
  EXPECT_NE(Measure(ab, c), Measure(a, bc));
  EXPECT_EQ(Measure(ab, c), Measure(ab, c));
  EXPECT_NE(Measure(ab, c), Measure(c, ab));
}

TEST(EnclaveIdentityTest, EnclaveSignatureChecksSignerAndMeasurement) {
  auto signer = Ed25519KeyPair::Generate().value();
  const Measurement m = Measure(Pattern(100), Pattern(10));
  auto sig = SignEnclave(signer, m, 7, kAttributeDebug).value();

  auto parsed = ParseEnclaveSignature(SerializeEnclaveSignature(sig));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto identity = VerifyEnclaveSignature(*parsed, m);
  ASSERT_TRUE(identity.ok());
  EXPECT_EQ(identity->mrsigner, SignerOf(signer.public_key()));
  EXPECT_EQ(identity->isv_svn, 7);
  EXPECT_TRUE(identity->debug());
  EXPECT_NE(DescribeIdentity(*identity).find("svn=7 attributes=debug"), std::string::npos);

  // Code changed after signing.
  EXPECT_EQ(VerifyEnclaveSignature(sig, Measure(Pattern(101), Pattern(10))).status().code(),
            Status::Code::kPermissionDenied);
  // Svn raised without the signer.
  auto raised = sig;
  raised.isv_svn = 8;
  EXPECT_EQ(VerifyEnclaveSignature(raised, m).status().code(), Status::Code::kPermissionDenied);
  // Unknown attributes are refused at signing and parsing.
  EXPECT_FALSE(SignEnclave(signer, m, 7, uint64_t{1} << 40).ok());
  const Bytes wire = SerializeEnclaveSignature(sig);
  for (size_t len = 0; len < wire.size(); ++len) {
    ASSERT_FALSE(ParseEnclaveSignature(crypto::ByteView(wire).first(len)).ok());
  }
}

// ---------------------------------------------------------------------------
// Owner commands.

OwnerCommand SyntheticProvision() {
  OwnerCommand c;
  c.kind = OwnerCommand::Kind::kProvision;
  c.partition_version = 7;
  c.routes.push_back(Route{Principal{Principal::Kind::kClient, {1}},
                           Principal{Principal::Kind::kEnclave, {2}}, 5});
  c.begin = 3;
  c.end = 9;
  c.threads = 2;
  c.model = Pattern(300);
  c.synthetic_weights = true;
  return c;
}

TEST(OwnerCommandTest, ProvisionRoundTripsWithAndWithoutSyntheticWeights) {
  for (bool synthetic : {true, false}) {
    OwnerCommand c = SyntheticProvision();
    c.synthetic_weights = synthetic;
    auto parsed = ParseOwnerCommand(SerializeOwnerCommand(c));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->kind, c.kind);
    EXPECT_EQ(parsed->partition_version, c.partition_version);
    EXPECT_EQ(parsed->routes, c.routes);
    EXPECT_EQ(parsed->begin, c.begin);
    EXPECT_EQ(parsed->end, c.end);
    EXPECT_EQ(parsed->threads, c.threads);
    EXPECT_EQ(parsed->seal, c.seal);
    EXPECT_EQ(parsed->model, c.model);
    EXPECT_EQ(parsed->synthetic_weights, synthetic);
  }
}

TEST(OwnerCommandTest, TruncatedOrGarbledCommandsAreRefused) {
  const Bytes wire = SerializeOwnerCommand(SyntheticProvision());
  for (size_t len = 0; len < wire.size(); ++len) {
    ASSERT_FALSE(ParseOwnerCommand(crypto::ByteView(wire).first(len)).ok()) << len;
  }
  Bytes longer = wire;
  longer.push_back(0);
  EXPECT_FALSE(ParseOwnerCommand(longer).ok());
  Bytes old_version = wire;
  old_version[0] = 2;
  EXPECT_EQ(ParseOwnerCommand(old_version).status().code(), Status::Code::kCorruption);
  // The flag follows the version, kind, partition version and routes.
  const size_t flag = 2 + 1 + 8 + 4 + (1 + 32) * 2 + 8 + 4 + 4;
  ASSERT_EQ(wire[flag], 1);
  Bytes garbled = wire;
  garbled[flag] = 2;
  auto refused = ParseOwnerCommand(garbled);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("synthetic_weights"), std::string::npos)
      << refused.status().ToString();
  // Never a crash, whichever byte is flipped.
  for (size_t i = 0; i < wire.size(); ++i) {
    Bytes flipped = wire;
    flipped[i] ^= 0x80;
    (void)ParseOwnerCommand(flipped);
  }
}

TEST(OwnerCommandTest, ShardsRoundTripAndOnlyWhereTheyMakeSense) {
  OwnerCommand c = SyntheticProvision();
  c.begin = 4;
  c.end = 5;
  c.shard_index = 2;
  c.shard_count = 3;
  auto parsed = ParseOwnerCommand(SerializeOwnerCommand(c));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->shard_index, 2);
  EXPECT_EQ(parsed->shard_count, 3);
  auto sealed = ParseSealedPartition(SerializeSealedPartition({}, c));
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  EXPECT_EQ(sealed->command.shard_index, 2);
  EXPECT_EQ(sealed->command.shard_count, 3);
  OwnerCommand routes;
  routes.kind = OwnerCommand::Kind::kSetRoutes;
  routes.check_range = true;
  routes.shard_index = 1;
  routes.shard_count = 2;
  auto parsed_routes = ParseOwnerCommand(SerializeOwnerCommand(routes));
  ASSERT_TRUE(parsed_routes.ok()) << parsed_routes.status().ToString();
  EXPECT_EQ(parsed_routes->shard_index, 1);
  EXPECT_EQ(parsed_routes->shard_count, 2);

  const std::vector<std::pair<int32_t, int32_t>> bad = {{0, 0}, {3, 3}, {0, kMaxShards + 1}};
  for (const auto& [index, count] : bad) {
    c.shard_index = index;
    c.shard_count = count;
    auto refused = ParseOwnerCommand(SerializeOwnerCommand(c));
    EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument) << index << "/" << count;
    routes.shard_index = index;
    routes.shard_count = count;
    EXPECT_FALSE(ParseOwnerCommand(SerializeOwnerCommand(routes)).ok()) << index << "/" << count;
  }
  // A shard of more than one layer.
  c.shard_index = 0;
  c.shard_count = 2;
  c.end = 6;
  auto wide = ParseOwnerCommand(SerializeOwnerCommand(c));
  ASSERT_FALSE(wide.ok());
  EXPECT_NE(wide.status().message().find("one layer"), std::string::npos)
      << wide.status().ToString();
}

TEST(OwnerCommandTest, SyntheticWeightsCannotBeSealed) {
  for (PartitionSeal seal : {PartitionSeal::kMrEnclave, PartitionSeal::kMrSigner}) {
    OwnerCommand c = SyntheticProvision();
    c.seal = seal;
    auto refused = ParseOwnerCommand(SerializeOwnerCommand(c));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("synthetic weights"), std::string::npos)
        << refused.status().ToString();
    c.synthetic_weights = false;
    EXPECT_TRUE(ParseOwnerCommand(SerializeOwnerCommand(c)).ok());
  }
}

// ---------------------------------------------------------------------------
// Key and certificate files.

class PlatformFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "serdab_trust_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const char* name : {"root.key", "root.pub", "platform.key", "platform.pub", "edge.cert",
                             "ca/root.key", "ca/root.pub", "ca"}) {
      std::remove((dir_ + "/" + name).c_str());
    }
    rmdir(dir_.c_str());
  }
  std::string Path(const char* name) const { return dir_ + "/" + name; }
  static mode_t Mode(const std::string& path) {
    struct stat st;
    EXPECT_EQ(stat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  static void WriteText(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }

  std::string dir_;
};

TEST_F(PlatformFilesTest, RootSavesAndLoads) {
  auto root = DeploymentRoot::Generate().value();
  ASSERT_TRUE(root.Save(Path("ca")).ok());
  EXPECT_EQ(Mode(Path("ca/root.key")), 0600u);
  EXPECT_EQ(Mode(Path("ca")), 0700u);
  auto loaded = DeploymentRoot::Load(Path("ca"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->public_key(), root.public_key());
  EXPECT_EQ(LoadRootPublicKey(Path("ca/root.pub")).value(), root.public_key());
  // Never overwrites a root key.
  auto second = DeploymentRoot::Generate().value();
  EXPECT_EQ(second.Save(Path("ca")).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(DeploymentRoot::Load(Path("ca")).value().public_key(), root.public_key());
}

TEST_F(PlatformFilesTest, PlatformKeySavesAndLoadsWithItsSealingSecret) {
  auto platform = PlatformKey::Generate().value();
  ASSERT_TRUE(platform.Save(dir_).ok());
  EXPECT_EQ(Mode(Path("platform.key")), 0600u);
  auto loaded = PlatformKey::Load(dir_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->public_key(), platform.public_key());
  EXPECT_TRUE(
      crypto::ConstantTimeEqual(loaded->sealing_secret().view(), platform.sealing_secret().view()));
  EXPECT_EQ(LoadPlatformPublicKey(Path("platform.pub")).value(), platform.public_key());
}

TEST_F(PlatformFilesTest, CertificateSavesAndLoads) {
  auto root = DeploymentRoot::Generate().value();
  auto platform = PlatformKey::Generate().value();
  auto cert = IssuePlatformCertificate(root, platform.public_key(), "edge-1", 42).value();
  ASSERT_TRUE(SavePlatformCertificate(cert, Path("edge.cert")).ok());
  auto loaded = LoadPlatformCertificate(Path("edge.cert"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->platform_id, "edge-1");
  EXPECT_EQ(loaded->issued_unix, 42u);
  EXPECT_TRUE(VerifyPlatformCertificate(*loaded, root.public_key()).ok());
  auto other_root = DeploymentRoot::Generate().value();
  EXPECT_EQ(VerifyPlatformCertificate(*loaded, other_root.public_key()).code(),
            Status::Code::kPermissionDenied);
}

TEST_F(PlatformFilesTest, BadPlatformIdsAreRefused) {
  auto root = DeploymentRoot::Generate().value();
  auto platform = PlatformKey::Generate().value();
  EXPECT_FALSE(IssuePlatformCertificate(root, platform.public_key(), "", 1).ok());
  EXPECT_FALSE(
      IssuePlatformCertificate(root, platform.public_key(), std::string(256, 'a'), 1).ok());
  EXPECT_FALSE(IssuePlatformCertificate(root, platform.public_key(), "edge\n1", 1).ok());
  EXPECT_TRUE(IssuePlatformCertificate(root, platform.public_key(), std::string(255, 'a'), 1).ok());
}

TEST_F(PlatformFilesTest, MissingFileNamesThePath) {
  auto loaded = DeploymentRoot::Load(dir_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Status::Code::kNotFound);
  EXPECT_NE(loaded.status().message().find(Path("root.key")), std::string::npos);
}

TEST_F(PlatformFilesTest, SecretKeyReadableByOthersIsRefused) {
  ASSERT_TRUE(DeploymentRoot::Generate().value().Save(dir_).ok());
  ASSERT_EQ(chmod(Path("root.key").c_str(), 0644), 0);
  auto loaded = DeploymentRoot::Load(dir_);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(loaded.status().message().find("0644"), std::string::npos);
  EXPECT_NE(loaded.status().message().find(Path("root.key")), std::string::npos);
}

TEST_F(PlatformFilesTest, WrongSizeOrKindIsRefused) {
  ASSERT_TRUE(DeploymentRoot::Generate().value().Save(dir_).ok());
  WriteText(Path("root.pub"), "serdab-root-public-key abcd\n");
  auto pub = LoadRootPublicKey(Path("root.pub"));
  ASSERT_FALSE(pub.ok());
  EXPECT_NE(pub.status().message().find("wrong size"), std::string::npos);
  EXPECT_NE(pub.status().message().find(Path("root.pub")), std::string::npos);

  WriteText(Path("root.pub"), "serdab-platform-public-key " + std::string(64, 'a') + "\n");
  pub = LoadRootPublicKey(Path("root.pub"));
  ASSERT_FALSE(pub.ok());
  EXPECT_NE(pub.status().message().find("not a serdab-root-public-key"), std::string::npos);

  // A root.pub that belongs to another root.
  WriteText(Path("root.pub"), "serdab-root-public-key " + std::string(64, 'a') + "\n");
  auto root = DeploymentRoot::Load(dir_);
  ASSERT_FALSE(root.ok());
  EXPECT_NE(root.status().message().find("does not match"), std::string::npos);
}

TEST_F(PlatformFilesTest, GarbledCertificateFileIsCorruption) {
  WriteText(Path("edge.cert"), "definitely not a certificate");
  auto cert = LoadPlatformCertificate(Path("edge.cert"));
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.status().code(), Status::Code::kCorruption);
  EXPECT_NE(cert.status().message().find(Path("edge.cert")), std::string::npos);
}

}  // namespace
}  // namespace serdab::attestation
