// serdab ca: the deployment's root of trust for the sim backend.
//   ca init --out DIR                      a new root key pair (root.key, root.pub)
//                                          and X.509 CA (ca.crt, ca.key)
//   ca issue-platform --ca DIR --out DIR [--type sim|sgx]
//                                          a platform key and its certificate
//   ca issue-node --ca DIR --name N --role worker|orchestrator --out DIR [--host H]...
//   ca issue-user --ca DIR --name N --role admin|viewer --out DIR
//                                          X.509 certificates for mutual TLS
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "enclave/attestation/platform.h"
#include "enclave/crypto/bytes.h"
#include "worker/node_certificates.h"

namespace serdab::cli {
namespace {

Status MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return Status::Ok();
  return Status::IoError(dir + ": cannot create directory: " + std::strerror(errno));
}

CLI::App* AddInit(CLI::App& ca, std::string* out) {
  CLI::App* init =
      ca.add_subcommand("init", "create a deployment root: attestation root and TLS CA");
  init->footer(
      "Creates a deployment root in DIR: the attestation root key pair (root.key,\n"
      "secret, mode 0600; root.pub), which verifiers trust enclaves' platforms to\n"
      "chain to, and the X.509 CA of the control plane's mutual TLS (ca.crt;\n"
      "ca.key, secret, mode 0600).");
  init->add_option("--out", *out, "directory for the root key pair")->required();
  return init;
}

int Init(const std::string& out) {
  if (Status s = MakeDir(out); !s.ok()) return ReportError("ca init", s);
  auto root = attestation::DeploymentRoot::Generate();
  if (!root.ok()) return ReportError("ca init", root.status());
  if (Status s = root->Save(out); !s.ok()) return ReportError("ca init", s);
  const std::string hex = crypto::HexEncode(root->public_key());
  if (Status s =
          worker::CreateCertificateAuthority(out, "serdab deployment " + hex.substr(0, 16), 3650);
      !s.ok()) {
    return ReportError("ca init", s);
  }
  std::printf("root public key %s\nwritten to %s/root.key, root.pub, ca.crt and ca.key\n",
              hex.c_str(), out.c_str());
  return 0;
}

// issue-node and issue-user: one X.509 certificate signed by the CA.
struct CertificateFlags {
  std::string ca, out, name, role, platform_dir;
  std::vector<std::string> hosts;
  int days = 365;
};

CLI::App* AddIssueCertificate(CLI::App& ca, bool node, CertificateFlags* flags) {
  CLI::App* issue =
      node ? ca.add_subcommand("issue-node", "a worker's or orchestrator's TLS certificate")
           : ca.add_subcommand("issue-user", "an admin's or viewer's TLS client certificate");
  issue->footer(
      node ? "Issues a worker's or orchestrator's certificate for mutual TLS: DIR/node.crt,\n"
             "DIR/node.key (mode 0600) and DIR/ca.crt. With --platform, the certificate\n"
             "also names the node's platform key, tying its TLS identity to its\n"
             "attestation identity."
           : "Issues a user's client certificate for mutual TLS: DIR/user.crt,\n"
             "DIR/user.key (mode 0600) and DIR/ca.crt. An admin may change the\n"
             "cluster; a viewer may only read it. Also writes DIR/root.pub (the\n"
             "attestation root, against which serdab apply verifies the coordinator\n"
             "enclave) and, unless DIR has one, the user's model owner key\n"
             "DIR/owner.key (0600) and owner.pub: only its holder may replace the\n"
             "models of the deployments it applied.");
  issue->add_option("--ca", flags->ca, "the deployment root directory (serdab ca init)")
      ->required();
  issue->add_option("--name", flags->name, node ? "the node's name" : "the user's name")
      ->required();
  issue->add_option("--role", flags->role, "the role the certificate grants")
      ->required()
      ->check(node ? CLI::IsMember({"worker", "orchestrator"})
                   : CLI::IsMember({"admin", "viewer"}));
  issue->add_option("--out", flags->out, "directory for the certificate and key")->required();
  issue->add_option("--days", flags->days, "validity in days")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(1, 3650));
  if (node) {
    // One value per --host, so that a stray word after it is an error, not a host.
    issue
        ->add_option("--host", flags->hosts,
                     "comma-separated DNS names and IPs the node serves on (repeatable)")
        ->delimiter(',')
        ->allow_extra_args(false);
    issue->add_option("--platform", flags->platform_dir, "the node's platform directory");
  }
  return issue;
}

