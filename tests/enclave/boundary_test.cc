// The enclave through its boundary only, as a worker host and a client see it:
// attestation, provisioning, encrypted frames, sealing, mutual sessions and a
// two-enclave pipeline, plus the host's attacks on each.
#include "enclave/boundary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <onnx/onnx.pb.h>

#include "cli/enclave_client.h"
#include "cli/zoo/model_zoo.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote.h"
#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"
#include "enclave/engine/output_slice.h"
#include "enclave/engine/tensor_codec.h"
#include "tests/enclave/epc_range.h"
#include "tests/enclave/test_platform.h"
#include "worker/enclave_host.h"

namespace serdab {
namespace {

using attestation::QuoteRejection;
using engine::Tensor;

class Deployment : public TestPlatform {
 public:
  // Small EPCs: each enclave's worst case needs two memory mappings per EPC
  // page, and several enclaves share this process's vm.max_map_count.
  std::string Config(double epc_mib = 16, bool with_peer_root = false) const {
    std::string text = "epc_mib = " + std::to_string(epc_mib) + "\ncost_profile = none\n";
    if (with_peer_root) text += "peer_root = " + crypto::HexEncode(root()) + "\n";
    return text;
  }
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

crypto::Ed25519KeyPair NewIdentity() { return crypto::Ed25519KeyPair::Generate().value(); }

std::unique_ptr<worker::EnclaveHost> NewEnclave(const Deployment& d, const std::string& config) {
  auto host = worker::EnclaveHost::Create(config, d.platform_dir());
  EXPECT_TRUE(host.ok()) << host.status().ToString();
  return std::move(host).value();
}

// The enclave runs `name` and must give exactly the native engine's bits.
std::string RunInEnclaveAndCompare(const Deployment& d, const std::string& name, double epc_mib) {
  auto host = NewEnclave(d, d.Config(epc_mib));
  const auto owner = NewIdentity();
  auto client = cli::EnclaveClient::Attest(host.get(), d.Verifier(), owner, owner.public_key());
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  const crypto::Bytes model = ZooBytes(name);
  cli::PartitionSpec spec;
  spec.threads = 2;
  spec.routes = (*client)->SelfRoutes();
  EXPECT_TRUE((*client)->Provision(model, spec).ok());
  const Tensor x = RandomInput({1, 3, 224, 224}, 1);
  auto out = (*client)->Infer({x});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (out.ok()) {
    EXPECT_TRUE(SameBits((*out)[0], Native(model, 2, 0, -1, {x})[0])) << name;
  }
  return host->StatsJson().value();
}

TEST(BoundaryTest, RunsModelsExactlyAsNative) {
  Deployment d;
  // mobilenet_v2 (13 MiB of weights) fits a 48 MiB EPC; resnet18's 81 MiB
  // (45 of them its own, 36 Winograd-transformed copies) in 16 MiB pages on
  // every frame.
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
  const auto owner = NewIdentity();
  auto client = cli::EnclaveClient::Attest(host.get(), verifier, owner, owner.public_key());
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(attestation::RejectionOf(client.status()), QuoteRejection::kUnknownMeasurement);

  attestation::QuotePolicy production = policy;
  production.allowed_mrenclaves.clear();
  production.allow_any_enclave = true;
  production.allow_simulation = false;
  auto strict = attestation::QuoteVerifier::Create(d.root(), production).value();
  client = cli::EnclaveClient::Attest(host.get(), strict, owner, owner.public_key());
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(attestation::RejectionOf(client.status()), QuoteRejection::kSimulationRefused);
}

// A client written out by hand, to reach the raw messages the host sees.
struct RawSession {
  uint64_t session = 0;
  crypto::SecureChannel channel;
  attestation::Principal principal;  // the client, as the enclave knows it
  attestation::Principal enclave;    // the enclave, as its peers know it
};

// Opens a client session as `identity`; `signer` signs it (the identity's own
// key unless a test forges the signature).
Result<RawSession> TryOpenRaw(worker::EnclaveHost* host, const Deployment& d,
                              const crypto::Ed25519KeyPair& identity,
                              const crypto::Ed25519KeyPair* signer = nullptr) {
  const attestation::Nonce nonce = attestation::NewNonce().value();
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes evidence_bytes, host->GetQuote(nonce));
  auto evidence = attestation::ParseEvidence(evidence_bytes).value();
  EXPECT_TRUE(d.Verifier().Verify(evidence.quote, nonce, evidence.binding).ok());
  auto ours = crypto::X25519KeyPair::Generate().value();
  attestation::SessionRequest request;
  request.algorithm = crypto::PreferredAead();
  request.evidence_key = evidence.binding.ephemeral_key;
  request.client_key = ours.public_key;
  request.client_identity = identity.public_key();
  const auto transcript = attestation::ChannelTranscript({}, evidence.quote);
  request.client_signature = (signer ? *signer : identity)
                                 .Sign(attestation::kClientSessionContext,
                                       attestation::ClientSessionStatement(
                                           transcript, request.evidence_key, request.client_key));
  SERDAB_ASSIGN_OR_RETURN(uint64_t session,
                          host->OpenSession(attestation::SerializeSessionRequest(request)));
  auto channel =
      crypto::SecureChannel::Create(crypto::ChannelRole::kInitiator, ours.secret_key,
                                    evidence.binding.ephemeral_key, transcript, request.algorithm)
          .value();
  return RawSession{session,
                    std::move(channel),
                    {attestation::Principal::Kind::kClient, identity.public_key()},
                    {attestation::Principal::Kind::kEnclave, evidence.binding.instance}};
}

RawSession OpenRaw(worker::EnclaveHost* host, const Deployment& d,
                   const crypto::Ed25519KeyPair& identity) {
  auto raw = TryOpenRaw(host, d, identity);
  EXPECT_TRUE(raw.ok()) << raw.status().ToString();
  return std::move(raw).value();
}

crypto::Bytes SealTensors(RawSession* s, uint64_t stream, uint64_t seq, uint32_t hop,
                          const std::vector<Tensor>& tensors) {
  crypto::Bytes plain, message;
  engine::EncodeTensors(tensors, &plain);
  EXPECT_TRUE(s->channel.Seal(stream, seq, hop, plain, &message).ok());
  return message;
}

attestation::OwnerCommand ProvisionCommand(const crypto::Bytes& model,
                                           std::vector<attestation::Route> routes,
                                           uint64_t version = 1, int begin = 0, int end = -1) {
  attestation::OwnerCommand c;
  c.kind = attestation::OwnerCommand::Kind::kProvision;
  c.partition_version = version;
  c.routes = std::move(routes);
  c.begin = begin;
  c.end = end;
  c.model = model;
  return c;
}

Result<crypto::Bytes> SendCommand(worker::EnclaveHost* host, RawSession* s,
                                  const attestation::OwnerCommand& command) {
  crypto::Bytes message;
  SERDAB_RETURN_IF_ERROR(
      s->channel.Seal(0, 0, 0, attestation::SerializeOwnerCommand(command), &message));
  return host->Provision(s->session, message);
}

std::vector<attestation::Route> SelfRoute(const RawSession& s) {
  return {attestation::Route{s.principal, s.principal, 0}};
}

// Runs one frame from `s` back to `s` on stream 1 and decodes the result.
Result<std::vector<Tensor>> RoundTrip(worker::EnclaveHost* host, RawSession* s, uint64_t seq,
                                      const Tensor& x) {
  SERDAB_ASSIGN_OR_RETURN(crypto::Bytes reply, host->Process(s->session, 0, s->session, 1, 1,
                                                             SealTensors(s, 1, seq, 0, {x})));
  crypto::Bytes plain;
  SERDAB_RETURN_IF_ERROR(s->channel.Open(1, 1, reply, &plain).status());
  return engine::DecodeTensors(plain);
}

// A provisioned enclave: `owner` runs the tiny model for itself.
struct Provisioned {
  std::unique_ptr<worker::EnclaveHost> host;
  crypto::Ed25519KeyPair identity;
  RawSession owner;
  crypto::Bytes model;
};

Provisioned ProvisionTiny(const Deployment& d) {
  auto host = NewEnclave(d, d.Config());
  auto identity = NewIdentity();
  RawSession owner = OpenRaw(host.get(), d, identity);
  crypto::Bytes model = ZooBytes("tiny");
  auto sealed = SendCommand(host.get(), &owner, ProvisionCommand(model, SelfRoute(owner)));
  EXPECT_TRUE(sealed.ok()) << sealed.status().ToString();
  return Provisioned{std::move(host), std::move(identity), std::move(owner), std::move(model)};
}

TEST(BoundaryTest, HostTamperingAndReplayAreDroppedAndTheStreamGoesOn) {
  Deployment d;
  Provisioned p = ProvisionTiny(d);
  RawSession& s = p.owner;
  worker::EnclaveHost* host = p.host.get();

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
  EXPECT_TRUE(SameBits(out[0], Native(p.model, 1, 0, -1, {x})[0]));
  // The host sees the reply only as ciphertext: the result's bytes are not in it.
  EXPECT_EQ(std::search(reply->begin(), reply->end(), static_cast<const uint8_t*>(out[0].raw()),
                        static_cast<const uint8_t*>(out[0].raw()) + 16),
            reply->end());

  EXPECT_EQ(host->Process(99, 0, s.session, 1, 1, frame0).status().code(), Status::Code::kNotFound);
  // A later frame still goes through.
  auto next = host->Process(s.session, 0, s.session, 1, 1, SealTensors(&s, 1, 1, 0, {x}));
  EXPECT_TRUE(next.ok()) << next.status().ToString();
}

// The data plane hands a frame over in the pieces the network delivered it
// in: the boundary gathers them, and the result is the same as for one piece.
TEST(BoundaryTest, AFrameInPiecesIsGatheredAsItIsCopiedIn) {
  Deployment d;
  Provisioned p = ProvisionTiny(d);
  RawSession& s = p.owner;
  const Tensor x = RandomInput({1, 3, 32, 32}, 3);
  const crypto::Bytes frame = SealTensors(&s, 1, 0, 0, {x});
  worker::Payload pieces;
  for (size_t at = 0; at < frame.size(); at += 1000) {
    pieces.parts.push_back(
        crypto::ByteView(frame).subspan(at, std::min<size_t>(1000, frame.size() - at)));
  }
  pieces.parts.insert(pieces.parts.begin() + 1, crypto::ByteView());  // an empty piece is fine
  auto reply = p.host->ProcessFrame(s.session, 0, {s.session}, 1, 1, pieces);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ASSERT_EQ(reply->size(), 1u);
  ASSERT_EQ(reply->front().parts.size(), 1u);
  crypto::Bytes plain;
  ASSERT_TRUE(s.channel.Open(1, 1, reply->front().parts[0], &plain).ok());
  EXPECT_TRUE(SameBits(engine::DecodeTensors(plain).value()[0], Native(p.model, 1, 0, -1, {x})[0]));
  // A piece short, and the frame is refused like any truncated message.
  pieces.parts.pop_back();
  EXPECT_FALSE(p.host->ProcessFrame(s.session, 0, {s.session}, 1, 1, pieces).ok());
}

TEST(BoundaryTest, RefusesWorkBeforeProvisioningAndUnknownSessions) {
  Deployment d;
  auto host = NewEnclave(d, d.Config());
  RawSession s = OpenRaw(host.get(), d, NewIdentity());
  auto r = host->Process(s.session, 0, s.session, 1, 1, crypto::Bytes(64));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  // An evidence key can open one session only.
  EXPECT_FALSE(host->OpenSession(crypto::Bytes{1, 0, 1}).ok());
}

// Anyone who reaches a worker's data plane can open sessions; the enclave
// keeps a bounded number, refuses more, and takes new ones once some close.
TEST(BoundaryTest, OpenSessionsAreBounded) {
  Deployment d;
  auto host = NewEnclave(d, d.Config());
  const auto identity = NewIdentity();
  std::vector<uint64_t> sessions;
  for (int i = 0; i < 1024; ++i) sessions.push_back(OpenRaw(host.get(), d, identity).session);
  auto nonce = attestation::NewNonce().value();
  auto evidence = attestation::ParseEvidence(host->GetQuote(nonce).value()).value();
  auto request = attestation::OpenClientSession(evidence, identity).value().request;
  auto refused = host->OpenSession(request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kResourceExhausted);
  ASSERT_TRUE(host->CloseSession(sessions.back()).ok());
  EXPECT_TRUE(host->OpenSession(request).ok());
}

// Finding 1: the host opens sessions of its own and names whatever sessions
// it likes in provision and process. Each attempt is refused, nothing is
// decrypted for it, and the owner's stream goes on.
TEST(BoundaryTest, HostCannotReprovisionRerouteOrProbeAnOwnedEnclave) {
  Deployment d;
  Provisioned p = ProvisionTiny(d);
  worker::EnclaveHost* host = p.host.get();
  RawSession attacker = OpenRaw(host, d, NewIdentity());

  // Re-provisioning (an identity model, say) as anyone but the owner.
  auto reprovision = SendCommand(host, &attacker, ProvisionCommand(p.model, SelfRoute(attacker)));
  ASSERT_FALSE(reprovision.ok());
  EXPECT_EQ(reprovision.status().code(), Status::Code::kPermissionDenied);
  attestation::OwnerCommand routes;
  routes.kind = attestation::OwnerCommand::Kind::kSetRoutes;
  routes.partition_version = 1;
  routes.routes = SelfRoute(attacker);
  EXPECT_EQ(SendCommand(host, &attacker, routes).status().code(), Status::Code::kPermissionDenied);

  const Tensor x = RandomInput({1, 3, 32, 32}, 5);
  // The victim's frame, with the result routed to the attacker's session.
  const crypto::Bytes victim_frame = SealTensors(&p.owner, 1, 0, 0, {x});
  auto stolen = host->Process(p.owner.session, 0, attacker.session, 1, 1, victim_frame);
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.status().code(), Status::Code::kPermissionDenied) << stolen.status().ToString();
  // Chosen inputs from the attacker's session, to the attacker or the owner.
  const crypto::Bytes chosen = SealTensors(&attacker, 1, 0, 0, {x});
  EXPECT_EQ(host->Process(attacker.session, 0, attacker.session, 1, 1, chosen).status().code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(host->Process(attacker.session, 0, p.owner.session, 1, 1, chosen).status().code(),
            Status::Code::kPermissionDenied);
  // Stream 0 carries owner commands only.
  EXPECT_EQ(host->Process(p.owner.session, 0, p.owner.session, 1, 0, victim_frame).status().code(),
            Status::Code::kInvalidArgument);

  // None of it consumed the victim's frame or changed the model.
  auto reply = host->Process(p.owner.session, 0, p.owner.session, 1, 1, victim_frame);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  crypto::Bytes plain;
  ASSERT_TRUE(p.owner.channel.Open(1, 1, *reply, &plain).ok());
  EXPECT_TRUE(SameBits(engine::DecodeTensors(plain).value()[0], Native(p.model, 1, 0, -1, {x})[0]));
}

// Finding 1: a session claims an identity only with that identity's key.
TEST(BoundaryTest, ASessionCannotClaimAnotherClientsIdentity) {
  Deployment d;
  Provisioned p = ProvisionTiny(d);
  const auto forger = NewIdentity();
  auto forged = TryOpenRaw(p.host.get(), d, p.identity, &forger);
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.status().code(), Status::Code::kPermissionDenied);
}

// Finding 1: the host claims a fresh enclave before its owner does. The quote
// says who owns it, so the real owner and its cameras refuse it, and it never
// sees their model or frames.
TEST(BoundaryTest, AnEnclaveClaimedByItsHostIsRefusedByTheRealOwnerAndItsClients) {
  Deployment d;
  auto host = NewEnclave(d, d.Config());
  RawSession squatter = OpenRaw(host.get(), d, NewIdentity());
  ASSERT_TRUE(
      SendCommand(host.get(), &squatter, ProvisionCommand(ZooBytes("tiny"), SelfRoute(squatter)))
          .ok());
  const auto owner = NewIdentity();
  auto as_owner = cli::EnclaveClient::Attest(host.get(), d.Verifier(), owner, owner.public_key());
  ASSERT_FALSE(as_owner.ok());
  EXPECT_EQ(as_owner.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(as_owner.status().message().find("claimed by its host"), std::string::npos);
  auto camera =
      cli::EnclaveClient::Attest(host.get(), d.Verifier(), NewIdentity(), owner.public_key());
  ASSERT_FALSE(camera.ok());
  EXPECT_EQ(camera.status().code(), Status::Code::kPermissionDenied);

  // A camera refuses an enclave that has no owner yet as well.
  auto fresh = NewEnclave(d, d.Config());
  auto early =
      cli::EnclaveClient::Attest(fresh.get(), d.Verifier(), NewIdentity(), owner.public_key());
  EXPECT_EQ(early.status().code(), Status::Code::kPermissionDenied);
}

// Finding 3: ECALL buffers that point into enclave memory. Reading them
// would make error messages a read oracle on the EPC; writing them would
// overwrite enclave memory.
struct Mapping {
  uint8_t* begin = nullptr;
  size_t size = 0;
};

std::vector<Mapping> MappingsNamed(const std::string& needle) {
  std::vector<Mapping> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(needle) == std::string::npos) continue;
    unsigned long long begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx", &begin, &end) == 2) {
      out.push_back({reinterpret_cast<uint8_t*>(begin), static_cast<size_t>(end - begin)});
    }
  }
  return out;
}

