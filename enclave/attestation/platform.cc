#include "enclave/attestation/platform.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace serdab::attestation {

namespace {

constexpr uint8_t kCertificateMagic[4] = {'S', 'D', 'P', 'C'};
constexpr std::string_view kCertificateContext = "serdab.platform-certificate.v1";
constexpr std::string_view kRootSecretKind = "serdab-root-secret-key";
constexpr std::string_view kRootPublicKind = "serdab-root-public-key";
constexpr std::string_view kPlatformSecretKind = "serdab-platform-secret-key";
constexpr std::string_view kPlatformPublicKind = "serdab-platform-public-key";
constexpr std::string_view kSignerSecretKind = "serdab-signer-secret-key";
constexpr std::string_view kSignerPublicKind = "serdab-signer-public-key";
constexpr std::string_view kOwnerSecretKind = "serdab-owner-secret-key";
constexpr std::string_view kOwnerPublicKind = "serdab-owner-public-key";
// Key files are one short line; certificates a few hundred bytes.
constexpr size_t kMaxKeyFileBytes = 1024;
constexpr size_t kMaxCertificateFileBytes = 4096;

std::string JoinPath(const std::string& dir, const char* name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

Status ErrnoStatus(const std::string& what, const std::string& path) {
  return Status::IoError(what + " " + path + ": " + std::strerror(errno));
}

Status EnsureDirectory(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0) return Status::Ok();
  if (errno != EEXIST) return ErrnoStatus("cannot create directory", dir);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return ErrnoStatus("cannot stat", dir);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir + " exists and is not a directory");
  return Status::Ok();
}

// Secret files are created exclusively with mode 0600: an existing key is
// never replaced, and the key is never readable by others, not even briefly.
Status WriteFile(const std::string& path, crypto::ByteView data, bool secret) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (secret ? O_EXCL : O_TRUNC);
  const int fd = open(path.c_str(), flags, secret ? 0600 : 0644);
  if (fd < 0) {
    if (secret && errno == EEXIST) {
      return Status::FailedPrecondition(path + " already exists; refusing to overwrite a key");
    }
    return ErrnoStatus("cannot create", path);
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = ErrnoStatus("cannot write", path);
      close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    Status s = ErrnoStatus("cannot sync", path);
    close(fd);
    return s;
  }
  if (close(fd) != 0) return ErrnoStatus("cannot close", path);
  return Status::Ok();
}

// Reads a whole small file. For a secret file, refuses one that group or
// others may access (checked on the open descriptor, so the check and the
// read see the same file).
Status ReadFile(const std::string& path, size_t max_bytes, bool secret, crypto::Bytes* out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return ErrnoStatus("cannot open", path);
  }
  struct stat st;
  Status s;
  if (fstat(fd, &st) != 0) {
    s = ErrnoStatus("cannot stat", path);
  } else if (!S_ISREG(st.st_mode)) {
    s = Status::InvalidArgument(path + " is not a regular file");
  } else if (secret && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    s = Status::PermissionDenied(path + " has mode " + mode +
                                 "; a secret key file must not be accessible by group or "
                                 "others (chmod 600 " +
                                 path + ")");
  } else if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    s = Status::InvalidArgument(path + " is " + std::to_string(st.st_size) +
                                " bytes; expected at most " + std::to_string(max_bytes));
  }
  if (s.ok()) {
    out->resize(max_bytes + 1);
    size_t done = 0;
    while (done < out->size()) {
      const ssize_t n = read(fd, out->data() + done, out->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s = ErrnoStatus("cannot read", path);
        break;
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    if (s.ok() && done > max_bytes) {
      s = Status::InvalidArgument(path + " grew past " + std::to_string(max_bytes) +
                                  " bytes while being read");
    }
    if (secret) crypto::SecureWipe(out->data() + done, out->size() - done);
    out->resize(done);
  }
  close(fd);
  return s;
}

Status WriteKeyFile(const std::string& path, std::string_view kind, crypto::ByteView key,
                    bool secret) {
  std::string line = std::string(kind) + " " + crypto::HexEncode(key) + "\n";
  Status s = WriteFile(path, crypto::AsBytes(line), secret);
  crypto::SecureWipe(line.data(), line.size());
  return s;
}

// Reads "<kind> <hex>\n" into exactly out.size() bytes.
Status ReadKeyFile(const std::string& path, std::string_view kind, bool secret,
                   std::span<uint8_t> out) {
  crypto::Bytes raw;
  Status s = ReadFile(path, kMaxKeyFileBytes, secret, &raw);
  std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  const std::string prefix = std::string(kind) + " ";
  if (s.ok() && text.substr(0, prefix.size()) != prefix) {
    s = Status::InvalidArgument(path + " is not a " + std::string(kind) +
                                " file (it should start with '" + prefix + "')");
  }
  if (s.ok()) {
    std::string_view hex = text.substr(prefix.size());
    if (hex.size() != 2 * out.size()) {
      s = Status::InvalidArgument(path + " has the wrong size: expected " +
                                  std::to_string(2 * out.size()) + " hex characters (" +
                                  std::to_string(out.size()) + " bytes) after '" + prefix +
                                  "', found " + std::to_string(hex.size()));
    } else {
      auto decoded = crypto::HexDecode(hex);
      if (decoded.ok()) {
        std::copy(decoded->begin(), decoded->end(), out.begin());
        crypto::SecureWipe(decoded->data(), decoded->size());
      } else {
        s = decoded.status().WithContext(path);
      }
    }
  }
  crypto::SecureWipe(raw.data(), raw.size());
  return s;
}

Result<crypto::Ed25519PublicKey> LoadPublicKey(const std::string& path, std::string_view kind) {
  crypto::Ed25519PublicKey key;
  SERDAB_RETURN_IF_ERROR(ReadKeyFile(path, kind, /*secret=*/false, key));
  return key;
}

Status CheckPublicKeyMatches(const std::string& path, std::string_view kind,
                             const crypto::Ed25519PublicKey& expected,
                             const std::string& secret_path) {
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519PublicKey stored, LoadPublicKey(path, kind));
  if (stored != expected) {
    return Status::InvalidArgument(path + " does not match the key in " + secret_path);
  }
  return Status::Ok();
}

