// A compiled, immutable pattern set: the accepted rules in evaluation order, one Hyperscan
// block-mode database per packet direction (to-server, to-client) over their contents and pcres,
// the confirmation programs of the rules Hyperscan cannot decide exactly, and the per-rule data
// the scanner needs at match time. Built by the control plane with Compile() off the packet
// path, then shared read-only by every worker (std::shared_ptr<const PatternSet>); workers never
// copy the shared_ptr on the packet path, they hold a plain pointer to the set they adopted.
//
// Per rule (see payload_plan.h and docs/rules.md "How it runs"): in the packet databases a rule
// with several contents/pcres is pre-filtered by its fast pattern (one literal) and confirmed by
// the scanner with Suricata's content inspection and PCRE2 (CompileOptions). Otherwise, and in
// the stream databases: a chain of contents linked by distance/within is one regex; independent
// chains and exact pcres are ANDed (block mode: the scanner counts a rule's reported
// expressions; stream mode: a Hyperscan logical combination); negated contents are "veto"
// expressions the scanner checks at the end of the scan (Hyperscan's NOT is evaluated at each
// match offset, not over the whole buffer, so it cannot express Suricata's negation); whatever
// Hyperscan cannot decide exactly is confirmed in software.
#pragma once

#include <hs/hs.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "patterns/buffers.h"
#include "patterns/expected.h"
#include "patterns/indicators.h"
#include "patterns/payload_plan.h"
#include "patterns/pcre.h"
#include "patterns/range_set.h"
#include "patterns/rule.h"

#if FS_HAVE_CONDITIONS
#include "patterns/conditions.h"
#endif

namespace fs::patterns {

struct HsDatabaseDeleter {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
using HsDatabasePtr = std::unique_ptr<hs_database_t, HsDatabaseDeleter>;

struct Pcre2MatchContextDeleter {
  void operator()(pcre2_match_context* c) const { pcre2_match_context_free(c); }
};

// IP protocol numbers the header check needs.
inline constexpr uint8_t kIpProtoIcmp = 1, kIpProtoTcp = 6, kIpProtoUdp = 17, kIpProtoIcmpv6 = 58;

// What the header check sees of a packet: computed once per packet by the scanner.
struct PacketHeader {
  uint8_t ip_version = 0;  // 0: not IP
  uint8_t proto = 0;
  bool has_ports = false;  // TCP/UDP with a decoded transport header
  U128 src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
};

// A rule's header conditions, precompiled. Sets flagged *_any_ are not consulted.
struct RuleHeader {
  Protocol protocol = Protocol::kIp;
  bool bidirectional = false;
  bool src_any = true, dst_any = true, sport_any = true, dport_any = true;
  IpSet src, dst;
  PortSet sport, dport;

  bool Matches(const PacketHeader& p) const {
    if (!ProtocolMatches(p)) return false;
    if (Side(p.src, p.sport, p.dst, p.dport, p.has_ports)) return true;
    return bidirectional && Side(p.dst, p.dport, p.src, p.sport, p.has_ports);
  }

