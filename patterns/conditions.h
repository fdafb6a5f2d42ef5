// Runtime rule conditions (issue 3): the flow, flowbits, dsize, threshold and detection_filter
// keywords. ParseConditionOption turns one rule option into part of a RuleConditions value;
// FinalizeConditions, once all rules of a set are parsed, numbers the flowbit names, warns about
// flowbits that can never be set, and gives each rule the evaluation order Suricata uses.
// scan::CheckConditions (dataplane/scan/rule_state.h) evaluates a finalized RuleConditions per
// packet. Semantics follow Suricata 7.0.10; docs/rules-conditions.md lists every difference.
//
// Control plane only (parsing and finalizing allocate and build messages). A finalized
// RuleConditions is read-only and shared by every worker through the compiled PatternSet.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "patterns/expected.h"
#include "patterns/rule.h"

namespace fs::patterns {

// Packet directions a rule can match. A packet without a flow counts as to-server, as in
// Suricata (its rule-group lookup uses the to-server groups unless the packet is to-client).
enum class DirMask : uint8_t { kToServer = 1, kToClient = 2, kBoth = 3 };

// Options of one flow keyword test (Suricata's DETECT_FLOW_FLAG_*).
namespace flowopt {
inline constexpr uint16_t kToServer = 0x001;  // to_server, from_client
inline constexpr uint16_t kToClient = 0x002;  // to_client, from_server
inline constexpr uint16_t kEstablished = 0x004;
inline constexpr uint16_t kNotEstablished = 0x008;
inline constexpr uint16_t kStateless = 0x010;
inline constexpr uint16_t kOnlyStream = 0x020;
inline constexpr uint16_t kNoStream = 0x040;
inline constexpr uint16_t kOnlyFrag = 0x080;
inline constexpr uint16_t kNoFrag = 0x100;
}  // namespace flowopt

// One flow keyword that tests more than the direction (Suricata's flow sigmatch). It matches
// when match_count of its option groups hold for the packet (see scan::CheckConditions).
struct FlowTest {
  uint16_t flags = 0;       // flowopt bits
  uint8_t match_count = 0;  // options written
};

enum class FlowbitCmd : uint8_t { kIsset, kIsnotset, kSet, kUnset, kToggle };

// Flowbit id FinalizeConditions has not assigned (or a name unknown to the catalog): never set.
inline constexpr uint16_t kNoFlowbitId = 0xffff;

// One flowbits option. Names (and, after FinalizeConditions, ids) are
// RuleConditions::flowbit_names/flowbit_ids[first, first + count). count > 1 only for the OR
// list of isset/isnotset ("isset,a|b").
struct FlowbitOp {
  FlowbitCmd cmd = FlowbitCmd::kIsset;
  uint16_t first = 0;
  uint16_t count = 0;
};

// dsize, itype and icode use Suricata's unsigned-integer operators (UintMode, patterns/rule.h).
using DsizeMode = UintMode;

// itype / icode: the packet's ICMP type or code compared as Suricata's DetectU8Data.
struct U8Test {
  bool set = false;
  UintMode mode = UintMode::kEq;
  uint8_t lo = 0, hi = 0;
  bool Holds(uint8_t v) const { return UintHolds<uint32_t>(mode, lo, hi, v); }
};

// flags (tcp.flags): Suricata's DetectFlagsData. The packet's TCP flags, masked by `ignore`
// (bits to keep: 0xff without a mask), compared with `flags` as the modifier says.
struct TcpFlagsTest {
  enum class Modifier : uint8_t { kExact, kNot, kPlus, kAny };
  bool set = false;
  Modifier modifier = Modifier::kExact;
  uint8_t flags = 0;
  uint8_t keep = 0xff;  // ~ the ignore mask
  bool Holds(uint8_t packet_flags) const;
};

enum class ThresholdType : uint8_t { kNone, kLimit, kThreshold, kBoth, kDetectionFilter };
enum class ThresholdTrack : uint8_t { kBySrc, kByDst, kByRule, kByBoth };

// Everything the five keywords of one rule ask for. Default: no conditions. Plain value type.
struct RuleConditions {
  // flow. flow_dirs: DirMask bits named by flow options (0: none, i.e. both directions).
  // flow_tests: the non-direction-only flow options (Suricata allows one, plus repeated
  // no_stream-only ones); all must match. flow_locked: Suricata's SIG_FLAG_INIT_FLOW.
  bool has_flow = false;
  bool flow_locked = false;
  uint8_t flow_dirs = 0;
  std::vector<FlowTest> flow_tests;

  // dsize: the packet's payload length compared with dsize_lo (and dsize_hi for kRange).
  bool has_dsize = false;
  DsizeMode dsize_mode = DsizeMode::kEq;
  uint16_t dsize_lo = 0, dsize_hi = 0;

  // Packet header tests (Suricata's SIG_FLAG_REQUIRE_PACKET keywords): flags holds on TCP
  // packets only, itype/icode on ICMPv4/ICMPv6 packets only.
  TcpFlagsTest tcp_flags;
  U8Test itype, icode;

  // flowbits, in the order written. flowbit_ids is parallel to flowbit_names and holds
  // kNoFlowbitId until FinalizeConditions assigns the set's ids.
  std::vector<FlowbitOp> flowbit_ops;
  std::vector<std::string> flowbit_names;
  std::vector<uint16_t> flowbit_ids;
  bool noalert = false;  // flowbits:noalert: the rule still matches (and sets bits), never alerts

