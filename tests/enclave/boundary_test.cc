// The enclave through its boundary only, as a worker host and a client see it:
// attestation, provisioning, encrypted frames, sealing, mutual sessions and a
// two-enclave pipeline, plus the host's attacks on each.
#include "enclave/boundary.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "cli/enclave_client.h"
#include "cli/zoo/model_zoo.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote.h"
#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"
#include "enclave/engine/tensor_codec.h"
#include "worker/enclave_host.h"

namespace serdab {
namespace {

using attestation::QuoteRejection;
using engine::Tensor;

class Deployment {
 public:
  Deployment() {
    char tmpl[] = "/tmp/serdab-boundary-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    root_ = std::make_unique<attestation::DeploymentRoot>(
        attestation::DeploymentRoot::Generate().value());
    auto platform = attestation::PlatformKey::Generate().value();
    EXPECT_TRUE(platform.Save(platform_dir()).ok());
    auto cert = attestation::IssuePlatformCertificate(*root_, platform.public_key(), "test", 0);
    EXPECT_TRUE(
        attestation::SavePlatformCertificate(*cert, platform_dir() + "/platform.cert").ok());
  }
  ~Deployment() { std::filesystem::remove_all(dir_); }

  std::string platform_dir() const { return dir_; }
  const crypto::Ed25519PublicKey& root() const { return root_->public_key(); }

  // A verifier that trusts any measurement from this deployment's platforms.
  attestation::QuoteVerifier Verifier() const {
    attestation::QuotePolicy policy;
    policy.allow_any_enclave = true;
    policy.allow_simulation = true;
    policy.allow_debug = true;
    return attestation::QuoteVerifier::Create(root(), policy).value();
  }

  // Small EPCs: each enclave's worst case needs two memory mappings per EPC
  // page, and several enclaves share this process's vm.max_map_count.
  std::string Config(double epc_mib = 16, bool with_peer_root = false) const {
    std::string text = "epc_mib = " + std::to_string(epc_mib) + "\ncost_profile = none\n";
    if (with_peer_root) text += "peer_root = " + crypto::HexEncode(root()) + "\n";
    return text;
  }

