// Fuzzes the tensor codec, the plaintext of every frame message between
// pipeline stages. Whatever decodes must describe exactly the bytes it came
// from: re-encoding gives the input back.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "enclave/engine/tensor_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serdab::engine;
  const std::span<const uint8_t> bytes(data, size);
  serdab::Result<std::vector<Tensor>> tensors = DecodeTensors(bytes);
  if (tensors.ok()) {
    size_t payload = 0;
    for (const Tensor& t : *tensors) {
      // A shape must account for its buffer exactly, without wrapping.
      unsigned __int128 expected = ElementSize(t.dtype());
      for (int64_t d : t.shape()) expected *= static_cast<uint64_t>(d);
      if (expected != t.bytes()) std::abort();
      payload += t.bytes();
    }
    if (payload > size) std::abort();
    std::vector<uint8_t> again;
    EncodeTensors(*tensors, &again);
    if (again.size() != size || std::memcmp(again.data(), data, size) != 0) std::abort();
  }
  // A pipeline stage scatters each frame into fixed buffers and checks the
  // headers it got.
  std::vector<Tensor> into;
  into.push_back(Tensor::Zeros(DataType::kFloat32, {1, 3, 4, 4}).value());
  into.push_back(Tensor::Zeros(DataType::kInt64, {2}).value());
  std::vector<uint8_t> headers;
  size_t at = 0;
  for (std::span<uint8_t> part : TensorDestinationParts(&into, &headers)) {
    const size_t n = std::min(part.size(), size - std::min(size, at));
    std::memcpy(part.data(), data + std::min(size, at), n);
    at += part.size();
  }
  (void)CheckOpenedHeaders(headers, into);
  return 0;
}