  // threshold / detection_filter (at most one of them per rule).
  ThresholdType threshold_type = ThresholdType::kNone;
  ThresholdTrack threshold_track = ThresholdTrack::kBySrc;
  uint32_t threshold_count = 0;
  uint32_t threshold_seconds = 0;

  // Set when an option is valid Suricata syntax that the sensor does not evaluate yet
  // ("flow:only_stream", "flow:only_frag", "flowbits:&"): the caller skips the rule with this
  // keyword and the message ParseConditionOption returned in *error.
  std::string unsupported;

  bool empty() const {
    return !has_flow && !has_dsize && !HasPacketTests() && flowbit_ops.empty() && !noalert &&
           threshold_type == ThresholdType::kNone;
  }
  bool HasPacketTests() const { return tcp_flags.set || itype.set || icode.set; }
  // Suricata inspects such a rule on packets only, never on the reassembled stream: dsize,
  // flags, itype, icode (SIG_FLAG_REQUIRE_PACKET) and flow:no_stream.
  bool RequiresPacket() const;
  bool HasFlowbitReads() const;   // isset / isnotset
  bool HasFlowbitWrites() const;  // set / unset / toggle
};

// Parses one option (keyword: flow, flowbits, dsize, threshold, detection_filter, flags (or
// tcp.flags), itype, icode; value: the
// text after ':' with outer blanks trimmed, "" when there was none) into *c, which accumulates
// every condition option of one rule (so "two dsize options" is detected).
//   false: the value is invalid (where Suricata 7 refuses the rule too, or where Suricata would
//          load a rule that silently never does what it says: docs/rules-conditions.md);
//          *error says why, naming the keyword. *c may be partly updated: drop the rule.
//   true with c->unsupported set: valid but not evaluated by the sensor; *error is the warning.
//   true otherwise: *error is left alone.
bool ParseConditionOption(std::string_view keyword, std::string_view value, RuleConditions* c,
                          std::string* error);

// True for the keywords above (lower case).
bool IsConditionKeyword(std::string_view keyword);

// Directions the rule can match, from its flow options (kBoth without any).
DirMask DirectionsOf(const RuleConditions& c);

// Whether Suricata could still treat the rule as "IP-only" as far as these keywords are
// concerned (SignatureIsIPOnly): no flow option, no dsize, no flags/itype/icode, and flowbits
// only "set". Suricata
// evaluates IP-only rules (no content, no app-layer) on the first packet of each flow direction
// only, not on every packet; the scanner must do the same to match Suricata's alerts.
bool AllowsIpOnly(const RuleConditions& c);

// Suricata's SigParseGetMaxDsize: the largest payload length the dsize allows as the depth
// bound for contents (kEq/kNe/kLt: lo, kRange: hi), or -1 when there is no such bound (no dsize,
// kGt, kGte; Suricata has no case for kLte and returns -1 too). Suricata refuses a rule whose
// contents need more bytes than that ("signature can't match as required content length N
// exceeds dsize value M") and applies it as depth to every content.
int DsizeMaxRightEdge(const RuleConditions& c);

// Flowbit names of a compiled set and their ids. Ids stay stable across reloads for names in
// both sets, so bits set on flows that outlive a reload keep their meaning; an id whose name
// left the set is not given to a new name until the reload after (flows that lived across two
// reloads may still carry it: documented).
struct ConditionsCatalog {
  // id -> name; "" marks an id no rule uses now.
  std::vector<std::string> flowbit_names;
  // Ids of names dropped by the reload that made this catalog: not reusable yet.
  std::vector<uint16_t> retired;

  // kNoFlowbitId when no rule uses the name.
  uint16_t FindFlowbit(std::string_view name) const;
  size_t flowbit_count() const;  // names in use
};

// One rule as FinalizeConditions sees it: its parsed conditions (flowbit ids are written into
// them) and the rule itself (sid, severity as Suricata's priority, location for messages).
struct ConditionsRef {
  const Rule* rule = nullptr;
  RuleConditions* conditions = nullptr;
};

struct FinalizedConditions {
  ConditionsCatalog catalog;
  // One per input rule. Sorting the rules by ascending key (stable) gives Suricata's evaluation
  // order: rules that only set/unset/toggle flowbits, then those that set and test, then those
  // that only test, then the rest; within each, lower priority value first, then lower sid.
  // Evaluating (and reporting) in this order lets a rule that sets a flowbit make an isset rule
  // match on the same packet, and puts alerts of one packet in Suricata's order.
  std::vector<uint64_t> order_keys;
  // "flowbit 'x' is checked but never set" (Suricata's warning), per name.
  std::vector<Diagnostic> warnings;
};

// After all rules are parsed. previous: the catalog of the running set (nullptr at start-up).
// Fails only when a set uses more than 65534 distinct flowbit names.
Expected<FinalizedConditions> FinalizeConditions(std::span<const ConditionsRef> rules,
                                                 const ConditionsCatalog* previous);

// The order key FinalizeConditions gives a rule (priority: Rule::severity).
uint64_t EvaluationOrderKey(const RuleConditions& c, uint32_t priority, uint32_t sid);

}  // namespace fs::patterns
