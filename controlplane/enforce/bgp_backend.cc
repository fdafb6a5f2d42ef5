#include "controlplane/enforce/bgp_backend.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs::enforce {
namespace {

using Clock = std::chrono::steady_clock;

// Commands in flight at once: enough that a Sync of thousands of blocks does not pay one ExaBGP
// reactor turn per route, few enough that neither the socket nor the pipes between ExaBGP and
// the bridge can fill up (64 short lines and 64 acks are a few kilobytes).
constexpr size_t kWindow = 64;
// A bridge that sends a line this long without a newline is not a bridge.
constexpr size_t kMaxLine = 64 * 1024;
constexpr int kMaxTimeoutMs = 10 * 60 * 1000;

std::string Errno(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

// "A:B" with two 16-bit decimal parts, normalised (no leading zeros); false otherwise.
bool ParseCommunity(std::string_view text, std::string* out) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  uint32_t parts[2];
  const std::string_view halves[2] = {text.substr(0, colon), text.substr(colon + 1)};
  for (int i = 0; i < 2; ++i) {
    const std::string_view h = halves[i];
    if (h.empty() || h.size() > 5) return false;
    auto [end, ec] = std::from_chars(h.data(), h.data() + h.size(), parts[i]);
    if (ec != std::errc() || end != h.data() + h.size() || parts[i] > 0xffff) return false;
  }
  *out = fmt::format("{}:{}", parts[0], parts[1]);
  return true;
}

// ExaBGP prints these well-known communities (RFC 1997, 3765, 7999) by name.
std::string CommunityFromExaBgp(std::string_view token) {
  if (token == "blackhole") return "65535:666";
  if (token == "no-export") return "65535:65281";
  if (token == "no-advertise") return "65535:65282";
  if (token == "no-export-subconfed") return "65535:65283";
  if (token == "no-peer") return "65535:65284";
  std::string normalised;
  return ParseCommunity(token, &normalised) ? normalised : std::string(token);
}

std::vector<std::string_view> Tokens(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool FillAddress(const std::string& path, sockaddr_un* addr) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr->sun_path)) return false;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

bool LookupGroup(const std::string& name, gid_t* gid) {
  std::vector<char> buf(16384);
  group g{};
  group* result = nullptr;
  if (getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    return false;
  }
  *gid = g.gr_gid;
  return true;
}

// The configured next hop for the prefix's family, in canonical form.
std::string NextHopText(const BgpConfig& config, const patterns::IpPrefix& prefix) {
  const std::string& text = prefix.IsV4() ? config.next_hop4 : config.next_hop6;
  const auto nh = IpAddr::Parse(text);
  return nh ? nh->ToString() : text;
}

// Whether a process listens on the unix socket `path`. Read from /proc/net/unix (flag
// __SO_ACCEPTCON) rather than by connecting: a probe connection would look like a new bridge to
// the sensor that owns the socket and make it drop its real one.
bool SomeoneListensOn(const std::string& path, const sockaddr_un& addr) {
  std::ifstream in("/proc/net/unix");
  if (!in) {
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live =
        probe >= 0 && connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
    if (probe >= 0) close(probe);
    return live;
  }
  // "Num RefCount Protocol Flags Type St Inode Path"
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    const std::vector<std::string_view> t = Tokens(line);
    if (t.size() < 8 || t[7] != path) continue;
    unsigned long flags = 0;
    std::from_chars(t[3].data(), t[3].data() + t[3].size(), flags, 16);
    if (flags & 0x10000) return true;
  }
  return false;
}

}  // namespace

