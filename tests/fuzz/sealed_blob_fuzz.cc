// Fuzzes unsealing: a sealed blob comes back from untrusted storage, so its
// header is parsed before anything is authenticated.
#include <cstddef>
#include <cstdint>

#include "enclave/attestation/sealing.h"
#include "tests/fuzz/fuzz_fixtures.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serdab;
  static const attestation::SealingSecret secret = fuzz::SealingSecret();
  static const attestation::EnclaveIdentity self = fuzz::Enclave();
  const crypto::ByteView blob(data, size);
  (void)attestation::Unseal(secret, self, blob);
  // The same blob with additional data it was not sealed with never opens.
  static const uint8_t kOther[] = {'a', 'd'};
  (void)attestation::Unseal(secret, self, blob, kOther);
  return 0;
}
