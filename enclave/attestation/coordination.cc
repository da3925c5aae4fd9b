#include "enclave/attestation/coordination.h"

#include "enclave/attestation/evidence.h"

#include <algorithm>

namespace serdab::attestation {
namespace {

constexpr uint16_t kGrantVersion = 1;
constexpr uint16_t kRequestVersion = 3;
constexpr uint16_t kReplyVersion = 1;
constexpr size_t kMaxBlobBytes = size_t{2} << 30;
constexpr size_t kMaxNonceBytes = 256;
constexpr size_t kMaxReplyParts = kMaxStages + 2;

Status CheckVersion(uint16_t got, uint16_t want, const char* what) {
  if (got == want) return Status::Ok();
  return Status::Corruption(std::string(what) + ": unsupported version, expected " +
                            std::to_string(want));
}

bool ValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxCoordinatorName &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                  c == '/';
         });
}

void WriteString(std::string_view s, crypto::Writer* w) { w->LengthPrefixed(crypto::AsBytes(s)); }

// Names are checked, never echoed: they come from the host.
Result<std::string> ReadName(crypto::Reader* r, std::string_view field, bool may_be_empty) {
  SERDAB_ASSIGN_OR_RETURN(crypto::ByteView bytes, r->LengthPrefixed(field, kMaxCoordinatorName));
  std::string name(bytes.begin(), bytes.end());
  if (name.empty() && may_be_empty) return name;
  if (!ValidName(name)) {
    return Status::InvalidArgument("coordinator: field '" + std::string(field) + "' must be 1.." +
                                   std::to_string(kMaxCoordinatorName) +
                                   " characters of [a-z0-9./-]");
  }
  return name;
}

void WriteMeasurements(const std::vector<Measurement>& list, crypto::Writer* w) {
  w->U32(static_cast<uint32_t>(list.size()));
  for (const Measurement& m : list) w->Raw(m);
}

Result<std::vector<Measurement>> ReadMeasurements(crypto::Reader* r, std::string_view field) {
  SERDAB_ASSIGN_OR_RETURN(uint32_t count, r->U32(field));
  if (count > kMaxPolicyMeasurements) {
    return Status::InvalidArgument("grant: more than " + std::to_string(kMaxPolicyMeasurements) +
                                   " entries in '" + std::string(field) + "'");
  }
  std::vector<Measurement> list(count);
  for (Measurement& m : list) {
    SERDAB_ASSIGN_OR_RETURN(m, r->Array<32>(field));
  }
  return list;
}

Result<bool> ReadFlag(crypto::Reader* r, std::string_view field) {
  SERDAB_ASSIGN_OR_RETURN(uint8_t v, r->U8(field));
  if (v > 1)
    return Status::Corruption("coordinator: field '" + std::string(field) + "' is not 0/1");
  return v == 1;
}

}  // namespace

crypto::Bytes SerializeDeploymentGrant(const DeploymentGrant& grant) {
  crypto::Writer w;
  w.U16(kGrantVersion);
  WriteString(grant.deployment, &w);
  w.Raw(grant.root);
  WriteMeasurements(grant.workers.allowed_mrenclaves, &w);
  WriteMeasurements(grant.workers.allowed_mrsigners, &w);
  w.U8(grant.workers.allow_any_enclave ? 1 : 0);
  w.U16(grant.workers.min_svn);
  w.U8(grant.workers.allow_simulation ? 1 : 0);
  w.U8(grant.workers.allow_debug ? 1 : 0);
  w.LengthPrefixed(grant.model);
  return w.Take();
}

Result<DeploymentGrant> ParseDeploymentGrant(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "deployment grant");
  DeploymentGrant g;
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r.U16("version"));
  SERDAB_RETURN_IF_ERROR(CheckVersion(version, kGrantVersion, "deployment grant"));
  SERDAB_ASSIGN_OR_RETURN(g.deployment, ReadName(&r, "deployment", false));
  SERDAB_ASSIGN_OR_RETURN(g.root, r.Array<32>("root"));
  SERDAB_ASSIGN_OR_RETURN(g.workers.allowed_mrenclaves, ReadMeasurements(&r, "mrenclaves"));
  SERDAB_ASSIGN_OR_RETURN(g.workers.allowed_mrsigners, ReadMeasurements(&r, "mrsigners"));
  SERDAB_ASSIGN_OR_RETURN(g.workers.allow_any_enclave, ReadFlag(&r, "allow_any_enclave"));
  SERDAB_ASSIGN_OR_RETURN(g.workers.min_svn, r.U16("min_svn"));
  SERDAB_ASSIGN_OR_RETURN(g.workers.allow_simulation, ReadFlag(&r, "allow_simulation"));
  SERDAB_ASSIGN_OR_RETURN(g.workers.allow_debug, ReadFlag(&r, "allow_debug"));
  SERDAB_ASSIGN_OR_RETURN(crypto::ByteView model, r.LengthPrefixed("model", kMaxBlobBytes));
  if (model.empty()) return Status::InvalidArgument("deployment grant: the model is empty");
  g.model.assign(model.begin(), model.end());
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return g;
}

