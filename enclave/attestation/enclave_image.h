// The code identity of an enclave image: what MRENCLAVE's `code` part covers.
//
// SGX measures every page of an enclave as it is added, before any of it
// runs. The sim backend does the same to the shared object the enclave was
// loaded from: MeasureLoadedObject hashes the object's loadable
// segments *as mapped in memory*, found by the address of code inside it (a
// hidden symbol, which no other library can interpose), at load time, before
// its constructors run. Nothing is read back from the file the object was
// loaded from, so replacing or shadowing that file changes nothing.
//
// The dynamic loader writes into the writable segment (relocations, and the
// pointers of .dynamic it adjusts by the load address), so both digests see
// the image the way the linker wrote it: every dynamic relocation's target is
// zeroed, and .dynamic's address entries are taken relative to the load
// address. What a relocation resolves to is then fixed by the (measured)
// relocation entry, and everything else in every segment is measured byte
// for byte. ImageDigestFromFile computes the same digest from the file, which
// is how a verifier predicts an enclave's measurement.
//
// The enclave links libstdc++ and libsodium statically, with their symbols
// bound locally, and parses ONNX without protobuf, so the digest covers all
// trusted code but the C library (which an SGX enclave would replace with its
// own).
#ifndef SERDAB_ENCLAVE_ATTESTATION_ENCLAVE_IMAGE_H_
#define SERDAB_ENCLAVE_ATTESTATION_ENCLAVE_IMAGE_H_

#include <cstdint>
#include <string>

#include "enclave/common/status.h"
#include "enclave/crypto/bytes.h"
#include "enclave/crypto/keys.h"

namespace serdab::attestation {

// Corruption if `elf` is not a 64-bit little-endian ELF shared object with
// well-formed program headers and dynamic section.
Result<crypto::Sha256Digest> ImageDigestFromFile(crypto::ByteView elf);

// The loaded object that contains `address`: its digest, and the address
// range its segments occupy (enclave memory, which ECALLs may not be handed).
struct LoadedImage {
  crypto::Sha256Digest digest{};
  uintptr_t begin = 0;
  uintptr_t end = 0;
};
Result<LoadedImage> MeasureLoadedObject(const void* address);

// Reads `path` and returns ImageDigestFromFile of it.
Result<crypto::Sha256Digest> ImageDigestOfFile(const std::string& path);

}  // namespace serdab::attestation

#endif  // SERDAB_ENCLAVE_ATTESTATION_ENCLAVE_IMAGE_H_
