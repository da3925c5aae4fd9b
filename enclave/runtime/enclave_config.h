// EnclaveConfig: the configuration an enclave is created with.
//
// The text form is part of the measurement, so two enclaves with the same
// code and the same text have the same MRENCLAVE. One "key = value" per line;
// '#' starts a comment. Keys:
//   epc_mib         resident EPC budget in MiB (default 93.5, SGX1's usable EPC)
//   heap_mib        virtual size of the enclave heap in MiB (default 4096)
//   cost_profile    sgx1 | sgx2 | tdx | sev-snp | none (default sgx1): the
//                   target TEE, priced per page swap, first touch and ECALL
//                   (enclave/epc/cost_profile.h)
//   isv_svn         security version when the enclave is unsigned (default 0)
//   debug           true | false (default false; unsigned enclaves are debug)
//   peer_root       hex Ed25519 public key of the deployment root that peer
//                   enclaves' platforms must chain to (needed for mutual
//                   sessions; peers must also have this enclave's measurement)
//   role            worker | coordinator (default worker): a coordinator runs
//                   no partition; it provisions worker enclaves
//                   (enclave/runtime/coordinator.h)
#ifndef SERDAB_ENCLAVE_RUNTIME_ENCLAVE_CONFIG_H_
#define SERDAB_ENCLAVE_RUNTIME_ENCLAVE_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "enclave/common/status.h"
#include "enclave/crypto/keys.h"

namespace serdab::enclave {

struct EnclaveConfig {
  double epc_mib = 93.5;
  double heap_mib = 4096;
  std::string cost_profile = "sgx1";
  uint16_t isv_svn = 0;
  bool debug = false;
  std::optional<crypto::Ed25519PublicKey> peer_root;
  bool coordinator = false;

  size_t epc_bytes() const { return static_cast<size_t>(epc_mib * 1024 * 1024); }
  size_t heap_bytes() const { return static_cast<size_t>(heap_mib * 1024 * 1024); }

  // Errors name the line, the key and what was expected.
  static Result<EnclaveConfig> Parse(std::string_view text);
  std::string ToText() const;
};

}  // namespace serdab::enclave

#endif  // SERDAB_ENCLAVE_RUNTIME_ENCLAVE_CONFIG_H_
