// SealedWeightStore: where an enclave keeps the weight chunks it streams
// (engine/streamed_weights.h): sealed with a key drawn for this store alone,
// in host memory outside the EPC.
//
// Each chunk is sealed once, with its id as the AEAD counter and the id and
// size as associated data, so:
// - changed bytes fail the tag;
// - a chunk moved to another id (or two chunks swapped) opens under the wrong
//   counter and fails;
// - a chunk from an earlier partition, put back after the enclave was
//   provisioned again, was sealed under that partition's store's key and
//   fails: every partition gets a store of its own.
// Get copies the sealed chunk into the caller's window before opening it in
// place there, so that the host cannot change bytes between GCM's hash and
// its decryption.
#ifndef SERDAB_ENCLAVE_EPC_SEALED_WEIGHT_STORE_H_
#define SERDAB_ENCLAVE_EPC_SEALED_WEIGHT_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/crypto/aead.h"
#include "enclave/engine/streamed_weights.h"

namespace serdab::epc {

class SealedWeightStore : public engine::WeightChunkStore {
 public:
  // Draws a fresh key for the preferred AEAD.
  static Result<std::unique_ptr<SealedWeightStore>> Create();
  ~SealedWeightStore() override;

  // Not thread-safe with Get: a model puts its chunks while it is prepared.
  Result<uint32_t> Put(const void* data, size_t bytes) override;
  size_t WindowBytes(size_t bytes) const override { return bytes + crypto::kAeadTagBytes; }
  Status Get(uint32_t id, void* window, size_t bytes) const override;

  size_t chunks() const { return chunks_.size(); }
  // Bytes kept in host memory, tags included.
  size_t host_bytes() const { return host_bytes_; }

  // The host's copy of chunk `id` (ciphertext || tag): what the host holds,
  // and may change.
  std::span<uint8_t> HostBytes(uint32_t id) { return {chunks_.at(id).get(), sizes_.at(id)}; }

 private:
  explicit SealedWeightStore(crypto::Aead aead) : aead_(std::move(aead)) {}

  crypto::Aead aead_;
  std::vector<std::unique_ptr<uint8_t[]>> chunks_;  // host memory, by id
  std::vector<size_t> sizes_;                       // sealed bytes, by id
  size_t host_bytes_ = 0;
};

}  // namespace serdab::epc

#endif  // SERDAB_ENCLAVE_EPC_SEALED_WEIGHT_STORE_H_
