// Test support: a small routed district in network namespaces, for enforcement end to end (the
// sensor on a mirror port pushing blocks to the router's nftables) and the block-latency benchmark.
//
//   wan  198.51.100.66 (attacker), 198.51.100.20 (internet host), extra attackers on request;
//        default route via the router
//    |  eth0 <-> wan0
//   rtr  198.51.100.1/24 on wan0, 10.80.2.1/24 on lan0, forwarding on, empty nftables ruleset;
//        tc clsact on wan0 and lan0 mirrors every packet arriving on either (so each forwarded
//        packet once, both directions, before the firewall) to mirror0
//    |  lan0 <-> eth0                       mirror0 <-> fsmirror
//   lan  10.80.2.10 (district server, a TCP listener on 3389 run by the lab)
//   sensor  fsmirror, no address: where the sensor under test captures (af_packet)
//
// Every namespace is named kPrefix<pid>x<n><role> (unique per process and lab; a later lab deletes
// namespaces whose process is gone). Interface names are fixed, since each lives in the lab's own
// namespaces. IPv6 is off everywhere so that the kernel sends nothing of its own on the links.
//
// Typical use (root; GTEST_SKIP() << NetnsLab::Unavailable() otherwise):
//   fs::testing::NetnsLab lab;
//   ASSERT_TRUE(lab.Start(&error)) << error;
//   ... run flowsentry with lab.Exec(lab.sensor_ns(), {...}), `--iface` NetnsLab::kMirrorIface
//   EXPECT_TRUE(lab.Connect(NetnsLab::kAttacker, "Cookie: mstshash=evil\r\n", 2000).connected);
//   EXPECT_TRUE(lab.WaitForSetElement("198.51.100.66", true, 10));
// The destructor stops the listener and deletes the namespaces (which deletes every veth).
//
// Owned by one test or the benchmark; the methods are for one thread, except that NftHasElement
// and the socket helpers may be called from several threads at once.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace fs::testing {

// One element of an nftables set, from `nft -j list set`.
struct NftElement {
  std::string value;       // "198.51.100.66", "198.51.100.0/24", "10.0.0.1-10.0.0.9"
  int64_t timeout_s = -1;  // the element's timeout (-1: none)
  int64_t expires_s = -1;  // seconds until it expires (-1: unknown)
};

struct ConnectResult {
  bool connected = false;  // the handshake completed within the timeout (and the payload went)
  std::string error;       // why not: "timed out", "Connection refused" ...
};

class NetnsLab {
 public:
  static constexpr const char* kAttacker = "198.51.100.66";
  static constexpr const char* kInternetHost = "198.51.100.20";
  static constexpr const char* kRouterWan = "198.51.100.1";
  static constexpr const char* kRouterLan = "10.80.2.1";
  static constexpr const char* kServer = "10.80.2.10";
  static constexpr uint16_t kServerPort = 3389;
  static constexpr const char* kMirrorIface = "fsmirror";  // in sensor_ns()

  // Why the lab cannot run here ("" when it can): not root, or ip/nft/tc missing.
  static std::string Unavailable();

  NetnsLab();
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  // Builds the topology above and starts the server's listener. False with *error naming the
  // command that failed.
  bool Start(std::string* error);

  // More source addresses on the wan side (/24 of the wan net), e.g. distinct attackers.
  bool AddWanAddresses(const std::vector<std::string>& addrs, std::string* error);

  const std::string& wan_ns() const { return ns_wan_; }
  const std::string& rtr_ns() const { return ns_rtr_; }
  const std::string& lan_ns() const { return ns_lan_; }
  const std::string& sensor_ns() const { return ns_sensor_; }
  const std::string& dir() const { return dir_; }  // scratch directory, removed by ~NetnsLab
  // `ip netns exec NS argv...` as an argv for RunProcess / BackgroundProcess.
  std::vector<std::string> Exec(const std::string& ns, const std::vector<std::string>& argv) const;
  // The same as one shell command line prefix ("/usr/sbin/ip netns exec NS"), e.g. for the
  // sensor's nftables `command` setting ("... nft -f -").
  std::string ExecPrefix(const std::string& ns) const;

  // A socket created in namespace `ns` (setns in a short-lived thread: a socket stays in the
  // namespace it was created in, whoever uses it later). -1 on failure (errno set).
  static int SocketIn(const std::string& ns, int domain, int type);

  // TCP from wan address `src` to the server: connect within timeout_ms, send `payload` (if
  // any), then close. Thread-safe.
  ConnectResult Connect(const std::string& src, const std::string& payload, int timeout_ms);
  // Opens a connection from `src` and leaves it established: the caller sends the trigger and
  // closes the fd. -1 with *error when it did not connect within timeout_ms.
  int OpenConnection(const std::string& src, int timeout_ms, std::string* error);
  uint64_t accepted() const { return accepted_.load(); }  // connections the server accepted

  // The router's set (`nft -j list set inet TABLE SET`); *ok false when it cannot be listed (no
  // table yet, for instance).
  std::vector<NftElement> NftSetElements(const std::string& table, const std::string& set,
                                         bool* ok);
  // Polls NftSetElements of inet flowsentry blocked4 (the sensor's defaults) until `value` is
  // present (or absent) or timeout_s passed.
  bool WaitForSetElement(const std::string& value, bool present, int timeout_s,
                         const std::string& table = "flowsentry",
                         const std::string& set = "blocked4");
  // Runs nft in the router's namespace (e.g. {"flush", "set", "inet", "flowsentry", "blocked4"}).
  bool Nft(const std::vector<std::string>& args, std::string* output);

  // The router's ruleset, links and tc counters: for failure messages.
  std::string Diagnostics();

 private:
  bool Run(const std::vector<std::string>& argv, std::string* error);
  bool StartListener(std::string* error);
  void ListenLoop();

  std::string ip_, nft_, tc_;
  std::string ns_wan_, ns_rtr_, ns_lan_, ns_sensor_;
  std::string dir_;
  std::vector<std::string> created_;  // namespaces to delete
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::thread listener_;
};

}  // namespace fs::testing
