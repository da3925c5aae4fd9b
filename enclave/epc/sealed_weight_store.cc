#include "enclave/epc/sealed_weight_store.h"

#include <cstring>
#include <string>

#include "enclave/crypto/keys.h"

namespace serdab::epc {
namespace {

constexpr char kChunkLabel[] = "serdab.weight-chunk.v1";

// Binds a chunk to its id and size.
crypto::Bytes AssociatedData(uint32_t id, size_t bytes) {
  crypto::Bytes ad(kChunkLabel, kChunkLabel + sizeof(kChunkLabel));
  for (int i = 0; i < 4; ++i) ad.push_back(static_cast<uint8_t>(id >> (8 * i)));
  for (int i = 0; i < 8; ++i) ad.push_back(static_cast<uint8_t>(uint64_t{bytes} >> (8 * i)));
  return ad;
}

}  // namespace

Result<std::unique_ptr<SealedWeightStore>> SealedWeightStore::Create() {
  crypto::AeadKey key;
  SERDAB_RETURN_IF_ERROR(
      crypto::RandomBytes(std::span<uint8_t>(key.data(), crypto::kAeadKeyBytes)));
  SERDAB_ASSIGN_OR_RETURN(crypto::Aead aead, crypto::Aead::Create(crypto::PreferredAead(), key));
  return std::unique_ptr<SealedWeightStore>(new SealedWeightStore(std::move(aead)));
}

SealedWeightStore::~SealedWeightStore() = default;

Result<uint32_t> SealedWeightStore::Put(const void* data, size_t bytes) {
  if (chunks_.size() >= UINT32_MAX) return Status::ResourceExhausted("too many weight chunks");
  const auto id = static_cast<uint32_t>(chunks_.size());
  // Sealed in the enclave's memory, then copied out whole: the host never
  // sees a byte of plaintext.
  crypto::Bytes sealed(bytes + crypto::kAeadTagBytes);
  SERDAB_RETURN_IF_ERROR(aead_.Seal(id, AssociatedData(id, bytes),
                                    crypto::ByteView(static_cast<const uint8_t*>(data), bytes),
                                    sealed));
  auto host = std::make_unique<uint8_t[]>(sealed.size());
  std::memcpy(host.get(), sealed.data(), sealed.size());
  chunks_.push_back(std::move(host));
  sizes_.push_back(sealed.size());
  host_bytes_ += sealed.size();
  return id;
}

Status SealedWeightStore::Get(uint32_t id, void* window, size_t bytes) const {
  if (id >= chunks_.size() || sizes_[id] != bytes + crypto::kAeadTagBytes) {
    return Status::InvalidArgument("no weight chunk " + std::to_string(id) + " of " +
                                   std::to_string(bytes) + " bytes");
  }
  // Opened where the host cannot reach: GCM reads the ciphertext twice.
  auto* w = static_cast<uint8_t*>(window);
  std::memcpy(w, chunks_[id].get(), sizes_[id]);
  Status opened = aead_.Open(id, AssociatedData(id, bytes), crypto::ByteView(w, sizes_[id]),
                             std::span<uint8_t>(w, bytes));
  if (!opened.ok()) {
    return Status::Corruption("weight chunk " + std::to_string(id) +
                              " does not open: the host changed, moved or replaced it");
  }
  return Status::Ok();
}

}  // namespace serdab::epc
