// The rule AST: what the parser produces from Suricata/Snort rule text and what the compiler
// turns into a Hyperscan database. Everything keeps its source position so that every later
// message (compile errors, duplicate sids, unsupported keywords) can name FILE:LINE:COLUMN.
// Plain value types, built on the control plane; a compiled PatternSet owns its rules read-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "patterns/range_set.h"

namespace fs::patterns {

// 1-based line and column (column counts bytes) in the rule file. {0, 0}: no position.
struct Position {
  uint32_t line = 0;
  uint32_t column = 0;
  bool operator==(const Position&) const = default;
};

// One parser or loader message. keyword is set when a rule was skipped (or, in strict mode,
// rejected) because of something not supported yet: "pcre", "!content", "proto:http",
// "action:drop". Summaries count skipped rules by it.
struct Diagnostic {
  std::string file;
  uint32_t line = 0;
  uint32_t column = 0;
  std::string message;
  std::string keyword;

  // "FILE:LINE:COLUMN: message" (LINE/COLUMN left out when 0).
  std::string ToString() const;
};

enum class Action : uint8_t { kAlert };

// Protocols the sensor evaluates today. App-layer protocols (http, dns, tls, smb, ...) and
// Suricata's tcp-pkt/tcp-stream/sctp/ipv4/ipv6 variants parse but are skipped with a warning.
enum class Protocol : uint8_t {
  kIp,  // every IP packet
  kTcp,
  kUdp,
  kIcmp,  // ICMPv4 and ICMPv6
  kIcmpv4,
  kIcmpv6,
};
const char* ProtocolName(Protocol p);

enum class Direction : uint8_t {
  kToDst,  // "->": the packet's source matches the rule's source side
  kBoth,   // "<>": either orientation
};

// One element of an address or port expression, kept as written so that messages and tools can
// show the operator's own structure ("[$HOME_NET,!10.1.0.0/16]").
struct ExprNode {
  enum class Kind : uint8_t {
    kAny,       // "any"
    kValue,     // one address/CIDR/range or one port/port range: [lo, hi]
    kVariable,  // "$NAME"; children[0] is the variable's parsed value
    kGroup,     // "[a,b,!c]"; children are the members
  };
  Kind kind = Kind::kAny;
  bool negated = false;
  std::string text;     // as written, without a leading '!' (kVariable: the name without '$')
  Position pos;         // first character of the element (its '!' when negated)
  U128 lo = 0, hi = 0;  // kValue: inclusive bounds (addresses as U128, ports as numbers)
  std::vector<ExprNode> children;
};

struct AddressSpec {
  ExprNode expr;
  IpSet set;  // resolved: variables expanded, groups and negations applied; never empty
};

struct PortSpec {
  ExprNode expr;
  PortSet set;  // resolved; never empty
};

// Every option of a rule in the order written, including ones the sensor does not act on
// (reference, metadata, and, for skipped rules, the unsupported ones).
struct Option {
  std::string name;   // lower case
  std::string value;  // raw text after ':' with surrounding blanks trimmed; "" without ':'
  bool has_value = false;
  Position pos;        // the keyword
  Position value_pos;  // first character of the value
};

// One content match. Later slices add offset/depth/distance/within here; relative contents will
// chain to the previous content of the same buffer.
struct Content {
  std::string bytes;  // decoded: |hex| sections and \" \; \\ \: escapes applied
  bool nocase = false;
  bool negated = false;       // content:!"..." (not supported yet: such rules are skipped)
  bool fast_pattern = false;  // accepted; Hyperscan does not need a fast pattern
  Position pos;               // the "content" keyword
  uint32_t option_index = 0;  // into Rule::options
};

struct Reference {
  std::string type;  // "url", "cve", ...
  std::string value;
};

struct Rule {
  // Where the rule came from: the file and the position of its first character.
  std::string file;
  Position pos;
  std::string text;  // the logical rule text (continuation lines joined, outer blanks trimmed)

  Action action = Action::kAlert;
  Protocol protocol = Protocol::kIp;
  AddressSpec src_addr, dst_addr;
  PortSpec src_port, dst_port;
  Direction direction = Direction::kToDst;
  std::vector<Option> options;

  std::string msg;
  uint32_t sid = 0;
  uint32_t gid = 1;
  uint32_t rev = 0;
  std::string classtype;  // name as written ("trojan-activity"); "" when none
  std::string category;   // classification.config description; "" when unknown
  uint32_t priority = 0;  // the rule's priority keyword; 0 when not given
  uint32_t severity = 3;  // priority keyword, else classtype priority, else 3
  std::vector<Reference> references;
  std::vector<std::string> metadata;  // "key value" entries, as written
  std::vector<Content> contents;

  // "FILE:LINE" of the rule.
  std::string Location() const;
};

}  // namespace fs::patterns
