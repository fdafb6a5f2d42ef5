#include "tools/bench/rules_adapter.h"

#include <fmt/format.h>

#include <chrono>
#include <utility>

#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"

namespace fs::bench {

bool LoadAccepted(const std::vector<std::string>& paths, AcceptedRules* out, std::string* error) {
  patterns::ParseResult r = patterns::LoadRules(paths, patterns::ParseOptions{});
  *out = AcceptedRules{};
  out->seen = r.stats.rules_seen;
  out->skipped = r.stats.skipped;
  out->rejected = r.stats.rejected;
  for (const patterns::Diagnostic& d : r.errors) out->errors.push_back(d.ToString());
  if (r.stats.files == 0) {
    *error = "no rule file found in the given paths";
    return false;
  }
  out->texts.reserve(r.rules.size());
  for (const patterns::Rule& rule : r.rules) out->texts.push_back(rule.text);
  return true;
}

CompiledRules::CompiledRules() = default;
CompiledRules::~CompiledRules() = default;
CompiledRules::CompiledRules(CompiledRules&&) noexcept = default;
CompiledRules& CompiledRules::operator=(CompiledRules&&) noexcept = default;

bool CompiledRules::Compile(const std::vector<std::string>& paths, std::string* error) {
  const auto t0 = std::chrono::steady_clock::now();
  patterns::ParseResult r = patterns::LoadRules(paths, patterns::ParseOptions{});
  if (!r.errors.empty()) {
    *error = r.errors.front().ToString();
    if (r.errors.size() > 1) *error += " (and " + std::to_string(r.errors.size() - 1) + " more)";
    return false;
  }
  auto compiled = patterns::PatternSet::Compile(std::move(r.rules), 1);
  if (!compiled.ok()) {
    *error = compiled.error().message;
    return false;
  }
  Adopt(std::move(compiled.value()));
  compile_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return true;
}

void CompiledRules::Adopt(std::shared_ptr<const patterns::PatternSet> set) {
  set_ = std::move(set);
  compile_s_ = 0;
  Describe();
}

struct CompiledRules::Described {
  const patterns::PatternSet::Database* db;
  std::string name;
};

void CompiledRules::Describe() {
  using Database = patterns::PatternSet::Database;
  described_.clear();
  // The first name wins for a database several entries share (directions, address classes).
  auto add = [&](const Database& db, std::string name) {
    if (db.db == nullptr) return;
    described_.try_emplace(db.db.get(),
                           std::make_shared<const Described>(Described{&db, std::move(name)}));
  };
  // A port group's ports, as "tcp/445" or "tcp/139+2 more".
  auto ports_of = [](const Database& grouped, size_t g) {
    std::string first;
    size_t n = 0;
    for (uint32_t key = 0; key < grouped.group_of.size(); ++key) {
      if (grouped.group_of[key] != g + 1) continue;
      if (n++ == 0) first = fmt::format("{}/{}", key >> 16 ? "udp" : "tcp", key & 0xffff);
    }
    return n > 1 ? fmt::format("{}+{} more", first, n - 1) : first;
  };
  for (int d = 0; d < patterns::kScanDirs; ++d) {
    const auto sd = static_cast<patterns::ScanDir>(d);
    const char* dir = d == 0 ? "to-server" : "to-client";
    for (int a = 0; a < patterns::kAddrClasses; ++a) {
      // Named by class only where the two classes have databases of their own.
      auto suffix = [&](const Database& other, const Database& home) {
        if (&other == &home) return std::string();
        return std::string(a == 1 ? " (home to home)" : " (any other)");
      };
      for (int c = 0; c < patterns::kProtoClasses; ++c) {
        add(set_->class_database(sd, c, a),
            fmt::format("packet {} {}{}", c == patterns::ProtoClassOf(patterns::kIpProtoTcp)
                                              ? "tcp" : "other",
                        dir,
                        suffix(set_->class_database(sd, c, 0), set_->class_database(sd, c, 1))));
      }
      add(set_->outside_database(sd, a),
          fmt::format("outside {}{}", dir,
                      suffix(set_->outside_database(sd, 0), set_->outside_database(sd, 1))));
      add(set_->stream_class_database(sd, a),
          fmt::format("stream {}{}", dir,
                      suffix(set_->stream_class_database(sd, 0),
                             set_->stream_class_database(sd, 1))));
    }
    for (const auto& [grouped, kind] : {std::pair{&set_->database(sd), "port group"},
                                        std::pair{&set_->stream_database(sd), "stream port group"}}) {
      for (size_t g = 0; g < grouped->groups.size(); ++g) {
        add(grouped->groups[g], fmt::format("{} {} {}", kind, ports_of(*grouped, g), dir));
      }
    }
  }
}

std::string CompiledRules::database_name(const hs_database_t* db) const {
  auto it = described_.find(db);
  return it == described_.end() ? std::string() : it->second->name;
}

uint32_t CompiledRules::database_expressions(const hs_database_t* db) const {
  auto it = described_.find(db);
  return it == described_.end() ? 0 : it->second->db->expressions;
}

std::vector<uint32_t> CompiledRules::rules_of(const hs_database_t* db, uint32_t expression) const {
  std::vector<uint32_t> out;
  auto it = described_.find(db);
  if (it == described_.end() || expression >= it->second->db->expressions) return out;
  for (const patterns::PatternSet::Target& t : it->second->db->TargetsOf(expression)) {
    out.push_back(t.rule);
  }
  return out;
}

CompiledRules::RuleInfo CompiledRules::rule_info(uint32_t index) const {
  if (!set_ || index >= set_->size()) return {};
  const patterns::Rule& r = set_->rules()[index];
  return {r.gid, r.sid, r.msg};
}

ScratchPtr CompiledRules::AllocScratch(std::string* error) const {
  const std::vector<const hs_database_t*> all = all_databases();
  if (all.empty()) {
    *error = "the rule set compiles to no Hyperscan expression: nothing to scan";
    return nullptr;
  }
  hs_scratch_t* raw = nullptr;
  for (const hs_database_t* d : all) {
    if (hs_alloc_scratch(d, &raw) != HS_SUCCESS) {
      hs_free_scratch(raw);
      *error = "hs_alloc_scratch failed";
      return nullptr;
    }
  }
  return ScratchPtr(raw);
}

namespace {

// first: the database scanned before the port group of `grouped` (nullptr: none).
int DatabasesOf(const hs_database_t* first, const patterns::PatternSet::Database& grouped, int dir,
                uint8_t proto, uint16_t sport, uint16_t dport, const hs_database_t* out[2]) {
  int n = 0;
  if (first != nullptr) out[n++] = first;
  const patterns::PatternSet::Database* group =
      grouped.GroupFor(proto, patterns::PatternSet::Database::ServerPort(dir, sport, dport));
  if (group != nullptr && group->db != nullptr) out[n++] = group->db.get();
  return n;
}

}  // namespace

int CompiledRules::addr_class(patterns::U128 src, patterns::U128 dst) const {
  return set_ ? set_->AddrClassOf(src, dst) : 0;
}

int CompiledRules::databases(int dir, uint8_t proto, uint16_t sport, uint16_t dport,
                             int addr_class, const hs_database_t* out[2]) const {
  if (!set_) return 0;
  const auto sd = static_cast<patterns::ScanDir>(dir);
  return DatabasesOf(set_->packet_database(sd, proto, addr_class).db.get(), set_->database(sd),
                     dir, proto, sport, dport, out);
}

int CompiledRules::stream_databases(int dir, uint8_t proto, uint16_t sport, uint16_t dport,
                                    int addr_class, const hs_database_t* out[2]) const {
  if (!set_ || proto != patterns::kIpProtoTcp || set_->stats().stream_rules == 0) return 0;
  const auto sd = static_cast<patterns::ScanDir>(dir);
  return DatabasesOf(set_->stream_class_database(sd, addr_class).db.get(),
                     set_->stream_database(sd), dir, proto, sport, dport, out);
}

std::vector<const hs_database_t*> CompiledRules::all_databases() const {
  std::vector<const hs_database_t*> all;
  for (int d = 0; set_ && d < patterns::kScanDirs; ++d) {
    const auto sd = static_cast<patterns::ScanDir>(d);
    for (const patterns::PatternSet::Database* db :
         {&set_->database(sd), &set_->stream_database(sd)}) {
      if (db->db != nullptr) all.push_back(db->db.get());
      for (const patterns::PatternSet::Database& g : db->groups) {
        if (g.db != nullptr) all.push_back(g.db.get());
      }
    }
    for (int a = 0; a < patterns::kAddrClasses; ++a) {
      const hs_database_t* s = set_->stream_class_database(sd, a).db.get();
      if (s != nullptr) all.push_back(s);
      for (int c = 0; c < patterns::kProtoClasses; ++c) {
        const patterns::PatternSet::Database& db = set_->class_database(sd, c, a);
        if (db.db != nullptr) all.push_back(db.db.get());
      }
    }
  }
  return all;
}

size_t CompiledRules::rules() const { return set_ ? set_->size() : 0; }
uint32_t CompiledRules::expressions() const { return set_ ? set_->expression_count() : 0; }
size_t CompiledRules::database_bytes() const { return set_ ? set_->database_bytes() : 0; }

}  // namespace fs::bench
