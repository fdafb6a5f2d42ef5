// ByteWriter: appends big/little-endian integers, text and UTF-16LE strings to a byte vector, and
// patches length fields afterwards. Used by the protocol payload builders. Plain value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace fs::pcapgen {

class ByteWriter {
 public:
  ByteWriter& U8(uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  ByteWriter& Be16(uint16_t v) { return U8(uint8_t(v >> 8)).U8(uint8_t(v)); }
  ByteWriter& Be24(uint32_t v) { return U8(uint8_t(v >> 16)).U8(uint8_t(v >> 8)).U8(uint8_t(v)); }
  ByteWriter& Be32(uint32_t v) { return Be16(uint16_t(v >> 16)).Be16(uint16_t(v)); }
  ByteWriter& Le16(uint16_t v) { return U8(uint8_t(v)).U8(uint8_t(v >> 8)); }
  ByteWriter& Le32(uint32_t v) { return Le16(uint16_t(v)).Le16(uint16_t(v >> 16)); }
  ByteWriter& Le64(uint64_t v) { return Le32(uint32_t(v)).Le32(uint32_t(v >> 32)); }
  ByteWriter& Append(const std::vector<uint8_t>& v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }
  ByteWriter& Text(std::string_view s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  // ASCII text as UTF-16LE (what SMB2 and NTLMSSP carry on the wire).
  ByteWriter& Utf16(std::string_view ascii) {
    for (char c : ascii) Le16(static_cast<uint8_t>(c));
    return *this;
  }
  ByteWriter& Zeros(size_t n) {
    b_.insert(b_.end(), n, 0);
    return *this;
  }
  // Pads with zeros to a multiple of `align` bytes.
  ByteWriter& Align(size_t align) { return Zeros((align - b_.size() % align) % align); }

  void PatchBe16(size_t pos, uint16_t v) {
    b_[pos] = uint8_t(v >> 8);
    b_[pos + 1] = uint8_t(v);
  }
  void PatchBe24(size_t pos, uint32_t v) {
    b_[pos] = uint8_t(v >> 16);
    b_[pos + 1] = uint8_t(v >> 8);
    b_[pos + 2] = uint8_t(v);
  }
  void PatchLe16(size_t pos, uint16_t v) {
    b_[pos] = uint8_t(v);
    b_[pos + 1] = uint8_t(v >> 8);
  }
  void PatchLe32(size_t pos, uint32_t v) {
    PatchLe16(pos, uint16_t(v));
    PatchLe16(pos + 2, uint16_t(v >> 16));
  }

  size_t size() const { return b_.size(); }
  const std::vector<uint8_t>& bytes() const { return b_; }
  std::vector<uint8_t> Take() { return std::move(b_); }

 private:
  std::vector<uint8_t> b_;
};

inline std::vector<uint8_t> Utf16Le(std::string_view ascii) {
  return ByteWriter().Utf16(ascii).Take();
}

}  // namespace fs::pcapgen