 private:
  bool ProtocolMatches(const PacketHeader& p) const {
    if (p.ip_version == 0) return false;
    switch (protocol) {
      case Protocol::kIp:
        return true;
      case Protocol::kTcp:
        return p.proto == kIpProtoTcp;
      case Protocol::kUdp:
        return p.proto == kIpProtoUdp;
      case Protocol::kIcmp:
        return p.proto == kIpProtoIcmp || p.proto == kIpProtoIcmpv6;
      case Protocol::kIcmpv4:
        return p.proto == kIpProtoIcmp;
      case Protocol::kIcmpv6:
        return p.proto == kIpProtoIcmpv6;
    }
    return false;
  }
  // Rule source side = (a, ap), destination side = (b, bp). A port condition other than "any"
  // never matches a packet without ports (ICMP, fragments, other protocols). Ports first: their
  // sets are short, address sets ($HOME_NET, lists) cost a search over 128-bit ranges.
  bool Side(U128 a, uint16_t ap, U128 b, uint16_t bp, bool has_ports) const {
    if (!sport_any && (!has_ports || !sport.Contains(ap))) return false;
    if (!dport_any && (!has_ports || !dport.Contains(bp))) return false;
    if (!src_any && !src.Contains(a)) return false;
    if (!dst_any && !dst.Contains(b)) return false;
    return true;
  }
};

// Which IP-only rules of a direction can match a packet's addresses, in one lookup per side
// instead of a header check per rule (ET Open has ~1,200 IP-only rules: address lists, checked on
// the first packet of every flow direction). The address space is cut into the intervals the
// rules' source (destination) sets start and end at; each interval names the set of rules (as a
// bitset over the rules' positions in `rules`, deduplicated) whose source (destination) set
// contains it. Built by the control plane with the set, then read-only.
class IpOnlyIndex {
 public:
  IpOnlyIndex() = default;
  // rules: rule indices, ascending (a Database's ip_only); headers: the set's, by rule index.
  static IpOnlyIndex Build(const std::vector<uint32_t>& rules,
                           const std::vector<RuleHeader>& headers);

  // Writes to out, ascending, the rules of `rules` whose address conditions hold for a packet
  // from src to dst (either way round for bidirectional rules); returns how many. out must hold
  // rules.size() entries. The caller still checks each candidate's whole header (protocol,
  // ports). Hot path: two binary searches and a pass over the bitsets; no allocation.
  uint32_t Candidates(U128 src, U128 dst, uint32_t* out) const;
  size_t size() const { return rules_.size(); }

 private:
  struct Side {
    std::vector<U128> starts;      // interval i is [starts[i], starts[i + 1]); starts[0] == 0
    std::vector<uint32_t> set_of;  // interval i -> its bitset (index into sets_)
    const uint64_t* SetFor(U128 a, const std::vector<uint64_t>& sets, uint32_t words) const;
  };
  static Side BuildSide(const std::vector<uint32_t>& rules, const std::vector<RuleHeader>& headers,
                        bool source, uint32_t words, std::vector<uint64_t>* sets);

