// flowsentry-exabgp-bridge: the ExaBGP API process of the BGP black-hole backend
// (controlplane/enforce/bgp_backend.h, docs/enforcement-bgp.md). ExaBGP starts it from a
// `process` entry; it connects to the unix socket the sensor listens on and relays lines:
// sensor -> our stdout (ExaBGP reads API commands there), our stdin (ExaBGP's acks) -> sensor.
//
// It outlives the sensor on purpose: while the sensor is down or restarting it keeps retrying with
// back-off instead of exiting: ExaBGP respawns a process that exits, but stops altogether when one
// dies more than five times in about a minute (exabgp.api.respawn), taking every session down;
// and ExaBGP keeps the routes the process announced either way. It exits when ExaBGP closes its
// stdin (ExaBGP stopped).
//
// Single-threaded: one poll loop owns both directions.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace fs::enforce {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kFirstBackoffMs = 100;
constexpr auto kRepeatLogEvery = std::chrono::seconds(60);
constexpr size_t kMaxLine = 64 * 1024;

void Log(const std::string& msg) {
  // stderr is ExaBGP's, i.e. the journal under systemd.
  std::fprintf(stderr, "flowsentry-exabgp-bridge: %s\n", msg.c_str());
  std::fflush(stderr);
}

// Only what the backend sends: a compromised or confused peer on the socket cannot make ExaBGP
// shut down, reload, or tear down sessions.
bool Allowed(std::string_view line) {
  return line.starts_with("announce route ") || line.starts_with("withdraw route ") ||
         line == "show adj-rib out" || line == "show adj-rib out extensive";
}

bool IsAck(std::string_view line) { return line == "done" || line == "error"; }

class Bridge {
 public:
  Bridge(std::string socket_path, int max_backoff_ms)
      : path_(std::move(socket_path)), max_backoff_ms_(max_backoff_ms) {}

