// BGP remotely-triggered black-hole (RTBH, RFC 5635 / RFC 7999) enforcement through ExaBGP
// (docs/enforcement-bgp.md). The sensor does not speak BGP: an operator-run ExaBGP starts
// `flowsentry-exabgp-bridge --socket PATH` as an API process, the bridge connects to the unix
// socket BgpBackend listens on and relays lines both ways: our `announce route` / `withdraw route`
// / `show adj-rib out` commands to ExaBGP, ExaBGP's `done` / `error` acks back to us. A command
// succeeds only when ExaBGP acknowledged it (exabgp.api.ack, on by default).
//
// ExaBGP keeps API routes when its API process dies or reconnects, and loses them all when it
// restarts; the sensor may restart too. So the backend keeps the set it wants announced and, each
// time a bridge connects, makes ExaBGP hold exactly that set: it lists ExaBGP's adj-rib-out,
// withdraws the routes it owns (next hop = the configured discard next hop and carrying every
// configured community) that it no longer wants, and announces the rest. Before the first Sync of
// this process the wanted set is not known yet, so nothing is withdrawn then (a sensor restart
// never lifts blocks while it starts).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "controlplane/enforce/backend_config.h"
#include "controlplane/enforce/block.h"

namespace fs::enforce {

// Checks the settings Start relies on; *error names the setting ("bgp.communities[1]: ...").
bool ValidateBgpConfig(const BgpConfig& config, std::string* error);

// "10.1.2.3/32", "10.9.0.0/16", "2001:db8::1/128": ExaBGP wants the length even for hosts.
std::string BgpPrefixText(const patterns::IpPrefix& prefix);
// The ExaBGP API commands for one prefix (config assumed valid).
std::string BgpAnnounceCommand(const BgpConfig& config, const patterns::IpPrefix& prefix);
std::string BgpWithdrawCommand(const BgpConfig& config, const patterns::IpPrefix& prefix);

// One line of ExaBGP's `show adj-rib out extensive` answer, e.g.
//   neighbor 10.0.0.2 local-ip ... ipv4 unicast 10.1.2.3/32 next-hop 192.0.2.1 community blackhole
// Communities are given as "A:B" (ExaBGP's well-known names translated back).
struct AdjRibRoute {
  patterns::IpPrefix prefix;
  IpAddr next_hop;
  std::vector<std::string> communities;
};
// False for anything that is not an IPv4/IPv6 unicast route line.
bool ParseAdjRibOutLine(std::string_view line, AdjRibRoute* out);

// Owned by the block manager, which calls Start/Add/Remove/Sync from its dispatcher thread for
// this backend (calls serialised). An internal accept thread takes bridge connections and
// re-announces on each; mu_ serialises the command exchange between the two threads.
class BgpBackend : public Backend {
 public:
  explicit BgpBackend(BgpConfig config);
  ~BgpBackend() override;  // stops the accept thread, closes the bridge, removes the socket
  BgpBackend(const BgpBackend&) = delete;
  BgpBackend& operator=(const BgpBackend&) = delete;

  const char* name() const override { return "bgp"; }
  // Validates the config, listens on the socket (once; a stale socket file is replaced), then
  // waits up to command_timeout_ms for a bridge: false, with the ExaBGP setting to check, if none
  // came (the socket stays open, so the retry usually finds the bridge connected).
  bool Start(std::string* error) override;
  bool Add(const Block& b, std::string* error) override;
  bool Remove(const Block& b, std::string* error) override;
  // Makes ExaBGP hold exactly `live` among the routes this backend owns (see the file comment).
  bool Sync(std::span<const Block> live, std::string* error) override;

  // Any thread. True while a bridge is connected (as far as the last exchange knows).
  bool BridgeConnected() const;
  // Any thread. How many bridge connections have been reconciled (tests wait on it).
  uint64_t Reconciles() const { return reconciles_.load(); }

 private:
  struct Reply {
    bool ok = false;
    std::string error;  // when !ok
  };

  void AcceptLoop();
  // mu_ held. Sends the commands (a bounded window of them in flight) and collects one ack each;
  // `neighbor ...` lines in between (show answers) are appended to *listing. False with *error
  // (the first failure) when any command failed; a missing ack or a broken bridge drops the
  // connection, so later acks cannot be taken for another command's.
  bool RunLocked(const std::vector<std::string>& commands, std::vector<std::string>* listing,
                 std::string* error);
  // mu_ held. Makes ExaBGP hold wanted_ (withdrawing owned strays only when authoritative_).
  bool ReconcileLocked(std::string* error);
  bool ReadLineLocked(int timeout_ms, std::string* line, std::string* error);
  void DropBridgeLocked(const std::string& why);
  bool OwnedRoute(const AdjRibRoute& route) const;
  std::string NoBridgeError() const;

  const BgpConfig config_;
  std::vector<std::string> communities_;  // normalised "A:B"
  IpAddr next_hop4_, next_hop6_;

  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: wakes the accept thread on destruction
  std::thread accept_thread_;

  mutable std::mutex mu_;
  std::condition_variable connected_cv_;
  int bridge_fd_ = -1;                   // guarded by mu_
  uint64_t generation_ = 0;              // counts bridge connections; mu_
  std::string rbuf_;                     // bytes read from the bridge after the last full line; mu_
  std::set<patterns::IpPrefix> wanted_;  // what ExaBGP should announce; mu_
  bool authoritative_ = false;           // wanted_ came from a Sync; mu_
  std::atomic<uint64_t> reconciles_{0};
};

}  // namespace fs::enforce