  std::vector<uint32_t> rules_;
  uint32_t words_ = 0;
  Side src_, dst_;
  std::vector<uint64_t> sets_;   // words_ per bitset
  std::vector<uint64_t> bidir_;  // words_: the bidirectional rules
};

// The two scan databases. A packet scans the one of its direction in its flow.
enum class ScanDir : uint8_t { kToServer = 0, kToClient = 1 };
inline constexpr int kScanDirs = 2;

// The protocol classes of the packet databases (Suricata keeps signature groups per protocol):
// a TCP payload scans the rules that can match TCP (tcp and ip rules), any other payload the
// others (udp, icmp and ip rules). Class 0 is TCP, 1 the rest.
inline constexpr int kProtoClasses = 2;
inline int ProtoClassOf(uint8_t ip_proto) { return ip_proto == kIpProtoTcp ? 0 : 1; }

// The address classes of the packet and stream databases: 1 for a packet between two hosts of
// the set's home set (PatternSet::home(): the address set its payload rules name most, $HOME_NET
// with ET Open and the district pack, its complement such as $EXTERNAL_NET counted with it), 0
// for any other. A rule whose header cannot match two home hosts ("$EXTERNAL_NET any ->
// $HOME_NET any": most of ET Open's) is left out of class 1's databases, so its literals cost
// the internal traffic (file shares, directory, backups) nothing. The TCP packet databases, the
// outside and the stream databases are split (not those of UDP and other payloads, which are
// short: each database compiled costs time). When both classes have the same rules they share
// one database.
inline constexpr int kAddrClasses = 2;

// How the scanner treats one rule (besides its header and conditions).
struct RulePlan {
  PayloadMode mode = PayloadMode::kNone;
  bool dirs[kScanDirs] = {true, true};  // in which direction databases the rule is
  // A rule without contents that Suricata treats as "IP-only": evaluated on the first packet of
  // each direction of a flow only (Suricata's FLOW_TOSERVER/TOCLIENT_IPONLY_SET).
  bool ip_only = false;
  bool pass = false;
  bool has_conditions = false;  // runtime conditions to check after the payload matched
  // In the stream databases: matched over reassembled TCP streams too (a match may straddle
  // segments). Exact rules with requirements, no vetoes, not pass, no dsize, no flow:no_stream.
  bool stream = false;
  // Inspected through the stream alone on TCP (Suricata's SIG_FLAG_REQUIRE_STREAM without
  // REQUIRE_PACKET): a stream rule of protocol tcp whose contents have no offset or depth (which
  // count from a packet's start in Suricata), with no flowbits, threshold or detection_filter
  // (they count and order per packet). Not in the packet databases: a TCP packet whose payload
  // went into its flow's stream scan is matched against it there only; a TCP payload that did
  // not (a retransmission, a flow without reassembly, past the depth) scans the direction's
  // outside_database() (which has them) in place of database().
  bool stream_only = false;
  uint32_t step_begin = 0, step_count = 0;  // kConfirm: into PatternSet::steps()
  // App-layer rule (Rule::IsAppRule): in no packet or stream database (dirs both false);
  // Scanner::ScanApp evaluates it on the transactions of app_proto, at the side app_side, when
  // every buffer of app_buffers is present, by its programs (one per buffer it inspects).
  bool app = false;
  // App rules: the protocol of the transactions. Packet rules (app false): kNone, or the protocol
  // the flow must speak (Rule::PayloadOnAppProto, "alert http ... content:..." without buffers).
  AppProto app_proto = AppProto::kNone;
  BufferSide app_side = BufferSide::kEither;
  uint64_t app_buffers = 0;
  uint32_t app_begin = 0, app_count = 0;  // into PatternSet::app_programs()
  TlsVersionTest tls_version;             // tls.version: checked on AppInspect::tls_version
};

// One app-layer rule's inspection of one buffer: its confirmation steps over that buffer (with
// dotprefix applied when set) and its length conditions on it.
struct AppProgram {
  Buffer buffer = Buffer::kPayload;
  bool dotprefix = false;
  uint32_t step_begin = 0, step_count = 0;  // into PatternSet::steps()
  uint32_t size_begin = 0, size_count = 0;  // into PatternSet::size_checks()
};

// What compile did, for `flowsentryctl rules check` and logs.
struct CompileStats {
  size_t rules = 0;
  size_t header_only = 0;         // no content/pcre
  size_t ip_only = 0;             // header-only rules evaluated once per flow direction
  size_t exact = 0;               // payload decided by Hyperscan alone
  size_t confirm = 0;             // payload confirmed in software after Hyperscan
  size_t confirm_unfiltered = 0;  // ... with no Hyperscan requirement: every packet with payload
  size_t never = 0;               // can never match; left out of the databases
  size_t pcres = 0, pcre_exact = 0, pcre_prefilter = 0, pcre_software = 0;
  size_t demoted = 0;  // rules whose Hyperscan expression failed to compile: confirm instead
  uint32_t expressions[kScanDirs] = {0, 0};
  // Expressions of each direction's protocol-class databases (PatternSet::packet_database): an
  // ip rule's are in both classes.
  uint32_t class_expressions[kScanDirs][kProtoClasses] = {{0, 0}, {0, 0}};
  // Address classes (kAddrClasses): the home set's ranges (0: no address classes, every class
  // the same), and the expressions of each direction's protocol-class and stream databases by
  // address class (1: home to home, 0: any other).
  size_t home_ranges = 0;
  uint32_t addr_class_expressions[kScanDirs][kProtoClasses][kAddrClasses] = {};
  uint32_t stream_addr_class_expressions[kScanDirs][kAddrClasses] = {};
  size_t addr_class_databases = 0;  // distinct Hyperscan databases the address classes compiled
  size_t stream_rules = 0;        // rules also matched over reassembled TCP streams
  size_t stream_refused = 0;      // eligible rules Hyperscan refused in stream mode (packet-only)
  size_t stream_state_bytes = 0;  // Hyperscan stream state per open stream (larger direction)
  size_t stream_only = 0;  // stream rules left out of the packet databases (RulePlan::stream_only)
  bool shared_database = false;   // both directions have the same rules: one database
  // Packet databases' port groups (PatternSet::Database::groups), and the rules in them.
  size_t port_groups[kScanDirs] = {0, 0};
  size_t port_grouped_rules[kScanDirs] = {0, 0};
  // The same for the stream databases.
  size_t stream_port_groups[kScanDirs] = {0, 0};
  size_t stream_port_grouped_rules[kScanDirs] = {0, 0};
  size_t app_rules = 0;           // rules on app-layer buffers (Scanner::ScanApp)
  size_t app_unfiltered = 0;      // ... without a content to pre-filter them: every transaction
  uint32_t app_expressions = 0;   // pre-filter literals across the buffer databases
  size_t app_by_proto[kAppProtoCount] = {};
  size_t app_raw_payload = 0;  // app rules that also inspect the transaction's raw bytes
  size_t proto_payload = 0;    // packet/stream rules that need the flow's app_proto (alert http)
  double seconds = 0;
};

// How Compile plans rules (defaults are the sensor's; tests switch them to reach each path).
struct CompileOptions {
  // Rules with several contents or pcres: Hyperscan pre-filters them by their fast pattern and
  // the confirmation program decides (Suricata's architecture), instead of Hyperscan deciding
  // them alone with chains and combinations (much slower per scan with thousands of rules). The
  // stream databases always use the exact plans.
  bool fast_pattern_prefilter = true;
  // Packet databases split by the packet's server-side port (Database::groups), so a packet
  // scans the rules that can apply to its port instead of all of them.
  bool port_groups = true;
  // TCP rules Suricata inspects through the stream only (RulePlan::stream_only) are left out of
  // the packet databases, so a TCP payload byte goes through Hyperscan once, in its stream.
  bool stream_only = true;
  // TCP packet, outside and stream databases compiled by address class (kAddrClasses).
  bool addr_classes = true;
};

class PatternSet {
 public:
  // What a Hyperscan report means for one rule: an expression it must not contain matched
  // (veto), or one of the `need` distinct expressions it requires matched; the rule is satisfied
  // once a scan has reported all `need` of them (each is single-match in block mode, so reports
  // of one scan are distinct; stream databases report a rule once with need == 1).
  struct Target {
    uint32_t rule;
    bool veto;
    // Stream databases: a sub-expression of a rule with `need` (> 1) expressions, and its index
    // among them (the scanner tracks which have matched per flow; see BuildDatabase).
    uint8_t bit;
    uint16_t need;
  };

