// serdab ca: the deployment's root of trust for the sim backend.
//   ca init --out DIR                      a new root key pair (root.key, root.pub)
//                                          and X.509 CA (ca.crt, ca.key)
//   ca issue-platform --ca DIR --out DIR [--type sim|sgx]
//                                          a platform key and its certificate
//   ca issue-node --ca DIR --name N --role worker|orchestrator --out DIR [--host H]...
//   ca issue-user --ca DIR --name N --role admin|viewer --out DIR
//                                          X.509 certificates for mutual TLS
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "enclave/attestation/platform.h"
#include "enclave/crypto/bytes.h"
#include "worker/node_certificates.h"

namespace serdab::cli {
namespace {

Status MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return Status::Ok();
  return Status::IoError(dir + ": cannot create directory: " + std::strerror(errno));
}

int Init(int argc, char** argv) {
  std::string out;
  FlagParser flags("ca init",
                   "Creates a deployment root in DIR: the attestation root key pair (root.key,\n"
                   "secret, mode 0600; root.pub), which verifiers trust enclaves' platforms to\n"
                   "chain to, and the X.509 CA of the control plane's mutual TLS (ca.crt;\n"
                   "ca.key, secret, mode 0600).");
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
int IssueCertificate(int argc, char** argv, bool node) {
  const char* cmd = node ? "ca issue-node" : "ca issue-user";
  std::string ca, out, name, role_name, platform_dir, hosts;
  int64_t days = 365;
  FlagParser flags(
      cmd, node ? "Issues a worker's or orchestrator's certificate for mutual TLS: DIR/node.crt,\n"
                  "DIR/node.key (mode 0600) and DIR/ca.crt. With --platform, the certificate\n"
                  "also names the node's platform key, tying its TLS identity to its\n"
                  "attestation identity."
                : "Issues a user's client certificate for mutual TLS: DIR/user.crt,\n"
                  "DIR/user.key (mode 0600) and DIR/ca.crt. An admin may change the\n"
                  "cluster; a viewer may only read it.");
  flags.AddString("ca", &ca, "the deployment root directory (serdab ca init)", true);
  flags.AddString("name", &name, node ? "the node's name" : "the user's name", true);
  flags.AddString("role", &role_name, node ? "worker | orchestrator" : "admin | viewer", true);
  flags.AddString("out", &out, "directory for the certificate and key", true);
  flags.AddInt("days", &days, "validity in days", 1, 3650);
  if (node) {
    flags.AddString("host", &hosts, "comma-separated DNS names and IPs the node serves on");
    flags.AddString("platform", &platform_dir, "the node's platform directory");
  }
  if (Status s = flags.Parse(argc, argv, 3); !s.ok()) return ReportError(cmd, s, true);
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  auto role = worker::ParseRole(role_name);
  const bool node_role =
      role.ok() && (*role == worker::Role::kWorker || *role == worker::Role::kOrchestrator);
  if (!role.ok() || node_role != node) {
    return ReportError(
        cmd,
        Status::InvalidArgument(std::string("--role: expected ") +
                                (node ? "worker or orchestrator" : "admin or viewer")),
        true);
  }
  worker::CertificateRequest request;
  request.name = name;
  request.role = *role;
  request.days = static_cast<int>(days);
  for (size_t at = 0; at < hosts.size();) {
    const size_t comma = std::min(hosts.find(',', at), hosts.size());
    if (comma > at) request.hosts.push_back(hosts.substr(at, comma - at));
    at = comma + 1;
  }
  if (!platform_dir.empty()) {
    auto key = attestation::LoadPlatformPublicKey(platform_dir + "/" +
                                                  attestation::kPlatformPublicKeyFile);
    if (!key.ok()) return ReportError(cmd, key.status());
    request.platform_key_hex = crypto::HexEncode(*key);
  }
  if (Status s = worker::IssueCertificate(ca, request, out, node ? "node" : "user"); !s.ok()) {
    return ReportError(cmd, s);
  }
  std::printf("%s '%s' (%s) written to %s/%s.crt and %s.key\n", node ? "node" : "user",
              name.c_str(), role_name.c_str(), out.c_str(), node ? "node" : "user",
              node ? "node" : "user");
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
  if (sub == "issue-node") return IssueCertificate(argc, argv, /*node=*/true);
  if (sub == "issue-user") return IssueCertificate(argc, argv, /*node=*/false);
  if (sub == "--help" || sub == "-h") {
    std::printf(
        "usage: serdab ca <init|issue-platform|issue-node|issue-user> [flags]\n\n"
        "  init             create a deployment root: attestation root and TLS CA\n"
        "  issue-platform   certify a host's platform key with the root\n"
        "  issue-node       a worker's or orchestrator's TLS certificate\n"
        "  issue-user       an admin's or viewer's TLS client certificate\n");
    return 0;
  }
  return ReportError("ca",
                     Status::InvalidArgument("expected 'init', 'issue-platform', 'issue-node' or "
                                             "'issue-user' (see serdab ca --help)"),
                     true);
}

}  // namespace serdab::cli