Status CheckPlatformId(const std::string& id) {
  if (id.empty() || id.size() > kMaxPlatformIdBytes) {
    return Status::InvalidArgument("platform id must be 1.." + std::to_string(kMaxPlatformIdBytes) +
                                   " characters, got " + std::to_string(id.size()));
  }
  for (char c : id) {
    if (c < 0x20 || c > 0x7e) {
      return Status::InvalidArgument("platform id must be printable ASCII");
    }
  }
  return Status::Ok();
}

// Every byte of the certificate that the root signs.
crypto::Bytes CertificateBody(const PlatformCertificate& c) {
  crypto::Writer w;
  w.Raw(kCertificateMagic);
  w.U16(c.version);
  w.U8(static_cast<uint8_t>(c.type));
  w.Raw(c.platform_key);
  w.LengthPrefixed(crypto::AsBytes(c.platform_id));
  w.U64(c.issued_unix);
  return w.Take();
}

// An Ed25519 key pair kept as DIR/<secret_file> (0600) and DIR/<public_file>.
Result<crypto::Ed25519KeyPair> LoadKeyPair(const std::string& dir, const char* secret_file,
                                           std::string_view secret_kind, const char* public_file,
                                           std::string_view public_kind) {
  const std::string secret_path = JoinPath(dir, secret_file);
  crypto::Ed25519Seed seed;
  SERDAB_RETURN_IF_ERROR(
      ReadKeyFile(secret_path, secret_kind, /*secret=*/true, std::span(seed.data(), seed.size())));
  crypto::Ed25519KeyPair key = crypto::Ed25519KeyPair::FromSeed(seed);
  SERDAB_RETURN_IF_ERROR(CheckPublicKeyMatches(JoinPath(dir, public_file), public_kind,
                                               key.public_key(), secret_path));
  return key;
}

Status SaveKeyPair(const crypto::Ed25519KeyPair& key, const std::string& dir,
                   const char* secret_file, std::string_view secret_kind, const char* public_file,
                   std::string_view public_kind) {
  SERDAB_RETURN_IF_ERROR(EnsureDirectory(dir));
  SERDAB_RETURN_IF_ERROR(
      WriteKeyFile(JoinPath(dir, secret_file), secret_kind, key.seed().view(), /*secret=*/true));
  return WriteKeyFile(JoinPath(dir, public_file), public_kind, key.public_key(),
                      /*secret=*/false);
}

}  // namespace

std::string_view PlatformTypeName(PlatformType type) {
  return type == PlatformType::kSgx ? "sgx" : "sim";
}

Result<PlatformType> ParsePlatformType(std::string_view name) {
  if (name == "sim") return PlatformType::kSim;
  if (name == "sgx") return PlatformType::kSgx;
  return Status::InvalidArgument("platform type '" + std::string(name) +
                                 "' is not one of: sim, sgx");
}

