#include "cli/local_enclave.h"

#include <dlfcn.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/platform.h"
#include "enclave/boundary.h"

namespace serdab::cli {
namespace {

Status MakeThrowawayPlatform(const std::string& ca_dir, const std::string& platform_dir) {
  std::error_code ec;
  std::filesystem::create_directories(ca_dir, ec);
  std::filesystem::create_directories(platform_dir, ec);
  if (ec) return Status::IoError(ca_dir + ": " + ec.message());
  SERDAB_ASSIGN_OR_RETURN(attestation::DeploymentRoot root,
                          attestation::DeploymentRoot::Generate());
  SERDAB_RETURN_IF_ERROR(root.Save(ca_dir));
  SERDAB_ASSIGN_OR_RETURN(attestation::PlatformKey platform, attestation::PlatformKey::Generate());
  SERDAB_RETURN_IF_ERROR(platform.Save(platform_dir));
  SERDAB_ASSIGN_OR_RETURN(
      attestation::PlatformCertificate cert,
      attestation::IssuePlatformCertificate(root, platform.public_key(), "local", 0));
  return attestation::SavePlatformCertificate(cert, platform_dir + "/platform.cert");
}

// The measurement the client expects: the enclave image this binary loads,
// with the configuration it asked for.
Result<attestation::Measurement> ExpectedMeasurement(const std::string& config_text) {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&serdab_ecall_create), &info) == 0 ||
      info.dli_fname == nullptr) {
    return Status::Internal("cannot locate the enclave image");
  }
  std::ifstream in(info.dli_fname, std::ios::binary);
  if (!in) return Status::IoError(std::string(info.dli_fname) + ": cannot read the enclave image");
  const std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bytes = [](const std::string& s) {
    return crypto::ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  return attestation::Measure(bytes(image), bytes(config_text));
}

}  // namespace

Result<std::unique_ptr<LocalEnclave>> LocalEnclave::Start(const LocalEnclaveOptions& options) {
  if (options.ca_dir.empty() != options.platform_dir.empty()) {
    return Status::InvalidArgument("--ca and --platform go together");
  }
  std::unique_ptr<LocalEnclave> local(new LocalEnclave);
  std::string ca_dir = options.ca_dir, platform_dir = options.platform_dir;
  if (ca_dir.empty()) {
    char tmpl[] = "/tmp/serdab-platform-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return Status::IoError("cannot create a temporary directory");
    local->temp_dir_ = tmpl;
    ca_dir = local->temp_dir_ + "/ca";
    platform_dir = local->temp_dir_ + "/platform";
    SERDAB_RETURN_IF_ERROR(MakeThrowawayPlatform(ca_dir, platform_dir));
  }
  char config[128];
  std::snprintf(config, sizeof(config), "epc_mib = %.17g\ncost_profile = %s\n", options.epc_mib,
                options.cost_profile.c_str());
  SERDAB_ASSIGN_OR_RETURN(local->host_, worker::EnclaveHost::Create(config, platform_dir));
  SERDAB_ASSIGN_OR_RETURN(
      crypto::Ed25519PublicKey root,
      attestation::LoadRootPublicKey(ca_dir + "/" + attestation::kRootPublicKeyFile));
  SERDAB_ASSIGN_OR_RETURN(attestation::Measurement expected, ExpectedMeasurement(config));
  attestation::QuotePolicy policy;
  policy.allowed_mrenclaves = {expected};
  policy.allow_simulation = true;
  policy.allow_debug = true;  // a local, unsigned enclave
  SERDAB_ASSIGN_OR_RETURN(attestation::QuoteVerifier verifier,
                          attestation::QuoteVerifier::Create(root, policy));
  SERDAB_ASSIGN_OR_RETURN(local->client_, EnclaveClient::Attest(local->host_.get(), verifier));
  return local;
}

LocalEnclave::~LocalEnclave() {
  client_.reset();
  host_.reset();
  if (!temp_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir_, ignored);
  }
}

}  // namespace serdab::cli
