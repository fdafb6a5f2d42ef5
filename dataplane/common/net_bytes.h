// Network byte order (big-endian) loads and stores of unaligned header fields, for code that walks
// packet bytes (decoder, defragmenter, the capture replay's port rewrite).
#pragma once

#include <cstdint>

namespace fs::net {

inline uint16_t Rd16(const uint8_t* b) { return uint16_t(uint16_t(b[0]) << 8 | b[1]); }
inline uint32_t Rd32(const uint8_t* b) {
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
}
inline void Wr16(uint8_t* b, uint32_t v) {
  b[0] = uint8_t(v >> 8);
  b[1] = uint8_t(v);
}

}  // namespace fs::net
