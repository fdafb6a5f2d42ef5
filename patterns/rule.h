// The rule AST: what the parser produces from Suricata/Snort rule text and what the compiler
// turns into a Hyperscan database. Everything keeps its source position so that every later
// message (compile errors, duplicate sids, unsupported keywords) can name FILE:LINE:COLUMN.
// Plain value types, built on the control plane; a compiled PatternSet owns its rules read-only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "patterns/buffers.h"
#include "patterns/range_set.h"

namespace fs::patterns {

// Suricata's unsigned-integer operators (DetectUintMode, detect_match_uint), for dsize, itype,
// icode (8/16-bit forms) and bsize, urilen (64-bit): =, !=, <, <=, >, >=, lo<>hi (exclusive) and
// bsize's lo-hi (inclusive).
enum class UintMode : uint8_t { kEq, kNe, kLt, kLte, kGt, kGte, kRange, kRangeInclusive };

// Whether v satisfies `mode lo [hi]`.
template <class T>
constexpr bool UintHolds(UintMode mode, T lo, T hi, T v) {
  switch (mode) {
    case UintMode::kEq:
      return v == lo;
    case UintMode::kNe:
      return v != lo;
    case UintMode::kLt:
      return v < lo;
    case UintMode::kLte:
      return v <= lo;
    case UintMode::kGt:
      return v > lo;
    case UintMode::kGte:
      return v >= lo;
    case UintMode::kRange:
      return v > lo && v < hi;
    case UintMode::kRangeInclusive:
      return v >= lo && v <= hi;
  }
  return false;
}

// 1-based line and column (column counts bytes) in the rule file. {0, 0}: no position.
struct Position {
  uint32_t line = 0;
  uint32_t column = 0;
  bool operator==(const Position&) const = default;
};

// One parser or loader message. keyword is set when a rule was skipped (or, in strict mode,
// rejected) because of something not supported yet: "byte_test", "pcre/U", "proto:http",
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

// kPass: a matching pass rule suppresses every alert of that packet. Rules are evaluated in
// Suricata's action order, pass rules first (see PatternSet and docs/rules.md).
enum class Action : uint8_t { kAlert, kPass };
const char* ActionName(Action a);

// Protocols the sensor evaluates today ("tcp-pkt" is kTcp with Rule::packet_only). Other
// app-layer protocols (smtp, ftp, ...) and Suricata's tcp-stream/sctp/ipv4/ipv6 variants parse
// but are skipped with a warning.
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

// One content match. Values are kept as written; the effective search window follows Suricata
// (offset/depth absolute from the start of the buffer, distance/within relative to the end of the
// previous content or pcre match: see docs/rules.md).
struct Content {
  std::string bytes;  // decoded: |hex| sections and \" \; \\ \: escapes applied
  bool nocase = false;
  bool negated = false;   // content:!"..."
  bool rawbytes = false;  // accepted; no effect (as in Suricata)
  // fast_pattern (any form): validated as Suricata does; a marked content is the rule's
  // pre-filter in the packet databases (PatternSet, CompileOptions::fast_pattern_prefilter).
  bool fast_pattern = false;
  bool fast_pattern_only = false;  // fast_pattern:only
  bool fast_pattern_chop = false;  // fast_pattern:offset,length
  uint16_t fast_pattern_offset = 0, fast_pattern_length = 0;
  // The buffer it inspects: kPayload, or the sticky buffer in force when it was written (or the
  // one a legacy modifier such as http_uri moved it to).
  Buffer buffer = Buffer::kPayload;
  bool startswith =
      false;              // startswith: depth = its length (Suricata's DETECT_CONTENT_STARTS_WITH)
  bool endswith = false;  // endswith (or isdataat:!1,relative after it): ends at the buffer end

  bool has_offset = false, has_depth = false;
  uint16_t offset = 0;  // offset:N
  uint16_t depth = 0;   // depth:N, counted from offset
  bool has_distance = false, has_within = false;
  int32_t distance = 0;  // distance:N (may be negative)
  int32_t within = 0;    // within:N
  // offset/depth/distance/within naming a byte_extract variable: the index of that byte_extract
  // in Rule::byte_ops (the numeric field above is then unused); -1 for a number.
  int16_t offset_var = -1, depth_var = -1, distance_var = -1, within_var = -1;
  // A relative byte_test/byte_jump/byte_extract/isdataat refers to this content (Suricata's
  // DETECT_CONTENT_RELATIVE_NEXT set by those keywords).
  bool byte_relative_next = false;