int IssueCertificate(const CertificateFlags& flags, bool node) {
  const char* cmd = node ? "ca issue-node" : "ca issue-user";
  worker::CertificateRequest request;
  request.name = flags.name;
  // --role's check admits only names ParseRole knows.
  request.role = worker::ParseRole(flags.role).value();
  request.days = flags.days;
  request.hosts = flags.hosts;
  if (!flags.platform_dir.empty()) {
    auto key = attestation::LoadPlatformPublicKey(flags.platform_dir + "/" +
                                                  attestation::kPlatformPublicKeyFile);
    if (!key.ok()) return ReportError(cmd, key.status());
    request.platform_key_hex = crypto::HexEncode(*key);
  }
  if (Status s = worker::IssueCertificate(flags.ca, request, flags.out, node ? "node" : "user");
      !s.ok()) {
    return ReportError(cmd, s);
  }
  if (!node) {
    std::error_code ec;
    std::filesystem::copy_file(flags.ca + "/" + attestation::kRootPublicKeyFile,
                               flags.out + "/" + attestation::kRootPublicKeyFile,
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) {
      return ReportError(cmd, Status::IoError(flags.out + "/" + attestation::kRootPublicKeyFile +
                                              ": cannot copy the root: " + ec.message()));
    }
    if (!std::filesystem::exists(flags.out + "/" + attestation::kOwnerSecretKeyFile)) {
      auto owner = attestation::ModelOwnerKey::Generate();
      Status saved = owner.ok() ? owner->Save(flags.out) : owner.status();
      if (!saved.ok()) return ReportError(cmd, saved);
    }
  }
  std::printf("%s '%s' (%s) written to %s/%s.crt and %s.key\n", node ? "node" : "user",
              flags.name.c_str(), flags.role.c_str(), flags.out.c_str(), node ? "node" : "user",
              node ? "node" : "user");
  return 0;
}

struct PlatformFlags {
  std::string ca, out, id = "platform", type = "sim";
};

CLI::App* AddIssuePlatform(CLI::App& ca, PlatformFlags* flags) {
  CLI::App* issue =
      ca.add_subcommand("issue-platform", "certify a host's platform key with the root");
  issue->footer(
      "Certifies a host's platform key with the deployment root. Creates the\n"
      "platform key in DIR if DIR has none (platform.key, mode 0600; platform.pub)\n"
      "and writes DIR/platform.cert. A worker quotes with this key.");
  issue->add_option("--ca", flags->ca, "directory of the root key pair (serdab ca init)")
      ->required();
  issue->add_option("--out", flags->out, "the platform's directory")->required();
  issue->add_option("--id", flags->id, "platform id recorded in the certificate")
      ->capture_default_str();
  issue
      ->add_option("--type", flags->type,
                   "sim (the software TEE, whose host can forge quotes and unseal: policies\n"
                   "that refuse simulation refuse it) | sgx (a host whose enclaves run on SGX\n"
                   "hardware; the sim backend refuses to run on it)")
      ->capture_default_str()
      ->check(CLI::IsMember({"sim", "sgx"}));
  return issue;
}

int IssuePlatform(const PlatformFlags& flags) {
  const std::string& out = flags.out;
  // --type's check admits only names ParsePlatformType knows.
  const attestation::PlatformType type = attestation::ParsePlatformType(flags.type).value();
  auto root = attestation::DeploymentRoot::Load(flags.ca);
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
      *root, platform->public_key(), flags.id, static_cast<uint64_t>(std::time(nullptr)), type);
  if (!cert.ok()) return ReportError("ca issue-platform", cert.status());
  const std::string cert_path = out + "/platform.cert";
  if (Status s = attestation::SavePlatformCertificate(*cert, cert_path); !s.ok()) {
    return ReportError("ca issue-platform", s);
  }
  std::printf("platform '%s' (%s) key %s\ncertified by root %s\nwritten to %s\n", flags.id.c_str(),
              std::string(attestation::PlatformTypeName(type)).c_str(),
              crypto::HexEncode(platform->public_key()).c_str(),
              crypto::HexEncode(root->public_key()).c_str(), cert_path.c_str());
  return 0;
}

}  // namespace

int RunCaCommand(int argc, char** argv) {
  CLI::App app{"Manages the deployment's root of trust and the certificates it issues.", "ca"};
  app.require_subcommand(1);
  std::string init_out;
  PlatformFlags platform;
  CertificateFlags node, user;
  const CLI::App* init = AddInit(app, &init_out);
  const CLI::App* issue_platform = AddIssuePlatform(app, &platform);
  const CLI::App* issue_node = AddIssueCertificate(app, /*node=*/true, &node);
  AddIssueCertificate(app, /*node=*/false, &user);
  if (auto rc = ParseFlags(app, argc, argv)) return *rc;
  if (init->parsed()) return Init(init_out);
  if (issue_platform->parsed()) return IssuePlatform(platform);
  if (issue_node->parsed()) return IssueCertificate(node, /*node=*/true);
  return IssueCertificate(user, /*node=*/false);
}

}  // namespace serdab::cli
