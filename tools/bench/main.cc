// flowsentry-bench: the benchmark harness of issue 7 (see matrix.h and docs/PERFORMANCE.md).
//   flowsentry-bench matrix [--tier full|quick|smoke] ...  the whole matrix: tables + JSON
//   flowsentry-bench scan --pcap F --rules R              mode (c) alone: raw Hyperscan limit
//   flowsentry-bench rule-cost --pcap F --rules R         which rules cost what on a capture
//   flowsentry-bench check RESULTS.json                   sanity of a results file (tests)
// tools/bench/run builds what is needed and calls `matrix`. Only main() exits.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tools/bench/hs_limit.h"
#include "tools/bench/matrix.h"
#include "tools/bench/process.h"
#include "tools/bench/rule_cost.h"
#include "tools/bench/rules_adapter.h"

#ifndef FS_SOURCE_DIR
#define FS_SOURCE_DIR "."
#endif

namespace {

// The directory this executable is in: flowsentry and flowsentry-pcapgen are built next to it.
std::string OwnDir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

int RunScan(const std::string& pcap, const std::vector<std::string>& rules, double seconds) {
  std::string error;
  fs::bench::Payloads payloads;
  if (!fs::bench::ExtractPayloads(pcap, &payloads, &error)) {
    fmt::print(stderr, "flowsentry-bench scan: {}\n", error);
    return 1;
  }
  fs::bench::CompiledRules compiled;
  if (!compiled.Compile(rules, &error)) {
    fmt::print(stderr, "flowsentry-bench scan: {}\n", error);
    return 1;
  }
  fs::bench::ScanLimit limit;
  if (!fs::bench::MeasureScanLimit(compiled, payloads, seconds, &limit, &error)) {
    fmt::print(stderr, "flowsentry-bench scan: {}\n", error);
    return 1;
  }
  fmt::print(
      "{}: {} packets, {} payloads, {:.1f} MB of payload; {} rules, {} expressions, compiled in "
      "{:.2f} s\nraw Hyperscan: {:.0f} MB/s ({} passes in {:.2f} s, {} matches, {} block scans and "
      "{} stream scans per pass); limit {:.3f} Mpps, {:.2f} Gbit/s of capture\n",
      pcap, payloads.packets, payloads.items.size(), payloads.payload_bytes / 1e6, compiled.rules(),
      compiled.expressions(), compiled.compile_seconds(), limit.mbytes_per_s, limit.passes,
      limit.seconds, limit.passes ? limit.matches / limit.passes : 0,
      limit.passes ? limit.scans / limit.passes : 0,
      limit.passes ? limit.stream_scans / limit.passes : 0, limit.capture_mpps,
      limit.capture_gbps);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything large is allocated: children's peak RSS is measured from the spawner.
  std::string spawn_error;
  if (!fs::bench::StartSpawner(&spawn_error)) {
    fmt::print(stderr, "flowsentry-bench: {} (peak RSS figures will include the harness's)\n",
               spawn_error);
  }
  CLI::App app{
      "flowsentry-bench: throughput of flowsentry, Suricata and raw Hyperscan on the "
      "same captures"};
  app.require_subcommand(1);
  int rc = 0;

  fs::bench::MatrixOptions mo;
  mo.bin_dir = OwnDir();
  mo.district_rules = std::string(FS_SOURCE_DIR) + "/patterns/packs/district.rules";
  mo.et_rules = "/work/shared/data/rules/et-open";
  bool check = false;
  CLI::App* matrix = app.add_subcommand("matrix",
                                        "generate captures, run every mode, print "
                                        "the tables, write JSON");
  matrix
      ->add_option("--tier", mo.tier, "full (~25 min on 2 cores), quick (~4 min) or smoke (~10 s)")
      ->check(CLI::IsMember({"full", "quick", "smoke"}))
      ->capture_default_str();
  matrix->add_option("--work-dir", mo.work_dir, "RAM-backed directory for captures and outputs")
      ->capture_default_str();
  matrix->add_option("--bin-dir", mo.bin_dir, "where flowsentry and flowsentry-pcapgen are")
      ->capture_default_str();
  matrix->add_option("--suricata", mo.suricata, "Suricata binary ('' to skip Suricata)")
      ->capture_default_str();
  matrix->add_option("--district-rules", mo.district_rules, "the district pack")
      ->capture_default_str();
  matrix->add_option("--et-rules", mo.et_rules, "ET Open rules directory ('' to skip)")
      ->capture_default_str();
  matrix->add_option("--json", mo.json_out, "results file (default WORK_DIR/results.json)");
  matrix->add_option("--revision", mo.revision, "source revision to record (git describe)");
  matrix->add_option("--profiles", mo.profiles,
                     "only these capture profiles (imix small elephant short-flows attack)");
  matrix->add_option("--duration", mo.duration_s, "seconds per replay run (default: the tier's)")
      ->check(CLI::PositiveNumber);
  matrix->add_option("--max-workers", mo.max_workers, "replay with up to this many workers")
      ->check(CLI::Range(1u, 64u));
  matrix->add_option("--seed", mo.seed, "generator seed")->capture_default_str();
  matrix->add_flag("--keep-captures", mo.keep_captures,
                   "leave the captures in the work dir (a rerun reuses them)");
  matrix->add_flag("!--no-series", mo.series, "skip the rule-count and flow-count series");
  matrix->add_flag("--steady-state", mo.steady_state,
                   "mode (b) also with each capture twice over (steady-state rate, in the JSON)");
  matrix->add_option("--file-reps", mo.file_reps,
                     "mode (b): runs of each engine per capture and rule set, alternating; the "
                     "shortest counts (default: the tier's, 2 in full)")
      ->check(CLI::Range(1, 20));
  matrix->add_option("--replay-reps", mo.replay_reps,
                     "mode (a): runs of each replay, each one-worker run followed by a new "
                     "measurement of its raw Hyperscan limit; the highest rates count (default: "
                     "the tier's, 2 in full)")
      ->check(CLI::Range(1, 20));
  matrix->add_flag("--check", check, "afterwards, check the JSON (as the smoke test does)");
  matrix->callback([&] {
    rc = fs::bench::RunMatrix(mo);
    if (check && rc != 2) {
      std::vector<std::string> problems;
      const std::string json = mo.json_out.empty() ? mo.work_dir + "/results.json" : mo.json_out;
      if (!fs::bench::CheckResults(json, &problems)) {
        for (const std::string& p : problems) fmt::print(stderr, "check: {}\n", p);
        rc = 1;
      } else {
        fmt::print("check: {} is complete and sane\n", json);
      }
    }
  });

  std::string scan_pcap;
  std::vector<std::string> scan_rules;
  double scan_seconds = 2;
  CLI::App* scan = app.add_subcommand("scan", "raw Hyperscan over a capture's payloads");
  scan->add_option("--pcap", scan_pcap, "capture")->required()->check(CLI::ExistingFile);
  scan->add_option("--rules", scan_rules, "rule files or directories")->required();
  scan->add_option("--seconds", scan_seconds, "minimum scan time")->capture_default_str();
  scan->callback([&] { rc = RunScan(scan_pcap, scan_rules, scan_seconds); });

  fs::bench::RuleCostOptions cost;
  CLI::App* costcmd = app.add_subcommand(
      "rule-cost", "which databases and rules cost what on a capture (Hyperscan time, reports)");
  costcmd->add_option("--pcap", cost.pcap, "capture")->required()->check(CLI::ExistingFile);
  costcmd->add_option("--rules", cost.rules, "rule files or directories")->required();
  costcmd->add_option("--passes", cost.passes, "scans of every payload")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  costcmd->add_option("--top", cost.top, "rules listed")->capture_default_str()->check(
      CLI::Range(0, 100000));
  costcmd->add_option("--json", cost.json, "also write the figures as JSON");
  costcmd->callback([&] { rc = fs::bench::RunRuleCost(cost); });

  std::string check_path;
  CLI::App* checkcmd = app.add_subcommand("check", "check a results file");
  checkcmd->add_option("json", check_path, "results JSON")->required();
  checkcmd->callback([&] {
    std::vector<std::string> problems;
    if (fs::bench::CheckResults(check_path, &problems)) {
      fmt::print("{} is complete and sane\n", check_path);
      rc = 0;
    } else {
      for (const std::string& p : problems) fmt::print(stderr, "check: {}\n", p);
      rc = 1;
    }
  });

  CLI11_PARSE(app, argc, argv);
  return rc;
}
