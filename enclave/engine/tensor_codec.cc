#include "enclave/engine/tensor_codec.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace serdab::engine {
namespace {

constexpr uint16_t kVersion = 1;
constexpr int kMaxRank = 8;
constexpr uint32_t kMaxTensors = 1024;

template <typename T>
uint8_t* Put(uint8_t* out, T v) {
  std::memcpy(out, &v, sizeof(T));  // little-endian hosts only (x86-64, arm64)
  return out + sizeof(T);
}

class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  template <typename T>
  Status Get(const char* field, T* v) {
    if (bytes_.size() - at_ < sizeof(T)) return Truncated(field);
    std::memcpy(v, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return Status::Ok();
  }
  Status Copy(const char* field, void* dst, size_t n) {
    if (bytes_.size() - at_ < n) return Truncated(field);
    if (n > 0) std::memcpy(dst, bytes_.data() + at_, n);
    at_ += n;
    return Status::Ok();
  }
  size_t remaining() const { return bytes_.size() - at_; }

 private:
  Status Truncated(const char* field) const {
    return Status::Corruption(std::string("tensor message truncated at ") + field + " (offset " +
                              std::to_string(at_) + " of " + std::to_string(bytes_.size()) + ")");
  }
  std::span<const uint8_t> bytes_;
  size_t at_ = 0;
};

}  // namespace

size_t EncodedTensorsSize(const std::vector<Tensor>& tensors) {
  size_t n = 2 + 4;
  for (const Tensor& t : tensors) n += 2 + 8 * t.shape().size() + t.bytes();
  return n;
}

void EncodeTensors(const std::vector<Tensor>& tensors, std::vector<uint8_t>* out) {
  const size_t begin = out->size();
  out->resize(begin + EncodedTensorsSize(tensors));
  uint8_t* at = out->data() + begin;
  at = Put<uint16_t>(at, kVersion);
  at = Put<uint32_t>(at, static_cast<uint32_t>(tensors.size()));
  for (const Tensor& t : tensors) {
    at = Put<uint8_t>(at, static_cast<uint8_t>(t.dtype()));
    at = Put<uint8_t>(at, static_cast<uint8_t>(t.rank()));
    for (int64_t d : t.shape()) at = Put<int64_t>(at, d);
    if (t.bytes() > 0) std::memcpy(at, t.raw(), t.bytes());
    at += t.bytes();
  }
}

namespace {

// Writes the message's headers for `tensors` into *headers: the first
// segment is the version, the count and tensor 0's header; segment i > 0 is
// tensor i's. (*ends)[i] is where segment i ends.
void WriteHeaders(const std::vector<Tensor>& tensors, std::vector<uint8_t>* headers,
                  std::vector<size_t>* ends) {
  size_t size = 2 + 4;
  for (const Tensor& t : tensors) size += 2 + 8 * t.shape().size();
  headers->resize(size);
  ends->clear();
  uint8_t* at = Put<uint32_t>(Put<uint16_t>(headers->data(), kVersion),
                              static_cast<uint32_t>(tensors.size()));
  for (const Tensor& t : tensors) {
    at = Put<uint8_t>(Put<uint8_t>(at, static_cast<uint8_t>(t.dtype())),
                      static_cast<uint8_t>(t.rank()));
    for (int64_t d : t.shape()) at = Put<int64_t>(at, d);
    ends->push_back(at - headers->data());
  }
  if (tensors.empty()) ends->push_back(size);
}

}  // namespace

std::vector<std::span<const uint8_t>> EncodedTensorParts(const std::vector<Tensor>& tensors,
                                                         std::vector<uint8_t>* headers) {
  std::vector<size_t> ends;
  WriteHeaders(tensors, headers, &ends);
  std::vector<std::span<const uint8_t>> parts;
  size_t begin = 0;
  for (size_t i = 0; i < ends.size(); ++i) {
    parts.emplace_back(headers->data() + begin, ends[i] - begin);
    begin = ends[i];
    if (i < tensors.size()) {
      parts.emplace_back(static_cast<const uint8_t*>(tensors[i].raw()), tensors[i].bytes());
    }
  }
  return parts;
}

