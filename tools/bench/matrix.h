// The bench harness's run matrix (issue 7): generates the benchmark captures into a RAM-backed
// directory, then measures
//   (a) flowsentry replaying a capture from memory with 1..N workers, each pass as new flows
//       (port::CaptureReader::OpenReplay; net_pcap's infinite_rx repeated the same connections,
//       so from the second pass on TCP was all retransmissions),
//   (b) flowsentry and Suricata reading the same capture file, one worker each, with start-up
//       measured on a one-packet capture and subtracted,
//   (c) raw Hyperscan over the same payload bytes with the same databases (the matcher's limit),
// for the rule sets none / district pack / accepted ET Open rules, plus a scaling series by rule
// count and one by concurrent flows. Prints one table per mode and writes everything as JSON.
// Runs on the harness's main thread; child processes run one at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fs::bench {

struct MatrixOptions {
  std::string bin_dir;                                 // flowsentry, flowsentry-pcapgen
  std::string work_dir = "/dev/shm/flowsentry-bench";  // captures, rule subsets, run outputs
  std::string suricata = "/usr/bin/suricata";          // "" or missing: Suricata columns stay empty
  std::string district_rules;                          // the district pack file
  std::string et_rules;                                // ET Open directory; "" or missing: skipped
  std::string json_out;                                // "" = <work_dir>/results.json
  std::string tier = "full";                           // full | quick | smoke
  std::string revision;                                // recorded in the JSON (git describe)
  std::vector<std::string> profiles;                   // only these (default: the tier's)
  double duration_s = 0;                               // replay seconds (0: the tier's)
  uint32_t max_workers = 0;                            // 0: the number of CPUs
  uint64_t seed = 1;
  bool keep_captures = false;  // leave the captures in work_dir (a rerun then reuses them)
  bool series = true;          // the rule-count and flow-count series
  // Mode (b) also with the capture twice over: N / (wall(2N) - wall(N)), fixed costs and the
  // first pass's warm-up cancelled (a second, steady-state figure in the JSON).
  bool steady_state = false;
  // Mode (b): runs of each engine per capture and rule set, the two engines alternating; the
  // rows keep the shortest (0: the tier's, 2 in the full tier).
  int file_reps = 0;
  // Mode (a): runs of each replay; after each one-worker run whose capture and rules have a raw
  // Hyperscan row, that limit is measured again, so the two alternate and a slow spell falls on
  // both. The rows keep the highest rate of each (0: the tier's, 2 in the full tier).
  int replay_reps = 0;
};

// Returns the process exit code: 0 when every run produced its figures, 1 when some failed (the
// tables show which), 2 when nothing could run (missing binaries, unwritable work dir).
int RunMatrix(const MatrixOptions& options);

// Checks that a results file is complete and sane (every run succeeded, counts and rates are
// non-zero, alerts were seen where the capture holds attacks). Never compares a speed with a
// threshold. False with the reasons in *problems.
bool CheckResults(const std::string& json_path, std::vector<std::string>* problems);

}  // namespace fs::bench
