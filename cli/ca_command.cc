// serdab ca: the deployment's root of trust for the sim backend.
//   ca init --out DIR                      a new root key pair (root.key, root.pub)
//   ca issue-platform --ca DIR --out DIR [--type sim|sgx]
//                                          a platform key and its certificate
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "enclave/attestation/platform.h"
#include "enclave/crypto/bytes.h"

namespace serdab::cli {
namespace {

Status MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return Status::Ok();
  return Status::IoError(dir + ": cannot create directory: " + std::strerror(errno));
}

int Init(int argc, char** argv) {
  std::string out;
  FlagParser flags("ca init",
                   "Creates a deployment root key pair in DIR: root.key (secret, mode 0600) and\n"
                   "root.pub. Verifiers trust enclaves whose platform chains to this root.");
  flags.AddString("out", &out, "directory for the root key pair", true);
  if (Status s = flags.Parse(argc, argv, 3); !s.ok()) return ReportError("ca init", s, true);
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (Status s = MakeDir(out); !s.ok()) return ReportError("ca init", s);
  auto root = attestation::DeploymentRoot::Generate();
  if (!root.ok()) return ReportError("ca init", root.status());
  if (Status s = root->Save(out); !s.ok()) return ReportError("ca init", s);
  std::printf("root public key %s\nwritten to %s/root.key and %s/root.pub\n",
              crypto::HexEncode(root->public_key()).c_str(), out.c_str(), out.c_str());
  return 0;
}

int IssuePlatform(int argc, char** argv) {
  std::string ca, out, id = "platform", type_name = "sim";
  FlagParser flags("ca issue-platform",
                   "Certifies a host's platform key with the deployment root. Creates the\n"
                   "platform key in DIR if DIR has none (platform.key, mode 0600; platform.pub)\n"
                   "and writes DIR/platform.cert. A worker quotes with this key.");
  flags.AddString("ca", &ca, "directory of the root key pair (serdab ca init)", true);
  flags.AddString("out", &out, "the platform's directory", true);
  flags.AddString("id", &id, "platform id recorded in the certificate");
  flags.AddString("type", &type_name,
                  "sim (the software TEE, whose host can forge quotes and unseal: policies\n"
                  "that refuse simulation refuse it) | sgx (a host whose enclaves run on SGX\n"
                  "hardware; the sim backend refuses to run on it)");
  if (Status s = flags.Parse(argc, argv, 3); !s.ok()) {
    return ReportError("ca issue-platform", s, true);
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  auto type = attestation::ParsePlatformType(type_name);
  if (!type.ok())
    return ReportError("ca issue-platform", type.status().WithContext("--type"), true);
  auto root = attestation::DeploymentRoot::Load(ca);
  if (!root.ok()) return ReportError("ca issue-platform", root.status());
  if (Status s = MakeDir(out); !s.ok()) return ReportError("ca issue-platform", s);
  auto platform = attestation::PlatformKey::Load(out);
  if (!platform.ok()) {
    struct stat st;
    if (::stat((out + "/" + attestation::kPlatformSecretKeyFile).c_str(), &st) == 0) {
      return ReportError("ca issue-platform", platform.status());  // exists but unreadable
    }
    platform = attestation::PlatformKey::Generate();
    if (!platform.ok()) return ReportError("ca issue-platform", platform.status());
    if (Status s = platform->Save(out); !s.ok()) return ReportError("ca issue-platform", s);
  }
  auto cert = attestation::IssuePlatformCertificate(
      *root, platform->public_key(), id, static_cast<uint64_t>(std::time(nullptr)), *type);
  if (!cert.ok()) return ReportError("ca issue-platform", cert.status());
  const std::string cert_path = out + "/platform.cert";
  if (Status s = attestation::SavePlatformCertificate(*cert, cert_path); !s.ok()) {
    return ReportError("ca issue-platform", s);
  }
  std::printf("platform '%s' (%s) key %s\ncertified by root %s\nwritten to %s\n", id.c_str(),
              std::string(attestation::PlatformTypeName(*type)).c_str(),
              crypto::HexEncode(platform->public_key()).c_str(),
              crypto::HexEncode(root->public_key()).c_str(), cert_path.c_str());
  return 0;
}

}  // namespace

int RunCaCommand(int argc, char** argv) {
  const std::string sub = argc > 2 ? argv[2] : "";
  if (sub == "init") return Init(argc, argv);
  if (sub == "issue-platform") return IssuePlatform(argc, argv);
  if (sub == "--help" || sub == "-h") {
    std::printf(
        "usage: serdab ca <init|issue-platform> [flags]\n\n"
        "  init             create a deployment root key pair\n"
        "  issue-platform   certify a host's platform key with the root\n");
    return 0;
  }
  return ReportError("ca",
                     Status::InvalidArgument("expected 'init' or 'issue-platform' (see "
                                             "serdab ca --help)"),
                     true);
}

}  // namespace serdab::cli
