#include "enclave/attestation/quote_verifier.h"

#include <algorithm>
#include <array>

namespace serdab::attestation {

namespace {

constexpr std::array<std::string_view, 10> kRejectionNames = {
    "none",          "malformed",   "untrusted_platform",
    "bad_signature", "stale_nonce", "unknown_measurement",
    "wrong_signer",  "svn_too_low", "simulation_refused",
    "debug_refused"};
constexpr std::string_view kRejectedMarker = "quote rejected (";

Status Reject(QuoteRejection rejection, const std::string& detail) {
  std::string message =
      std::string(kRejectedMarker) + std::string(QuoteRejectionName(rejection)) + "): " + detail;
  if (rejection == QuoteRejection::kMalformed) return Status::Corruption(std::move(message));
  return Status::PermissionDenied(std::move(message));
}

bool Contains(const std::vector<Measurement>& list, const Measurement& m) {
  return std::find(list.begin(), list.end(), m) != list.end();
}

}  // namespace

std::string_view QuoteRejectionName(QuoteRejection rejection) {
  return kRejectionNames[static_cast<size_t>(rejection)];
}

QuoteRejection RejectionOf(const Status& status) {
  const std::string& m = status.message();
  size_t at = m.find(kRejectedMarker);
  if (status.ok() || at == std::string::npos) return QuoteRejection::kNone;
  at += kRejectedMarker.size();
  size_t end = m.find(')', at);
  if (end == std::string::npos) return QuoteRejection::kNone;
  std::string_view name(m.data() + at, end - at);
  for (size_t i = 1; i < kRejectionNames.size(); ++i) {
    if (kRejectionNames[i] == name) return static_cast<QuoteRejection>(i);
  }
  return QuoteRejection::kNone;
}

Result<QuoteVerifier> QuoteVerifier::Create(const crypto::Ed25519PublicKey& root_public_key,
                                            QuotePolicy policy) {
  SERDAB_RETURN_IF_ERROR(crypto::InitSodium());
  if (policy.allowed_mrenclaves.empty() && policy.allowed_mrsigners.empty() &&
      !policy.allow_any_enclave) {
    return Status::InvalidArgument(
        "attestation policy allows no enclave: list measurements and/or signers, or allow any "
        "enclave explicitly");
  }
  if (Contains(policy.allowed_mrsigners, Measurement{})) {
    return Status::InvalidArgument(
        "attestation policy lists the all-zero signer, which every unsigned enclave has: sign "
        "the enclave (serdab enclave sign) and list that signer, or list measurements");
  }
  return QuoteVerifier(root_public_key, std::move(policy));
}

Result<VerifiedQuote> QuoteVerifier::Verify(crypto::ByteView quote_bytes, crypto::ByteView nonce,
                                            const QuoteBinding& binding) const {
  if (nonce.size() < kMinNonceBytes) {
    return Status::InvalidArgument("attestation nonce of " + std::to_string(nonce.size()) +
                                   " bytes is too short for freshness; use at least " +
                                   std::to_string(kMinNonceBytes));
  }
  auto parsed = ParseQuote(quote_bytes);
  if (!parsed.ok()) return Reject(QuoteRejection::kMalformed, parsed.status().message());
  const Quote& quote = *parsed;
  const PlatformCertificate& cert = quote.platform_certificate;

  if (!VerifyPlatformCertificate(cert, root_).ok()) {
    return Reject(QuoteRejection::kUntrustedPlatform,
                  "the certificate of platform '" + cert.platform_id +
                      "' is not signed by this deployment's root " + crypto::HexEncode(root_));
  }
  if (!QuoteSignatureValid(quote)) {
    return Reject(QuoteRejection::kBadSignature, "the signature of platform '" + cert.platform_id +
                                                     "' over the quote does not verify");
  }
  if (!crypto::ConstantTimeEqual(quote.report_data, MakeReportData(nonce, binding))) {
    return Reject(QuoteRejection::kStaleNonce,
                  "report data does not bind this verifier's nonce and the presented keys (an "
                  "old or replayed quote, or a substituted key or owner)");
  }
  if (cert.type == PlatformType::kSim && !policy_.allow_simulation) {
    return Reject(QuoteRejection::kSimulationRefused,
                  "platform '" + cert.platform_id +
                      "' is certified as a sim platform, whose host can forge any quote, and the "
                      "policy does not allow simulation");
  }

  const EnclaveIdentity& id = quote.identity;
  const std::string who = " (" + DescribeIdentity(id) + ")";
  if (!policy_.allowed_mrenclaves.empty() && !Contains(policy_.allowed_mrenclaves, id.mrenclave)) {
    return Reject(QuoteRejection::kUnknownMeasurement,
                  "measurement " + crypto::HexEncode(id.mrenclave) + " is not among the policy's " +
                      std::to_string(policy_.allowed_mrenclaves.size()) + " allowed" + who);
  }
  if (!policy_.allowed_mrsigners.empty() && !Contains(policy_.allowed_mrsigners, id.mrsigner)) {
    return Reject(QuoteRejection::kWrongSigner,
                  "signer " + crypto::HexEncode(id.mrsigner) + " is not among the policy's " +
                      std::to_string(policy_.allowed_mrsigners.size()) + " allowed" + who);
  }
  if (id.isv_svn < policy_.min_svn) {
    return Reject(QuoteRejection::kSvnTooLow, "security version " + std::to_string(id.isv_svn) +
                                                  " is below the policy's minimum " +
                                                  std::to_string(policy_.min_svn) + who);
  }
  if (id.simulation() && !policy_.allow_simulation) {
    return Reject(QuoteRejection::kSimulationRefused,
                  "the enclave runs in the software simulation and the policy does not allow "
                  "simulation" +
                      who);
  }
  if (id.debug() && !policy_.allow_debug) {
    return Reject(QuoteRejection::kDebugRefused,
                  "the enclave is a debug build and the policy does not allow debug" + who);
  }

  VerifiedQuote verified;
  verified.identity = id;
  verified.platform_id = cert.platform_id;
  verified.platform_type = cert.type;
  verified.platform_key = cert.platform_key;
  verified.binding = binding;
  return verified;
}

}  // namespace serdab::attestation
