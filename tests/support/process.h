// Test support: runs a program (the real sensor binaries) and captures its exit status and
// output; starts one in the background for tests that talk to it while it runs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace fs::testing {

struct ProcessResult {
  int exit_code = -1;  // exit status, or 128+signal when killed by a signal
  bool timed_out = false;
  std::string out, err;
  long max_rss_kb = -1;  // peak resident set size of the process (wait4 ru_maxrss); -1: unknown
};

// Runs argv[0] with the arguments; kills it after timeout_s seconds (timed_out = true).
ProcessResult RunProcess(const std::vector<std::string>& argv, int timeout_s = 120);

// A child process running in the background; killed (SIGKILL) on destruction if still running.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  bool Running();
  void Signal(int sig);
  // Waits up to timeout_s for exit; returns the result (exit_code -1 if still running).
  ProcessResult Wait(int timeout_s);
  std::string ErrSoFar() const;

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  int status_ = -1;
  bool reaped_ = false;
  long max_rss_kb_ = -1;
};

// Polls pred every 50 ms until it holds (true) or timeout_s passed (false); never longer.
bool WaitFor(const std::function<bool()>& pred, int timeout_s);

// Deletes the network namespaces named PREFIX<pid>x... whose creating process <pid> is gone (a
// test that crashed before its destructor ran). ip: the `ip` program.
void DeleteStaleNamespaces(const std::string& ip, const std::string& prefix);

// The full path of an executable, searched in $PATH and the sbin/bin directories (tests run
// as root from environments whose PATH may lack /usr/sbin); "" if absent.
std::string FindProgram(const std::string& name);

// Path helpers.
std::string BinDir();  // the build's bin/ directory
std::string SourceDir();
std::string MakeTempDir(const std::string& tag);  // fresh directory under TMPDIR
// Removes (recursively) every directory MakeTempDir made in this process. GoogleTest binaries
// call it once every test has passed (tests/support/temp_cleanup.cc); a run with a failure keeps
// them for a look.
void RemoveTempDirs();
// The directories MakeTempDir made in this process and RemoveTempDirs has not removed.
std::vector<std::string> TempDirs();
std::string ReadFile(const std::string& path);
// The shared data directory (../shared next to the repository, or $FS_SHARED_DIR); "" if absent.
std::string SharedDir();
// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort();
// HTTP GET http://127.0.0.1:port/path; returns the body ("" on failure, *status set).
std::string HttpGet(int port, const std::string& path, int* status);

}  // namespace fs::testing
