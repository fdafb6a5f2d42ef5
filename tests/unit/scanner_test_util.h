// Shared helpers of the scanner tests: compile rule text, build decoded packets by hand (no
// decoder involved) and scan them with a flow and rule state as the worker does.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dataplane/scan/scanner.h"
#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"

namespace fs::scan::testing {

// Hyperscan decides every rule it can alone (chains, combinations): what the stream databases
// do, and what the tests of those plans need in the packet databases too.
inline constexpr patterns::CompileOptions kExactPlans{.fast_pattern_prefilter = false};
// Every payload rule in the packet databases, TCP rules the stream decides alone included
// (CompileOptions::stream_only off): for tests of the packet databases' layout and counters.
inline constexpr patterns::CompileOptions kPacketDatabases{.stream_only = false};

inline std::shared_ptr<const patterns::PatternSet> Build(
    const std::string& rules_text, const patterns::ParseOptions& options = {},
    const patterns::CompileOptions& compile = {}) {
  patterns::ParseResult r = patterns::ParseRules(rules_text, "test.rules", options);
  for (const auto& e : r.errors) ADD_FAILURE() << e.ToString();
  for (const auto& w : r.warnings) ADD_FAILURE() << w.ToString();
  auto set = patterns::PatternSet::Compile(std::move(r.rules), 7, nullptr, {}, compile);
  if (!set) {
    ADD_FAILURE() << set.error().message;
    return nullptr;
  }
  return std::move(set).value();
}

// A decoded packet over its own payload buffer, filled field by field.
class TestPacket {
 public:
  TestPacket(std::string payload, const char* src, uint16_t sport, const char* dst, uint16_t dport,
             uint8_t proto = patterns::kIpProtoTcp)
      : bytes_(std::move(payload)) {
    p_.data = reinterpret_cast<const uint8_t*>(bytes_.data());
    p_.caplen = p_.wirelen = static_cast<uint32_t>(bytes_.size());
    p_.layer = decode::Layer::kL4;
    p_.src = *IpAddr::Parse(src);
    p_.dst = *IpAddr::Parse(dst);
    p_.ip_version = p_.src.IsV4() ? 4 : 6;
    p_.proto = proto;
    const bool ports = proto == patterns::kIpProtoTcp || proto == patterns::kIpProtoUdp;
    p_.sport = ports ? sport : 0;
    p_.dport = ports ? dport : 0;
    p_.payload_offset = 0;
    p_.payload_len = static_cast<uint16_t>(bytes_.size());
    p_.ts_us = 1700000000000000ull;
  }
  TestPacket(const TestPacket&) = delete;
  TestPacket& operator=(const TestPacket&) = delete;

  decode::Packet& packet() { return p_; }
  const decode::Packet& packet() const { return p_; }
  std::string_view payload() const { return bytes_; }

 private:
  std::string bytes_;
  decode::Packet p_;
};

inline std::unique_ptr<RuleState> MakeRuleState() {
#if FS_HAVE_CONDITIONS
  return std::make_unique<RuleState>(1024);
#else
  return std::make_unique<RuleState>();
#endif
}

// A scanner with its rule state and one flow, as one worker holds them.
class Harness {
 public:
  explicit Harness(const patterns::PatternSet& set) : set_(&set), state_(MakeRuleState()) {
    EXPECT_TRUE(scanner_.Prepare(set)) << scanner_.error();
    flow_.proto = patterns::kIpProtoUdp;  // no TCP state machine: every packet "established"
  }

  // Scans p as the n-th packet (1-based) of its direction in the harness's flow.
  std::vector<uint32_t> Sids(const TestPacket& tp, flow::Dir dir = flow::Dir::kToServer,
                             uint64_t nth_in_direction = 1) {
    flow_.pkts[static_cast<int>(dir)] = nth_in_direction;
#if FS_HAVE_CONDITIONS
    ObservePacket(tp.packet(), flow_);
#endif
    std::vector<uint32_t> sids;
    scanner_.ScanPacket(*set_, tp.packet(), flow_, dir, *state_,
                        [&](uint32_t rule) { sids.push_back(set_->rules()[rule].sid); });
    return sids;
  }

  // Inspects one transaction side (ScanApp) with tp as its packet; new_tx: AppTxBegin first.
  std::vector<uint32_t> AppSids(const TestPacket& tp, const patterns::AppInspect& in,
                                bool new_tx = true) {
    const flow::Dir dir = in.to_server ? flow::Dir::kToServer : flow::Dir::kToClient;
#if FS_HAVE_CONDITIONS
    ObservePacket(tp.packet(), flow_);
#endif
    if (new_tx) scanner_.AppTxBegin();
    std::vector<uint32_t> sids;
    scanner_.ScanApp(*set_, tp.packet(), flow_, dir, *state_, in,
                     [&](uint32_t rule) { sids.push_back(set_->rules()[rule].sid); });
    return sids;
  }

  Scanner& scanner() { return scanner_; }
  flow::Flow& flow() { return flow_; }

 private:
  const patterns::PatternSet* set_;
  Scanner scanner_;
  std::unique_ptr<RuleState> state_;
  flow::Flow flow_;
};

inline std::vector<uint32_t> Scan(const patterns::PatternSet& set, const TestPacket& tp) {
  Harness h(set);
  return h.Sids(tp);
}

inline std::string Hex(std::string_view bytes) {
  if (bytes.empty()) return "||";
  std::string out = "|";
  for (unsigned char c : bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
    out += ' ';
  }
  out.back() = '|';
  return out;
}

// A rule's options and, per payload, the verdict Suricata 7.0.10 gives; mode: the plan the
// exact compile (kExactPlans) gives the rule.
struct VerdictCase {
  const char* name;
  std::string options;                                 // the rule's options before sid
  std::vector<std::pair<std::string, bool>> payloads;  // payload -> Suricata's verdict
  patterns::PayloadMode mode;
};

// Builds "alert tcp any any -> any any (msg:"case"; OPTIONS sid:1;)" with both compile plans:
// Hyperscan deciding alone where it can (the plan must be c.mode), and the sensor's default,
// where rules with several contents are pre-filtered by their fast pattern and confirmed. Then
// check(set, harness, packet, expected) for each payload, sent 198.51.100.7:1234 -> 10.20.0.9:80.
template <class Check>
void ExpectVerdicts(const VerdictCase& c, Check&& check) {
  const std::string text = "alert tcp any any -> any any (msg:\"case\"; " + c.options + " sid:1;)";
  for (const patterns::CompileOptions& compile : {kExactPlans, patterns::CompileOptions{}}) {
    SCOPED_TRACE(compile.fast_pattern_prefilter ? "fast-pattern plans" : "exact plans");
    auto set = Build(text, {}, compile);
    ASSERT_TRUE(set);
    if (!compile.fast_pattern_prefilter) {
      EXPECT_EQ(set->plan(0).mode, c.mode) << patterns::PayloadModeName(set->plan(0).mode);
    }
    Harness h(*set);
    for (const auto& [payload, expected] : c.payloads) {
      TestPacket p(payload, "198.51.100.7", 1234, "10.20.0.9", 80);
      check(*set, h, p, expected);
    }
  }
}

}  // namespace fs::scan::testing
