#include "controlplane/sensor/enforce_glue.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>

#include "controlplane/enforce/bgp_backend.h"
#include "controlplane/enforce/nft_backend.h"
#include "controlplane/enforce/nic_backend.h"
#include "controlplane/enforce/webhook_backend.h"
#include "controlplane/output/eve.h"
#include "patterns/rule_parser.h"

namespace fs::sensor {

using Json = nlohmann::json;

namespace {

// HOME_NET as the rules resolve it (config vars over Suricata's defaults): parsed through a
// one-rule text so that groups, negations and nested variables mean what they mean in rules.
bool HomeNet(const patterns::Vars& vars, std::vector<patterns::IpPrefix>* out, std::string* error) {
  patterns::ParseOptions o;
  o.vars = vars;
  auto r = patterns::ParseRules("alert ip $HOME_NET any -> any any (msg:\"home\"; sid:1;)",
                                "vars.address-groups.HOME_NET", o);
  if (!r.errors.empty() || r.rules.empty()) {
    *error = r.errors.empty() ? "vars.address-groups.HOME_NET: cannot be resolved"
                              : r.errors[0].ToString();
    return false;
  }
  *out = PrefixesOf(r.rules[0].src_addr.set);
  return true;
}

bool ReadSecret(const std::string& path, std::string* secret, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = fmt::format("enforcement.webhook.secret-file: cannot read '{}'", path);
    return false;
  }
  std::getline(in, *secret);
  while (!secret->empty() && (secret->back() == '\r' || secret->back() == ' ')) secret->pop_back();
  if (secret->empty()) {
    *error = fmt::format("enforcement.webhook.secret-file: '{}' is empty", path);
    return false;
  }
  return true;
}

std::string Ts(uint64_t ms) { return output::FormatTimestamp(ms * 1000); }

}  // namespace

std::vector<patterns::IpPrefix> PrefixesOf(const patterns::IpSet& set) {
  using patterns::U128;
  auto trailing_zeros = [](U128 v) {
    if (v == 0) return 128;
    const auto low = static_cast<uint64_t>(v);
    return low != 0 ? __builtin_ctzll(low) : 64 + __builtin_ctzll(static_cast<uint64_t>(v >> 64));
  };
  auto last_of = [](U128 lo, int bits) {  // lo is aligned to 2^bits: no overflow
    return bits == 128 ? patterns::kU128Max : lo + ((U128{1} << bits) - 1);
  };
  std::vector<patterns::IpPrefix> out;
  for (const auto& r : set.ranges()) {
    U128 lo = r.lo;
    for (;;) {
      // The largest block aligned at lo that ends within the range.
      int bits = trailing_zeros(lo);
      while (bits > 0 && last_of(lo, bits) > r.hi) --bits;
      patterns::IpPrefix p;
      p.addr = patterns::FromU128(lo);
      p.len = static_cast<uint8_t>(128 - bits);
      out.push_back(p);
      const U128 last = last_of(lo, bits);
      if (last >= r.hi) break;
      lo = last + 1;
    }
  }
  return out;
}

std::unique_ptr<enforce::BlockManager> MakeBlockManager(const config::Config& cfg,
                                                        const patterns::Vars& vars,
                                                        std::string* error) {
  const config::EnforcementConfig& e = cfg.enforcement;
  if (!e.enabled) return nullptr;
  enforce::ManagerConfig mc;
  mc.dry_run = e.dry_run;
  mc.allowlist = e.allowlist;
  if (!HomeNet(vars, &mc.home_net, error)) return nullptr;
  mc.allow_internal = e.allow_internal;
  mc.max_active = e.max_active;
  mc.rate_per_minute = e.rate_per_minute;
  mc.burst = e.burst;
  mc.default_ttl_s = e.default_ttl;
  mc.max_ttl_s = e.max_ttl;
  mc.refresh_interval_s = e.refresh_interval;
  mc.state_file = e.state_file;

  std::vector<std::unique_ptr<enforce::Backend>> backends;
  if (e.nftables.present) {
    const enforce::NftConfig& n = e.nftables;
    std::string why;
    if (!enforce::NftBackend::ValidateConfig(n, &why)) {
      *error = "enforcement.nftables: " + why;
      return nullptr;
    }
    backends.push_back(std::make_unique<enforce::NftBackend>(n));
  }
  if (e.bgp.present) {
    const enforce::BgpConfig& b = e.bgp;
    std::string why;
    if (!enforce::ValidateBgpConfig(b, &why)) {
      *error = "enforcement." + why;
      return nullptr;
    }
    backends.push_back(std::make_unique<enforce::BgpBackend>(b));
  }
  if (e.webhook.present) {
    enforce::WebhookConfig w = e.webhook;
    enforce::WebhookUrl parsed;
    std::string why;
    if (!enforce::ParseWebhookUrl(w.url, &parsed, &why)) {
      *error = "enforcement.webhook.url: " + why;
      return nullptr;
    }
    if (!e.webhook.secret_file.empty() && !ReadSecret(e.webhook.secret_file, &w.secret, error)) {
      return nullptr;
    }
    backends.push_back(std::make_unique<enforce::WebhookBackend>(std::move(w)));
  }
  if (e.nic.present) {
    enforce::NicConfig n;
    n.port_id = static_cast<uint16_t>(e.nic.port);
    n.max_rules = e.nic.max_rules;
    backends.push_back(std::make_unique<enforce::NicBackend>(n));
  }
  if (backends.empty() && !e.dry_run) {
    spdlog::warn(
        "enforcement: enabled without a backend (nftables, bgp, webhook, nic): blocks are decided "
        "and recorded only");
  }
  return std::make_unique<enforce::BlockManager>(std::move(mc), std::move(backends));
}