TEST(BoundaryTest, BuffersInsideEnclaveMemoryAreRefused) {
  Deployment d;
  Provisioned p = ProvisionTiny(d);
  const EpcRange epc = EpcRange::FromStats(p.host->StatsJson().value());
  const auto image = MappingsNamed("libserdab_enclave.so");
  ASSERT_NE(epc.begin, nullptr);
  ASSERT_FALSE(image.empty());
  const uint64_t handle = p.host->handle();
  constexpr size_t kPage = 4096;
  const Mapping epc_first{epc.begin, kPage}, epc_last{epc.begin + epc.size - kPage, kPage};
  for (const Mapping& m : {epc_first, epc_last, image.front(), image.back()}) {
    size_t size = 0;
    uint64_t session = 0;
    // Inputs read from enclave memory.
    EXPECT_EQ(serdab_ecall_open_session(handle, m.begin + 64, 40, &session),
              static_cast<int>(Status::Code::kInvalidArgument));
    EXPECT_NE(std::string(serdab_ecall_last_error()).find("enclave memory"), std::string::npos);
    // A message piece there, after one outside; and the pieces' descriptors there.
    static const uint8_t outside[16] = {};
    const serdab_buffer pieces[] = {{outside, sizeof(outside)}, {m.begin, 4096}};
    const serdab_session to = p.owner.session;
    EXPECT_EQ(serdab_ecall_process(handle, p.owner.session, 0, &to, 1, 1, 1, pieces, 2, nullptr, 0,
                                   &size),
              static_cast<int>(Status::Code::kInvalidArgument));
    EXPECT_NE(std::string(serdab_ecall_last_error()).find("enclave memory"), std::string::npos);
    EXPECT_EQ(
        serdab_ecall_process(handle, p.owner.session, 0, &to, 1, 1, 1,
                             reinterpret_cast<const serdab_buffer*>(m.begin), 1, nullptr, 0, &size),
        static_cast<int>(Status::Code::kInvalidArgument));
    // The out sessions' list there.
    EXPECT_EQ(serdab_ecall_process(handle, p.owner.session, 0,
                                   reinterpret_cast<const serdab_session*>(m.begin), 1, 1, 1,
                                   pieces, 1, nullptr, 0, &size),
              static_cast<int>(Status::Code::kInvalidArgument));
    EXPECT_EQ(serdab_ecall_unseal_partition(handle, m.begin, 4096),
              static_cast<int>(Status::Code::kInvalidArgument));
    // Outputs written into enclave memory, and a buffer that straddles it.
    EXPECT_EQ(serdab_ecall_stats(handle, m.begin, 4096, &size),
              static_cast<int>(Status::Code::kInvalidArgument));
    EXPECT_EQ(serdab_ecall_stats(handle, m.begin - 16, 64, &size),
              static_cast<int>(Status::Code::kInvalidArgument));
    EXPECT_EQ(serdab_ecall_challenge(handle, nullptr, 0, reinterpret_cast<size_t*>(m.begin)),
              static_cast<int>(Status::Code::kInvalidArgument));
  }
  // A buffer that wraps around the address space.
  size_t size = 0;
  uint8_t byte = 0;
  EXPECT_EQ(serdab_ecall_stats(handle, &byte, SIZE_MAX, &size),
            static_cast<int>(Status::Code::kInvalidArgument));
  // The enclave still works.
  EXPECT_TRUE(RoundTrip(p.host.get(), &p.owner, 0, RandomInput({1, 3, 32, 32}, 6)).ok());
}