Result<DeploymentRoot> DeploymentRoot::Generate() {
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair key, crypto::Ed25519KeyPair::Generate());
  return DeploymentRoot(std::move(key));
}

Result<DeploymentRoot> DeploymentRoot::Load(const std::string& dir) {
  SERDAB_ASSIGN_OR_RETURN(
      crypto::Ed25519KeyPair key,
      LoadKeyPair(dir, kRootSecretKeyFile, kRootSecretKind, kRootPublicKeyFile, kRootPublicKind));
  return DeploymentRoot(std::move(key));
}

Status DeploymentRoot::Save(const std::string& dir) const {
  return SaveKeyPair(key_, dir, kRootSecretKeyFile, kRootSecretKind, kRootPublicKeyFile,
                     kRootPublicKind);
}

Result<EnclaveSigner> EnclaveSigner::Generate() {
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair key, crypto::Ed25519KeyPair::Generate());
  return EnclaveSigner(std::move(key));
}

Result<EnclaveSigner> EnclaveSigner::Load(const std::string& dir) {
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair key,
                          LoadKeyPair(dir, kSignerSecretKeyFile, kSignerSecretKind,
                                      kSignerPublicKeyFile, kSignerPublicKind));
  return EnclaveSigner(std::move(key));
}

Status EnclaveSigner::Save(const std::string& dir) const {
  return SaveKeyPair(key_, dir, kSignerSecretKeyFile, kSignerSecretKind, kSignerPublicKeyFile,
                     kSignerPublicKind);
}

Result<ModelOwnerKey> ModelOwnerKey::Generate() {
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair key, crypto::Ed25519KeyPair::Generate());
  return ModelOwnerKey(std::move(key));
}

Result<ModelOwnerKey> ModelOwnerKey::Load(const std::string& dir) {
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair key,
                          LoadKeyPair(dir, kOwnerSecretKeyFile, kOwnerSecretKind,
                                      kOwnerPublicKeyFile, kOwnerPublicKind));
  return ModelOwnerKey(std::move(key));
}

Status ModelOwnerKey::Save(const std::string& dir) const {
  return SaveKeyPair(key_, dir, kOwnerSecretKeyFile, kOwnerSecretKind, kOwnerPublicKeyFile,
                     kOwnerPublicKind);
}

Result<PlatformKey> PlatformKey::Generate() {
  SERDAB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair key, crypto::Ed25519KeyPair::Generate());
  SealingSecret sealing;
  SERDAB_RETURN_IF_ERROR(crypto::RandomBytes(std::span(sealing.data(), sealing.size())));
  return PlatformKey(std::move(key), sealing);
}

Result<PlatformKey> PlatformKey::Load(const std::string& dir) {
  const std::string secret_path = JoinPath(dir, kPlatformSecretKeyFile);
  crypto::SecretBytes<crypto::kEd25519SeedBytes + kSealingSecretBytes> both;
  SERDAB_RETURN_IF_ERROR(ReadKeyFile(secret_path, kPlatformSecretKind, /*secret=*/true,
                                     std::span(both.data(), both.size())));
  crypto::Ed25519Seed seed;
  SealingSecret sealing;
  std::copy(both.data(), both.data() + seed.size(), seed.data());
  std::copy(both.data() + seed.size(), both.data() + both.size(), sealing.data());
  PlatformKey platform(crypto::Ed25519KeyPair::FromSeed(seed), sealing);
  SERDAB_RETURN_IF_ERROR(CheckPublicKeyMatches(JoinPath(dir, kPlatformPublicKeyFile),
                                               kPlatformPublicKind, platform.public_key(),
                                               secret_path));
  return platform;
}

Status PlatformKey::Save(const std::string& dir) const {
  SERDAB_RETURN_IF_ERROR(EnsureDirectory(dir));
  crypto::SecretBytes<crypto::kEd25519SeedBytes + kSealingSecretBytes> both;
  std::copy(key_.seed().data(), key_.seed().data() + key_.seed().size(), both.data());
  std::copy(sealing_secret_.data(), sealing_secret_.data() + sealing_secret_.size(),
            both.data() + key_.seed().size());
  SERDAB_RETURN_IF_ERROR(WriteKeyFile(JoinPath(dir, kPlatformSecretKeyFile), kPlatformSecretKind,
                                      both.view(), /*secret=*/true));
  return WriteKeyFile(JoinPath(dir, kPlatformPublicKeyFile), kPlatformPublicKind, key_.public_key(),
                      /*secret=*/false);
}

