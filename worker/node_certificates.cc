#include "worker/node_certificates.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

namespace serdab::worker {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

constexpr std::string_view kUriPrefix = "serdab:";
constexpr const char* kRoleNames[] = {"worker", "orchestrator", "admin", "viewer"};

Status OpenSslError(const std::string& what) {
  char buf[256] = "unknown error";
  if (unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  return Status::Internal(what + ": " + buf);
}

bool AllOf(std::string_view s, std::string_view allowed, size_t max) {
  return !s.empty() && s.size() <= max && s.find_first_not_of(allowed) == std::string_view::npos;
}

constexpr std::string_view kNameChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

// Writes `bytes` to a new file with `mode`; refuses to replace a secret.
Status WriteNewFile(const std::string& path, const std::string& bytes, mode_t mode, bool replace) {
  const int flags = O_WRONLY | O_CREAT | (replace ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) return Status::IoError(path + ": cannot create: " + std::strerror(errno));
  const bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  ::close(fd);
  if (!ok) return Status::IoError(path + ": cannot write");
  return Status::Ok();
}

std::string AsnTimeText(const ASN1_TIME* t) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "an unreadable date";
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

// A TLS handshake with a certificate outside its validity fails with no
// word on why, at the far end; say it here, before any connection.
Status CheckValidNow(const std::string& path, const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::InvalidArgument(path + ": not a PEM certificate");
  const ASN1_TIME* not_before = X509_get0_notBefore(cert.get());
  const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
  const std::string issue = " (serdab ca issue-node or issue-user makes a new one)";
  if (X509_cmp_current_time(not_after) <= 0) {
    return Status::FailedPrecondition(path + ": the certificate expired on " +
                                      AsnTimeText(not_after) + issue);
  }
  if (X509_cmp_current_time(not_before) >= 0) {
    return Status::FailedPrecondition(path + ": the certificate is not valid before " +
                                      AsnTimeText(not_before) +
                                      " (is this machine's clock right?)");
  }
  return Status::Ok();
}

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot read");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Result<Key> NewKey() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("cannot generate an EC key");
  return key;
}

std::string KeyPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return OpenSslError("cannot build certificate extension " + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) return OpenSslError("cannot add certificate extension");
  return Status::Ok();
}

// A certificate for `key` named `common_name`, valid `days` from now, with a
// random serial; signed later by the issuer.
Result<Cert> NewCertificate(EVP_PKEY* key, const std::string& common_name, int days) {
  Cert cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), 2)) return OpenSslError("cannot create certificate");
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> serial(BN_new());
  if (!serial || !BN_rand(serial.get(), 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    return OpenSslError("cannot draw a certificate serial");
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  return cert;
}

std::string Join(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

}  // namespace

std::string_view RoleName(Role role) { return kRoleNames[static_cast<int>(role)]; }

Result<Role> ParseRole(std::string_view name) {
  for (int i = 0; i < 4; ++i) {
    if (name == kRoleNames[i]) return static_cast<Role>(i);
  }
  return Status::InvalidArgument("role '" + std::string(name) +
                                 "' is not one of: worker, orchestrator, admin, viewer");
}

Status CreateCertificateAuthority(const std::string& ca_dir, const std::string& common_name,
                                  int days) {
  SERDAB_ASSIGN_OR_RETURN(Key key, NewKey());
  SERDAB_ASSIGN_OR_RETURN(Cert cert, NewCertificate(key.get(), common_name, days));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  SERDAB_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  SERDAB_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  SERDAB_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) return OpenSslError("cannot sign the CA");
  SERDAB_RETURN_IF_ERROR(WriteNewFile(Join(ca_dir, kCaKeyFile), KeyPem(key.get()), 0600, false));
  return WriteNewFile(Join(ca_dir, kCaCertificateFile), CertPem(cert.get()), 0644, true);
}

