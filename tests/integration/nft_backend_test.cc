// NftBackend against real nftables. The test process moves itself into a fresh network namespace
// before the first test (NetnsEnvironment), so every ruleset it creates, lists or flushes is its
// own and the host's ruleset is never touched; `nft` children inherit that namespace. Needs root
// (CAP_NET_ADMIN and CAP_SYS_ADMIN for unshare); skipped with the reason otherwise.
//
// Every behavioural test runs twice: through libnftables in this process and through the command
// mode (`nft -f -` with the script on stdin).
#include "controlplane/enforce/nft_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"

namespace fs::enforce {
namespace {

using nlohmann::json;
using patterns::IpPrefix;
using testing::RunProcess;

constexpr const char* kNft = "/usr/sbin/nft";
constexpr const char* kIp = "/usr/sbin/ip";

std::string g_skip_reason;  // set by NetnsEnvironment when the tests cannot run

class NetnsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (geteuid() != 0) {
      g_skip_reason = "needs root (nftables and unshare(CLONE_NEWNET))";
      return;
    }
    if (unshare(CLONE_NEWNET) != 0) {
      g_skip_reason = std::string("unshare(CLONE_NEWNET) failed: ") + std::strerror(errno);
      return;
    }
    if (access(kNft, X_OK) != 0) g_skip_reason = std::string(kNft) + " not installed";
  }
};
[[maybe_unused]] ::testing::Environment* const kNetnsEnv =
    ::testing::AddGlobalTestEnvironment(new NetnsEnvironment);

// Runs nft with the arguments; the test fails on a non-zero exit.
std::string Nft(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kNft};
  argv.insert(argv.end(), args.begin(), args.end());
  const testing::ProcessResult r = RunProcess(argv, 30);
  EXPECT_EQ(r.exit_code, 0) << "nft failed: " << r.err;
  return r.out;
}

// Applies an nft script from a file (the way an operator's ruleset would be loaded).
void NftScript(const std::string& script) {
  const std::string path = testing::MakeTempDir("nft") + "/script.nft";
  std::ofstream(path) << script;
  Nft({"-f", path});
}

json Ruleset() {
  const std::string out = Nft({"-j", "list", "ruleset"});
  json j = json::parse(out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << out;
  return j.is_discarded() ? json::object() : j;
}

// The ruleset objects of one table (family + name), with handles and element expiry countdowns
// removed so that two listings of the same ruleset compare equal.
json Canonical(const json& j) {
  if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "handle" || it.key() == "expires") continue;
      out[it.key()] = Canonical(it.value());
    }
    return out;
  }
  if (j.is_array()) {
    json out = json::array();
    for (const json& v : j) out.push_back(Canonical(v));
    return out;
  }
  return j;
}

json TableObjects(const std::string& family, const std::string& table) {
  json out = json::array();
  const json rs = Ruleset();
  if (!rs.contains("nftables")) return out;
  for (const json& item : rs["nftables"]) {
    for (auto it = item.begin(); it != item.end(); ++it) {
      const json& o = it.value();
      if (!o.is_object() || it.key() == "metainfo") continue;
      const bool is_table = it.key() == "table";
      const std::string name = is_table ? o.value("name", "") : o.value("table", "");
      if (o.value("family", "") == family && name == table) {
        out.push_back({{it.key(), Canonical(o)}});
      }
    }
  }
  return out;
}

// One element's text ("10.0.0.1", "10.0.0.0/24", "a-b" for a range).
std::string ElementText(const json& val) {
  if (val.is_string()) return val.get<std::string>();
  if (val.contains("prefix")) {
    return val["prefix"]["addr"].get<std::string>() + "/" +
           std::to_string(val["prefix"]["len"].get<int>());
  }
  if (val.contains("range")) {
    return val["range"][0].get<std::string>() + "-" + val["range"][1].get<std::string>();
  }
  return val.dump();
}

// element -> timeout in seconds (-1: no timeout). nullopt when the set does not exist.
std::optional<std::map<std::string, int64_t>> Elements(const std::string& set,
                                                       const std::string& family = "inet",
                                                       const std::string& table = "flowsentry") {
  for (const json& item : Ruleset().value("nftables", json::array())) {
    if (!item.contains("set")) continue;
    const json& s = item["set"];
    if (s.value("family", "") != family || s.value("table", "") != table ||
        s.value("name", "") != set) {
      continue;
    }
    std::map<std::string, int64_t> out;
    for (const json& e : s.value("elem", json::array())) {
      if (e.is_object() && e.contains("elem")) {
        out[ElementText(e["elem"]["val"])] = e["elem"].value("timeout", int64_t{-1});
      } else {
        out[ElementText(e)] = -1;
      }
    }
    return out;
  }
  return std::nullopt;
}

std::vector<std::string> Keys(const std::map<std::string, int64_t>& m) {
  std::vector<std::string> out;
  for (const auto& [k, v] : m) out.push_back(k);
  return out;
}

