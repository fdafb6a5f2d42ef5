// IP addresses as the dataplane carries them: 16 bytes, IPv4 as IPv4-mapped IPv6
// (::ffff:a.b.c.d), so that flow keys and comparisons are one code path for both families.
// Plain value type; any thread.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace fs {

struct IpAddr {
  std::array<uint8_t, 16> bytes{};

  static IpAddr FromV4(const uint8_t* p) {
    IpAddr a;
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + 12, p, 4);
    return a;
  }
  static IpAddr FromV4(uint32_t host_order) {
    uint8_t b[4] = {uint8_t(host_order >> 24), uint8_t(host_order >> 16), uint8_t(host_order >> 8),
                    uint8_t(host_order)};
    return FromV4(b);
  }
  static IpAddr FromV6(const uint8_t* p) {
    IpAddr a;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
  }
  bool IsV4() const {
    static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), kPrefix, 12) == 0;
  }
  // Parses dotted-quad IPv4 or IPv6 text. nullopt on anything else.
  static std::optional<IpAddr> Parse(std::string_view text);
  // Dotted quad for IPv4-mapped addresses, RFC 5952 text otherwise.
  std::string ToString() const;
  // As Suricata's EVE prints addresses: IPv6 as eight 4-digit groups, zeros kept.
  std::string ToEveString() const;

  auto operator<=>(const IpAddr&) const = default;
  bool operator==(const IpAddr&) const = default;
};

}  // namespace fs