bool ValidateBgpConfig(const BgpConfig& config, std::string* error) {
  sockaddr_un addr;
  if (config.socket_path.empty()) {
    *error = "bgp.socket: missing (the unix socket flowsentry-exabgp-bridge connects to)";
    return false;
  }
  if (!FillAddress(config.socket_path, &addr)) {
    *error = fmt::format("bgp.socket: '{}' is longer than {} bytes", config.socket_path,
                         sizeof(addr.sun_path) - 1);
    return false;
  }
  gid_t gid;
  if (!config.socket_group.empty() && !LookupGroup(config.socket_group, &gid)) {
    *error = fmt::format("bgp.socket_group: no group named '{}'", config.socket_group);
    return false;
  }
  const auto nh4 = IpAddr::Parse(config.next_hop4);
  if (!nh4 || !nh4->IsV4()) {
    *error = fmt::format("bgp.next_hop4: '{}' is not an IPv4 address", config.next_hop4);
    return false;
  }
  const auto nh6 = IpAddr::Parse(config.next_hop6);
  if (!nh6 || nh6->IsV4()) {
    *error = fmt::format("bgp.next_hop6: '{}' is not an IPv6 address", config.next_hop6);
    return false;
  }
  for (size_t i = 0; i < config.communities.size(); ++i) {
    std::string normalised;
    if (!ParseCommunity(config.communities[i], &normalised)) {
      *error = fmt::format(
          "bgp.communities[{}]: '{}' is not a community 'A:B' with A and B in 0..65535 "
          "(65535:666 is BLACKHOLE)",
          i, config.communities[i]);
      return false;
    }
  }
  if (config.command_timeout_ms <= 0 || config.command_timeout_ms > kMaxTimeoutMs) {
    *error = fmt::format("bgp.command_timeout_ms: {} is not in 1..{}", config.command_timeout_ms,
                         kMaxTimeoutMs);
    return false;
  }
  return true;
}

std::string BgpPrefixText(const patterns::IpPrefix& prefix) {
  if (prefix.IsV4()) return fmt::format("{}/{}", prefix.addr.ToString(), prefix.len - 96);
  return fmt::format("{}/{}", prefix.addr.ToString(), prefix.len);
}

std::string BgpAnnounceCommand(const BgpConfig& config, const patterns::IpPrefix& prefix) {
  std::string cmd = fmt::format("announce route {} next-hop {}", BgpPrefixText(prefix),
                                NextHopText(config, prefix));
  if (!config.communities.empty()) {
    cmd += " community [";
    for (size_t i = 0; i < config.communities.size(); ++i) {
      std::string c;
      if (!ParseCommunity(config.communities[i], &c)) c = config.communities[i];
      cmd += (i ? " " : "") + c;
    }
    cmd += "]";
  }
  return cmd;
}

std::string BgpWithdrawCommand(const BgpConfig& config, const patterns::IpPrefix& prefix) {
  // ExaBGP finds the route by prefix; its parser still wants a next hop.
  return fmt::format("withdraw route {} next-hop {}", BgpPrefixText(prefix),
                     NextHopText(config, prefix));
}

bool ParseAdjRibOutLine(std::string_view line, AdjRibRoute* out) {
  const std::vector<std::string_view> t = Tokens(line);
  if (t.empty() || t[0] != "neighbor") return false;
  size_t i = 1;
  bool found = false;
  for (; i + 2 < t.size(); ++i) {
    if ((t[i] == "ipv4" || t[i] == "ipv6") && t[i + 1] == "unicast") {
      bool host_bits = false;
      std::string reason;
      if (t[i + 2].find('/') != std::string_view::npos &&
          patterns::ParseIpEntry(t[i + 2], &out->prefix, &host_bits, &reason)) {
        found = true;
        break;
      }
    }
  }
  if (!found) return false;
  bool have_next_hop = false;
  out->communities.clear();
  for (i += 3; i < t.size(); ++i) {
    if (t[i] == "next-hop" && i + 1 < t.size()) {
      const auto nh = IpAddr::Parse(t[++i]);
      if (!nh) return false;
      out->next_hop = *nh;
      have_next_hop = true;
    } else if (t[i] == "community" && i + 1 < t.size()) {
      if (t[i + 1] != "[") {
        out->communities.push_back(CommunityFromExaBgp(t[++i]));
        continue;
      }
      for (i += 2; i < t.size() && t[i] != "]"; ++i) {
        out->communities.push_back(CommunityFromExaBgp(t[i]));
      }
    }
  }
  return have_next_hop;
}

BgpBackend::BgpBackend(BgpConfig config) : config_(std::move(config)) {}

BgpBackend::~BgpBackend() {
  if (accept_thread_.joinable()) {
    const uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof(one)) < 0) {
      // eventfd writes only fail on counter overflow; the thread is then already woken.
    }
    accept_thread_.join();
  }
  {
    std::lock_guard lock(mu_);
    if (bridge_fd_ >= 0) close(bridge_fd_);
    bridge_fd_ = -1;
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(config_.socket_path.c_str());
  }
  if (stop_fd_ >= 0) close(stop_fd_);
}

