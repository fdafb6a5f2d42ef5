#include "tests/support/netns_lab.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/process.h"

namespace fs::testing {
namespace {

// Namespaces are kPrefix<pid>x<n><role>: the pid tells a later lab whether the owner is gone.
constexpr const char* kPrefix = "fse";
std::atomic<int> lab_counter{0};

std::string Join(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// Runs f() on a thread that has entered namespace `ns`; the calling thread is not moved. False
// (errno set) when the namespace cannot be entered.
template <typename F>
bool InNetns(const std::string& ns, F&& f) {
  bool entered = false;
  int err = 0;
  std::thread t([&] {
    const int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      err = errno;
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
    entered = true;
    f();
  });
  t.join();
  if (!entered) errno = err;
  return entered;
}

bool ParseV4(const std::string& addr, uint16_t port, sockaddr_in* out) {
  *out = {};
  out->sin_family = AF_INET;
  out->sin_port = htons(port);
  return inet_pton(AF_INET, addr.c_str(), &out->sin_addr) == 1;
}

// The value of one element of `nft -j` output: a string, a prefix object or a range.
std::string ElementValue(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("prefix")) {
    const auto& p = v.at("prefix");
    return fmt::format("{}/{}", p.value("addr", ""), p.value("len", 0));
  }
  if (v.is_object() && v.contains("range") && v.at("range").size() == 2) {
    return ElementValue(v.at("range")[0]) + "-" + ElementValue(v.at("range")[1]);
  }
  return v.dump();
}

}  // namespace

std::string NetnsLab::Unavailable() {
  if (geteuid() != 0) return "the netns lab needs root (network namespaces, nftables)";
  for (const char* p : {"ip", "nft", "tc", "sysctl"}) {
    if (FindProgram(p).empty()) {
      return fmt::format("the netns lab needs `{}` (Debian packages iproute2, nftables, procps)",
                         p);
    }
  }
  return "";
}

NetnsLab::NetnsLab() : ip_(FindProgram("ip")), nft_(FindProgram("nft")), tc_(FindProgram("tc")) {
  const std::string base =
      fmt::format("{}{}x{}", kPrefix, static_cast<long>(getpid()), lab_counter.fetch_add(1));
  ns_wan_ = base + "w";
  ns_rtr_ = base + "r";
  ns_lan_ = base + "l";
  ns_sensor_ = base + "s";
  dir_ = MakeTempDir("netnslab");
}

NetnsLab::~NetnsLab() {
  stop_ = true;
  if (listener_.joinable()) listener_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  for (const std::string& ns : created_) RunProcess({ip_, "netns", "del", ns}, 20);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool NetnsLab::Run(const std::vector<std::string>& argv, std::string* error) {
  const ProcessResult r = RunProcess(argv, 20);
  if (r.exit_code == 0) return true;
  *error = fmt::format("`{}` failed ({}): {}", Join(argv), r.exit_code, r.err);
  return false;
}

std::vector<std::string> NetnsLab::Exec(const std::string& ns,
                                        const std::vector<std::string>& argv) const {
  std::vector<std::string> out = {ip_, "netns", "exec", ns};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::string NetnsLab::ExecPrefix(const std::string& ns) const {
  return fmt::format("{} netns exec {}", ip_, ns);
}

bool NetnsLab::Start(std::string* error) {
  const std::string why = Unavailable();
  if (!why.empty()) {
    *error = why;
    return false;
  }
  if (dir_.empty()) {
    *error = "cannot create a temporary directory";
    return false;
  }
  DeleteStaleNamespaces(ip_, kPrefix);
  const std::string sysctl = FindProgram("sysctl");
  for (const std::string& ns : {ns_wan_, ns_rtr_, ns_lan_, ns_sensor_}) {
    if (!Run({ip_, "netns", "add", ns}, error)) return false;
    created_.push_back(ns);
    // IPv6 off before the links exist (default.*), so no router solicitations or DAD packets
    // reach the mirror; lo up for local sockets.
    if (!Run(Exec(ns, {sysctl, "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                       "net.ipv6.conf.default.disable_ipv6=1"}),
             error) ||
        !Run({ip_, "-n", ns, "link", "set", "lo", "up"}, error)) {
      return false;
    }
  }
  const std::vector<std::vector<std::string>> steps = {
      {ip_, "-n", ns_rtr_, "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns",
       ns_wan_},
      {ip_, "-n", ns_rtr_, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns",
       ns_lan_},
      {ip_, "-n", ns_rtr_, "link", "add", "mirror0", "type", "veth", "peer", "name", kMirrorIface,
       "netns", ns_sensor_},
      {ip_, "-n", ns_rtr_, "addr", "add", fmt::format("{}/24", kRouterWan), "dev", "wan0"},
      {ip_, "-n", ns_rtr_, "addr", "add", fmt::format("{}/24", kRouterLan), "dev", "lan0"},
      {ip_, "-n", ns_wan_, "addr", "add", fmt::format("{}/24", kAttacker), "dev", "eth0"},
      {ip_, "-n", ns_wan_, "addr", "add", fmt::format("{}/24", kInternetHost), "dev", "eth0"},
      {ip_, "-n", ns_lan_, "addr", "add", fmt::format("{}/24", kServer), "dev", "eth0"},
      {ip_, "-n", ns_rtr_, "link", "set", "wan0", "up"},
      {ip_, "-n", ns_rtr_, "link", "set", "lan0", "up"},
      {ip_, "-n", ns_rtr_, "link", "set", "mirror0", "up"},
      {ip_, "-n", ns_wan_, "link", "set", "eth0", "up"},
      {ip_, "-n", ns_lan_, "link", "set", "eth0", "up"},
      {ip_, "-n", ns_sensor_, "link", "set", kMirrorIface, "up"},
      {ip_, "-n", ns_wan_, "route", "add", "default", "via", kRouterWan},
      {ip_, "-n", ns_lan_, "route", "add", "default", "via", kRouterLan},
      Exec(ns_rtr_, {sysctl, "-qw", "net.ipv4.ip_forward=1"}),
      Exec(ns_rtr_, {nft_, "flush", "ruleset"}),
  };
  for (const auto& argv : steps) {
    if (!Run(argv, error)) return false;
  }
  // The mirror port: everything arriving on either router interface, i.e. each forwarded packet
  // once per direction, copied before the firewall sees it (as a SPAN port does). A u32 filter
  // that matches every packet, since u32 is the classifier kernels most often have (matchall is
  // missing from some, e.g. containers' kernels without modules).
  for (const char* dev : {"wan0", "lan0"}) {
    if (!Run({tc_, "-n", ns_rtr_, "qdisc", "add", "dev", dev, "clsact"}, error)) return false;
    std::string u32_error;
    if (!Run({tc_,       "-n",       ns_rtr_,  "filter", "add",    "dev", dev,
              "ingress", "protocol", "all",    "u32",    "match",  "u32", "0",
              "0",       "action",   "mirred", "egress", "mirror", "dev", "mirror0"},
             &u32_error) &&
        !Run({tc_, "-n", ns_rtr_, "filter", "add", "dev", dev, "ingress", "matchall", "action",
              "mirred", "egress", "mirror", "dev", "mirror0"},
             error)) {
      *error = u32_error + "; " + *error;
      return false;
    }
  }
  return StartListener(error);
}

bool NetnsLab::AddWanAddresses(const std::vector<std::string>& addrs, std::string* error) {
  for (const std::string& a : addrs) {
    if (!Run({ip_, "-n", ns_wan_, "addr", "add", a + "/24", "dev", "eth0"}, error)) return false;
  }
  return true;
}

int NetnsLab::SocketIn(const std::string& ns, int domain, int type) {
  int fd = -1, err = 0;
  if (!InNetns(ns, [&] {
        fd = socket(domain, type, 0);
        err = errno;
      })) {
    return -1;
  }
  if (fd < 0) errno = err;
  return fd;
}

bool NetnsLab::StartListener(std::string* error) {
  listen_fd_ = SocketIn(ns_lan_, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  sockaddr_in a;
  const int one = 1;
  if (listen_fd_ < 0 || !ParseV4(kServer, kServerPort, &a) ||
      setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(listen_fd_, 128) != 0) {
    *error = fmt::format("the server's listener on {}:{} in {}: {}", kServer, kServerPort, ns_lan_,
                         std::strerror(errno));
    return false;
  }
  listener_ = std::thread([this] { ListenLoop(); });
  return true;
}

// The district server: accepts, reads whatever comes and closes when the client does.
void NetnsLab::ListenLoop() {
  std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}};
  char buf[4096];
  while (!stop_) {
    if (poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (size_t i = fds.size(); i-- > 1;) {
      if (fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) continue;
      close(fds[i].fd);
      fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (fds[0].revents & POLLIN) {
      for (;;) {
        const int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        accepted_.fetch_add(1);
        fds.push_back({c, POLLIN, 0});
      }
    }
  }
  for (size_t i = 1; i < fds.size(); ++i) close(fds[i].fd);
}

int NetnsLab::OpenConnection(const std::string& src, int timeout_ms, std::string* error) {
  const int fd = SocketIn(ns_wan_, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    *error = fmt::format("socket in {}: {}", ns_wan_, std::strerror(errno));
    return -1;
  }
  sockaddr_in local, remote;
  if (!ParseV4(src, 0, &local) || !ParseV4(kServer, kServerPort, &remote)) {
    close(fd);
    *error = "bad address " + src;
    return -1;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    *error = fmt::format("bind {}: {}", src, std::strerror(errno));
    close(fd);
    return -1;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0 &&
      errno != EINPROGRESS) {
    *error = std::strerror(errno);
    close(fd);
    return -1;
  }
  pollfd p = {fd, POLLOUT, 0};
  if (poll(&p, 1, timeout_ms) != 1) {
    *error = "timed out";
    close(fd);
    return -1;
  }
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    *error = std::strerror(so_error);
    close(fd);
    return -1;
  }
  return fd;
}

ConnectResult NetnsLab::Connect(const std::string& src, const std::string& payload,
                                int timeout_ms) {
  ConnectResult r;
  const int fd = OpenConnection(src, timeout_ms, &r.error);
  if (fd < 0) return r;
  if (!payload.empty() && send(fd, payload.data(), payload.size(), MSG_NOSIGNAL) !=
                              static_cast<ssize_t>(payload.size())) {
    r.error = fmt::format("send: {}", std::strerror(errno));
    close(fd);
    return r;
  }
  close(fd);
  r.connected = true;
  return r;
}

std::vector<NftElement> NetnsLab::NftSetElements(const std::string& table, const std::string& set,
                                                 bool* ok) {
  std::vector<NftElement> out;
  *ok = false;
  const ProcessResult r =
      RunProcess(Exec(ns_rtr_, {nft_, "-j", "list", "set", "inet", table, set}), 20);
  if (r.exit_code != 0) return out;
  try {
    const auto doc = nlohmann::json::parse(r.out);
    for (const auto& item : doc.at("nftables")) {
      if (!item.contains("set")) continue;
      *ok = true;
      const auto& s = item.at("set");
      if (!s.contains("elem")) continue;
      for (const auto& e : s.at("elem")) {
        NftElement el;
        if (e.is_object() && e.contains("elem")) {
          const auto& inner = e.at("elem");
          el.value = ElementValue(inner.at("val"));
          el.timeout_s = inner.value("timeout", int64_t{-1});
          el.expires_s = inner.value("expires", int64_t{-1});
        } else {
          el.value = ElementValue(e);
        }
        out.push_back(std::move(el));
      }
    }
  } catch (const std::exception&) {
    *ok = false;
  }
  return out;
}

bool NetnsLab::WaitForSetElement(const std::string& value, bool present, int timeout_s,
                                 const std::string& table, const std::string& set) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    bool ok = false, found = false;
    for (const NftElement& e : NftSetElements(table, set, &ok)) found = found || e.value == value;
    if (found == present) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool NetnsLab::Nft(const std::vector<std::string>& args, std::string* output) {
  std::vector<std::string> argv = {nft_};
  argv.insert(argv.end(), args.begin(), args.end());
  const ProcessResult r = RunProcess(Exec(ns_rtr_, argv), 20);
  if (output) *output = r.out + r.err;
  return r.exit_code == 0;
}

std::string NetnsLab::Diagnostics() {
  std::string out;
  out += "\n--- rtr: nft list ruleset\n" + RunProcess(Exec(ns_rtr_, {nft_, "list", "ruleset"})).out;
  out += "--- rtr: ip -s link\n" + RunProcess({ip_, "-n", ns_rtr_, "-s", "link"}).out;
  out += "--- rtr: tc -s filter show dev wan0 ingress\n" +
         RunProcess({tc_, "-n", ns_rtr_, "-s", "filter", "show", "dev", "wan0", "ingress"}).out;
  out += "--- sensor: ip -s link\n" + RunProcess({ip_, "-n", ns_sensor_, "-s", "link"}).out;
  out += fmt::format("--- server accepted {} connection(s)\n", accepted());
  return out;
}

}  // namespace fs::testing
