// Suricata/Snort rule files -> Rule AST. The documented subset (see docs and ARCHITECTURE.md
// section 4) is parsed into Rules; anything Suricata knows but the sensor does not evaluate yet
// (another action, an app-layer protocol, a sticky buffer, byte_test, ...) skips the whole rule
// with a warning naming it, and anything Suricata itself would refuse is an error naming
// FILE:LINE:COLUMN and the reason. Control plane only; never throws.
//
// Typical use:
//   ParseResult r = LoadRules({"/etc/flowsentry/rules"}, ParseOptions{});
//   for (const Diagnostic& e : r.errors) log(e.ToString());
//   auto set = PatternSet::Compile(std::move(r.rules), generation);
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "patterns/classification.h"
#include "patterns/rule.h"
#include "patterns/vars.h"

namespace fs::patterns {

class SourceText;

struct ParseOptions {
  Vars vars = Vars::SuricataDefaults();
  // Rules that would be skipped (unsupported action/protocol/keyword, unknown classtype) are
  // errors instead: for CI checks of a rule pack that must load completely.
  bool strict = false;
  // Optional classification.config; "" = none (rules then get severity from priority, else 3).
  std::string classification_file;
};

struct ParseStats {
  size_t files = 0;       // rule files read
  size_t rules_seen = 0;  // rules found (comments and blank lines excluded)
  size_t skipped = 0;     // left out with a warning (not supported yet)
  size_t rejected = 0;    // left out with an error
};

struct ParseResult {
  std::vector<Rule> rules;  // accepted rules, in file order
  std::vector<Diagnostic> warnings;
  std::vector<Diagnostic> errors;
  ParseStats stats;

  bool ok() const { return errors.empty(); }
};

// Accumulates rules from several sources (files, directories, text) so that duplicate sids are
// found across all of them. One instance per load; not thread-safe.
class RuleParser {
 public:
  // Loads options.classification_file now (its errors end up in the result).
  explicit RuleParser(ParseOptions options);

  // A file, or a directory whose *.rules files are read in sorted name order (not recursive).
  void AddPath(const std::string& path);
  // Rule text as if read from `file_name` (tests, API uploads).
  void AddText(std::string_view text, std::string_view file_name);

  ParseResult Finish() &&;

 private:
  void AddFile(const std::string& path);
  void ParseText(std::string_view text, const std::string& file);
  void ParseRule(const SourceText& src, const std::string& file);

  ParseOptions options_;
  ClassificationMap classification_;
  bool have_classification_ = false;
  // (gid, sid) -> "FILE:LINE" of the first rule that used it.
  std::map<std::pair<uint32_t, uint32_t>, std::string> sids_;
  ParseResult result_;
};

// Convenience wrappers around RuleParser.
ParseResult LoadRules(const std::vector<std::string>& paths, const ParseOptions& options);
ParseResult ParseRules(std::string_view text, std::string_view file_name,
                       const ParseOptions& options);

}  // namespace fs::patterns