 private:
  std::string dir_;
  std::unique_ptr<attestation::DeploymentRoot> root_;
};

crypto::Bytes ZooBytes(const std::string& name) {
  const std::string s = zoo::BuildModel(name, 5).value();
  return crypto::Bytes(s.begin(), s.end());
}

Tensor RandomInput(const engine::Shape& shape, uint32_t seed) {
  Tensor t = Tensor::Create(engine::DataType::kFloat32, shape).value();
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

std::vector<Tensor> Native(const crypto::Bytes& model, int threads, int begin, int end,
                           const std::vector<Tensor>& in) {
  engine::ModelOptions options;
  options.num_threads = threads;
  std::string_view bytes(reinterpret_cast<const char*>(model.data()), model.size());
  auto m = engine::Model::FromGraph(engine::ImportOnnxBytes(bytes, "m").value(), options).value();
  return m->Run(begin, end < 0 ? m->num_layers() : end, in).value();
}

bool SameBits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

std::unique_ptr<worker::EnclaveHost> NewEnclave(const Deployment& d, const std::string& config) {
  auto host = worker::EnclaveHost::Create(config, d.platform_dir());
  EXPECT_TRUE(host.ok()) << host.status().ToString();
  return std::move(host).value();
}

// The enclave runs `name` and must give exactly the native engine's bits.
std::string RunInEnclaveAndCompare(const Deployment& d, const std::string& name, double epc_mib) {
  auto host = NewEnclave(d, d.Config(epc_mib));
  auto client = cli::EnclaveClient::Attest(host.get(), d.Verifier());
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  const crypto::Bytes model = ZooBytes(name);
  EXPECT_TRUE((*client)->Provision(model, 0, -1, 2).ok());
  const Tensor x = RandomInput({1, 3, 224, 224}, 1);
  auto out = (*client)->Infer({x});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (out.ok()) EXPECT_TRUE(SameBits((*out)[0], Native(model, 2, 0, -1, {x})[0])) << name;
  return host->StatsJson().value();
}

TEST(BoundaryTest, RunsModelsExactlyAsNative) {
  Deployment d;
  // mobilenet_v2 (13 MiB of weights) fits a 48 MiB EPC; resnet18's 45 MiB in
  // 16 MiB pages on every frame.
  const std::string fits = RunInEnclaveAndCompare(d, "mobilenet_v2", 48);
  EXPECT_NE(fits.find("\"evictions\":0,"), std::string::npos) << fits;
  const std::string pages = RunInEnclaveAndCompare(d, "resnet18", 16);
  EXPECT_NE(pages.find("\"evictions\":"), std::string::npos);
  EXPECT_EQ(pages.find("\"evictions\":0,"), std::string::npos) << pages;
}

TEST(BoundaryTest, ClientRefusesAnEnclaveOutsideItsPolicy) {
  Deployment d;
  auto host = NewEnclave(d, d.Config());
  attestation::QuotePolicy policy;
  policy.allowed_mrenclaves = {attestation::Measurement{}};  // not this enclave
  policy.allow_simulation = true;
  policy.allow_debug = true;
  auto verifier = attestation::QuoteVerifier::Create(d.root(), policy).value();
  auto client = cli::EnclaveClient::Attest(host.get(), verifier);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(attestation::RejectionOf(client.status()), QuoteRejection::kUnknownMeasurement);

  attestation::QuotePolicy production = policy;
  production.allowed_mrenclaves.clear();
  production.allow_any_enclave = true;
  production.allow_simulation = false;
  auto strict = attestation::QuoteVerifier::Create(d.root(), production).value();
  client = cli::EnclaveClient::Attest(host.get(), strict);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(attestation::RejectionOf(client.status()), QuoteRejection::kSimulationRefused);
}

// A client written out by hand, to reach the raw messages the host sees.
struct RawSession {
  uint64_t session = 0;
  crypto::SecureChannel channel;
};

RawSession OpenRaw(worker::EnclaveHost* host, const Deployment& d) {
  const attestation::Nonce nonce = attestation::NewNonce().value();
  auto evidence = attestation::ParseEvidence(host->GetQuote(nonce).value()).value();
  EXPECT_TRUE(d.Verifier().Verify(evidence.quote, nonce, evidence.ephemeral_key).ok());
  auto ours = crypto::X25519KeyPair::Generate().value();
  attestation::SessionRequest request;
  request.algorithm = crypto::PreferredAead();
  request.evidence_key = evidence.ephemeral_key;
  request.client_key = ours.public_key;
  const uint64_t session = host->OpenSession(attestation::SerializeSessionRequest(request)).value();
  auto channel = crypto::SecureChannel::Create(
                     crypto::ChannelRole::kInitiator, ours.secret_key, evidence.ephemeral_key,
                     attestation::ChannelTranscript({}, evidence.quote), request.algorithm)
                     .value();
  return RawSession{session, std::move(channel)};
}

crypto::Bytes SealTensors(RawSession* s, uint64_t stream, uint64_t seq, uint32_t hop,
                          const std::vector<Tensor>& tensors) {
  crypto::Bytes plain, message;
  engine::EncodeTensors(tensors, &plain);
  EXPECT_TRUE(s->channel.Seal(stream, seq, hop, plain, &message).ok());
  return message;
}

TEST(BoundaryTest, HostTamperingAndReplayAreDroppedAndTheStreamGoesOn) {
  Deployment d;
  auto host = NewEnclave(d, d.Config());
  RawSession s = OpenRaw(host.get(), d);
  const crypto::Bytes model = ZooBytes("tiny");
  attestation::ProvisionRequest p;
  p.model = model;
  crypto::Bytes message;
  ASSERT_TRUE(s.channel.Seal(0, 0, 0, attestation::SerializeProvisionRequest(p), &message).ok());
  ASSERT_TRUE(host->Provision(s.session, message).ok());

  const Tensor x = RandomInput({1, 3, 32, 32}, 2);
  const crypto::Bytes frame0 = SealTensors(&s, 1, 0, 0, {x});
  crypto::Bytes flipped = frame0;
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_FALSE(host->Process(s.session, 0, s.session, 1, 1, flipped).ok());
  EXPECT_FALSE(host->Process(s.session, 0, s.session, 1, 2, frame0).ok());  // another stream
  EXPECT_FALSE(host->Process(s.session, 5, s.session, 1, 1, frame0).ok());  // another hop
  crypto::Bytes truncated(frame0.begin(), frame0.begin() + frame0.size() / 3);
  EXPECT_FALSE(host->Process(s.session, 0, s.session, 1, 1, truncated).ok());
  auto reply = host->Process(s.session, 0, s.session, 1, 1, frame0);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_FALSE(host->Process(s.session, 0, s.session, 1, 1, frame0).ok());  // replay

  crypto::Bytes plain;
  auto opened = s.channel.Open(1, 1, *reply, &plain);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->frame_seq, 0u);
  auto out = engine::DecodeTensors(plain).value();
  EXPECT_TRUE(SameBits(out[0], Native(model, 1, 0, -1, {x})[0]));
  // The host sees the reply only as ciphertext: the result's bytes are not in it.
  EXPECT_EQ(std::search(reply->begin(), reply->end(), static_cast<const uint8_t*>(out[0].raw()),
                        static_cast<const uint8_t*>(out[0].raw()) + 16),
            reply->end());

  EXPECT_EQ(host->Process(99, 0, s.session, 1, 1, frame0).status().code(), Status::Code::kNotFound);
  // A later frame still goes through.
  auto next = host->Process(s.session, 0, s.session, 1, 1, SealTensors(&s, 1, 1, 0, {x}));
  EXPECT_TRUE(next.ok()) << next.status().ToString();
}

TEST(BoundaryTest, RefusesWorkBeforeProvisioningAndUnknownSessions) {
  Deployment d;
  auto host = NewEnclave(d, d.Config());
  RawSession s = OpenRaw(host.get(), d);
  auto r = host->Process(s.session, 0, s.session, 1, 1, crypto::Bytes(64));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  // An evidence key can open one session only.
  EXPECT_FALSE(host->OpenSession(crypto::Bytes{1, 0, 1}).ok());
}

TEST(BoundaryTest, SealedPartitionsOpenOnlyInTheSameEnclave) {
  Deployment d;
  const crypto::Bytes model = ZooBytes("tiny");
  crypto::Bytes blob;
  {
    auto host = NewEnclave(d, d.Config());
    auto client = cli::EnclaveClient::Attest(host.get(), d.Verifier()).value();
    auto sealed = client->Provision(model, 0, -1, 1, /*seal_policy=*/0);
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    blob = *sealed;
    ASSERT_FALSE(blob.empty());
  }
  // A restarted enclave with the same code and config restores it.
  auto again = NewEnclave(d, d.Config());
  ASSERT_TRUE(again->UnsealPartition(blob).ok());
  auto client = cli::EnclaveClient::Attest(again.get(), d.Verifier()).value();
  const Tensor x = RandomInput({1, 3, 32, 32}, 3);
  auto out = client->Infer({x});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(SameBits((*out)[0], Native(model, 1, 0, -1, {x})[0]));

  // Another configuration is another measurement: the blob does not open.
  auto other = NewEnclave(d, d.Config(24));
  EXPECT_FALSE(other->UnsealPartition(blob).ok());
  crypto::Bytes tampered = blob;
  tampered[tampered.size() - 20] ^= 0x80;
  EXPECT_FALSE(again->UnsealPartition(tampered).ok());
}

// Opens a mutual session between two enclaves through their hosts.
Status Connect(worker::EnclaveHost* a, worker::EnclaveHost* b, uint64_t* a_session,
               uint64_t* b_session) {
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes na, a->Challenge());
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes nb, b->Challenge());
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes ea, a->GetQuote(nb));  // a answers b's challenge
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes eb, b->GetQuote(na));
  attestation::SessionRequest ra;
  ra.kind = attestation::SessionRequest::Kind::kPeer;
  ra.algorithm = crypto::AeadAlgorithm::kXChaCha20Poly1305;
  ra.evidence_key = attestation::ParseEvidence(ea).value().ephemeral_key;
  ra.peer_evidence = eb;
  ra.challenge = na;
  ra.role = crypto::ChannelRole::kInitiator;
  attestation::SessionRequest rb = ra;
  rb.evidence_key = attestation::ParseEvidence(eb).value().ephemeral_key;
  rb.peer_evidence = ea;
  rb.challenge = nb;
  rb.role = crypto::ChannelRole::kResponder;
  SERDAB_ASSIGN_OR_RETURN(*a_session, a->OpenSession(attestation::SerializeSessionRequest(ra)));
  SERDAB_ASSIGN_OR_RETURN(*b_session, b->OpenSession(attestation::SerializeSessionRequest(rb)));
  return Status::Ok();
}

