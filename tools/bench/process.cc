#include "tools/bench/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>

namespace fs::bench {

namespace {

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// Fork, exec, wait4 with a timeout: what the spawner does for each request (or the harness itself
// when there is no spawner).
bool RunDirect(const std::vector<std::string>& argv, const std::string& log_path, double timeout_s,
               ProcessResult* result, std::string* error) {
  *result = ProcessResult{};
  if (argv.empty()) {
    *error = "no program to run";
    return false;
  }
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    *error = "cannot open log " + log_path + ": " + std::strerror(errno);
    return false;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    close(log_fd);
    return false;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(args[0], args.data());
    const char msg[] = "flowsentry-bench: exec failed\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(127);
  }
  close(log_fd);
  result->started = true;

  int status = 0;
  rusage ru{};
  bool term_sent = false;
  std::chrono::steady_clock::time_point term_at;
  for (;;) {
    const pid_t r = wait4(pid, &status, WNOHANG, &ru);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      *error = std::string("wait4: ") + std::strerror(errno);
      return false;
    }
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - t0).count();
    if (!term_sent && timeout_s > 0 && elapsed > timeout_s) {
      kill(pid, SIGTERM);
      term_sent = true;
      term_at = now;
      result->timed_out = true;
    } else if (term_sent && now - term_at > std::chrono::seconds(5)) {
      kill(pid, SIGKILL);
    }
    // 1 ms polling: negligible against runs of a second or more, and it keeps the wall time of
    // the child within a millisecond.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  result->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result->user_s = Seconds(ru.ru_utime);
  result->sys_s = Seconds(ru.ru_stime);
  result->max_rss_kb = static_cast<uint64_t>(ru.ru_maxrss);
  if (WIFEXITED(status)) {
    result->exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result->signal = WTERMSIG(status);
  }
  return true;
}

// The harness's ends of the spawner's pipes and its pid; -1 when not running.
int g_request_fd = -1;
int g_reply_fd = -1;
pid_t g_spawner_pid = -1;

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteString(int fd, const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  return WriteAll(fd, &n, sizeof(n)) && WriteAll(fd, s.data(), n);
}

bool ReadString(int fd, std::string* s) {
  uint32_t n = 0;
  if (!ReadAll(fd, &n, sizeof(n)) || n > (64u << 20)) return false;
  s->resize(n);
  return ReadAll(fd, s->data(), n);
}

static_assert(std::is_trivially_copyable_v<ProcessResult>);

// The helper's loop: a request (argv, log path, timeout) in, a reply (started flag, result,
// error) out, until the harness closes the request pipe.
[[noreturn]] void SpawnerLoop(int request_fd, int reply_fd) {
  for (;;) {
    uint32_t argc = 0;
    if (!ReadAll(request_fd, &argc, sizeof(argc))) _exit(0);
    std::vector<std::string> argv(argc);
    for (std::string& a : argv) {
      if (!ReadString(request_fd, &a)) _exit(1);
    }
    std::string log;
    double timeout = 0;
    if (!ReadString(request_fd, &log) || !ReadAll(request_fd, &timeout, sizeof(timeout))) _exit(1);
    ProcessResult result;
    std::string error;
    const uint8_t started = RunDirect(argv, log, timeout, &result, &error) ? 1 : 0;
    if (!WriteAll(reply_fd, &started, 1) || !WriteAll(reply_fd, &result, sizeof(result)) ||
        !WriteString(reply_fd, error)) {
      _exit(1);
    }
  }
}

}  // namespace

bool StartSpawner(std::string* error) {
  int request[2], reply[2];
  if (pipe2(request, O_CLOEXEC) != 0 || pipe2(reply, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    // The helper ends with the harness, however the harness ends.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);
    close(request[1]);
    close(reply[0]);
    SpawnerLoop(request[0], reply[1]);
  }
  close(request[0]);
  close(reply[1]);
  g_request_fd = request[1];
  g_reply_fd = reply[0];
  g_spawner_pid = pid;
  return true;
}

uint64_t SpawnerRssFloorKb() {
  if (g_spawner_pid < 0) return 0;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(g_spawner_pid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::strtoull(line + 6, nullptr, 10);
  }
  std::fclose(f);
  return kb;
}

bool RunProcess(const std::vector<std::string>& argv, const std::string& log_path, double timeout_s,
                ProcessResult* result, std::string* error) {
  if (g_request_fd < 0) return RunDirect(argv, log_path, timeout_s, result, error);
  const uint32_t argc = static_cast<uint32_t>(argv.size());
  bool ok = WriteAll(g_request_fd, &argc, sizeof(argc));
  for (const std::string& a : argv) ok = ok && WriteString(g_request_fd, a);
  ok = ok && WriteString(g_request_fd, log_path) &&
       WriteAll(g_request_fd, &timeout_s, sizeof(timeout_s));
  uint8_t started = 0;
  ok = ok && ReadAll(g_reply_fd, &started, 1) && ReadAll(g_reply_fd, result, sizeof(*result)) &&
       ReadString(g_reply_fd, error);
  if (!ok) {
    *error = "the spawner process is gone";
    return false;
  }
  return started != 0;
}

std::string ShellJoin(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_./=:,+@") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) {
        if (c == '\'') {
          out += "'\\''";
        } else {
          out += c;
        }
      }
      out += '\'';
    }
  }
  return out;
}

}  // namespace fs::bench
