// Enforcement (ARCHITECTURE.md §5, docs/enforcement.md): the types the block manager and its
// backends share. A Block is one address (or operator-given CIDR) that enforcement points must
// stop forwarding traffic from and to until it expires.
//
// Threads: the block manager owns every Block; each backend runs on its own control thread
// (never on the packet path, never on the output thread) and gets copies.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "patterns/indicators.h"  // IpPrefix

namespace fs::enforce {

// Who asked for a block.
enum class BlockSource : uint8_t {
  kRule,       // a rule's `metadata: flowsentry-block src|dst` fired
  kIndicator,  // an indicator list configured with `action: block` matched
  kOperator,   // API / flowsentryctl blocks add
};
const char* BlockSourceName(BlockSource s);  // "rule", "indicator", "operator"

struct Block {
  patterns::IpPrefix target;  // a host (/32, /128) for rule and indicator blocks
  BlockSource source = BlockSource::kOperator;
  uint32_t gid = 0, sid = 0;  // the signature that asked (0 for operator blocks)
  std::string reason;         // signature msg, or the operator's comment
  uint64_t created_ms = 0;    // Unix epoch milliseconds (wall clock: survives restarts)
  uint64_t expires_ms = 0;    // Unix epoch milliseconds; always set (every block has a TTL)

  // Seconds left at now_ms (0 when expired); what an nft element timeout is set to.
  uint64_t RemainingSeconds(uint64_t now_ms) const {
    return expires_ms > now_ms ? (expires_ms - now_ms + 999) / 1000 : 0;
  }
};

// One enforcement point. Implementations are driven by the block manager's dispatcher, one
// thread per backend, calls serialised; they may block (a slow firewall stalls only its own
// thread). Every call is idempotent: adding a present block refreshes its expiry, removing an
// absent one succeeds. A false return carries an operator-actionable *error and makes the
// dispatcher retry with back-off.
class Backend {
 public:
  virtual ~Backend() = default;

  // "nftables", "bgp", "webhook", "nic": the metric label and the config key.
  virtual const char* name() const = 0;

  // Called once before anything else: checks that the enforcement point is reachable and usable
  // and creates what the backend owns (an nft table and set ...). False: the backend is reported
  // unavailable (logged, metric) and the dispatcher retries Start with back-off.
  virtual bool Start(std::string* error) = 0;

  // Makes the block effective until b.expires_ms (refreshing its expiry if present).
  virtual bool Add(const Block& b, std::string* error) = 0;

  // Lifts the block (operator removal, or expiry where the enforcement point does not expire
  // entries itself).
  virtual bool Remove(const Block& b, std::string* error) = 0;

  // After Start (and after a reconnect): makes the enforcement point hold exactly `live`:
  // entries this backend owns that are not in `live` are removed, missing ones added. Backends
  // that cannot list their entries add all of `live` (Add is idempotent).
  virtual bool Sync(std::span<const Block> live, std::string* error) = 0;
};

// Milliseconds since the Unix epoch, from the system clock.
uint64_t NowMs();

}  // namespace fs::enforce
