// DataPlaneEndpoint: one enclave of a worker, reached through the worker's
// DataPlane service (proto/serdab/v1/data_plane.proto): what a camera client
// needs to attest it and open a session with it, and what the previous
// stage's worker needs to open a mutual session between the two enclaves.
// Owner commands and frames do not go this way (Provision and Process are
// Unimplemented): frames take the Pipe.
#ifndef SERDAB_WORKER_DATA_PLANE_ENDPOINT_H_
#define SERDAB_WORKER_DATA_PLANE_ENDPOINT_H_

#include <memory>
#include <string>

#include "serdab/v1/data_plane.grpc.pb.h"
#include "worker/enclave_endpoint.h"

namespace serdab::worker {

class DataPlaneEndpoint final : public EnclaveEndpoint {
 public:
  DataPlaneEndpoint(std::shared_ptr<v1::DataPlane::StubInterface> stub, std::string address,
                    std::string enclave)
      : stub_(std::move(stub)), address_(std::move(address)), enclave_(std::move(enclave)) {}

  Result<Bytes> Challenge() override;
  Result<Bytes> GetQuote(ByteView nonce) override;
  Result<uint64_t> OpenSession(ByteView request) override;
  Result<Bytes> Provision(uint64_t session, ByteView message) override;
  Result<Bytes> Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session,
                        uint32_t out_hop, uint64_t stream_id, ByteView message) override;
  // With a short deadline: the worker may be gone.
  Status CloseSession(uint64_t session) override;
  // The same without waiting: the call finishes on a gRPC thread, holding
  // what it needs. For code that runs on one (a link that goes away in a
  // stream's callback) and must not block there.
  void CloseSessionLater(uint64_t session);

 private:
  std::string Where(const std::string& what) const;

  std::shared_ptr<v1::DataPlane::StubInterface> stub_;
  const std::string address_;
  const std::string enclave_;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_DATA_PLANE_ENDPOINT_H_
