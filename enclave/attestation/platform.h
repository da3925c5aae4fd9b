// The sim TEE's chain of trust, shaped like Intel DCAP's: a deployment root
// (`serdab ca init`) certifies each host's platform key (`serdab ca
// issue-platform`), and the platform key signs quotes for the enclaves on that
// host. A verifier needs only the root's public key.
//
// Each platform also holds a random sealing secret, the stand-in for the CPU
// fuse key from which SGX derives sealing keys (see sealing.h).
//
// Files (each key file is one text line "<kind> <hex>\n"; the kind names what
// the file holds, so that a platform key can never be loaded as a root key):
//   root.key         serdab-root-secret-key      Ed25519 seed     mode 0600
//   root.pub         serdab-root-public-key      Ed25519 key
//   platform.key     serdab-platform-secret-key  seed || sealing  mode 0600
//   platform.pub     serdab-platform-public-key  Ed25519 key
//   signer.key       serdab-signer-secret-key    Ed25519 seed     mode 0600
//   signer.pub       serdab-signer-public-key    Ed25519 key
//   *.cert           binary PlatformCertificate (below)
// Secret key files are created with mode 0600 and never overwritten; loading
// one that group or others can access is an error, as with ssh keys.
#ifndef SERDAB_ENCLAVE_ATTESTATION_PLATFORM_H_
#define SERDAB_ENCLAVE_ATTESTATION_PLATFORM_H_

#include <cstdint>
#include <string>

#include "enclave/common/status.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"

namespace serdab::attestation {

inline constexpr char kRootSecretKeyFile[] = "root.key";
inline constexpr char kRootPublicKeyFile[] = "root.pub";
inline constexpr char kPlatformSecretKeyFile[] = "platform.key";
inline constexpr char kPlatformPublicKeyFile[] = "platform.pub";
inline constexpr char kSignerSecretKeyFile[] = "signer.key";
inline constexpr char kSignerPublicKeyFile[] = "signer.pub";
inline constexpr char kOwnerSecretKeyFile[] = "owner.key";
inline constexpr char kOwnerPublicKeyFile[] = "owner.pub";

inline constexpr size_t kSealingSecretBytes = 32;
using SealingSecret = crypto::SecretBytes<kSealingSecretBytes>;

// The deployment's certificate authority.
class DeploymentRoot {
 public:
  static Result<DeploymentRoot> Generate();
  // Reads DIR/root.key and checks DIR/root.pub matches it.
  static Result<DeploymentRoot> Load(const std::string& dir);
  // Writes DIR/root.key (0600) and DIR/root.pub, creating DIR (0700) if
  // needed. Fails if DIR/root.key already exists.
  Status Save(const std::string& dir) const;

  const crypto::Ed25519PublicKey& public_key() const { return key_.public_key(); }
  const crypto::Ed25519KeyPair& signing_key() const { return key_; }

 private:
  explicit DeploymentRoot(crypto::Ed25519KeyPair key) : key_(std::move(key)) {}

  crypto::Ed25519KeyPair key_;
};

// A model owner's identity: the Ed25519 key `serdab apply` signs its session
// with the coordinator enclave with, so that only the same owner may replace
// a deployment's model. Files owner.key (0600) and owner.pub, written by
// `serdab ca issue-user` beside the user's certificate.
class ModelOwnerKey {
 public:
  static Result<ModelOwnerKey> Generate();
  // Reads DIR/owner.key and checks DIR/owner.pub matches it.
  static Result<ModelOwnerKey> Load(const std::string& dir);
  // Fails if DIR/owner.key already exists.
  Status Save(const std::string& dir) const;

  const crypto::Ed25519KeyPair& key() const { return key_; }

 private:
  explicit ModelOwnerKey(crypto::Ed25519KeyPair key) : key_(std::move(key)) {}

  crypto::Ed25519KeyPair key_;
};

// An enclave developer's signing key (SGX's SIGSTRUCT key): what gives an
// enclave a signer identity (MRSIGNER) other than the all-zero one that every
// unsigned enclave shares. Files signer.key (0600) and signer.pub.
class EnclaveSigner {
 public:
  static Result<EnclaveSigner> Generate();
  static Result<EnclaveSigner> Load(const std::string& dir);
  // Fails if DIR/signer.key already exists.
  Status Save(const std::string& dir) const;

