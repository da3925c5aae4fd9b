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
// Decodes into tensors allocated from `allocator` (the heap if null).
Result<std::vector<Tensor>> DecodeTensors(std::span<const uint8_t> bytes,
                                          Allocator* allocator = nullptr);

// The encoding of `tensors` as parts to seal from where they lie
// (SecureChannel::SealParts): the headers, written into *headers, and each
// tensor's data in place. The parts point into *headers and the tensors.
std::vector<std::span<const uint8_t>> EncodedTensorParts(const std::vector<Tensor>& tensors,
                                                         std::vector<uint8_t>* headers);

// Where a message for `tensors` (with exactly their types and shapes) is
// opened to (SecureChannel::OpenPendingParts): header regions in *headers,
// and each tensor's data buffer. After opening, CheckOpenedHeaders says
// whether the headers are the ones expected.
std::vector<std::span<uint8_t>> TensorDestinationParts(std::vector<Tensor>* tensors,
                                                       std::vector<uint8_t>* headers);
Status CheckOpenedHeaders(std::span<const uint8_t> headers, const std::vector<Tensor>& tensors);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_TENSOR_CODEC_H_