  // One direction's database and what its expression ids mean.
  struct Database {
    // nullptr when no rule of this direction has an expression, and in database(d) itself: its
    // rules are compiled by protocol class (packet_database).
    HsDatabasePtr db;
    std::vector<uint32_t> expr_begin{0};  // expression id -> first index in targets (CSR)
    std::vector<Target> targets;
    // Rules of this direction that no report announces, ascending: header-only rules (except
    // IP-only ones), exact rules with only veto expressions, confirm rules without requirements.
    std::vector<uint32_t> always;
    // IP-only rules of this direction, ascending: only the first packet of each flow direction
    // evaluates them, the candidates ip_only_index gives for its addresses.
    std::vector<uint32_t> ip_only;
    IpOnlyIndex ip_only_index;
    uint32_t expressions = 0;
    size_t bytes = 0;
    size_t stream_state_bytes = 0;  // stream databases: hs_stream_size, per open stream
    // Port groups (Suricata's port-based signature groups; packet and stream databases). A rule
    // whose header confines the packet's server-side port (to-server: destination, to-client:
    // source) to a few ports is in the database (or `always` list) of those ports' group instead
    // of this one; a TCP/UDP packet scans this database and then its port's group, if any, and
    // evaluates the group's `always` list instead of this one's (a group's list holds this
    // one's too). group_of: kPortKeys entries (PortKey), 0 for a port without a group, else the
    // group's index + 1.
    std::vector<Database> groups;
    std::vector<uint16_t> group_of;

