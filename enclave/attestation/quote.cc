#include "enclave/attestation/quote.h"

#include <algorithm>

namespace serdab::attestation {

namespace {

constexpr uint8_t kQuoteMagic[4] = {'S', 'D', 'Q', 'T'};
constexpr std::string_view kQuoteContext = "serdab.quote.v1";
// A certificate is at most 4 + 2 + 32 + 4 + 255 + 8 + 64 = 369 bytes.
constexpr size_t kMaxCertificateBytes = 512;

// Every byte of the quote that the platform signs.
crypto::Bytes QuoteBody(const Quote& q) {
  crypto::Writer w;
  w.Raw(kQuoteMagic);
  w.U16(q.version);
  WriteIdentity(q.identity, &w);
  w.Raw(q.report_data);
  w.LengthPrefixed(SerializePlatformCertificate(q.platform_certificate));
  return w.Take();
}

}  // namespace

Result<Nonce> NewNonce() {
  Nonce nonce;
  SERDAB_RETURN_IF_ERROR(crypto::RandomBytes(nonce));
  return nonce;
}

ReportData MakeReportData(crypto::ByteView nonce, const QuoteBinding& binding) {
  return crypto::Blake2b512Labeled("serdab.report-data.v2",
                                   {nonce, binding.ephemeral_key, binding.instance, binding.owner});
}

Result<Quote> SignQuote(const PlatformKey& platform, const PlatformCertificate& certificate,
                        const EnclaveIdentity& identity, const ReportData& report_data) {
  if (certificate.platform_key != platform.public_key()) {
    return Status::InvalidArgument(
        "platform certificate for '" + certificate.platform_id + "' certifies key " +
        crypto::HexEncode(certificate.platform_key) + ", not this platform's key " +
        crypto::HexEncode(platform.public_key()));
  }
  if ((identity.attributes & ~kKnownAttributes) != 0) {
    return Status::InvalidArgument("enclave identity has unknown attribute bits");
  }
  Quote quote;
  quote.identity = identity;
  quote.identity.attributes |= kAttributeSimulation;
  quote.report_data = report_data;
  quote.platform_certificate = certificate;
  quote.platform_signature = platform.signing_key().Sign(kQuoteContext, QuoteBody(quote));
  return quote;
}

crypto::Bytes SerializeQuote(const Quote& quote) {
  crypto::Writer w;
  w.Raw(QuoteBody(quote));
  w.Raw(quote.platform_signature);
  return w.Take();
}

Result<Quote> ParseQuote(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "quote");
  Quote quote;
  SERDAB_ASSIGN_OR_RETURN(auto magic, r.Array<4>("magic"));
  if (!std::equal(magic.begin(), magic.end(), kQuoteMagic)) {
    return Status::Corruption("quote: bad magic (not a serdab quote)");
  }
  SERDAB_ASSIGN_OR_RETURN(quote.version, r.U16("version"));
  if (quote.version != kQuoteVersion) {
    return Status::Corruption("quote: unsupported version " + std::to_string(quote.version) +
                              ", expected " + std::to_string(kQuoteVersion));
  }
  SERDAB_ASSIGN_OR_RETURN(quote.identity, ReadIdentity(&r));
  SERDAB_ASSIGN_OR_RETURN(quote.report_data, r.Array<kReportDataBytes>("report_data"));
  SERDAB_ASSIGN_OR_RETURN(crypto::ByteView cert,
                          r.LengthPrefixed("platform_certificate", kMaxCertificateBytes));
  auto parsed_cert = ParsePlatformCertificate(cert);
  if (!parsed_cert.ok()) return parsed_cert.status().WithContext("quote");
  quote.platform_certificate = std::move(parsed_cert).value();
  SERDAB_ASSIGN_OR_RETURN(quote.platform_signature, r.Array<64>("platform_signature"));
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return quote;
}

bool QuoteSignatureValid(const Quote& quote) {
  return crypto::Ed25519Verify(quote.platform_certificate.platform_key, kQuoteContext,
                               QuoteBody(quote), quote.platform_signature);
}

crypto::Sha256Digest ChannelTranscript(crypto::ByteView initiator_quote,
                                       crypto::ByteView responder_quote) {
  return crypto::Sha256Labeled("serdab.channel-transcript.v1", {initiator_quote, responder_quote});
}

}  // namespace serdab::attestation
