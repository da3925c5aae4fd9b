#include "enclave/crypto/bytes.h"

#include <sodium.h>

namespace serdab::crypto {

void SecureWipe(void* data, size_t size) { sodium_memzero(data, size); }

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string HexEncode(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<Bytes> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return Status::InvalidArgument("hex string has an odd number of characters (" +
                                   std::to_string(hex.size()) + ")");
  }
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("hex string has a non-hex character at position " +
                                     std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    }
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

Result<ByteView> Reader::Take(std::string_view field, size_t n) {
  if (n > remaining()) {
    return Status::Corruption(format_ + " is truncated at field '" + std::string(field) + "'");
  }
  ByteView out = input_.subspan(offset_, n);
  offset_ += n;
  return out;
}

Result<uint8_t> Reader::U8(std::string_view field) {
  SERDAB_ASSIGN_OR_RETURN(ByteView b, Take(field, 1));
  return b[0];
}

Result<uint16_t> Reader::U16(std::string_view field) {
  SERDAB_ASSIGN_OR_RETURN(ByteView b, Take(field, 2));
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}

Result<uint32_t> Reader::U32(std::string_view field) {
  SERDAB_ASSIGN_OR_RETURN(ByteView b, Take(field, 4));
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | b[i];
  return v;
}

Result<uint64_t> Reader::U64(std::string_view field) {
  SERDAB_ASSIGN_OR_RETURN(ByteView b, Take(field, 8));
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | b[i];
  return v;
}

Status Reader::Raw(std::string_view field, std::span<uint8_t> out) {
  SERDAB_ASSIGN_OR_RETURN(ByteView b, Take(field, out.size()));
  std::copy(b.begin(), b.end(), out.begin());
  return Status::Ok();
}

Result<ByteView> Reader::LengthPrefixed(std::string_view field, size_t max_size) {
  SERDAB_ASSIGN_OR_RETURN(uint32_t size, U32(field));
  if (size > max_size) {
    return Status::Corruption(format_ + ": field '" + std::string(field) +
                              "' claims more bytes than the limit of " + std::to_string(max_size));
  }
  return Take(field, size);
}

ByteView Reader::Rest() {
  ByteView out = input_.subspan(offset_);
  offset_ = input_.size();
  return out;
}

Status Reader::ExpectEnd() const {
  if (remaining() != 0) {
    return Status::Corruption(format_ + " has unexpected trailing bytes");
  }
  return Status::Ok();
}

}  // namespace serdab::crypto
