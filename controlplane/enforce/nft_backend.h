// The nftables enforcement backend (ARCHITECTURE.md §5): keeps every live block as an element of
// an nftables set, with the block's remaining lifetime as the element timeout, so the firewall
// expires the block on its own even when the sensor is down.
//
// What it owns, with the defaults (family inet, table flowsentry):
//
//   table inet flowsentry {
//     set blocked4 {
//       type ipv4_addr; flags interval,timeout;
//       elements = { 198.51.100.7 timeout 1h }
//     }
//     set blocked6 {
//       type ipv6_addr; flags interval,timeout;
//       elements = { 2001:db8::/48 timeout 5m }
//     }
//     chain block_forward {   # only with create_chains: true
//       type filter hook forward priority -10; policy accept;
//       ip saddr @blocked4 drop; ip daddr @blocked4 drop
//       ip6 saddr @blocked6 drop; ip6 daddr @blocked6 drop
//     }
//     chain block_input { type filter hook input priority -10; ...the same four rules... }
//   }
//
// The backend touches only that table's two sets and (with create_chains) its two chains
// block_forward and block_input, which it flushes and re-creates on every Start and Sync (one
// transaction each) so that a restart or a changed chain_priority never duplicates a rule.
// Everything else in the table, and every other table, is left alone; the table itself is created
// if missing but never deleted.
//
// Family: "inet" (default) holds both sets. "ip" holds only set4 and "ip6" only set6, because a
// set can be matched only by rules of its own table and an ip table sees no IPv6 packets (and an
// ip6 table no IPv4 ones): blocks of the other address family are skipped (Add/Remove/Sync succeed;
// Add and Sync log a warning), since no retry could ever make them effective there.
//
// create_chains: false, the operator's own ruleset decides where blocks apply. A set can be
// referenced only from rules in the same table, so either add your chain to the sensor's table:
//     nft add chain inet flowsentry prerouting '{ type filter hook prerouting priority -300; }'
//     nft add rule inet flowsentry prerouting ip saddr @blocked4 counter drop
// or point `table` at your existing table (e.g. table: filter) and reference @blocked4/@blocked6
// from your chains there: the backend then only creates and fills the two sets in it. Chains the
// backend created earlier with create_chains: true are not deleted when it is switched off
// (`nft delete chain inet flowsentry block_forward`).
//
// Remote firewall: `command` is run with /bin/sh -c and gets the nft script on stdin, e.g.
//     command: "ssh -o BatchMode=yes fw1 nft -f -"     (key-based login to the firewall)
//     command: "ip netns exec rtr nft -f -"              (a router namespace on this host)
// Each call is one script and `nft -f` applies a script as one transaction, so the firewall never
// sees half a change. The command is killed after command_timeout_s; its stderr is the error.
// Without `command` the scripts go through libnftables in this process's network namespace
// (needs CAP_NET_ADMIN).
//
// Overlapping blocks (an operator /24 that contains a rule-blocked host): an interval set cannot
// hold overlapping elements, so the backend keeps the live blocks it was given and writes the
// overlapping ones as disjoint pieces, each with the longest remaining lifetime of the blocks
// covering it (the /24 minus the host with the /24's timeout, the host with its own). While blocks
// overlap, each change to them rewrites that set (flush + all pieces, one transaction). Blocks that
// overlap nothing (the usual case) are plain elements, changed one at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/enforce/backend_config.h"
#include "controlplane/enforce/block.h"

struct nft_ctx;

namespace fs::enforce {

// Owned by the block manager's dispatcher; all calls come from that backend's own control thread,
// serialised (block.h). Holds one libnftables context (local mode) and the live blocks it was last
// told about (for overlapping blocks, see the file comment).
class NftBackend : public Backend {
 public:
  explicit NftBackend(NftConfig cfg);
  ~NftBackend() override;
  NftBackend(const NftBackend&) = delete;
  NftBackend& operator=(const NftBackend&) = delete;

  const char* name() const override { return "nftables"; }
  // Validates the config, then creates the table and sets (and chains): one transaction.
  bool Start(std::string* error) override;
  bool Add(const Block& b, std::string* error) override;
  bool Remove(const Block& b, std::string* error) override;
  bool Sync(std::span<const Block> live, std::string* error) override;

  // Checks names, family and timeout; the config loader can call it to fail early.
  static bool ValidateConfig(const NftConfig& cfg, std::string* error);

  // The nft script each call sends (pure: no I/O; they read the live blocks this backend holds,
  // which only successful Add/Remove/Sync calls change). "" means nothing to send (an expired
  // block, or a block of an address family the configured family cannot hold).
  //
  // Start: add table; add set (x2); per chain: add, flush, delete and re-add it with its hook and
  // priority, then its rules (so neither a restart nor a changed priority duplicates anything).
  std::string StartScript() const;
  // add element {X timeout Ns}; delete element {X}; add element {X timeout Ns}: adds or refreshes
  // (a plain add leaves a present element's timeout alone). A block that overlaps another live one
  // rewrites that family's set instead (flush set + every piece).
  std::string AddScript(const Block& b, uint64_t now_ms) const;
  // add element {X}; delete element {X}: succeeds whether X is present or not. Overlap: as Add.
  std::string RemoveScript(const Block& b) const;  // RemoveScript(b, NowMs())
  std::string RemoveScript(const Block& b, uint64_t now_ms) const;
  // StartScript(), then flush the sets and add every live block with its remaining timeout: the
  // firewall ends up holding exactly `live`, even if the table was deleted behind our back.
  std::string SyncScript(std::span<const Block> live, uint64_t now_ms) const;

 private:
  using LiveMap = std::map<patterns::IpPrefix, uint64_t>;  // target -> expires_ms

  bool Serves(const patterns::IpPrefix& p) const;
  const std::string& SetFor(const patterns::IpPrefix& p) const;
  // "flush set ...; add element ..." for one family's set holding exactly `live` at now_ms.
  std::string RewriteSet(bool v4, const LiveMap& live, uint64_t now_ms) const;
  bool OverlapsOther(const patterns::IpPrefix& p, uint64_t now_ms) const;
  // Sends the script (libnftables or the command); `what` names the call in the error.
  // may_recreate: prepend StartScript() when the last call found the table or a set missing.
  bool Apply(const std::string& what, const std::string& script, bool may_recreate,
             std::string* error);
  bool ApplyLocal(const std::string& script, std::string* detail);
  bool ApplyCommand(const std::string& script, std::string* detail);

  NftConfig cfg_;
  std::string prefix_;  // "inet flowsentry"
  bool has4_ = true, has6_ = true;
  struct CtxDeleter {
    void operator()(nft_ctx* ctx) const;
  };
  std::unique_ptr<nft_ctx, CtxDeleter> ctx_;
  LiveMap live_;
  // Set when a call failed because the table or a set is missing (deleted outside flowsentry, a
  // rebooted remote firewall): the next call sends StartScript() first, in the same transaction.
  bool recreate_ = false;
};

}  // namespace fs::enforce
