// EnclaveClient: the trusted end of a one-sided session with an enclave — a
// camera client or a model owner.
//
// Attest() sends a fresh nonce through the (untrusted) host, verifies the
// enclave's quote against the deployment's root and policy, and opens a
// channel bound to that quote. From then on the client provisions a
// partition and sends frames; the host carries only ciphertext.
#ifndef SERDAB_CLI_ENCLAVE_CLIENT_H_
#define SERDAB_CLI_ENCLAVE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "enclave/attestation/quote_verifier.h"
#include "enclave/crypto/secure_channel.h"
#include "enclave/engine/tensor.h"
#include "worker/enclave_host.h"

namespace serdab::cli {

class EnclaveClient {
 public:
  static Result<std::unique_ptr<EnclaveClient>> Attest(worker::EnclaveHost* host,
                                                       const attestation::QuoteVerifier& verifier);

  const attestation::VerifiedQuote& enclave() const { return verified_; }

  // Sends the model and the layer range the enclave runs. seal_policy as in
  // EnclaveHost::Provision; returns the sealed partition (or nothing).
  Result<crypto::Bytes> Provision(const crypto::Bytes& model, int begin, int end, int threads,
                                  int32_t seal_policy = -1);

  // Encrypts one frame's tensors, has the enclave run its partition, and
  // decrypts the result.
  Result<std::vector<engine::Tensor>> Infer(const std::vector<engine::Tensor>& inputs);

 private:
  EnclaveClient(worker::EnclaveHost* host, attestation::VerifiedQuote verified,
                crypto::SecureChannel channel, uint64_t session)
      : host_(host),
        verified_(std::move(verified)),
        channel_(std::move(channel)),
        session_(session) {}

  static constexpr uint64_t kStreamId = 1;
  static constexpr uint32_t kToEnclaveHop = 0;
  static constexpr uint32_t kFromEnclaveHop = 1;

  worker::EnclaveHost* host_;
  attestation::VerifiedQuote verified_;
  crypto::SecureChannel channel_;
  uint64_t session_;
  uint64_t next_frame_ = 0;
};

}  // namespace serdab::cli

#endif  // SERDAB_CLI_ENCLAVE_CLIENT_H_
