// RemoteEnclave: an EnclaveEndpoint for one enclave of a worker daemon,
// reached over gRPC (proto/serdab/v1/worker.proto). A trusted client attests
// and talks to the enclave through it exactly as through a local
// EnclaveHost: the worker in between relays ciphertext.
#ifndef SERDAB_WORKER_REMOTE_ENCLAVE_H_
#define SERDAB_WORKER_REMOTE_ENCLAVE_H_

#include <memory>
#include <string>

#include "serdab/v1/worker.grpc.pb.h"
#include "worker/enclave_endpoint.h"

namespace serdab::worker {

class RemoteEnclave final : public EnclaveEndpoint {
 public:
  RemoteEnclave(std::shared_ptr<v1::Worker::StubInterface> stub, std::string enclave)
      : stub_(std::move(stub)), enclave_(std::move(enclave)) {}

  Result<Bytes> Challenge() override;
  Result<Bytes> GetQuote(ByteView nonce) override;
  Result<uint64_t> OpenSession(ByteView request) override;
  // The worker keeps a sealed partition itself: this returns an empty blob.
  Result<Bytes> Provision(uint64_t session, ByteView message) override;
  Result<Bytes> Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session,
                        uint32_t out_hop, uint64_t stream_id, ByteView message) override;
  Status CloseSession(uint64_t session) override;

 private:
  std::shared_ptr<v1::Worker::StubInterface> stub_;
  std::string enclave_;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_REMOTE_ENCLAVE_H_