bool BgpBackend::Start(std::string* error) {
  if (!ValidateBgpConfig(config_, error)) return false;
  if (listen_fd_ < 0) {
    communities_.clear();
    for (const std::string& c : config_.communities) {
      std::string normalised;
      ParseCommunity(c, &normalised);
      communities_.push_back(normalised);
    }
    next_hop4_ = *IpAddr::Parse(config_.next_hop4);
    next_hop6_ = *IpAddr::Parse(config_.next_hop6);

    const std::string& path = config_.socket_path;
    gid_t gid = static_cast<gid_t>(-1);
    if (!config_.socket_group.empty()) LookupGroup(config_.socket_group, &gid);

    // The directory is normally made by systemd (RuntimeDirectory=flowsentry); make it if not,
    // reachable by the group ExaBGP runs as.
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
      if (!std::filesystem::create_directories(dir, ec)) {
        *error = fmt::format("bgp.socket: cannot create {}: {}", dir.string(), ec.message());
        return false;
      }
      chmod(dir.c_str(), 0750);
      if (gid != static_cast<gid_t>(-1) && chown(dir.c_str(), static_cast<uid_t>(-1), gid) != 0) {
        *error = fmt::format("bgp.socket_group: {}", Errno(dir.c_str()));
        return false;
      }
    }

    sockaddr_un addr;
    FillAddress(path, &addr);
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        *error = fmt::format(
            "bgp.socket: {} exists and is not a socket; remove it or choose another path", path);
        return false;
      }
      // A socket file left by a previous run is replaced; one somebody still listens on is not.
      if (SomeoneListensOn(path, addr)) {
        *error = fmt::format(
            "bgp.socket: another process already listens on {} (a second sensor with the same "
            "config?)",
            path);
        return false;
      }
      unlink(path.c_str());
    }

    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *error = "bgp: " + Errno("socket");
      return false;
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      *error = fmt::format("bgp.socket: {}", Errno(path.c_str()));
      close(fd);
      return false;
    }
    // Before listen(), so nobody can connect while the mode is still the umask's.
    if (chmod(path.c_str(), 0660) != 0 ||
        (gid != static_cast<gid_t>(-1) && chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0)) {
      *error = fmt::format("bgp.socket: {}", Errno(path.c_str()));
      close(fd);
      unlink(path.c_str());
      return false;
    }
    if (listen(fd, 4) != 0) {
      *error = fmt::format("bgp.socket: {}", Errno(path.c_str()));
      close(fd);
      unlink(path.c_str());
      return false;
    }
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    if (stop_fd_ < 0) {
      *error = "bgp: " + Errno("eventfd");
      close(fd);
      unlink(path.c_str());
      return false;
    }
    listen_fd_ = fd;
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  std::unique_lock lock(mu_);
  if (connected_cv_.wait_for(lock, std::chrono::milliseconds(config_.command_timeout_ms),
                             [this] { return bridge_fd_ >= 0; })) {
    return true;
  }
  *error = fmt::format(
      "listening on {}, but no flowsentry-exabgp-bridge connected within {} ms: is ExaBGP running "
      "with `process flowsentry {{ run flowsentry-exabgp-bridge --socket {}; encoder text; }}` "
      "and may its user open the socket (bgp.socket_group)?",
      config_.socket_path, config_.command_timeout_ms, config_.socket_path);
  return false;
}

bool BgpBackend::Add(const Block& b, std::string* error) {
  std::lock_guard lock(mu_);
  wanted_.insert(b.target);  // announced on the next bridge connection even if this one fails
  return RunLocked({BgpAnnounceCommand(config_, b.target)}, nullptr, error);
}

bool BgpBackend::Remove(const Block& b, std::string* error) {
  std::lock_guard lock(mu_);
  wanted_.erase(b.target);
  return RunLocked({BgpWithdrawCommand(config_, b.target)}, nullptr, error);
}

bool BgpBackend::Sync(std::span<const Block> live, std::string* error) {
  std::lock_guard lock(mu_);
  wanted_.clear();
  for (const Block& b : live) wanted_.insert(b.target);
  authoritative_ = true;
  return ReconcileLocked(error);
}

