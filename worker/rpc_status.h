// Status <-> grpc::Status, so that an error keeps its kind and message across
// a gRPC call. Corruption and IoError have no gRPC twin; they travel as
// DATA_LOSS and UNAVAILABLE.
#ifndef SERDAB_WORKER_RPC_STATUS_H_
#define SERDAB_WORKER_RPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "enclave/common/status.h"

namespace serdab::worker {

grpc::Status ToGrpc(const Status& status);
Status FromGrpc(const grpc::Status& status, const std::string& what);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_RPC_STATUS_H_
