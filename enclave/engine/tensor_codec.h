// Tensor codec: the byte form of the tensors live across a cut, i.e. the
// plaintext of one frame message between pipeline stages (and of the
// client's input and result). Versioned and length-checked: a decoder never
// reads past its input and names the field at fault.
//
//   u16 version | u32 count | count x (u8 dtype | u8 rank | rank x i64 dim | data)
#ifndef SERDAB_ENCLAVE_ENGINE_TENSOR_CODEC_H_
#define SERDAB_ENCLAVE_ENGINE_TENSOR_CODEC_H_

#include <cstdint>
#include <span>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

size_t EncodedTensorsSize(const std::vector<Tensor>& tensors);
// Appends the encoding to `out`.
void EncodeTensors(const std::vector<Tensor>& tensors, std::vector<uint8_t>* out);
// Writes the encoding into `out`, which must hold exactly
// EncodedTensorsSize(tensors) bytes (e.g. SecureChannel::PrepareMessage's
// region, so a frame is encoded straight into its message).
void EncodeTensorsTo(const std::vector<Tensor>& tensors, std::span<uint8_t> out);
// Decodes into tensors allocated from `allocator` (the heap if null).
Result<std::vector<Tensor>> DecodeTensors(std::span<const uint8_t> bytes,
                                          Allocator* allocator = nullptr);

// Decodes into `tensors`, whose types and shapes the message must match
// exactly: a stage decodes every frame into the same buffers.
Status DecodeTensorsInto(std::span<const uint8_t> bytes, std::vector<Tensor>* tensors);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_TENSOR_CODEC_H_
