#include "tests/support/bgp_lab.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/process.h"

namespace fs::testing {
namespace {

// Every lab's namespaces and veths are named kPrefix<pid>x<n>{e,b}: unique per process and lab,
// at most 15 characters (the interface name limit), and a later lab can tell from the pid whether
// a namespace was left behind by a test that crashed.
constexpr const char* kPrefix = "fsb";
std::atomic<int> lab_counter{0};

std::string BridgePath() { return BinDir() + "/flowsentry-exabgp-bridge"; }

bool Run(const std::vector<std::string>& argv, std::string* error) {
  const ProcessResult r = RunProcess(argv, 20);
  if (r.exit_code == 0) return true;
  std::string cmd;
  for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  *error = fmt::format("`{}` failed ({}): {}", cmd, r.exit_code, r.err);
  return false;
}

std::string Tail(const std::string& text, size_t n) {
  return text.size() > n ? "..." + text.substr(text.size() - n) : text;
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

std::string BgpLab::Unavailable() {
  if (geteuid() != 0) return "the BGP lab needs root (network namespaces)";
  for (const char* p : {"ip", "bird", "birdc", "exabgp"}) {
    if (FindProgram(p).empty()) {
      return fmt::format("the BGP lab needs `{}` (Debian packages iproute2, bird2, exabgp)", p);
    }
  }
  if (access(BridgePath().c_str(), X_OK) != 0) {
    return fmt::format("{} is not built", BridgePath());
  }
  return "";
}

BgpLab::BgpLab(std::string bridge_socket) : bridge_socket_(std::move(bridge_socket)) {
  const std::string base =
      fmt::format("{}{}x{}", kPrefix, static_cast<long>(getpid()), lab_counter.fetch_add(1));
  ns_exa_ = base + "e";
  ns_bird_ = base + "b";
  veth_exa_ = base + "e";
  veth_bird_ = base + "b";
  dir_ = MakeTempDir("bgplab");
}

BgpLab::~BgpLab() {
  StopProcess(&exabgp_pid_, 3000);
  StopProcess(&bird_pid_, 3000);
  if (netns_created_) {
    const std::string ip = FindProgram("ip");
    // Deleting a namespace deletes the veth end inside it, and with it its peer.
    RunProcess({ip, "netns", "del", ns_exa_}, 20);
    RunProcess({ip, "netns", "del", ns_bird_}, 20);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

pid_t BgpLab::SpawnInNetns(const std::string& netns, const std::vector<std::string>& argv,
                           const std::vector<std::string>& env, const std::string& log_path) {
  // Everything the child needs is prepared before fork(): the test process has threads, so the
  // child may only make async-signal-safe calls until exec.
  const std::string netns_path = "/run/netns/" + netns;
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid != 0) return pid;
  // The daemon must not outlive the test, even one that crashes.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(126);
  const int ns = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(125);
  const int in = open("/dev/null", O_RDONLY);
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || log < 0) _exit(124);
  dup2(in, 0);
  dup2(log, 1);
  dup2(log, 2);
  execve(args[0], args.data(), envp.data());
  _exit(127);
}

void BgpLab::StopProcess(pid_t* pid, int grace_ms) {
  if (*pid <= 0) return;
  kill(*pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  int status = 0;
  while (waitpid(*pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(*pid, SIGKILL);
      waitpid(*pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *pid = -1;
}

bool BgpLab::Start(std::string* error) {
  const std::string why = Unavailable();
  if (!why.empty()) {
    *error = why;
    return false;
  }
  if (dir_.empty()) {
    *error = "cannot create a temporary directory";
    return false;
  }
  const std::string ip = FindProgram("ip");
  DeleteStaleNamespaces(ip, kPrefix);

  if (!Run({ip, "netns", "add", ns_exa_}, error)) return false;
  netns_created_ = true;
  if (!Run({ip, "netns", "add", ns_bird_}, error)) return false;
  if (!Run({ip, "link", "add", veth_exa_, "netns", ns_exa_, "type", "veth", "peer", "name",
            veth_bird_, "netns", ns_bird_},
           error)) {
    return false;
  }
  const struct {
    const std::string& ns;
    const std::string& dev;
    const char* addr;
  } ends[] = {{ns_exa_, veth_exa_, "10.255.0.1/30"}, {ns_bird_, veth_bird_, "10.255.0.2/30"}};
  for (const auto& e : ends) {
    if (!Run({ip, "-n", e.ns, "addr", "add", e.addr, "dev", e.dev}, error) ||
        !Run({ip, "-n", e.ns, "link", "set", e.dev, "up"}, error) ||
        !Run({ip, "-n", e.ns, "link", "set", "lo", "up"}, error)) {
      return false;
    }
  }

  // The router: iBGP from the trigger (ExaBGP), next hops resolved recursively (the iBGP
  // default), the discard next hops routed to blackhole. A short error wait so the session comes
  // back quickly when ExaBGP restarts.
  const std::string bird_conf = fmt::format(
      R"(router id 10.255.0.2;
log "{0}/bird.log" all;
protocol device {{ }}
protocol static rtbh4 {{ ipv4; route 192.0.2.1/32 blackhole; }}
protocol static rtbh6 {{ ipv6; route 100::1/128 blackhole; }}
protocol bgp exa {{
  local 10.255.0.2 as 65000;
  neighbor 10.255.0.1 as 65000;
  passive on;
  hold time 10;
  error wait time 1, 2;
  ipv4 {{ import all; export none; }};
  ipv6 {{ import all; export none; }};
}}
)",
      dir_);
  const std::string exabgp_conf = fmt::format(
      R"(process flowsentry {{
  run {0} --socket {1} --max-backoff-ms 500;
  encoder text;
}}
neighbor 10.255.0.2 {{
  router-id 10.255.0.1;
  local-address 10.255.0.1;
  local-as 65000;
  peer-as 65000;
  hold-time 10;
  family {{ ipv4 unicast; ipv6 unicast; }}
  api {{ processes [ flowsentry ]; }}
}}
)",
      BridgePath(), bridge_socket_);
  if (!WriteText(dir_ + "/bird.conf", bird_conf) ||
      !WriteText(dir_ + "/exabgp.conf", exabgp_conf)) {
    *error = "cannot write the lab configs in " + dir_;
    return false;
  }

  bird_pid_ = SpawnInNetns(ns_bird_,
                           {FindProgram("bird"), "-f", "-c", dir_ + "/bird.conf", "-s",
                            dir_ + "/bird.ctl", "-P", dir_ + "/bird.pid"},
                           {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, dir_ + "/bird.stderr");
  // birdc answers once BIRD has read its config.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (Birdc("show status").find("Daemon is up") == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) {
      *error = "BIRD did not start: " + Diagnostics();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return StartExaBgp(error);
}

bool BgpLab::StartExaBgp(std::string* error) {
  if (exabgp_pid_ > 0) return true;
  // Runs as root with no privilege drop (the bridge must reach a root-owned socket), in the
  // foreground, no CLI pipes (they would go to /run/exabgp), logging to a file of the lab.
  exabgp_pid_ =
      SpawnInNetns(ns_exa_, {FindProgram("exabgp"), dir_ + "/exabgp.conf"},
                   {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir_, "exabgp.daemon.user=root",
                    "exabgp.daemon.drop=false", "exabgp.daemon.daemonize=false",
                    "exabgp.api.cli=false", "exabgp.log.destination=" + dir_ + "/exabgp.log",
                    "exabgp.log.level=INFO", "exabgp.log.processes=true"},
                   dir_ + "/exabgp.stderr");
  // ExaBGP (Python) takes a second or two to start on a busy machine; be generous.
  if (!WaitForSession(40)) {
    *error = "the BGP session did not come up: " + Diagnostics();
    return false;
  }
  return true;
}

bool BgpLab::StopExaBgp() {
  // SIGTERM: ExaBGP sends a Cease NOTIFICATION, BIRD drops the routes at once.
  StopProcess(&exabgp_pid_, 10000);
  return true;
}

std::string BgpLab::Birdc(const std::string& command) {
  std::vector<std::string> argv = {FindProgram("birdc"), "-s", dir_ + "/bird.ctl"};
  std::stringstream ss(command);
  std::string word;
  while (ss >> word) argv.push_back(word);
  return RunProcess(argv, 20).out;
}

bool BgpLab::SessionEstablished() {
  return Birdc("show protocols exa").find("Established") != std::string::npos;
}

bool BgpLab::WaitForSession(int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (!SessionEstablished()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (exabgp_pid_ > 0 && waitpid(exabgp_pid_, nullptr, WNOHANG) == exabgp_pid_) {
      exabgp_pid_ = -1;  // ExaBGP died (bad config?): Diagnostics() shows why
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return true;
}

std::vector<BirdRoute> BgpLab::BirdRouteTable() {
  // "show route all protocol exa" prints, per route:
  //   10.1.2.3/32          blackhole [exa 11:41:59.954 from 10.255.0.1] * (100/?) [i]
  //   <tab>BGP.community: (65535,666) (65000,1)
  std::vector<BirdRoute> routes;
  std::stringstream ss(Birdc("show route all protocol exa"));
  std::string line;
  while (std::getline(ss, line)) {
    if (line.empty()) continue;
    if (line[0] != ' ' && line[0] != '\t') {
      if (line.find("[exa ") == std::string::npos) continue;  // "Table master4:", banner
      std::stringstream ls(line);
      BirdRoute r;
      std::string dest;
      ls >> r.prefix >> dest;
      r.blackhole = dest == "blackhole";
      routes.push_back(std::move(r));
      continue;
    }
    const size_t c = line.find("BGP.community:");
    if (c == std::string::npos || routes.empty()) continue;
    size_t pos = c;
    while ((pos = line.find('(', pos)) != std::string::npos) {
      const size_t end = line.find(')', pos);
      if (end == std::string::npos) break;
      std::string pair = line.substr(pos + 1, end - pos - 1);
      const size_t comma = pair.find(',');
      if (comma != std::string::npos) pair[comma] = ':';
      routes.back().communities.push_back(pair);
      pos = end;
    }
  }
  return routes;
}

std::vector<std::string> BgpLab::BirdRoutes() {
  std::vector<std::string> out;
  for (const BirdRoute& r : BirdRouteTable()) {
    std::string s = r.prefix;
    for (const std::string& c : r.communities) s += " " + c;
    out.push_back(std::move(s));
  }
  return out;
}

bool BgpLab::WaitForRoute(const std::string& prefix, bool present, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    bool found = false;
    for (const BirdRoute& r : BirdRouteTable()) found = found || r.prefix == prefix;
    if (found == present) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string BgpLab::Diagnostics() {
  return fmt::format(
      "\n--- birdc show protocols all exa\n{}\n--- birdc show route all\n{}\n--- bird.log\n{}\n"
      "--- exabgp.log\n{}\n--- exabgp stderr (bridge)\n{}\n",
      Tail(Birdc("show protocols all exa"), 3000), Tail(Birdc("show route all"), 3000),
      Tail(ReadFile(dir_ + "/bird.log") + ReadFile(dir_ + "/bird.stderr"), 2000),
      Tail(ReadFile(dir_ + "/exabgp.log"), 4000), Tail(ReadFile(dir_ + "/exabgp.stderr"), 3000));
}

}  // namespace fs::testing
