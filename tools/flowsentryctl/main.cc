// flowsentryctl: the operator's command-line tool. Each subcommand group registers itself on the
// CLI11 app and leaves the function to run in `command`; main() parses, runs it and maps the
// outcome to the exit code. Later subcommands (status, reload, ...) talk to the sensor's API and
// register the same way.
//
// Exit codes: 0 ok (warnings allowed), 1 the command failed (rule errors, compile failure,
// unreadable files), 2 usage error (reported by CLI11).
#include <fmt/format.h>
#include <hs/hs.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"

#ifndef FS_VERSION
#define FS_VERSION "unknown"
#endif

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr size_t kTopSkipReasons = 20;

using Command = std::function<int()>;

// ---- rules check ----------------------------------------------------------------------------

struct RulesCheckArgs {
  std::vector<std::string> paths;
  bool json = false;
  bool strict = false;
  bool verbose = false;
  std::string classification;
};

struct CompileReport {
  bool ok = true;
  std::string error;
  double seconds = 0;
  size_t rules = 0;
  uint32_t expressions = 0;
  size_t database_bytes = 0;
  std::string content_hash;
  fs::patterns::CompileStats stats;
  std::vector<fs::patterns::Diagnostic> warnings;
};

nlohmann::ordered_json DiagnosticJson(const fs::patterns::Diagnostic& d) {
  nlohmann::ordered_json j = {
      {"file", d.file}, {"line", d.line}, {"column", d.column}, {"message", d.message}};
  if (!d.keyword.empty()) j["keyword"] = d.keyword;
  return j;
}

