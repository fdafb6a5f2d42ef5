// Runtime rule conditions: parsing (patterns/conditions.h) and per-packet evaluation
// (dataplane/scan/rule_state.h). Expected behaviour is Suricata 7.0.10's; the sequences marked
// "Suricata run" were checked against `suricata -r` on equivalent captures.
#include "patterns/conditions.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/decode/packet.h"
#include "dataplane/flow/flow_table.h"
#include "dataplane/scan/rule_state.h"
#include "tools/pcapgen/packet_builder.h"

namespace fs {
namespace {

using patterns::ConditionsCatalog;
using patterns::ConditionsRef;
using patterns::DirMask;
using patterns::FinalizeConditions;
using patterns::ParseConditionOption;
using patterns::Rule;
using patterns::RuleConditions;
using scan::CheckConditions;
using scan::RuleState;

constexpr uint64_t kSec = 1000000;
constexpr uint64_t kT0 = 1700000000ULL * kSec + 500000;  // any packet time

struct Opt {
  std::string_view keyword;
  std::string_view value;
};

// Parses options in order; fails the test on any error.
RuleConditions MustParse(std::initializer_list<Opt> opts) {
  RuleConditions c;
  for (const Opt& o : opts) {
    std::string error;
    EXPECT_TRUE(ParseConditionOption(o.keyword, o.value, &c, &error))
        << o.keyword << ":" << o.value << " -> " << error;
    EXPECT_TRUE(c.unsupported.empty()) << o.keyword << ":" << o.value;
  }
  return c;
}

std::string FlowFlags(uint16_t f) {
  using namespace patterns::flowopt;
  std::string s;
  const std::pair<uint16_t, const char*> names[] = {
      {kToServer, "to_server"},     {kToClient, "to_client"},  {kEstablished, "established"},
      {kNotEstablished, "not_est"}, {kStateless, "stateless"}, {kOnlyStream, "only_stream"},
      {kNoStream, "no_stream"},     {kOnlyFrag, "only_frag"},  {kNoFrag, "no_frag"}};
  for (const auto& [bit, name] : names) {
    if (f & bit) s += (s.empty() ? "" : "+") + std::string(name);
  }
  return s;
}

// A canonical text of everything parsed, for table-driven checks.
std::string Describe(const RuleConditions& c) {
  std::vector<std::string> parts;
  if (c.has_flow) {
    std::string s = "flow(dirs=";
    s += c.flow_dirs == 0 ? "-" : c.flow_dirs == 1 ? "S" : c.flow_dirs == 2 ? "C" : "SC";
    s += " tests=[";
    for (size_t i = 0; i < c.flow_tests.size(); ++i) {
      s += (i ? " " : "") + FlowFlags(c.flow_tests[i].flags) + "/" +
           std::to_string(c.flow_tests[i].match_count);
    }
    parts.push_back(s + "])");
  }
  if (c.has_dsize) {
    const char* modes[] = {"eq", "ne", "lt", "lte", "gt", "gte", "range"};
    std::string s = std::string("dsize(") + modes[static_cast<int>(c.dsize_mode)] + " " +
                    std::to_string(c.dsize_lo);
    if (c.dsize_mode == patterns::DsizeMode::kRange) s += " " + std::to_string(c.dsize_hi);
    parts.push_back(s + ")");
  }
  if (!c.flowbit_ops.empty() || c.noalert) {
    const char* cmds[] = {"isset", "isnotset", "set", "unset", "toggle"};
    std::string s = "fb(";
    for (size_t i = 0; i < c.flowbit_ops.size(); ++i) {
      const patterns::FlowbitOp& op = c.flowbit_ops[i];
      s += (i ? "; " : "") + std::string(cmds[static_cast<int>(op.cmd)]) + " ";
      for (uint16_t j = op.first; j < op.first + op.count; ++j) {
        s += (j != op.first ? "|" : "") + c.flowbit_names[j];
      }
    }
    if (c.noalert) s += c.flowbit_ops.empty() ? "noalert" : "; noalert";
    parts.push_back(s + ")");
  }
  if (c.threshold_type != patterns::ThresholdType::kNone) {
    const char* types[] = {"none", "limit", "threshold", "both", "df"};
    const char* tracks[] = {"by_src", "by_dst", "by_rule", "by_both"};
    parts.push_back(std::string("thr(") + types[static_cast<int>(c.threshold_type)] + " " +
                    tracks[static_cast<int>(c.threshold_track)] + " " +
                    std::to_string(c.threshold_count) + " " + std::to_string(c.threshold_seconds) +
                    ")");
  }
  if (!c.unsupported.empty()) parts.push_back("unsupported=" + c.unsupported);
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parsing

struct ValidCase {
  std::string_view keyword, value, expect;
};

TEST(ConditionsParseTest, ValidForms) {
  const ValidCase cases[] = {
      // dsize: Suricata 7's integer grammar, 16 bits
      {"dsize", "5", "dsize(eq 5)"},
      {"dsize", "=5", "dsize(eq 5)"},
      {"dsize", " 5 ", "dsize(eq 5)"},
      {"dsize", "0", "dsize(eq 0)"},
      {"dsize", "65535", "dsize(eq 65535)"},
      {"dsize", "<5", "dsize(lt 5)"},
      {"dsize", "<=5", "dsize(lte 5)"},
      {"dsize", ">5", "dsize(gt 5)"},
      {"dsize", "> 5", "dsize(gt 5)"},
      {"dsize", ">65534", "dsize(gt 65534)"},
      {"dsize", ">=1", "dsize(gte 1)"},
      {"dsize", "!5", "dsize(ne 5)"},
      {"dsize", "!=5", "dsize(ne 5)"},
      {"dsize", "5<>10", "dsize(range 5 10)"},
      {"dsize", "5 <> 10", "dsize(range 5 10)"},
      {"dsize", "5-10", "dsize(range 5 10)"},
      {"dsize", "5<>7", "dsize(range 5 7)"},
      {"dsize", "1kb", "dsize(eq 1024)"},
      {"dsize", "63KB", "dsize(eq 64512)"},
      {"dsize", "0kb", "dsize(eq 0)"},
      // flow
      {"flow", "to_server", "flow(dirs=S tests=[])"},
      {"flow", "TO_SERVER", "flow(dirs=S tests=[])"},
      {"flow", "from_client", "flow(dirs=S tests=[])"},
      {"flow", "to_client", "flow(dirs=C tests=[])"},
      {"flow", "from_server", "flow(dirs=C tests=[])"},
      {"flow", "established", "flow(dirs=- tests=[established/1])"},
      {"flow", "to_server,established", "flow(dirs=S tests=[to_server+established/2])"},
      {"flow", "to_server ,  established", "flow(dirs=S tests=[to_server+established/2])"},
      {"flow", "to_client,not_established", "flow(dirs=C tests=[to_client+not_est/2])"},
      {"flow", "stateless", "flow(dirs=- tests=[stateless/1])"},
      {"flow", "not_established,stateless", "flow(dirs=- tests=[not_est+stateless/2])"},
      {"flow", "to_server,established,no_stream",
       "flow(dirs=S tests=[to_server+established+no_stream/3])"},
      {"flow", "no_stream", "flow(dirs=- tests=[no_stream/1])"},
      {"flow", "established,no_frag", "flow(dirs=- tests=[established+no_frag/2])"},
      // flowbits
      {"flowbits", "set,a", "fb(set a)"},
      {"flowbits", "  toggle,   x  ", "fb(toggle x)"},
      {"flowbits", "unset,ET.foo", "fb(unset ET.foo)"},
      {"flowbits", "isnotset,x", "fb(isnotset x)"},
      {"flowbits", "isset,a|b", "fb(isset a|b)"},
      {"flowbits", "isset,a| b", "fb(isset a|b)"},
      {"flowbits", "isnotset,a||b|", "fb(isnotset a|b)"},
      {"flowbits", "set,a,b", "fb(set a,b)"},  // Suricata: one name "a,b"
      {"flowbits", "noalert", "fb(noalert)"},
      // threshold / detection_filter
      {"threshold", "type limit, track by_src, count 1, seconds 60", "thr(limit by_src 1 60)"},
      {"threshold", "type limit,track by_src,count 1,seconds 60", "thr(limit by_src 1 60)"},
      {"threshold", "track by_dst, type both, seconds 10, count 3", "thr(both by_dst 3 10)"},
      {"threshold", "type threshold, track by_rule, count 5, seconds 1",
       "thr(threshold by_rule 5 1)"},
      {"threshold", "type limit, track by_both, count 1, seconds 60", "thr(limit by_both 1 60)"},
      {"threshold", "type limit, track by_src, count 0, seconds 0", "thr(limit by_src 0 0)"},
      {"threshold", "type both, track by_src, count 4294967295, seconds 4294967295",
       "thr(both by_src 4294967295 4294967295)"},
      {"detection_filter", "track by_src, count 5, seconds 60", "thr(df by_src 5 60)"},
      {"detection_filter", "count 5, seconds 60, track by_dst", "thr(df by_dst 5 60)"},
  };
  for (const ValidCase& tc : cases) {
    RuleConditions c;
    std::string error;
    EXPECT_TRUE(ParseConditionOption(tc.keyword, tc.value, &c, &error))
        << tc.keyword << ":" << tc.value << " -> " << error;
    EXPECT_EQ(Describe(c), tc.expect) << tc.keyword << ":" << tc.value;
    EXPECT_TRUE(error.empty()) << tc.keyword << ":" << tc.value;
  }
}

struct InvalidCase {
  std::string_view keyword, value;
  std::string error;  // "" for dsize: the standard dsize message
};

constexpr std::string_view kDsizeHelp =
    " (expected N, <N, <=N, >N, >=N, !N or N<>M with M > N + 1, each within 0-65535; a bound "
    "that can never match is refused)";
constexpr std::string_view kThresholdUsage =
    "\"type limit|threshold|both, track by_src|by_dst|by_rule|by_both, count N, seconds N\"";

TEST(ConditionsParseTest, InvalidFormsNameTheProblem) {
  // Every value here is refused by Suricata 7.0.10 too (suricata -T), except those marked.
  const std::string dsize_err = "dsize: cannot parse \"";
  const InvalidCase cases[] = {
      {"dsize", "<0", ""},
      {"dsize", ">=0", ""},
      {"dsize", ">65535", ""},
      {"dsize", "<=65535", ""},
      {"dsize", "65536", ""},
      {"dsize", "5<>6", ""},
      {"dsize", "10<>5", ""},
      {"dsize", "64kb", ""},
      {"dsize", "abc", ""},
      {"dsize", "5x", ""},
      {"dsize", "<1kb", ""},
      {"dsize", "+5", ""},
      {"dsize", "-5", ""},
      {"dsize", "5<>", ""},
      {"dsize", "", ""},
      {"flow", "", "flow: needs a value, e.g. flow:to_server,established"},
      {"flow", "to_server,to_client", "flow: to_client cannot be combined with to_server"},
      {"flow", "to_server,from_server", "flow: to_client cannot be combined with to_server"},
      {"flow", "established,not_established",
       "flow: not_established cannot be combined with established"},
      {"flow", "established,stateless", "flow: stateless cannot be combined with established"},
      {"flow", "stateless,established", "flow: established cannot be combined with stateless"},
      {"flow", "no_stream,only_stream", "flow: only_stream cannot be combined with no_stream"},
      {"flow", "no_frag,only_frag", "flow: only_frag cannot be combined with no_frag"},
      {"flow", "to_server,from_client", "flow: option to_server given twice"},
      {"flow", "to_server,established,no_stream,no_frag",
       "flow: \"to_server,established,no_stream,no_frag\": at most three options may be "
       "combined"},
      {"flow", "to_server,",
       "flow: cannot parse \"to_server,\": expected one to three options separated by commas"},
      {"flow", "to_server to_client",
       "flow: cannot parse \"to_server to_client\": expected one to three options separated by "
       "commas"},
      {"flow", "foo",
       "flow: invalid option \"foo\" (valid: to_server, from_client, to_client, from_server, "
       "established, not_established, stateless, only_stream, no_stream, only_frag, no_frag)"},
      {"flowbits", "SET,a",
       "flowbits: \"SET,a\" is not a valid setting (expected ACTION,NAME with a lower-case action "
       "set, unset, toggle, isset or isnotset, or noalert)"},
      {"flowbits", "set", "flowbits: set needs a flowbit name (flowbits:set,NAME)"},
      {"flowbits", "isset,", "flowbits: isset needs a flowbit name (flowbits:isset,NAME)"},
      {"flowbits", "set ,a", "flowbits: \"set ,a\": expected a ',' after \"set\""},
      {"flowbits", "noalert,a", "flowbits: noalert takes no name"},
      {"flowbits", "foo,a",
       "flowbits: action \"foo\" is not supported (expected set, unset, toggle, isset, isnotset "
       "or noalert)"},
      {"flowbits", "isset,a b", "flowbits: spaces are not allowed in flowbit names (\"a b\")"},
      {"flowbits", "isset,a|b c", "flowbits: spaces are not allowed in flowbit names (\"b c\")"},
      {"flowbits", "isset,|", "flowbits: no valid flowbit name in \"|\""},
      // Suricata accepts these two and then misbehaves (sets flowbit id 0; ignores " x").
      {"flowbits", "set,a|b",
       "flowbits: \"set,a|b\": a list of names (a|b) is only valid with isset and isnotset"},
      {"flowbits", "noalert x", "flowbits: \"noalert x\": expected a ',' after \"noalert\""},
      {"threshold", "", "threshold: needs a value: " + std::string(kThresholdUsage)},
      {"threshold", "type limit, track by_either, count 1, seconds 60",
       "threshold: invalid track \"by_either\" (expected by_src, by_dst, by_rule or by_both)"},
      {"threshold", "type limit, track by_src, count 1",
       "threshold: \"seconds\" is missing in \"type limit, track by_src, count 1\" (expected " +
           std::string(kThresholdUsage) + ")"},
      {"threshold", "type limit, track by_src, count 1, seconds 60, count 2",
       "threshold: \"count\" given twice in \"type limit, track by_src, count 1, seconds 60, "
       "count 2\""},
      {"threshold", "type rate, track by_src, count 1, seconds 60",
       "threshold: invalid type \"rate\" (expected limit, threshold or both; rate_filter and "
       "suppress belong in threshold.config)"},
      {"threshold", "type Limit, track by_src, count 1, seconds 60",
       "threshold: invalid type \"Limit\" (expected limit, threshold or both; rate_filter and "
       "suppress belong in threshold.config)"},
      {"threshold", "type limit, track by_src, count by_dst, seconds 60",
       "threshold: count must be a whole number from 0 to 4294967295, got \"by_dst\""},
      {"threshold", "type limit, track by_src, count 4294967296, seconds 60",
       "threshold: count must be a whole number from 0 to 4294967295, got \"4294967296\""},
      {"threshold", "type limit, track by_src, count -1, seconds 60",
       "threshold: count must be a whole number from 0 to 4294967295, got \"-1\""},
      {"threshold", "type limit, track by_src, count 1, seconds",
       "threshold: \"seconds\" needs a value in \"type limit, track by_src, count 1, seconds\""},
      // Suricata accepts these three: the first two never alert, the last ignores ", foo".
      {"threshold", "type 5, track by_src, count 1, seconds 60",
       "threshold: invalid type \"5\" (expected limit, threshold or both; rate_filter and "
       "suppress belong in threshold.config)"},
      {"threshold", "type limit, track 5, count 1, seconds 60",
       "threshold: invalid track \"5\" (expected by_src, by_dst, by_rule or by_both)"},
      {"threshold", "type limit, track by_src, count 1, seconds 60, foo",
       "threshold: unexpected \"foo\" in \"type limit, track by_src, count 1, seconds 60, foo\" "
       "(expected " +
           std::string(kThresholdUsage) + ")"},
      {"detection_filter", "track by_rule, count 5, seconds 60",
       "detection_filter: invalid track \"by_rule\" (expected by_src or by_dst)"},
      {"detection_filter", "track by_src, count 0, seconds 60",
       "detection_filter: count and seconds must be greater than 0"},
      {"detection_filter", "track by_src, count 5, seconds 0",
       "detection_filter: count and seconds must be greater than 0"},
      {"detection_filter", "track by_src, count 5",
       "detection_filter: \"seconds\" is missing in \"track by_src, count 5\" (expected \"track "
       "by_src|by_dst, count N, seconds N\")"},
      {"detection_filter", "type limit, track by_src, count 5, seconds 60",
       "detection_filter: unexpected \"type limit\" in \"type limit, track by_src, count 5, "
       "seconds 60\" (expected \"track by_src|by_dst, count N, seconds N\")"},
      {"content", "abc", "\"content\" is not a runtime condition keyword"},
  };
  for (const InvalidCase& tc : cases) {
    RuleConditions c;
    std::string error;
    EXPECT_FALSE(ParseConditionOption(tc.keyword, tc.value, &c, &error))
        << tc.keyword << ":" << tc.value;
    const std::string want =
        tc.keyword == "dsize" && tc.error.empty()
            ? dsize_err + std::string(tc.value) + "\"" + std::string(kDsizeHelp)
            : tc.error;
    EXPECT_EQ(error, want) << tc.keyword << ":" << tc.value;
  }
}

struct SequenceCase {
  std::vector<Opt> opts;  // all but the last must parse
  std::string error;      // of the last; "" when it parses
  std::string expect;     // Describe() when it parses
};

TEST(ConditionsParseTest, OptionCombinationsWithinOneRule) {
  const SequenceCase cases[] = {
      {{{"flow", "established"}, {"flow", "to_server"}},
       "flow: a rule may have only one flow option (besides direction-only ones such as "
       "flow:to_server)",
       ""},
      // Suricata allows a direction-only flow option before another one, and no_stream ones.
      {{{"flow", "to_server"}, {"flow", "established"}}, "", "flow(dirs=S tests=[established/1])"},
      {{{"flow", "no_stream"}, {"flow", "established"}},
       "",
       "flow(dirs=- tests=[no_stream/1 established/1])"},
      {{{"flow", "to_server"}, {"flow", "to_client,established"}},
       "",
       "flow(dirs=SC tests=[to_client+established/2])"},
      {{{"dsize", "1"}, {"dsize", "2"}}, "dsize: a rule may have only one dsize option", ""},
      {{{"threshold", "type limit, track by_src, count 1, seconds 60"},
        {"detection_filter", "track by_src, count 5, seconds 60"}},
       "detection_filter: \"detection_filter\" and \"threshold\" are not allowed in the same rule",
       ""},
      {{{"detection_filter", "track by_src, count 5, seconds 60"},
        {"threshold", "type limit, track by_src, count 1, seconds 60"}},
       "threshold: \"detection_filter\" and \"threshold\" are not allowed in the same rule",
       ""},
      {{{"threshold", "type limit, track by_src, count 1, seconds 60"},
        {"threshold", "type limit, track by_src, count 1, seconds 60"}},
       "threshold: multiple \"threshold\" options are not allowed in the same rule",
       ""},
      {{{"detection_filter", "track by_src, count 5, seconds 60"},
        {"detection_filter", "track by_src, count 5, seconds 60"}},
       "detection_filter: at most one \"detection_filter\" is allowed per rule",
       ""},
      {{{"flowbits", "noalert"}, {"flowbits", "noalert"}}, "", "fb(noalert)"},
      {{{"flowbits", "isset,a"}, {"flowbits", "isset,b"}, {"flowbits", "set,c"}},
       "",
       "fb(isset a; isset b; set c)"},
  };
  for (const SequenceCase& tc : cases) {
    RuleConditions c;
    std::string error;
    for (size_t i = 0; i + 1 < tc.opts.size(); ++i) {
      ASSERT_TRUE(ParseConditionOption(tc.opts[i].keyword, tc.opts[i].value, &c, &error)) << error;
    }
    const Opt& last = tc.opts.back();
    const bool ok = ParseConditionOption(last.keyword, last.value, &c, &error);
    EXPECT_EQ(ok, tc.error.empty()) << last.keyword << ":" << last.value;
    if (ok) {
      EXPECT_EQ(Describe(c), tc.expect);
    } else {
      EXPECT_EQ(error, tc.error);
    }
  }
}

TEST(ConditionsParseTest, UnsupportedFormsAreSkippedNotRejected) {
  const struct {
    Opt opt;
    std::string keyword;
    std::string message;
  } cases[] = {
      {{"flow", "to_server,only_stream"},
       "flow:only_stream",
       "flow:only_stream is not supported yet: the sensor inspects TCP packets and their "
        "reassembled stream together and cannot restrict a rule to the stream alone"},
      {{"flow", "only_frag"},
       "flow:only_frag",
       "flow:only_frag is not supported yet: the sensor cannot restrict a rule to "
        "reassembled IP fragments"},
      {{"flowbits", "isset,a&b"},
       "flowbits:&",
       "flowbits: \"isset,a&b\": '&' (an AND of flowbits) is not supported: Suricata 7 reads "
       "\"a&b\" as one flowbit name that no rule sets; write one flowbits:isset option per name"},
  };
  for (const auto& tc : cases) {
    RuleConditions c;
    std::string error;
    EXPECT_TRUE(ParseConditionOption(tc.opt.keyword, tc.opt.value, &c, &error));
    EXPECT_EQ(c.unsupported, tc.keyword);
    EXPECT_EQ(error, tc.message);
  }
}

TEST(ConditionsParseTest, DirectionsIpOnlyAndDsizeEdge) {
  const struct {
    std::vector<Opt> opts;
    DirMask dirs;
    bool ip_only;
    int dsize_edge;
  } cases[] = {
      {{}, DirMask::kBoth, true, -1},
      {{{"flow", "to_server"}}, DirMask::kToServer, false, -1},
      {{{"flow", "from_server"}}, DirMask::kToClient, false, -1},
      {{{"flow", "established"}}, DirMask::kBoth, false, -1},
      {{{"flow", "to_client,established"}}, DirMask::kToClient, false, -1},
      {{{"flow", "to_server"}, {"flow", "to_client,established"}}, DirMask::kBoth, false, -1},
      {{{"flowbits", "set,a"}, {"flowbits", "noalert"}}, DirMask::kBoth, true, -1},
      {{{"flowbits", "isset,a"}}, DirMask::kBoth, false, -1},
      {{{"flowbits", "toggle,a"}}, DirMask::kBoth, false, -1},
      {{{"threshold", "type limit, track by_src, count 1, seconds 6"}}, DirMask::kBoth, true, -1},
      {{{"dsize", "10"}}, DirMask::kBoth, false, 10},
      {{{"dsize", "!10"}}, DirMask::kBoth, false, 10},
      {{{"dsize", "<10"}}, DirMask::kBoth, false, 10},
      {{{"dsize", "<=10"}}, DirMask::kBoth, false, -1},
      {{{"dsize", ">10"}}, DirMask::kBoth, false, -1},
      {{{"dsize", "5<>10"}}, DirMask::kBoth, false, 10},
  };
  for (const auto& tc : cases) {
    RuleConditions c;
    for (const Opt& o : tc.opts) {
      std::string error;
      ASSERT_TRUE(ParseConditionOption(o.keyword, o.value, &c, &error)) << error;
    }
    const std::string what = Describe(c);
    EXPECT_EQ(patterns::DirectionsOf(c), tc.dirs) << what;
    EXPECT_EQ(patterns::AllowsIpOnly(c), tc.ip_only) << what;
    EXPECT_EQ(patterns::DsizeMaxRightEdge(c), tc.dsize_edge) << what;
  }
}

// ---------------------------------------------------------------------------------------------
// A small rule set: rules with their conditions, finalized as the compiler will.

struct TestSet {
  std::vector<Rule> rules;
  std::vector<RuleConditions> conds;
  patterns::FinalizedConditions fin;

  void Add(uint32_t sid, std::initializer_list<Opt> opts, uint32_t priority = 3) {
    Rule r;
    r.file = "t.rules";
    r.pos = {static_cast<uint32_t>(rules.size() + 1), 1};
    r.sid = sid;
    r.severity = priority;
    rules.push_back(r);
    conds.push_back(MustParse(opts));
  }
  void Finalize(const ConditionsCatalog* previous = nullptr) {
    std::vector<ConditionsRef> refs;
    for (size_t i = 0; i < rules.size(); ++i) refs.push_back({&rules[i], &conds[i]});
    auto r = FinalizeConditions(refs, previous);
    ASSERT_TRUE(r.ok()) << r.error().message;
    fin = std::move(r).value();
  }
  // Rule indices in evaluation order.
  std::vector<size_t> Order() const {
    std::vector<size_t> idx(rules.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(),
                     [&](size_t a, size_t b) { return fin.order_keys[a] < fin.order_keys[b]; });
    return idx;
  }
  const RuleConditions& Of(uint32_t sid) const {
    for (size_t i = 0; i < rules.size(); ++i) {
      if (rules[i].sid == sid) return conds[i];
    }
    ADD_FAILURE() << "no sid " << sid;
    return conds[0];
  }
};

decode::Packet IpPacket(const char* src, const char* dst, uint16_t payload_len = 0,
                        uint64_t ts = kT0) {
  decode::Packet p;
  p.layer = decode::Layer::kL4;
  p.ip_version = 4;
  p.proto = 17;
  p.src = *IpAddr::Parse(src);
  p.dst = *IpAddr::Parse(dst);
  p.payload_len = payload_len;
  p.ts_us = ts;
  return p;
}

// A flow whose current packet is (not) established as ObservePacket decides for UDP.
flow::Flow UdpFlow(bool established) {
  flow::Flow f;
  f.proto = 17;
  f.state = established ? flow::State::kEstablished : flow::State::kNew;
  scan::ObservePacket(IpPacket("10.0.0.1", "10.0.0.2"), f);
  return f;
}

// ---------------------------------------------------------------------------------------------
// flow keyword

TEST(ConditionsFlowTest, EstablishedFollowsSuricataPacketByPacket) {
  // {flow proto, state after the previous packet (none: first packet), state after this one,
  //  this packet's proto and payload, established?}
  struct Step {
    uint8_t flow_proto;
    int prior;  // -1: first packet, else flow::State
    flow::State now;
    uint8_t pkt_proto;
    uint16_t payload;
    bool established;
    const char* what;
  };
  using S = flow::State;
  const Step steps[] = {
      {6, -1, S::kNew, 6, 0, false, "TCP SYN"},
      {6, int(S::kNew), S::kNew, 6, 0, false, "TCP SYN/ACK"},
      {6, int(S::kNew), S::kEstablished, 6, 0, false, "TCP handshake ACK without data"},
      {6, int(S::kNew), S::kEstablished, 6, 5, true, "TCP handshake ACK with data"},
      {6, int(S::kEstablished), S::kEstablished, 6, 0, true, "TCP after the handshake"},
      {6, int(S::kEstablished), S::kClosed, 6, 0, true, "TCP second FIN"},
      {6, int(S::kClosed), S::kClosed, 6, 0, true, "TCP after close"},
      {6, int(S::kNew), S::kClosed, 6, 0, false, "TCP RST during the handshake"},
      {6, int(S::kNew), S::kEstablished, 1, 5, false, "ICMP error on a TCP flow"},
      {17, -1, S::kNew, 17, 3, false, "UDP first packet"},
      {17, int(S::kNew), S::kEstablished, 17, 3, true, "UDP first reply"},
      {17, int(S::kEstablished), S::kEstablished, 17, 0, true, "UDP later"},
      {1, int(S::kNew), S::kEstablished, 1, 8, true, "ICMP echo reply"},
  };
  for (const Step& s : steps) {
    flow::Flow f;
    f.proto = s.flow_proto;
    decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2", s.payload);
    p.proto = s.pkt_proto;
    if (s.prior >= 0) {
      f.state = static_cast<flow::State>(s.prior);
      scan::ObservePacket(p, f);
    }
    f.state = s.now;
    scan::ObservePacket(p, f);
    EXPECT_EQ(scan::PacketEstablished(f), s.established) << s.what;
  }
}

TEST(ConditionsFlowTest, FlowKeywordTruthTable) {
  // Columns: no flow, to-server new, to-server established, to-client new, to-client established.
  struct Row {
    std::vector<Opt> opts;
    bool expect[5];
  };
  const Row rows[] = {
      {{}, {1, 1, 1, 1, 1}},
      {{{"flow", "to_server"}}, {1, 1, 1, 0, 0}},  // a packet without a flow is to-server
      {{{"flow", "from_client"}}, {1, 1, 1, 0, 0}},
      {{{"flow", "to_client"}}, {0, 0, 0, 1, 1}},
      {{{"flow", "from_server"}}, {0, 0, 0, 1, 1}},
      {{{"flow", "established"}}, {0, 0, 1, 0, 1}},
      {{{"flow", "not_established"}}, {1, 1, 0, 1, 0}},
      {{{"flow", "stateless"}}, {1, 1, 1, 1, 1}},
      {{{"flow", "to_server,established"}}, {0, 0, 1, 0, 0}},
      {{{"flow", "to_client,established"}}, {0, 0, 0, 0, 1}},
      // As Suricata's FlowMatch: the test also needs the direction, which a flowless packet lacks.
      {{{"flow", "to_server,not_established"}}, {0, 1, 0, 0, 0}},
      {{{"flow", "to_server,stateless"}}, {0, 1, 1, 0, 0}},
      {{{"flow", "not_established,stateless"}}, {0, 0, 0, 0, 0}},  // accepted, never matches
      {{{"flow", "no_stream"}}, {1, 1, 1, 1, 1}},
      {{{"flow", "no_frag"}}, {1, 1, 1, 1, 1}},
      {{{"flow", "established,no_stream"}}, {0, 0, 1, 0, 1}},
      {{{"flow", "to_server"}, {"flow", "to_client,established"}}, {0, 0, 0, 0, 1}},
      {{{"flow", "no_stream"}, {"flow", "not_established"}}, {1, 1, 0, 1, 0}},
  };
  for (const Row& row : rows) {
    RuleConditions c;
    for (const Opt& o : row.opts) {
      std::string error;
      ASSERT_TRUE(ParseConditionOption(o.keyword, o.value, &c, &error)) << error;
    }
    RuleState state(16);
    const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
    const std::string what = Describe(c);
    EXPECT_EQ(CheckConditions(c, 0, 1, 1, p, nullptr, flow::Dir::kToServer, state, kT0),
              row.expect[0])
        << what << " / no flow";
    int col = 1;
    for (flow::Dir dir : {flow::Dir::kToServer, flow::Dir::kToClient}) {
      for (bool est : {false, true}) {
        flow::Flow f = UdpFlow(est);
        EXPECT_EQ(CheckConditions(c, 0, 1, 1, p, f, dir, state, kT0), row.expect[col])
            << what << " / column " << col;
        ++col;
      }
    }
  }
}

// The same sequences Suricata 7.0.10 produced for flow:established / not_established on a capture
// (handshake, data, FIN/FIN; handshake ACK with data; RST during handshake; UDP), here through
// the real decoder and flow table.
TEST(ConditionsFlowTest, EstablishedThroughFlowTableMatchesSuricataRun) {
  using namespace decode::tcpflag;
  const char* C = "10.0.0.1";
  const char* S = "10.0.0.2";
  struct Pkt {
    bool from_client;
    uint16_t cport;
    uint8_t flags;  // 0: UDP
    std::string payload;
    bool established;  // Suricata: sid 1 (established) vs sid 2 (not_established)
  };
  const Pkt pkts[] = {
      {true, 40000, kSyn, "", false},
      {false, 40000, kSyn | kAck, "", false},
      {true, 40000, kAck, "", false},
      {true, 40000, kPsh | kAck, "GET /", true},
      {false, 40000, kPsh | kAck, "HTTP/1.0", true},
      {true, 40000, kFin | kAck, "", true},
      {false, 40000, kFin | kAck, "", true},
      {true, 40000, kAck, "", true},
      {true, 40001, kSyn, "", false},
      {false, 40001, kSyn | kAck, "", false},
      {true, 40001, kPsh | kAck, "hello", true},
      {true, 40002, kSyn, "", false},
      {false, 40002, kRst | kAck, "", false},
      {true, 40002, kAck, "x", true},
      {true, 5000, 0, "q1", false},
      {false, 5000, 0, "r1", true},
      {true, 5000, 0, "q2", true},
  };
  flow::FlowTable table(64, flow::Timeouts{});
  RuleState state(16);
  const RuleConditions est = MustParse({{"flow", "established"}});
  const RuleConditions not_est = MustParse({{"flow", "not_established"}});
  uint64_t ts = kT0;
  int n = 0;
  for (const Pkt& k : pkts) {
    ++n;
    pcapgen::PacketBuilder b;
    b.Ipv4(k.from_client ? C : S, k.from_client ? S : C);
    const uint16_t sport = k.from_client ? k.cport : (k.flags ? 80 : 53);
    const uint16_t dport = k.from_client ? (k.flags ? 80 : 53) : k.cport;
    if (k.flags != 0) {
      b.Tcp(sport, dport, k.flags, 1000, 2000);
    } else {
      b.Udp(sport, dport);
    }
    b.Payload(k.payload);
    const pcapgen::Bytes frame = b.Build();
    decode::Packet p;
    decode::Decode(frame.data(), static_cast<uint32_t>(frame.size()),
                   static_cast<uint32_t>(frame.size()), ts += 1000, &p);
    const auto r = table.Update(p, [](const flow::Flow&, flow::EndReason) {});
    ASSERT_NE(r.flow, nullptr) << "packet " << n;
    scan::ObservePacket(p, *r.flow);
    EXPECT_EQ(CheckConditions(est, 0, 1, 1, p, *r.flow, r.dir, state, p.ts_us), k.established)
        << "packet " << n;
    EXPECT_EQ(CheckConditions(not_est, 1, 2, 1, p, *r.flow, r.dir, state, p.ts_us), !k.established)
        << "packet " << n;
  }
}

// ---------------------------------------------------------------------------------------------
// dsize

TEST(ConditionsDsizeTest, OperatorsAtTheirBoundaries) {
  const struct {
    std::string_view value;
    std::vector<std::pair<uint16_t, bool>> lens;
  } cases[] = {
      {"5", {{4, false}, {5, true}, {6, false}}},
      {"0", {{0, true}, {1, false}}},
      {"!5", {{4, true}, {5, false}, {6, true}}},
      {"<5", {{0, true}, {4, true}, {5, false}}},
      {"<1", {{0, true}, {1, false}}},
      {"<=5", {{5, true}, {6, false}}},
      {">5", {{5, false}, {6, true}}},
      {">65534", {{65534, false}, {65535, true}}},
      {">=5", {{4, false}, {5, true}}},
      {"5<>10", {{5, false}, {6, true}, {9, true}, {10, false}}},
      {"1kb", {{1023, false}, {1024, true}}},
  };
  RuleState state(16);
  for (const auto& tc : cases) {
    const RuleConditions c = MustParse({{"dsize", tc.value}});
    for (const auto& [len, want] : tc.lens) {
      flow::Flow f = UdpFlow(false);
      const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2", len);
      EXPECT_EQ(CheckConditions(c, 0, 1, 1, p, f, flow::Dir::kToServer, state, kT0), want)
          << "dsize:" << tc.value << " payload " << len;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// flowbits

TEST(ConditionsFlowbitsTest, SetThenTestOnLaterPackets) {
  TestSet set;
  set.Add(1, {{"flowbits", "set,login"}, {"flowbits", "noalert"}});
  set.Add(2, {{"flowbits", "isset,login"}});
  set.Add(3, {{"flowbits", "isnotset,login"}});
  set.Add(4, {{"flowbits", "unset,login"}});
  set.Add(5, {{"flowbits", "toggle,login"}});
  set.Finalize();
  RuleState state(16);
  flow::Flow f = UdpFlow(true);
  const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  auto check = [&](uint32_t sid) {
    return CheckConditions(set.Of(sid), 0, sid, 1, p, f, flow::Dir::kToServer, state, kT0);
  };
  EXPECT_FALSE(check(2));
  EXPECT_TRUE(check(3));
  EXPECT_FALSE(check(1));  // noalert: matched and set the bit, no alert
  EXPECT_EQ(state.counters().noalert_matches, 1u);
  EXPECT_TRUE(check(2));
  EXPECT_FALSE(check(3));
  EXPECT_TRUE(check(4));  // unset alerts (no noalert) and clears
  EXPECT_FALSE(check(2));
  EXPECT_TRUE(check(5));  // toggle: clear -> set
  EXPECT_TRUE(check(2));
  EXPECT_TRUE(check(5));  // set -> clear
  EXPECT_FALSE(check(2));
  EXPECT_TRUE(check(3));
  // Another flow has its own bits.
  flow::Flow g = UdpFlow(true);
  EXPECT_TRUE(check(1) == false && scan::FlowbitIsSet(f, set.fin.catalog.FindFlowbit("login")));
  EXPECT_FALSE(CheckConditions(set.Of(2), 0, 2, 1, p, g, flow::Dir::kToServer, state, kT0));
}

TEST(ConditionsFlowbitsTest, OrListsAndRepeatedOptions) {
  TestSet set;
  set.Add(1, {{"flowbits", "set,a"}});
  set.Add(2, {{"flowbits", "set,b"}});
  set.Add(10, {{"flowbits", "isset,x|a"}});
  set.Add(11, {{"flowbits", "isnotset,x|a"}});  // OR: holds while x is not set
  set.Add(12, {{"flowbits", "isnotset,a|b"}});
  set.Add(13, {{"flowbits", "isset,a"}, {"flowbits", "isset,b"}});  // AND: two options
  set.Add(20, {{"flowbits", "set,x"}});
  set.Finalize();
  RuleState state(16);
  flow::Flow f = UdpFlow(true);
  const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  auto check = [&](uint32_t sid) {
    return CheckConditions(set.Of(sid), 0, sid, 1, p, f, flow::Dir::kToServer, state, kT0);
  };
  EXPECT_FALSE(check(10));
  EXPECT_TRUE(check(11));
  EXPECT_TRUE(check(12));
  EXPECT_FALSE(check(13));
  check(1);  // a
  EXPECT_TRUE(check(10));
  EXPECT_TRUE(check(11));
  EXPECT_TRUE(check(12));  // b still not set
  EXPECT_FALSE(check(13));
  check(2);  // b
  EXPECT_FALSE(check(12));
  EXPECT_TRUE(check(13));
  check(20);                // x
  EXPECT_FALSE(check(11));  // both x and a set
}

TEST(ConditionsFlowbitsTest, PacketWithoutFlow) {
  TestSet set;
  set.Add(1, {{"flowbits", "set,a"}});
  set.Add(2, {{"flowbits", "isset,a"}});
  set.Add(3, {{"flowbits", "isnotset,a"}});
  set.Finalize();
  RuleState state(16);
  const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  // As Suricata: tests never hold without a flow; a setting rule still matches (and alerts).
  EXPECT_TRUE(CheckConditions(set.Of(1), 0, 1, 1, p, nullptr, flow::Dir::kToServer, state, kT0));
  EXPECT_FALSE(CheckConditions(set.Of(2), 1, 2, 1, p, nullptr, flow::Dir::kToServer, state, kT0));
  EXPECT_FALSE(CheckConditions(set.Of(3), 2, 3, 1, p, nullptr, flow::Dir::kToServer, state, kT0));
}

TEST(ConditionsFlowbitsTest, IdsBeyondTheBitmapUseThreeSlotsThenOverflow) {
  // 70 names: the catalog gives 64 of them bitmap ids and 6 of them high ids.
  TestSet set;
  for (uint32_t i = 0; i < 70; ++i) {
    const std::string v = "set,n" + std::to_string(i);
    set.Add(100 + i, {{"flowbits", v}});
  }
  set.Finalize();
  ASSERT_EQ(set.fin.catalog.flowbit_count(), 70u);
  std::vector<uint32_t> high;  // sids whose flowbit got an id >= 64
  for (size_t i = 0; i < set.conds.size(); ++i) {
    if (set.conds[i].flowbit_ids[0] >= scan::kFlowbitBitmapIds) high.push_back(set.rules[i].sid);
  }
  ASSERT_EQ(high.size(), 6u);
  RuleState state(16);
  flow::Flow f = UdpFlow(true);
  const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  for (const RuleConditions& c : set.conds) {
    if (c.flowbit_ids[0] < scan::kFlowbitBitmapIds) {
      CheckConditions(c, 0, 1, 1, p, f, flow::Dir::kToServer, state, kT0);
    }
  }
  EXPECT_EQ(f.rule_state[0], ~uint64_t{0});  // all 64 bitmap bits
  for (size_t i = 0; i < high.size(); ++i) {
    const RuleConditions& c = set.Of(high[i]);
    CheckConditions(c, 0, high[i], 1, p, f, flow::Dir::kToServer, state, kT0);
    const bool stored = i < static_cast<size_t>(scan::kFlowbitHighSlots);
    EXPECT_EQ(scan::FlowbitIsSet(f, c.flowbit_ids[0]), stored) << i;
  }
  EXPECT_EQ(state.counters().flowbit_overflow, 3u);
  // Setting an already stored high bit again is no overflow; unsetting frees a slot.
  const uint16_t first_high = set.Of(high[0]).flowbit_ids[0];
  EXPECT_TRUE(scan::SetFlowbit(f, first_high));
  scan::UnsetFlowbit(f, first_high);
  EXPECT_FALSE(scan::FlowbitIsSet(f, first_high));
  const uint16_t fourth_high = set.Of(high[3]).flowbit_ids[0];
  EXPECT_TRUE(scan::SetFlowbit(f, fourth_high));
  EXPECT_TRUE(scan::FlowbitIsSet(f, fourth_high));
  EXPECT_FALSE(scan::SetFlowbit(f, patterns::kNoFlowbitId));
  // The flags sharing the word were not disturbed.
  EXPECT_TRUE(scan::PacketEstablished(f));
}

TEST(ConditionsFlowbitsTest, EvaluationOrderLetsSettersRunFirst) {
  TestSet set;
  set.Add(1, {{"flowbits", "isset,a"}});                         // read
  set.Add(2, {{"flowbits", "set,a"}, {"flowbits", "noalert"}});  // set
  set.Add(3, {});                                                // none
  set.Add(4, {{"flowbits", "isset,b"}, {"flowbits", "set,a"}});  // set + read
  set.Add(5, {}, 1);                                             // none, priority 1
  set.Add(6, {{"flowbits", "set,b"}}, 2);                        // set, priority 2
  set.Finalize();
  std::vector<uint32_t> sids;
  for (size_t i : set.Order()) sids.push_back(set.rules[i].sid);
  EXPECT_EQ(sids, (std::vector<uint32_t>{6, 2, 4, 1, 5, 3}));

  // On one packet, in that order, rule 1 sees the bit rule 2 sets; in file order it would not.
  RuleState state(16);
  const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  auto alerts = [&](const std::vector<size_t>& order) {
    flow::Flow f = UdpFlow(true);
    std::vector<uint32_t> out;
    for (size_t i : order) {
      if (CheckConditions(set.conds[i], static_cast<uint32_t>(i), set.rules[i].sid, 1, p, f,
                          flow::Dir::kToServer, state, kT0)) {
        out.push_back(set.rules[i].sid);
      }
    }
    return out;
  };
  EXPECT_EQ(alerts(set.Order()), (std::vector<uint32_t>{6, 4, 1, 5, 3}));
  EXPECT_EQ(alerts({0, 1, 2, 3, 4, 5}), (std::vector<uint32_t>{3, 5, 6}));
}

// Suricata run: "toggle,a" (a setter) runs before "isset,a" on the same packet although its sid
// is higher, so with a set, only the toggle rule alerts.
TEST(ConditionsFlowbitsTest, ToggleRunsBeforeIssetLikeSuricata) {
  TestSet set;
  set.Add(20, {{"flowbits", "set,a"}, {"flowbits", "noalert"}});
  set.Add(33, {{"flowbits", "isset,a"}});
  set.Add(34, {{"flowbits", "toggle,a"}});
  set.Add(35, {{"flowbits", "isnotset,a"}});
  set.Finalize();
  RuleState state(16);
  flow::Flow f = UdpFlow(true);
  scan::SetFlowbit(f, set.fin.catalog.FindFlowbit("a"));
  const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  std::vector<uint32_t> out;
  for (size_t i : set.Order()) {
    if (set.rules[i].sid == 20) continue;  // its content did not match this packet
    if (CheckConditions(set.conds[i], static_cast<uint32_t>(i), set.rules[i].sid, 1, p, f,
                        flow::Dir::kToServer, state, kT0)) {
      out.push_back(set.rules[i].sid);
    }
  }
  EXPECT_EQ(out, (std::vector<uint32_t>{34, 35}));
}

TEST(ConditionsFinalizeTest, WarnsAboutFlowbitsNeverSetAndRanksIds) {
  TestSet set;
  set.Add(1, {{"flowbits", "isset,ghost"}});
  set.Add(2, {{"flowbits", "isset,ghost|real"}});
  set.Add(3, {{"flowbits", "set,real"}});
  set.Add(4, {{"flowbits", "isset,real"}});
  set.Add(5, {{"flowbits", "isnotset,only_negative"}});
  set.Finalize();
  ASSERT_EQ(set.fin.warnings.size(), 1u);
  EXPECT_EQ(set.fin.warnings[0].ToString(),
            "t.rules:1:1: flowbit 'ghost' is checked (isset) but no rule sets or toggles it; "
            "checked by sid 1 and 1 other rule(s)");
  // The most referenced name gets the lowest id; ids are written into every rule.
  EXPECT_EQ(set.fin.catalog.FindFlowbit("real"), 0);
  EXPECT_EQ(set.fin.catalog.FindFlowbit("ghost"), 1);
  EXPECT_EQ(set.fin.catalog.FindFlowbit("only_negative"), 2);
  EXPECT_EQ(set.fin.catalog.FindFlowbit("nope"), patterns::kNoFlowbitId);
  EXPECT_EQ(set.Of(2).flowbit_ids, (std::vector<uint16_t>{1, 0}));
}

TEST(ConditionsFinalizeTest, FlowbitIdsStayStableAcrossReloads) {
  TestSet v1;
  v1.Add(1, {{"flowbits", "set,a"}});
  v1.Add(2, {{"flowbits", "set,b"}});
  v1.Add(3, {{"flowbits", "set,c"}});
  v1.Finalize();
  const uint16_t a = v1.fin.catalog.FindFlowbit("a");
  const uint16_t b = v1.fin.catalog.FindFlowbit("b");
  const uint16_t c = v1.fin.catalog.FindFlowbit("c");

  TestSet v2;  // b dropped, d added
  v2.Add(1, {{"flowbits", "set,a"}});
  v2.Add(3, {{"flowbits", "set,c"}});
  v2.Add(4, {{"flowbits", "set,d"}});
  v2.Finalize(&v1.fin.catalog);
  EXPECT_EQ(v2.fin.catalog.FindFlowbit("a"), a);
  EXPECT_EQ(v2.fin.catalog.FindFlowbit("c"), c);
  EXPECT_NE(v2.fin.catalog.FindFlowbit("d"), b);  // b's id is retired for one reload
  EXPECT_EQ(v2.fin.catalog.retired, (std::vector<uint16_t>{b}));
  EXPECT_EQ(v2.fin.catalog.FindFlowbit("b"), patterns::kNoFlowbitId);

  TestSet v3;  // e added: b's old id is free again
  v3.Add(1, {{"flowbits", "set,a"}});
  v3.Add(3, {{"flowbits", "set,c"}});
  v3.Add(4, {{"flowbits", "set,d"}});
  v3.Add(5, {{"flowbits", "set,e"}});
  v3.Finalize(&v2.fin.catalog);
  EXPECT_EQ(v3.fin.catalog.FindFlowbit("d"), v2.fin.catalog.FindFlowbit("d"));
  EXPECT_EQ(v3.fin.catalog.FindFlowbit("e"), b);
  EXPECT_TRUE(v3.fin.catalog.retired.empty());
}

// ---------------------------------------------------------------------------------------------
// threshold / detection_filter

// Suricata run: one source, matches at these offsets (seconds) from the first, each type with
// count 2, seconds 60. The window is [first, first + 60 s] inclusive, to the microsecond.
TEST(ConditionsThresholdTest, TypesOverTimeAtWindowBoundaries) {
  const uint64_t offsets_us[] = {0,         1 * kSec,  2 * kSec,  60 * kSec, 60 * kSec + 1,
                                 61 * kSec, 62 * kSec, 130 * kSec};
  const struct {
    std::string_view keyword, value;
    bool alerts[8];
  } cases[] = {
      {"threshold", "type limit, track by_src, count 2, seconds 60", {1, 1, 0, 0, 1, 1, 0, 1}},
      {"threshold", "type threshold, track by_src, count 2, seconds 60", {0, 1, 0, 1, 0, 1, 0, 0}},
      {"threshold", "type both, track by_src, count 2, seconds 60", {0, 1, 0, 0, 0, 1, 0, 0}},
      {"detection_filter", "track by_src, count 2, seconds 60", {0, 0, 1, 1, 0, 0, 1, 0}},
  };
  for (const auto& tc : cases) {
    const RuleConditions c = MustParse({{tc.keyword, tc.value}});
    RuleState state(64);
    for (int i = 0; i < 8; ++i) {
      const uint64_t t = kT0 + offsets_us[i];
      // Each match on a new flow of the same source (as in the capture).
      flow::Flow f = UdpFlow(false);
      const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2", 3, t);
      EXPECT_EQ(CheckConditions(c, 0, 100, 1, p, f, flow::Dir::kToServer, state, t), tc.alerts[i])
          << tc.value << " match " << i;
    }
    EXPECT_TRUE(state.Validate());
  }
}

TEST(ConditionsThresholdTest, CountEdgesAndNonIp) {
  RuleState state(64);
  const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  // threshold count 1: every match alerts and Suricata keeps no entry.
  const RuleConditions every = MustParse({{"threshold",
                                           "type threshold, track by_src, count 1, "
                                           "seconds 60"}});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(state.ApplyThreshold(every, 1, 1, p, kT0 + i));
  EXPECT_EQ(state.threshold_used(), 0u);
  // both count 1: only the first of each window.
  const RuleConditions both1 = MustParse({{"threshold",
                                           "type both, track by_src, count 1, "
                                           "seconds 10"}});
  EXPECT_TRUE(state.ApplyThreshold(both1, 2, 1, p, kT0));
  EXPECT_FALSE(state.ApplyThreshold(both1, 2, 1, p, kT0 + 10 * kSec));
  EXPECT_TRUE(state.ApplyThreshold(both1, 2, 1, p, kT0 + 10 * kSec + 1));
  // limit count 0 (Suricata accepts it): the first match of a window still alerts.
  const RuleConditions limit0 = MustParse({{"threshold",
                                            "type limit, track by_src, count 0, "
                                            "seconds 10"}});
  EXPECT_TRUE(state.ApplyThreshold(limit0, 3, 1, p, kT0));
  EXPECT_FALSE(state.ApplyThreshold(limit0, 3, 1, p, kT0 + 1));
  // Non-IP packets are never thresholded.
  decode::Packet arp = p;
  arp.ip_version = 0;
  EXPECT_TRUE(state.ApplyThreshold(limit0, 3, 1, arp, kT0 + 2));
  EXPECT_TRUE(state.Validate());
}

TEST(ConditionsThresholdTest, TrackingKeys) {
  const decode::Packet ab = IpPacket("10.0.0.1", "10.0.0.2");
  const decode::Packet ba = IpPacket("10.0.0.2", "10.0.0.1");
  const decode::Packet cb = IpPacket("10.0.0.3", "10.0.0.2");
  const decode::Packet ad = IpPacket("10.0.0.1", "10.0.0.4");
  auto run = [](std::string_view value, const std::vector<const decode::Packet*>& pkts) {
    const RuleConditions c = MustParse({{"threshold", value}});
    RuleState state(64);
    std::vector<bool> out;
    for (const decode::Packet* p : pkts) out.push_back(state.ApplyThreshold(c, 7, 1, *p, kT0));
    return out;
  };
  // limit 1: only the first match per tracked key alerts.
  EXPECT_EQ(run("type limit, track by_src, count 1, seconds 60", {&ab, &ad, &cb, &ba}),
            (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(run("type limit, track by_dst, count 1, seconds 60", {&ab, &cb, &ad, &ba}),
            (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(run("type limit, track by_both, count 1, seconds 60", {&ab, &ba, &cb, &ad}),
            (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(run("type limit, track by_rule, count 1, seconds 60", {&ab, &ba, &cb, &ad}),
            (std::vector<bool>{true, false, false, false}));

  // Entries are keyed by gid:sid: another sid counts apart; the same sid in a reloaded set
  // (a new RuleConditions) continues, as Suricata's host table does.
  RuleState state(64);
  const RuleConditions v1 = MustParse({{"threshold",
                                        "type limit, track by_src, count 1, "
                                        "seconds 60"}});
  const RuleConditions v2 = v1;
  EXPECT_TRUE(state.ApplyThreshold(v1, 7, 1, ab, kT0));
  EXPECT_FALSE(state.ApplyThreshold(v2, 7, 1, ab, kT0 + 1));
  EXPECT_TRUE(state.ApplyThreshold(v1, 8, 1, ab, kT0 + 2));
  EXPECT_TRUE(state.ApplyThreshold(v1, 7, 3, ab, kT0 + 3));
}

TEST(ConditionsThresholdTest, NoalertRulesStillCountAndSetBits) {
  TestSet set;
  set.Add(1, {{"flowbits", "set,seen"},
              {"flowbits", "noalert"},
              {"detection_filter", "track by_src, count 1, seconds 60"}});
  set.Finalize();
  RuleState state(16);
  flow::Flow f = UdpFlow(true);
  const decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  EXPECT_FALSE(CheckConditions(set.conds[0], 0, 1, 1, p, f, flow::Dir::kToServer, state, kT0));
  EXPECT_FALSE(CheckConditions(set.conds[0], 0, 1, 1, p, f, flow::Dir::kToServer, state, kT0));
  EXPECT_TRUE(scan::FlowbitIsSet(f, set.fin.catalog.FindFlowbit("seen")));
  EXPECT_EQ(state.counters().threshold_checks, 2u);
  EXPECT_EQ(state.counters().threshold_suppressed, 1u);  // the second passed the filter
  EXPECT_EQ(state.counters().noalert_matches, 2u);
}

TEST(ConditionsThresholdTest, TableCapacityAndEviction) {
  EXPECT_EQ(RuleState(0).threshold_capacity(), RuleState::kProbeWindow);
  EXPECT_EQ(RuleState(10).threshold_capacity(), 16u);

  // Capacity 8 = one probe window: every key competes for the same 8 slots.
  RuleState state(8);
  const RuleConditions df = MustParse({{"detection_filter", "track by_src, count 1, seconds 60"}});
  auto host = [](int i) {
    const std::string a = "192.0.2." + std::to_string(i);
    return IpPacket(a.c_str(), "10.0.0.2");
  };
  for (int i = 1; i <= 8; ++i) {
    EXPECT_FALSE(state.ApplyThreshold(df, 1, 1, host(i), kT0 + i));  // first match: no alert
  }
  EXPECT_EQ(state.threshold_used(), 8u);
  EXPECT_TRUE(state.ApplyThreshold(df, 1, 1, host(2), kT0 + 10));  // second match of host 2
  EXPECT_EQ(state.counters().threshold_evicted, 0u);
  // A ninth host while all windows are open evicts the least recently used (host 1), counted.
  EXPECT_FALSE(state.ApplyThreshold(df, 1, 1, host(9), kT0 + 20));
  EXPECT_EQ(state.counters().threshold_evicted, 1u);
  EXPECT_TRUE(state.Validate());
  // Host 1 starts over (the difference the counter warns about) and evicts host 3, now the
  // least recently used; host 2 kept its count.
  EXPECT_FALSE(state.ApplyThreshold(df, 1, 1, host(1), kT0 + 30));
  EXPECT_EQ(state.counters().threshold_evicted, 2u);
  EXPECT_TRUE(state.ApplyThreshold(df, 1, 1, host(2), kT0 + 31));
  // After every window is over, new keys reuse slots without counting an eviction.
  const uint64_t later = kT0 + 200 * kSec;
  for (int i = 20; i < 40; ++i) EXPECT_FALSE(state.ApplyThreshold(df, 1, 1, host(i), later + i));
  EXPECT_EQ(state.counters().threshold_evicted, 2u + 12u);  // 8 expired slots, then 12 live ones
  EXPECT_EQ(state.threshold_used(), 8u);
  EXPECT_TRUE(state.Validate());
}

TEST(ConditionsThresholdTest, ManyKeysStayConsistent) {
  RuleState state(1024);
  const RuleConditions c = MustParse({{"threshold",
                                       "type both, track by_both, count 3, "
                                       "seconds 5"}});
  uint64_t t = kT0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 3000; ++i) {
      const std::string a = "10." + std::to_string(i / 250) + ".0." + std::to_string(i % 250);
      const decode::Packet p = IpPacket(a.c_str(), "172.16.0.1");
      state.ApplyThreshold(c, 1000 + static_cast<uint32_t>(i % 7), 1, p, t += 1000);
    }
  }
  EXPECT_TRUE(state.Validate());
  EXPECT_EQ(state.threshold_used(), 1024u);
  EXPECT_GT(state.counters().threshold_evicted, 0u);
}

// ---------------------------------------------------------------------------------------------
// flags, itype, icode: packet header tests (detect-tcp-flags.c FlagsMatch, DetectU8Match)

decode::Packet TcpFlagsPacket(uint8_t flags) {
  decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  p.proto = 6;
  p.tcp_flags = flags;
  return p;
}

decode::Packet IcmpPacket(uint8_t proto, uint8_t type, uint8_t code) {
  decode::Packet p = IpPacket("10.0.0.1", "10.0.0.2");
  p.proto = proto;
  p.icmp_type = type;
  p.icmp_code = code;
  return p;
}

bool Holds(const RuleConditions& c, const decode::Packet& p) {
  static RuleState state(16);
  flow::Flow f = UdpFlow(false);
  return CheckConditions(c, 0, 1, 1, p, f, flow::Dir::kToServer, state, kT0);
}

TEST(ConditionsPacketTest, TcpFlagsModifiersAndMask) {
  using namespace decode::tcpflag;
  const struct {
    std::string_view value;
    std::vector<std::pair<uint8_t, bool>> packets;
  } cases[] = {
      // Exact: every other flag must be clear (ECN bits too, unless masked).
      {"S", {{kSyn, true}, {kSyn | kAck, false}, {kSyn | kEce | kCwr, false}, {0, false}}},
      {"S,12", {{kSyn | kEce | kCwr, true}, {kSyn | kCwr, true}, {kSyn | kAck, false}}},
      {"SA,CE", {{kSyn | kAck | kEce, true}, {kSyn | kAck | kPsh, false}}},
      // +: at least these.
      {"+PA", {{kPsh | kAck, true}, {kPsh | kAck | kFin, true}, {kAck, false}}},
      {"PA+", {{kPsh | kAck | kSyn, true}, {kPsh, false}}},
      // *: any of these.
      {"*SA", {{kSyn, true}, {kAck | kFin, true}, {kFin, false}, {0, false}}},
      // !: not all of these (one of two set still holds).
      {"!R", {{kRst, false}, {kRst | kAck, false}, {kAck, true}, {0, true}}},
      {"!SA", {{kSyn, true}, {kAck, true}, {kSyn | kAck, false}, {kSyn | kAck | kPsh, false}}},
      // The mask applies before the comparison: RST ignored.
      {"!SA,R", {{kSyn | kAck | kRst, false}}},
      {"A,R", {{kAck | kRst, true}, {kAck | kFin, false}}},
      // 0: no flags at all; "!0" any flag (compared on the unmasked flags).
      {"0", {{0, true}, {kAck, false}}},
      {"!0", {{0, false}, {kAck, true}}},
      {"0,A", {{kAck, false}}},
      {"1", {{kCwr, true}, {kEce, false}}},
      {"2", {{kEce, true}}},
  };
  for (const auto& tc : cases) {
    const RuleConditions c = MustParse({{"flags", tc.value}});
    for (const auto& [flags, want] : tc.packets) {
      EXPECT_EQ(Holds(c, TcpFlagsPacket(flags)), want)
          << "flags:" << tc.value << " packet flags 0x" << std::hex << int{flags};
    }
  }
  // Not a TCP packet: never, whatever the modifier.
  for (std::string_view v : {"!R", "!0", "*SA"}) {
    decode::Packet udp = IpPacket("10.0.0.1", "10.0.0.2");
    EXPECT_FALSE(Holds(MustParse({{"flags", v}}), udp)) << v;
  }
  // tcp.flags is the same keyword.
  EXPECT_TRUE(Holds(MustParse({{"tcp.flags", "S"}}), TcpFlagsPacket(decode::tcpflag::kSyn)));
}

TEST(ConditionsPacketTest, IcmpTypeAndCodeRanges) {
  const struct {
    std::string_view keyword, value;
    std::vector<std::pair<uint8_t, bool>> values;
  } cases[] = {
      {"itype", "8", {{8, true}, {0, false}, {9, false}}},
      {"itype", ">8", {{8, false}, {9, true}, {255, true}}},
      {"itype", "<8", {{7, true}, {8, false}}},
      {"itype", ">=8", {{7, false}, {8, true}}},
      {"itype", "<=8", {{8, true}, {9, false}}},
      {"itype", "!8", {{8, false}, {0, true}}},
      // Ranges are exclusive at both ends, "-" as "<>" (Suricata's uint grammar).
      {"itype", "3<>5", {{3, false}, {4, true}, {5, false}}},
      {"itype", "3-6", {{3, false}, {4, true}, {5, true}, {6, false}}},
      {"icode", "0", {{0, true}, {1, false}}},
      {"icode", "1<>10", {{1, false}, {2, true}, {9, true}, {10, false}}},
  };
  for (const auto& tc : cases) {
    const RuleConditions c = MustParse({{tc.keyword, tc.value}});
    for (const auto& [v, want] : tc.values) {
      const bool type = tc.keyword == "itype";
      for (uint8_t proto : {1, 58}) {  // ICMPv4 and ICMPv6 alike
        EXPECT_EQ(Holds(c, IcmpPacket(proto, type ? v : 0, type ? 0 : v)), want)
            << tc.keyword << ":" << tc.value << " value " << int{v} << " proto " << int{proto};
      }
    }
  }
  // itype:8; icode:0: both must hold.
  const RuleConditions both = MustParse({{"itype", "8"}, {"icode", "0"}});
  EXPECT_TRUE(Holds(both, IcmpPacket(1, 8, 0)));
  EXPECT_FALSE(Holds(both, IcmpPacket(1, 8, 1)));
  // A TCP or UDP packet never has an ICMP type, not even for "!8".
  EXPECT_FALSE(Holds(MustParse({{"itype", "!8"}}), TcpFlagsPacket(0)));
  EXPECT_FALSE(Holds(MustParse({{"icode", "<5"}}), IpPacket("10.0.0.1", "10.0.0.2")));
}

TEST(ConditionsPacketTest, PacketTestsAreNotIpOnlyAndRequireThePacket) {
  for (Opt o : {Opt{"flags", "S"}, Opt{"itype", "8"}, Opt{"icode", "0"}}) {
    const RuleConditions c = MustParse({o});
    EXPECT_FALSE(c.empty()) << o.keyword;
    EXPECT_FALSE(patterns::AllowsIpOnly(c)) << o.keyword;
    EXPECT_TRUE(c.RequiresPacket()) << o.keyword;
  }
  EXPECT_FALSE(MustParse({{"flowbits", "set,x"}}).RequiresPacket());
  // A second option of one kind is valid Suricata but skipped here.
  RuleConditions c = MustParse({{"itype", "8"}});
  std::string error;
  EXPECT_TRUE(ParseConditionOption("itype", "0", &c, &error));
  EXPECT_EQ(c.unsupported, "itype:repeated");
}

}  // namespace
}  // namespace fs
