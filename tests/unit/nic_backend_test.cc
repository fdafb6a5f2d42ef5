// NIC backend: the rte_flow drop rules byte by byte (no device needed), the backend's bookkeeping
// against a fake flow API (cap, half-created blocks, failed destruction, sync), and one real DPDK
// run on net_null, which like every virtual device refuses flow rules.
#include "controlplane/enforce/nic_backend.h"

#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <unistd.h>

#include <bit>
#include <cstddef>
#include <cstring>
#include <set>
#include <vector>

#include "dataplane/port/eal.h"

namespace fs::enforce {
namespace {

patterns::IpPrefix Prefix(const char* text) {
  patterns::IpPrefix p;
  std::string why;
  bool host_bits = false;
  EXPECT_TRUE(patterns::ParseIpEntry(text, &p, &host_bits, &why)) << text << ": " << why;
  return p;
}

Block MakeBlock(const char* target) {
  Block b;
  b.target = Prefix(target);
  b.source = BlockSource::kIndicator;
  b.created_ms = 1700000000000;
  b.expires_ms = b.created_ms + 3600 * 1000;
  return b;
}

// The bytes of a header struct.
template <typename T>
std::vector<uint8_t> Raw(const T& v) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

// sizeof(T) zero bytes with `bytes` placed at `offset`.
template <typename T>
std::vector<uint8_t> ZerosWith(size_t offset, const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> out(sizeof(T), 0);
  std::memcpy(out.data() + offset, bytes.data(), bytes.size());
  return out;
}

// Table: every rule the backend builds, the expected item type and the exact bytes of the spec
// and mask at the address field (all other bytes of the item must be zero).
TEST(NicRule, ConstructionByteByByte) {
  struct Case {
    const char* what;
    patterns::IpPrefix target;
    bool source;
    bool v6;
    std::vector<uint8_t> addr, mask;
  };
  patterns::IpPrefix v4_host_bits = Prefix("198.51.100.0/24");
  v4_host_bits.addr.bytes[15] = 77;  // the builder must mask what a caller left in
  patterns::IpPrefix v6_host_bits = Prefix("2001:db8:aa:bb::/64");
  v6_host_bits.addr.bytes[15] = 1;
  const Case cases[] = {
      {"v4 /32 source", Prefix("203.0.113.5"), true, false, {203, 0, 113, 5}, {255, 255, 255, 255}},
      {"v4 /32 destination",
       Prefix("203.0.113.5"),
       false,
       false,
       {203, 0, 113, 5},
       {255, 255, 255, 255}},
      {"v4 /24 source",
       Prefix("198.51.100.0/24"),
       true,
       false,
       {198, 51, 100, 0},
       {255, 255, 255, 0}},
      {"v4 /24 destination, host bits",
       v4_host_bits,
       false,
       false,
       {198, 51, 100, 0},
       {255, 255, 255, 0}},
      {"v4 /20 source", Prefix("10.16.0.0/20"), true, false, {10, 16, 0, 0}, {255, 255, 240, 0}},
      {"v6 /128 source",
       Prefix("2001:db8::1"),
       true,
       true,
       {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
       std::vector<uint8_t>(16, 0xff)},
      {"v6 /128 destination",
       Prefix("2001:db8::1"),
       false,
       true,
       {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
       std::vector<uint8_t>(16, 0xff)},
      {"v6 /64 destination, host bits",
       v6_host_bits,
       false,
       true,
       {0x20, 0x01, 0x0d, 0xb8, 0x00, 0xaa, 0x00, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0},
       {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}},
      {"v6 /61 source",
       Prefix("2001:db8:0:8::/61"),
       true,
       true,
       {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0},
       {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf8, 0, 0, 0, 0, 0, 0, 0, 0}},
  };
  const NicConfig config;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const FlowRuleSpec r = BuildDropRule(c.target, c.source, config);
    EXPECT_EQ(r.ipv6(), c.v6);
    const rte_flow_item* items = r.pattern();
    EXPECT_EQ(items[0].type, RTE_FLOW_ITEM_TYPE_ETH);
    EXPECT_EQ(items[0].spec, nullptr);  // any Ethernet frame
    EXPECT_EQ(items[0].mask, nullptr);
    EXPECT_EQ(items[0].last, nullptr);
    EXPECT_EQ(items[1].last, nullptr);
    ASSERT_NE(items[1].spec, nullptr);
    ASSERT_NE(items[1].mask, nullptr);
    EXPECT_EQ(items[2].type, RTE_FLOW_ITEM_TYPE_END);
    EXPECT_EQ(items[2].spec, nullptr);
    if (c.v6) {
      ASSERT_EQ(items[1].type, RTE_FLOW_ITEM_TYPE_IPV6);
      const size_t off =
          c.source ? offsetof(rte_ipv6_hdr, src_addr) : offsetof(rte_ipv6_hdr, dst_addr);
      using Item = rte_flow_item_ipv6;
      EXPECT_EQ(Raw(*static_cast<const Item*>(items[1].spec)), ZerosWith<Item>(off, c.addr));
      EXPECT_EQ(Raw(*static_cast<const Item*>(items[1].mask)), ZerosWith<Item>(off, c.mask));
    } else {
      ASSERT_EQ(items[1].type, RTE_FLOW_ITEM_TYPE_IPV4);
      const size_t off =
          c.source ? offsetof(rte_ipv4_hdr, src_addr) : offsetof(rte_ipv4_hdr, dst_addr);
      using Item = rte_flow_item_ipv4;
      EXPECT_EQ(Raw(*static_cast<const Item*>(items[1].spec)), ZerosWith<Item>(off, c.addr));
      EXPECT_EQ(Raw(*static_cast<const Item*>(items[1].mask)), ZerosWith<Item>(off, c.mask));
    }
    const rte_flow_action* actions = r.actions();
    EXPECT_EQ(actions[0].type, RTE_FLOW_ACTION_TYPE_DROP);
    EXPECT_EQ(actions[0].conf, nullptr);
    EXPECT_EQ(actions[1].type, RTE_FLOW_ACTION_TYPE_END);
  }
}

TEST(NicRule, Attributes) {
  NicConfig config;
  config.priority = 3;
  config.group = 7;
  const FlowRuleSpec r = BuildDropRule(Prefix("192.0.2.1"), true, config);
  EXPECT_EQ(r.attr()->group, 7u);
  EXPECT_EQ(r.attr()->priority, 3u);
  EXPECT_EQ(r.attr()->ingress, 1u);
  EXPECT_EQ(r.attr()->egress, 0u);
  EXPECT_EQ(r.attr()->transfer, 0u);
  EXPECT_EQ(r.attr()->reserved, 0u);

  const FlowRuleSpec d = BuildDropRule(Prefix("192.0.2.1"), false, NicConfig{});
  EXPECT_EQ(d.attr()->group, 0u);
  EXPECT_EQ(d.attr()->priority, 0u);
  EXPECT_EQ(d.attr()->ingress, 1u);
}

// The items point into the object: a copy must point into the copy, not at freed storage.
TEST(NicRule, CopyRepointsItems) {
  std::vector<FlowRuleSpec> rules;
  {
    FlowRuleSpec a = BuildDropRule(Prefix("203.0.113.5"), true, NicConfig{});
    FlowRuleSpec b = BuildDropRule(Prefix("2001:db8::5"), false, NicConfig{});
    rules.push_back(a);
    rules.push_back(b);
    rules.push_back(a);
    rules[2] = b;  // assignment across families
    EXPECT_NE(rules[0].pattern()[1].spec, a.pattern()[1].spec);
  }
  for (const FlowRuleSpec& r : rules) {
    const auto* base = reinterpret_cast<const uint8_t*>(&r);
    const auto* spec = static_cast<const uint8_t*>(r.pattern()[1].spec);
    const auto* mask = static_cast<const uint8_t*>(r.pattern()[1].mask);
    EXPECT_TRUE(spec >= base && spec < base + sizeof(FlowRuleSpec));
    EXPECT_TRUE(mask >= base && mask < base + sizeof(FlowRuleSpec));
    EXPECT_EQ(r.pattern(), reinterpret_cast<const rte_flow_item*>(r.pattern()));
  }
  const auto* v4 = static_cast<const rte_flow_item_ipv4*>(rules[0].pattern()[1].spec);
  EXPECT_EQ(Raw(v4->hdr.src_addr), (std::vector<uint8_t>{203, 0, 113, 5}));
  ASSERT_EQ(rules[2].pattern()[1].type, RTE_FLOW_ITEM_TYPE_IPV6);
  const auto* v6 = static_cast<const rte_flow_item_ipv6*>(rules[2].pattern()[1].spec);
  EXPECT_EQ(v6->hdr.dst_addr[15], 5);
  EXPECT_EQ(v6->hdr.dst_addr[0], 0x20);
}

// A NIC in software: validates and creates rules, decodes each into "src 203.0.113.5/32", and can
// be told to refuse things.
struct FakeNic {
  uint16_t port = 3;
  bool refuse_all = false;
  bool refuse_v6 = false;
  bool refuse_destination = false;
  bool fail_destroy = false;
  uintptr_t next = 1;
  std::map<uintptr_t, std::string> rules;  // handle -> decoded rule
  std::vector<std::string> destroyed;      // in order
  int validations = 0;

  static std::string Decode(const rte_flow_item* p) {
    const bool v6 = p[1].type == RTE_FLOW_ITEM_TYPE_IPV6;
    std::array<uint8_t, 16> a{}, m{};
    bool src = false;
    if (v6) {
      const auto* s = static_cast<const rte_flow_item_ipv6*>(p[1].spec);
      const auto* k = static_cast<const rte_flow_item_ipv6*>(p[1].mask);
      src = k->hdr.src_addr[0] != 0;
      std::memcpy(a.data(), src ? s->hdr.src_addr : s->hdr.dst_addr, 16);
      std::memcpy(m.data(), src ? k->hdr.src_addr : k->hdr.dst_addr, 16);
    } else {
      const auto* s = static_cast<const rte_flow_item_ipv4*>(p[1].spec);
      const auto* k = static_cast<const rte_flow_item_ipv4*>(p[1].mask);
      src = k->hdr.src_addr != 0;
      std::memcpy(a.data() + 12, src ? &s->hdr.src_addr : &s->hdr.dst_addr, 4);
      std::memcpy(m.data() + 12, src ? &k->hdr.src_addr : &k->hdr.dst_addr, 4);
      a[10] = a[11] = 0xff;
    }
    int len = 0;
    for (uint8_t b : m) len += std::popcount(b);
    patterns::IpPrefix prefix{IpAddr::FromV6(a.data()), static_cast<uint8_t>(v6 ? len : len + 96)};
    return std::string(src ? "src " : "dst ") + prefix.ToString();
  }

  int Validate(const rte_flow_item* p, rte_flow_error* e) {
    ++validations;
    const bool v6 = p[1].type == RTE_FLOW_ITEM_TYPE_IPV6;
    const bool dst = Decode(p).rfind("dst", 0) == 0;
    if (refuse_all || (refuse_v6 && v6) || (refuse_destination && dst)) {
      e->type = RTE_FLOW_ERROR_TYPE_ITEM;
      e->message = "pattern not supported by fake";
      return -ENOTSUP;
    }
    return 0;
  }

  port::FlowOps Ops() {
    port::FlowOps ops;
    ops.port_valid = [this](uint16_t p) { return p == port; };
    ops.driver_name = [](uint16_t) { return std::string("net_fake"); };
    ops.validate = [this](uint16_t, const rte_flow_attr* attr, const rte_flow_item* p,
                          const rte_flow_action* a, rte_flow_error* e) {
      EXPECT_EQ(attr->ingress, 1u);
      EXPECT_EQ(a[0].type, RTE_FLOW_ACTION_TYPE_DROP);
      return Validate(p, e);
    };
    ops.create = [this](uint16_t, const rte_flow_attr*, const rte_flow_item* p,
                        const rte_flow_action*, rte_flow_error* e) -> rte_flow* {
      if (Validate(p, e) != 0) return nullptr;
      rules[next] = Decode(p);
      return reinterpret_cast<rte_flow*>(next++);
    };
    ops.destroy = [this](uint16_t, rte_flow* f, rte_flow_error* e) {
      if (fail_destroy) {
        e->message = "device busy";
        return -EBUSY;
      }
      auto it = rules.find(reinterpret_cast<uintptr_t>(f));
      EXPECT_NE(it, rules.end()) << "destroying an unknown handle";
      if (it == rules.end()) return -ENOENT;
      destroyed.push_back(it->second);
      rules.erase(it);
      return 0;
    };
    return ops;
  }

  std::set<std::string> Installed() const {
    std::set<std::string> out;
    for (const auto& [h, r] : rules) out.insert(r);
    return out;
  }
};

NicConfig PortConfig(uint16_t port, uint32_t max_rules = 1024) {
  NicConfig c;
  c.port_id = port;
  c.max_rules = max_rules;
  return c;
}

TEST(NicBackendFake, StartChecksPortAndProbe) {
  FakeNic nic;
  std::string error;
  {
    NicBackend b(PortConfig(9), nic.Ops());
    EXPECT_STREQ(b.name(), "nic");
    EXPECT_FALSE(b.Start(&error));
    EXPECT_NE(error.find("DPDK port 9 does not exist"), std::string::npos) << error;
    EXPECT_FALSE(b.Add(MakeBlock("192.0.2.1"), &error));
    EXPECT_EQ(error, "nic: not started");
  }
  nic.refuse_all = true;
  {
    NicBackend b(PortConfig(3), nic.Ops());
    EXPECT_FALSE(b.Start(&error));
    EXPECT_EQ(error,
              "port 3 (driver net_fake) refuses flow rules: pattern not supported by fake "
              "(Operation not supported)");
  }
  nic.refuse_all = false;
  nic.refuse_v6 = true;  // IPv4-only NIC: usable, IPv6 blocks fail one by one
  {
    NicBackend b(PortConfig(3), nic.Ops());
    EXPECT_TRUE(b.Start(&error)) << error;
    EXPECT_TRUE(b.Add(MakeBlock("192.0.2.1"), &error)) << error;
    EXPECT_FALSE(b.Add(MakeBlock("2001:db8::1"), &error));
    EXPECT_NE(error.find("refuses the drop rule for source 2001:db8::1"), std::string::npos)
        << error;
  }
  EXPECT_TRUE(nic.rules.empty()) << "the destructor removes what the backend created";
  EXPECT_TRUE(nic.Installed().empty());
  {
    NicBackend b(PortConfig(3, 1), nic.Ops());
    EXPECT_FALSE(b.Start(&error));
    EXPECT_NE(error.find("max-rules 1"), std::string::npos) << error;
  }
  EXPECT_EQ(nic.rules.size(), 0u);  // Start only validates
}

TEST(NicBackendFake, AddRemoveIdempotent) {
  FakeNic nic;
  NicBackend b(PortConfig(3), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(&error)) << error;
  ASSERT_TRUE(b.Add(MakeBlock("203.0.113.5"), &error)) << error;
  ASSERT_TRUE(b.Add(MakeBlock("2001:db8::/64"), &error)) << error;
  EXPECT_EQ(nic.Installed(), (std::set<std::string>{"src 203.0.113.5", "dst 203.0.113.5",
                                                    "src 2001:db8::/64", "dst 2001:db8::/64"}));
  EXPECT_EQ(b.rule_count(), 4u);
  ASSERT_TRUE(b.Add(MakeBlock("203.0.113.5"), &error)) << error;  // refresh: nothing new
  EXPECT_EQ(nic.rules.size(), 4u);

  ASSERT_TRUE(b.Remove(MakeBlock("203.0.113.5"), &error)) << error;
  EXPECT_EQ(nic.destroyed, (std::vector<std::string>{"dst 203.0.113.5", "src 203.0.113.5"}))
      << "reverse creation order";
  EXPECT_TRUE(b.Remove(MakeBlock("203.0.113.5"), &error)) << "absent: succeeds";
  EXPECT_TRUE(b.Remove(MakeBlock("198.51.100.1"), &error));
  EXPECT_EQ(b.rule_count(), 2u);

  for (const char* all : {"0.0.0.0/0", "::/0"}) {
    EXPECT_FALSE(b.Add(MakeBlock(all), &error)) << all;
    EXPECT_NE(error.find("refusing to drop all"), std::string::npos) << error;
  }
  EXPECT_EQ(nic.rules.size(), 2u);
}

TEST(NicBackendFake, CapOnRules) {
  FakeNic nic;
  NicBackend b(PortConfig(3, 5), nic.Ops());  // 5 rules: two blocks fit, a third does not
  std::string error;
  ASSERT_TRUE(b.Start(&error)) << error;
  ASSERT_TRUE(b.Add(MakeBlock("192.0.2.1"), &error)) << error;
  ASSERT_TRUE(b.Add(MakeBlock("192.0.2.2"), &error)) << error;
  EXPECT_FALSE(b.Add(MakeBlock("192.0.2.3"), &error));
  EXPECT_EQ(error,
            "nic: port 3 (driver net_fake) holds 4 drop rules, the configured max-rules is 5 (two "
            "per block); 192.0.2.3 not blocked in hardware");
  EXPECT_EQ(nic.rules.size(), 4u);
  ASSERT_TRUE(b.Remove(MakeBlock("192.0.2.1"), &error)) << error;
  EXPECT_TRUE(b.Add(MakeBlock("192.0.2.3"), &error)) << error;
}

TEST(NicBackendFake, HalfCreatedBlockIsTakenDown) {
  FakeNic nic;
  NicBackend b(PortConfig(3), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(&error)) << error;
  nic.refuse_destination = true;
  EXPECT_FALSE(b.Add(MakeBlock("203.0.113.9"), &error));
  EXPECT_NE(error.find("port 3 (driver net_fake) refuses the drop rule for destination "
                       "203.0.113.9: pattern not supported by fake"),
            std::string::npos)
      << error;
  EXPECT_TRUE(nic.rules.empty());
  EXPECT_EQ(nic.destroyed, (std::vector<std::string>{"src 203.0.113.9"}));
  EXPECT_EQ(b.rule_count(), 0u);
  nic.refuse_destination = false;
  EXPECT_TRUE(b.Add(MakeBlock("203.0.113.9"), &error)) << error;
  EXPECT_EQ(nic.rules.size(), 2u);
}

TEST(NicBackendFake, FailedDestroyIsRetried) {
  FakeNic nic;
  NicBackend b(PortConfig(3), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(&error)) << error;
  ASSERT_TRUE(b.Add(MakeBlock("203.0.113.9"), &error)) << error;
  nic.fail_destroy = true;
  EXPECT_FALSE(b.Remove(MakeBlock("203.0.113.9"), &error));
  EXPECT_NE(error.find("could not destroy the drop rule for destination 203.0.113.9: device busy"),
            std::string::npos)
      << error;
  EXPECT_EQ(b.rule_count(), 2u);
  nic.fail_destroy = false;
  EXPECT_TRUE(b.Remove(MakeBlock("203.0.113.9"), &error)) << error;
  EXPECT_TRUE(nic.rules.empty());
  EXPECT_EQ(b.rule_count(), 0u);
}

TEST(NicBackendFake, SyncMakesTheNicHoldExactlyLive) {
  FakeNic nic;
  NicBackend b(PortConfig(3, 6), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(&error)) << error;
  ASSERT_TRUE(b.Add(MakeBlock("192.0.2.1"), &error)) << error;
  ASSERT_TRUE(b.Add(MakeBlock("192.0.2.2"), &error)) << error;
  ASSERT_TRUE(b.Add(MakeBlock("192.0.2.3"), &error)) << error;
  const std::map<uintptr_t, std::string> before = nic.rules;

  // The cap is full: the sync only fits because stale rules go first.
  const Block live[] = {MakeBlock("192.0.2.2"), MakeBlock("2001:db8::9")};
  ASSERT_TRUE(b.Sync(live, &error)) << error;
  EXPECT_EQ(nic.Installed(), (std::set<std::string>{"src 192.0.2.2", "dst 192.0.2.2",
                                                    "src 2001:db8::9", "dst 2001:db8::9"}));
  size_t kept = 0;
  for (const auto& [h, r] : before) kept += nic.rules.count(h);
  EXPECT_EQ(kept, 2u) << "192.0.2.2 keeps its rules";

  nic.refuse_v6 = true;
  const Block live2[] = {MakeBlock("2001:db8::9"), MakeBlock("2001:db8::a"),
                         MakeBlock("2001:db8::b")};
  EXPECT_FALSE(b.Sync(live2, &error));
  EXPECT_NE(error.find("(2 of 3 blocks not installed)"), std::string::npos) << error;
  EXPECT_EQ(nic.Installed(), (std::set<std::string>{"src 2001:db8::9", "dst 2001:db8::9"}));

  ASSERT_TRUE(b.Sync({}, &error)) << error;
  EXPECT_TRUE(nic.rules.empty());
}

// The real API on a real (virtual) DPDK port. The only test here that initialises the EAL: one EAL
// per process, and ctest runs each test case in its own process.
TEST(NicBackendDpdk, NetNullRefusesFlowRules) {
  port::EalPlan plan;
  plan.file_prefix = "fs_nic_test_" + std::to_string(getpid());
  plan.args = {"nic_backend_test",
               "--no-huge",
               "-m",
               "256",
               "--no-pci",
               "--no-telemetry",
               "-l",
               std::to_string(port::AllowedCpus().front()),
               "--vdev=net_null0",
               "--file-prefix=" + plan.file_prefix,
               "--log-level=*:error"};
  std::string error;
  ASSERT_TRUE(port::InitEal(plan, &error)) << error;
  uint16_t port_id = 0;
  ASSERT_EQ(rte_eth_dev_get_port_by_name("net_null0", &port_id), 0);
  {
    NicBackend b(PortConfig(port_id));
    EXPECT_FALSE(b.Start(&error));
    // DPDK 22.11 answers ENOSYS for a driver without flow ops; the test does not pin the text.
    const std::string prefix =
        "port " + std::to_string(port_id) + " (driver net_null) refuses flow rules: ";
    EXPECT_EQ(error.rfind(prefix, 0), 0u) << error;
    EXPECT_GT(error.size(), prefix.size()) << error;
    std::cout << "net_null: " << error << "\n";
    EXPECT_FALSE(b.Add(MakeBlock("192.0.2.1"), &error));
  }
  {
    NicBackend b(PortConfig(static_cast<uint16_t>(port_id + 5)));
    EXPECT_FALSE(b.Start(&error));
    EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  }
  {
    // The real validate call on the rule Add would make, straight through the API.
    const FlowRuleSpec r = BuildDropRule(Prefix("203.0.113.5"), false, NicConfig{});
    rte_flow_error fe{};
    EXPECT_NE(rte_flow_validate(port_id, r.attr(), r.pattern(), r.actions(), &fe), 0);
  }
  port::CleanupEal(plan);
}

}  // namespace
}  // namespace fs::enforce
