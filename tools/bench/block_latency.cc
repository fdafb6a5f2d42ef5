// flowsentry-bench-block-latency: how long from the packet that triggers a blocking rule until the
// block is in place at the enforcement points. Builds the e2e tests' district in network
// namespaces (tests/support/netns_lab.h: wan attacker -> router -> lan RDP server, the sensor on
// the router's mirror port), optionally the BGP lab (ExaBGP -> BIRD, tests/support/bgp_lab.h),
// runs the real sensor with the nftables backend (command mode into the router's namespace, as
// for a remote firewall) and the BGP backend, and N times:
//   1. a fresh attacker address (198.51.100.100+i) opens a TCP connection to the server,
//   2. t0 = just before send() of "Cookie: mstshash=..." (the rule's content),
//   3. one probe thread per backend polls until the address is there: the router's set through
//      libnftables in the router's namespace (`get element`, no process per poll), BIRD's routing
//      table through BIRD's control socket; t1 = the first poll that sees it. A third probe reads
//      the sensor's EVE file for the block's "add" record: detection + decision, before any
//      backend acts.
// Prints median / p90 / p99 / max of t1 - t0 per backend and the measured cost of one probe (the
// resolution). Needs root. Usage: flowsentry-bench-block-latency [--count 50] [--json out.json]
#include <fcntl.h>
#include <fmt/format.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/bgp_lab.h"
#include "tests/support/netns_lab.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;
using fs::testing::BgpLab;
using fs::testing::NetnsLab;

struct Options {
  int count = 50;
  bool bgp = true;
  int poll_us = 200;
  int timeout_s = 5;
  int gap_ms = 50;
  uint32_t ttl = 600;
  std::string json_out;
  bool keep = false;
  // nftables through libnftables in the sensor's own namespace (the sensor on the firewall host)
  // instead of a command into the router's namespace.
  bool nft_local = false;
};

// Whether a block is in place at one enforcement point. Called from one probe thread only.
class Probe {
 public:
  virtual ~Probe() = default;
  virtual const char* name() const = 0;
  virtual bool Present(const std::string& addr) = 0;
};

// The router's nftables set, asked through libnftables from a thread that entered the router's
// namespace (the context and its netlink socket are created there).
class NftProbe : public Probe {
 public:
  explicit NftProbe(std::string netns) : netns_(std::move(netns)) {}
  ~NftProbe() override {
    if (ctx_ != nullptr) nft_ctx_free(ctx_);
  }
  const char* name() const override { return "nftables"; }
  // Call on the probe thread before Present.
  bool Enter(std::string* error) {
    const int fd = open(("/run/netns/" + netns_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      *error = fmt::format("setns {}: {}", netns_, std::strerror(errno));
      if (fd >= 0) close(fd);
      return false;
    }
    close(fd);
    ctx_ = nft_ctx_new(NFT_CTX_DEFAULT);
    if (ctx_ == nullptr) {
      *error = "nft_ctx_new failed";
      return false;
    }
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
    return true;
  }
  bool Present(const std::string& addr) override {
    const std::string cmd = fmt::format("get element inet flowsentry blocked4 {{ {} }}", addr);
    return nft_run_cmd_from_buffer(ctx_, cmd.c_str()) == 0;
  }

 private:
  std::string netns_;
  nft_ctx* ctx_ = nullptr;
};

// BIRD's table, through its control socket (the birdc protocol: numbered reply lines, the last
// one has a space after its code).
class BirdProbe : public Probe {
 public:
  explicit BirdProbe(std::string ctl) : ctl_(std::move(ctl)) {}
  ~BirdProbe() override {
    if (fd_ >= 0) close(fd_);
  }
  const char* name() const override { return "bgp"; }
  bool Connect(std::string* error) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", ctl_.c_str());
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      *error = fmt::format("BIRD control socket {}: {}", ctl_, std::strerror(errno));
      return false;
    }
    std::string banner;
    return ReadReply(&banner);
  }
  bool Present(const std::string& addr) override {
    const std::string prefix = addr + "/32";
    const std::string cmd = fmt::format("show route {} protocol exa\n", prefix);
    std::string reply;
    if (write(fd_, cmd.data(), cmd.size()) != static_cast<ssize_t>(cmd.size()) ||
        !ReadReply(&reply)) {
      return false;
    }
    return reply.find(prefix) != std::string::npos;
  }

 private:
  bool ReadReply(std::string* reply) {
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        const std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        *reply += line + "\n";
        if (line.size() >= 5 && std::isdigit(static_cast<unsigned char>(line[0])) &&
            line[4] == ' ') {
          return true;
        }
        continue;
      }
      char tmp[4096];
      const ssize_t n = read(fd_, tmp, sizeof(tmp));
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

  std::string ctl_;
  int fd_ = -1;
  std::string buf_;
};

