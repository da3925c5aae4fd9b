// RPC metrics for a daemon's gRPC server, from a server interceptor, so that
// no service method needs a line of its own:
//   serdab_rpcs_total{service,method,code}      calls finished, by status code
//   serdab_rpc_duration_seconds{service,method} call time (summary, recent calls)
// e.g. service="serdab.v1.Worker", method="Process", code="OK". Bidirectional
// streams (the data plane's Pipe) are left out: see rpc_metrics.cc.
#ifndef SERDAB_WORKER_RPC_METRICS_H_
#define SERDAB_WORKER_RPC_METRICS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "enclave/common/status.h"
#include "worker/metrics.h"

namespace serdab::worker {

// An interceptor factory for grpc::ServerBuilder::experimental()
// .SetInterceptorCreators that counts and times every call but bidirectional
// streams into `registry` (which must outlive the server).
Result<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
MakeRpcMetricsInterceptor(metrics::Registry* registry);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_RPC_METRICS_H_
