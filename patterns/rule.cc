#include "patterns/rule.h"

#include <fmt/format.h>

namespace fs::patterns {

std::string Diagnostic::ToString() const {
  std::string where = file;
  if (line != 0) {
    where += fmt::format(":{}", line);
    if (column != 0) where += fmt::format(":{}", column);
  }
  return where.empty() ? message : where + ": " + message;
}

const char* ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kIp:
      return "ip";
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kIcmp:
      return "icmp";
    case Protocol::kIcmpv4:
      return "icmpv4";
    case Protocol::kIcmpv6:
      return "icmpv6";
  }
  return "?";
}

std::string Rule::Location() const { return fmt::format("{}:{}", file, pos.line); }

}  // namespace fs::patterns
