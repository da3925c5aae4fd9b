// WorkerService: the gRPC face of WorkerCore (proto/serdab/v1/worker.proto).
// It translates messages and statuses, and decides who may call what from
// the caller's verified certificate (worker/node_certificates.h): the
// orchestrator and admins may do everything, viewers may read stats and the
// enclave list, anyone else nothing. All other logic is in the core.
#ifndef SERDAB_WORKER_WORKER_SERVICE_H_
#define SERDAB_WORKER_WORKER_SERVICE_H_

#include "serdab/v1/worker.grpc.pb.h"
#include "worker/worker_core.h"

namespace serdab::worker {

class WorkerService final : public v1::Worker::Service {
 public:
  // Without `authenticate` (plaintext on loopback, for development) every
  // caller may do everything.
  WorkerService(WorkerCore* core, bool authenticate) : core_(core), authenticate_(authenticate) {}

  grpc::Status CreateEnclave(grpc::ServerContext* context, const v1::CreateEnclaveRequest* request,
                             v1::CreateEnclaveResponse* response) override;
  grpc::Status DestroyEnclave(grpc::ServerContext* context, const v1::EnclaveRef* request,
                              v1::DestroyEnclaveResponse* response) override;
  grpc::Status Challenge(grpc::ServerContext* context, const v1::EnclaveRef* request,
                         v1::ChallengeResponse* response) override;
  grpc::Status GetQuote(grpc::ServerContext* context, const v1::GetQuoteRequest* request,
                        v1::GetQuoteResponse* response) override;
  grpc::Status OpenSession(grpc::ServerContext* context, const v1::OpenSessionRequest* request,
                           v1::OpenSessionResponse* response) override;
  grpc::Status CloseSession(grpc::ServerContext* context, const v1::CloseSessionRequest* request,
                            v1::CloseSessionResponse* response) override;
  grpc::Status Provision(grpc::ServerContext* context, const v1::ProvisionRequest* request,
                         v1::ProvisionResponse* response) override;
  grpc::Status Profile(grpc::ServerContext* context, const v1::ProfileRequest* request,
                       v1::ProfileResponse* response) override;
  grpc::Status Stats(grpc::ServerContext* context, const v1::EnclaveRef* request,
                     v1::StatsResponse* response) override;
  grpc::Status Process(grpc::ServerContext* context, const v1::ProcessRequest* request,
                       v1::ProcessResponse* response) override;
  grpc::Status ListEnclaves(grpc::ServerContext* context, const v1::ListEnclavesRequest* request,
                            v1::ListEnclavesResponse* response) override;

 private:
  enum class Access { kRead, kWrite };
  // PermissionDenied unless the caller's certificate allows `access`.
  grpc::Status Authorize(grpc::ServerContext* context, Access access) const;

  WorkerCore* core_;
  bool authenticate_;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_WORKER_SERVICE_H_