TEST(BoundaryTest, TwoEnclavePipelineMatchesTheWholeModel) {
  Deployment d;
  auto e1 = NewEnclave(d, d.Config(16, true));
  auto e2 = NewEnclave(d, d.Config(16, true));
  uint64_t s12 = 0, s21 = 0;
  ASSERT_TRUE(Connect(e1.get(), e2.get(), &s12, &s21).ok());

  const crypto::Bytes model = ZooBytes("tiny");
  RawSession c1 = OpenRaw(e1.get(), d);  // the camera into enclave 1
  RawSession c2 = OpenRaw(e2.get(), d);  // the result out of enclave 2
  const int cut = 5;
  for (auto [host, raw, begin, end] :
       {std::tuple{e1.get(), &c1, 0, cut}, std::tuple{e2.get(), &c2, cut, -1}}) {
    attestation::ProvisionRequest p;
    p.model = model;
    p.begin = begin;
    p.end = end;
    crypto::Bytes message;
    ASSERT_TRUE(
        raw->channel.Seal(0, 0, 0, attestation::SerializeProvisionRequest(p), &message).ok());
    ASSERT_TRUE(host->Provision(raw->session, message).ok());
  }
  const Tensor x = RandomInput({1, 3, 32, 32}, 4);
  auto mid = e1->Process(c1.session, 0, s12, 1, 7, SealTensors(&c1, 7, 0, 0, {x}));
  ASSERT_TRUE(mid.ok()) << mid.status().ToString();
  // The host cannot feed enclave 1's output anywhere but hop 1 of stream 7.
  EXPECT_FALSE(e2->Process(s21, 2, c2.session, 2, 7, *mid).ok());
  auto last = e2->Process(s21, 1, c2.session, 2, 7, *mid);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  crypto::Bytes plain;
  ASSERT_TRUE(c2.channel.Open(7, 2, *last, &plain).ok());
  auto out = engine::DecodeTensors(plain).value();
  EXPECT_TRUE(SameBits(out[0], Native(model, 1, 0, -1, {x})[0]));
}