// The sensor's EVE file: when the block manager's "add" record for the address is written (the
// detection and decision half of the latency; the EVE writer's flushing is included).
class EveProbe : public Probe {
 public:
  explicit EveProbe(std::string path) : path_(std::move(path)) {}
  const char* name() const override { return "eve_add"; }
  bool Present(const std::string& addr) override {
    std::ifstream in(path_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    offset_ += chunk.size();
    partial_ += chunk;
    size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
      const auto j = nlohmann::json::parse(partial_.substr(0, nl), nullptr, false);
      partial_.erase(0, nl + 1);
      if (j.is_discarded() || j.value("event_type", "") != "block") continue;
      const auto& b = j["block"];
      if (b.value("action", "") != "add") continue;
      std::string target = b.value("target", "");
      if (target.size() > 3 && target.compare(target.size() - 3, 3, "/32") == 0) {
        target.resize(target.size() - 3);
      }
      seen_.push_back(target);
    }
    return std::find(seen_.begin(), seen_.end(), addr) != seen_.end();
  }

 private:
  std::string path_;
  size_t offset_ = 0;
  std::string partial_;
  std::vector<std::string> seen_;
};

// One probe on its own thread: waits for a trial, polls until the address is present or the
// deadline, reports when it first saw it.
class ProbeRunner {
 public:
  // `setup` runs on the probe thread and returns the probe (nullptr + *error on failure).
  explicit ProbeRunner(std::function<std::unique_ptr<Probe>(std::string*)> setup, int poll_us)
      : poll_us_(poll_us) {
    thread_ = std::thread([this, setup] { Loop(setup); });
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return ready_; });
  }
  ~ProbeRunner() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool ok() const { return probe_ != nullptr; }
  const std::string& error() const { return error_; }
  const char* name() const { return probe_->name(); }

  void Begin(const std::string& addr, Clock::time_point deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      addr_ = addr;
      deadline_ = deadline;
      found_.reset();
      busy_ = true;
    }
    cv_.notify_all();
  }
  // When the address was first seen (nullopt: not before the deadline).
  std::optional<Clock::time_point> End() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    return found_;
  }
  double MeanProbeMs() const { return probes_ == 0 ? 0 : probe_ms_total_ / probes_; }

 private:
  void Loop(const std::function<std::unique_ptr<Probe>(std::string*)>& setup) {
    {
      std::unique_ptr<Probe> p = setup(&error_);
      std::lock_guard<std::mutex> lock(mu_);
      probe_ = std::move(p);
      ready_ = true;
    }
    cv_.notify_all();
    if (!probe_) return;
    for (;;) {
      std::string addr;
      Clock::time_point deadline;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return quit_ || busy_; });
        if (quit_) return;
        addr = addr_;
        deadline = deadline_;
      }
      std::optional<Clock::time_point> found;
      while (Clock::now() < deadline) {
        const auto before = Clock::now();
        const bool present = probe_->Present(addr);
        const auto after = Clock::now();
        probe_ms_total_ += std::chrono::duration<double, std::milli>(after - before).count();
        ++probes_;
        if (present) {
          found = after;
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(poll_us_));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        found_ = found;
        busy_ = false;
      }
      cv_.notify_all();
    }
  }

  const int poll_us_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false, quit_ = false, busy_ = false;
  std::unique_ptr<Probe> probe_;
  std::string error_;
  std::string addr_;
  Clock::time_point deadline_;
  std::optional<Clock::time_point> found_;
  double probe_ms_total_ = 0;  // probe thread only (read after End)
  uint64_t probes_ = 0;
};

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank =
      static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