crypto::Bytes SerializeCoordinatorRequest(const CoordinatorRequest& request) {
  crypto::Writer w;
  w.U16(kRequestVersion);
  w.U8(static_cast<uint8_t>(request.kind));
  WriteString(request.deployment, &w);
  WriteString(request.target, &w);
  w.LengthPrefixed(request.blob);
  w.LengthPrefixed(request.nonce);
  w.U32(static_cast<uint32_t>(request.begin));
  w.U32(static_cast<uint32_t>(request.end));
  w.U32(static_cast<uint32_t>(request.threads));
  w.U64(request.version);
  w.U8(request.seal ? 1 : 0);
  w.U64(request.streamed_weight_bytes);
  WriteShard(request.shard_index, request.shard_count, &w);
  w.U32(static_cast<uint32_t>(request.targets.size()));
  for (const std::string& t : request.targets) WriteString(t, &w);
  return w.Take();
}

Result<CoordinatorRequest> ParseCoordinatorRequest(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "coordinator request");
  CoordinatorRequest q;
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r.U16("version"));
  SERDAB_RETURN_IF_ERROR(CheckVersion(version, kRequestVersion, "coordinator request"));
  SERDAB_ASSIGN_OR_RETURN(uint8_t kind, r.U8("kind"));
  if (kind < 1 || kind > static_cast<uint8_t>(CoordinatorRequest::Kind::kAdopt)) {
    return Status::Corruption("coordinator request: unknown kind");
  }
  q.kind = static_cast<CoordinatorRequest::Kind>(kind);
  SERDAB_ASSIGN_OR_RETURN(q.deployment, ReadName(&r, "deployment", true));
  SERDAB_ASSIGN_OR_RETURN(q.target, ReadName(&r, "target", true));
  SERDAB_ASSIGN_OR_RETURN(crypto::ByteView blob, r.LengthPrefixed("blob", kMaxBlobBytes));
  q.blob.assign(blob.begin(), blob.end());
  SERDAB_ASSIGN_OR_RETURN(crypto::ByteView nonce, r.LengthPrefixed("nonce", kMaxNonceBytes));
  q.nonce.assign(nonce.begin(), nonce.end());
  SERDAB_ASSIGN_OR_RETURN(uint32_t begin, r.U32("begin"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t end, r.U32("end"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t threads, r.U32("threads"));
  q.begin = static_cast<int32_t>(begin);
  q.end = static_cast<int32_t>(end);
  q.threads = static_cast<int32_t>(threads);
  SERDAB_ASSIGN_OR_RETURN(q.version, r.U64("version"));
  SERDAB_ASSIGN_OR_RETURN(q.seal, ReadFlag(&r, "seal"));
  SERDAB_ASSIGN_OR_RETURN(q.streamed_weight_bytes, r.U64("streamed_weight_bytes"));
  SERDAB_RETURN_IF_ERROR(ReadShard(&r, "coordinator request", &q.shard_index, &q.shard_count));
  SERDAB_ASSIGN_OR_RETURN(uint32_t count, r.U32("target count"));
  if (count > kMaxStages) {
    return Status::InvalidArgument("coordinator request: more than " + std::to_string(kMaxStages) +
                                   " stages");
  }
  for (uint32_t i = 0; i < count; ++i) {
    SERDAB_ASSIGN_OR_RETURN(std::string t, ReadName(&r, "targets", false));
    q.targets.push_back(std::move(t));
  }
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return q;
}

crypto::Bytes SerializeReplyParts(const std::vector<crypto::Bytes>& parts) {
  crypto::Writer w;
  w.U16(kReplyVersion);
  w.U32(static_cast<uint32_t>(parts.size()));
  for (const crypto::Bytes& p : parts) w.LengthPrefixed(p);
  return w.Take();
}

Result<std::vector<crypto::Bytes>> ParseReplyParts(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "coordinator reply");
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r.U16("version"));
  SERDAB_RETURN_IF_ERROR(CheckVersion(version, kReplyVersion, "coordinator reply"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t count, r.U32("part count"));
  if (count > kMaxReplyParts) return Status::Corruption("coordinator reply: too many parts");
  std::vector<crypto::Bytes> parts;
  for (uint32_t i = 0; i < count; ++i) {
    SERDAB_ASSIGN_OR_RETURN(crypto::ByteView p, r.LengthPrefixed("part", kMaxBlobBytes));
    parts.emplace_back(p.begin(), p.end());
  }
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return parts;
}

}  // namespace serdab::attestation