TEST(BoundaryTest, ErrorsDoNotEchoUntrustedBytes) {
  Deployment d;
  auto host = NewEnclave(d, d.Config());
  // A session request whose version and kind bytes carry "secrets" 0xbeef and 0x7b.
  const crypto::Bytes request = {0xef, 0xbe, 0x7b};
  auto opened = host->OpenSession(request);
  ASSERT_FALSE(opened.ok());
  for (const char* leak : {"48879", "beef", "123", "7b"}) {
    EXPECT_EQ(opened.status().message().find(leak), std::string::npos) << opened.status().message();
  }
}

// Finding 5: absurd values from the owner or the model are errors, not
// crashes, and leave the enclave as it was (finding 9).
TEST(BoundaryTest, AbsurdThreadCountsAndBadModelsFailCleanlyAndKeepThePartition) {
  Deployment d;
  Provisioned p = ProvisionTiny(d);
  auto command = ProvisionCommand(p.model, SelfRoute(p.owner), 2);
  command.threads = 2147483647;
  auto threads = SendCommand(p.host.get(), &p.owner, command);
  ASSERT_FALSE(threads.ok());
  EXPECT_EQ(threads.status().code(), Status::Code::kInvalidArgument) << threads.status().ToString();

  crypto::Bytes garbage(4096, 0x42);
  auto bad = SendCommand(p.host.get(), &p.owner, ProvisionCommand(garbage, SelfRoute(p.owner), 2));
  ASSERT_FALSE(bad.ok());
  // A model that declares a 2^40-element weight and carries 16 bytes of it
  // (this threw std::bad_alloc inside the enclave).
  onnx::ModelProto huge;
  huge.set_ir_version(8);
  huge.add_opset_import()->set_version(13);
  onnx::GraphProto* graph = huge.mutable_graph();
  onnx::TensorProto* w = graph->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(int64_t{1} << 20);
  w->add_dims(int64_t{1} << 20);
  w->set_raw_data(std::string(16, '\1'));
  onnx::NodeProto* relu = graph->add_node();
  relu->set_op_type("Relu");
  relu->add_input("w");
  relu->add_output("y");
  graph->add_output()->set_name("y");
  const std::string huge_bytes = huge.SerializeAsString();
  auto refused = SendCommand(
      p.host.get(), &p.owner,
      ProvisionCommand(crypto::Bytes(huge_bytes.begin(), huge_bytes.end()), SelfRoute(p.owner), 2));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().code(), Status::Code::kInternal) << refused.status().ToString();
  // The old partition still serves frames, exactly.
  const Tensor x = RandomInput({1, 3, 32, 32}, 7);
  auto out = RoundTrip(p.host.get(), &p.owner, 0, x);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(SameBits((*out)[0], Native(p.model, 1, 0, -1, {x})[0]));
  EXPECT_NE(p.host->StatsJson().value().find("\"partition_version\":1,"), std::string::npos);
}

