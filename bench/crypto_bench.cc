// Trust-primitive costs: AEAD seal/open throughput on 1 MiB tensors (the size
// of a mid-network activation), a full SecureChannel frame, sealing, and the
// time of a quote sign + verify (paid once per attested session).
//
//   crypto_bench --benchmark_filter=Aead
#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>

#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote.h"
#include "enclave/attestation/quote_verifier.h"
#include "enclave/attestation/sealing.h"
#include "enclave/crypto/aead.h"
#include "enclave/crypto/keys.h"
#include "enclave/crypto/secure_channel.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::crypto {
namespace {

constexpr size_t kTensorBytes = size_t{1} << 20;

Bytes Tensor() {
  Bytes b(kTensorBytes);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 2654435761u >> 24);
  return b;
}

// Arg 0 is the AeadAlgorithm's wire value; returns nullopt (and marks the run
// skipped) when this CPU lacks it.
std::optional<Aead> MakeAead(benchmark::State& state) {
  const auto algorithm = static_cast<AeadAlgorithm>(state.range(0));
  state.SetLabel(std::string(AeadName(algorithm)));
  AeadKey key;
  if (!RandomBytes(std::span(key.data(), key.size())).ok()) return std::nullopt;
  auto aead = Aead::Create(algorithm, key);
  if (!aead.ok()) {
    state.SkipWithError(aead.status().ToString().c_str());
    return std::nullopt;
  }
  return std::move(aead).value();
}

void BM_AeadSeal(benchmark::State& state) {
  auto aead = MakeAead(state);
  if (!aead) return;
  const Bytes plain = Tensor();
  const Bytes ad(30, 1);
  Bytes out(plain.size() + kAeadTagBytes);
  uint64_t counter = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(aead->Seal(counter++, ad, plain, out).ok());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}

void BM_AeadOpen(benchmark::State& state) {
  auto aead = MakeAead(state);
  if (!aead) return;
  const Bytes ad(30, 1);
  const Bytes sealed = aead->Seal(7, ad, Tensor()).value();
  Bytes out(kTensorBytes);
  for (auto _ : state) {
    if (!aead->Open(7, ad, sealed, out).ok()) state.SkipWithError("open failed");
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kTensorBytes));
}

// One hop of a frame: the sender seals, the receiver opens (bytes counted once).
void BM_ChannelFrame(benchmark::State& state) {
  const auto algorithm = static_cast<AeadAlgorithm>(state.range(0));
  state.SetLabel(std::string(AeadName(algorithm)));
  if (!AeadAvailable(algorithm)) {
    state.SkipWithError("AEAD not available on this CPU");
    return;
  }
  auto a = X25519KeyPair::Generate().value();
  auto b = X25519KeyPair::Generate().value();
  auto tx =
      SecureChannel::Create(ChannelRole::kInitiator, a.secret_key, b.public_key, {}, algorithm)
          .value();
  auto rx =
      SecureChannel::Create(ChannelRole::kResponder, b.secret_key, a.public_key, {}, algorithm)
          .value();
  const Bytes plain = Tensor();
  Bytes message, opened;
  uint64_t frame = 0;
  for (auto _ : state) {
    if (!tx.Seal(1, frame, 1, plain, &message).ok() || !rx.Open(1, 1, message, &opened).ok()) {
      state.SkipWithError("channel failed");
      break;
    }
    ++frame;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}

// A camera frame (3x224x224 floats) through a channel, its records sealed
// (Arg 1 = 0) or opened (1) on a pool of Arg 0 threads, as the client seals
// it and the enclave opens it.
void BM_ChannelFrameRecords(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const bool open = state.range(1) != 0;
  state.SetLabel(std::string(AeadName(PreferredAead())) + (open ? " open" : " seal"));
  auto a = X25519KeyPair::Generate().value();
  auto b = X25519KeyPair::Generate().value();
  auto tx = SecureChannel::Create(ChannelRole::kInitiator, a.secret_key, b.public_key, {}).value();
  auto rx = SecureChannel::Create(ChannelRole::kResponder, b.secret_key, a.public_key, {}).value();
  engine::ThreadPool pool(threads);
  const RecordRunner runner = engine::ForEachOn(&pool);
  const Bytes tensor = Tensor();
  const Bytes plain(tensor.begin(), tensor.begin() + 3 * 224 * 224 * 4);
  const ByteView parts[] = {plain};
  Bytes message, opened(plain.size());
  const std::span<uint8_t> into[] = {opened};
  if (!tx.SealParts(1, 0, 1, parts, &message).ok()) state.SkipWithError("seal failed");
  for (auto _ : state) {
    const bool ok = open ? rx.OpenPendingParts(1, 1, message, into, runner).ok()
                         : tx.SealParts(1, 0, 1, parts, &message, runner).ok();
    if (!ok) {
      state.SkipWithError("channel failed");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}

void BM_SealBlob(benchmark::State& state) {
  auto platform = attestation::PlatformKey::Generate().value();
  attestation::EnclaveIdentity self;
  self.attributes = attestation::kAttributeSimulation;
  const Bytes plain = Tensor();
  for (auto _ : state) {
    auto blob = attestation::Seal(platform.sealing_secret(), self,
                                  attestation::SealPolicy::kMrEnclave, plain);
    benchmark::DoNotOptimize(blob.ok());
  }
  state.SetLabel(std::string(AeadName(PreferredAead())));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}

// What an attested session costs up front: the platform signs a quote for a
// fresh nonce, the peer verifies the chain, signature, freshness and policy.
void BM_QuoteSignVerify(benchmark::State& state) {
  auto root = attestation::DeploymentRoot::Generate().value();
  auto platform = attestation::PlatformKey::Generate().value();
  auto cert =
      attestation::IssuePlatformCertificate(root, platform.public_key(), "bench", 0).value();
  attestation::EnclaveIdentity identity;
  identity.mrenclave = attestation::Measure(Tensor(), {});
  identity.isv_svn = 1;
  attestation::QuotePolicy policy;
  policy.allowed_mrenclaves = {identity.mrenclave};
  policy.allow_simulation = true;
  auto verifier = attestation::QuoteVerifier::Create(root.public_key(), policy).value();
  const attestation::QuoteBinding binding{X25519KeyPair::Generate().value().public_key};
  for (auto _ : state) {
    const attestation::Nonce nonce = attestation::NewNonce().value();
    auto quote = attestation::SignQuote(platform, cert, identity,
                                        attestation::MakeReportData(nonce, binding));
    auto verified = verifier.Verify(attestation::SerializeQuote(*quote), nonce, binding);
    if (!verified.ok()) state.SkipWithError(verified.status().ToString().c_str());
  }
}

constexpr int64_t kAes = static_cast<int64_t>(AeadAlgorithm::kAes256Gcm);
constexpr int64_t kXChaCha = static_cast<int64_t>(AeadAlgorithm::kXChaCha20Poly1305);

BENCHMARK(BM_AeadSeal)->Arg(kAes)->Arg(kXChaCha)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AeadOpen)->Arg(kAes)->Arg(kXChaCha)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChannelFrame)->Arg(kAes)->Arg(kXChaCha)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChannelFrameRecords)
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_SealBlob)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QuoteSignVerify)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace serdab::crypto

BENCHMARK_MAIN();