int RunRulesCheck(const RulesCheckArgs& args) {
  fs::patterns::ParseOptions options;
  options.strict = args.strict;
  options.classification_file = args.classification;
  fs::patterns::ParseResult parsed = fs::patterns::LoadRules(args.paths, options);

  // Skipped rules by reason, most frequent first.
  std::map<std::string, size_t> by_keyword;
  std::vector<const fs::patterns::Diagnostic*> other_warnings;
  for (const fs::patterns::Diagnostic& w : parsed.warnings) {
    if (w.keyword.empty()) {
      other_warnings.push_back(&w);
    } else {
      ++by_keyword[w.keyword];
    }
  }
  std::vector<std::pair<std::string, size_t>> top(by_keyword.begin(), by_keyword.end());
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (top.size() > kTopSkipReasons) top.resize(kTopSkipReasons);

  const fs::patterns::ParseStats stats = parsed.stats;
  const size_t accepted = parsed.rules.size();
  CompileReport compile;
  const auto start = std::chrono::steady_clock::now();
  auto set = fs::patterns::PatternSet::Compile(std::move(parsed.rules), /*generation=*/0);
  compile.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (set) {
    compile.rules = (*set)->size();
    compile.expressions = (*set)->expression_count();
    compile.database_bytes = (*set)->database_bytes();
    compile.content_hash = (*set)->content_hash();
    compile.stats = (*set)->stats();
    compile.warnings = (*set)->warnings();
  } else {
    compile.ok = false;
    compile.error = set.error().message;
  }
  const bool ok = parsed.errors.empty() && compile.ok;

  if (args.json) {
    nlohmann::ordered_json j;
    j["ok"] = ok;
    j["files"] = stats.files;
    j["rules_seen"] = stats.rules_seen;
    j["accepted"] = accepted;
    j["accepted_share"] =
        stats.rules_seen == 0 ? 0.0 : static_cast<double>(accepted) / stats.rules_seen;
    j["skipped"] = stats.skipped;
    j["rejected"] = stats.rejected;
    j["skipped_by_keyword"] = nlohmann::ordered_json::array();
    for (const auto& [keyword, count] : top) {
      j["skipped_by_keyword"].push_back({{"keyword", keyword}, {"count", count}});
    }
    j["errors"] = nlohmann::ordered_json::array();
    for (const auto& e : parsed.errors) j["errors"].push_back(DiagnosticJson(e));
    j["warnings"] = nlohmann::ordered_json::array();
    for (const auto* w : other_warnings) j["warnings"].push_back(DiagnosticJson(*w));
    for (const auto& w : compile.warnings) j["warnings"].push_back(DiagnosticJson(w));
    if (args.verbose) {
      j["skipped_rules"] = nlohmann::ordered_json::array();
      for (const auto& w : parsed.warnings) {
        if (!w.keyword.empty()) j["skipped_rules"].push_back(DiagnosticJson(w));
      }
    }
    nlohmann::ordered_json c = {{"ok", compile.ok}, {"seconds", compile.seconds}};
    if (compile.ok) {
      const fs::patterns::CompileStats& st = compile.stats;
      c["rules"] = compile.rules;
      c["expressions"] = compile.expressions;
      c["expressions_to_server"] = st.expressions[0];
      c["expressions_to_client"] = st.expressions[1];
      c["shared_database"] = st.shared_database;
      c["header_only_rules"] = st.header_only;
      c["ip_only_rules"] = st.ip_only;
      c["exact_rules"] = st.exact;
      c["confirmed_rules"] = st.confirm;
      c["confirmed_unfiltered_rules"] = st.confirm_unfiltered;
      c["never_matching_rules"] = st.never;
      c["demoted_rules"] = st.demoted;
      c["stream_rules"] = st.stream_rules;
      c["stream_refused_rules"] = st.stream_refused;
      c["stream_state_bytes"] = st.stream_state_bytes;
      c["pcres"] = {{"total", st.pcres},
                    {"exact", st.pcre_exact},
                    {"prefilter", st.pcre_prefilter},
                    {"software", st.pcre_software}};
      c["database_bytes"] = compile.database_bytes;
      c["content_hash"] = compile.content_hash;
    } else {
      c["error"] = compile.error;
    }
    j["compile"] = c;
    // Rule files are not guaranteed UTF-8: replace invalid bytes rather than throw.
    fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    return ok ? kExitOk : kExitFailure;
  }

  fmt::print("files:      {}\n", stats.files);
  fmt::print("rules seen: {}\n", stats.rules_seen);
  fmt::print(
      "accepted:   {} ({:.1f}% of the rules seen)\n", accepted,
      stats.rules_seen == 0 ? 0.0 : 100.0 * static_cast<double>(accepted) / stats.rules_seen);
  fmt::print("skipped:    {} (not supported yet)\n", stats.skipped);
  fmt::print("errors:     {}\n", parsed.errors.size());
  if (!top.empty()) {
    fmt::print("\nskipped rules by reason{}:\n", by_keyword.size() > kTopSkipReasons
                                                     ? fmt::format(" (top {})", kTopSkipReasons)
                                                     : std::string());
    for (const auto& [keyword, count] : top) fmt::print("  {:>8}  {}\n", count, keyword);
  }
  if (args.verbose) {
    bool first = true;
    for (const auto& w : parsed.warnings) {
      if (w.keyword.empty()) continue;
      if (first) fmt::print("\nskipped rules:\n");
      first = false;
      fmt::print("  {}\n", w.ToString());
    }
  }
  if (!other_warnings.empty() || !compile.warnings.empty()) {
    fmt::print("\nwarnings:\n");
    for (const auto* w : other_warnings) fmt::print("  {}\n", w->ToString());
    for (const auto& w : compile.warnings) fmt::print("  {}\n", w.ToString());
  }
  if (!parsed.errors.empty()) {
    fmt::print("\nerrors:\n");
    for (const auto& e : parsed.errors) fmt::print("  {}\n", e.ToString());
  }
  fmt::print("\n");
  if (compile.ok) {
    const fs::patterns::CompileStats& st = compile.stats;
    fmt::print(
        "compile:    ok, {} rules, {} expressions, {} database bytes, {:.3f} s, content hash {}\n",
        compile.rules, compile.expressions, compile.database_bytes, compile.seconds,
        compile.content_hash);
    fmt::print(
        "            {} exact in Hyperscan, {} confirmed in software ({} without a Hyperscan "
        "pre-filter), {} header-only ({} IP-only), {} can never match\n",
        st.exact, st.confirm, st.confirm_unfiltered, st.header_only, st.ip_only, st.never);
    fmt::print("            pcre: {} total, {} exact, {} pre-filtered, {} software only\n",
               st.pcres, st.pcre_exact, st.pcre_prefilter, st.pcre_software);
    fmt::print(
        "            stream: {} rules also match across TCP segments ({} refused in stream mode), "
        "{} bytes of Hyperscan state per stream\n",
        st.stream_rules, st.stream_refused, st.stream_state_bytes);
  } else {
    fmt::print("compile:    FAILED after {:.3f} s: {}\n", compile.seconds, compile.error);
  }
  fmt::print("result:     {}\n", ok ? "OK" : "FAILED");
  return ok ? kExitOk : kExitFailure;
}

void AddRulesCommands(CLI::App& app, Command* command) {
  CLI::App* rules = app.add_subcommand("rules", "Work with rule files");
  rules->require_subcommand(1);

  auto args = std::make_shared<RulesCheckArgs>();
  CLI::App* check = rules->add_subcommand(
      "check", "Parse and compile rule files/directories; report what would load");
  check->add_option("paths", args->paths, "Rule files, or directories of *.rules files")
      ->required();
  check->add_flag("--json", args->json, "Print the report as one JSON object");
  check->add_flag("--strict", args->strict,
                  "Treat rules that would be skipped (unsupported keyword, protocol, action) as "
                  "errors");
  check->add_flag("-v,--verbose", args->verbose, "List every skipped rule");
  check->add_option("--classification", args->classification,
                    "classification.config giving classtype categories and priorities");
  check->callback([args, command] { *command = [args] { return RunRulesCheck(*args); }; });
}

std::string VersionString() {
  return fmt::format("flowsentryctl {} (hyperscan {})", FS_VERSION, hs_version());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flowsentryctl: check rule packs and operate a flowsentry sensor"};
  app.set_version_flag("--version", VersionString());
  app.require_subcommand(1);

  Command command;
  AddRulesCommands(app, &command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help/version or the usage error
    return rc == 0 ? kExitOk : kExitUsage;
  }
  try {
    return command ? command() : kExitUsage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "flowsentryctl: {}\n", e.what());
    return kExitFailure;
  }
}