std::string FormatBlockEvent(const enforce::BlockEvent& ev) {
  // Ordered as EVE records are (timestamp, event_type, then the payload object).
  nlohmann::ordered_json b;
  b["action"] = ev.action;
  const bool has_target = ev.block.target.len != 0 || ev.action == "refused";
  if (has_target) {
    b["target"] = ev.block.target.ToString();
    b["source"] = enforce::BlockSourceName(ev.block.source);
    if (ev.block.sid != 0) {
      b["gid"] = ev.block.gid;
      b["signature_id"] = ev.block.sid;
    }
    if (!ev.block.reason.empty()) b["reason"] = ev.block.reason;
    if (ev.block.created_ms != 0) b["created"] = Ts(ev.block.created_ms);
    if (ev.block.expires_ms != 0) {
      b["expires"] = Ts(ev.block.expires_ms);
      if (ev.block.expires_ms > ev.block.created_ms && ev.block.created_ms != 0) {
        b["ttl"] = (ev.block.expires_ms - ev.block.created_ms + 500) / 1000;
      }
    }
  }
  if (!ev.backend.empty()) b["backend"] = ev.backend;
  if (!ev.detail.empty()) b["detail"] = ev.detail;
  nlohmann::ordered_json j;
  j["timestamp"] = Ts(ev.ts_ms != 0 ? ev.ts_ms : enforce::NowMs());
  j["event_type"] = "block";
  j["block"] = std::move(b);
  // Hostile reasons (signature messages, operator comments) must not break the line format.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

metrics::EnforcementGauges GaugesOf(const enforce::BlockManager& m, bool dry_run) {
  metrics::EnforcementGauges g;
  g.enabled = true;
  g.dry_run = dry_run;
  g.active = m.ActiveCount();
  for (const auto& b : m.Backends()) g.backends.push_back({b.name, b.available, b.pending});
  return g;
}

Json BackendsJson(const enforce::BlockManager& m) {
  Json backends = Json::array();
  for (const auto& b : m.Backends()) {
    backends.push_back({{"name", b.name},
                        {"available", b.available},
                        {"pending", b.pending},
                        {"applied", b.applied},
                        {"failures", b.failures},
                        {"last_error", b.last_error}});
  }
  return backends;
}

Json BlocksJson(const enforce::BlockManager& m, bool dry_run) {
  const uint64_t now = enforce::NowMs();
  Json blocks = Json::array();
  for (const auto& b : m.List()) {
    Json j = {{"target", b.target.ToString()},
              {"source", enforce::BlockSourceName(b.source)},
              {"gid", b.gid},
              {"signature_id", b.sid},
              {"reason", b.reason},
              {"created", Ts(b.created_ms)},
              {"expires", Ts(b.expires_ms)},
              {"ttl_remaining", b.RemainingSeconds(now)}};
    blocks.push_back(std::move(j));
  }
  Json out = {{"count", blocks.size()}, {"dry_run", dry_run}};
  out["blocks"] = std::move(blocks);
  out["backends"] = BackendsJson(m);
  return out;
}

Json BlockAddJson(enforce::BlockManager* m, const Json& request) {
  enforce::BlockRequest r;
  const std::string target = request.value("target", std::string());
  std::string why;
  if (!patterns::ParseExactPrefix(target, &r.target, &why)) {
    return {{"ok", false}, {"outcome", "invalid"}, {"error", "target: " + why}};
  }
  r.source = enforce::BlockSource::kOperator;
  r.reason = request.value("reason", std::string("operator"));
  r.ttl_s = request.value("ttl", uint64_t{0});
  const enforce::Outcome o = m->Request(r);
  const std::string name = enforce::OutcomeName(o);
  Json out = {{"outcome", name}, {"target", r.target.ToString()}};
  switch (o) {
    case enforce::Outcome::kAdded:
    case enforce::Outcome::kRefreshed:
    case enforce::Outcome::kDuplicate:
    case enforce::Outcome::kDryRun:
      out["ok"] = true;
      break;
    case enforce::Outcome::kRefusedAllowlist:
      out["ok"] = false;
      out["error"] = fmt::format("refused: {} is on enforcement.allowlist", target);
      break;
    case enforce::Outcome::kRefusedHomeNet:
      out["ok"] = false;
      out["error"] =
          fmt::format("refused: {} is in HOME_NET (enforcement.allow-internal is false)", target);
      break;
    case enforce::Outcome::kRefusedCap:
      out["ok"] = false;
      out["error"] = "refused: enforcement.max-active blocks are already active";
      break;
    case enforce::Outcome::kRefusedRate:
      out["ok"] = false;
      out["error"] = "refused: rate limit (enforcement.rate-per-minute)";
      break;
    case enforce::Outcome::kInvalid:
      out["ok"] = false;
      out["error"] = fmt::format("invalid target {}: too wide or a whole address family", target);
      break;
  }
  for (const auto& b : m->List()) {
    if (b.target == r.target) {
      out["expires"] = Ts(b.expires_ms);
      out["ttl_remaining"] = b.RemainingSeconds(enforce::NowMs());
    }
  }
  return out;
}

Json BlockDelJson(enforce::BlockManager* m, const std::string& target) {
  patterns::IpPrefix p;
  bool host_bits = false;
  std::string why;
  if (!patterns::ParseIpEntry(target, &p, &host_bits, &why)) {
    return {{"ok", false}, {"outcome", "invalid"}, {"error", "target: " + why}};
  }
  std::string error;
  if (!m->Remove(p, "operator", &error)) {
    return {{"ok", false}, {"not_found", true}, {"error", error}};
  }
  return {{"ok", true}, {"target", p.ToString()}};
}

}  // namespace fs::sensor
