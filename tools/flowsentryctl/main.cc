// flowsentryctl: the operator's command-line tool. Each subcommand group registers itself on the
// CLI11 app and leaves the function to run in `command`; main() parses, runs it and maps the
// outcome to the exit code. The online subcommands (status, reload, rules list/show, alerts tail,
// eve reopen, blocks list/add/del) talk to the sensor's operator API (controlplane/api/api.h)
// over HTTP.
//
// Exit codes: 0 ok (warnings allowed), 1 the command failed (rule errors, compile failure,
// unreadable files; the sensor answered with an error, the reload failed or the enforcement
// policy refused a block), 2 usage error
// (reported by CLI11), 3 cannot connect to the sensor's API.
#include <fmt/format.h>
#include <hs/hs.h>
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
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
constexpr int kExitConnect = 3;
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
      c["protocol_classes"] = {{"tcp_to_server", st.class_expressions[0][0]},
                               {"tcp_to_client", st.class_expressions[1][0]},
                               {"other_to_server", st.class_expressions[0][1]},
                               {"other_to_client", st.class_expressions[1][1]}};
      {
        // Expressions by address class: [to-server, to-client] x [tcp, other, stream].
        nlohmann::ordered_json classes = nlohmann::ordered_json::array();
        static constexpr const char* kNames[fs::patterns::kAddrClasses] = {"other",
                                                                           "home_to_home"};
        for (int a = 0; a < fs::patterns::kAddrClasses; ++a) {
          classes.push_back({{"class", kNames[a]},
                             {"tcp_to_server", st.addr_class_expressions[0][0][a]},
                             {"tcp_to_client", st.addr_class_expressions[1][0][a]},
                             {"other_to_server", st.addr_class_expressions[0][1][a]},
                             {"other_to_client", st.addr_class_expressions[1][1][a]},
                             {"stream_to_server", st.stream_addr_class_expressions[0][a]},
                             {"stream_to_client", st.stream_addr_class_expressions[1][a]}});
        }
        c["address_classes"] = {{"home_ranges", st.home_ranges},
                                {"databases", st.addr_class_databases},
                                {"classes", std::move(classes)}};
      }
      c["port_groups"] = {{"to_server", st.port_groups[0]},
                          {"to_client", st.port_groups[1]},
                          {"rules_to_server", st.port_grouped_rules[0]},
                          {"rules_to_client", st.port_grouped_rules[1]},
                          {"stream_to_server", st.stream_port_groups[0]},
                          {"stream_to_client", st.stream_port_groups[1]},
                          {"stream_rules_to_server", st.stream_port_grouped_rules[0]},
                          {"stream_rules_to_client", st.stream_port_grouped_rules[1]}};
      c["header_only_rules"] = st.header_only;
      c["ip_only_rules"] = st.ip_only;
      c["exact_rules"] = st.exact;
      c["confirmed_rules"] = st.confirm;
      c["confirmed_unfiltered_rules"] = st.confirm_unfiltered;
      c["never_matching_rules"] = st.never;
      c["demoted_rules"] = st.demoted;
      c["stream_rules"] = st.stream_rules;
      c["stream_refused_rules"] = st.stream_refused;
      c["stream_only_rules"] = st.stream_only;
      c["stream_state_bytes"] = st.stream_state_bytes;
      c["pcres"] = {{"total", st.pcres},
                    {"exact", st.pcre_exact},
                    {"prefilter", st.pcre_prefilter},
                    {"software", st.pcre_software}};
      nlohmann::ordered_json by_proto = nlohmann::ordered_json::object();
      for (int i = 1; i < fs::patterns::kAppProtoCount; ++i) {
        by_proto[fs::patterns::AppProtoName(static_cast<fs::patterns::AppProto>(i))] =
            st.app_by_proto[i];
      }
      c["app_layer"] = {{"rules", st.app_rules},
                        {"by_protocol", by_proto},
                        {"unfiltered_rules", st.app_unfiltered},
                        {"raw_payload_rules", st.app_raw_payload},
                        {"payload_rules_of_a_protocol", st.proto_payload},
                        {"prefilter_literals", st.app_expressions}};
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
        "            protocol classes: TCP payloads scan {} to-server and {} to-client expressions "
        "(tcp and ip rules), other payloads {} and {}, before their port's group\n",
        st.class_expressions[0][0], st.class_expressions[1][0], st.class_expressions[0][1],
        st.class_expressions[1][1]);
    if (st.home_ranges != 0) {
      // Class 1: home to home; 0: any other.
      auto cls = [&](int a) {
        return fmt::format("TCP {}/{}, other {}/{}, stream {}/{}",
                           st.addr_class_expressions[0][0][a], st.addr_class_expressions[1][0][a],
                           st.addr_class_expressions[0][1][a], st.addr_class_expressions[1][1][a],
                           st.stream_addr_class_expressions[0][a],
                           st.stream_addr_class_expressions[1][a]);
      };
      fmt::print(
          "            address classes: between two hosts of the home set ({} ranges) {}; any "
          "other {} (to-server/to-client expressions, {} databases)\n",
          st.home_ranges, cls(1), cls(0), st.addr_class_databases);
    }
    if (st.port_groups[0] + st.port_groups[1] != 0) {
      fmt::print(
          "            port groups: {} to-server ({} rules), {} to-client ({} rules) scanned only "
          "for their ports\n",
          st.port_groups[0], st.port_grouped_rules[0], st.port_groups[1],
          st.port_grouped_rules[1]);
      fmt::print("            stream port groups: {} to-server ({} rules), {} to-client ({} rules)\n",
                 st.stream_port_groups[0], st.stream_port_grouped_rules[0],
                 st.stream_port_groups[1], st.stream_port_grouped_rules[1]);
    }
    fmt::print(
        "            stream: {} rules also match across TCP segments ({} refused in stream mode; {} "
        "of them on TCP through the stream only), {} bytes of Hyperscan state per stream\n",
        st.stream_rules, st.stream_refused, st.stream_only, st.stream_state_bytes);
    fmt::print(
        "            app layer: {} rules (http {}, dns {}, tls {}, smb {}), {} without a fast "
        "pattern (every transaction), {} pre-filter literals, {} also on the raw payload; {} "
        "packet rules of an app protocol (alert http ... without buffers)\n",
        st.app_rules, st.app_by_proto[static_cast<int>(fs::patterns::AppProto::kHttp)],
        st.app_by_proto[static_cast<int>(fs::patterns::AppProto::kDns)],
        st.app_by_proto[static_cast<int>(fs::patterns::AppProto::kTls)],
        st.app_by_proto[static_cast<int>(fs::patterns::AppProto::kSmb)], st.app_unfiltered,
        st.app_expressions, st.app_raw_payload, st.proto_payload);
  } else {
    fmt::print("compile:    FAILED after {:.3f} s: {}\n", compile.seconds, compile.error);
  }
  fmt::print("result:     {}\n", ok ? "OK" : "FAILED");
  return ok ? kExitOk : kExitFailure;
}

