#include "worker/worker_service.h"

#include <grpc/grpc_security_constants.h>

#include <string>

#include "worker/node_certificates.h"
#include "worker/rpc_status.h"

namespace serdab::worker {
namespace {

ByteView View(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string ToString(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

void Fill(const EnclaveInfo& info, v1::EnclaveSummary* out) {
  out->set_enclave(info.name);
  out->set_mrenclave(info.mrenclave);
  out->set_restored(info.restored);
}

}  // namespace

grpc::Status WorkerService::Authorize(grpc::ServerContext* context, Access access) const {
  if (!authenticate_) return grpc::Status::OK;
  const auto pem = context->auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no client certificate");
  }
  auto peer = IdentityOfCertificate(std::string_view(pem.front().data(), pem.front().size()));
  if (!peer.ok()) return ToGrpc(peer.status());
  const bool allowed = peer->role == Role::kOrchestrator || peer->role == Role::kAdmin ||
                       (peer->role == Role::kViewer && access == Access::kRead);
  if (allowed) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      std::string(RoleName(peer->role)) + " '" + peer->name + "' may not " +
                          (access == Access::kRead ? "read" : "change") + " this worker");
}

grpc::Status WorkerService::CreateEnclave(grpc::ServerContext* context,
                                          const v1::CreateEnclaveRequest* request,
                                          v1::CreateEnclaveResponse* response) {
  if (grpc::Status denied = Authorize(context, Access::kWrite); !denied.ok()) return denied;
  auto info =
      core_->CreateEnclave(request->enclave(), request->config(), View(request->signature()));
  if (!info.ok()) return ToGrpc(info.status());
  response->set_enclave(info->name);
  response->set_mrenclave(info->mrenclave);
  return grpc::Status::OK;
}

grpc::Status WorkerService::DestroyEnclave(grpc::ServerContext* context,
                                           const v1::EnclaveRef* request,
                                           v1::DestroyEnclaveResponse*) {
  if (grpc::Status denied = Authorize(context, Access::kWrite); !denied.ok()) return denied;
  return ToGrpc(core_->DestroyEnclave(request->enclave()));
}

grpc::Status WorkerService::Challenge(grpc::ServerContext* context, const v1::EnclaveRef* request,
                                      v1::ChallengeResponse* response) {
  if (grpc::Status denied = Authorize(context, Access::kWrite); !denied.ok()) return denied;
  auto nonce = core_->Challenge(request->enclave());
  if (!nonce.ok()) return ToGrpc(nonce.status());
  response->set_nonce(ToString(*nonce));
  return grpc::Status::OK;
}

grpc::Status WorkerService::GetQuote(grpc::ServerContext* context,
                                     const v1::GetQuoteRequest* request,
                                     v1::GetQuoteResponse* response) {
  if (grpc::Status denied = Authorize(context, Access::kWrite); !denied.ok()) return denied;
  auto evidence = core_->GetQuote(request->enclave(), View(request->nonce()));
  if (!evidence.ok()) return ToGrpc(evidence.status());
  response->set_evidence(ToString(*evidence));
  return grpc::Status::OK;
}

grpc::Status WorkerService::OpenSession(grpc::ServerContext* context,
                                        const v1::OpenSessionRequest* request,
                                        v1::OpenSessionResponse* response) {
  if (grpc::Status denied = Authorize(context, Access::kWrite); !denied.ok()) return denied;
  auto session = core_->OpenSession(request->enclave(), View(request->request()));
  if (!session.ok()) return ToGrpc(session.status());
  response->set_session(*session);
  return grpc::Status::OK;
}

grpc::Status WorkerService::CloseSession(grpc::ServerContext* context,
                                         const v1::CloseSessionRequest* request,
                                         v1::CloseSessionResponse*) {
  if (grpc::Status denied = Authorize(context, Access::kWrite); !denied.ok()) return denied;
  return ToGrpc(core_->CloseSession(request->enclave(), request->session()));
}

grpc::Status WorkerService::Provision(grpc::ServerContext* context,
                                      const v1::ProvisionRequest* request,
                                      v1::ProvisionResponse* response) {
  if (grpc::Status denied = Authorize(context, Access::kWrite); !denied.ok()) return denied;
  auto sealed = core_->Provision(request->enclave(), request->session(), View(request->message()));
  if (!sealed.ok()) return ToGrpc(sealed.status());
  response->set_sealed(*sealed);
  return grpc::Status::OK;
}

grpc::Status WorkerService::Profile(grpc::ServerContext* context, const v1::ProfileRequest* request,
                                    v1::ProfileResponse* response) {
  if (grpc::Status denied = Authorize(context, Access::kWrite); !denied.ok()) return denied;
  auto json = core_->Profile(request->enclave(), request->repeats(), !request->skip_paging());
  if (!json.ok()) return ToGrpc(json.status());
  response->set_json(*json);
  return grpc::Status::OK;
}

grpc::Status WorkerService::Stats(grpc::ServerContext* context, const v1::EnclaveRef* request,
                                  v1::StatsResponse* response) {
  if (grpc::Status denied = Authorize(context, Access::kRead); !denied.ok()) return denied;
  auto json = core_->Stats(request->enclave());
  if (!json.ok()) return ToGrpc(json.status());
  response->set_json(*json);
  return grpc::Status::OK;
}

grpc::Status WorkerService::Process(grpc::ServerContext* context, const v1::ProcessRequest* request,
                                    v1::ProcessResponse* response) {
  if (grpc::Status denied = Authorize(context, Access::kWrite); !denied.ok()) return denied;
  auto result = core_->Process(request->enclave(), request->in_session(), request->in_hop(),
                               request->out_session(), request->out_hop(), request->stream(),
                               View(request->message()));
  if (!result.ok()) return ToGrpc(result.status());
  response->set_message(ToString(*result));
  return grpc::Status::OK;
}

grpc::Status WorkerService::ListEnclaves(grpc::ServerContext* context,
                                         const v1::ListEnclavesRequest*,
                                         v1::ListEnclavesResponse* response) {
  if (grpc::Status denied = Authorize(context, Access::kRead); !denied.ok()) return denied;
  for (const EnclaveInfo& info : core_->List()) Fill(info, response->add_enclaves());
  return grpc::Status::OK;
}

}  // namespace serdab::worker