// Finding 9: a frame that authenticates but fails (here: the wrong shape) is
// not counted as received, so an earlier frame still opens after it.
TEST(BoundaryTest, AFailedFrameDoesNotAdvanceTheReceiveCounter) {
  Deployment d;
  Provisioned p = ProvisionTiny(d);
  const Tensor x = RandomInput({1, 3, 32, 32}, 8);
  const crypto::Bytes good = SealTensors(&p.owner, 1, 0, 0, {x});  // counter 0
  const crypto::Bytes wrong = SealTensors(&p.owner, 1, 1, 0, {RandomInput({1, 3}, 9)});  // 1
  EXPECT_FALSE(p.host->Process(p.owner.session, 0, p.owner.session, 1, 1, wrong).ok());
  auto reply = p.host->Process(p.owner.session, 0, p.owner.session, 1, 1, good);
  EXPECT_TRUE(reply.ok()) << reply.status().ToString();
}

// Finding 7: an unsigned enclave's signer is all zero, shared by every
// unsigned enclave; sealing to it is refused.
TEST(BoundaryTest, UnsignedEnclavesCannotSealToTheirSigner) {
  Deployment d;
  auto host = NewEnclave(d, d.Config());
  RawSession s = OpenRaw(host.get(), d, NewIdentity());
  auto command = ProvisionCommand(ZooBytes("tiny"), SelfRoute(s));
  command.seal = attestation::PartitionSeal::kMrSigner;
  auto sealed = SendCommand(host.get(), &s, command);
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(sealed.status().message().find("signed enclave"), std::string::npos);
}