  int Run() {
    for (;;) {
      if (sock_ < 0 && Clock::now() >= next_attempt_) Connect();
      pollfd fds[2] = {{0, POLLIN, 0}, {sock_, POLLIN, 0}};
      int timeout = -1;
      if (sock_ < 0) {
        timeout = static_cast<int>(std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - Clock::now())
                   .count()));
      }
      if (poll(fds, sock_ >= 0 ? 2 : 1, timeout) < 0) {
        if (errno == EINTR) continue;
        Log(fmt::format("poll: {}", std::strerror(errno)));
        return 1;
      }
      if (fds[0].revents) {
        const int rc = ReadExaBgp();
        if (rc >= 0) return rc;
      }
      if (sock_ >= 0 && fds[1].revents) ReadSensor();
    }
  }

 private:
  void Connect() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), std::min(path_.size(), sizeof(addr.sun_path) - 1));
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      sock_ = fd;
      backoff_ms_ = kFirstBackoffMs;
      Log(fmt::format("connected to the sensor on {}", path_));
      last_error_.clear();
      return;
    }
    const std::string err = std::strerror(errno);
    if (fd >= 0) close(fd);
    // Say it once per cause, and again now and then, not every few seconds for hours.
    if (err != last_error_ || Clock::now() - last_log_ > kRepeatLogEvery) {
      Log(fmt::format("cannot connect to the sensor on {}: {} (retrying, every {} ms at most)",
                      path_, err, max_backoff_ms_));
      last_error_ = err;
      last_log_ = Clock::now();
    }
    next_attempt_ = Clock::now() + std::chrono::milliseconds(backoff_ms_);
    backoff_ms_ = std::min(backoff_ms_ * 2, max_backoff_ms_);
  }

  void Disconnect(const std::string& why) {
    Log(fmt::format("lost the sensor on {}: {}", path_, why));
    close(sock_);
    sock_ = -1;
    sensor_buf_.clear();
    // ExaBGP still owes acks for what the old connection sent: they must not reach the next
    // one, where they would confirm commands ExaBGP has not seen yet.
    stale_acks_ += owed_acks_;
    owed_acks_ = 0;
    // A restarting sensor listens again within moments: retry soon.
    next_attempt_ = Clock::now() + std::chrono::milliseconds(kFirstBackoffMs);
    backoff_ms_ = kFirstBackoffMs;
  }

  // Returns an exit code when the bridge must stop, -1 otherwise.
  int ReadExaBgp() {
    char buf[8192];
    const ssize_t n = read(0, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return -1;
    if (n <= 0) {
      Log("ExaBGP closed our stdin; exiting");
      return 0;
    }
    exabgp_buf_.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = exabgp_buf_.find('\n')) != std::string::npos) {
      std::string line = exabgp_buf_.substr(0, nl);
      exabgp_buf_.erase(0, nl + 1);
      if (IsAck(line)) {
        if (stale_acks_ > 0) {
          --stale_acks_;
          continue;
        }
        if (owed_acks_ > 0) --owed_acks_;
      }
      // Other lines go to whoever is connected now. The listing lines of a `show` the previous
      // connection asked for could thus reach the next one; harmless, since the backend only
      // ever withdraws routes of its own that it does not want.
      if (sock_ >= 0 && !SendToSensor(line)) Disconnect(std::strerror(errno));
    }
    if (exabgp_buf_.size() > kMaxLine) exabgp_buf_.clear();  // not line-based: nothing to relay
    return -1;
  }

  void ReadSensor() {
    char buf[8192];
    const ssize_t n = recv(sock_, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      Disconnect(n == 0 ? "the sensor closed the connection" : std::strerror(errno));
      return;
    }
    sensor_buf_.append(buf, static_cast<size_t>(n));
    size_t nl;
    while (sock_ >= 0 && (nl = sensor_buf_.find('\n')) != std::string::npos) {
      std::string line = sensor_buf_.substr(0, nl);
      sensor_buf_.erase(0, nl + 1);
      if (!Allowed(line)) {
        Log(fmt::format("refusing a command the sensor never sends: '{}'", line.substr(0, 200)));
        if (!SendToSensor("error")) Disconnect(std::strerror(errno));
        continue;
      }
      line += '\n';
      if (!WriteStdout(line)) {
        Log(fmt::format("writing to ExaBGP: {}; exiting", std::strerror(errno)));
        std::exit(1);
      }
      ++owed_acks_;
    }
    if (sock_ >= 0 && sensor_buf_.size() > kMaxLine) Disconnect("line too long");
  }

  bool SendToSensor(std::string line) {
    line += '\n';
    std::string_view rest = line;
    while (!rest.empty()) {
      const ssize_t n = send(sock_, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      rest.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  static bool WriteStdout(std::string_view data) {
    // Unbuffered, one whole line per write: ExaBGP acts on a command as soon as its line ends.
    while (!data.empty()) {
      const ssize_t n = write(1, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  const std::string path_;
  const int max_backoff_ms_;
  int sock_ = -1;
  int backoff_ms_ = kFirstBackoffMs;
  Clock::time_point next_attempt_ = Clock::now();
  std::string last_error_;
  Clock::time_point last_log_;
  std::string sensor_buf_, exabgp_buf_;
  uint64_t owed_acks_ = 0;   // commands relayed on this connection not acked yet
  uint64_t stale_acks_ = 0;  // acks still due for connections that are gone
};

}  // namespace
}  // namespace fs::enforce

int main(int argc, char** argv) {
  CLI::App app{
      "flowsentry-exabgp-bridge: relays flowsentry's BGP black-hole commands to ExaBGP.\n"
      "Run it from exabgp.conf: process flowsentry { run flowsentry-exabgp-bridge --socket "
      "/run/flowsentry/bgp.sock; encoder text; }"};
  std::string socket_path;
  int max_backoff_ms = 2000;
  app.add_option("--socket", socket_path, "the unix socket the sensor listens on (bgp.socket)")
      ->required();
  app.add_option("--max-backoff-ms", max_backoff_ms,
                 "longest wait between connection attempts while the sensor is down")
      ->check(CLI::Range(100, 600000));
  CLI11_PARSE(app, argc, argv);
  if (socket_path.size() >= sizeof(sockaddr_un::sun_path)) {
    std::fprintf(stderr, "flowsentry-exabgp-bridge: --socket: path longer than %zu bytes\n",
                 sizeof(sockaddr_un::sun_path) - 1);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  return fs::enforce::Bridge(socket_path, max_backoff_ms).Run();
}
