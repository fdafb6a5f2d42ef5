// The BGP black-hole backend (controlplane/enforce/bgp_backend.h) and its ExaBGP bridge:
// - command construction, config validation and ExaBGP listing parsing (tables);
// - the socket protocol against a fake bridge played by the test (acks, errors, silence,
//   reconnects, reconciliation after Sync);
// - the real flowsentry-exabgp-bridge binary with the test playing both ExaBGP and the sensor;
// - a real ExaBGP and BIRD 2 over a BGP session in network namespaces (tests/support/bgp_lab.h):
//   routes with the BLACKHOLE community reach the router and resolve to blackhole, withdraws,
//   an ExaBGP restart, a sensor restart followed by Sync. Root only; skipped with the reason
//   otherwise.
#include "controlplane/enforce/bgp_backend.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "tests/support/bgp_lab.h"
#include "tests/support/process.h"

namespace fs::enforce {
namespace {

using testing::BgpLab;
using testing::BinDir;
using testing::MakeTempDir;

patterns::IpPrefix Prefix(const std::string& text) {
  patterns::IpPrefix p;
  bool host_bits = false;
  std::string reason;
  EXPECT_TRUE(patterns::ParseIpEntry(text, &p, &host_bits, &reason)) << text << ": " << reason;
  return p;
}

Block MakeBlock(const std::string& text) {
  Block b;
  b.target = Prefix(text);
  b.reason = "test";
  b.created_ms = NowMs();
  b.expires_ms = b.created_ms + 3600 * 1000;
  return b;
}

// ---------------------------------------------------------------------------------------------
// Pure functions.

TEST(BgpCommandTest, AnnounceAndWithdrawLines) {
  struct Case {
    const char* name;
    const char* prefix;
    std::vector<std::string> communities;
    const char* next_hop6;
    const char* announce;
    const char* withdraw;
  };
  const Case cases[] = {
      {"v4 host",
       "10.1.2.3",
       {"65535:666"},
       "100::1",
       "announce route 10.1.2.3/32 next-hop 192.0.2.1 community [65535:666]",
       "withdraw route 10.1.2.3/32 next-hop 192.0.2.1"},
      {"v6 host",
       "2001:db8::1",
       {"65535:666"},
       "100::1",
       "announce route 2001:db8::1/128 next-hop 100::1 community [65535:666]",
       "withdraw route 2001:db8::1/128 next-hop 100::1"},
      {"v4 cidr",
       "10.9.0.0/16",
       {"65535:666"},
       "100::1",
       "announce route 10.9.0.0/16 next-hop 192.0.2.1 community [65535:666]",
       "withdraw route 10.9.0.0/16 next-hop 192.0.2.1"},
      {"v6 cidr",
       "2001:db8:aa00::/40",
       {"65535:666"},
       "100::1",
       "announce route 2001:db8:aa00::/40 next-hop 100::1 community [65535:666]",
       "withdraw route 2001:db8:aa00::/40 next-hop 100::1"},
      {"several communities, normalised",
       "10.1.2.3",
       {"65535:666", "65000:0100", "65535:65281"},
       "100::1",
       "announce route 10.1.2.3/32 next-hop 192.0.2.1 community [65535:666 65000:100 65535:65281]",
       "withdraw route 10.1.2.3/32 next-hop 192.0.2.1"},
      {"no community",
       "10.1.2.3",
       {},
       "100::1",
       "announce route 10.1.2.3/32 next-hop 192.0.2.1",
       "withdraw route 10.1.2.3/32 next-hop 192.0.2.1"},
      {"next hop written canonically",
       "2001:db8::1",
       {"65535:666"},
       "0100:0::0001",
       "announce route 2001:db8::1/128 next-hop 100::1 community [65535:666]",
       "withdraw route 2001:db8::1/128 next-hop 100::1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BgpConfig config;
    config.socket_path = "/run/flowsentry/bgp.sock";
    config.communities = c.communities;
    config.next_hop6 = c.next_hop6;
    std::string error;
    ASSERT_TRUE(ValidateBgpConfig(config, &error)) << error;
    EXPECT_EQ(BgpAnnounceCommand(config, Prefix(c.prefix)), c.announce);
    EXPECT_EQ(BgpWithdrawCommand(config, Prefix(c.prefix)), c.withdraw);
  }
}

TEST(BgpCommandTest, ConfigValidation) {
  struct Case {
    const char* name;
    std::function<void(BgpConfig*)> change;
    const char* error;  // nullptr: valid
  };
  const Case cases[] = {
      {"defaults", [](BgpConfig*) {}, nullptr},
      {"no community is allowed", [](BgpConfig* c) { c->communities.clear(); }, nullptr},
      {"no socket", [](BgpConfig* c) { c->socket_path.clear(); }, "bgp.socket: missing"},
      {"socket path too long", [](BgpConfig* c) { c->socket_path = "/" + std::string(120, 'a'); },
       "longer than"},
      {"unknown group", [](BgpConfig* c) { c->socket_group = "no-such-group-fs"; },
       "bgp.socket_group: no group named 'no-such-group-fs'"},
      {"v6 next hop for v4", [](BgpConfig* c) { c->next_hop4 = "100::1"; },
       "bgp.next_hop4: '100::1' is not an IPv4 address"},
      {"garbage next hop", [](BgpConfig* c) { c->next_hop4 = "discard"; }, "bgp.next_hop4"},
      {"v4 next hop for v6", [](BgpConfig* c) { c->next_hop6 = "192.0.2.1"; },
       "bgp.next_hop6: '192.0.2.1' is not an IPv6 address"},
      {"community part too big",
       [](BgpConfig* c) {
         c->communities = {"65535:666", "65536:1"};
       },
       "bgp.communities[1]: '65536:1'"},
      {"community without colon", [](BgpConfig* c) { c->communities = {"blackhole"}; },
       "bgp.communities[0]"},
      {"community with three parts", [](BgpConfig* c) { c->communities = {"1:2:3"}; },
       "bgp.communities[0]"},
      {"community with empty part", [](BgpConfig* c) { c->communities = {"65535:"}; },
       "bgp.communities[0]"},
      {"negative community", [](BgpConfig* c) { c->communities = {"-1:666"}; },
       "bgp.communities[0]"},
      {"zero timeout", [](BgpConfig* c) { c->command_timeout_ms = 0; }, "bgp.command_timeout_ms"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BgpConfig config;
    config.socket_path = "/run/flowsentry/bgp.sock";
    c.change(&config);
    std::string error;
    const bool ok = ValidateBgpConfig(config, &error);
    if (c.error == nullptr) {
      EXPECT_TRUE(ok) << error;
    } else {
      EXPECT_FALSE(ok);
      EXPECT_NE(error.find(c.error), std::string::npos) << error;
    }
  }
}

TEST(BgpCommandTest, StartRefusesBadConfig) {
  BgpConfig config;
  config.socket_path = MakeTempDir("bgp") + "/bgp.sock";
  config.communities = {"65535:666", "666"};
  BgpBackend backend(config);
  std::string error;
  EXPECT_FALSE(backend.Start(&error));
  EXPECT_NE(error.find("bgp.communities[1]"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(config.socket_path));
}

TEST(BgpCommandTest, ParsesExaBgpAdjRibOut) {
  // Lines as ExaBGP 4.2 prints them for `show adj-rib out extensive` (and without extensive).
  const std::string head =
      "neighbor 10.255.0.2 local-ip 10.255.0.1 local-as 65000 peer-as 65000 router-id 10.255.0.1 "
      "family-allowed in-open ";
  struct Case {
    std::string line;
    bool ok;
    const char* prefix;
    const char* next_hop;
    std::vector<std::string> communities;
  };
  const Case cases[] = {
      {head + "ipv4 unicast 10.1.2.3/32 next-hop 192.0.2.1 community blackhole",
       true,
       "10.1.2.3/32",
       "192.0.2.1",
       {"65535:666"}},
      {head + "ipv6 unicast 2001:db8::5/128 next-hop 100::1 community [ 65000:1 blackhole ]",
       true,
       "2001:db8::5/128",
       "100::1",
       {"65000:1", "65535:666"}},
      {head + "ipv4 unicast 10.9.0.0/16 next-hop 10.0.0.1 community [ no-export 65000:7 ]",
       true,
       "10.9.0.0/16",
       "10.0.0.1",
       {"65535:65281", "65000:7"}},
      {head + "ipv4 unicast 10.1.2.4/32 next-hop 192.0.2.1", true, "10.1.2.4/32", "192.0.2.1", {}},
      {"neighbor 10.255.0.2 ipv4 unicast 10.1.2.3/32 next-hop 192.0.2.1",
       true,
       "10.1.2.3/32",
       "192.0.2.1",
       {}},
      {"done", false, nullptr, nullptr, {}},
      {"error", false, nullptr, nullptr, {}},
      {head + "ipv4 flow destination-ipv4 10.0.0.0/8", false, nullptr, nullptr, {}},
      {head + "ipv4 unicast 10.1.2.3/32", false, nullptr, nullptr, {}},  // no next hop
      {"{ \"exabgp\": \"4.0.1\", \"type\": \"state\" }", false, nullptr, nullptr, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    AdjRibRoute r;
    ASSERT_EQ(ParseAdjRibOutLine(c.line, &r), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(r.prefix, Prefix(c.prefix));
    EXPECT_EQ(r.next_hop, *IpAddr::Parse(c.next_hop));
    EXPECT_EQ(r.communities, c.communities);
  }
}

// ---------------------------------------------------------------------------------------------
// Line I/O over a file descriptor pair, for the fakes below.

class LineIo {
 public:
  LineIo(int rfd, int wfd) : rfd_(rfd), wfd_(wfd) {}
  ~LineIo() {
    if (rfd_ >= 0) close(rfd_);
    if (wfd_ >= 0 && wfd_ != rfd_) close(wfd_);
  }
  LineIo(const LineIo&) = delete;
  LineIo& operator=(const LineIo&) = delete;

  enum class Status { kLine, kTimeout, kEof };
  Status ReadLine(std::string* line, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        *line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return Status::kLine;
      }
      if (eof_) return Status::kEof;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return Status::kTimeout;
      pollfd p{rfd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char b[4096];
      const ssize_t n = read(rfd_, b, sizeof(b));
      if (n <= 0) {
        eof_ = true;
      } else {
        buf_.append(b, static_cast<size_t>(n));
      }
    }
  }
  bool WriteLine(const std::string& line) {
    const std::string data = line + "\n";
    ssize_t n = send(wfd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = write(wfd_, data.data(), data.size());  // a pipe
    return n == static_cast<ssize_t>(data.size());
  }
  void CloseWrite() {
    if (wfd_ != rfd_ && wfd_ >= 0) {
      close(wfd_);
      wfd_ = -1;
    }
  }

 private:
  int rfd_, wfd_;
  std::string buf_;
  bool eof_ = false;
};

int ConnectUnix(const std::string& path, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return fd;
    close(fd);
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Plays flowsentry-exabgp-bridge + ExaBGP: connects to the backend's socket and answers each
// command with what `answer` returns (nothing: ExaBGP stays silent).
class FakeBridge {
 public:
  using Answer = std::function<std::vector<std::string>(const std::string&)>;
  FakeBridge(const std::string& path, Answer answer) : answer_(std::move(answer)) {
    const int fd = ConnectUnix(path, 5000);
    if (fd < 0) return;
    io_ = std::make_unique<LineIo>(fd, fd);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeBridge() { Close(); }

  bool connected() const { return io_ != nullptr; }
  void Close() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    io_.reset();
  }
  std::vector<std::string> Received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  bool WaitForClosedByPeer(int timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (!closed_by_peer_) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  void Loop() {
    while (!stop_) {
      std::string line;
      const LineIo::Status s = io_->ReadLine(&line, 50);
      if (s == LineIo::Status::kEof) {
        closed_by_peer_ = true;
        return;
      }
      if (s != LineIo::Status::kLine) continue;
      {
        std::lock_guard lock(mu_);
        received_.push_back(line);
      }
      for (const std::string& a : answer_(line)) io_->WriteLine(a);
    }
  }

  Answer answer_;
  std::unique_ptr<LineIo> io_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, closed_by_peer_{false};
  std::mutex mu_;
  std::vector<std::string> received_;
};

std::vector<std::string> AckAll(const std::string&) { return {"done"}; }

bool WaitFor(const std::function<bool()>& cond, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

BgpConfig TestConfig(int timeout_ms = 5000) {
  BgpConfig config;
  config.socket_path = MakeTempDir("bgp") + "/run/bgp.sock";  // run/ does not exist yet
  config.command_timeout_ms = timeout_ms;
  return config;
}

// Starts `backend` while a fake bridge connects; returns the bridge.
std::unique_ptr<FakeBridge> StartWithFake(BgpBackend* backend, const BgpConfig& config,
                                          FakeBridge::Answer answer) {
  std::unique_ptr<FakeBridge> fake;
  std::thread t([&] { fake = std::make_unique<FakeBridge>(config.socket_path, answer); });
  std::string error;
  const bool started = backend->Start(&error);
  t.join();
  EXPECT_TRUE(started) << error;
  EXPECT_TRUE(fake->connected());
  return fake;
}

// ---------------------------------------------------------------------------------------------
// Socket protocol against a fake bridge.

TEST(BgpBackendTest, WithoutBridgeStartAndAddFailWithTheSocketNamed) {
  const BgpConfig config = TestConfig(200);
  BgpBackend backend(config);
  std::string error;
  EXPECT_FALSE(backend.Start(&error));
  EXPECT_NE(error.find("no flowsentry-exabgp-bridge connected within 200 ms"), std::string::npos)
      << error;
  // Still listening, with the mode the ExaBGP user's group needs.
  struct stat st {};
  ASSERT_EQ(stat(config.socket_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_FALSE(backend.Add(MakeBlock("10.1.2.3"), &error));
  EXPECT_NE(error.find("no ExaBGP connected on " + config.socket_path), std::string::npos) << error;
  // The retry succeeds once a bridge is there.
  auto fake = StartWithFake(&backend, config, AckAll);
  EXPECT_TRUE(backend.BridgeConnected());
}

TEST(BgpBackendTest, SocketFileHandling) {
  const BgpConfig config = TestConfig(2000);
  std::filesystem::create_directories(std::filesystem::path(config.socket_path).parent_path());
  {
    // A socket file left behind by a crashed sensor is replaced.
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, config.socket_path.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    close(fd);
  }
  auto backend = std::make_unique<BgpBackend>(config);
  auto fake = StartWithFake(backend.get(), config, AckAll);

  // A second sensor on the same socket is refused, and does not take the socket away.
  BgpBackend second(config);
  std::string error;
  EXPECT_FALSE(second.Start(&error));
  EXPECT_NE(error.find("another process already listens on"), std::string::npos) << error;
  EXPECT_TRUE(std::filesystem::exists(config.socket_path));

  fake.reset();
  backend.reset();  // removes its socket
  EXPECT_FALSE(std::filesystem::exists(config.socket_path));

  // Something that is not a socket is never deleted.
  { std::ofstream(config.socket_path) << "keep me"; }
  BgpBackend third(config);
  EXPECT_FALSE(third.Start(&error));
  EXPECT_NE(error.find("is not a socket"), std::string::npos) << error;
  EXPECT_EQ(testing::ReadFile(config.socket_path), "keep me");
}

TEST(BgpBackendTest, AddAndRemoveSucceedOnlyWhenExaBgpAcks) {
  const BgpConfig config = TestConfig();
  BgpBackend backend(config);
  std::atomic<bool> refuse{false};
  auto fake = StartWithFake(&backend, config, [&](const std::string&) {
    return std::vector<std::string>{refuse ? "error" : "done"};
  });
  std::string error;
  EXPECT_TRUE(backend.Add(MakeBlock("10.1.2.3"), &error)) << error;
  EXPECT_TRUE(backend.Add(MakeBlock("2001:db8::1"), &error)) << error;
  EXPECT_TRUE(backend.Remove(MakeBlock("10.1.2.3"), &error)) << error;
  EXPECT_EQ(fake->Received(),
            (std::vector<std::string>{
                "announce route 10.1.2.3/32 next-hop 192.0.2.1 community [65535:666]",
                "announce route 2001:db8::1/128 next-hop 100::1 community [65535:666]",
                "withdraw route 10.1.2.3/32 next-hop 192.0.2.1"}));

  refuse = true;
  EXPECT_FALSE(backend.Add(MakeBlock("10.1.2.5"), &error));
  EXPECT_NE(error.find("ExaBGP refused `announce route 10.1.2.5/32"), std::string::npos) << error;
  EXPECT_TRUE(backend.BridgeConnected());  // a refusal is an answer: the connection is fine
}

TEST(BgpBackendTest, NoAckWithinTimeoutFailsAndResetsTheBridge) {
  const BgpConfig config = TestConfig(300);
  BgpBackend backend(config);
  auto fake = StartWithFake(&backend, config,
                            [](const std::string&) { return std::vector<std::string>{}; });
  std::string error;
  EXPECT_FALSE(backend.Add(MakeBlock("10.1.2.3"), &error));
  EXPECT_NE(error.find("did not answer within 300 ms"), std::string::npos) << error;
  // A late ack must not be taken for the next command's: the connection is closed.
  EXPECT_TRUE(fake->WaitForClosedByPeer(10));
  EXPECT_FALSE(backend.BridgeConnected());
  EXPECT_FALSE(backend.Remove(MakeBlock("10.1.2.3"), &error));
  EXPECT_NE(error.find("no ExaBGP connected"), std::string::npos) << error;
}

TEST(BgpBackendTest, ExaBgpShutdownIsAFailure) {
  const BgpConfig config = TestConfig();
  BgpBackend backend(config);
  auto fake = StartWithFake(&backend, config, [](const std::string&) {
    return std::vector<std::string>{"shutdown 1234 1"};
  });
  std::string error;
  EXPECT_FALSE(backend.Add(MakeBlock("10.1.2.3"), &error));
  EXPECT_NE(error.find("ExaBGP is shutting down"), std::string::npos) << error;
}

TEST(BgpBackendTest, ReconnectedBridgeGetsEverythingReannounced) {
  const BgpConfig config = TestConfig();
  BgpBackend backend(config);
  auto first = StartWithFake(&backend, config, AckAll);
  std::string error;
  ASSERT_TRUE(backend.Add(MakeBlock("10.1.2.3"), &error)) << error;
  ASSERT_TRUE(backend.Add(MakeBlock("10.1.2.4"), &error)) << error;
  ASSERT_TRUE(backend.Add(MakeBlock("2001:db8::/32"), &error)) << error;
  ASSERT_TRUE(backend.Remove(MakeBlock("10.1.2.4"), &error)) << error;
  const uint64_t before = backend.Reconciles();

  // ExaBGP restarts: the old bridge goes away, a new one connects and must get the live set
  // without any call from the block manager. No Sync has happened in this process yet, so
  // nothing may be withdrawn (the backend does not know the manager's list): no listing asked.
  first->Close();
  // Noticed when it happens, not at the next block.
  EXPECT_TRUE(WaitFor([&] { return !backend.BridgeConnected(); }, 10));
  FakeBridge second(config.socket_path, AckAll);
  ASSERT_TRUE(second.connected());
  ASSERT_TRUE(WaitFor([&] { return backend.Reconciles() > before; }, 10));
  std::vector<std::string> got = second.Received();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{
                     "announce route 10.1.2.3/32 next-hop 192.0.2.1 community [65535:666]",
                     "announce route 2001:db8::/32 next-hop 100::1 community [65535:666]"}));
  EXPECT_TRUE(backend.Add(MakeBlock("10.1.2.9"), &error)) << error;
}

TEST(BgpBackendTest, SyncWithdrawsOnlyOwnedRoutesThatAreNotLive) {
  const BgpConfig config = TestConfig();
  BgpBackend backend(config);
  const std::string head =
      "neighbor 10.255.0.2 local-ip 10.255.0.1 local-as 65000 peer-as 65000 "
      "router-id 10.255.0.1 family-allowed in-open ";
  // ExaBGP's adj-rib-out: left from a previous run (ours: our next hop and BLACKHOLE), the
  // operator's own routes (other next hop, or no BLACKHOLE), and one that is live.
  const std::vector<std::string> listing = {
      head + "ipv4 unicast 10.7.7.7/32 next-hop 192.0.2.1 community blackhole",
      head + "ipv6 unicast 2001:db8::7/128 next-hop 100::1 community [ 65000:1 blackhole ]",
      head + "ipv4 unicast 198.51.100.0/24 next-hop 10.255.0.1 community blackhole",
      head + "ipv4 unicast 10.8.8.8/32 next-hop 192.0.2.1",
      head + "ipv4 unicast 10.1.2.3/32 next-hop 192.0.2.1 community blackhole",
  };
  auto answer = [&](const std::string& line) {
    std::vector<std::string> out;
    if (line == "show adj-rib out extensive") out = listing;
    out.push_back("done");
    return out;
  };
  auto fake = StartWithFake(&backend, config, answer);
  const std::vector<Block> live = {MakeBlock("10.1.2.3"), MakeBlock("10.1.2.4")};
  std::string error;
  ASSERT_TRUE(backend.Sync(live, &error)) << error;
  const std::vector<std::string> got = fake->Received();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0], "show adj-rib out extensive");
  std::vector<std::string> rest(got.begin() + 1, got.end());
  std::sort(rest.begin(), rest.end());
  EXPECT_EQ(rest, (std::vector<std::string>{
                      "announce route 10.1.2.3/32 next-hop 192.0.2.1 community [65535:666]",
                      "announce route 10.1.2.4/32 next-hop 192.0.2.1 community [65535:666]",
                      "withdraw route 10.7.7.7/32 next-hop 192.0.2.1",
                      "withdraw route 2001:db8::7/128 next-hop 100::1"}));

  // After a Sync the backend knows the whole list, so a reconnecting bridge is reconciled too.
  const uint64_t before = backend.Reconciles();
  fake->Close();
  FakeBridge second(config.socket_path, answer);
  ASSERT_TRUE(WaitFor([&] { return backend.Reconciles() > before; }, 10));
  const std::vector<std::string> again = second.Received();
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again[0], "show adj-rib out extensive");
  EXPECT_EQ(std::count_if(again.begin(), again.end(),
                          [](const std::string& l) { return l.starts_with("withdraw"); }),
            2);
}

TEST(BgpBackendTest, LargeSyncIsPipelined) {
  // More blocks than the in-flight window, with a fake that answers in order: checks that acks
  // are matched to commands across window refills.
  const BgpConfig config = TestConfig();
  BgpBackend backend(config);
  auto fake = StartWithFake(&backend, config, AckAll);
  std::vector<Block> live;
  for (int i = 0; i < 1000; ++i)
    live.push_back(MakeBlock(fmt::format("10.{}.{}.1", i / 200, i % 200)));
  std::string error;
  ASSERT_TRUE(backend.Sync(live, &error)) << error;
  EXPECT_EQ(fake->Received().size(), 1001u);
}

// ---------------------------------------------------------------------------------------------
// The real bridge binary, with the test as ExaBGP (its stdin/stdout) and as the sensor.

class BridgeProcess {
 public:
  explicit BridgeProcess(const std::string& socket_path) {
    signal(SIGPIPE, SIG_IGN);  // writes to a bridge that exited must fail, not kill the test
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    const std::string bin = BinDir() + "/flowsentry-exabgp-bridge";
    std::vector<std::string> argv = {bin, "--socket", socket_path, "--max-backoff-ms", "200"};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(in[0], 0);
      dup2(out[1], 1);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    io_ = std::make_unique<LineIo>(out[0], in[1]);
  }
  ~BridgeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  LineIo& io() { return *io_; }
  // Closes its stdin (ExaBGP went away) and returns its exit code (-1: still running).
  int CloseAndWait(int timeout_s) {
    io_->CloseWrite();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  std::unique_ptr<LineIo> io_;
};

// The sensor's side: a listening socket the bridge connects to.
class Listener {
 public:
  explicit Listener(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
    listen(fd_, 4);
  }
  ~Listener() {
    close(fd_);
    unlink(path_.c_str());
  }
  std::unique_ptr<LineIo> Accept(int timeout_s) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_s * 1000) <= 0) return nullptr;
    const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    return c < 0 ? nullptr : std::make_unique<LineIo>(c, c);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(ExaBgpBridgeTest, RelaysFiltersAndDropsStaleAcks) {
  const std::string bin = BinDir() + "/flowsentry-exabgp-bridge";
  if (access(bin.c_str(), X_OK) != 0) GTEST_SKIP() << bin << " not built";
  const std::string path = MakeTempDir("bridge") + "/bgp.sock";
  // The bridge starts before the sensor listens and keeps retrying.
  BridgeProcess bridge(path);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto listener = std::make_unique<Listener>(path);
  auto sensor = listener->Accept(10);
  ASSERT_NE(sensor, nullptr);

  std::string line;
  // Sensor -> ExaBGP, each line as written.
  ASSERT_TRUE(
      sensor->WriteLine("announce route 10.1.2.3/32 next-hop 192.0.2.1 community [65535:666]"));
  ASSERT_EQ(bridge.io().ReadLine(&line, 5000), LineIo::Status::kLine);
  EXPECT_EQ(line, "announce route 10.1.2.3/32 next-hop 192.0.2.1 community [65535:666]");
  // ExaBGP -> sensor.
  ASSERT_TRUE(bridge.io().WriteLine("done"));
  ASSERT_EQ(sensor->ReadLine(&line, 5000), LineIo::Status::kLine);
  EXPECT_EQ(line, "done");

  // A command the backend never sends is answered "error" by the bridge, not passed on.
  ASSERT_TRUE(sensor->WriteLine("shutdown"));
  ASSERT_EQ(sensor->ReadLine(&line, 5000), LineIo::Status::kLine);
  EXPECT_EQ(line, "error");

  // The sensor sends a command and goes away before ExaBGP acks it; the late ack must not reach
  // the next sensor connection, which would take it for the ack of its own first command.
  ASSERT_TRUE(sensor->WriteLine("withdraw route 10.1.2.3/32 next-hop 192.0.2.1"));
  ASSERT_EQ(bridge.io().ReadLine(&line, 5000), LineIo::Status::kLine);
  EXPECT_EQ(line, "withdraw route 10.1.2.3/32 next-hop 192.0.2.1");
  sensor.reset();
  listener.reset();
  listener = std::make_unique<Listener>(path);
  sensor = listener->Accept(10);
  ASSERT_NE(sensor, nullptr);
  ASSERT_TRUE(bridge.io().WriteLine("done"));  // the late ack, for the old connection
  ASSERT_TRUE(sensor->WriteLine("show adj-rib out extensive"));
  ASSERT_EQ(bridge.io().ReadLine(&line, 5000), LineIo::Status::kLine);
  EXPECT_EQ(line, "show adj-rib out extensive");
  ASSERT_TRUE(
      bridge.io().WriteLine("neighbor 10.255.0.2 ipv4 unicast 10.1.2.3/32 next-hop 192.0.2.1"));
  ASSERT_TRUE(bridge.io().WriteLine("done"));
  ASSERT_EQ(sensor->ReadLine(&line, 5000), LineIo::Status::kLine);
  EXPECT_EQ(line, "neighbor 10.255.0.2 ipv4 unicast 10.1.2.3/32 next-hop 192.0.2.1");
  ASSERT_EQ(sensor->ReadLine(&line, 5000), LineIo::Status::kLine);
  EXPECT_EQ(line, "done");

  // ExaBGP closing the bridge's stdin ends it.
  EXPECT_EQ(bridge.CloseAndWait(10), 0);
  EXPECT_EQ(sensor->ReadLine(&line, 5000), LineIo::Status::kEof);
}

TEST(ExaBgpBridgeTest, BackendThroughTheRealBridge) {
  const std::string bin = BinDir() + "/flowsentry-exabgp-bridge";
  if (access(bin.c_str(), X_OK) != 0) GTEST_SKIP() << bin << " not built";
  const BgpConfig config = TestConfig();
  BgpBackend backend(config);
  BridgeProcess bridge(config.socket_path);
  std::string error;
  ASSERT_TRUE(backend.Start(&error)) << error;
  bool added = false;
  std::thread t([&] { added = backend.Add(MakeBlock("10.1.2.3"), &error); });
  std::string line;
  EXPECT_EQ(bridge.io().ReadLine(&line, 5000), LineIo::Status::kLine);
  EXPECT_EQ(line, "announce route 10.1.2.3/32 next-hop 192.0.2.1 community [65535:666]");
  bridge.io().WriteLine("done");
  t.join();
  EXPECT_TRUE(added) << error;
}

// ---------------------------------------------------------------------------------------------
// A real ExaBGP and BIRD 2.

class BgpLabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = BgpLab::Unavailable();
    if (!why.empty()) GTEST_SKIP() << why;
    config_.socket_path = MakeTempDir("bgp") + "/bgp.sock";
    config_.command_timeout_ms = 10000;
    lab_ = std::make_unique<BgpLab>(config_.socket_path);
    std::string error;
    ASSERT_TRUE(lab_->Start(&error)) << error;
  }
  void TearDown() override {
    backend_.reset();
    lab_.reset();  // kills ExaBGP and BIRD, deletes the namespaces
  }

  // Starts a backend; the bridge (retrying every 500 ms at most) connects within the timeout.
  void StartBackend() {
    backend_ = std::make_unique<BgpBackend>(config_);
    std::string error;
    ASSERT_TRUE(backend_->Start(&error)) << error << lab_->Diagnostics();
  }

  // The route as BIRD has it: present, resolved to blackhole, with the BLACKHOLE community.
  void ExpectBlackholed(const std::string& prefix) {
    ASSERT_TRUE(lab_->WaitForRoute(prefix, true, 20)) << prefix << lab_->Diagnostics();
    for (const testing::BirdRoute& r : lab_->BirdRouteTable()) {
      if (r.prefix != prefix) continue;
      EXPECT_TRUE(r.blackhole) << prefix;
      EXPECT_NE(std::find(r.communities.begin(), r.communities.end(), "65535:666"),
                r.communities.end())
          << prefix;
    }
  }

  BgpConfig config_;
  std::unique_ptr<BgpLab> lab_;
  std::unique_ptr<BgpBackend> backend_;
};

TEST_F(BgpLabTest, AddRemoveAndExaBgpRestart) {
  StartBackend();
  std::string error;
  for (const char* p : {"10.1.2.3", "2001:db8::66", "10.9.0.0/16"}) {
    ASSERT_TRUE(backend_->Add(MakeBlock(p), &error)) << p << ": " << error;
  }
  ExpectBlackholed("10.1.2.3/32");
  ExpectBlackholed("2001:db8::66/128");
  ExpectBlackholed("10.9.0.0/16");

  ASSERT_TRUE(backend_->Remove(MakeBlock("10.9.0.0/16"), &error)) << error;
  EXPECT_TRUE(lab_->WaitForRoute("10.9.0.0/16", false, 20)) << lab_->Diagnostics();

  // ExaBGP restarts with an empty RIB; the backend notices the new bridge and re-announces what
  // is live, by itself.
  const uint64_t before = backend_->Reconciles();
  ASSERT_TRUE(lab_->StopExaBgp());
  EXPECT_TRUE(lab_->WaitForRoute("10.1.2.3/32", false, 20)) << lab_->Diagnostics();
  EXPECT_TRUE(WaitFor([&] { return !backend_->BridgeConnected(); }, 10));
  EXPECT_FALSE(backend_->Add(MakeBlock("10.1.2.5"), &error));
  EXPECT_NE(error.find("no ExaBGP connected"), std::string::npos) << error;
  ASSERT_TRUE(lab_->StartExaBgp(&error)) << error;
  ASSERT_TRUE(WaitFor([&] { return backend_->Reconciles() > before; }, 30)) << lab_->Diagnostics();
  ExpectBlackholed("10.1.2.3/32");
  ExpectBlackholed("2001:db8::66/128");
  ExpectBlackholed("10.1.2.5/32");  // asked for while ExaBGP was down: announced on its return
  EXPECT_FALSE(lab_->WaitForRoute("10.9.0.0/16", true, 1));  // not brought back
  EXPECT_TRUE(backend_->Add(MakeBlock("10.1.2.4"), &error)) << error;
  ExpectBlackholed("10.1.2.4/32");
}

TEST_F(BgpLabTest, SensorRestartKeepsBlocksThenSyncReconciles) {
  StartBackend();
  std::string error;
  ASSERT_TRUE(backend_->Add(MakeBlock("10.1.2.3"), &error)) << error;
  ASSERT_TRUE(backend_->Add(MakeBlock("10.1.2.4"), &error)) << error;
  ExpectBlackholed("10.1.2.3/32");
  ExpectBlackholed("10.1.2.4/32");

  // The sensor stops: ExaBGP keeps the routes (blocks stay in force), the bridge keeps retrying.
  backend_.reset();
  // The new sensor process: connecting alone withdraws nothing, Sync with the manager's list
  // withdraws what expired meanwhile and adds what is new.
  StartBackend();
  EXPECT_TRUE(lab_->WaitForRoute("10.1.2.4/32", true, 1)) << lab_->Diagnostics();
  std::vector<Block> live = {MakeBlock("10.1.2.3"), MakeBlock("2001:db8::77")};
  // Enough blocks that the commands are pipelined through ExaBGP in several windows.
  for (int i = 0; i < 300; ++i)
    live.push_back(MakeBlock(fmt::format("10.50.{}.{}", i / 250, i % 250 + 1)));
  ASSERT_TRUE(backend_->Sync(live, &error)) << error;
  EXPECT_TRUE(lab_->WaitForRoute("10.1.2.4/32", false, 20)) << lab_->Diagnostics();
  ExpectBlackholed("10.1.2.3/32");
  ExpectBlackholed("2001:db8::77/128");
  ExpectBlackholed("10.50.1.50/32");  // the last one
  EXPECT_TRUE(WaitFor([&] { return lab_->BirdRouteTable().size() == live.size(); }, 30))
      << lab_->BirdRouteTable().size() << " routes in BIRD, want " << live.size();
}

}  // namespace
}  // namespace fs::enforce
