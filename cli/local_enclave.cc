#include "cli/local_enclave.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "enclave/attestation/enclave_identity.h"
#include "enclave/attestation/enclave_image.h"
#include "enclave/attestation/platform.h"

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

}  // namespace

std::string LocalEnclaveConfig(double epc_mib, const std::string& cost_profile) {
  char config[128];
  std::snprintf(config, sizeof(config), "epc_mib = %.17g\ncost_profile = %s\n", epc_mib,
                cost_profile.c_str());
  return config;
}

Result<crypto::Bytes> ReadSmallFile(const std::string& path) {
  constexpr size_t kMaxBytes = 1 << 20;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot read");
  // Reads one byte past the limit, never the whole of a file that is too
  // large (or endless, like a device).
  crypto::Bytes bytes(kMaxBytes + 1);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (in.bad()) return Status::IoError(path + ": cannot read");
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() > kMaxBytes) return Status::InvalidArgument(path + ": larger than 1 MiB");
  return bytes;
}

std::string CoordinatorEnclaveConfig() {
  // The coordinator holds grants, no partition: a small EPC suffices.
  return LocalEnclaveConfig(16, "none") + "role = coordinator\n";
}

Result<attestation::Measurement> ExpectedMeasurement(const std::string& config_text) {
  SERDAB_ASSIGN_OR_RETURN(std::string path, worker::EnclaveHost::ImagePath());
  SERDAB_ASSIGN_OR_RETURN(crypto::Sha256Digest image, attestation::ImageDigestOfFile(path));
  return attestation::Measure(
      image,
      crypto::ByteView(reinterpret_cast<const uint8_t*>(config_text.data()), config_text.size()));
}

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
  const std::string config = LocalEnclaveConfig(options.epc_mib, options.cost_profile);
  crypto::Bytes signature;
  if (!options.signature_path.empty()) {
    SERDAB_ASSIGN_OR_RETURN(signature, ReadSmallFile(options.signature_path));
  }
  SERDAB_ASSIGN_OR_RETURN(local->host_,
                          worker::EnclaveHost::Create(config, platform_dir, signature));
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
  // The CLI owns the enclave it starts, with an identity of its own.
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair owner, crypto::Ed25519KeyPair::Generate());
  SERDAB_ASSIGN_OR_RETURN(local->client_, EnclaveClient::Attest(local->host_.get(), verifier, owner,
                                                                owner.public_key()));
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
