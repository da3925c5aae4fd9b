#include "enclave/attestation/evidence.h"

namespace serdab::attestation {
namespace {

constexpr uint16_t kEvidenceVersion = 2;
constexpr uint16_t kSessionRequestVersion = 2;
constexpr uint16_t kOwnerCommandVersion = 7;
constexpr uint16_t kSealedPartitionVersion = 3;
constexpr size_t kMaxQuoteBytes = 64 * 1024;
constexpr size_t kMaxChallengeBytes = 256;
constexpr size_t kMaxModelBytes = size_t{2} << 30;

// Versions are compared, never echoed: the bytes come from the host.
Status CheckVersion(uint16_t got, uint16_t want, const char* what) {
  if (got == want) return Status::Ok();
  return Status::Corruption(std::string(what) + ": unsupported version, expected " +
                            std::to_string(want));
}

void WriteBinding(const QuoteBinding& b, crypto::Writer* w) {
  w->Raw(b.ephemeral_key);
  w->Raw(b.instance);
  w->Raw(b.owner);
}

Status ReadBinding(crypto::Reader* r, QuoteBinding* b) {
  SERDAB_ASSIGN_OR_RETURN(b->ephemeral_key, r->Array<32>("ephemeral_key"));
  SERDAB_ASSIGN_OR_RETURN(b->instance, r->Array<kInstanceIdBytes>("instance"));
  SERDAB_ASSIGN_OR_RETURN(b->owner, r->Array<32>("owner"));
  return Status::Ok();
}

void WritePrincipal(const Principal& p, crypto::Writer* w) {
  w->U8(static_cast<uint8_t>(p.kind));
  w->Raw(p.key);
}

Result<Principal> ReadPrincipal(crypto::Reader* r) {
  Principal p;
  SERDAB_ASSIGN_OR_RETURN(uint8_t kind, r->U8("principal kind"));
  if (kind != static_cast<uint8_t>(Principal::Kind::kClient) &&
      kind != static_cast<uint8_t>(Principal::Kind::kEnclave)) {
    return Status::Corruption("route: unknown principal kind");
  }
  p.kind = static_cast<Principal::Kind>(kind);
  SERDAB_ASSIGN_OR_RETURN(p.key, r->Array<32>("principal key"));
  return p;
}

void WriteProvisionFields(const OwnerCommand& c, crypto::Writer* w) {
  w->U32(static_cast<uint32_t>(c.begin));
  w->U32(static_cast<uint32_t>(c.end));
  w->U32(static_cast<uint32_t>(c.threads));
  w->U8(static_cast<uint8_t>(c.seal));
  w->U64(c.streamed_weight_bytes);
  WriteShard(c.shard_index, c.shard_count, w);
  w->U64(c.model.size());
  w->Raw(c.model);
}

// Reads the provision fields, which run to the end of the message.
Status ReadProvisionFields(crypto::Reader* r, OwnerCommand* c) {
  SERDAB_ASSIGN_OR_RETURN(uint32_t begin, r->U32("begin"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t end, r->U32("end"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t threads, r->U32("threads"));
  c->begin = static_cast<int32_t>(begin);
  c->end = static_cast<int32_t>(end);
  c->threads = static_cast<int32_t>(threads);
  if (c->threads < 1 || c->threads > kMaxPartitionThreads) {
    return Status::InvalidArgument("provision: threads must be 1.." +
                                   std::to_string(kMaxPartitionThreads));
  }
  if (c->begin < 0 || c->end < -1 || (c->end >= 0 && c->end <= c->begin)) {
    return Status::InvalidArgument("provision: the layer range is empty or negative");
  }
  SERDAB_ASSIGN_OR_RETURN(uint8_t seal, r->U8("seal"));
  if (seal > static_cast<uint8_t>(PartitionSeal::kMrSigner)) {
    return Status::Corruption("provision: unknown seal policy");
  }
  c->seal = static_cast<PartitionSeal>(seal);
  SERDAB_ASSIGN_OR_RETURN(c->streamed_weight_bytes, r->U64("streamed_weight_bytes"));
  SERDAB_RETURN_IF_ERROR(ReadShard(r, "provision", &c->shard_index, &c->shard_count));
  // (-1, to the last layer, is checked against the model when it is built.)
  if (c->shard_count > 1 && c->end != c->begin + 1 && c->end != -1) {
    return Status::InvalidArgument("provision: a shard's range is one layer");
  }
  SERDAB_ASSIGN_OR_RETURN(uint64_t size, r->U64("model_size"));
  if (size > kMaxModelBytes || size != r->remaining()) {
    return Status::Corruption("provision: model_size does not match the bytes that follow");
  }
  crypto::ByteView model = r->Rest();
  c->model.assign(model.begin(), model.end());
  return Status::Ok();
}

}  // namespace

crypto::Bytes SerializeEvidence(const Evidence& evidence) {
  crypto::Writer w;
  w.U16(kEvidenceVersion);
  w.LengthPrefixed(evidence.quote);
  WriteBinding(evidence.binding, &w);
  return w.Take();
}

Result<Evidence> ParseEvidence(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "evidence");
  Evidence e;
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r.U16("version"));
  SERDAB_RETURN_IF_ERROR(CheckVersion(version, kEvidenceVersion, "evidence"));
  SERDAB_ASSIGN_OR_RETURN(crypto::ByteView quote, r.LengthPrefixed("quote", kMaxQuoteBytes));
  e.quote.assign(quote.begin(), quote.end());
  SERDAB_RETURN_IF_ERROR(ReadBinding(&r, &e.binding));
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return e;
}

crypto::Bytes ClientSessionStatement(const crypto::Sha256Digest& transcript,
                                     const crypto::X25519PublicKey& evidence_key,
                                     const crypto::X25519PublicKey& client_key) {
  crypto::Writer w;
  w.Raw(transcript);
  w.Raw(evidence_key);
  w.Raw(client_key);
  return w.Take();
}

crypto::Bytes SerializeSessionRequest(const SessionRequest& request) {
  crypto::Writer w;
  w.U16(kSessionRequestVersion);
  w.U8(static_cast<uint8_t>(request.kind));
  w.U8(static_cast<uint8_t>(request.algorithm));
  w.Raw(request.evidence_key);
  if (request.kind == SessionRequest::Kind::kClient) {
    w.Raw(request.client_key);
    w.Raw(request.client_identity);
    w.Raw(request.client_signature);
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
  if (kind != 1 && kind != 2) return Status::Corruption("session request: unknown kind");
  s.kind = static_cast<SessionRequest::Kind>(kind);
  SERDAB_ASSIGN_OR_RETURN(uint8_t algorithm, r.U8("algorithm"));
  auto parsed_algorithm = crypto::AeadFromWire(algorithm);
  if (!parsed_algorithm.ok()) return Status::Corruption("session request: unknown algorithm");
  s.algorithm = *parsed_algorithm;
  SERDAB_ASSIGN_OR_RETURN(s.evidence_key, r.Array<32>("evidence_key"));
  if (s.kind == SessionRequest::Kind::kClient) {
    SERDAB_ASSIGN_OR_RETURN(s.client_key, r.Array<32>("client_key"));
    SERDAB_ASSIGN_OR_RETURN(s.client_identity, r.Array<32>("client_identity"));
    SERDAB_ASSIGN_OR_RETURN(s.client_signature, r.Array<64>("client_signature"));
  } else {
    SERDAB_ASSIGN_OR_RETURN(crypto::ByteView peer,
                            r.LengthPrefixed("peer_evidence", kMaxQuoteBytes));
    s.peer_evidence.assign(peer.begin(), peer.end());
    SERDAB_ASSIGN_OR_RETURN(crypto::ByteView challenge,
                            r.LengthPrefixed("challenge", kMaxChallengeBytes));
    s.challenge.assign(challenge.begin(), challenge.end());
    SERDAB_ASSIGN_OR_RETURN(uint8_t role, r.U8("role"));
    if (role > 1) return Status::Corruption("session request: unknown role");
    s.role = static_cast<crypto::ChannelRole>(role);
  }
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return s;
}

Result<ClientSession> OpenClientSession(const Evidence& evidence,
                                        const crypto::Ed25519KeyPair& identity) {
  SERDAB_ASSIGN_OR_RETURN(crypto::X25519KeyPair ours, crypto::X25519KeyPair::Generate());
  SessionRequest request;
  request.kind = SessionRequest::Kind::kClient;
  request.algorithm = crypto::PreferredAead();
  request.evidence_key = evidence.binding.ephemeral_key;
  request.client_key = ours.public_key;
  request.client_identity = identity.public_key();
  const crypto::Sha256Digest transcript = ChannelTranscript({}, evidence.quote);
  request.client_signature =
      identity.Sign(kClientSessionContext,
                    ClientSessionStatement(transcript, request.evidence_key, request.client_key));
  SERDAB_ASSIGN_OR_RETURN(
      crypto::SecureChannel channel,
      crypto::SecureChannel::Create(crypto::ChannelRole::kInitiator, ours.secret_key,
                                    evidence.binding.ephemeral_key, transcript, request.algorithm));
  return ClientSession{SerializeSessionRequest(request), std::move(channel)};
}

void WriteShard(int32_t index, int32_t count, crypto::Writer* w) {
  w->U32(static_cast<uint32_t>(index));
  w->U32(static_cast<uint32_t>(count));
}

Status ReadShard(crypto::Reader* r, const std::string& what, int32_t* index, int32_t* count) {
  SERDAB_ASSIGN_OR_RETURN(uint32_t i, r->U32("shard_index"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t n, r->U32("shard_count"));
  if (n < 1 || n > static_cast<uint32_t>(kMaxShards) || i >= n) {
    return Status::InvalidArgument(what + ": no shard " + std::to_string(i) + " of " +
                                   std::to_string(n) + " (1 to " + std::to_string(kMaxShards) +
                                   " shards)");
  }
  *index = static_cast<int32_t>(i);
  *count = static_cast<int32_t>(n);
  return Status::Ok();
}

std::string DescribePrincipal(const Principal& principal) {
  const std::string hex = crypto::HexEncode(principal.key);
  return std::string(principal.kind == Principal::Kind::kClient ? "client " : "enclave ") +
         hex.substr(0, 16);
}

crypto::Bytes SerializeOwnerCommand(const OwnerCommand& command) {
  crypto::Writer w;
  w.U16(kOwnerCommandVersion);
  w.U8(static_cast<uint8_t>(command.kind));
  w.U64(command.partition_version);
  w.U32(static_cast<uint32_t>(command.routes.size()));
  for (const Route& route : command.routes) {
    WritePrincipal(route.from, &w);
    WritePrincipal(route.to, &w);
    w.U64(route.stream_id);
    w.U32(route.part);
    w.U32(route.parts);
  }
  if (command.kind == OwnerCommand::Kind::kProvision) {
    // Not a provision field: a sealed partition is never synthetic.
    w.U8(command.synthetic_weights ? 1 : 0);
    WriteProvisionFields(command, &w);
  } else {
    w.U8(command.check_range ? 1 : 0);
    w.U32(static_cast<uint32_t>(command.begin));
    w.U32(static_cast<uint32_t>(command.end));
    WriteShard(command.shard_index, command.shard_count, &w);
    w.U8(command.peer_root ? 1 : 0);
    if (command.peer_root) w.Raw(*command.peer_root);
  }
  return w.Take();
}

Result<OwnerCommand> ParseOwnerCommand(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "owner command");
  OwnerCommand c;
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r.U16("version"));
  SERDAB_RETURN_IF_ERROR(CheckVersion(version, kOwnerCommandVersion, "owner command"));
  SERDAB_ASSIGN_OR_RETURN(uint8_t kind, r.U8("kind"));
  if (kind != 1 && kind != 2) return Status::Corruption("owner command: unknown kind");
  c.kind = static_cast<OwnerCommand::Kind>(kind);
  SERDAB_ASSIGN_OR_RETURN(c.partition_version, r.U64("partition_version"));
  SERDAB_ASSIGN_OR_RETURN(uint32_t routes, r.U32("route count"));
  if (routes > kMaxRoutes) {
    return Status::InvalidArgument("owner command: more than " + std::to_string(kMaxRoutes) +
                                   " routes");
  }
  c.routes.resize(routes);
  for (Route& route : c.routes) {
    SERDAB_ASSIGN_OR_RETURN(route.from, ReadPrincipal(&r));
    SERDAB_ASSIGN_OR_RETURN(route.to, ReadPrincipal(&r));
    SERDAB_ASSIGN_OR_RETURN(route.stream_id, r.U64("stream_id"));
    SERDAB_ASSIGN_OR_RETURN(route.part, r.U32("part"));
    SERDAB_ASSIGN_OR_RETURN(route.parts, r.U32("parts"));
    if (route.parts < 1 || route.parts > static_cast<uint32_t>(kMaxShards) ||
        route.part >= route.parts) {
      return Status::InvalidArgument("owner command: a route carries part " +
                                     std::to_string(route.part) + " of " +
                                     std::to_string(route.parts));
    }
  }
  if (c.kind == OwnerCommand::Kind::kSetRoutes) {
    SERDAB_ASSIGN_OR_RETURN(uint8_t check, r.U8("check_range"));
    if (check > 1) return Status::Corruption("set routes: check_range is not 0 or 1");
    c.check_range = check == 1;
    SERDAB_ASSIGN_OR_RETURN(uint32_t begin, r.U32("begin"));
    SERDAB_ASSIGN_OR_RETURN(uint32_t end, r.U32("end"));
    c.begin = static_cast<int32_t>(begin);
    c.end = static_cast<int32_t>(end);
    SERDAB_RETURN_IF_ERROR(ReadShard(&r, "set routes", &c.shard_index, &c.shard_count));
    SERDAB_ASSIGN_OR_RETURN(uint8_t has_root, r.U8("has_peer_root"));
    if (has_root > 1) return Status::Corruption("set routes: has_peer_root is not 0 or 1");
    if (has_root == 1) {
      SERDAB_ASSIGN_OR_RETURN(c.peer_root, r.Array<32>("peer_root"));
    }
  }
  if (c.kind == OwnerCommand::Kind::kProvision) {
    SERDAB_ASSIGN_OR_RETURN(uint8_t synthetic, r.U8("synthetic_weights"));
    if (synthetic > 1) return Status::Corruption("provision: synthetic_weights is not 0 or 1");
    c.synthetic_weights = synthetic == 1;
    SERDAB_RETURN_IF_ERROR(ReadProvisionFields(&r, &c));
    if (c.synthetic_weights && c.seal != PartitionSeal::kNone) {
      return Status::InvalidArgument(
          "provision: a partition with synthetic weights (for profiling) cannot be sealed");
    }
  }
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return c;
}

crypto::Bytes SerializeSealedPartition(const crypto::Ed25519PublicKey& owner,
                                       const OwnerCommand& command) {
  crypto::Writer w;
  w.U16(kSealedPartitionVersion);
  w.Raw(owner);
  w.U64(command.partition_version);
  WriteProvisionFields(command, &w);
  return w.Take();
}

Result<SealedPartition> ParseSealedPartition(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "sealed partition");
  SealedPartition p;
  SERDAB_ASSIGN_OR_RETURN(uint16_t version, r.U16("version"));
  SERDAB_RETURN_IF_ERROR(CheckVersion(version, kSealedPartitionVersion, "sealed partition"));
  SERDAB_ASSIGN_OR_RETURN(p.owner, r.Array<32>("owner"));
  p.command.kind = OwnerCommand::Kind::kProvision;
  SERDAB_ASSIGN_OR_RETURN(p.command.partition_version, r.U64("partition_version"));
  SERDAB_RETURN_IF_ERROR(ReadProvisionFields(&r, &p.command));
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return p;
}

}  // namespace serdab::attestation