bool BgpBackend::BridgeConnected() const {
  std::lock_guard lock(mu_);
  return bridge_fd_ >= 0;
}

std::string BgpBackend::NoBridgeError() const {
  if (listen_fd_ < 0) return "bgp backend not started";
  return fmt::format(
      "no ExaBGP connected on {}: is ExaBGP running with a process that runs "
      "`flowsentry-exabgp-bridge --socket {}` (docs/enforcement-bgp.md)?",
      config_.socket_path, config_.socket_path);
}

void BgpBackend::AcceptLoop() {
  // The thread also watches the current bridge connection, through its own dup of the socket, so
  // that a bridge that goes away (ExaBGP stopped) is noticed and logged when it happens, not at
  // the next block. Its own descriptor: the dispatcher may close bridge_fd_ at any time.
  int watch_fd = -1;
  uint64_t watch_generation = 0;
  for (;;) {
    pollfd fds[3] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}, {watch_fd, POLLRDHUP, 0}};
    if (poll(fds, watch_fd >= 0 ? 3 : 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("bgp: poll on {} failed: {}", config_.socket_path, std::strerror(errno));
      break;
    }
    if (fds[1].revents) break;
    if (watch_fd >= 0 && fds[2].revents) {
      std::lock_guard lock(mu_);
      if (generation_ == watch_generation) {
        DropBridgeLocked("the bridge disconnected (ExaBGP stopped or restarting?)");
      }
      close(watch_fd);
      watch_fd = -1;
    }
    if (!fds[0].revents) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        spdlog::warn("bgp: accept on {} failed: {}", config_.socket_path, std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // EMFILE: do not spin
      }
      continue;
    }
    // A send to a bridge that stopped reading must not hang the dispatcher forever.
    timeval tv{config_.command_timeout_ms / 1000, (config_.command_timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    ucred cred{};
    socklen_t len = sizeof(cred);
    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    if (watch_fd >= 0) close(watch_fd);
    watch_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

    std::lock_guard lock(mu_);
    // One ExaBGP per sensor: a new bridge means the old one is gone (ExaBGP restarted).
    if (bridge_fd_ >= 0) DropBridgeLocked("a new bridge connected");
    bridge_fd_ = fd;
    watch_generation = ++generation_;
    rbuf_.clear();
    spdlog::info("bgp: ExaBGP bridge connected on {} (pid {}); announcing {} block(s)",
                 config_.socket_path, cred.pid, wanted_.size());
    std::string error;
    if (ReconcileLocked(&error)) {
      reconciles_.fetch_add(1);
    } else {
      spdlog::warn("bgp: bringing the new ExaBGP up to date failed: {}", error);
    }
    connected_cv_.notify_all();
  }
  if (watch_fd >= 0) close(watch_fd);
}

void BgpBackend::DropBridgeLocked(const std::string& why) {
  if (bridge_fd_ < 0) return;
  spdlog::warn("bgp: closing the ExaBGP bridge connection on {}: {}", config_.socket_path, why);
  // shutdown() reaches the socket itself: the bridge sees the end even though the accept
  // thread's watching duplicate keeps the socket open until that thread notices.
  shutdown(bridge_fd_, SHUT_RDWR);
  close(bridge_fd_);
  bridge_fd_ = -1;
  rbuf_.clear();
}

bool BgpBackend::ReadLineLocked(int timeout_ms, std::string* line, std::string* error) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const size_t nl = rbuf_.find('\n');
    if (nl != std::string::npos) {
      line->assign(rbuf_, 0, nl);
      rbuf_.erase(0, nl + 1);
      while (!line->empty() && (line->back() == '\r' || line->back() == ' ')) line->pop_back();
      return true;
    }
    if (rbuf_.size() > kMaxLine) {
      *error = "the bridge sent a line without end";
      DropBridgeLocked(*error);
      return false;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      *error = fmt::format(
          "ExaBGP did not answer within {} ms (is exabgp.api.ack on? see ExaBGP's log); the bridge "
          "connection was reset, everything is re-announced when it reconnects",
          timeout_ms);
      DropBridgeLocked("no answer from ExaBGP");
      return false;
    }
    pollfd fds[2] = {{bridge_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int r = poll(fds, 2, static_cast<int>(left));
    if (r < 0 && errno != EINTR) {
      *error = Errno("poll");
      DropBridgeLocked(*error);
      return false;
    }
    if (r <= 0) continue;
    if (fds[1].revents) {
      *error = "the bgp backend is shutting down";
      return false;
    }
    char buf[4096];
    const ssize_t n = recv(bridge_fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      rbuf_.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      *error = n == 0 ? "the bridge disconnected (ExaBGP stopped or restarting?); everything is "
                        "re-announced when it reconnects"
                      : Errno("recv from the bridge");
      DropBridgeLocked(*error);
      return false;
    }
  }
}

