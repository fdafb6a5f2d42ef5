// Test support: a real BGP session for the RTBH backend. Two network namespaces joined by a veth
// pair: ExaBGP (10.255.0.1) on one side with flowsentry-exabgp-bridge as its API process, BIRD 2
// (10.255.0.2) on the other, iBGP in AS 65000, BIRD holding the usual router-side RTBH set-up
// (static blackhole routes for the discard next hops 192.0.2.1 and 100::1, so routes pointing at
// them resolve to "blackhole"). The bridge reaches the sensor's unix socket through the shared
// filesystem, so the backend under test runs in the test process, in no namespace.
//
// Typical use (root; GTEST_SKIP with BgpLab::Unavailable() otherwise):
//   fs::testing::BgpLab lab(socket_path);       // socket the BgpBackend listens on
//   ASSERT_TRUE(lab.Start(&error)) << error;    // namespaces, BIRD, ExaBGP; session up
//   ... backend.Add(...)
//   EXPECT_TRUE(lab.WaitForRoute("10.1.2.3/32", true, 20)) << lab.Diagnostics();
// The destructor kills both daemons and deletes the namespaces; the daemons also die with the test
// process (PR_SET_PDEATHSIG), and a later lab deletes namespaces left by a crashed test.
//
// Owned by one test; not thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace fs::testing {

// One route in BIRD's tables learnt over the lab's BGP session.
struct BirdRoute {
  std::string prefix;                    // "10.1.2.3/32", "2001:db8::1/128"
  std::vector<std::string> communities;  // "65535:666" (BIRD prints (65535,666))
  bool blackhole = false;                // BIRD resolved it to a blackhole route
};

class BgpLab {
 public:
  // Why the lab cannot run on this machine ("" when it can): not root, or ip/bird/birdc/exabgp
  // or the bridge binary missing.
  static std::string Unavailable();

  // `bridge_socket`: the unix socket flowsentry-exabgp-bridge connects to.
  explicit BgpLab(std::string bridge_socket);
  ~BgpLab();
  BgpLab(const BgpLab&) = delete;
  BgpLab& operator=(const BgpLab&) = delete;

  // Creates the namespaces, writes the configs, starts BIRD and ExaBGP and waits (bounded) for the
  // session to be established. False with *error (and Diagnostics()) when something did not come
  // up.
  bool Start(std::string* error);

  // ExaBGP alone: Stop sends SIGTERM (ExaBGP closes the session, BIRD drops its routes) and waits
  // for it; StartExaBgp starts a fresh one (empty RIB) and waits for the session.
  bool StopExaBgp();
  bool StartExaBgp(std::string* error);
  bool RestartExaBgp(std::string* error) { return StopExaBgp() && StartExaBgp(error); }

  bool SessionEstablished();
  bool WaitForSession(int timeout_s);

  // BGP routes BIRD learnt from ExaBGP (static routes left out).
  std::vector<BirdRoute> BirdRouteTable();
  // The same as "PREFIX COMMUNITY..." strings, e.g. "10.1.2.3/32 65535:666".
  std::vector<std::string> BirdRoutes();
  // Polls BirdRouteTable until `prefix` is present (or absent) or timeout_s passed.
  bool WaitForRoute(const std::string& prefix, bool present, int timeout_s);

  // birdc output, ExaBGP's log and stderr (the bridge logs there): for failure messages.
  std::string Diagnostics();
  std::string Birdc(const std::string& command);

  const std::string& dir() const { return dir_; }
  const std::string& exabgp_netns() const { return ns_exa_; }
  const std::string& bird_netns() const { return ns_bird_; }

 private:
  pid_t SpawnInNetns(const std::string& netns, const std::vector<std::string>& argv,
                     const std::vector<std::string>& env, const std::string& log_path);
  void StopProcess(pid_t* pid, int grace_ms);

  std::string bridge_socket_;
  std::string dir_;
  std::string ns_exa_, ns_bird_, veth_exa_, veth_bird_;
  bool netns_created_ = false;
  pid_t bird_pid_ = -1;
  pid_t exabgp_pid_ = -1;
};

}  // namespace fs::testing
