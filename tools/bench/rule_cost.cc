#include "tools/bench/rule_cost.h"

#include <fmt/core.h>
#include <hs/hs.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "tools/bench/hs_limit.h"
#include "tools/bench/rules_adapter.h"

namespace fs::bench {
namespace {

// One database's figures over the run.
struct Cost {
  std::string name;
  uint32_t expressions = 0;
  double seconds = 0;
  uint64_t bytes = 0, scans = 0, reports = 0;
  std::vector<uint64_t> per_expression;  // reports by expression id
};

int OnMatch(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  Cost* c = static_cast<Cost*>(ctx);
  if (id < c->per_expression.size()) ++c->per_expression[id];
  ++c->reports;
  return 0;
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
  const ScratchPtr scratch = compiled.AllocScratch(&error);
  if (!scratch) {
    fmt::print(stderr, "flowsentry-bench rule-cost: {}\n", error);
    return 1;
  }

  // Figures by database: the ones the scanner would use (CompiledRules::databases and
  // stream_databases), as the raw-Hyperscan mode scans them.
  std::map<const hs_database_t*, Cost> costs;
  auto cost_of = [&](const hs_database_t* db) -> Cost& {
    Cost& c = costs[db];
    if (c.name.empty()) {
      c.name = compiled.database_name(db);
      c.expressions = compiled.database_expressions(db);
      c.per_expression.assign(c.expressions, 0);
    }
    return c;
  };
  auto timed = [](Cost& c, uint32_t len, auto&& scan) {
    const auto t0 = std::chrono::steady_clock::now();
    const bool ok = scan() == HS_SUCCESS;
    c.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    c.bytes += len;
    ++c.scans;
    return ok;
  };
  // Per flow: a stream per direction and database (the direction's, its port group's).
  struct Open {
    hs_stream_t* hs = nullptr;
    Cost* cost = nullptr;
  };
  std::vector<Open> streams(size_t{payloads.flows} * 4);
  bool ok = true;
  for (int pass = 0; pass < o.passes && ok; ++pass) {
    for (const Payloads::Item& it : payloads.items) {
      const char* data = reinterpret_cast<const char*>(payloads.bytes.get() + it.offset);
      const int ac = compiled.addr_class(it.src, it.dst);
      const hs_database_t* db[2];
      const int n = compiled.databases(it.dir, it.proto, it.sport, it.dport, ac, db);
      for (int i = 0; i < n; ++i) {
        Cost& c = cost_of(db[i]);
        ok &= timed(c, it.len, [&] {
          return hs_scan(db[i], data, it.len, 0, scratch.get(), OnMatch, &c);
        });
      }
      const int ns = compiled.stream_databases(it.dir, it.proto, it.sport, it.dport, ac, db);
      for (int i = 0; i < ns; ++i) {
        Open& s = streams[size_t{it.flow} * 4 + it.dir * 2u + static_cast<unsigned>(i)];
        if (s.hs == nullptr) {
          if (hs_open_stream(db[i], 0, &s.hs) != HS_SUCCESS) {
            s = Open{};
            ok = false;
            continue;
          }
          s.cost = &cost_of(db[i]);
        }
        ok &= timed(*s.cost, it.len, [&] {
          return hs_scan_stream(s.hs, data, it.len, 0, scratch.get(), OnMatch, s.cost);
        });
      }
    }
    for (Open& s : streams) {  // end-of-data reports, then the next pass opens new streams
      if (s.hs == nullptr) continue;
      hs_close_stream(s.hs, scratch.get(), OnMatch, s.cost);
      s = Open{};
    }
  }
  if (!ok) {
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
      for (uint32_t rule : compiled.rules_of(db, e)) {
        RuleReports& r = by_rule[rule];
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
               c->expressions, c->scans / passes, c->bytes / passes / 1e6,
               c->bytes != 0 ? c->seconds * 1e9 / static_cast<double>(c->bytes) : 0.0,
               c->reports / passes, total_s > 0 ? 100.0 * c->seconds / total_s : 0.0);
  }
  fmt::print("\nrules whose literals report most (each report: a header check, often a "
             "confirmation):\n");
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  for (size_t i = 0; i < rules.size() && i < static_cast<size_t>(o.top); ++i) {
    const CompiledRules::RuleInfo r = compiled.rule_info(rules[i].second);
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
                     {"expressions", c->expressions},
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
