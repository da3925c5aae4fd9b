// Finding 4 of the hardening review: the measurement could be spoofed and
// missed code. The attacks, played by a host:
//   * a modified copy of the enclave image, loaded while the genuine one is
//     (so a symbol lookup inside the copy finds the genuine object), must
//     report its own measurement, not the genuine one's;
//   * an LD_PRELOADed randombytes_buf/getrandom must not make the enclave's
//     ephemeral keys predictable;
//   * an OPENSSL_ia32cap that hides AES-NI must not put the enclave's
//     AES-GCM on a table-based, timing-leaky path: the image links no
//     libcrypto to read it.
#include "enclave/attestation/enclave_image.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "cli/local_enclave.h"
#include "enclave/attestation/evidence.h"
#include "enclave/attestation/platform.h"
#include "enclave/boundary.h"
#include "tests/enclave/test_platform.h"
#include "worker/enclave_host.h"

namespace serdab {
namespace {

constexpr char kConfig[] = "epc_mib = 8\ncost_profile = none\n";

class EnclaveImageTest : public ::testing::Test {
 protected:
  TestPlatform platform_;
  const std::string& dir_ = platform_.platform_dir();
};

std::string JsonString(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":\"";
  const size_t at = json.find(needle);
  if (at == std::string::npos) return "";
  const size_t begin = at + needle.size();
  return json.substr(begin, json.find('"', begin) - begin);
}

crypto::Bytes ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return crypto::Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(EnclaveImageTest, TheLoadedImageMeasuresAsItsFile) {
  auto host = worker::EnclaveHost::Create(kConfig, dir_).value();
  const std::string reported = JsonString(host->StatsJson().value(), "mrenclave");
  auto expected = cli::ExpectedMeasurement(kConfig);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  EXPECT_EQ(reported, crypto::HexEncode(*expected));
}

// The attacker's copy differs from the genuine image in one byte of a
// message string; it is loaded beside the genuine image, whose exported
// serdab_ecall_create comes first in the global symbol scope.
TEST_F(EnclaveImageTest, AModifiedCopyMeasuresAsItselfNotAsTheGenuineImage) {
  const std::string genuine = worker::EnclaveHost::ImagePath().value();
  crypto::Bytes bytes = ReadAll(genuine);
  const std::string marker = "the enclave ran out of memory";
  auto at = std::search(bytes.begin(), bytes.end(), marker.begin(), marker.end());
  ASSERT_NE(at, bytes.end());
  *at = 'T';
  const std::string copy = dir_ + "/libserdab_enclave_modified.so";
  {
    std::ofstream out(copy, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  void* handle = dlopen(copy.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  auto create =
      reinterpret_cast<decltype(&serdab_ecall_create)>(dlsym(handle, "serdab_ecall_create"));
  auto stats = reinterpret_cast<decltype(&serdab_ecall_stats)>(dlsym(handle, "serdab_ecall_stats"));
  auto destroy =
      reinterpret_cast<decltype(&serdab_ecall_destroy)>(dlsym(handle, "serdab_ecall_destroy"));
  ASSERT_TRUE(create && stats && destroy);
  ASSERT_NE(reinterpret_cast<void*>(create), reinterpret_cast<void*>(&serdab_ecall_create));

  serdab_enclave enclave = 0;
  ASSERT_EQ(create(reinterpret_cast<const uint8_t*>(kConfig), sizeof(kConfig) - 1, dir_.c_str(),
                   nullptr, 0, &enclave),
            SERDAB_OK);
  std::string json(8192, '\0');
  size_t size = 0;
  ASSERT_EQ(stats(enclave, reinterpret_cast<uint8_t*>(json.data()), json.size(), &size), SERDAB_OK);
  json.resize(size);
  EXPECT_EQ(destroy(enclave), SERDAB_OK);
  // The copy stays loaded: its EPC fault handler now heads the process's
  // SIGSEGV chain (and passes other enclaves' faults on).

  const std::string modified = JsonString(json, "mrenclave");
  const std::string real = crypto::HexEncode(cli::ExpectedMeasurement(kConfig).value());
  EXPECT_NE(modified, real);
  const auto digest = attestation::ImageDigestOfFile(copy).value();
  const auto config =
      crypto::ByteView(reinterpret_cast<const uint8_t*>(kConfig), sizeof(kConfig) - 1);
  EXPECT_EQ(modified, crypto::HexEncode(attestation::Measure(digest, config)));
}

TEST_F(EnclaveImageTest, FilesThatAreNotImagesAreRefused) {
  const crypto::Bytes image = ReadAll(worker::EnclaveHost::ImagePath().value());
  EXPECT_EQ(attestation::ImageDigestFromFile(crypto::ByteView(image).first(40)).status().code(),
            Status::Code::kCorruption);
  crypto::Bytes text(4096, 'x');
  EXPECT_EQ(attestation::ImageDigestFromFile(text).status().code(), Status::Code::kCorruption);
  crypto::Bytes truncated(image.begin(), image.begin() + image.size() / 2);
  EXPECT_FALSE(attestation::ImageDigestFromFile(truncated).ok());
}

// Run in a child process with the fake entropy library preloaded.
void CheckEntropyUnderPreload(const std::string& dir) {
  // The preload works on the host's own libsodium: its keys repeat.
  auto a = crypto::X25519KeyPair::Generate().value();
  auto b = crypto::X25519KeyPair::Generate().value();
  EXPECT_EQ(a.public_key, b.public_key) << "the preloaded library did not take effect";
  // The enclave's keys and instance ids do not.
  auto e1 = worker::EnclaveHost::Create(kConfig, dir).value();
  auto e2 = worker::EnclaveHost::Create(kConfig, dir).value();
  const crypto::Bytes nonce(32, 1);
  auto q1 = attestation::ParseEvidence(e1->GetQuote(nonce).value()).value();
  auto q2 = attestation::ParseEvidence(e1->GetQuote(nonce).value()).value();
  auto q3 = attestation::ParseEvidence(e2->GetQuote(nonce).value()).value();
  EXPECT_NE(q1.binding.ephemeral_key, q2.binding.ephemeral_key);
  EXPECT_NE(q1.binding.ephemeral_key, a.public_key);
  EXPECT_NE(q1.binding.instance, q3.binding.instance);
}

// Runs this test binary again, filtered to `test`, with `env` set: for an
// attack that must be in place before the process starts (a preloaded
// library, an environment the image reads at load). The child finds its
// half of the test by the environment; true when all its checks passed.
::testing::AssertionResult RunChildTest(
    const char* test, const std::vector<std::pair<const char*, std::string>>& env) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [name, value] : env) setenv(name, value.c_str(), 1);
    const std::string filter = std::string("--gtest_filter=EnclaveImageTest.") + test;
    execl("/proc/self/exe", "enclave_tests", filter.c_str(), nullptr);
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
    return ::testing::AssertionFailure() << "the child did not exit normally";
  }
  if (WEXITSTATUS(status) != 0) {
    return ::testing::AssertionFailure() << "the child's checks failed (see its output above)";
  }
  return ::testing::AssertionSuccess();
}

TEST_F(EnclaveImageTest, PreloadedEntropyDoesNotReachTheEnclave) {
  if (const char* child = std::getenv("SERDAB_ENTROPY_CHILD")) {
    CheckEntropyUnderPreload(child);
    return;
  }
  EXPECT_TRUE(
      RunChildTest("PreloadedEntropyDoesNotReachTheEnclave",
                   {{"LD_PRELOAD", SERDAB_FAKE_ENTROPY_LIB}, {"SERDAB_ENTROPY_CHILD", dir_}}));
}

// libcrypto picks its AES code from CPUID masked by the OPENSSL_ia32cap
// environment variable, the host's to set: hiding AES-NI would move AES-GCM
// to table lookups whose cache timing leaks keys. The image's AES-GCM comes
// from libipsec-mb, which reads no environment, and no libcrypto is linked
// in to read that variable.
TEST_F(EnclaveImageTest, TheImageLinksNoLibcryptoForTheHostToSteer) {
  const crypto::Bytes image = ReadAll(worker::EnclaveHost::ImagePath().value());
  ASSERT_GT(image.size(), 0u);
  const std::string variable = "OPENSSL_ia32cap";
  EXPECT_EQ(std::search(image.begin(), image.end(), variable.begin(), variable.end()), image.end());
}

}  // namespace
}  // namespace serdab
