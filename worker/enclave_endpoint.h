// EnclaveEndpoint: what a trusted party (a camera client, a model owner, the
// coordinator) needs from whoever hosts an enclave it talks to: a relay of
// bytes to that one enclave. The host is untrusted: what crosses is
// ciphertext and public attestation evidence, and everything that matters is
// checked at the two ends. EnclaveHost relays through ECALLs in this process;
// RemoteEnclave through a worker daemon over gRPC.
#ifndef SERDAB_WORKER_ENCLAVE_ENDPOINT_H_
#define SERDAB_WORKER_ENCLAVE_ENDPOINT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::worker {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

class EnclaveEndpoint {
 public:
  virtual ~EnclaveEndpoint() = default;

  virtual Result<Bytes> Challenge() = 0;
  virtual Result<Bytes> GetQuote(ByteView nonce) = 0;
  virtual Result<uint64_t> OpenSession(ByteView request) = 0;
  // Runs an owner command. Returns the sealed partition when the owner asked
  // for one and the host hands it back (a worker keeps it instead: empty).
  virtual Result<Bytes> Provision(uint64_t session, ByteView message) = 0;
  virtual Result<Bytes> Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session,
                                uint32_t out_hop, uint64_t stream_id, ByteView message) = 0;
  // Ends a session this party opened, once it is done with it: an enclave
  // holds a bounded number (NotFound for one it does not hold).
  virtual Status CloseSession(uint64_t session) = 0;
};

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_ENCLAVE_ENDPOINT_H_
