// QuoteVerifier: decides whether a quote proves that a trusted enclave, on a
// platform certified by this deployment's root, holds a given ephemeral key
// right now.
//
// Checks, in order, each failure with its own QuoteRejection:
//   1. the quote parses                                  malformed
//   2. its platform certificate is signed by the root    untrusted_platform
//   3. the quote is signed by the certified platform key bad_signature
//   4. report_data == MakeReportData(our nonce, the      stale_nonce
//      keys the peer claims)
//   5. the certificate's platform type is not sim, or    simulation_refused
//      the policy allows simulation
//   6. mrenclave is allowed (if the policy lists any)    unknown_measurement
//   7. mrsigner is allowed (if the policy lists any)     wrong_signer
//   8. isv_svn >= min_svn                                svn_too_low
//   9. simulation attribute allowed                      simulation_refused
//  10. debug attribute allowed                           debug_refused
// When the policy lists both measurements and signers, both must match.
//
// Check 5 is what makes simulation visible: on a sim platform the host holds
// the platform key and can sign a quote with any identity and any attributes,
// so the quote's own simulation bit proves nothing. The root's certificate
// says what the platform is, and a policy that refuses simulation refuses
// every sim platform.
//
// A rejection is a Status whose message contains "quote rejected (<name>)":
// Corruption for `malformed`, PermissionDenied for the rest. RejectionOf()
// recovers the reason, also after WithContext prefixes.
#ifndef SERDAB_ENCLAVE_ATTESTATION_QUOTE_VERIFIER_H_
#define SERDAB_ENCLAVE_ATTESTATION_QUOTE_VERIFIER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/quote.h"
#include "enclave/common/status.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"

namespace serdab::attestation {

enum class QuoteRejection {
  kNone,  // OK, or not a quote rejection
  kMalformed,
  kUntrustedPlatform,
  kBadSignature,
  kStaleNonce,
  kUnknownMeasurement,
  kWrongSigner,
  kSvnTooLow,
  kSimulationRefused,
  kDebugRefused,
};

// "malformed", "untrusted_platform", ... ("none" for kNone).
std::string_view QuoteRejectionName(QuoteRejection rejection);
QuoteRejection RejectionOf(const Status& status);

struct QuotePolicy {
  // Empty list: any value. At least one list must be non-empty unless
  // allow_any_enclave says otherwise, so that an unfinished policy can never
  // silently trust every enclave. The all-zero signer (every unsigned
  // enclave's) may not be listed: it would mean "any unsigned enclave".
  std::vector<Measurement> allowed_mrenclaves;
  std::vector<Measurement> allowed_mrsigners;
  bool allow_any_enclave = false;
  uint16_t min_svn = 0;
  bool allow_simulation = false;
  bool allow_debug = false;
};

// What a verified quote establishes.
struct VerifiedQuote {
  EnclaveIdentity identity;
  std::string platform_id;
  PlatformType platform_type = PlatformType::kSim;
  crypto::Ed25519PublicKey platform_key{};
  QuoteBinding binding;  // now known to belong to the enclave
};

// Verifiers need at least this much nonce for freshness to mean anything.
inline constexpr size_t kMinNonceBytes = 16;

class QuoteVerifier {
 public:
  // InvalidArgument if the policy lists no measurement and no signer and does
  // not set allow_any_enclave, or lists the all-zero signer.
  static Result<QuoteVerifier> Create(const crypto::Ed25519PublicKey& root_public_key,
                                      QuotePolicy policy);

  const QuotePolicy& policy() const { return policy_; }

  // `nonce` is the one this verifier sent (at least kMinNonceBytes;
  // InvalidArgument otherwise); `binding` holds the keys the peer presented
  // with the quote (see attestation/evidence.h). Thread-safe.
  Result<VerifiedQuote> Verify(crypto::ByteView quote, crypto::ByteView nonce,
                               const QuoteBinding& binding) const;

 private:
  QuoteVerifier(const crypto::Ed25519PublicKey& root, QuotePolicy policy)
      : root_(root), policy_(std::move(policy)) {}

  crypto::Ed25519PublicKey root_;
  QuotePolicy policy_;
};

}  // namespace serdab::attestation

#endif  // SERDAB_ENCLAVE_ATTESTATION_QUOTE_VERIFIER_H_