Result<crypto::Ed25519PublicKey> LoadRootPublicKey(const std::string& path) {
  return LoadPublicKey(path, kRootPublicKind);
}

Result<crypto::Ed25519PublicKey> LoadPlatformPublicKey(const std::string& path) {
  return LoadPublicKey(path, kPlatformPublicKind);
}

Result<PlatformCertificate> IssuePlatformCertificate(const DeploymentRoot& root,
                                                     const crypto::Ed25519PublicKey& platform_key,
                                                     const std::string& platform_id,
                                                     uint64_t issued_unix, PlatformType type) {
  SERDAB_RETURN_IF_ERROR(CheckPlatformId(platform_id));
  PlatformCertificate cert;
  cert.type = type;
  cert.platform_key = platform_key;
  cert.platform_id = platform_id;
  cert.issued_unix = issued_unix;
  cert.root_signature = root.signing_key().Sign(kCertificateContext, CertificateBody(cert));
  return cert;
}

Status VerifyPlatformCertificate(const PlatformCertificate& certificate,
                                 const crypto::Ed25519PublicKey& root_public_key) {
  if (!crypto::Ed25519Verify(root_public_key, kCertificateContext, CertificateBody(certificate),
                             certificate.root_signature)) {
    return Status::PermissionDenied("platform certificate for '" + certificate.platform_id +
                                    "' is not signed by deployment root " +
                                    crypto::HexEncode(root_public_key));
  }
  return Status::Ok();
}

crypto::Bytes SerializePlatformCertificate(const PlatformCertificate& certificate) {
  crypto::Writer w;
  w.Raw(CertificateBody(certificate));
  w.Raw(certificate.root_signature);
  return w.Take();
}

Result<PlatformCertificate> ParsePlatformCertificate(crypto::ByteView bytes) {
  crypto::Reader r(bytes, "platform certificate");
  PlatformCertificate cert;
  SERDAB_ASSIGN_OR_RETURN(auto magic, r.Array<4>("magic"));
  if (!std::equal(magic.begin(), magic.end(), kCertificateMagic)) {
    return Status::Corruption("platform certificate: bad magic (not a serdab certificate)");
  }
  SERDAB_ASSIGN_OR_RETURN(cert.version, r.U16("version"));
  if (cert.version != kPlatformCertificateVersion) {
    return Status::Corruption(
        "platform certificate: unsupported version, expected " +
        std::to_string(kPlatformCertificateVersion) +
        " (certificates without a platform type must be re-issued: serdab ca issue-platform)");
  }
  SERDAB_ASSIGN_OR_RETURN(uint8_t type, r.U8("type"));
  if (type != static_cast<uint8_t>(PlatformType::kSim) &&
      type != static_cast<uint8_t>(PlatformType::kSgx)) {
    return Status::Corruption("platform certificate: unknown platform type");
  }
  cert.type = static_cast<PlatformType>(type);
  SERDAB_ASSIGN_OR_RETURN(cert.platform_key, r.Array<32>("platform_key"));
  SERDAB_ASSIGN_OR_RETURN(crypto::ByteView id,
                          r.LengthPrefixed("platform_id", kMaxPlatformIdBytes));
  cert.platform_id.assign(id.begin(), id.end());
  Status id_ok = CheckPlatformId(cert.platform_id);
  if (!id_ok.ok()) return Status::Corruption("platform certificate: " + id_ok.message());
  SERDAB_ASSIGN_OR_RETURN(cert.issued_unix, r.U64("issued_unix"));
  SERDAB_ASSIGN_OR_RETURN(cert.root_signature, r.Array<64>("root_signature"));
  SERDAB_RETURN_IF_ERROR(r.ExpectEnd());
  return cert;
}

Status SavePlatformCertificate(const PlatformCertificate& certificate, const std::string& path) {
  return WriteFile(path, SerializePlatformCertificate(certificate), /*secret=*/false);
}

Result<PlatformCertificate> LoadPlatformCertificate(const std::string& path) {
  crypto::Bytes bytes;
  SERDAB_RETURN_IF_ERROR(ReadFile(path, kMaxCertificateFileBytes, /*secret=*/false, &bytes));
  auto cert = ParsePlatformCertificate(bytes);
  if (!cert.ok()) return cert.status().WithContext(path);
  return cert;
}

}  // namespace serdab::attestation