TEST(BoundaryTest, SealedPartitionsOpenOnlyInTheSameEnclaveAndForTheSameOwner) {
  Deployment d;
  const crypto::Bytes model = ZooBytes("tiny");
  const auto owner = NewIdentity();
  crypto::Bytes blob;
  {
    auto host = NewEnclave(d, d.Config());
    RawSession s = OpenRaw(host.get(), d, owner);
    auto command = ProvisionCommand(model, SelfRoute(s), 3);
    command.seal = attestation::PartitionSeal::kMrEnclave;
    auto sealed = SendCommand(host.get(), &s, command);
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    blob = *sealed;
    ASSERT_FALSE(blob.empty());
  }
  // A restarted enclave with the same code and config restores it, and with
  // it its owner: no frame moves until the owner re-issues its routes.
  auto again = NewEnclave(d, d.Config());
  ASSERT_TRUE(again->UnsealPartition(blob).ok());
  auto client = cli::EnclaveClient::Attest(again.get(), d.Verifier(), owner, owner.public_key());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  const Tensor x = RandomInput({1, 3, 32, 32}, 3);
  EXPECT_EQ((*client)->Infer({x}).status().code(), Status::Code::kPermissionDenied);
  ASSERT_TRUE((*client)->SetRoutes(3, (*client)->SelfRoutes()).ok());
  auto out = (*client)->Infer({x});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(SameBits((*out)[0], Native(model, 1, 0, -1, {x})[0]));

  // Another configuration is another measurement: the blob does not open.
  auto other = NewEnclave(d, d.Config(24));
  EXPECT_FALSE(other->UnsealPartition(blob).ok());
  crypto::Bytes tampered = blob;
  tampered[tampered.size() - 20] ^= 0x80;
  EXPECT_FALSE(again->UnsealPartition(tampered).ok());
  // An enclave someone else owns does not take the owner's partition.
  Provisioned squatted = ProvisionTiny(d);
  EXPECT_EQ(squatted.host->UnsealPartition(blob).code(), Status::Code::kPermissionDenied);
}