    std::span<const Target> TargetsOf(uint32_t id) const {
      return {targets.data() + expr_begin[id], targets.data() + expr_begin[id + 1]};
    }
    // The packet's server-side port, the key of the groups: to-server (dir 0) the destination
    // port, to-client the source port.
    static uint16_t ServerPort(int dir, uint16_t sport, uint16_t dport) {
      return dir == 0 ? dport : sport;
    }
    // The group a packet of protocol proto with server-side port `port` scans, or nullptr.
    const Database* GroupFor(uint8_t proto, uint16_t port) const {
      if (group_of.empty() || (proto != kIpProtoTcp && proto != kIpProtoUdp)) return nullptr;
      const uint16_t g = group_of[PortKey(proto, port)];
      return g == 0 ? nullptr : &groups[g - 1];
    }
    static constexpr uint32_t kPortKeys = 2u << 16;
    static uint32_t PortKey(uint8_t proto, uint16_t port) {
      return (proto == kIpProtoUdp ? 1u << 16 : 0u) | port;
    }
  };

  // Compiles the rules (normally a ParseResult's accepted rules). The rules are reordered into
  // Suricata's evaluation order (pass before alert; flowbits setters before testers; then
  // priority, then sid): rules() and every rule index follow that order. Zero rules is a valid,
  // empty set. Errors name the rule's FILE:LINE and sid. generation is the caller's reload
  // counter (EVE/metrics); previous is the running set (keeps flowbit ids stable), or nullptr.
  // indicators: the loaded indicator lists that belong to this generation (kept as given: bit i
  // of an IP match is indicators()[i]); they are part of the content hash.
  static Expected<std::shared_ptr<const PatternSet>> Compile(
      std::vector<Rule> rules, uint64_t generation, const PatternSet* previous = nullptr,
      std::vector<IndicatorList> indicators = {}, const CompileOptions& options = {});

  PatternSet(const PatternSet&) = delete;
  PatternSet& operator=(const PatternSet&) = delete;