IpPrefix Prefix(const std::string& text) {
  IpPrefix p;
  bool host_bits = false;
  std::string reason;
  EXPECT_TRUE(patterns::ParseIpEntry(text, &p, &host_bits, &reason)) << text << ": " << reason;
  return p;
}

Block MakeBlock(const std::string& target, uint64_t ttl_s, uint64_t now_ms) {
  Block b;
  b.target = Prefix(target);
  b.reason = "test";
  b.created_ms = now_ms;
  b.expires_ms = now_ms + ttl_s * 1000;
  return b;
}

// A timeout set from a TTL: the element's timeout is the remaining lifetime rounded up to whole
// seconds when the call was made, so within a few seconds of the TTL (generous: slow machines).
MATCHER_P(TimeoutNear, ttl_s, "") { return arg <= ttl_s && arg >= ttl_s - 10; }

// ---------------------------------------------------------------------------------------------
// Scripts (pure; no namespace needed).

TEST(NftScripts, AddRemoveAndSyncScripts) {
  NftBackend be({});
  const uint64_t now = 1'000'000'000'000;
  EXPECT_EQ(be.AddScript(MakeBlock("10.1.2.3", 300, now), now),
            "add element inet flowsentry blocked4 { 10.1.2.3 timeout 300s }\n"
            "delete element inet flowsentry blocked4 { 10.1.2.3 }\n"
            "add element inet flowsentry blocked4 { 10.1.2.3 timeout 300s }\n");
  EXPECT_EQ(be.AddScript(MakeBlock("2001:db8::/48", 60, now), now + 500),
            "add element inet flowsentry blocked6 { 2001:db8::/48 timeout 60s }\n"
            "delete element inet flowsentry blocked6 { 2001:db8::/48 }\n"
            "add element inet flowsentry blocked6 { 2001:db8::/48 timeout 60s }\n");
  // Less than a second left: at least one second, never "timeout 0s" (which nft refuses).
  EXPECT_NE(be.AddScript(MakeBlock("10.1.2.3", 1, now), now + 999).find("timeout 1s"),
            std::string::npos);
  EXPECT_EQ(be.AddScript(MakeBlock("10.1.2.3", 1, now), now + 1000), "");  // expired
  EXPECT_EQ(be.RemoveScript(MakeBlock("192.0.2.0/24", 60, now), now),
            "add element inet flowsentry blocked4 { 192.0.2.0/24 }\n"
            "delete element inet flowsentry blocked4 { 192.0.2.0/24 }\n");
  const std::vector<Block> live = {MakeBlock("10.0.0.1", 30, now),
                                   MakeBlock("2001:db8::1", 40, now),
                                   MakeBlock("10.0.0.2", 0, now)};
  const std::string sync = be.SyncScript(live, now);
  EXPECT_TRUE(sync.starts_with(be.StartScript())) << sync;
  EXPECT_TRUE(
      sync.ends_with("flush set inet flowsentry blocked4\n"
                     "add element inet flowsentry blocked4 { 10.0.0.1 timeout 30s }\n"
                     "flush set inet flowsentry blocked6\n"
                     "add element inet flowsentry blocked6 { 2001:db8::1 timeout 40s }\n"))
      << sync;
}