  Position pos;               // the "content" keyword
  uint32_t option_index = 0;  // into Rule::options

  bool relative() const { return has_distance || has_within; }
  // Where the search window ends, as Suricata keeps it: offset + depth in 16 bits (so it can wrap,
  // as in Suricata); 0 when there is no depth (or the sum wrapped to exactly 0).
  uint16_t depth_end() const {
    return has_depth ? static_cast<uint16_t>(offset + depth) : static_cast<uint16_t>(0);
  }
};

// One pcre:"/regex/flags" match on the raw payload.
struct Pcre {
  std::string regex;      // between the slashes, exactly as PCRE2 gets it
  std::string modifiers;  // the letters after the closing slash, as written
  bool negated = false;   // pcre:!"..."
  bool relative = false;  // R: starts where the previous content/pcre match ended
  // PCRE2 compile options from the modifiers (i m s x A E G); B and O are accepted and ignored.
  bool caseless = false, multiline = false, dotall = false, extended = false;
  bool anchored = false, dollar_endonly = false, ungreedy = false;
  Buffer buffer = Buffer::kPayload;  // as Content::buffer (legacy /U /H ... flags too)
  bool byte_relative_next = false;   // as Content::byte_relative_next (DETECT_PCRE_RELATIVE_NEXT)
  Position pos;                      // the "pcre" keyword
  uint32_t option_index = 0;         // into Rule::options
};

// byte_test, byte_jump, byte_extract or isdataat (Suricata 7.0.10 semantics: detect-bytetest.c,
// detect-bytejump.c, detect-byte-extract.c, detect-isdataat.c). Values are as Suricata keeps
// them after parsing; a field that names a byte_extract variable holds -1 in *_var otherwise.
struct ByteOp {
  enum class Kind : uint8_t { kTest, kJump, kExtract, kIsdataat };
  // byte_test operators (DETECT_BYTETEST_OP_*): = < > & ^ >= <=.
  enum class Op : uint8_t { kEq, kLt, kGt, kAnd, kXor, kGe, kLe };
  Kind kind = Kind::kTest;
  // The buffer it inspects: the sticky buffer in force, else (relative) the buffer of the
  // keyword it is relative to, else the packet payload (as Suricata picks the list).
  Buffer buffer = Buffer::kPayload;
  bool relative = false;
  bool negated = false;  // byte_test "!op"; isdataat "!N"
  bool string = false;   // string: the bytes are text, parsed with strtoull in `base`
  bool little = false;   // little endian (default big)
  bool bitmask = false;  // byte_test bitmask (bitmask_value, with its trailing-zero shift)
  bool align = false;    // byte_jump align (to 4); byte_extract align N (align_value)
  bool from_beginning = false, from_end = false;  // byte_jump
  bool rawbytes = false;                          // isdataat ...,relative,rawbytes: no effect
  Op op = Op::kEq;
  uint8_t base = 0;  // 0 (strtoull's automatic base), 8, 10 or 16
  uint8_t bitmask_shift = 0;
  uint8_t align_value = 0;  // byte_extract: 2 or 4
  uint16_t multiplier = 1;  // byte_jump, byte_extract
  uint32_t nbytes = 0;      // bytes to convert
  int32_t offset = 0;       // byte_test/jump/extract offset; isdataat: the N
  int32_t post_offset = 0;  // byte_jump
  uint32_t bitmask_value = 0;
  uint64_t value = 0;                                        // byte_test value
  int16_t nbytes_var = -1, offset_var = -1, value_var = -1;  // index into Rule::byte_ops
  std::string name;           // byte_extract: the variable it defines
  Position pos;               // the keyword
  uint32_t option_index = 0;  // into Rule::options
};

// The contents, pcres and byte keywords of a rule in the order written: Suricata inspects them
// in this order, and a relative one refers to the one before it.
struct PayloadItem {
  enum class Kind : uint8_t { kContent, kPcre, kByte };
  Kind kind = Kind::kContent;
  uint32_t index = 0;  // into Rule::contents, Rule::pcres or Rule::byte_ops
};

#if FS_HAVE_CONDITIONS
// flow/flowbits/dsize/threshold/detection_filter of one rule, defined in patterns/conditions.h.
// Held through a pointer so that rule.h and conditions.h (which includes this header) can be
// included in either order; copies are deep. Never null, except in a moved-from Rule.
struct RuleConditions;
class RuleConditionsBox {
 public:
  RuleConditionsBox();
  ~RuleConditionsBox();
  RuleConditionsBox(const RuleConditionsBox& o);
  RuleConditionsBox& operator=(const RuleConditionsBox& o);
  RuleConditionsBox(RuleConditionsBox&&) noexcept;
  RuleConditionsBox& operator=(RuleConditionsBox&&) noexcept;

