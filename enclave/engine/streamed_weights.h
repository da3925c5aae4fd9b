// Streamed weights: a layer whose weights do not fit the enclave's protected
// memory keeps them outside it, sealed in chunks, and opens one chunk at a time
// into a reused window while it runs (Occlumency, MobiCom 2019). A frame then
// pays one authenticated decryption of the streamed bytes instead of a page
// fault per 4 KiB of them.
//
// The layers that can stream are Gemm, MatMul and Conv (group 1) with a
// constant weight: a chunk is a slice of the layer's output features (rows of
// a transposed Gemm weight or of a Conv weight, columns of a MatMul weight),
// computed by the layer's own kernel on that slice of the weight, so a
// streamed layer gives bit-identical results to the resident one
// (output_slice.h).
//
// Which chunks stream: ModelOptions::streamed_weight_bytes asks for at least
// that many bytes. The kept range's streamable layers are taken largest
// first, each from its last chunk backwards, until the request is met; the
// rest stays resident. LayerInfo reports what each layer streams.
#ifndef SERDAB_ENCLAVE_ENGINE_STREAMED_WEIGHTS_H_
#define SERDAB_ENCLAVE_ENGINE_STREAMED_WEIGHTS_H_

#include <cstddef>
#include <cstdint>

#include "enclave/common/status.h"

namespace serdab::engine {

// The most weight bytes in one chunk. The window a streamed layer opens its
// chunks into holds one chunk, so a stage that streams needs this much more
// protected memory (the placement's cost model counts it).
inline constexpr size_t kWeightChunkBytes = size_t{1} << 20;

// Where streamed chunks live between frames: memory the host can read and
// write. An implementation must make every way the host can change them
// (flipped bits, a chunk moved to another id, an older chunk put back after
// the id was reused) fail Get.
class WeightChunkStore {
 public:
  virtual ~WeightChunkStore() = default;

  // Seals `bytes` bytes at `data` and keeps them outside protected memory.
  // Returns the chunk's id.
  virtual Result<uint32_t> Put(const void* data, size_t bytes) = 0;

  // The window Get needs for a chunk of `bytes` bytes (room to open it in
  // place, which may be more than the chunk).
  virtual size_t WindowBytes(size_t bytes) const = 0;

  // Opens chunk `id`, of `bytes` bytes, into the start of `window`
  // (WindowBytes(bytes) long). Corruption when the chunk was changed; the
  // window then holds no plaintext. Thread-safe with other Gets.
  virtual Status Get(uint32_t id, void* window, size_t bytes) const = 0;
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_STREAMED_WEIGHTS_H_