  const std::vector<Rule>& rules() const { return rules_; }
  size_t size() const { return rules_.size(); }
  // A direction's packet rules: its lists (`always`, IP-only), its port groups (each compiled)
  // and the expressions of the rules no group took (expressions, targets), which are compiled
  // by protocol class instead: packet_database().
  const Database& database(ScanDir d) const { return *dbs_[static_cast<int>(d)]; }
  // Whether a packet without payload can match a rule of direction d: some rule of database(d)
  // or of one of its port groups is on an `always` or `ip_only` list. If not, evaluating such a
  // packet is a no-op (Scanner::ScanPacket skips it).
  bool evaluates_without_payload(ScanDir d) const { return without_payload_[static_cast<int>(d)]; }
  // The Hyperscan database a payload of IP protocol ip_proto scans in direction d before its
  // port's group (a TCP payload outside every stream: outside_database(d) instead): the rules of
  // database(d) itself that can match the protocol (ProtoClassOf). Only its db and targets are
  // meant. A UDP rule's literals then cost TCP payloads nothing, and a TCP rule's UDP ones.
  // addr_class: AddrClassOf(the payload's source, destination); the class's database holds the
  // rules whose addresses can match it.
  const Database& packet_database(ScanDir d, uint8_t ip_proto, int addr_class) const {
    return class_database(d, ProtoClassOf(ip_proto), addr_class);
  }
  // The same by class index (0 .. kProtoClasses - 1), to visit each of them.
  const Database& class_database(ScanDir d, int cls, int addr_class) const {
    return *class_dbs_[static_cast<int>(d)][cls][addr_class];
  }
  // The address class (0 .. kAddrClasses - 1) of a packet from src to dst: 1 when both are in
  // home(), else 0 (always 0 when the set has no home set).
  int AddrClassOf(U128 src, U128 dst) const {
    return !home_.empty() && home_.Contains(src) && home_.Contains(dst) ? 1 : 0;
  }
  const IpSet& home() const { return home_; }
  // Stream-mode rules of a direction (plan().stream): the port groups of the flow's server port
  // (`groups`, GroupFor) and the targets; its own rules (those no group took) are compiled by
  // address class instead (stream_class_database; db here is nullptr). A flow's stream in
  // direction d scans stream_class_database(d, the direction's address class) and its port's
  // group. Targets of stream databases are never vetoes.
  const Database& stream_database(ScanDir d) const { return *stream_dbs_[static_cast<int>(d)]; }
  // The rules of stream_database(d) itself whose addresses can match addr_class (db may be
  // nullptr); only its db, targets and stream_state_bytes are meant.
  const Database& stream_class_database(ScanDir d, int addr_class) const {
    return *stream_class_dbs_[static_cast<int>(d)][addr_class];
  }
  // Block-mode database of a direction for a TCP payload that went into no stream: the `tcp`
  // and `ip` rules of database(d) itself (not those of its port groups; a UDP or ICMP rule's
  // literal would cost every byte scanned here and report in vain) and the stream-only rules
  // (RulePlan::stream_only) with their packet plans. Such a payload scans it instead of
  // packet_database(d, TCP), then its port's group (db is nullptr without stream-only rules:
  // packet_database(d, TCP) then). Only its db and targets are meant (the `always` and IP-only lists are database(d)'s).
  // The stream-only rules are not port-grouped here: each database Hyperscan compiles costs tens
  // of milliseconds whatever its size (ET Open, 48 groups a direction: 9.6 s grouped, 7.1-7.6 s
  // not, before compiling on two cores).
  // By address class as the packet databases.
  const Database& outside_database(ScanDir d, int addr_class) const {
    return *outside_dbs_[static_cast<int>(d)][addr_class];
  }
  const RulePlan& plan(uint32_t rule_index) const { return plans_[rule_index]; }
  const RuleHeader& header(uint32_t rule_index) const { return headers_[rule_index]; }
  // App layer: the pre-filter database of a buffer (literals; targets need 1; db may be nullptr),
  // the buffers that have one, those scanned with a '.' in front (a rule applies dotprefix to
  // them), the rules of a protocol no literal announces, and each rule's programs.
  const Database& app_database(Buffer b) const { return *app_dbs_[static_cast<int>(b)]; }
  uint64_t app_scan_mask() const { return app_scan_mask_; }
  uint64_t app_dot_scan() const { return app_dot_scan_; }
  const std::vector<uint32_t>& app_always(AppProto p) const {
    return app_always_[static_cast<int>(p)];
  }
  std::span<const AppProgram> app_programs(uint32_t rule_index) const {
    const RulePlan& p = plans_[rule_index];
    return {app_programs_.data() + p.app_begin, p.app_count};
  }
  std::span<const SizeCheck> size_checks(const AppProgram& prog) const {
    return {size_checks_.data() + prog.size_begin, prog.size_count};
  }
  std::span<const MatchStep> steps(const AppProgram& prog) const {
    return {steps_.data() + prog.step_begin, prog.step_count};
  }
  std::span<const MatchStep> steps(uint32_t rule_index) const {
    const RulePlan& p = plans_[rule_index];
    return {steps_.data() + p.step_begin, p.step_count};
  }
  const uint8_t* step_bytes() const { return reinterpret_cast<const uint8_t*>(bytes_.data()); }
  const pcre2_code* pcre(uint32_t index) const { return pcres_[index].get(); }
  // Suricata's match limits; shared read-only by the workers.
  pcre2_match_context* match_context() const { return match_context_.get(); }
  // Hyperscan expressions across both databases (a shared database counts once).
  uint32_t expression_count() const;
  const CompileStats& stats() const { return stats_; }
  // Compile-time warnings (e.g. a flowbit that is checked but never set).
  const std::vector<Diagnostic>& warnings() const { return warnings_; }
#if FS_HAVE_CONDITIONS
  const ConditionsCatalog& conditions_catalog() const { return catalog_; }
#endif

