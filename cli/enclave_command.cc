// serdab enclave: the enclave image's identity.
//   enclave keygen --out DIR                  a developer signing key
//   enclave measure [config flags]            the MRENCLAVE a verifier expects
//   enclave sign --key DIR [config flags] --out FILE
//                                             the developer's signature (SIGSTRUCT)
// Config flags: --config FILE (the enclave configuration text), or --epc-mib
// and --enclave-profile for the configuration `serdab infer --enclave sim`
// uses with the same flags.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "cli/commands.h"
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

  void Add(CLI::App* app) {
    app->add_option("--config", path, "enclave configuration file (key = value lines)");
    app->add_option("--epc-mib", epc_mib, "without --config: resident EPC budget in MiB")
        ->capture_default_str();
    app->add_option("--enclave-profile", profile,
                    "without --config: the target TEE, sgx1 | sgx2 | tdx | sev-snp | none")
        ->capture_default_str();
  }
  Result<std::string> Text() const {
    if (path.empty()) return LocalEnclaveConfig(epc_mib, profile);
    SERDAB_ASSIGN_OR_RETURN(crypto::Bytes bytes, ReadSmallFile(path));
    return std::string(bytes.begin(), bytes.end());
  }
};

CLI::App* AddKeygen(CLI::App& enclave, std::string* out) {
  CLI::App* keygen = enclave.add_subcommand("keygen", "create an enclave signing key");
  keygen->footer(
      "Creates an enclave signing key in DIR: signer.key (secret, mode 0600) and\n"
      "signer.pub. Enclaves signed with it share its signer identity (MRSIGNER),\n"
      "which policies can pin and sealed data can be bound to.");
  keygen->add_option("--out", *out, "directory for the signing key")->required();
  return keygen;
}

int Keygen(const std::string& out) {
  const char* cmd = "enclave keygen";
  auto signer = attestation::EnclaveSigner::Generate();
  if (!signer.ok()) return ReportError(cmd, signer.status());
  if (Status s = signer->Save(out); !s.ok()) return ReportError(cmd, s);
  std::printf("mrsigner %s\nwritten to %s/signer.key and %s/signer.pub\n",
              crypto::HexEncode(attestation::SignerOf(signer->signing_key().public_key())).c_str(),
              out.c_str(), out.c_str());
  return 0;
}

CLI::App* AddMeasure(CLI::App& enclave, ConfigFlags* config) {
  CLI::App* measure = enclave.add_subcommand(
      "measure", "print the measurement a verifier expects for a configuration");
  measure->footer(
      "Prints the measurement (MRENCLAVE) of this installation's enclave image\n"
      "with a configuration: what an attestation policy lists to trust it.");
  config->Add(measure);
  return measure;
}

int Measure(const ConfigFlags& config) {
  const char* cmd = "enclave measure";
  auto text = config.Text();
  if (!text.ok()) return ReportError(cmd, text.status());
  auto measurement = ExpectedMeasurement(*text);
  if (!measurement.ok()) return ReportError(cmd, measurement.status());
  auto image = worker::EnclaveHost::ImagePath();
  if (!image.ok()) return ReportError(cmd, image.status());
  std::printf("mrenclave %s\nimage %s\n", crypto::HexEncode(*measurement).c_str(), image->c_str());
  return 0;
}

struct SignFlags {
  ConfigFlags config;
  std::string key, out;
  uint16_t svn = 0;
  bool debug = false;
};

CLI::App* AddSign(CLI::App& enclave, SignFlags* flags) {
  CLI::App* sign = enclave.add_subcommand("sign", "sign the enclave image with a configuration");
  sign->footer(
      "Signs this installation's enclave image with a configuration, like SGX's\n"
      "SIGSTRUCT: an enclave created with the signature has the key's signer\n"
      "identity and the security version given here, and refuses to start if\n"
      "its code or configuration differ from what was signed.");
  flags->config.Add(sign);
  sign->add_option("--key", flags->key, "directory of the signing key (serdab enclave keygen)")
      ->required();
  sign->add_option("--out", flags->out, "where to write the signature")->required();
  sign->add_option("--svn", flags->svn, "security version")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(0, 65535));
  sign->add_flag("--debug", flags->debug, "sign a debug enclave (production policies refuse it)");
  return sign;
}

int Sign(const SignFlags& flags) {
  const char* cmd = "enclave sign";
  const std::string& out = flags.out;
  auto signer = attestation::EnclaveSigner::Load(flags.key);
  if (!signer.ok()) return ReportError(cmd, signer.status());
  auto text = flags.config.Text();
  if (!text.ok()) return ReportError(cmd, text.status());
  auto measurement = ExpectedMeasurement(*text);
  if (!measurement.ok()) return ReportError(cmd, measurement.status());
  auto signature = attestation::SignEnclave(signer->signing_key(), *measurement, flags.svn,
                                            flags.debug ? attestation::kAttributeDebug : 0);
  if (!signature.ok()) return ReportError(cmd, signature.status());
  const crypto::Bytes bytes = attestation::SerializeEnclaveSignature(*signature);
  std::ofstream file(out, std::ios::binary | std::ios::trunc);
  if (!file.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()))) {
    return ReportError(cmd, Status::IoError(out + ": cannot write"));
  }
  std::printf("mrenclave %s\nmrsigner %s\nsvn %u%s\nwritten to %s\n",
              crypto::HexEncode(*measurement).c_str(),
              crypto::HexEncode(attestation::SignerOf(signer->signing_key().public_key())).c_str(),
              unsigned{flags.svn}, flags.debug ? " (debug)" : "", out.c_str());
  return 0;
}

}  // namespace

int RunEnclaveCommand(int argc, char** argv) {
  CLI::App app{"Measures or signs the enclave image.", "enclave"};
  app.footer(
      "A sim enclave protects nothing from its own host: the host holds the platform\n"
      "key, so it can forge quotes and unseal. Policies that refuse simulation refuse\n"
      "every sim platform.");
  app.require_subcommand(1);
  std::string keygen_out;
  ConfigFlags measure_config;
  SignFlags sign;
  const CLI::App* keygen = AddKeygen(app, &keygen_out);
  const CLI::App* measure = AddMeasure(app, &measure_config);
  AddSign(app, &sign);
  if (auto rc = ParseFlags(app, argc, argv)) return *rc;
  if (keygen->parsed()) return Keygen(keygen_out);
  if (measure->parsed()) return Measure(measure_config);
  return Sign(sign);
}

}  // namespace serdab::cli