// Finding 8: the host keeps an old sealed partition and restores it after the
// owner provisioned a newer one.
TEST(BoundaryTest, RolledBackSealedPartitionsAreCaught) {
  Deployment d;
  const auto owner = NewIdentity();
  auto host = NewEnclave(d, d.Config());
  RawSession s = OpenRaw(host.get(), d, owner);
  std::vector<crypto::Bytes> blobs;
  for (uint64_t version : {1, 2}) {
    auto command = ProvisionCommand(ZooBytes("tiny"), SelfRoute(s), version);
    command.seal = attestation::PartitionSeal::kMrEnclave;
    blobs.push_back(SendCommand(host.get(), &s, command).value());
  }
  // In the running enclave: refused outright.
  EXPECT_EQ(host->UnsealPartition(blobs[0]).code(), Status::Code::kFailedPrecondition);
  // In a restarted one it loads, but the owner's routes name version 2, so
  // it never serves a frame.
  auto restarted = NewEnclave(d, d.Config());
  ASSERT_TRUE(restarted->UnsealPartition(blobs[0]).ok());
  auto client =
      cli::EnclaveClient::Attest(restarted.get(), d.Verifier(), owner, owner.public_key());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Status routed = (*client)->SetRoutes(2, (*client)->SelfRoutes());
  EXPECT_EQ(routed.code(), Status::Code::kFailedPrecondition) << routed.ToString();
  EXPECT_NE(routed.message().find("rolled-back"), std::string::npos);
  EXPECT_FALSE((*client)->Infer({RandomInput({1, 3, 32, 32}, 1)}).ok());
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
  ra.evidence_key = attestation::ParseEvidence(ea).value().binding.ephemeral_key;
  ra.peer_evidence = eb;
  ra.challenge = na;
  ra.role = crypto::ChannelRole::kInitiator;
  attestation::SessionRequest rb = ra;
  rb.evidence_key = attestation::ParseEvidence(eb).value().binding.ephemeral_key;
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
  const auto owner = NewIdentity();
  const auto camera = NewIdentity();
  RawSession o1 = OpenRaw(e1.get(), d, owner);
  RawSession o2 = OpenRaw(e2.get(), d, owner);
  RawSession c1 = OpenRaw(e1.get(), d, camera);  // the camera into enclave 1
  RawSession c2 = OpenRaw(e2.get(), d, camera);  // the result out of enclave 2
  const crypto::Bytes model = ZooBytes("tiny");
  const int cut = 5;
  ASSERT_TRUE(SendCommand(e1.get(), &o1,
                          ProvisionCommand(model, {{c1.principal, o2.enclave, 7}}, 1, 0, cut))
                  .ok());
  ASSERT_TRUE(SendCommand(e2.get(), &o2,
                          ProvisionCommand(model, {{o1.enclave, c2.principal, 7}}, 1, cut, -1))
                  .ok());
  uint64_t s12 = 0, s21 = 0;
  ASSERT_TRUE(Connect(e1.get(), e2.get(), &s12, &s21).ok());

  const Tensor x = RandomInput({1, 3, 32, 32}, 4);
  auto mid = e1->Process(c1.session, 0, s12, 1, 7, SealTensors(&c1, 7, 0, 0, {x}));
  ASSERT_TRUE(mid.ok()) << mid.status().ToString();
  // The host cannot feed enclave 1's output anywhere but hop 1 of stream 7.
  EXPECT_FALSE(e2->Process(s21, 2, c2.session, 2, 7, *mid).ok());
  // Nor send the feature map back to the camera from enclave 2 on another stream.
  EXPECT_EQ(e2->Process(s21, 1, c2.session, 2, 8, *mid).status().code(),
            Status::Code::kPermissionDenied);
  auto last = e2->Process(s21, 1, c2.session, 2, 7, *mid);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  crypto::Bytes plain;
  ASSERT_TRUE(c2.channel.Open(7, 2, *last, &plain).ok());
  auto out = engine::DecodeTensors(plain).value();
  EXPECT_TRUE(SameBits(out[0], Native(model, 1, 0, -1, {x})[0]));
}

