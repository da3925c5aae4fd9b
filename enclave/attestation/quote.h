// Quotes: a platform's signed statement "an enclave with this identity, on
// me, produced these 64 bytes of report data", carrying the certificate that
// chains the platform key to the deployment root (as a DCAP quote carries its
// PCK certificate chain).
//
// Freshness and key binding: the enclave puts
//   report_data = BLAKE2b-512("serdab.report-data.v2", verifier nonce,
//                             ephemeral X25519 public key, instance id, owner)
// into its quote (see QuoteBinding), so a verifier that sent the nonce knows
// the quote is new, that the X25519 key belongs to the enclave, which enclave
// instance it is and who owns it. A SecureChannel keyed with that X25519 key
// and bound to ChannelTranscript(...) is then bound to the quote.
//
// Wire form (little-endian), every length checked on parse:
//   "SDQT" | u16 version | identity (74 bytes, enclave_identity.h) |
//   report_data[64] | u32 len + platform certificate | platform_signature[64]
// The platform signature covers every byte before it under context
// "serdab.quote.v1". Parse rejects trailing bytes.
#ifndef SERDAB_ENCLAVE_ATTESTATION_QUOTE_H_
#define SERDAB_ENCLAVE_ATTESTATION_QUOTE_H_

#include <cstdint>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/platform.h"
#include "enclave/common/status.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"

namespace serdab::attestation {

inline constexpr uint16_t kQuoteVersion = 1;
inline constexpr size_t kReportDataBytes = 64;
using ReportData = crypto::ByteArray<kReportDataBytes>;

// Verifier nonces are 32 random bytes.
inline constexpr size_t kNonceBytes = 32;
using Nonce = crypto::ByteArray<kNonceBytes>;
Result<Nonce> NewNonce();

// A random identifier each enclave instance draws when it is created: how an
// owner names a peer enclave in its routes (see evidence.h).
inline constexpr size_t kInstanceIdBytes = 32;
using InstanceId = crypto::ByteArray<kInstanceIdBytes>;

// What a quote's report data binds besides the verifier's nonce.
struct QuoteBinding {
  crypto::X25519PublicKey ephemeral_key{};  // the key a session with it uses
  InstanceId instance{};                    // which enclave instance answered
  crypto::Ed25519PublicKey owner{};         // its owner; all zero: none yet
};

ReportData MakeReportData(crypto::ByteView nonce, const QuoteBinding& binding);

struct Quote {
  uint16_t version = kQuoteVersion;
  EnclaveIdentity identity;
  ReportData report_data{};
  PlatformCertificate platform_certificate;
  crypto::Ed25519Signature platform_signature{};
};

// The sim platform's quoting step. Always sets kAttributeSimulation, so no
// sim quote can pass a policy that refuses simulation. Fails if `certificate`
// does not certify `platform`'s key.
Result<Quote> SignQuote(const PlatformKey& platform, const PlatformCertificate& certificate,
                        const EnclaveIdentity& identity, const ReportData& report_data);

crypto::Bytes SerializeQuote(const Quote& quote);
// Corruption on any format error. Checks no signature.
Result<Quote> ParseQuote(crypto::ByteView bytes);

// Checks the platform signature against the certificate's platform key (not
// the certificate itself: QuoteVerifier does the whole chain).
bool QuoteSignatureValid(const Quote& quote);

// What a SecureChannel binds: SHA-256 over both quotes as sent, initiator's
// first. A client, which is not attested, passes an empty initiator quote.
crypto::Sha256Digest ChannelTranscript(crypto::ByteView initiator_quote,
                                       crypto::ByteView responder_quote);

}  // namespace serdab::attestation

#endif  // SERDAB_ENCLAVE_ATTESTATION_QUOTE_H_
