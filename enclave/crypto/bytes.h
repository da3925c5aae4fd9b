// Byte strings, secret key buffers and the little-endian wire codec shared by
// every Serdab trust format (channel messages, quotes, certificates, sealed
// blobs).
//
// Wire formats are parsed with Reader: every read checks the bytes left and
// fails with Status::Corruption naming the format and the field, so a
// truncated or padded input can never be read past its end or half-accepted.
#ifndef SERDAB_ENCLAVE_CRYPTO_BYTES_H_
#define SERDAB_ENCLAVE_CRYPTO_BYTES_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::crypto {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// Public fixed-size values: hashes, public keys, signatures.
template <size_t N>
using ByteArray = std::array<uint8_t, N>;

// Overwrites memory in a way the compiler may not optimise away.
void SecureWipe(void* data, size_t size);

// SecureWipe of every buffer in `parts`.
inline void SecureWipeParts(std::span<const std::span<uint8_t>> parts) {
  for (const std::span<uint8_t>& part : parts) SecureWipe(part.data(), part.size());
}

// Fixed-size secret key material, wiped when destroyed. Copies are allowed
// (each copy wipes itself) so that keys can live in value types.
template <size_t N>
class SecretBytes {
 public:
  SecretBytes() { bytes_.fill(0); }
  SecretBytes(const SecretBytes&) = default;
  SecretBytes& operator=(const SecretBytes&) = default;
  ~SecretBytes() { SecureWipe(bytes_.data(), N); }

  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return N; }
  ByteView view() const { return ByteView(bytes_.data(), N); }

 private:
  std::array<uint8_t, N> bytes_;
};

// Compares in time independent of the contents. Different sizes compare
// unequal (the sizes themselves are not secret).
bool ConstantTimeEqual(ByteView a, ByteView b);

// The bytes in buffers laid end to end (a message's plaintext in parts).
template <typename Span>
size_t TotalSize(std::span<const Span> parts) {
  size_t n = 0;
  for (const Span& part : parts) n += part.size();
  return n;
}

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Lowercase hex.
std::string HexEncode(ByteView bytes);
// Accepts upper or lower case; fails on odd length or a non-hex character.
Result<Bytes> HexDecode(std::string_view hex);
// Decodes exactly N bytes; `what` names the value in the error.
template <size_t N>
Result<ByteArray<N>> HexDecodeArray(std::string_view hex, std::string_view what);

// Appends little-endian integers and byte strings to a growing buffer.
class Writer {
 public:
  Writer() = default;

  void U8(uint8_t v) { bytes_.push_back(v); }
  void U16(uint16_t v) { PutLittleEndian(v, 2); }
  void U32(uint32_t v) { PutLittleEndian(v, 4); }
  void U64(uint64_t v) { PutLittleEndian(v, 8); }
  // Raw bytes, no length: for fixed-size fields.
  void Raw(ByteView v) {
    // Reserving first (geometrically) also keeps GCC 12 from a false
    // -Wstringop-overflow inside vector::insert.
    const size_t need = bytes_.size() + v.size();
    if (need > bytes_.capacity()) bytes_.reserve(std::max(need, 2 * bytes_.capacity()));
    bytes_.insert(bytes_.end(), v.data(), v.data() + v.size());
  }
  // A u32 length followed by the bytes: for variable-size fields.
  void LengthPrefixed(ByteView v) {
    U32(static_cast<uint32_t>(v.size()));
    Raw(v);
  }

  const Bytes& bytes() const { return bytes_; }
  Bytes Take() { return std::move(bytes_); }

 private:
  void PutLittleEndian(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }

  Bytes bytes_;
};

// Reads what Writer wrote. `format` names the whole input in errors
// ("quote", "platform certificate"); each read names its field. Errors never
// contain a value or length read from the input: inputs come from the
// untrusted host, and an error that echoed them would be a read oracle.
class Reader {
 public:
  Reader(ByteView input, std::string format) : input_(input), format_(std::move(format)) {}

  Result<uint8_t> U8(std::string_view field);
  Result<uint16_t> U16(std::string_view field);
  Result<uint32_t> U32(std::string_view field);
  Result<uint64_t> U64(std::string_view field);
  // Exactly out.size() bytes.
  Status Raw(std::string_view field, std::span<uint8_t> out);
  template <size_t N>
  Result<ByteArray<N>> Array(std::string_view field) {
    ByteArray<N> out;
    SERDAB_RETURN_IF_ERROR(Raw(field, out));
    return out;
  }
  // A u32 length (at most max_size) and that many bytes, viewed in place.
  Result<ByteView> LengthPrefixed(std::string_view field, size_t max_size);
  // The remaining bytes, viewed in place; the reader is then at its end.
  ByteView Rest();

  size_t offset() const { return offset_; }
  size_t remaining() const { return input_.size() - offset_; }
  // Fails if bytes are left over: trailing data is never silently ignored.
  Status ExpectEnd() const;

 private:
  Result<ByteView> Take(std::string_view field, size_t n);

  ByteView input_;
  std::string format_;
  size_t offset_ = 0;
};

template <size_t N>
Result<ByteArray<N>> HexDecodeArray(std::string_view hex, std::string_view what) {
  if (hex.size() != 2 * N) {
    return Status::InvalidArgument(std::string(what) + ": expected " + std::to_string(2 * N) +
                                   " hex characters, found " + std::to_string(hex.size()));
  }
  auto decoded = HexDecode(hex);
  if (!decoded.ok()) return decoded.status().WithContext(std::string(what));
  ByteArray<N> out;
  std::copy(decoded->begin(), decoded->end(), out.begin());
  return out;
}

}  // namespace serdab::crypto

#endif  // SERDAB_ENCLAVE_CRYPTO_BYTES_H_
