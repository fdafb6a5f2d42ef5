#include "tools/bench/rules_adapter.h"

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
  set_ = std::move(compiled.value());
  compile_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return true;
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