bool BgpBackend::RunLocked(const std::vector<std::string>& commands,
                           std::vector<std::string>* listing, std::string* error) {
  if (bridge_fd_ < 0) {
    *error = NoBridgeError();
    return false;
  }
  size_t sent = 0, acked = 0;
  std::string first_error;
  while (acked < commands.size()) {
    while (sent < commands.size() && sent - acked < kWindow) {
      if (!WriteAll(bridge_fd_, commands[sent] + "\n")) {
        *error = fmt::format("`{}`: {}; everything is re-announced when the bridge reconnects",
                             commands[sent], Errno("sending to the ExaBGP bridge"));
        DropBridgeLocked(*error);
        return false;
      }
      ++sent;
    }
    std::string line, read_error;
    if (!ReadLineLocked(config_.command_timeout_ms, &line, &read_error)) {
      *error = fmt::format("`{}`: {}", commands[acked], read_error);
      return false;
    }
    if (line == "done") {
      ++acked;
    } else if (line == "error") {
      if (first_error.empty()) {
        first_error = fmt::format(
            "ExaBGP refused `{}`: does a neighbor in exabgp.conf list this process in "
            "`api {{ processes [ ... ]; }}`? (details in ExaBGP's log)",
            commands[acked]);
      }
      ++acked;
    } else if (line.starts_with("shutdown")) {
      *error =
          fmt::format("`{}`: ExaBGP is shutting down; everything is re-announced when it is back",
                      commands[acked]);
      DropBridgeLocked("ExaBGP is shutting down");
      return false;
    } else if (line.starts_with("neighbor ") && listing != nullptr) {
      listing->push_back(std::move(line));
    }
    // Anything else is an event the operator enabled for this process (neighbor changes ...):
    // not an answer to us.
  }
  if (!first_error.empty()) {
    *error = first_error;
    return false;
  }
  return true;
}

bool BgpBackend::OwnedRoute(const AdjRibRoute& route) const {
  if (route.next_hop != (route.prefix.IsV4() ? next_hop4_ : next_hop6_)) return false;
  for (const std::string& c : communities_) {
    if (std::find(route.communities.begin(), route.communities.end(), c) ==
        route.communities.end()) {
      return false;
    }
  }
  return true;
}

bool BgpBackend::ReconcileLocked(std::string* error) {
  std::vector<std::string> commands;
  if (authoritative_) {
    // Only once wanted_ is the block manager's list may we withdraw what we find but do not want.
    std::vector<std::string> listing;
    if (!RunLocked({"show adj-rib out extensive"}, &listing, error)) return false;
    std::set<patterns::IpPrefix> stray;
    for (const std::string& line : listing) {
      AdjRibRoute route;
      if (ParseAdjRibOutLine(line, &route) && OwnedRoute(route) && !wanted_.count(route.prefix)) {
        stray.insert(route.prefix);
      }
    }
    for (const patterns::IpPrefix& p : stray) commands.push_back(BgpWithdrawCommand(config_, p));
    if (!stray.empty()) {
      spdlog::info("bgp: withdrawing {} black-hole route(s) ExaBGP still held from before",
                   stray.size());
    }
  }
  for (const patterns::IpPrefix& p : wanted_) commands.push_back(BgpAnnounceCommand(config_, p));
  if (commands.empty()) {
    if (bridge_fd_ < 0) {
      *error = NoBridgeError();
      return false;
    }
    return true;
  }
  return RunLocked(commands, nullptr, error);
}

}  // namespace fs::enforce
