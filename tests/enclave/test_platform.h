// TestPlatform: a throwaway deployment root and one platform certified by it,
// in a temporary directory removed with the object: what a test needs to
// create sim enclaves and verify their quotes.
#ifndef SERDAB_TESTS_ENCLAVE_TEST_PLATFORM_H_
#define SERDAB_TESTS_ENCLAVE_TEST_PLATFORM_H_

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "enclave/attestation/platform.h"
#include "enclave/attestation/quote_verifier.h"

namespace serdab {

class TestPlatform {
 public:
  TestPlatform() {
    char tmpl[] = "/tmp/serdab-test-platform-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    root_ = std::make_unique<attestation::DeploymentRoot>(
        attestation::DeploymentRoot::Generate().value());
    auto platform = attestation::PlatformKey::Generate().value();
    Status saved = platform.Save(dir_);
    auto cert = attestation::IssuePlatformCertificate(*root_, platform.public_key(), "test", 0);
    if (saved.ok() && cert.ok()) {
      saved = attestation::SavePlatformCertificate(*cert, dir_ + "/platform.cert");
    }
    if (!saved.ok() || !cert.ok()) std::abort();
  }
  ~TestPlatform() { std::filesystem::remove_all(dir_); }
  TestPlatform(const TestPlatform&) = delete;
  TestPlatform& operator=(const TestPlatform&) = delete;

  const std::string& platform_dir() const { return dir_; }
  const crypto::Ed25519PublicKey& root() const { return root_->public_key(); }

  // A verifier that trusts any measurement from this root's platforms.
  attestation::QuoteVerifier Verifier() const {
    attestation::QuotePolicy policy;
    policy.allow_any_enclave = true;
    policy.allow_simulation = true;
    policy.allow_debug = true;
    return attestation::QuoteVerifier::Create(root(), policy).value();
  }

 private:
  std::string dir_;
  std::unique_ptr<attestation::DeploymentRoot> root_;
};

}  // namespace serdab

#endif  // SERDAB_TESTS_ENCLAVE_TEST_PLATFORM_H_