  const crypto::Ed25519KeyPair& signing_key() const { return key_; }

 private:
  explicit EnclaveSigner(crypto::Ed25519KeyPair key) : key_(std::move(key)) {}

  crypto::Ed25519KeyPair key_;
};

// A host's quoting key and sealing secret.
class PlatformKey {
 public:
  static Result<PlatformKey> Generate();
  // Reads DIR/platform.key and checks DIR/platform.pub matches it.
  static Result<PlatformKey> Load(const std::string& dir);
  // Writes DIR/platform.key (0600) and DIR/platform.pub, creating DIR (0700)
  // if needed. Fails if DIR/platform.key already exists.
  Status Save(const std::string& dir) const;

  const crypto::Ed25519PublicKey& public_key() const { return key_.public_key(); }
  const crypto::Ed25519KeyPair& signing_key() const { return key_; }
  const SealingSecret& sealing_secret() const { return sealing_secret_; }

 private:
  PlatformKey(crypto::Ed25519KeyPair key, const SealingSecret& sealing_secret)
      : key_(std::move(key)), sealing_secret_(sealing_secret) {}

  crypto::Ed25519KeyPair key_;
  SealingSecret sealing_secret_;
};

// Reads a root.pub or platform.pub file.
Result<crypto::Ed25519PublicKey> LoadRootPublicKey(const std::string& path);
Result<crypto::Ed25519PublicKey> LoadPlatformPublicKey(const std::string& path);

inline constexpr uint16_t kPlatformCertificateVersion = 2;
inline constexpr size_t kMaxPlatformIdBytes = 255;

// What kind of TEE a platform is, as the root certifies it. The numeric
// values appear in certificates; never renumber.
//   kSim  the software TEE: the host holds the platform key, so it can forge
//         quotes and derive sealing keys. A sim enclave protects nothing from
//         its own host; verifiers refuse sim platforms unless their policy
//         allows simulation, whatever a quote claims.
//   kSgx  a host whose enclaves run on SGX hardware. The sim backend refuses
//         to run on a platform certified as kSgx.
enum class PlatformType : uint8_t { kSim = 1, kSgx = 2 };
std::string_view PlatformTypeName(PlatformType type);  // "sim", "sgx"
Result<PlatformType> ParsePlatformType(std::string_view name);

// The root's statement "this key is platform <platform_id>, of this type".
//
// Wire form (little-endian): "SDPC" | u16 version (2) | u8 type |
// platform_key[32] | u32 len + platform_id | u64 issued_unix |
// root_signature[64], where the signature covers every byte before it under
// context "serdab.platform-certificate.v1". Version 1 (no type) is refused.
struct PlatformCertificate {
  uint16_t version = kPlatformCertificateVersion;
  PlatformType type = PlatformType::kSim;
  crypto::Ed25519PublicKey platform_key{};
  std::string platform_id;  // 1..255 printable ASCII characters
  uint64_t issued_unix = 0;
  crypto::Ed25519Signature root_signature{};
};

// platform_id must be 1..kMaxPlatformIdBytes printable ASCII characters.
Result<PlatformCertificate> IssuePlatformCertificate(const DeploymentRoot& root,
                                                     const crypto::Ed25519PublicKey& platform_key,
                                                     const std::string& platform_id,
                                                     uint64_t issued_unix,
                                                     PlatformType type = PlatformType::kSim);

// Checks the root's signature: PermissionDenied if it does not verify.
Status VerifyPlatformCertificate(const PlatformCertificate& certificate,
                                 const crypto::Ed25519PublicKey& root_public_key);

crypto::Bytes SerializePlatformCertificate(const PlatformCertificate& certificate);
// Corruption on a bad magic, an unknown version, truncation, a bad platform
// id or trailing bytes. Does not check the signature.
Result<PlatformCertificate> ParsePlatformCertificate(crypto::ByteView bytes);

// Writes (replacing) / reads a certificate file.
Status SavePlatformCertificate(const PlatformCertificate& certificate, const std::string& path);
Result<PlatformCertificate> LoadPlatformCertificate(const std::string& path);

}  // namespace serdab::attestation

#endif  // SERDAB_ENCLAVE_ATTESTATION_PLATFORM_H_