Status IssueCertificate(const std::string& ca_dir, const CertificateRequest& request,
                        const std::string& out_dir, const std::string& stem) {
  if (!AllOf(request.name, kNameChars, 64)) {
    return Status::InvalidArgument(
        "name '" + request.name + "': expected 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'");
  }
  if (!request.platform_key_hex.empty() &&
      !AllOf(request.platform_key_hex, "0123456789abcdef", 64)) {
    return Status::InvalidArgument("platform key: expected lowercase hex");
  }
  std::string san =
      "URI:serdab:role:" + std::string(RoleName(request.role)) + ",URI:serdab:name:" + request.name;
  if (!request.platform_key_hex.empty()) san += ",URI:serdab:platform:" + request.platform_key_hex;
  for (const std::string& host : request.hosts) {
    const bool ipv4 = AllOf(host, "0123456789.", 15) && host.find('.') != std::string::npos;
    const bool ipv6 = host.find(':') != std::string::npos && AllOf(host, "0123456789abcdef:", 45);
    if (ipv4 || ipv6) {
      san += ",IP:" + host;
    } else if (AllOf(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
                     253)) {
      san += ",DNS:" + host;
    } else {
      return Status::InvalidArgument("host '" + host + "' is neither a DNS name nor an IP address");
    }
  }

  SERDAB_ASSIGN_OR_RETURN(std::string ca_pem, ReadText(Join(ca_dir, kCaCertificateFile)));
  SERDAB_ASSIGN_OR_RETURN(std::string ca_key_pem, ReadText(Join(ca_dir, kCaKeyFile)));
  Bio ca_bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  Cert ca(PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr));
  Bio key_bio(BIO_new_mem_buf(ca_key_pem.data(), static_cast<int>(ca_key_pem.size())));
  Key ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca || !ca_key) {
    return Status::Corruption(ca_dir + ": ca.crt or ca.key is not a PEM certificate and key");
  }

  SERDAB_ASSIGN_OR_RETURN(Key key, NewKey());
  SERDAB_ASSIGN_OR_RETURN(Cert cert, NewCertificate(key.get(), request.name, request.days));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  SERDAB_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_basic_constraints, "CA:FALSE"));
  SERDAB_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyAgreement"));
  SERDAB_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth,clientAuth"));
  SERDAB_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_subject_alt_name, san));
  SERDAB_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always"));
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256())) {
    return OpenSslError("cannot sign the certificate");
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return Status::IoError(out_dir + ": cannot create: " + ec.message());
  SERDAB_RETURN_IF_ERROR(
      WriteNewFile(Join(out_dir, stem + ".key"), KeyPem(key.get()), 0600, false));
  SERDAB_RETURN_IF_ERROR(
      WriteNewFile(Join(out_dir, stem + ".crt"), CertPem(cert.get()), 0644, true));
  return WriteNewFile(Join(out_dir, kCaCertificateFile), ca_pem, 0644, true);
}

Result<PeerIdentity> IdentityOfCertificate(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::PermissionDenied("the peer certificate does not parse");
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  PeerIdentity identity;
  bool has_role = false;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_URI) continue;
    const std::string_view uri(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.uniformResourceIdentifier)),
        static_cast<size_t>(ASN1_STRING_length(n->d.uniformResourceIdentifier)));
    if (uri.substr(0, kUriPrefix.size()) != kUriPrefix) continue;
    const std::string_view rest = uri.substr(kUriPrefix.size());
    if (rest.substr(0, 5) == "role:") {
      auto role = ParseRole(rest.substr(5));
      if (role.ok()) {
        identity.role = *role;
        has_role = true;
      }
    } else if (rest.substr(0, 5) == "name:") {
      identity.name = std::string(rest.substr(5));
    } else if (rest.substr(0, 9) == "platform:") {
      identity.platform_key_hex = std::string(rest.substr(9));
    }
  }
  GENERAL_NAMES_free(names);
  if (!has_role || identity.name.empty()) {
    return Status::PermissionDenied(
        "the peer certificate names no serdab role and name (not issued by serdab ca)");
  }
  return identity;
}

Result<TlsFiles> LoadTlsFiles(const std::string& dir, const std::string& stem) {
  TlsFiles files;
  const std::string certificate_path = Join(dir, stem + ".crt");
  const std::string ca_path = Join(dir, kCaCertificateFile);
  SERDAB_ASSIGN_OR_RETURN(files.certificate, ReadText(certificate_path));
  SERDAB_ASSIGN_OR_RETURN(files.private_key, ReadText(Join(dir, stem + ".key")));
  SERDAB_ASSIGN_OR_RETURN(files.ca_certificate, ReadText(ca_path));
  SERDAB_RETURN_IF_ERROR(CheckValidNow(certificate_path, files.certificate));
  SERDAB_RETURN_IF_ERROR(CheckValidNow(ca_path, files.ca_certificate));
  return files;
}

}  // namespace serdab::worker