std::vector<std::span<uint8_t>> TensorDestinationParts(std::vector<Tensor>* tensors,
                                                       std::vector<uint8_t>* headers) {
  std::vector<size_t> ends;
  WriteHeaders(*tensors, headers, &ends);
  std::vector<std::span<uint8_t>> parts;
  size_t begin = 0;
  for (size_t i = 0; i < ends.size(); ++i) {
    parts.emplace_back(headers->data() + begin, ends[i] - begin);
    begin = ends[i];
    if (i < tensors->size()) {
      Tensor& t = (*tensors)[i];
      parts.emplace_back(static_cast<uint8_t*>(t.raw()), t.bytes());
    }
  }
  return parts;
}

Status CheckOpenedHeaders(std::span<const uint8_t> headers, const std::vector<Tensor>& tensors) {
  std::vector<uint8_t> expected;
  std::vector<size_t> ends;
  WriteHeaders(tensors, &expected, &ends);
  if (headers.size() != expected.size() ||
      std::memcmp(headers.data(), expected.data(), expected.size()) != 0) {
    return Status::Corruption(
        "tensor message: the version, count, types or shapes do not match the stage's input");
  }
  return Status::Ok();
}

Result<std::vector<Tensor>> DecodeTensors(std::span<const uint8_t> bytes, Allocator* allocator) {
  Cursor c(bytes);
  uint16_t version;
  uint32_t count;
  SERDAB_RETURN_IF_ERROR(c.Get("version", &version));
  if (version != kVersion) {
    return Status::Corruption("tensor message version " + std::to_string(version) +
                              " is not supported (expected " + std::to_string(kVersion) + ")");
  }
  SERDAB_RETURN_IF_ERROR(c.Get("count", &count));
  if (count > kMaxTensors) {
    return Status::Corruption("tensor message claims " + std::to_string(count) + " tensors");
  }
  std::vector<Tensor> tensors;
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t dtype, rank;
    SERDAB_RETURN_IF_ERROR(c.Get("dtype", &dtype));
    SERDAB_RETURN_IF_ERROR(c.Get("rank", &rank));
    const DataType type = static_cast<DataType>(dtype);
    if (type != DataType::kFloat32 && type != DataType::kUint8 && type != DataType::kInt64) {
      return Status::Corruption("tensor " + std::to_string(i) + " has unknown dtype " +
                                std::to_string(dtype));
    }
    if (rank > kMaxRank) {
      return Status::Corruption("tensor " + std::to_string(i) + " has rank " +
                                std::to_string(rank));
    }
    Shape shape(rank);
    uint64_t elements = 1;  // of the nonzero dimensions
    bool empty = false;
    for (int d = 0; d < rank; ++d) {
      SERDAB_RETURN_IF_ERROR(c.Get("dim", &shape[d]));
      // Every element takes ElementSize bytes of what is left, so the
      // product of the nonzero dimensions is bounded by that: it cannot
      // overflow, nothing huge is allocated for a lying header, and an empty
      // dimension hides no huge one.
      if (shape[d] < 0 || static_cast<uint64_t>(shape[d]) >
                              std::max<uint64_t>(1, c.remaining() / ElementSize(type) / elements)) {
        return Status::Corruption("tensor " + std::to_string(i) + " has an impossible shape");
      }
      empty = empty || shape[d] == 0;
      if (shape[d] > 0) elements *= static_cast<uint64_t>(shape[d]);
    }
    if (!empty && elements * ElementSize(type) > c.remaining()) {
      return Status::Corruption("tensor message truncated in tensor " + std::to_string(i) +
                                " data");
    }
    SERDAB_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(type, std::move(shape), allocator));
    SERDAB_RETURN_IF_ERROR(c.Copy("data", t.raw(), t.bytes()));
    tensors.push_back(std::move(t));
  }
  if (c.remaining() != 0) {
    return Status::Corruption("tensor message has " + std::to_string(c.remaining()) +
                              " trailing bytes");
  }
  return tensors;
}

}  // namespace serdab::engine
