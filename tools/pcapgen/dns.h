// DNS message builders (RFC 1035): queries and answers with label encoding and name compression,
// as a Windows stub resolver and a district resolver put them on the wire. Plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tools/pcapgen/packet_builder.h"

namespace fs::pcapgen::dns {

inline constexpr uint16_t kTypeA = 1, kTypeCname = 5, kTypeAaaa = 28;
inline constexpr uint8_t kRcodeNoError = 0, kRcodeNxDomain = 3;

struct Answer {
  uint16_t type = kTypeA;  // A, AAAA or CNAME
  std::string data;        // address text (A/AAAA) or target name (CNAME)
  uint32_t ttl = 300;
};

// "www.example.org" -> 3www7example3org0. Labels longer than 63 bytes are not supported (the
// generator's names are short); they are truncated rather than producing an invalid message.
Bytes EncodeName(std::string_view name);
Bytes Query(uint16_t id, std::string_view name, uint16_t qtype);
// The answer section follows a CNAME chain in order: each record's owner is the previous CNAME's
// target (compressed), the first one's the question name.
Bytes Response(uint16_t id, std::string_view name, uint16_t qtype,
               const std::vector<Answer>& answers, uint8_t rcode = kRcodeNoError);

}  // namespace fs::pcapgen::dns