  uint64_t generation() const { return generation_; }
  // 16 hex digits: FNV-1a 64 over the canonical rule texts and their resolved headers, so the
  // same rules with the same variables give the same hash (reload "no change" detection).
  // Indicator lists are folded in when there are any (rules alone keep their hash).
  const std::string& content_hash() const { return content_hash_; }
  // The indicator lists of this generation, and a digest of their configs and entries alone
  // (equal digests: the IP matcher built for one serves the other; 0 without lists).
  const std::vector<IndicatorList>& indicators() const { return indicators_; }
  uint64_t indicators_digest() const { return indicators_digest_; }
  size_t database_bytes() const;

  // App-layer rules whose transactions are of protocol p (Scanner::ScanApp evaluates them): the
  // worker skips building the buffers of a protocol no rule inspects.
  size_t app_rule_count(AppProto p) const { return app_rule_count_[static_cast<int>(p)]; }
  // Whether some app-layer rule of protocol p inspects the raw payload beside its buffers: the
  // worker then keeps the transaction's raw bytes (app::RawWindow) for Buffer::kPayload.
  bool app_raw_payload(AppProto p) const { return (app_raw_protos_ >> static_cast<int>(p)) & 1; }

 private:
  PatternSet() = default;
  std::string CompileApp();

  std::vector<Rule> rules_;
  std::vector<RulePlan> plans_;
  std::vector<RuleHeader> headers_;
  std::array<std::shared_ptr<const Database>, kScanDirs> dbs_;
  bool without_payload_[kScanDirs] = {true, true};  // evaluates_without_payload
  std::array<std::shared_ptr<const Database>, kScanDirs> stream_dbs_;
  // Per direction and address class (classes with the same rules share a database).
  using AddrDbs = std::array<std::shared_ptr<const Database>, kAddrClasses>;
  std::array<AddrDbs, kScanDirs> stream_class_dbs_;
  std::array<AddrDbs, kScanDirs> outside_dbs_;
  std::array<std::array<AddrDbs, kProtoClasses>, kScanDirs> class_dbs_;
  IpSet home_;
  std::vector<MatchStep> steps_;
  std::string bytes_;
  std::vector<Pcre2CodePtr> pcres_;
  std::unique_ptr<pcre2_match_context, Pcre2MatchContextDeleter> match_context_;
  CompileStats stats_;
  std::vector<Diagnostic> warnings_;
#if FS_HAVE_CONDITIONS
  ConditionsCatalog catalog_;
#endif
  uint64_t generation_ = 0;
  std::string content_hash_;
  std::vector<IndicatorList> indicators_;
  uint64_t indicators_digest_ = 0;
  std::array<size_t, kAppProtoCount> app_rule_count_{};
  std::array<std::shared_ptr<const Database>, kBufferCount> app_dbs_;
  std::array<std::vector<uint32_t>, kAppProtoCount> app_always_;
  std::vector<AppProgram> app_programs_;
  std::vector<SizeCheck> size_checks_;
  uint64_t app_scan_mask_ = 0;
  uint64_t app_dot_scan_ = 0;
  uint32_t app_raw_protos_ = 0;  // bit per AppProto: app_raw_payload()
};

// Canonical one-line form of a rule (normalised blanks, options as name:value;), the input of
// the content hash. Also useful to show a rule back to an operator.
std::string CanonicalRuleText(const Rule& rule);

}  // namespace fs::patterns