TEST(NftScripts, StartScriptFollowsConfig) {
  NftConfig cfg;
  cfg.create_chains = false;
  EXPECT_EQ(NftBackend(cfg).StartScript(),
            "add table inet flowsentry\n"
            "add set inet flowsentry blocked4 { type ipv4_addr; flags interval, timeout; }\n"
            "add set inet flowsentry blocked6 { type ipv6_addr; flags interval, timeout; }\n");
  cfg.create_chains = true;
  cfg.family = "ip";
  cfg.chain_priority = 5;
  const std::string s = NftBackend(cfg).StartScript();
  EXPECT_NE(s.find("add chain ip flowsentry block_input { type filter hook input priority 5; "
                   "policy accept; }\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("add rule ip flowsentry block_forward ip daddr @blocked4 drop\n"),
            std::string::npos);
  EXPECT_EQ(s.find("blocked6"), std::string::npos) << s;
}

TEST(NftScripts, ConfigValidation) {
  struct Case {
    const char* what;
    void (*edit)(NftConfig*);
    const char* error_part;  // nullptr: valid
  };
  const Case cases[] = {
      {"defaults", [](NftConfig*) {}, nullptr},
      {"ip6 family", [](NftConfig* c) { c->family = "ip6"; }, nullptr},
      {"bridge family", [](NftConfig* c) { c->family = "bridge"; }, "family 'bridge'"},
      {"dash in table", [](NftConfig* c) { c->table = "bad-name"; }, "table name 'bad-name'"},
      {"leading digit", [](NftConfig* c) { c->table = "1abc"; }, "table name '1abc'"},
      {"empty set4", [](NftConfig* c) { c->set4 = ""; }, "set4 name ''"},
      {"space in set6", [](NftConfig* c) { c->set6 = "a b"; }, "set6 name 'a b'"},
      {"injection", [](NftConfig* c) { c->table = "t; flush ruleset"; }, "table name"},
      {"same sets", [](NftConfig* c) { c->set6 = c->set4; }, "both 'blocked4'"},
      {"zero timeout", [](NftConfig* c) { c->command_timeout_s = 0; }, "command_timeout_s"},
  };
  for (const Case& c : cases) {
    NftConfig cfg;
    c.edit(&cfg);
    std::string error;
    const bool ok = NftBackend::ValidateConfig(cfg, &error);
    if (c.error_part == nullptr) {
      EXPECT_TRUE(ok) << c.what << ": " << error;
    } else {
      EXPECT_FALSE(ok) << c.what;
      EXPECT_NE(error.find(c.error_part), std::string::npos) << c.what << ": " << error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Against nftables, in the test's own network namespace.

class NftBackendTest : public ::testing::TestWithParam<bool> {  // param: command mode
 protected:
  void SetUp() override {
    if (!g_skip_reason.empty()) GTEST_SKIP() << g_skip_reason;
    // Our own namespace (see NetnsEnvironment): a clean ruleset for each test even when the
    // binary runs all tests in one process.
    Nft({"flush", "ruleset"});
  }

  NftConfig Config() const {
    NftConfig cfg;
    if (GetParam()) cfg.command = std::string(kNft) + " -f -";
    return cfg;
  }

  // A foreign table with a base chain, rules and a set: must never change.
  void AddForeignTable() {
    NftScript(
        "table inet other {\n"
        "  set keep { type ipv4_addr; elements = { 10.0.0.1, 203.0.113.9 } }\n"
        "  chain input { type filter hook input priority 0; policy accept;\n"
        "    tcp dport 22 accept\n"
        "    ip saddr @keep counter accept\n"
        "  }\n"
        "}\n");
  }

  uint64_t now_ = NowMs();
};

INSTANTIATE_TEST_SUITE_P(Modes, NftBackendTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("Command") : std::string("Local");
                         });

TEST_P(NftBackendTest, StartCreatesTableSetsAndChains) {
  NftBackend be(Config());
  EXPECT_STREQ(be.name(), "nftables");
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;

  const json objects = TableObjects("inet", "flowsentry");
  std::map<std::string, json> sets, chains;
  std::map<std::string, std::vector<std::string>> rules;  // chain -> rule texts
  for (const json& o : objects) {
    if (o.contains("set")) sets[o["set"]["name"]] = o["set"];
    if (o.contains("chain")) chains[o["chain"]["name"]] = o["chain"];
  }
  ASSERT_EQ(sets.size(), 2u) << objects.dump();
  EXPECT_EQ(sets["blocked4"]["type"], "ipv4_addr");
  EXPECT_EQ(sets["blocked6"]["type"], "ipv6_addr");
  for (const char* s : {"blocked4", "blocked6"}) {
    EXPECT_EQ(sets[s]["flags"], json::array({"interval", "timeout"})) << s;
  }
  ASSERT_EQ(chains.size(), 2u) << objects.dump();
  for (const char* hook : {"forward", "input"}) {
    const std::string name = std::string("block_") + hook;
    const json& c = chains[name];
    EXPECT_EQ(c["type"], "filter") << name;
    EXPECT_EQ(c["hook"], hook) << name;
    EXPECT_EQ(c["prio"], -10) << name;
    EXPECT_EQ(c["policy"], "accept") << name;
    // The rules, as nft prints them.
    const std::string listing = Nft({"list", "chain", "inet", "flowsentry", name});
    for (const char* rule : {"ip saddr @blocked4 drop", "ip daddr @blocked4 drop",
                             "ip6 saddr @blocked6 drop", "ip6 daddr @blocked6 drop"}) {
      EXPECT_NE(listing.find(rule), std::string::npos) << name << " lacks " << rule << ":\n"
                                                       << listing;
    }
  }
  size_t rule_count = 0;
  for (const json& o : objects) rule_count += o.contains("rule") ? 1 : 0;
  EXPECT_EQ(rule_count, 8u) << objects.dump();
}

TEST_P(NftBackendTest, StartTwiceKeepsTheSameRulesetAndElements) {
  std::string error;
  {
    NftBackend be(Config());
    ASSERT_TRUE(be.Start(&error)) << error;
    ASSERT_TRUE(be.Add(MakeBlock("10.1.2.3", 3600, now_), &error)) << error;
  }
  const json before = TableObjects("inet", "flowsentry");
  NftBackend restarted(Config());  // a sensor restart: a new backend, the table is there
  ASSERT_TRUE(restarted.Start(&error)) << error;
  ASSERT_TRUE(restarted.Start(&error)) << error;  // and a retried Start
  EXPECT_EQ(TableObjects("inet", "flowsentry"), before);
  EXPECT_EQ(Keys(Elements("blocked4").value()), std::vector<std::string>{"10.1.2.3"});
}

TEST_P(NftBackendTest, StartFollowsAChangedPriorityWithoutDuplicates) {
  std::string error;
  NftBackend first(Config());
  ASSERT_TRUE(first.Start(&error)) << error;
  NftConfig cfg = Config();
  cfg.chain_priority = -150;
  NftBackend second(cfg);
  ASSERT_TRUE(second.Start(&error)) << error;
  size_t rules = 0;
  for (const json& o : TableObjects("inet", "flowsentry")) {
    if (o.contains("chain")) {
      EXPECT_EQ(o["chain"]["prio"], -150) << o.dump();
    }
    rules += o.contains("rule") ? 1 : 0;
  }
  EXPECT_EQ(rules, 8u);
}

TEST_P(NftBackendTest, WithoutChainsOnlySetsAreCreatedInAnOperatorTable) {
  // The operator's own table, referencing the sets from their own chain.
  NftScript(
      "table inet filter {\n"
      "  chain forward { type filter hook forward priority 0; policy accept; }\n"
      "}\n");
  NftConfig cfg = Config();
  cfg.table = "filter";
  cfg.create_chains = false;
  NftBackend be(cfg);
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  NftScript("add rule inet filter forward ip saddr @blocked4 drop\n");
  ASSERT_TRUE(be.Start(&error)) << error;  // a restart leaves the operator's rule alone
  ASSERT_TRUE(be.Add(MakeBlock("198.51.100.7", 60, now_), &error)) << error;
  EXPECT_EQ(Keys(Elements("blocked4", "inet", "filter").value()),
            std::vector<std::string>{"198.51.100.7"});
  size_t chains = 0, rules = 0;
  for (const json& o : TableObjects("inet", "filter")) {
    chains += o.contains("chain") ? 1 : 0;
    rules += o.contains("rule") ? 1 : 0;
  }
  EXPECT_EQ(chains, 1u);
  EXPECT_EQ(rules, 1u);
}

TEST_P(NftBackendTest, ForeignTableIsNeverTouched) {
  AddForeignTable();
  const json before = TableObjects("inet", "other");
  ASSERT_EQ(before.size(), 5u) << before.dump();  // table, set, chain, 2 rules
  NftBackend be(Config());
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  ASSERT_TRUE(be.Add(MakeBlock("10.0.0.1", 60, now_), &error)) << error;  // also in @keep
  ASSERT_TRUE(be.Add(MakeBlock("2001:db8::1", 60, now_), &error)) << error;
  ASSERT_TRUE(be.Remove(MakeBlock("10.0.0.1", 60, now_), &error)) << error;
  const std::vector<Block> live = {MakeBlock("203.0.113.9", 60, now_)};
  ASSERT_TRUE(be.Sync(live, &error)) << error;
  EXPECT_EQ(TableObjects("inet", "other"), before);
}

TEST_P(NftBackendTest, AddPutsV4AndV6ElementsWithTheirTimeouts) {
  NftBackend be(Config());
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  struct Case {
    const char* target;
    uint64_t ttl_s;
    const char* set;
    const char* element;
  };
  const Case cases[] = {
      {"10.1.2.3", 300, "blocked4", "10.1.2.3"},
      {"192.0.2.0/24", 3600, "blocked4", "192.0.2.0/24"},
      {"2001:db8::5", 600, "blocked6", "2001:db8::5"},
      {"2001:db8:1::/48", 86400, "blocked6", "2001:db8:1::/48"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(be.Add(MakeBlock(c.target, c.ttl_s, now_), &error)) << c.target << " " << error;
  }
  for (const Case& c : cases) {
    const auto elements = Elements(c.set);
    ASSERT_TRUE(elements.has_value());
    ASSERT_TRUE(elements->contains(c.element)) << c.target << " not in " << c.set;
    EXPECT_THAT(elements->at(c.element), TimeoutNear(static_cast<int64_t>(c.ttl_s))) << c.target;
  }
  EXPECT_EQ(Elements("blocked4")->size(), 2u);
  EXPECT_EQ(Elements("blocked6")->size(), 2u);
}

TEST_P(NftBackendTest, AddAgainRefreshesTheTimeout) {
  NftBackend be(Config());
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  // Up, then down (an operator shortening a block): the element follows each time.
  for (uint64_t ttl : {120, 7200, 600}) {
    ASSERT_TRUE(be.Add(MakeBlock("10.9.9.9", ttl, now_), &error)) << error;
    ASSERT_TRUE(be.Add(MakeBlock("2001:db8::9", ttl, now_), &error)) << error;
    const auto v4 = Elements("blocked4").value();
    const auto v6 = Elements("blocked6").value();
    ASSERT_EQ(v4.size(), 1u);
    ASSERT_EQ(v6.size(), 1u);
    EXPECT_THAT(v4.at("10.9.9.9"), TimeoutNear(static_cast<int64_t>(ttl)));
    EXPECT_THAT(v6.at("2001:db8::9"), TimeoutNear(static_cast<int64_t>(ttl)));
  }
}

TEST_P(NftBackendTest, RemoveRemovesAndIsIdempotent) {
  NftBackend be(Config());
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  const Block a = MakeBlock("10.1.1.1", 600, now_), b = MakeBlock("10.1.1.2", 600, now_);
  const Block c = MakeBlock("2001:db8::c", 600, now_);
  for (const Block* x : {&a, &b, &c}) ASSERT_TRUE(be.Add(*x, &error)) << error;
  ASSERT_TRUE(be.Remove(a, &error)) << error;
  ASSERT_TRUE(be.Remove(c, &error)) << error;
  EXPECT_EQ(Keys(Elements("blocked4").value()), std::vector<std::string>{"10.1.1.2"});
  EXPECT_TRUE(Elements("blocked6")->empty());
  ASSERT_TRUE(be.Remove(a, &error)) << error;                                     // again
  ASSERT_TRUE(be.Remove(MakeBlock("172.16.0.0/12", 60, now_), &error)) << error;  // never added
  ASSERT_TRUE(be.Remove(c, &error)) << error;
  EXPECT_EQ(Keys(Elements("blocked4").value()), std::vector<std::string>{"10.1.1.2"});

  // An element the backend does not know about (a previous sensor run) is removed as well.
  NftBackend fresh(Config());
  ASSERT_TRUE(fresh.Start(&error)) << error;
  ASSERT_TRUE(fresh.Remove(b, &error)) << error;
  EXPECT_TRUE(Elements("blocked4")->empty());
}

TEST_P(NftBackendTest, SyncLeavesExactlyTheLiveBlocks) {
  NftBackend be(Config());
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  ASSERT_TRUE(be.Add(MakeBlock("10.0.0.1", 600, now_), &error)) << error;
  ASSERT_TRUE(be.Add(MakeBlock("2001:db8::1", 600, now_), &error)) << error;
  // A stray element nobody asked for (left over from an earlier run).
  Nft({"add", "element", "inet", "flowsentry", "blocked4", "{ 10.7.7.7 timeout 1h }"});

  const std::vector<Block> live = {
      MakeBlock("10.0.0.1", 900, now_),        // kept, new timeout
      MakeBlock("10.0.0.2", 300, now_),        // added
      MakeBlock("198.51.100.0/24", 60, now_),  // added
      MakeBlock("10.0.0.3", 0, now_),          // expired: not added
      MakeBlock("2001:db8::2", 120, now_),     // added; 2001:db8::1 dropped
  };
  ASSERT_TRUE(be.Sync(live, &error)) << error;
  const auto v4 = Elements("blocked4").value();
  const auto v6 = Elements("blocked6").value();
  EXPECT_EQ(Keys(v4), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "198.51.100.0/24"}));
  EXPECT_EQ(Keys(v6), std::vector<std::string>{"2001:db8::2"});
  EXPECT_THAT(v4.at("10.0.0.1"), TimeoutNear(900));
  EXPECT_THAT(v4.at("10.0.0.2"), TimeoutNear(300));
  EXPECT_THAT(v6.at("2001:db8::2"), TimeoutNear(120));

  ASSERT_TRUE(be.Sync({}, &error)) << error;  // nothing live: both sets empty
  EXPECT_TRUE(Elements("blocked4")->empty());
  EXPECT_TRUE(Elements("blocked6")->empty());
}

TEST_P(NftBackendTest, ExpiredBlockIsANoOp) {
  NftBackend be(Config());
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  Block expired = MakeBlock("10.3.3.3", 0, now_ - 5000);
  EXPECT_EQ(expired.RemainingSeconds(NowMs()), 0u);
  ASSERT_TRUE(be.Add(expired, &error)) << error;
  EXPECT_TRUE(Elements("blocked4")->empty());
}

// The timeout of the element covering `address` (-2: none covers it).
int64_t CoveringTimeout(const std::map<std::string, int64_t>& elements,
                        const std::string& address) {
  const IpPrefix a = Prefix(address);
  for (const auto& [text, timeout] : elements) {
    const IpPrefix e = Prefix(text);
    if (e.len <= a.len && e.Contains(a.addr)) return timeout;
  }
  return -2;
}

TEST_P(NftBackendTest, OverlappingBlocksBecomeDisjointPieces) {
  NftBackend be(Config());
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  const Block host = MakeBlock("10.0.0.5", 3600, now_);
  const Block net_short = MakeBlock("10.0.0.0/24", 600, now_);
  const Block net_long = MakeBlock("10.0.0.0/24", 7200, now_);
  struct Step {
    const char* what;
    bool add;
    const Block* block;
    size_t elements;
    std::vector<std::pair<const char*, int64_t>> probes;  // address -> timeout (-2: not blocked)
  };
  const Step steps[] = {
      {"rule blocks a host", true, &host, 1, {{"10.0.0.5", 3600}, {"10.0.0.4", -2}}},
      // The /24 minus the host: /25, /26, /27, /28, /29, /30, .4 and .6/31; plus the host.
      {"operator blocks its /24 for less time",
       true,
       &net_short,
       9,
       {{"10.0.0.5", 3600},
        {"10.0.0.4", 600},
        {"10.0.0.0", 600},
        {"10.0.0.255", 600},
        {"10.0.1.1", -2}}},
      {"operator lifts the /24", false, &net_short, 1, {{"10.0.0.5", 3600}, {"10.0.0.4", -2}}},
      {"operator blocks the /24 for longer",
       true,
       &net_long,
       1,
       {{"10.0.0.5", 7200}, {"10.0.0.4", 7200}}},
      {"the host's block is lifted: the /24 still covers it",
       false,
       &host,
       1,
       {{"10.0.0.5", 7200}}},
      {"the host is blocked again inside the longer /24", true, &host, 1, {{"10.0.0.5", 7200}}},
      {"the /24 is lifted: the host remains",
       false,
       &net_long,
       1,
       {{"10.0.0.5", 3600}, {"10.0.0.6", -2}}},
  };
  for (const Step& s : steps) {
    ASSERT_TRUE(s.add ? be.Add(*s.block, &error) : be.Remove(*s.block, &error))
        << s.what << ": " << error;
    const auto v4 = Elements("blocked4").value();
    EXPECT_EQ(v4.size(), s.elements) << s.what << ": " << ::testing::PrintToString(v4);
    for (const auto& [address, timeout] : s.probes) {
      const int64_t got = CoveringTimeout(v4, address);
      if (timeout < 0) {
        EXPECT_EQ(got, timeout) << s.what << ": " << address;
      } else {
        EXPECT_THAT(got, TimeoutNear(timeout)) << s.what << ": " << address;
      }
    }
  }
}

TEST_P(NftBackendTest, SyncWritesNestedBlocksAsPieces) {
  NftBackend be(Config());
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  const std::vector<Block> live = {
      MakeBlock("172.16.0.0/16", 300, now_), MakeBlock("172.16.1.0/24", 600, now_),
      MakeBlock("172.16.1.1", 900, now_),    MakeBlock("172.16.2.2", 100, now_),  // inside, shorter
      MakeBlock("2001:db8::/64", 300, now_), MakeBlock("2001:db8::1", 900, now_),
  };
  ASSERT_TRUE(be.Sync(live, &error)) << error;
  const auto v4 = Elements("blocked4").value();
  const auto v6 = Elements("blocked6").value();
  const std::pair<const char*, int64_t> probes4[] = {
      {"172.16.0.1", 300}, {"172.16.2.2", 300}, {"172.16.255.255", 300}, {"172.16.1.0", 600},
      {"172.16.1.2", 600}, {"172.16.1.1", 900}, {"172.17.0.0", -2},
  };
  for (const auto& [address, timeout] : probes4) {
    const int64_t got = CoveringTimeout(v4, address);
    if (timeout < 0) {
      EXPECT_EQ(got, timeout) << address;
    } else {
      EXPECT_THAT(got, TimeoutNear(timeout)) << address;
    }
  }
  EXPECT_THAT(CoveringTimeout(v6, "2001:db8::1"), TimeoutNear(900));
  EXPECT_THAT(CoveringTimeout(v6, "2001:db8::2"), TimeoutNear(300));
  EXPECT_THAT(CoveringTimeout(v6, "2001:db8::ffff:ffff:ffff:ffff"), TimeoutNear(300));
  EXPECT_EQ(CoveringTimeout(v6, "2001:db8:0:1::"), -2);
}

TEST_P(NftBackendTest, FamilyIpHoldsOnlyIpv4) {
  NftConfig cfg = Config();
  cfg.family = "ip";
  NftBackend be(cfg);
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  ASSERT_TRUE(be.Add(MakeBlock("10.2.2.2", 60, now_), &error)) << error;
  ASSERT_TRUE(be.Add(MakeBlock("2001:db8::2", 60, now_), &error)) << error;  // skipped, not failed
  ASSERT_TRUE(be.Remove(MakeBlock("2001:db8::2", 60, now_), &error)) << error;
  EXPECT_EQ(Keys(Elements("blocked4", "ip").value()), std::vector<std::string>{"10.2.2.2"});
  EXPECT_FALSE(Elements("blocked6", "ip").has_value());
  const std::string listing = Nft({"list", "table", "ip", "flowsentry"});
  EXPECT_NE(listing.find("ip saddr @blocked4 drop"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("ip6"), std::string::npos) << listing;
}

TEST_P(NftBackendTest, RecreatesATableDeletedBehindItsBack) {
  NftBackend be(Config());
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  const json started = TableObjects("inet", "flowsentry");
  Nft({"delete", "table", "inet", "flowsentry"});  // e.g. `nft flush ruleset` by someone
  const Block b = MakeBlock("10.4.4.4", 600, now_);
  // The first attempt fails with nft's reason; the dispatcher's retry puts everything back.
  EXPECT_FALSE(be.Add(b, &error));
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
  EXPECT_NE(error.find("re-created"), std::string::npos) << error;
  ASSERT_TRUE(be.Add(b, &error)) << error;
  EXPECT_EQ(Keys(Elements("blocked4").value()), std::vector<std::string>{"10.4.4.4"});
  size_t chains = 0, rules = 0;
  for (const json& o : TableObjects("inet", "flowsentry")) {
    chains += o.contains("chain") ? 1 : 0;
    rules += o.contains("rule") ? 1 : 0;
  }
  EXPECT_EQ(chains, 2u);
  EXPECT_EQ(rules, 8u);
}

TEST_P(NftBackendTest, StartReportsNftsErrorAndTheScriptLine) {
  // A set of our name but without the interval/timeout flags: Start cannot use it.
  NftScript("table inet flowsentry { set blocked4 { type ipv4_addr; }; }\n");
  NftBackend be(Config());
  std::string error;
  EXPECT_FALSE(be.Start(&error));
  EXPECT_NE(error.find("File exists"), std::string::npos) << error;
  EXPECT_NE(error.find("add set inet flowsentry blocked4"), std::string::npos) << error;
  if (GetParam()) {
    EXPECT_NE(error.find("nftables command '/usr/sbin/nft -f -' exited 1: "), std::string::npos)
        << error;
  }
}

TEST_P(NftBackendTest, StartRejectsBadConfigWithoutTouchingTheRuleset) {
  AddForeignTable();
  const json before = Ruleset()["nftables"];
  for (const char* table : {"bad-name", "1abc", "x;flush ruleset"}) {
    NftConfig cfg = Config();
    cfg.table = table;
    NftBackend be(cfg);
    std::string error;
    EXPECT_FALSE(be.Start(&error)) << table;
    EXPECT_NE(error.find("table name"), std::string::npos) << error;
  }
  EXPECT_EQ(Canonical(Ruleset()["nftables"]), Canonical(before));
}

// Command mode only: the command itself fails.
TEST(NftCommandMode, FailingCommandsReturnFalseWithStderr) {
  if (!g_skip_reason.empty()) GTEST_SKIP() << g_skip_reason;
  struct Case {
    const char* command;
    int timeout_s;
    std::vector<std::string> error_parts;
  };
  const Case cases[] = {
      {"false", 10, {"nftables command 'false' exited 1: (no output)"}},
      {"cat >/dev/null; echo 'fw1: permission denied' >&2; exit 3",
       10,
       {"exited 3: fw1: permission denied"}},
      // A command that does not read its input at all.
      {"echo gone >&2; exit 2", 10, {"exited 2: gone"}},
      // nft itself refusing a script (here: one the command substitutes).
      {"cat >/dev/null; echo 'add table inet 1bad' | /usr/sbin/nft -f -",
       10,
       {"exited 1: ", "syntax error", "add table inet 1bad"}},
      {"/nonexistent/nft -f -", 10, {"exited 127: ", "not found"}},
      // Bounded: the kill after command_timeout_s, not a timing measurement.
      {"sleep 60", 1, {"timed out after 1s (killed)"}},
  };
  for (const Case& c : cases) {
    NftConfig cfg;
    cfg.command = c.command;
    cfg.command_timeout_s = c.timeout_s;
    NftBackend be(cfg);
    std::string error;
    EXPECT_FALSE(be.Start(&error)) << c.command;
    for (const std::string& part : c.error_parts) {
      EXPECT_NE(error.find(part), std::string::npos) << c.command << ": " << error;
    }
  }
}

TEST(NftCommandMode, LargeSyncThroughACommand) {
  if (!g_skip_reason.empty()) GTEST_SKIP() << g_skip_reason;
  Nft({"flush", "ruleset"});
  NftConfig cfg;
  cfg.command = std::string(kNft) + " -f -";
  NftBackend be(cfg);
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  // Far more script than a pipe buffer holds (the stdin writer must interleave with the reader).
  std::vector<Block> live;
  const uint64_t now = NowMs();
  for (int i = 0; i < 5000; ++i) {
    live.push_back(
        MakeBlock("10.50." + std::to_string(i / 250) + "." + std::to_string(i % 250), 600, now));
  }
  ASSERT_TRUE(be.Sync(live, &error)) << error;
  EXPECT_EQ(Elements("blocked4")->size(), 5000u);

  // A command that exits without reading that much script: a failure, not a SIGPIPE that would
  // kill the sensor.
  cfg.command = "exit 4";
  NftBackend deaf(cfg);
  for (int i = 0; i < 30000; ++i) {  // ~1 MB of script: more than a socket buffer holds
    live.push_back(
        MakeBlock("10.60." + std::to_string(i / 250) + "." + std::to_string(i % 250), 600, now));
  }
  ASSERT_GT(deaf.SyncScript(live, now).size(), 500'000u);
  EXPECT_FALSE(deaf.Sync(live, &error));
  EXPECT_NE(error.find("nftables command 'exit 4' exited 4"), std::string::npos) << error;
}

// ---------------------------------------------------------------------------------------------
// Packets: a veth pair from the test's namespace into a peer namespace; connections from the peer
// to a listener here stop when the peer's address is blocked and work again when it is lifted.

// A named network namespace (ip netns add), deleted on destruction.
class PeerNamespace {
 public:
  PeerNamespace() : name_("fs-nft-test-" + std::to_string(getpid())) {
    const testing::ProcessResult r = RunProcess({kIp, "netns", "add", name_}, 30);
    ok_ = r.exit_code == 0;
    error_ = r.err;
  }
  ~PeerNamespace() {
    if (ok_) RunProcess({kIp, "netns", "del", name_}, 30);
  }
  PeerNamespace(const PeerNamespace&) = delete;
  PeerNamespace& operator=(const PeerNamespace&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }

  // A TCP socket created inside the namespace (setns on a helper thread: only that thread moves).
  int Socket(int family) const {
    int fd = -1;
    std::thread t([&] {
      const int ns = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0) return;
      if (setns(ns, CLONE_NEWNET) == 0) fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      close(ns);
    });
    t.join();
    return fd;
  }

 private:
  std::string name_;
  bool ok_ = false;
  std::string error_;
};

// A listening socket here; returns its address.
int Listen(const std::string& address, sockaddr_storage* addr, socklen_t* len) {
  std::memset(addr, 0, sizeof *addr);
  const bool v6 = address.find(':') != std::string::npos;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(addr);
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, address.c_str(), &a->sin6_addr);
    *len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(addr);
    a->sin_family = AF_INET;
    inet_pton(AF_INET, address.c_str(), &a->sin_addr);
    *len = sizeof *a;
  }
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(addr), *len) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(addr), len) != 0) {
    return -1;
  }
  return fd;
}

