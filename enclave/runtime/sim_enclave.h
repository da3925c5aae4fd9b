// SimEnclave: one enclave instance of the `sim` backend, the trusted object
// behind the ECALLs in enclave/boundary.h.
//
// It owns the enclave's identity, its EPC-limited heap (every weight and
// activation of its partition lives there), the attestation keys it answered
// quotes with, its sessions, and the provisioned model partition. Nothing in
// here is reachable from the host except through boundary.cc, which passes
// bytes in and out.
//
// Thread safety: every public method takes the enclave's lock; ECALLs into
// one enclave are serialised, as a pipeline stage handles one frame at a
// time. (The engine still runs each frame on its own worker threads.)
#ifndef SERDAB_ENCLAVE_RUNTIME_SIM_ENCLAVE_H_
#define SERDAB_ENCLAVE_RUNTIME_SIM_ENCLAVE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/platform.h"
#include "enclave/crypto/secure_channel.h"
#include "enclave/engine/model.h"
#include "enclave/epc/epc_heap.h"
#include "enclave/runtime/enclave_config.h"

namespace serdab::enclave {

class SimEnclave {
 public:
  // `code` is the bytes of the enclave image (what the measurement covers).
  static Result<std::unique_ptr<SimEnclave>> Create(crypto::ByteView code,
                                                    std::string_view config_text,
                                                    const std::string& platform_dir,
                                                    crypto::ByteView sigstruct);
  ~SimEnclave();

  const attestation::EnclaveIdentity& identity() const { return identity_; }

  // Counts one ECALL and charges its cost (called first by every ECALL).
  void RecordEcall();

  Result<crypto::Bytes> Challenge();
  Result<crypto::Bytes> GetQuote(crypto::ByteView nonce);
  Result<uint64_t> OpenSession(crypto::ByteView request);
  Status CloseSession(uint64_t session);
  // Returns the sealed partition when seal_policy is 0 or 1, else empty.
  Result<crypto::Bytes> Provision(uint64_t session, crypto::ByteView message, int32_t seal_policy,
                                  size_t seal_capacity);
  Status UnsealPartition(crypto::ByteView blob);
  // Needed output bytes are returned as OutOfRange with *needed set before
  // any state changes.
  Status Process(uint64_t in_session, uint32_t in_hop, uint64_t out_session, uint32_t out_hop,
                 uint64_t stream_id, crypto::ByteView message, uint8_t* out, size_t capacity,
                 size_t* out_size);
  // See serdab_ecall_profile.
  Result<std::string> Profile(uint32_t repeats);
  std::string StatsJson();

 private:
  struct PendingKey {
    crypto::X25519KeyPair key;
    crypto::Bytes quote;
  };

  SimEnclave() = default;
  Status LoadPartition(crypto::ByteView provision_plaintext);
  Result<crypto::SecureChannel*> FindSession(uint64_t session);

  std::mutex mu_;
  EnclaveConfig config_;
  attestation::EnclaveIdentity identity_;
  std::unique_ptr<attestation::PlatformKey> platform_;
  attestation::PlatformCertificate certificate_;
  std::unique_ptr<epc::EpcHeap> heap_;

  std::map<crypto::X25519PublicKey, PendingKey> pending_;  // evidence keys not yet used
  std::map<crypto::Bytes, bool> challenges_;               // nonces issued, not yet answered
  std::map<uint64_t, std::unique_ptr<crypto::SecureChannel>> sessions_;
  uint64_t next_session_ = 1;

  std::unique_ptr<engine::Model> model_;
  std::vector<engine::Tensor> inputs_;  // the partition's input, reused every frame
  int begin_ = 0;
  int end_ = 0;
};

}  // namespace serdab::enclave

#endif  // SERDAB_ENCLAVE_RUNTIME_SIM_ENCLAVE_H_
