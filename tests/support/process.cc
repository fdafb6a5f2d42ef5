#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace fs::testing {

namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::string& out, const std::string& err) {
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // A test that crashes must not leave the sensor (or a daemon) running behind it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int Decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ProcessResult RunProcess(const std::vector<std::string>& argv, int timeout_s) {
  BackgroundProcess p(argv);
  ProcessResult r = p.Wait(timeout_s);
  if (r.exit_code == -1 && !r.timed_out) r.timed_out = true;
  return r;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv) {
  std::string dir = MakeTempDir("proc");
  out_path_ = dir + "/stdout";
  err_path_ = dir + "/stderr";
  pid_ = Spawn(argv, out_path_, err_path_);
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
}

bool BackgroundProcess::Running() {
  if (reaped_) return false;
  rusage usage{};
  pid_t r = wait4(pid_, &status_, WNOHANG, &usage);
  if (r == pid_) {
    reaped_ = true;
    max_rss_kb_ = usage.ru_maxrss;
    return false;
  }
  return true;
}

void BackgroundProcess::Signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

ProcessResult BackgroundProcess::Wait(int timeout_s) {
  ProcessResult res;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
      reaped_ = true;
      res.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  res.exit_code = reaped_ ? Decode(status_) : -1;
  res.max_rss_kb = max_rss_kb_;
  res.out = ReadFile(out_path_);
  res.err = ReadFile(err_path_);
  return res;
}

std::string BackgroundProcess::ErrSoFar() const { return ReadFile(err_path_); }

std::string BinDir() { return std::string(FS_BINARY_DIR) + "/bin"; }
std::string SourceDir() { return FS_SOURCE_DIR; }

namespace {
std::mutex g_temp_mu;
std::vector<std::string>& TempDirList() {
  static std::vector<std::string> dirs;
  return dirs;
}
}  // namespace

std::string MakeTempDir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/fs-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = mkdtemp(buf.data());
  if (d == nullptr) return std::string();
  std::lock_guard<std::mutex> lock(g_temp_mu);
  TempDirList().emplace_back(d);
  return std::string(d);
}

std::vector<std::string> TempDirs() {
  std::lock_guard<std::mutex> lock(g_temp_mu);
  return TempDirList();
}

void RemoveTempDirs() {
  std::vector<std::string> dirs;
  {
    std::lock_guard<std::mutex> lock(g_temp_mu);
    dirs.swap(TempDirList());
  }
  for (const std::string& d : dirs) {
    std::error_code ec;  // best effort: a directory already gone is fine
    std::filesystem::remove_all(d, ec);
  }
}

std::string SharedDir() {
  if (const char* env = std::getenv("FS_SHARED_DIR")) {
    if (std::filesystem::is_directory(env)) return env;
  }
  std::filesystem::path p = std::filesystem::path(FS_SOURCE_DIR).parent_path() / "shared";
  if (std::filesystem::is_directory(p / "data")) return p.string();
  return "";
}

int FreeLoopbackPort() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(s);
  return port;
}

std::string HttpGet(int port, const std::string& path, int* status) {
  *status = 0;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  timeval tv{5, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(s);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(s, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) {
    close(s);
    return "";
  }
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = recv(s, buf, sizeof(buf), 0)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(s);
  auto sp = resp.find(' ');
  if (sp != std::string::npos) *status = std::atoi(resp.c_str() + sp + 1);
  auto body = resp.find("\r\n\r\n");
  if (body == std::string::npos) return "";
  std::string b = resp.substr(body + 4);
  // civetweb answers with chunked encoding; undo it.
  if (resp.find("Transfer-Encoding: chunked") != std::string::npos) {
    std::string plain;
    size_t pos = 0;
    while (pos < b.size()) {
      size_t eol = b.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t len = std::strtoul(b.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (len == 0) break;
      plain += b.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
    return plain;
  }
  return b;
}

bool WaitFor(const std::function<bool()>& pred, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void DeleteStaleNamespaces(const std::string& ip, const std::string& prefix) {
  const ProcessResult r = RunProcess({ip, "netns", "list"}, 20);
  std::stringstream ss(r.out);
  std::string line;
  while (std::getline(ss, line)) {
    const std::string name = line.substr(0, line.find(' '));
    if (name.rfind(prefix, 0) != 0) continue;
    const size_t x = name.find('x', prefix.size());
    if (x == std::string::npos || x == prefix.size()) continue;
    const std::string pid_text = name.substr(prefix.size(), x - prefix.size());
    if (pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(pid_text.c_str()));
    if (kill(pid, 0) == 0 || errno == EPERM) continue;  // its process is still running
    RunProcess({ip, "netns", "del", name}, 20);
  }
}

std::string FindProgram(const std::string& name) {
  std::vector<std::string> dirs = {"/usr/sbin", "/sbin",           "/usr/bin",
                                   "/bin",      "/usr/local/sbin", "/usr/local/bin"};
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) {
      if (!d.empty()) dirs.insert(dirs.begin(), d);
    }
  }
  for (const std::string& d : dirs) {
    const std::string p = d + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

}  // namespace fs::testing