CLI::App* AddRulesCommands(CLI::App& app, Command* command) {
  CLI::App* rules = app.add_subcommand("rules", "Work with rule files and the running rules");
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
  return rules;
}

// ---- online commands: the sensor's operator API ----------------------------------------------

struct ApiOptions {
  std::string url = "http://127.0.0.1:9581";
  std::string token_file;
  bool json = false;
};

// One API call: the parsed JSON answer, or the exit code to return (message already printed).
struct ApiAnswer {
  int exit_code = kExitOk;
  nlohmann::json body;
};

// method is GET, POST or DELETE; body is sent with a POST (empty: no body).
ApiAnswer CallApi(const ApiOptions& o, const std::string& method, const std::string& path,
                  const std::string& body = "") {
  ApiAnswer a;
  httplib::Headers headers;
  if (!o.token_file.empty()) {
    std::ifstream in(o.token_file);
    std::string line;
    if (!in || !std::getline(in, line) || line.find_first_not_of(" \t\r") == std::string::npos) {
      fmt::print(stderr, "flowsentryctl: cannot read a token from '{}'\n", o.token_file);
      a.exit_code = kExitUsage;
      return a;
    }
    const auto first = line.find_first_not_of(" \t\r");
    const auto last = line.find_last_not_of(" \t\r");
    headers.insert({"Authorization", "Bearer " + line.substr(first, last - first + 1)});
  }
  httplib::Client client(o.url);
  if (!client.is_valid()) {
    fmt::print(stderr, "flowsentryctl: --url: expected http://HOST:PORT, got '{}'\n", o.url);
    a.exit_code = kExitUsage;
    return a;
  }
  client.set_connection_timeout(5);
  client.set_read_timeout(60);  // a reload compiles the rules before it answers
  httplib::Result res = method == "POST"     ? client.Post(path, headers, body, "application/json")
                        : method == "DELETE" ? client.Delete(path, headers)
                                             : client.Get(path, headers);
  if (!res) {
    fmt::print(stderr, "flowsentryctl: cannot connect to the sensor's API at {} ({} error)\n",
               o.url, httplib::to_string(res.error()));
    a.exit_code = kExitConnect;
    return a;
  }
  a.body = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (a.body.is_discarded()) {
    fmt::print(stderr, "flowsentryctl: {} answered HTTP {} with something that is not JSON\n",
               o.url, res->status);
    a.exit_code = kExitFailure;
    return a;
  }
  if (res->status >= 400) {
    a.exit_code = kExitFailure;
    if (o.json) {
      fmt::print("{}\n", a.body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    std::string error = "(no message)";
    if (a.body.is_object() && a.body.contains("error") && a.body["error"].is_string()) {
      error = a.body["error"].get<std::string>();
    }
    if (res->status == 409) {
      // The enforcement policy refused a block: the reason is the message, not the HTTP call.
      fmt::print(stderr, "flowsentryctl: {}{}\n",
                 error.starts_with("refused") ? "" : "refused: ", error);
    } else {
      fmt::print(stderr, "flowsentryctl: {} {}: HTTP {}: {}{}\n", method, path, res->status, error,
                 res->status == 401 && o.token_file.empty()
                     ? " (give the token with --token-file FILE)"
                     : "");
    }
  }
  return a;
}

void PrintJson(const nlohmann::json& j) {
  fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

// Readable field access for the human tables: a missing field prints as "-".
std::string Field(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "-";
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.3f}", v.get<double>());
  return v.dump();
}

int RunStatus(const ApiOptions& o) {
  ApiAnswer a = CallApi(o, "GET", "/api/v1/status");
  if (a.exit_code != kExitOk) return a.exit_code;
  if (o.json) {
    PrintJson(a.body);
    return kExitOk;
  }
  const auto& j = a.body;
  const double up = j.value("uptime_seconds", 0.0);
  fmt::print("flowsentry {}, up {}h {:02}m {:02}s\n", Field(j, "version"), int(up) / 3600,
             int(up) / 60 % 60, int(up) % 60);
  if (j.contains("pattern_set")) {
    const auto& p = j["pattern_set"];
    fmt::print("pattern set  generation {}, hash {}, {} rules\n", Field(p, "generation"),
               Field(p, "content_hash"), Field(p, "rules"));
  }
  if (j.contains("indicator_lists") && j["indicator_lists"].is_array() &&
      !j["indicator_lists"].empty()) {
    std::string lists;
    for (const auto& l : j["indicator_lists"]) {
      lists += fmt::format("{}{} ({} entries)", lists.empty() ? "" : ", ", Field(l, "name"),
                           Field(l, "entries"));
    }
    fmt::print("indicators   {}\n", lists);
  }
  if (j.contains("enforcement") && j["enforcement"].is_object()) {
    const auto& e = j["enforcement"];
    std::string backends;
    const bool dry_run = e.value("dry_run", false);
    if (e.contains("backends") && e["backends"].is_array()) {
      for (const auto& b : e["backends"]) {
        // A dry run never starts its backends.
        backends += fmt::format("{}{} {}", backends.empty() ? "" : ", ", Field(b, "name"),
                                dry_run                       ? "idle"
                                : b.value("available", false) ? "up"
                                                              : "DOWN");
      }
    }
    fmt::print("enforcement  {} active block(s){}{}\n", Field(e, "active_blocks"),
               dry_run ? " (dry run)" : "",
               backends.empty() ? std::string(", no backend") : "; " + backends);
  }
  if (j.contains("totals")) {
    const auto& t = j["totals"];
    fmt::print("totals       {} packets, {} bytes, {} alerts\n", Field(t, "packets"),
               Field(t, "bytes"), Field(t, "alerts"));
    fmt::print("drops        {} by workers, {} by ports, {} events lost\n",
               Field(t, "worker_drops"), Field(t, "port_drops"), Field(t, "events_dropped"));
  }
  if (j.contains("workers") && j["workers"].is_array()) {
    fmt::print("\n{:>6}  {:>14}  {:>16}  {:>10}  {:>8}  {:>5}\n", "WORKER", "PACKETS", "BYTES",
               "DROPS", "ALERTS", "BUSY");
    for (const auto& w : j["workers"]) {
      uint64_t drops = 0;
      if (w.contains("drops") && w["drops"].is_object()) {
        for (const auto& [reason, n] : w["drops"].items()) drops += n.get<uint64_t>();
      }
      fmt::print("{:>6}  {:>14}  {:>16}  {:>10}  {:>8}  {:>4.0f}%\n", Field(w, "index"),
                 Field(w, "packets"), Field(w, "bytes"), drops, Field(w, "alerts"),
                 100.0 * w.value("busy_ratio", 0.0));
    }
  }
  if (j.contains("ports") && j["ports"].is_array() && !j["ports"].empty()) {
    fmt::print("\n{:<40}  {:>14}  {:>10}  {:>8}  {:>8}\n", "INPUT", "PACKETS", "MISSED", "ERRORS",
               "NO_MBUF");
    for (const auto& p : j["ports"]) {
      fmt::print("{:<40}  {:>14}  {:>10}  {:>8}  {:>8}\n", Field(p, "name"), Field(p, "packets"),
                 Field(p, "missed"), Field(p, "errors"), Field(p, "no_mbuf"));
    }
  }
  return kExitOk;
}

int RunReload(const ApiOptions& o) {
  ApiAnswer a = CallApi(o, "POST", "/api/v1/reload");
  // A failed reload answers 500 with the errors: print them whatever the exit code.
  if (a.exit_code != kExitOk && !a.body.is_object()) return a.exit_code;
  if (o.json) {
    if (a.exit_code == kExitOk) PrintJson(a.body);
    return a.exit_code;
  }
  const auto& j = a.body;
  if (j.value("ok", false)) {
    fmt::print("reload ok: generation {}, hash {}, {} rules, compiled in {} s ({})\n",
               Field(j, "generation"), Field(j, "content_hash"), Field(j, "rules"),
               Field(j, "compile_seconds"),
               j.value("changed", false) ? "swapped in" : "unchanged, kept the running set");
    return kExitOk;
  }
  if (j.contains("errors") && j["errors"].is_array()) {
    for (const auto& e : j["errors"]) {
      if (e.is_string()) fmt::print(stderr, "  {}\n", e.get<std::string>());
    }
  }
  return kExitFailure;
}

int RunRulesList(const ApiOptions& o, const std::string& query) {
  ApiAnswer a = CallApi(o, "GET", "/api/v1/rules?q=" + httplib::detail::encode_query_param(query));
  if (a.exit_code != kExitOk) return a.exit_code;
  if (o.json) {
    PrintJson(a.body);
    return kExitOk;
  }
  fmt::print("{:>10}  {:>3}  {:>3}  {:>3}  {}\n", "SID", "GID", "REV", "SEV", "MSG");
  for (const auto& r : a.body.value("rules", nlohmann::json::array())) {
    fmt::print("{:>10}  {:>3}  {:>3}  {:>3}  {}\n", Field(r, "sid"), Field(r, "gid"),
               Field(r, "rev"), Field(r, "severity"), Field(r, "msg"));
  }
  fmt::print("{} rule{}{}\n", Field(a.body, "count"), a.body.value("count", 0) == 1 ? "" : "s",
             a.body.value("truncated", false) ? " (more match: narrow the query)" : "");
  return kExitOk;
}

int RunRulesShow(const ApiOptions& o, uint32_t sid) {
  ApiAnswer a = CallApi(o, "GET", "/api/v1/rules/" + std::to_string(sid));
  if (a.exit_code != kExitOk) return a.exit_code;
  if (o.json) {
    PrintJson(a.body);
    return kExitOk;
  }
  for (const char* key : {"sid", "gid", "rev", "msg", "action", "classtype", "category", "severity",
                          "location", "generation"}) {
    fmt::print("{:<11} {}\n", key, Field(a.body, key));
  }
  fmt::print("\n{}\n", Field(a.body, "text"));
  return kExitOk;
}

int RunAlertsTail(const ApiOptions& o, size_t n) {
  ApiAnswer a = CallApi(o, "GET", "/api/v1/alerts?limit=" + std::to_string(n));
  if (a.exit_code != kExitOk) return a.exit_code;
  if (o.json) {
    PrintJson(a.body);
    return kExitOk;
  }
  for (const auto& e : a.body.value("alerts", nlohmann::json::array())) {
    const nlohmann::json alert = e.value("alert", nlohmann::json::object());
    fmt::print("{}  [{}:{}:{}] {}  {}:{} -> {}:{} {}\n", Field(e, "timestamp"), Field(alert, "gid"),
               Field(alert, "signature_id"), Field(alert, "rev"), Field(alert, "signature"),
               Field(e, "src_ip"), Field(e, "src_port"), Field(e, "dest_ip"), Field(e, "dest_port"),
               Field(e, "proto"));
  }
  return kExitOk;
}

int RunEveReopen(const ApiOptions& o) {
  ApiAnswer a = CallApi(o, "POST", "/api/v1/eve/reopen");
  if (a.exit_code != kExitOk) return a.exit_code;
  if (o.json) {
    PrintJson(a.body);
  } else {
    fmt::print("EVE file {} reopened\n", Field(a.body, "path"));
  }
  return kExitOk;
}

// ---- blocks: enforcement ----------------------------------------------------------------------

// 3725 -> "1h02m": block lifetimes run from seconds to a year, two units are enough to read.
std::string Duration(const nlohmann::json& seconds) {
  if (!seconds.is_number()) return "-";
  const int64_t s = seconds.get<int64_t>();
  if (s <= 0) return "expired";
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
  return fmt::format("{}d{:02}h", s / 86400, s / 3600 % 24);
}

int RunBlocksList(const ApiOptions& o) {
  ApiAnswer a = CallApi(o, "GET", "/api/v1/blocks");
  if (a.exit_code != kExitOk) return a.exit_code;
  if (o.json) {
    PrintJson(a.body);
    return kExitOk;
  }
  const auto& j = a.body;
  const nlohmann::json blocks = j.value("blocks", nlohmann::json::array());
  // IPv6 prefixes run up to 43 characters: size the column to what is listed.
  size_t width = 18;
  for (const auto& b : blocks) width = std::max(width, Field(b, "target").size());
  fmt::print("{:<{}}  {:<9}  {:>10}  {:>10}  {}\n", "TARGET", width, "SOURCE", "SID", "EXPIRES IN",
             "REASON");
  for (const auto& b : blocks) {
    std::string sid = Field(b, "signature_id");
    if (sid == "0") sid = "-";  // operator blocks have no signature
    fmt::print("{:<{}}  {:<9}  {:>10}  {:>10}  {}\n", Field(b, "target"), width, Field(b, "source"),
               sid, Duration(b.value("ttl_remaining", nlohmann::json())), Field(b, "reason"));
  }
  fmt::print("{} block{}{}\n", blocks.size(), blocks.size() == 1 ? "" : "s",
             j.value("dry_run", false)
                 ? " (dry run: recorded, not enforced; enforcement.dry-run is true)"
                 : "");
  const nlohmann::json backends = j.value("backends", nlohmann::json::array());
  if (!backends.empty()) {
    fmt::print("\n{:<10}  {:<9}  {:>7}  {:>8}  {:>8}  {}\n", "BACKEND", "AVAILABLE", "PENDING",
               "APPLIED", "FAILURES", "LAST ERROR");
    for (const auto& b : backends) {
      const std::string last = Field(b, "last_error");
      fmt::print("{:<10}  {:<9}  {:>7}  {:>8}  {:>8}  {}\n", Field(b, "name"),
                 b.value("available", false) ? "yes" : "NO", Field(b, "pending"),
                 Field(b, "applied"), Field(b, "failures"), last.empty() ? "-" : last);
    }
  }
  return kExitOk;
}

struct BlockAddArgs {
  std::string target;
  uint64_t ttl = 0;  // 0: the sensor's enforcement.ttl
  std::string reason;
};

int RunBlocksAdd(const ApiOptions& o, const BlockAddArgs& args) {
  nlohmann::json request = {{"target", args.target}};
  if (args.ttl > 0) request["ttl"] = args.ttl;
  if (!args.reason.empty()) request["reason"] = args.reason;
  ApiAnswer a = CallApi(o, "POST", "/api/v1/blocks", request.dump());
  if (a.exit_code != kExitOk) return a.exit_code;
  if (o.json) {
    PrintJson(a.body);
    return kExitOk;
  }
  const auto& j = a.body;
  const std::string target = j.contains("target") ? Field(j, "target") : args.target;
  const std::string left = j.contains("ttl_remaining")
                               ? " (expires in " + Duration(j["ttl_remaining"]) + ")"
                               : std::string();
  const std::string outcome = Field(j, "outcome");
  if (outcome == "added") {
    fmt::print("blocked {}{}\n", target, left);
  } else if (outcome == "refreshed") {
    fmt::print("{} was already blocked: expiry refreshed{}\n", target, left);
  } else if (outcome == "duplicate") {
    fmt::print("{} is already blocked{}\n", target, left);
  } else if (outcome == "dry_run") {
    fmt::print("dry run: {} would be blocked (enforcement.dry-run is true; nothing enforced)\n",
               target);
  } else {
    fmt::print("{}: {}\n", outcome, target);
  }
  return kExitOk;
}

int RunBlocksDel(const ApiOptions& o, const std::string& target) {
  ApiAnswer a =
      CallApi(o, "DELETE", "/api/v1/blocks?target=" + httplib::detail::encode_query_param(target));
  if (a.exit_code != kExitOk) return a.exit_code;
  if (o.json) {
    PrintJson(a.body);
  } else {
    fmt::print("unblocked {}\n", target);
  }
  return kExitOk;
}

void AddBlocksCommands(CLI::App& app, const std::shared_ptr<ApiOptions>& o, Command* command) {
  CLI::App* blocks = app.add_subcommand("blocks", "Enforcement: active blocks, add and remove");
  blocks->require_subcommand(1);
  blocks->add_subcommand("list", "Active blocks and the enforcement backends' health")
      ->callback([o, command] { *command = [o] { return RunBlocksList(*o); }; });

  auto add_args = std::make_shared<BlockAddArgs>();
  CLI::App* add = blocks->add_subcommand(
      "add", "Block an address or CIDR on every enforcement point (needs the token)");
  add->add_option("target", add_args->target, "IPv4/IPv6 address or CIDR, e.g. 203.0.113.0/24")
      ->required();
  add->add_option("--ttl", add_args->ttl,
                  "Seconds until the block expires (default enforcement.default-ttl, at most "
                  "enforcement.max-ttl)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{365} * 24 * 3600));
  add->add_option("--reason", add_args->reason, "Why (recorded with the block, at most 256 bytes)");
  add->callback(
      [o, add_args, command] { *command = [o, add_args] { return RunBlocksAdd(*o, *add_args); }; });

  auto del_target = std::make_shared<std::string>();
  CLI::App* del =
      blocks->add_subcommand("del", "Lift the block on an address or CIDR (needs the token)");
  del->add_option("target", *del_target, "The blocked address or CIDR")->required();
  del->callback([o, del_target, command] {
    *command = [o, del_target] { return RunBlocksDel(*o, *del_target); };
  });
}

void AddOnlineCommands(CLI::App& app, CLI::App* rules, Command* command) {
  auto o = std::make_shared<ApiOptions>();
  app.add_option("--url", o->url, "The sensor's operator API")->capture_default_str();
  app.add_option("--token-file", o->token_file,
                 "File whose first line is the API token (needed by reload, eve reopen, blocks "
                 "add/del)");
  app.add_flag("--json", o->json, "Print the API's JSON answer instead of a table");

  app.add_subcommand("status", "Version, uptime, workers, pattern set, drop counters")
      ->callback([o, command] { *command = [o] { return RunStatus(*o); }; });
  app.add_subcommand("reload", "Recompile the rule files and swap them in (needs the token)")
      ->callback([o, command] { *command = [o] { return RunReload(*o); }; });

  auto query = std::make_shared<std::string>();
  CLI::App* list = rules->add_subcommand("list", "Running rules whose sid is QUERY or msg has it");
  list->add_option("query", *query, "sid, or text in the msg (case-insensitive); none: all");
  list->callback(
      [o, query, command] { *command = [o, query] { return RunRulesList(*o, *query); }; });
  auto sid = std::make_shared<uint32_t>(0);
  CLI::App* show = rules->add_subcommand("show", "One running rule in full");
  show->add_option("sid", *sid, "Signature id")->required()->check(CLI::Range(1u, UINT32_MAX));
  show->callback([o, sid, command] { *command = [o, sid] { return RunRulesShow(*o, *sid); }; });

  CLI::App* alerts = app.add_subcommand("alerts", "Recent alerts");
  alerts->require_subcommand(1);
  auto n = std::make_shared<size_t>(20);
  CLI::App* tail = alerts->add_subcommand("tail", "The newest alerts, oldest first");
  tail->add_option("-n", *n, "How many (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  tail->callback([o, n, command] { *command = [o, n] { return RunAlertsTail(*o, *n); }; });

  CLI::App* eve = app.add_subcommand("eve", "The sensor's EVE output");
  eve->require_subcommand(1);
  eve->add_subcommand("reopen", "Reopen the EVE file after logrotate moved it (needs the token)")
      ->callback([o, command] { *command = [o] { return RunEveReopen(*o); }; });

  AddBlocksCommands(app, o, command);
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
  CLI::App* rules = AddRulesCommands(app, &command);
  AddOnlineCommands(app, rules, &command);
  // --url, --token-file and --json may also follow the subcommand.
  app.fallthrough();
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->fallthrough();
    for (CLI::App* subsub : sub->get_subcommands({})) subsub->fallthrough();
  }
  app.footer(
      "Online commands talk to the sensor's API (api.listen, default 127.0.0.1:9581).\n"
      "Exit codes: 0 ok, 1 the command or request failed (server error, reload failed, rule "
      "errors,\nblock refused), 2 usage error, 3 cannot connect to the sensor.");

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
