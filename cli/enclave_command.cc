// serdab enclave: the enclave image's identity.
//   enclave keygen --out DIR                  a developer signing key
//   enclave measure [config flags]            the MRENCLAVE a verifier expects
//   enclave sign --key DIR [config flags] --out FILE
//                                             the developer's signature (SIGSTRUCT)
// Config flags: --config FILE (the enclave configuration text), or --epc-mib
// and --enclave-profile for the configuration `serdab infer --enclave sim`
// uses with the same flags.
#include <cstdio>
#include <fstream>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/local_enclave.h"
#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/platform.h"
#include "enclave/crypto/bytes.h"
#include "worker/enclave_host.h"

namespace serdab::cli {
namespace {

struct ConfigFlags {
  std::string path;
  double epc_mib = 93.5;
  std::string profile = "sgx1";

  void Add(FlagParser* flags) {
    flags->AddString("config", &path, "enclave configuration file (key = value lines)");
    flags->AddDouble("epc-mib", &epc_mib, "without --config: resident EPC budget in MiB");
    flags->AddString("enclave-profile", &profile,
                     "without --config: the target TEE, sgx1 | sgx2 | tdx | sev-snp | none");
  }
  Result<std::string> Text() const {
    if (path.empty()) return LocalEnclaveConfig(epc_mib, profile);
    SERDAB_ASSIGN_OR_RETURN(crypto::Bytes bytes, ReadSmallFile(path));
    return std::string(bytes.begin(), bytes.end());
  }
};

// Parses flags; returns -1 to go on, else the exit code.
int ParseOrExit(FlagParser* flags, int argc, char** argv, const char* cmd) {
  if (Status s = flags->Parse(argc, argv, 3); !s.ok()) return ReportError(cmd, s, true);
  if (flags->help_requested()) {
    std::printf("%s", flags->Usage().c_str());
    return 0;
  }
  return -1;
}

int Keygen(int argc, char** argv) {
  const char* cmd = "enclave keygen";
  std::string out;
  FlagParser flags(cmd,
                   "Creates an enclave signing key in DIR: signer.key (secret, mode 0600) and\n"
                   "signer.pub. Enclaves signed with it share its signer identity (MRSIGNER),\n"
                   "which policies can pin and sealed data can be bound to.");
  flags.AddString("out", &out, "directory for the signing key", true);
  if (int rc = ParseOrExit(&flags, argc, argv, cmd); rc >= 0) return rc;
  auto signer = attestation::EnclaveSigner::Generate();
  if (!signer.ok()) return ReportError(cmd, signer.status());
  if (Status s = signer->Save(out); !s.ok()) return ReportError(cmd, s);
  std::printf("mrsigner %s\nwritten to %s/signer.key and %s/signer.pub\n",
              crypto::HexEncode(attestation::SignerOf(signer->signing_key().public_key())).c_str(),
              out.c_str(), out.c_str());
  return 0;
}

int Measure(int argc, char** argv) {
  const char* cmd = "enclave measure";
  ConfigFlags config;
  FlagParser flags(cmd,
                   "Prints the measurement (MRENCLAVE) of this installation's enclave image\n"
                   "with a configuration: what an attestation policy lists to trust it.");
  config.Add(&flags);
  if (int rc = ParseOrExit(&flags, argc, argv, cmd); rc >= 0) return rc;
  auto text = config.Text();
  if (!text.ok()) return ReportError(cmd, text.status());
  auto measurement = ExpectedMeasurement(*text);
  if (!measurement.ok()) return ReportError(cmd, measurement.status());
  auto image = worker::EnclaveHost::ImagePath();
  if (!image.ok()) return ReportError(cmd, image.status());
  std::printf("mrenclave %s\nimage %s\n", crypto::HexEncode(*measurement).c_str(), image->c_str());
  return 0;
}

int Sign(int argc, char** argv) {
  const char* cmd = "enclave sign";
  ConfigFlags config;
  std::string key, out;
  int64_t svn = 0;
  bool debug = false;
  FlagParser flags(cmd,
                   "Signs this installation's enclave image with a configuration, like SGX's\n"
                   "SIGSTRUCT: an enclave created with the signature has the key's signer\n"
                   "identity and the security version given here, and refuses to start if\n"
                   "its code or configuration differ from what was signed.");
  config.Add(&flags);
  flags.AddString("key", &key, "directory of the signing key (serdab enclave keygen)", true);
  flags.AddString("out", &out, "where to write the signature", true);
  flags.AddInt("svn", &svn, "security version (0..65535)", 0, 65535);
  flags.AddBool("debug", &debug, "sign a debug enclave (production policies refuse it)");
  if (int rc = ParseOrExit(&flags, argc, argv, cmd); rc >= 0) return rc;
  auto signer = attestation::EnclaveSigner::Load(key);
  if (!signer.ok()) return ReportError(cmd, signer.status());
  auto text = config.Text();
  if (!text.ok()) return ReportError(cmd, text.status());
  auto measurement = ExpectedMeasurement(*text);
  if (!measurement.ok()) return ReportError(cmd, measurement.status());
  auto signature =
      attestation::SignEnclave(signer->signing_key(), *measurement, static_cast<uint16_t>(svn),
                               debug ? attestation::kAttributeDebug : 0);
  if (!signature.ok()) return ReportError(cmd, signature.status());
  const crypto::Bytes bytes = attestation::SerializeEnclaveSignature(*signature);
  std::ofstream file(out, std::ios::binary | std::ios::trunc);
  if (!file.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()))) {
    return ReportError(cmd, Status::IoError(out + ": cannot write"));
  }
  std::printf("mrenclave %s\nmrsigner %s\nsvn %lld%s\nwritten to %s\n",
              crypto::HexEncode(*measurement).c_str(),
              crypto::HexEncode(attestation::SignerOf(signer->signing_key().public_key())).c_str(),
              static_cast<long long>(svn), debug ? " (debug)" : "", out.c_str());
  return 0;
}

}  // namespace

int RunEnclaveCommand(int argc, char** argv) {
  const std::string sub = argc > 2 ? argv[2] : "";
  if (sub == "keygen") return Keygen(argc, argv);
  if (sub == "measure") return Measure(argc, argv);
  if (sub == "sign") return Sign(argc, argv);
  if (sub == "--help" || sub == "-h") {
    std::printf(
        "usage: serdab enclave <keygen|measure|sign> [flags]\n\n"
        "  keygen    create an enclave signing key\n"
        "  measure   print the measurement a verifier expects for a configuration\n"
        "  sign      sign the enclave image with a configuration\n\n"
        "A sim enclave protects nothing from its own host: the host holds the platform\n"
        "key, so it can forge quotes and unseal. Policies that refuse simulation refuse\n"
        "every sim platform.\n");
    return 0;
  }
  return ReportError(
      "enclave",
      Status::InvalidArgument("expected 'keygen', 'measure' or 'sign' (see serdab enclave --help)"),
      true);
}

}  // namespace serdab::cli
