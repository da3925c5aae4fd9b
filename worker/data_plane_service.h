// DataPlaneService: the gRPC face of DataPlaneCore
// (proto/serdab/v1/data_plane.proto), on gRPC's callback API so that an open
// pipe costs no thread. A pipe reads its next frame only once the core took
// the last one: a full stage stops the reads, and HTTP/2 flow control pushes
// back to the sender. Replies go out one write at a time, in order. Pipe
// messages are read as raw byte buffers (pipe_wire.h), so a frame's payload
// goes from the slices gRPC received to the ECALL without a copy.
//
// Any caller with a certificate of the deployment's CA may use it (camera
// clients, other workers): what it carries is ciphertext and attestation
// evidence, and the enclaves decide what is processed.
#ifndef SERDAB_WORKER_DATA_PLANE_SERVICE_H_
#define SERDAB_WORKER_DATA_PLANE_SERVICE_H_

#include "serdab/v1/data_plane.grpc.pb.h"
#include "worker/data_plane_core.h"
#include "worker/worker_core.h"

namespace serdab::worker {

// The generated callback service with Pipe on byte buffers.
using DataPlaneServiceBase =
    v1::DataPlane::WithRawCallbackMethod_Pipe<v1::DataPlane::WithCallbackMethod_Challenge<
        v1::DataPlane::WithCallbackMethod_GetQuote<v1::DataPlane::WithCallbackMethod_OpenSession<
            v1::DataPlane::WithCallbackMethod_CloseSession<v1::DataPlane::Service>>>>>;

class DataPlaneService final : public DataPlaneServiceBase {
 public:
  // Without `authenticate` (plaintext on loopback) every caller is served.
  DataPlaneService(DataPlaneCore* data_plane, WorkerCore* core, bool authenticate)
      : data_plane_(data_plane), core_(core), authenticate_(authenticate) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Pipe(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Challenge(grpc::CallbackServerContext* context,
                                      const v1::EnclaveRef* request,
                                      v1::ChallengeResponse* response) override;
  grpc::ServerUnaryReactor* GetQuote(grpc::CallbackServerContext* context,
                                     const v1::GetQuoteRequest* request,
                                     v1::GetQuoteResponse* response) override;
  grpc::ServerUnaryReactor* OpenSession(grpc::CallbackServerContext* context,
                                        const v1::OpenSessionRequest* request,
                                        v1::OpenSessionResponse* response) override;
  grpc::ServerUnaryReactor* CloseSession(grpc::CallbackServerContext* context,
                                         const v1::CloseSessionRequest* request,
                                         v1::CloseSessionResponse* response) override;

 private:
  grpc::Status Authorize(grpc::CallbackServerContext* context) const;
  grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const grpc::Status& status);

  DataPlaneCore* data_plane_;
  WorkerCore* core_;
  bool authenticate_;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_DATA_PLANE_SERVICE_H_