  RuleConditions& operator*() { return *p_; }
  const RuleConditions& operator*() const { return *p_; }
  RuleConditions* operator->() { return p_.get(); }
  const RuleConditions* operator->() const { return p_.get(); }
  RuleConditions* get() { return p_.get(); }
  const RuleConditions* get() const { return p_.get(); }

 private:
  std::unique_ptr<RuleConditions> p_;
};
#endif

// bsize / urilen: a condition on the length of one buffer (Suricata's DetectU64 forms: N, <N,
// <=N, >N, >=N, N<>M (exclusive), N-M (inclusive), !N).
struct SizeCheck {
  Buffer buffer = Buffer::kPayload;
  UintMode op = UintMode::kEq;
  uint64_t lo = 0, hi = 0;
  Position pos;

  bool Holds(uint64_t n) const { return UintHolds<uint64_t>(op, lo, hi, n); }
};

// tls.version (detect-tls-version.c): the version Suricata keeps for the inspected side of the
// TLS session (AppInspect::tls_version: the client's hello version, supported_versions first;
// the server's selected one) equals `version`. A named version (1.0 ... 1.3) counts every TLS 1.3
// draft (0x7fxx) as 1.3; a hex value (`raw`) compares exactly.
struct TlsVersionTest {
  bool set = false;
  bool raw = false;
  uint16_t version = 0;
  bool Holds(uint16_t v) const {
    if (!raw && (v >> 8) == 0x7f) v = 0x0304;
    return v == version;
  }
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
  // "tcp-pkt": the rule inspects TCP packets only, never the reassembled stream (Suricata's
  // DETECT_PROTO_ONLY_PKT).
  bool packet_only = false;
  // target:src_ip / target:dest_ip: which side of the alert's packet is the target; EVE alerts
  // of the rule then carry Suricata's "source" and "target" objects.
  enum class Target : uint8_t { kNone, kSrc, kDst };
  Target target = Target::kNone;
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
  // metadata flowsentry_block src|dst|both and flowsentry_block_ttl SECONDS (docs/enforcement.md):
  // which side of an alerting packet to block (bits), and for how long (0 = the default TTL).
  static constexpr uint8_t kBlockSrc = 1, kBlockDst = 2;
  uint8_t block_side = 0;
  uint32_t block_ttl = 0;
  std::vector<Content> contents;
  std::vector<Pcre> pcres;
  std::vector<ByteOp> byte_ops;
  std::vector<PayloadItem> payload;  // contents, pcres and byte keywords in rule order
  // The buffer a payload item inspects.
  Buffer BufferOf(const PayloadItem& item) const;
  // App layer (docs/rules.md "App-layer buffers"): the protocol the rule inspects (from its header,
  // "alert http ...", or from the sticky buffers it uses; kNone for packet rules), its buffer
  // length conditions, and the buffers it applies dotprefix to (bit per Buffer).
  AppProto app_proto = AppProto::kNone;
  std::vector<SizeCheck> size_checks;
  uint64_t dotprefix = 0;
  TlsVersionTest tls_version;
  // Whether the rule is evaluated on transactions (Scanner::ScanApp): any content/pcre/size check
  // uses an app-layer buffer, or the header names a protocol and the rule inspects nothing. A
  // rule of an app protocol ("alert http") whose contents are all on the raw payload is not: as in
  // Suricata (no app inspection engine), it is a packet/stream rule that also needs the flow's
  // app_proto to be that protocol (PayloadOnAppProto).
  bool IsAppRule() const;
  bool PayloadOnAppProto() const;
#if FS_HAVE_CONDITIONS
  RuleConditionsBox conditions;
#endif

  // "FILE:LINE" of the rule.
  std::string Location() const;
};

}  // namespace fs::patterns
