// The control plane's X.509 certificates, for mutual TLS between the CLI,
// the orchestrator and the workers (OpenSSL's libcrypto; EC P-256 keys).
//
// The deployment's certificate authority lives beside its attestation root
// (serdab ca init): CA/ca.crt and CA/ca.key (mode 0600). Every certificate it
// issues says who the holder is and what it may do, in subjectAltName URIs
// that a server reads from the verified peer certificate:
//   serdab:role:<worker|orchestrator|admin|viewer>
//   serdab:name:<name>                  the worker or user name
//   serdab:platform:<hex>               a node's platform key (its attestation
//                                       identity), when it has one
// plus DNS and IP entries for the hosts a server certificate is valid for.
#ifndef SERDAB_WORKER_NODE_CERTIFICATES_H_
#define SERDAB_WORKER_NODE_CERTIFICATES_H_

#include <string>
#include <string_view>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::worker {

enum class Role { kWorker, kOrchestrator, kAdmin, kViewer };
std::string_view RoleName(Role role);
Result<Role> ParseRole(std::string_view name);

inline constexpr char kCaCertificateFile[] = "ca.crt";
inline constexpr char kCaKeyFile[] = "ca.key";

// Creates CA/ca.key (0600) and a self-signed CA/ca.crt valid for `days`.
// Fails if CA/ca.key exists.
Status CreateCertificateAuthority(const std::string& ca_dir, const std::string& common_name,
                                  int days);

struct CertificateRequest {
  std::string name;  // 1..64 of [A-Za-z0-9._-]
  Role role = Role::kViewer;
  std::vector<std::string> hosts;  // DNS names or IP addresses (servers)
  std::string platform_key_hex;    // optional
  int days = 365;
};

// Issues a certificate signed by the CA in `ca_dir`, with a new key, and
// writes OUT/<stem>.crt and OUT/<stem>.key (0600) plus OUT/ca.crt.
Status IssueCertificate(const std::string& ca_dir, const CertificateRequest& request,
                        const std::string& out_dir, const std::string& stem);

// Who a verified peer certificate (PEM) names.
struct PeerIdentity {
  std::string name;
  Role role = Role::kViewer;
  std::string platform_key_hex;
};
Result<PeerIdentity> IdentityOfCertificate(std::string_view pem);

// The PEM files of a node's TLS identity: DIR/<stem>.crt, DIR/<stem>.key and
// DIR/ca.crt.
struct TlsFiles {
  std::string certificate;
  std::string private_key;
  std::string ca_certificate;
};
Result<TlsFiles> LoadTlsFiles(const std::string& dir, const std::string& stem);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_NODE_CERTIFICATES_H_