TEST(BoundaryTest, MutualSessionsRefuseAnotherMeasurementAndUnissuedChallenges) {
  Deployment d;
  auto e1 = NewEnclave(d, d.Config(16, true));
  auto other = NewEnclave(d, d.Config(12, true));  // different config, different MRENCLAVE
  uint64_t a = 0, b = 0;
  Status s = Connect(e1.get(), other.get(), &a, &b);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(attestation::RejectionOf(s), QuoteRejection::kUnknownMeasurement) << s.ToString();

  auto e2 = NewEnclave(d, d.Config(16, true));
  auto evidence = e2->GetQuote(crypto::Bytes(32, 7)).value();  // a nonce e1 never issued
  attestation::SessionRequest r;
  r.kind = attestation::SessionRequest::Kind::kPeer;
  r.evidence_key =
      attestation::ParseEvidence(e1->GetQuote(crypto::Bytes(32, 1)).value()).value().ephemeral_key;
  r.peer_evidence = evidence;
  r.challenge = crypto::Bytes(32, 7);
  auto opened = e1->OpenSession(attestation::SerializeSessionRequest(r));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Status::Code::kPermissionDenied);
}

TEST(BoundaryTest, CountsEcallsAndChargesTheSgx1Profile) {
  Deployment d;
  auto host = NewEnclave(d, "epc_mib = 16\ncost_profile = sgx1\n");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(host->Challenge().ok());
  const std::string stats = host->StatsJson().value();
  // create + 5 challenges + this stats call
  EXPECT_NE(stats.find("\"ecalls\":7"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"ecall_cycles_charged\":60200"), std::string::npos) << stats;
}

TEST(BoundaryTest, BadConfigurationIsRefusedWithItsLine) {
  Deployment d;
  auto host = worker::EnclaveHost::Create("epc_mib = 16\nfoo = 1\n", d.platform_dir());
  ASSERT_FALSE(host.ok());
  EXPECT_NE(host.status().message().find("line 2"), std::string::npos) << host.status().message();
  EXPECT_NE(host.status().message().find("'foo'"), std::string::npos);
  host = worker::EnclaveHost::Create("epc_mib = 16\n", "/nonexistent/platform");
  ASSERT_FALSE(host.ok());
  EXPECT_NE(host.status().message().find("/nonexistent/platform"), std::string::npos);
}

}  // namespace
}  // namespace serdab
