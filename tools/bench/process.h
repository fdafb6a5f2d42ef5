// Child processes for the bench harness: runs a program with its output in a log file and
// reports what the kernel measured for it (wall time around fork/exit, CPU time and peak RSS
// from wait4's rusage). Used by the harness's main thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fs::bench {

struct ProcessResult {
  bool started = false;
  bool timed_out = false;
  int exit_code = -1;  // -1: killed by a signal (see signal)
  int signal = 0;
  double wall_s = 0;
  double user_s = 0, sys_s = 0;
  uint64_t max_rss_kb = 0;  // ru_maxrss of the child

  bool ok() const { return started && !timed_out && exit_code == 0; }
};

// Starts the spawner: a helper process, forked while this process is still small, that forks
// and waits for every child RunProcess starts. On Linux a child's ru_maxrss includes the peak RSS
// of the process it was forked from (exec records the old address space's high-water mark), so
// children forked from the harness itself would all report at least the harness's own peak
// (payload buffers, compiled databases). Call first thing in main(); without it RunProcess forks
// directly. Returns false (with *error) if the helper could not be started.
bool StartSpawner(std::string* error);

// The spawner's own peak RSS: the floor below which a child's peak RSS cannot be measured.
uint64_t SpawnerRssFloorKb();

// Runs argv[0] (a path; no PATH search) with stdin from /dev/null and stdout+stderr appended to
// log_path. Kills it (SIGTERM, then SIGKILL after 5 s) once timeout_s has passed. Returns false
// only when the process could not be started (*error says why); a failed run is reported in
// *result.
bool RunProcess(const std::vector<std::string>& argv, const std::string& log_path, double timeout_s,
                ProcessResult* result, std::string* error);

// A command line as a shell would accept it (for logs and docs).
std::string ShellJoin(const std::vector<std::string>& argv);

}  // namespace fs::bench