int Run(const Options& o, const std::string& command_line) {
  std::string why = NetnsLab::Unavailable();
  if (!why.empty()) {
    fmt::print(stderr, "flowsentry-bench-block-latency: {}\n", why);
    return 2;
  }
  const std::string bin = fs::testing::BinDir();
  bool bgp = o.bgp;
  if (bgp && !(why = BgpLab::Unavailable()).empty()) {
    fmt::print(stderr, "BGP left out: {}\n", why);
    bgp = false;
  }
  if (o.count < 1 || o.count > 150) {
    fmt::print(stderr, "--count must be 1..150 (attackers are 198.51.100.100..249)\n");
    return 2;
  }
  const std::string dir = fs::testing::MakeTempDir("block-latency");
  NetnsLab lab;
  std::string error;
  if (!lab.Start(&error)) {
    fmt::print(stderr, "lab: {}\n", error);
    return 1;
  }
  std::vector<std::string> attackers;
  for (int i = 0; i < o.count; ++i) attackers.push_back(fmt::format("198.51.100.{}", 100 + i));
  if (!lab.AddWanAddresses(attackers, &error)) {
    fmt::print(stderr, "lab: {}\n", error);
    return 1;
  }
  std::unique_ptr<BgpLab> bgp_lab;
  const std::string bgp_socket = dir + "/bgp.sock";
  if (bgp) {
    bgp_lab = std::make_unique<BgpLab>(bgp_socket);
    if (!bgp_lab->Start(&error)) {
      fmt::print(stderr, "BGP lab: {}\n", error);
      return 1;
    }
  }

  // The sensor: the district rule with a block, a rate and cap that never refuse the run's blocks.
  const std::string rules = dir + "/latency.rules";
  std::ofstream(rules) << fmt::format(
      "alert tcp $EXTERNAL_NET any -> $HOME_NET 3389 (msg:\"latency rdp from outside\"; "
      "flow:to_server; content:\"Cookie|3a| mstshash=\"; metadata: flowsentry_block src, "
      "flowsentry_block_ttl {}; sid:9000001; rev:1;)\n",
      o.ttl);
  std::string yaml = fmt::format(
      "vars:\n  address-groups:\n    HOME_NET: \"[10.80.2.0/24]\"\n"
      "rules: [\"{}\"]\n"
      "outputs:\n  summary: false\n"
      "api:\n  listen: \"\"\n"
      "enforcement:\n  enabled: true\n  max-active: 10000\n  rate-per-minute: 100000\n"
      "  burst: 1000\n"
      "  nftables:\n    command: \"{}\"\n",
      rules, o.nft_local ? "" : lab.ExecPrefix(lab.rtr_ns()) + " nft -f -");
  if (bgp) yaml += fmt::format("  bgp:\n    socket: \"{}\"\n", bgp_socket);
  const std::string config = dir + "/flowsentry.yaml", eve = dir + "/eve.json";
  std::ofstream(config) << yaml;
  fs::testing::BackgroundProcess sensor(lab.Exec(
      lab.sensor_ns(), {bin + "/flowsentry", "--config", config, "--iface", NetnsLab::kMirrorIface,
                        "--workers", "1", "--eve", eve, "--metrics-listen", ""}));
  auto backend_up = [&](const std::string& name) {
    std::ifstream in(eve);
    std::string line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("event_type", "") == "block" &&
          j["block"].value("action", "") == "backend_up" &&
          j["block"].value("backend", "") == name) {
        return true;
      }
    }
    return false;
  };
  const bool up = fs::testing::WaitFor(
      [&] { return !sensor.Running() || (backend_up("nftables") && (!bgp || backend_up("bgp"))); },
      60);
  if (!up || !sensor.Running()) {
    fmt::print(stderr, "the sensor did not come up:\n{}\n", sensor.ErrSoFar());
    return 1;
  }

  std::vector<std::unique_ptr<ProbeRunner>> probes;
  probes.push_back(std::make_unique<ProbeRunner>(
      [eve](std::string*) -> std::unique_ptr<Probe> { return std::make_unique<EveProbe>(eve); },
      o.poll_us));
  const std::string rtr = o.nft_local ? lab.sensor_ns() : lab.rtr_ns();
  probes.push_back(std::make_unique<ProbeRunner>(
      [rtr](std::string* err) -> std::unique_ptr<Probe> {
        auto p = std::make_unique<NftProbe>(rtr);
        if (!p->Enter(err)) return nullptr;
        return p;
      },
      o.poll_us));
  if (bgp) {
    const std::string ctl = bgp_lab->dir() + "/bird.ctl";
    probes.push_back(std::make_unique<ProbeRunner>(
        [ctl](std::string* err) -> std::unique_ptr<Probe> {
          auto p = std::make_unique<BirdProbe>(ctl);
          if (!p->Connect(err)) return nullptr;
          return p;
        },
        o.poll_us));
  }
  for (const auto& p : probes) {
    if (!p->ok()) {
      fmt::print(stderr, "probe: {}\n", p->error());
      return 1;
    }
  }

  std::vector<std::vector<double>> samples(probes.size());
  std::vector<int> timeouts(probes.size(), 0);
  const std::string trigger = "Cookie: mstshash=latency\r\n";
  for (const std::string& a : attackers) {
    const int fd = lab.OpenConnection(a, 2000, &error);
    if (fd < 0) {
      fmt::print(stderr, "{} cannot connect: {}\n", a, error);
      return 1;
    }
    const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
    for (const auto& p : probes) p->Begin(a, deadline);
    const auto t0 = Clock::now();
    if (send(fd, trigger.data(), trigger.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(trigger.size())) {
      fmt::print(stderr, "{}: send: {}\n", a, std::strerror(errno));
      close(fd);
      return 1;
    }
    for (size_t i = 0; i < probes.size(); ++i) {
      const auto t1 = probes[i]->End();
      if (!t1) {
        ++timeouts[i];
        continue;
      }
      samples[i].push_back(std::chrono::duration<double, std::milli>(*t1 - t0).count());
    }
    close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(o.gap_ms));
  }

  nlohmann::json out = {{"command", command_line},
                        {"count", o.count},
                        {"poll_us", o.poll_us},
                        {"nftables_mode", o.nft_local ? "local libnftables (sensor's namespace)"
                                                      : "command: ip netns exec ROUTER nft -f -"},
                        {"backends", nlohmann::json::object()}};
  fmt::print("{}\n", command_line);
  fmt::print("{} blocks, one new attacker address each; latency = trigger send() -> block seen\n",
             o.count);
  fmt::print("nftables: {}\n", out["nftables_mode"].get<std::string>());
  fmt::print("{:<9} {:>4} {:>8} {:>10} {:>8} {:>8} {:>8} {:>10}\n", "backend", "n", "timeouts",
             "median_ms", "p90_ms", "p99_ms", "max_ms", "probe_ms");
  bool nft_target_met = false;
  for (size_t i = 0; i < probes.size(); ++i) {
    std::vector<double> s = samples[i];
    std::sort(s.begin(), s.end());
    const double med = Percentile(s, 50), p90 = Percentile(s, 90), p99 = Percentile(s, 99),
                 mx = s.empty() ? 0 : s.back();
    fmt::print("{:<9} {:>4} {:>8} {:>10.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>10.3f}\n",
               probes[i]->name(), s.size(), timeouts[i], med, p90, p99, mx,
               probes[i]->MeanProbeMs());
    out["backends"][probes[i]->name()] = {{"n", s.size()},
                                          {"timeouts", timeouts[i]},
                                          {"median_ms", med},
                                          {"p90_ms", p90},
                                          {"p99_ms", p99},
                                          {"max_ms", mx},
                                          {"probe_ms", probes[i]->MeanProbeMs()},
                                          {"samples_ms", samples[i]}};
    if (std::string(probes[i]->name()) == "nftables") {
      nft_target_met = timeouts[i] == 0 && !s.empty() && p99 < 100.0;
    }
  }
  fmt::print("target nftables p99 < 100 ms: {}\n", nft_target_met ? "met" : "NOT met");
  out["target"] = {{"nftables_p99_ms_below", 100}, {"met", nft_target_met}};
  if (!o.json_out.empty()) std::ofstream(o.json_out) << out.dump(2) << "\n";

  sensor.Signal(SIGINT);
  sensor.Wait(30);
  if (!o.keep) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Block latency: trigger packet -> block in place at the router's nftables and in BIRD (BGP "
      "RTBH), in a network-namespace lab (root)"};
  Options o;
  app.add_option("-n,--count", o.count, "blocks to measure (distinct attacker addresses, 1-150)")
      ->capture_default_str();
  bool no_bgp = false;
  app.add_flag("--no-bgp", no_bgp, "measure nftables only (no ExaBGP/BIRD lab)");
  app.add_option("--poll-us", o.poll_us, "pause between two probes of one backend (microseconds)")
      ->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "seconds to wait for one block before counting a miss")
      ->capture_default_str();
  app.add_option("--gap-ms", o.gap_ms, "pause between two blocks")->capture_default_str();
  app.add_option("--ttl", o.ttl, "the blocks' TTL (seconds)")->capture_default_str();
  app.add_option("--json", o.json_out, "also write the results (and every sample) as JSON here");
  app.add_flag("--keep", o.keep, "keep the scratch directory (config, EVE)");
  app.add_flag(
      "--nft-local", o.nft_local,
      "nftables through libnftables in the sensor's own namespace (sensor on the "
      "firewall) instead of `ip netns exec ROUTER nft -f -` (no packets are dropped then)");
  CLI11_PARSE(app, argc, argv);
  o.bgp = !no_bgp;
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  signal(SIGPIPE, SIG_IGN);
  return Run(o, command_line);
}
