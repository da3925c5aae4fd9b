#include "enclave/attestation/evidence.h"

namespace serdab::attestation {
namespace {

constexpr uint16_t kEvidenceVersion = 1;
constexpr uint16_t kSessionRequestVersion = 1;
constexpr uint16_t kProvisionVersion = 1;
constexpr size_t kMaxQuoteBytes = 64 * 1024;
constexpr size_t kMaxChallengeBytes = 256;
constexpr size_t kMaxModelBytes = size_t{2} << 30;

Status CheckVersion(uint16_t got, uint16_t want, const char* what) {
  if (got == want) return Status::Ok();
  return Status::Corruption(std::string(what) + " version " + std::to_string(got) +
                            " is not supported (expected " + std::to_string(want) + ")");
}

}  // namespace

crypto::Bytes SerializeEvidence(const Evidence& evidence) {
  crypto::Writer w;
  w.U16(kEvidenceVersion);
  w.LengthPrefixed(evidence.quote);
  w.Raw(evidence.ephemeral_key);
  return w.Take();
}

Result<Evidence> ParseEvidence(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "evidence");
  Evidence e;
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r.U16("version"));
  SERDAB_RETURN_IF_ERROR(CheckVersion(version, kEvidenceVersion, "evidence"));
  SERDAB_ASSIGN_OR_RETURN(crypto::ByteView quote, r.LengthPrefixed("quote", kMaxQuoteBytes));
  e.quote.assign(quote.begin(), quote.end());
  SERDAB_ASSIGN_OR_RETURN(e.ephemeral_key, r.Array<32>("ephemeral_key"));
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return e;
}

crypto::Bytes SerializeSessionRequest(const SessionRequest& request) {
  crypto::Writer w;
  w.U16(kSessionRequestVersion);
  w.U8(static_cast<uint8_t>(request.kind));
  w.U8(static_cast<uint8_t>(request.algorithm));
  w.Raw(request.evidence_key);
  if (request.kind == SessionRequest::Kind::kClient) {
    w.Raw(request.client_key);
  } else {
    w.LengthPrefixed(request.peer_evidence);
    w.LengthPrefixed(request.challenge);
    w.U8(static_cast<uint8_t>(request.role));
  }
  return w.Take();
}

Result<SessionRequest> ParseSessionRequest(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "session request");
  SessionRequest s;
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r.U16("version"));
  SERDAB_RETURN_IF_ERROR(CheckVersion(version, kSessionRequestVersion, "session request"));
  SERDAB_ASSIGN_OR_RETURN(uint8_t kind, r.U8("kind"));
  if (kind != 1 && kind != 2) {
    return Status::Corruption("session request: kind " + std::to_string(kind) + " is unknown");
  }
  s.kind = static_cast<SessionRequest::Kind>(kind);
  SERDAB_ASSIGN_OR_RETURN(uint8_t algorithm, r.U8("algorithm"));
  SERDAB_ASSIGN_OR_RETURN(s.algorithm, crypto::AeadFromWire(algorithm));
  SERDAB_ASSIGN_OR_RETURN(s.evidence_key, r.Array<32>("evidence_key"));
  if (s.kind == SessionRequest::Kind::kClient) {
    SERDAB_ASSIGN_OR_RETURN(s.client_key, r.Array<32>("client_key"));
  } else {
    SERDAB_ASSIGN_OR_RETURN(crypto::ByteView peer,
                            r.LengthPrefixed("peer_evidence", kMaxQuoteBytes));
    s.peer_evidence.assign(peer.begin(), peer.end());
    SERDAB_ASSIGN_OR_RETURN(crypto::ByteView challenge,
                            r.LengthPrefixed("challenge", kMaxChallengeBytes));
    s.challenge.assign(challenge.begin(), challenge.end());
    SERDAB_ASSIGN_OR_RETURN(uint8_t role, r.U8("role"));
    if (role > 1) return Status::Corruption("session request: role " + std::to_string(role));
    s.role = static_cast<crypto::ChannelRole>(role);
  }
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return s;
}

crypto::Bytes SerializeProvisionRequest(const ProvisionRequest& request) {
  crypto::Writer w;
  w.U16(kProvisionVersion);
  w.U32(static_cast<uint32_t>(request.begin));
  w.U32(static_cast<uint32_t>(request.end));
  w.U32(static_cast<uint32_t>(request.threads));
  w.U64(request.model.size());
  w.Raw(request.model);
  return w.Take();
}

Result<ProvisionRequest> ParseProvisionRequest(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "provision request");
  ProvisionRequest p;
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r.U16("version"));
  SERDAB_RETURN_IF_ERROR(CheckVersion(version, kProvisionVersion, "provision request"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t begin, r.U32("begin"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t end, r.U32("end"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t threads, r.U32("threads"));
  p.begin = static_cast<int32_t>(begin);
  p.end = static_cast<int32_t>(end);
  p.threads = static_cast<int32_t>(threads);
  SERDAB_ASSIGN_OR_RETURN(uint64_t size, r.U64("model_size"));
  if (size > kMaxModelBytes || size != r.remaining()) {
    return Status::Corruption("provision request: model_size " + std::to_string(size) +
                              " does not match the " + std::to_string(r.remaining()) +
                              " bytes that follow");
  }
  crypto::ByteView model = r.Rest();
  p.model.assign(model.begin(), model.end());
  return p;
}

}  // namespace serdab::attestation
