// The one place where the bench harness touches the rule compiler's API (patterns/), so that a
// change there is adapted here only: loads rule files as the sensor does (patterns::LoadRules
// with the Suricata default variables), keeps the accepted rules' texts for writing rule
// subsets, and compiles them with patterns::PatternSet::Compile into the databases that the
// raw-Hyperscan mode scans. Control path (harness main thread); never throws.
#pragma once

#include <hs/hs.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "patterns/range_set.h"

namespace fs::patterns {
class PatternSet;
}

namespace fs::bench {

struct AcceptedRules {
  std::vector<std::string> texts;  // one line per accepted rule, in file order
  size_t seen = 0, skipped = 0, rejected = 0;
  std::vector<std::string> errors;  // "FILE:LINE: reason" of rejected rules
};

// Parses rule files or directories (their *.rules) with the sensor's parser.
bool LoadAccepted(const std::vector<std::string>& paths, AcceptedRules* out, std::string* error);

struct ScratchDeleter {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};
using ScratchPtr = std::unique_ptr<hs_scratch_t, ScratchDeleter>;

// A compiled set and its two direction databases (to-server = 0, to-client = 1).
class CompiledRules {
 public:
  CompiledRules();
  ~CompiledRules();
  CompiledRules(CompiledRules&&) noexcept;
  CompiledRules& operator=(CompiledRules&&) noexcept;

  // Parses and compiles; on failure *error names the file/rule and the reason.
  bool Compile(const std::vector<std::string>& paths, std::string* error);
  // A set compiled elsewhere (the per-stage Google Benchmark programs compile with their own
  // CompileOptions); compile_seconds() is 0.
  void Adopt(std::shared_ptr<const patterns::PatternSet> set);

  // The address class of a payload from src to dst (PatternSet::AddrClassOf; 0 without rules).
  int addr_class(patterns::U128 src, patterns::U128 dst) const;
  // The packet databases a payload of direction dir and address class addr_class scans, as the
  // sensor's scanner: the direction's database of the payload's protocol and address class
  // (PatternSet::packet_database), then the
  // port group of its server-side port (proto 0 for a packet without ports: the non-TCP class,
  // where the sensor would take a TCP fragment's into the TCP one). Writes up to two, returns how
  // many (a direction without expressions has none).
  int databases(int dir, uint8_t proto, uint16_t sport, uint16_t dport, int addr_class,
                const hs_database_t* out[2]) const;
  // The stream databases a TCP payload of direction dir goes through in its flow's streams, as
  // the sensor's scanner: the direction's of the address class, then its server port's group
  // (none for other protocols).
  int stream_databases(int dir, uint8_t proto, uint16_t sport, uint16_t dport, int addr_class,
                       const hs_database_t* out[2]) const;
  // Every packet and stream database of the set (for sizing one scratch).
  std::vector<const hs_database_t*> all_databases() const;
  // A scratch for every one of them; nullptr with *error when Hyperscan refuses, or when the set
  // compiles to no expression.
  ScratchPtr AllocScratch(std::string* error) const;

  // Reading a scan's reports (flowsentry-bench rule-cost), for the databases above: what a
  // database is, in words ("packet tcp to-server (home to home)", "port group tcp/445
  // to-server", "stream to-client"), its expressions, and the rules an expression id announces
  // (indices for rule_info). "", 0 and nothing for a database of no set of this.
  std::string database_name(const hs_database_t* db) const;
  uint32_t database_expressions(const hs_database_t* db) const;
  std::vector<uint32_t> rules_of(const hs_database_t* db, uint32_t expression) const;
  struct RuleInfo {
    uint32_t gid = 0, sid = 0;
    std::string msg;
  };
  RuleInfo rule_info(uint32_t index) const;
  size_t rules() const;
  uint32_t expressions() const;
  size_t database_bytes() const;
  double compile_seconds() const { return compile_s_; }
  const patterns::PatternSet* set() const { return set_.get(); }

 private:
  std::shared_ptr<const patterns::PatternSet> set_;
  double compile_s_ = 0;
  struct Described;  // a database's PatternSet entry and name
  std::map<const hs_database_t*, std::shared_ptr<const Described>> described_;
  void Describe();
};

}  // namespace fs::bench
