// OrchestratorService: the gRPC face of OrchestratorCore
// (proto/serdab/v1/orchestrator.proto). It translates messages and statuses
// and decides who may call what from the caller's verified certificate:
// admins apply and delete; admins and viewers read and watch; a worker
// registers and heartbeats only under the name its certificate carries. All
// other logic is in the core.
#ifndef SERDAB_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_
#define SERDAB_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_

#include "orchestrator/orchestrator_core.h"
#include "serdab/v1/orchestrator.grpc.pb.h"

namespace serdab::orchestrator {

class OrchestratorService final : public v1::Orchestrator::Service {
 public:
  // Without `authenticate` (plaintext on loopback, for development) every
  // caller may do everything, and a worker is who it says it is.
  OrchestratorService(OrchestratorCore* core, bool authenticate)
      : core_(core), authenticate_(authenticate) {}

  grpc::Status RegisterWorker(grpc::ServerContext* context,
                              const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest* request,
                           v1::ListWorkersResponse* response) override;
  grpc::Status CoordinatorQuote(grpc::ServerContext* context,
                                const v1::CoordinatorQuoteRequest* request,
                                v1::CoordinatorQuoteResponse* response) override;
  grpc::Status CoordinatorSession(grpc::ServerContext* context,
                                  const v1::CoordinatorSessionRequest* request,
                                  v1::CoordinatorSessionResponse* response) override;
  grpc::Status Apply(grpc::ServerContext* context, const v1::ApplyRequest* request,
                     v1::ApplyResponse* response) override;
  grpc::Status GetDeployment(grpc::ServerContext* context, const v1::GetDeploymentRequest* request,
                             v1::DeploymentStatus* response) override;
  grpc::Status ListDeployments(grpc::ServerContext* context,
                               const v1::ListDeploymentsRequest* request,
                               v1::ListDeploymentsResponse* response) override;
  grpc::Status DeleteDeployment(grpc::ServerContext* context,
                                const v1::DeleteDeploymentRequest* request,
                                v1::DeleteDeploymentResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const v1::WatchRequest* request,
                     grpc::ServerWriter<v1::Event>* writer) override;

 private:
  enum class Access { kRead, kWrite };
  // PermissionDenied unless the caller is an admin (kWrite) or an admin or
  // viewer (kRead).
  grpc::Status AuthorizeUser(const grpc::ServerContext& context, Access access) const;
  // PermissionDenied unless the caller is the worker named `name`; sets
  // *platform_key from its certificate.
  grpc::Status AuthorizeWorker(const grpc::ServerContext& context, const std::string& name,
                               std::string* platform_key) const;

  OrchestratorCore* core_;
  bool authenticate_;
};

}  // namespace serdab::orchestrator

#endif  // SERDAB_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_