TEST(BoundaryTest, MutualSessionsNeedTheOwnersRouteAndAnIssuedChallenge) {
  Deployment d;
  const auto owner = NewIdentity();
  auto e1 = NewEnclave(d, d.Config(16, true));
  auto e2 = NewEnclave(d, d.Config(16, true));
  RawSession o1 = OpenRaw(e1.get(), d, owner);
  RawSession o2 = OpenRaw(e2.get(), d, owner);
  const crypto::Bytes model = ZooBytes("tiny");
  // e1 is routed to e2, but e2 to no peer: e2 refuses the session.
  ASSERT_TRUE(
      SendCommand(e1.get(), &o1, ProvisionCommand(model, {{o1.principal, o2.enclave, 0}})).ok());
  ASSERT_TRUE(SendCommand(e2.get(), &o2, ProvisionCommand(model, SelfRoute(o2))).ok());
  uint64_t a = 0, b = 0;
  Status s = Connect(e1.get(), e2.get(), &a, &b);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  // An enclave of another owner is refused even when routed.
  auto rogue = NewEnclave(d, d.Config(16, true));
  RawSession r = OpenRaw(rogue.get(), d, NewIdentity());
  ASSERT_TRUE(
      SendCommand(rogue.get(), &r, ProvisionCommand(model, {{o1.enclave, r.principal, 0}})).ok());
  s = Connect(e1.get(), rogue.get(), &a, &b);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();

  auto evidence = e2->GetQuote(crypto::Bytes(32, 7)).value();  // a nonce e1 never issued
  attestation::SessionRequest req;
  req.kind = attestation::SessionRequest::Kind::kPeer;
  req.evidence_key = attestation::ParseEvidence(e1->GetQuote(crypto::Bytes(32, 1)).value())
                         .value()
                         .binding.ephemeral_key;
  req.peer_evidence = evidence;
  req.challenge = crypto::Bytes(32, 7);
  auto opened = e1->OpenSession(attestation::SerializeSessionRequest(req));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Status::Code::kPermissionDenied);
}

// Weights never leave the owner to be profiled: the enclave times an
// architecture-only model with synthetic weights, and only when told to.
TEST(BoundaryTest, ProfilesAnArchitectureOnlyModelWithSyntheticWeights) {
  Deployment d;
  const std::string real = zoo::BuildModel("tiny", 5).value();
  const std::string arch = engine::ArchitectureOnly(real).value();
  const crypto::Bytes model(arch.begin(), arch.end());
  auto host = NewEnclave(d, d.Config());
  const auto owner = NewIdentity();
  auto client = cli::EnclaveClient::Attest(host.get(), d.Verifier(), owner, owner.public_key());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  cli::PartitionSpec spec;
  spec.routes = (*client)->SelfRoutes();

  // Without synthetic_weights, a layer the partition keeps may not read a
  // weight the model does not carry.
  auto refused = (*client)->Provision(model, spec);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("layer 0 ('conv1') reads weight '"), std::string::npos)
      << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("which the partition does not carry"),
            std::string::npos);
  EXPECT_FALSE(host->Profile(1).ok());
  EXPECT_NE(host->StatsJson().value().find("\"synthetic_weights\":false"), std::string::npos);

  spec.synthetic_weights = true;
  spec.seal = attestation::PartitionSeal::kMrEnclave;
  auto sealed = (*client)->Provision(model, spec);
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.status().code(), Status::Code::kInvalidArgument);

  spec.seal = attestation::PartitionSeal::kNone;
  auto provisioned = (*client)->Provision(model, spec);
  ASSERT_TRUE(provisioned.ok()) << provisioned.status().ToString();
  auto profile = host->Profile(2);
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  const std::string_view ms = std::string_view(*profile).substr(profile->find("\"layer_ms\":["));
  const size_t layers = std::count(ms.begin(), ms.begin() + ms.find(']'), ',') + 1;
  std::string_view real_view(real);
  auto native = engine::Model::FromGraph(engine::ImportOnnxBytes(real_view, "m").value()).value();
  EXPECT_EQ(layers, static_cast<size_t>(native->num_layers())) << *profile;
  // With no repeats nothing runs: only the enclave's own costs come back.
  auto costs = host->Profile(0);
  ASSERT_TRUE(costs.ok()) << costs.status().ToString();
  EXPECT_EQ(costs->find("layer_ms"), std::string::npos) << *costs;
  EXPECT_NE(costs->find("\"page_swap_ns\":"), std::string::npos) << *costs;
  EXPECT_NE(costs->find("\"ecall_ns\":"), std::string::npos) << *costs;
  EXPECT_NE(host->StatsJson().value().find("\"synthetic_weights\":true"), std::string::npos);
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

