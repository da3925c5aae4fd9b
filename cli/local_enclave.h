// LocalEnclave: a sim enclave on this machine with the CLI as its host, model
// owner and client at once (serdab infer --enclave sim, serdab profile).
//
// Without a deployment's own root and platform directories it makes a
// throwaway root and platform certificate in a temporary directory, removed
// with the object. The client side verifies the quote against that root and
// against the measurement of the enclave image this binary loads. The CLI is
// the enclave's owner, with a throwaway identity.
#ifndef SERDAB_CLI_LOCAL_ENCLAVE_H_
#define SERDAB_CLI_LOCAL_ENCLAVE_H_

#include <memory>
#include <string>

#include "cli/enclave_client.h"
#include "worker/enclave_host.h"

namespace serdab::cli {

struct LocalEnclaveOptions {
  double epc_mib = 93.5;
  std::string cost_profile = "sgx1";
  std::string ca_dir;  // with platform_dir, or both empty for a throwaway pair
  std::string platform_dir;
  std::string signature_path;  // serdab enclave sign; empty: an unsigned (debug) enclave
};

// The enclave configuration text for an EPC size and cost profile: what
// `serdab infer --enclave sim` creates, and what `serdab enclave sign`
// signs when given the same flags.
std::string LocalEnclaveConfig(double epc_mib, const std::string& cost_profile);
// The configuration of the orchestrator's coordinator enclave
// (enclave/runtime/coordinator.h): part of its measurement, so that a model
// owner predicts the coordinator's MRENCLAVE from the same build.
std::string CoordinatorEnclaveConfig();

// A file of at most 1 MiB (keys, signatures, configs).
Result<crypto::Bytes> ReadSmallFile(const std::string& path);

// The measurement of the enclave image this process loads, with
// `config_text`: what a verifier of such an enclave expects.
Result<attestation::Measurement> ExpectedMeasurement(const std::string& config_text);

class LocalEnclave {
 public:
  static Result<std::unique_ptr<LocalEnclave>> Start(const LocalEnclaveOptions& options);
  ~LocalEnclave();

  worker::EnclaveHost& host() { return *host_; }
  EnclaveClient& client() { return *client_; }

 private:
  LocalEnclave() = default;

  std::string temp_dir_;  // removed on destruction when set
  std::unique_ptr<worker::EnclaveHost> host_;
  std::unique_ptr<EnclaveClient> client_;
};

}  // namespace serdab::cli

#endif  // SERDAB_CLI_LOCAL_ENCLAVE_H_
