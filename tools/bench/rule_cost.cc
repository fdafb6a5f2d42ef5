#include "tools/bench/rule_cost.h"

#include <fmt/core.h>
#include <hs/hs.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "patterns/pattern_set.h"
#include "tools/bench/hs_limit.h"
#include "tools/bench/rules_adapter.h"

namespace fs::bench {
namespace {

using patterns::PatternSet;
using Database = PatternSet::Database;

// One database's figures over the run.
struct Cost {
  std::string name;
  const Database* db = nullptr;
  double seconds = 0;
  uint64_t bytes = 0, scans = 0, reports = 0;
  std::vector<uint64_t> per_expression;  // reports by expression id
};

struct MatchCtx {
  Cost* cost;
};

int OnMatch(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  Cost* c = static_cast<MatchCtx*>(ctx)->cost;
  if (id < c->per_expression.size()) ++c->per_expression[id];
  ++c->reports;
  return 0;
}

struct ScratchFree {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};

const char* DirName(int d) { return d == 0 ? "to-server" : "to-client"; }
// The address class in a database's name, when the two classes have databases of their own.
std::string ClassSuffix(const Database* other, const Database* home, int a) {
  if (other == home) return "";
  return a == 1 ? " (home to home)" : " (any other)";
}

}  // namespace

int RunRuleCost(const RuleCostOptions& o) {
  std::string error;
  Payloads payloads;
  if (!ExtractPayloads(o.pcap, &payloads, &error)) {
    fmt::print(stderr, "flowsentry-bench rule-cost: {}\n", error);
    return 1;
  }
  CompiledRules compiled;
  if (!compiled.Compile(o.rules, &error)) {
    fmt::print(stderr, "flowsentry-bench rule-cost: {}\n", error);
    return 1;
  }
  const PatternSet& set = *compiled.set();
  hs_scratch_t* raw = nullptr;
  for (const hs_database_t* d : compiled.all_databases()) {
    if (hs_alloc_scratch(d, &raw) != HS_SUCCESS) {
      hs_free_scratch(raw);
      fmt::print(stderr, "flowsentry-bench rule-cost: hs_alloc_scratch failed\n");
      return 1;
    }
  }
  std::unique_ptr<hs_scratch_t, ScratchFree> scratch(raw);

  // Figures by database, keyed by the Database (directions and classes may share one).
  std::map<const Database*, Cost> costs;
  auto cost_of = [&](const Database* db, auto&& name) -> Cost& {
    Cost& c = costs[db];
    if (c.db == nullptr) {
      c.db = db;
      c.name = name();
      c.per_expression.assign(db->expressions, 0);
    }
    return c;
  };
  // Per flow and direction: the streams on the direction's stream database and its port group.
  struct Open {
    hs_stream_t* hs = nullptr;
    Cost* cost = nullptr;
  };
  std::vector<Open> streams(size_t{payloads.flows} * 4);
  bool failed = false;
  auto close_streams = [&] {
    for (Open& s : streams) {
      if (s.hs == nullptr) continue;
      MatchCtx m{s.cost};
      hs_close_stream(s.hs, scratch.get(), OnMatch, &m);
      s = Open{};
    }
  };
  for (int pass = 0; pass < o.passes && !failed; ++pass) {
    for (const Payloads::Item& it : payloads.items) {
      const auto sd = static_cast<patterns::ScanDir>(it.dir);
      const int ac = set.AddrClassOf(it.src, it.dst);
      const char* data = reinterpret_cast<const char*>(payloads.bytes.data() + it.offset);
      const uint8_t proto = it.proto;
      const Database& grouped = set.database(sd);
      const Database* group =
          grouped.GroupFor(proto, Database::ServerPort(it.dir, it.sport, it.dport));
      const uint16_t port = it.dir == 0 ? it.dport : it.sport;
      // Block mode: the packet database of the class, then the port's group.
      const Database* block[2] = {&set.packet_database(sd, proto, ac), group};
      for (int i = 0; i < 2; ++i) {
        const Database* db = block[i];
        if (db == nullptr || db->db == nullptr) continue;
        Cost& c = cost_of(db, [&] {
          return i == 0 ? fmt::format("packet {} {}{}",
                                      proto == patterns::kIpProtoTcp ? "tcp" : "other",
                                      DirName(it.dir),
                                      ClassSuffix(&set.packet_database(sd, proto, 0),
                                                  &set.packet_database(sd, proto, 1), ac))
                        : fmt::format("packet port group {}/{} {}",
                                      proto == patterns::kIpProtoTcp ? "tcp" : "udp", port,
                                      DirName(it.dir));
        });
        MatchCtx m{&c};
        const auto t0 = std::chrono::steady_clock::now();
        if (hs_scan(db->db.get(), data, it.len, 0, scratch.get(), OnMatch, &m) != HS_SUCCESS) {
          failed = true;
        }
        c.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        c.bytes += it.len;
        ++c.scans;
      }
      if (proto != patterns::kIpProtoTcp || set.stats().stream_rules == 0) continue;
      // Stream mode: the flow's streams (a direction keeps the class it opened with).
      const Database& sgrouped = set.stream_database(sd);
      const Database* sgroup =
          sgrouped.GroupFor(proto, Database::ServerPort(it.dir, it.sport, it.dport));
      const Database* sdbs[2] = {&set.stream_class_database(sd, ac), sgroup};
      for (int i = 0; i < 2; ++i) {
        const Database* db = sdbs[i];
        if (db == nullptr || db->db == nullptr) continue;
        Open& s = streams[size_t{it.flow} * 4 + it.dir * 2u + static_cast<unsigned>(i)];
        if (s.hs == nullptr) {
          s.cost = &cost_of(db, [&] {
            return i == 0 ? fmt::format("stream {}{}", DirName(it.dir),
                                        ClassSuffix(&set.stream_class_database(sd, 0),
                                                    &set.stream_class_database(sd, 1), ac))
                          : fmt::format("stream port group tcp/{} {}", port, DirName(it.dir));
          });
          if (hs_open_stream(db->db.get(), 0, &s.hs) != HS_SUCCESS) {
            s = Open{};
            failed = true;
            continue;
          }
        }
        MatchCtx m{s.cost};
        const auto t0 = std::chrono::steady_clock::now();
        if (hs_scan_stream(s.hs, data, it.len, 0, scratch.get(), OnMatch, &m) != HS_SUCCESS) {
          failed = true;
        }
        s.cost->seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        s.cost->bytes += it.len;
        ++s.cost->scans;
      }
    }
    close_streams();
  }
  if (failed) {
    fmt::print(stderr, "flowsentry-bench rule-cost: a Hyperscan scan failed\n");
    return 1;
  }

  // Reports by rule: each report of an expression counts for every rule it announces.
  struct RuleReports {
    uint64_t reports = 0;
    std::map<std::string, uint64_t> by_database;
  };
  std::map<uint32_t, RuleReports> by_rule;
  std::vector<const Cost*> order;
  double total_s = 0;
  for (auto& [db, c] : costs) {
    order.push_back(&c);
    total_s += c.seconds;
    for (uint32_t e = 0; e < c.per_expression.size(); ++e) {
      if (c.per_expression[e] == 0) continue;
      for (const PatternSet::Target& t : db->TargetsOf(e)) {
        RuleReports& r = by_rule[t.rule];
        r.reports += c.per_expression[e];
        r.by_database[c.name] += c.per_expression[e];
      }
    }
  }
  std::sort(order.begin(), order.end(),
            [](const Cost* a, const Cost* b) { return a->seconds > b->seconds; });
  std::vector<std::pair<uint64_t, uint32_t>> rules;
  for (const auto& [rule, r] : by_rule) rules.emplace_back(r.reports, rule);
  std::sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });

  const double passes = o.passes;
  fmt::print(
      "{}: {} payloads, {:.1f} MB of payload; {} rules, {} expressions; {} pass(es), figures "
      "per pass\n\n",
      o.pcap, payloads.items.size(), payloads.payload_bytes / 1e6, compiled.rules(),
      compiled.expressions(), o.passes);
  fmt::print("{:<46} {:>6} {:>9} {:>9} {:>8} {:>10} {:>7}\n", "database", "exprs", "scans", "MB",
             "ns/byte", "reports", "time");
  for (const Cost* c : order) {
    fmt::print("{:<46} {:>6} {:>9.0f} {:>9.1f} {:>8.2f} {:>10.0f} {:>6.1f}%\n", c->name,
               c->db->expressions, c->scans / passes, c->bytes / passes / 1e6,
               c->bytes != 0 ? c->seconds * 1e9 / static_cast<double>(c->bytes) : 0.0,
               c->reports / passes, total_s > 0 ? 100.0 * c->seconds / total_s : 0.0);
  }
  fmt::print("\nrules whose literals report most (each report: a header check, often a "
             "confirmation):\n");
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  for (size_t i = 0; i < rules.size() && i < static_cast<size_t>(o.top); ++i) {
    const patterns::Rule& r = set.rules()[rules[i].second];
    const RuleReports& rr = by_rule[rules[i].second];
    std::string where;
    for (const auto& [name, n] : rr.by_database) {
      where += fmt::format("{}{} {:.0f}", where.empty() ? "" : ", ", name, n / passes);
    }
    fmt::print("  {:>10.0f}  {}:{} {}  [{}]\n", rules[i].first / passes, r.gid, r.sid, r.msg,
               where);
    top.push_back({{"gid", r.gid},
                   {"sid", r.sid},
                   {"msg", r.msg},
                   {"reports_per_pass", rules[i].first / passes}});
  }
  if (!o.json.empty()) {
    nlohmann::ordered_json dbs = nlohmann::ordered_json::array();
    for (const Cost* c : order) {
      dbs.push_back({{"database", c->name},
                     {"expressions", c->db->expressions},
                     {"scans_per_pass", c->scans / passes},
                     {"bytes_per_pass", c->bytes / passes},
                     {"seconds_per_pass", c->seconds / passes},
                     {"reports_per_pass", c->reports / passes}});
    }
    nlohmann::ordered_json j = {{"capture", o.pcap},
                                {"payloads", payloads.items.size()},
                                {"rules", compiled.rules()},
                                {"expressions", compiled.expressions()},
                                {"passes", o.passes},
                                {"databases", std::move(dbs)},
                                {"top_rules", std::move(top)}};
    std::ofstream out(o.json);
    out << j.dump(2) << "\n";
    if (!out) {
      fmt::print(stderr, "flowsentry-bench rule-cost: cannot write {}\n", o.json);
      return 1;
    }
  }
  return 0;
}

}  // namespace fs::bench