// A partition provisioned to stream its weights seals them outside the EPC
// and computes the same bits as the native engine; the enclave reports how
// many bytes it streams.
TEST(BoundaryTest, AStreamingPartitionComputesTheSameBits) {
  Deployment d;
  auto host = NewEnclave(d, d.Config());
  RawSession s = OpenRaw(host.get(), d, NewIdentity());
  const crypto::Bytes model = ZooBytes("tiny");
  auto command = ProvisionCommand(model, SelfRoute(s));
  command.streamed_weight_bytes = uint64_t{1} << 30;
  ASSERT_TRUE(SendCommand(host.get(), &s, command).ok());
  const std::string stats = host->StatsJson().value();
  EXPECT_EQ(stats.find("\"streamed_weight_bytes\":0,"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"streamed_weight_bytes\":"), std::string::npos) << stats;
  for (uint64_t seq = 0; seq < 2; ++seq) {
    const Tensor x = RandomInput({1, 3, 32, 32}, 20 + static_cast<uint32_t>(seq));
    auto out = RoundTrip(host.get(), &s, seq, x);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_TRUE(SameBits((*out)[0], Native(model, 1, 0, -1, {x})[0]));
  }
}

// A layer split three ways: each enclave holds a third of its weights,
// computes its shard of the outputs from the whole input, and the parts put
// together are the layer's own bits. An enclave routed as another shard
// than it holds is refused.
TEST(BoundaryTest, ShardsOfALayerInThreeEnclavesGiveTheLayersBits) {
  Deployment d;
  const crypto::Bytes model = ZooBytes("tiny");
  std::string_view bytes(reinterpret_cast<const char*>(model.data()), model.size());
  auto native = engine::Model::FromGraph(engine::ImportOnnxBytes(bytes, "m").value()).value();
  int layer = -1;
  for (int l = 0; l < native->num_layers(); ++l) {
    if (native->layers()[l].streamable_weight_bytes > 0 && native->cuts()[l].infos.size() == 1) {
      layer = l;
    }
  }
  ASSERT_GE(layer, 0);
  const Tensor x = RandomInput({1, 3, 32, 32}, 31);
  const std::vector<Tensor> input = Native(model, 1, 0, layer, {x});
  const Tensor whole = Native(model, 1, layer, layer + 1, input)[0];

  constexpr int kShards = 3;
  std::vector<Tensor> parts;
  for (int i = 0; i < kShards; ++i) {
    auto host = NewEnclave(d, d.Config());
    RawSession s = OpenRaw(host.get(), d, NewIdentity());
    auto command = ProvisionCommand(model, SelfRoute(s), 1, layer, layer + 1);
    command.shard_index = i;
    command.shard_count = kShards;
    ASSERT_TRUE(SendCommand(host.get(), &s, command).ok());
    const std::string stats = host->StatsJson().value();
    EXPECT_NE(stats.find("\"shard\":[" + std::to_string(i) + ",3]"), std::string::npos) << stats;
    auto reply = host->Process(s.session, 0, s.session, 1, 1, SealTensors(&s, 1, 0, 0, input));
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    crypto::Bytes plain;
    ASSERT_TRUE(s.channel.Open(1, 1, *reply, &plain).ok());
    auto out = engine::DecodeTensors(plain);
    ASSERT_TRUE(out.ok() && out->size() == 1);
    EXPECT_LT(out->front().num_elements(), whole.num_elements());
    parts.push_back(std::move(out->front()));

    // Routes that name another shard than the one it holds change nothing.
    attestation::OwnerCommand routes;
    routes.kind = attestation::OwnerCommand::Kind::kSetRoutes;
    routes.partition_version = 1;
    routes.routes = SelfRoute(s);
    routes.check_range = true;
    routes.begin = layer;
    routes.end = layer + 1;
    routes.shard_index = (i + 1) % kShards;
    routes.shard_count = kShards;
    auto wrong = SendCommand(host.get(), &s, routes);
    EXPECT_EQ(wrong.status().code(), Status::Code::kFailedPrecondition)
        << wrong.status().ToString();
    routes.shard_index = i;
    EXPECT_TRUE(SendCommand(host.get(), &s, routes).ok());
  }
  auto together = engine::ConcatShards(parts, 1, nullptr);
  ASSERT_TRUE(together.ok()) << together.status().ToString();
  EXPECT_TRUE(SameBits(*together, whole));

  // A shard's range is one layer, and a shard index lies below the count.
  auto host = NewEnclave(d, d.Config());
  RawSession s = OpenRaw(host.get(), d, NewIdentity());
  auto wide = ProvisionCommand(model, SelfRoute(s), 1, 0, layer + 1);
  wide.shard_count = 2;
  EXPECT_EQ(SendCommand(host.get(), &s, wide).status().code(), Status::Code::kInvalidArgument);
  auto beyond = ProvisionCommand(model, SelfRoute(s), 1, layer, layer + 1);
  beyond.shard_index = 2;
  beyond.shard_count = 2;
  EXPECT_EQ(SendCommand(host.get(), &s, beyond).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace serdab
