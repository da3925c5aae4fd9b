// EnclaveHost: the untrusted host's handle on one enclave.
//
// A thin, owning wrapper over the ECALLs of enclave/boundary.h that turns
// status codes into Status values and sizes output buffers. Everything it
// passes or receives is ciphertext, sealed data or public attestation
// evidence: the host never sees a frame, a feature map or a weight.
#ifndef SERDAB_WORKER_ENCLAVE_HOST_H_
#define SERDAB_WORKER_ENCLAVE_HOST_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "enclave/common/status.h"
#include "worker/enclave_endpoint.h"
#include "worker/pipe_frame.h"

namespace serdab::worker {

class EnclaveHost final : public EnclaveEndpoint {
 public:
  // Loads an enclave with `config_text` (see enclave/runtime/enclave_config.h)
  // on the platform whose key and certificate are in `platform_dir`.
  static Result<std::unique_ptr<EnclaveHost>> Create(const std::string& config_text,
                                                     const std::string& platform_dir,
                                                     ByteView sigstruct = {});
  ~EnclaveHost() override;
  EnclaveHost(const EnclaveHost&) = delete;
  EnclaveHost& operator=(const EnclaveHost&) = delete;

  Result<Bytes> Challenge() override;
  Result<Bytes> GetQuote(ByteView nonce) override;
  Result<uint64_t> OpenSession(ByteView request) override;
  Status CloseSession(uint64_t session) override;
  // Runs an owner command; returns the sealed partition when the owner asked
  // for one, else an empty blob.
  Result<Bytes> Provision(uint64_t session, ByteView message) override;
  Status UnsealPartition(ByteView blob);
  Result<Bytes> Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session,
                        uint32_t out_hop, uint64_t stream_id, ByteView message) override;
  // Process for the data plane, which relays megabytes per frame: the
  // message may lie in pieces (the boundary gathers them as it copies them
  // in), and the result is the buffer the ECALL wrote, neither zero-filled
  // first nor copied after. It is sealed to each of `out_sessions` (one, or
  // the shards of the next layer): a payload each, in their order, sharing
  // that buffer; each is empty when the enclave kept the message as a part
  // of a frame (serdab_ecall_process).
  Result<std::vector<Payload>> ProcessFrame(uint64_t in_session, uint32_t in_hop,
                                            const std::vector<uint64_t>& out_sessions,
                                            uint32_t out_hop, uint64_t stream_id,
                                            const Payload& message);
  // Per-layer times of the provisioned partition and, when asked, the page
  // swap cost, as JSON (see serdab_ecall_profile).
  Result<std::string> Profile(uint32_t repeats, bool measure_paging = true);
  // The enclave's identity and counters as JSON.
  Result<std::string> StatsJson();
  // One step of a coordinator enclave (serdab_ecall_coordinate): `request`
  // is a serialised CoordinatorRequest; returns the serialised reply.
  Result<Bytes> Coordinate(uint64_t session, ByteView request);

  // The raw handle, for a caller that needs the ECALLs of enclave/boundary.h
  // directly (tests that play a hostile host).
  uint64_t handle() const { return handle_; }

  // The path of the enclave image this process loaded, for a verifier that
  // predicts its measurement (attestation/enclave_image.h).
  static Result<std::string> ImagePath();

 private:
  explicit EnclaveHost(uint64_t handle) : handle_(handle) {}
  void GrowProcessCapacity(size_t size);

  uint64_t handle_;
  std::atomic<size_t> process_capacity_{64 * 1024};  // grows to the largest result seen
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_ENCLAVE_HOST_H_
