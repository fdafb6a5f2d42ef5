#include "dataplane/common/ip_addr.h"

#include <arpa/inet.h>

namespace fs {

std::optional<IpAddr> IpAddr::Parse(std::string_view text) {
  if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t raw[16];
  if (inet_pton(AF_INET, buf, raw) == 1) return FromV4(raw);
  if (inet_pton(AF_INET6, buf, raw) == 1) return FromV6(raw);
  return std::nullopt;
}

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (IsV4()) {
    // As inet_ntop prints it, without its sprintf (every EVE record prints two addresses).
    char* p = buf;
    for (int i = 12; i < 16; ++i) {
      const unsigned v = bytes[i];
      if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
      if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
      if (i < 15) *p++ = '.';
    }
    return std::string(buf, p);
  }
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::string IpAddr::ToEveString() const {
  if (IsV4()) return ToString();
  char buf[40];
  char* p = buf;
  for (int i = 0; i < 16; i += 2) {
    static constexpr char kHex[] = "0123456789abcdef";
    *p++ = kHex[bytes[i] >> 4];
    *p++ = kHex[bytes[i] & 0xf];
    *p++ = kHex[bytes[i + 1] >> 4];
    *p++ = kHex[bytes[i + 1] & 0xf];
    if (i < 14) *p++ = ':';
  }
  return std::string(buf, p);
}

}  // namespace fs