// Connects from the peer namespace within timeout_ms.
bool ConnectsFromPeer(const PeerNamespace& peer, const sockaddr_storage& addr, socklen_t len,
                      int timeout_ms) {
  const int fd = peer.Socket(addr.ss_family);
  if (fd < 0) return false;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0) {
    ok = true;
  } else if (errno == EINPROGRESS) {
    pollfd p = {fd, POLLOUT, 0};
    int err = 0;
    socklen_t err_len = sizeof err;
    ok = poll(&p, 1, timeout_ms) == 1 &&
         getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err == 0;
  }
  close(fd);
  return ok;
}

TEST(NftPackets, BlockedPeerCannotConnectUntilLifted) {
  if (!g_skip_reason.empty()) GTEST_SKIP() << g_skip_reason;
  if (access(kIp, X_OK) != 0) GTEST_SKIP() << kIp << " not installed";
  Nft({"flush", "ruleset"});
  PeerNamespace peer;
  ASSERT_TRUE(peer.ok()) << "ip netns add: " << peer.error();
  const std::string& ns = peer.name();
  const std::vector<std::vector<std::string>> setup = {
      {kIp, "link", "set", "lo", "up"},
      {kIp, "link", "add", "fsn0", "type", "veth", "peer", "name", "fsn1", "netns", ns},
      {kIp, "addr", "add", "10.99.0.1/24", "dev", "fsn0"},
      {kIp, "-6", "addr", "add", "2001:db8:99::1/64", "dev", "fsn0", "nodad"},
      {kIp, "link", "set", "fsn0", "up"},
      {kIp, "-n", ns, "addr", "add", "10.99.0.2/24", "dev", "fsn1"},
      {kIp, "-n", ns, "-6", "addr", "add", "2001:db8:99::2/64", "dev", "fsn1", "nodad"},
      {kIp, "-n", ns, "link", "set", "fsn1", "up"},
      {kIp, "-n", ns, "link", "set", "lo", "up"},
  };
  for (const auto& argv : setup) {
    const testing::ProcessResult r = RunProcess(argv, 30);
    ASSERT_EQ(r.exit_code, 0) << argv[1] << " " << argv[2] << ": " << r.err;
  }

  NftBackend be({});
  std::string error;
  ASSERT_TRUE(be.Start(&error)) << error;
  struct Case {
    const char* listen_on;
    const char* peer;
  };
  for (const Case c : {Case{"10.99.0.1", "10.99.0.2"}, Case{"2001:db8:99::1", "2001:db8:99::2"}}) {
    sockaddr_storage addr;
    socklen_t len = 0;
    const int listener = Listen(c.listen_on, &addr, &len);
    ASSERT_GE(listener, 0) << c.listen_on << ": " << std::strerror(errno);
    // Generous: the link may need a moment to come up.
    bool reachable = false;
    for (int i = 0; i < 20 && !reachable; ++i) reachable = ConnectsFromPeer(peer, addr, len, 1000);
    ASSERT_TRUE(reachable) << c.peer << " cannot reach " << c.listen_on << " before any block";

    const Block b = MakeBlock(c.peer, 600, NowMs());
    ASSERT_TRUE(be.Add(b, &error)) << error;
    EXPECT_FALSE(ConnectsFromPeer(peer, addr, len, 2000)) << c.peer << " connected while blocked";
    ASSERT_TRUE(be.Remove(b, &error)) << error;
    EXPECT_TRUE(ConnectsFromPeer(peer, addr, len, 10000)) << c.peer << " still blocked";
    close(listener);
  }
}

}  // namespace
}  // namespace fs::enforce
