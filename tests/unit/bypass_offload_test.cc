// Flow-bypass offload: the rte_flow rules byte by byte (no device needed), the offload's
// bookkeeping against a fake NIC (capacity, duplicates, rollback, aging, hard lifetime,
// unavailable ports, clean-up), and one real DPDK run on net_null, which refuses flow rules.
#include "dataplane/offload/bypass_offload.h"

#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "dataplane/port/eal.h"

namespace fs::offload {
namespace {

// The header layouts the expected bytes below are written against (DPDK 22.11).
static_assert(sizeof(rte_flow_item_ipv4) == 20);
static_assert(sizeof(rte_flow_item_ipv6) == 44);
static_assert(sizeof(rte_flow_item_tcp) == 20);
static_assert(sizeof(rte_flow_item_udp) == 8);

IpAddr Ip(const char* text) {
  const auto a = IpAddr::Parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddr{});
}

BypassFlow Flow(const char* client, uint16_t cport, const char* server, uint16_t sport,
                uint8_t proto = 6, uint16_t port_id = 3) {
  BypassFlow f;
  f.port_id = port_id;
  f.client = Ip(client);
  f.server = Ip(server);
  f.ip_version = f.client.IsV4() ? 4 : 6;
  f.proto = proto;
  f.client_port = cport;
  f.server_port = sport;
  return f;
}

template <typename T>
std::vector<uint8_t> Raw(const void* p) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), p, sizeof(T));
  return out;
}

// n zero bytes with the given runs placed at their offsets.
std::vector<uint8_t> Bytes(size_t n,
                           std::initializer_list<std::pair<size_t, std::vector<uint8_t>>> runs) {
  std::vector<uint8_t> out(n, 0);
  for (const auto& [off, bytes] : runs) {
    EXPECT_LE(off + bytes.size(), n);
    std::copy(bytes.begin(), bytes.end(), out.begin() + static_cast<ptrdiff_t>(off));
  }
  return out;
}

const std::vector<uint8_t> k4Ones(4, 0xff);
const std::vector<uint8_t> k16Ones(16, 0xff);

// Table: both directions of an IPv4/TCP and an IPv6/UDP flow, with and without AGE. The expected
// bytes are literal: IPv4 proto at 9, addresses at 12/16; IPv6 proto at 6, addresses at 8/24; L4
// ports at 0/2, all in network byte order. Every other byte of spec and mask must be zero.
TEST(BypassRule, ConstructionByteByByte) {
  const BypassFlow v4 = Flow("10.1.2.3", 51514, "93.184.216.34", 443, 6);
  const BypassFlow v6 = Flow("2001:db8:10::5", 5353, "2001:db8:20::53", 53, 17);
  const std::vector<uint8_t> c4 = {10, 1, 2, 3}, s4 = {93, 184, 216, 34};
  const std::vector<uint8_t> c6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
  const std::vector<uint8_t> s6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0x20, 0, 0,
                                   0,    0,    0,    0,    0, 0,    0, 0x53};
  const std::vector<uint8_t> p51514 = {0xc9, 0x3a}, p443 = {0x01, 0xbb};
  const std::vector<uint8_t> p5353 = {0x14, 0xe9}, p53 = {0x00, 0x35};
  const std::vector<uint8_t> ones2 = {0xff, 0xff};
  int context_target = 0;
  struct Case {
    const char* what;
    BypassFlow flow;
    bool to_server;
    bool with_age;
    std::vector<uint8_t> ip_spec, ip_mask, l4_spec, l4_mask;
  };
  const Case cases[] = {
      {"v4 tcp to server, AGE", v4, true, true, Bytes(20, {{9, {6}}, {12, c4}, {16, s4}}),
       Bytes(20, {{9, {0xff}}, {12, k4Ones}, {16, k4Ones}}), Bytes(20, {{0, p51514}, {2, p443}}),
       Bytes(20, {{0, ones2}, {2, ones2}})},
      {"v4 tcp to client, no AGE", v4, false, false, Bytes(20, {{9, {6}}, {12, s4}, {16, c4}}),
       Bytes(20, {{9, {0xff}}, {12, k4Ones}, {16, k4Ones}}), Bytes(20, {{0, p443}, {2, p51514}}),
       Bytes(20, {{0, ones2}, {2, ones2}})},
      {"v6 udp to server, no AGE", v6, true, false, Bytes(44, {{6, {17}}, {8, c6}, {24, s6}}),
       Bytes(44, {{6, {0xff}}, {8, k16Ones}, {24, k16Ones}}), Bytes(8, {{0, p5353}, {2, p53}}),
       Bytes(8, {{0, ones2}, {2, ones2}})},
      {"v6 udp to client, AGE", v6, false, true, Bytes(44, {{6, {17}}, {8, s6}, {24, c6}}),
       Bytes(44, {{6, {0xff}}, {8, k16Ones}, {24, k16Ones}}), Bytes(8, {{0, p53}, {2, p5353}}),
       Bytes(8, {{0, ones2}, {2, ones2}})},
  };
  BypassConfig config;
  config.idle_timeout_s = 45;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const BypassRuleSpec r =
        BuildBypassRule(c.flow, c.to_server, config, c.with_age, &context_target);
    const bool v6 = c.flow.ip_version == 6;
    EXPECT_EQ(r.ipv6(), v6);
    EXPECT_EQ(r.tcp(), c.flow.proto == 6);
    EXPECT_EQ(r.with_age(), c.with_age);
    const rte_flow_item* items = r.pattern();
    EXPECT_EQ(items[0].type, RTE_FLOW_ITEM_TYPE_ETH);
    EXPECT_EQ(items[0].spec, nullptr);  // any Ethernet frame
    EXPECT_EQ(items[0].mask, nullptr);
    EXPECT_EQ(items[0].last, nullptr);
    EXPECT_EQ(items[1].type, v6 ? RTE_FLOW_ITEM_TYPE_IPV6 : RTE_FLOW_ITEM_TYPE_IPV4);
    EXPECT_EQ(items[2].type, c.flow.proto == 6 ? RTE_FLOW_ITEM_TYPE_TCP : RTE_FLOW_ITEM_TYPE_UDP);
    EXPECT_EQ(items[3].type, RTE_FLOW_ITEM_TYPE_END);
    EXPECT_EQ(items[3].spec, nullptr);
    for (int i = 1; i <= 2; ++i) {
      ASSERT_NE(items[i].spec, nullptr);
      ASSERT_NE(items[i].mask, nullptr);
      EXPECT_EQ(items[i].last, nullptr);
    }
    if (v6) {
      EXPECT_EQ(Raw<rte_flow_item_ipv6>(items[1].spec), c.ip_spec);
      EXPECT_EQ(Raw<rte_flow_item_ipv6>(items[1].mask), c.ip_mask);
      EXPECT_EQ(Raw<rte_flow_item_udp>(items[2].spec), c.l4_spec);
      EXPECT_EQ(Raw<rte_flow_item_udp>(items[2].mask), c.l4_mask);
    } else {
      EXPECT_EQ(Raw<rte_flow_item_ipv4>(items[1].spec), c.ip_spec);
      EXPECT_EQ(Raw<rte_flow_item_ipv4>(items[1].mask), c.ip_mask);
      EXPECT_EQ(Raw<rte_flow_item_tcp>(items[2].spec), c.l4_spec);
      EXPECT_EQ(Raw<rte_flow_item_tcp>(items[2].mask), c.l4_mask);
    }
    const rte_flow_action* a = r.actions();
    if (c.with_age) {
      ASSERT_EQ(a[0].type, RTE_FLOW_ACTION_TYPE_AGE);
      const auto* age = static_cast<const rte_flow_action_age*>(a[0].conf);
      ASSERT_NE(age, nullptr);
      EXPECT_EQ(age->timeout, 45u);
      EXPECT_EQ(age->reserved, 0u);
      EXPECT_EQ(age->context, &context_target);
      ++a;
    }
    EXPECT_EQ(a[0].type, RTE_FLOW_ACTION_TYPE_DROP);
    EXPECT_EQ(a[0].conf, nullptr);
    EXPECT_EQ(a[1].type, RTE_FLOW_ACTION_TYPE_END);
  }
}

TEST(BypassRule, Attributes) {
  const BypassFlow f = Flow("10.1.2.3", 1, "10.1.2.4", 2);
  const BypassRuleSpec d = BuildBypassRule(f, true, BypassConfig{}, false, nullptr);
  EXPECT_EQ(d.attr()->priority, 1u);  // the defaults
  EXPECT_EQ(d.attr()->group, 0u);
  EXPECT_EQ(d.attr()->ingress, 1u);
  EXPECT_EQ(d.attr()->egress, 0u);
  EXPECT_EQ(d.attr()->transfer, 0u);
  BypassConfig config;
  config.priority = 5;
  config.group = 2;
  const BypassRuleSpec r = BuildBypassRule(f, false, config, true, nullptr);
  EXPECT_EQ(r.attr()->priority, 5u);
  EXPECT_EQ(r.attr()->group, 2u);
  EXPECT_EQ(r.attr()->ingress, 1u);
}

TEST(BypassRule, AgeTimeoutFitsTwentyFourBits) {
  const struct {
    uint32_t configured, expected;
  } cases[] = {{0, 1}, {1, 1}, {30, 30}, {0xffffff, 0xffffff}, {0x1000000, 0xffffff}};
  const BypassFlow f = Flow("10.1.2.3", 1, "10.1.2.4", 2);
  for (const auto& c : cases) {
    BypassConfig config;
    config.idle_timeout_s = c.configured;
    const BypassRuleSpec r = BuildBypassRule(f, true, config, true, nullptr);
    const auto* age = static_cast<const rte_flow_action_age*>(r.actions()[0].conf);
    EXPECT_EQ(age->timeout, c.expected) << c.configured;
  }
}

// The items and actions point into the object: a copy must point into the copy.
TEST(BypassRule, CopyRepointsItemsAndActions) {
  std::vector<BypassRuleSpec> rules;
  {
    const BypassRuleSpec a =
        BuildBypassRule(Flow("10.1.2.3", 1, "10.1.2.4", 2), true, BypassConfig{}, true, nullptr);
    const BypassRuleSpec b = BuildBypassRule(Flow("2001:db8::1", 1, "2001:db8::2", 2, 17), false,
                                             BypassConfig{}, false, nullptr);
    rules.push_back(a);
    rules.push_back(b);
    rules.push_back(a);
    rules[2] = b;  // across families and protocols
  }
  for (const BypassRuleSpec& r : rules) {
    const auto base = reinterpret_cast<uintptr_t>(&r);
    auto inside = [&](const void* p) {
      const auto q = reinterpret_cast<uintptr_t>(p);
      return q >= base && q < base + sizeof(BypassRuleSpec);
    };
    for (int i = 1; i <= 2; ++i) {
      EXPECT_TRUE(inside(r.pattern()[i].spec));
      EXPECT_TRUE(inside(r.pattern()[i].mask));
    }
    if (r.with_age()) {
      EXPECT_TRUE(inside(r.actions()[0].conf));
    }
  }
  EXPECT_EQ(rules[0].actions()[0].type, RTE_FLOW_ACTION_TYPE_AGE);
  EXPECT_EQ(rules[2].pattern()[1].type, RTE_FLOW_ITEM_TYPE_IPV6);
  EXPECT_EQ(rules[2].pattern()[2].type, RTE_FLOW_ITEM_TYPE_UDP);
  EXPECT_EQ(rules[2].actions()[0].type, RTE_FLOW_ACTION_TYPE_DROP);
  const auto* udp = static_cast<const rte_flow_item_udp*>(rules[2].pattern()[2].spec);
  EXPECT_EQ(udp->hdr.src_port, rte_cpu_to_be_16(2));  // to client: server port is the source
}

// A NIC in software: validates and creates rules, decodes each into "TCP 10.1.2.3:1>10.1.2.4:2",
// reports aged contexts it is told to, and can be told to refuse things.
struct FakeNic {
  struct PortBehaviour {
    bool refuse_all = false;
    bool refuse_age = false;
    bool refuse_v6 = false;
  };
  struct Rule {
    uint16_t port;
    std::string text;
    bool age;
    void* context;
  };
  std::map<uint16_t, PortBehaviour> ports = {{3, {}}, {4, {}}};
  std::function<bool(const std::string&)> fail_create;  // by decoded rule
  bool fail_destroy = false;
  uintptr_t next = 1;
  std::map<uintptr_t, Rule> rules;
  std::vector<std::string> destroyed;          // in order
  std::map<uint16_t, std::deque<void*>> aged;  // what get_aged_flows reports next, per port
  std::map<uint16_t, int> aged_calls;
  int creates = 0;

  static std::string Decode(const rte_flow_item* p) {
    std::string src, dst;
    if (p[1].type == RTE_FLOW_ITEM_TYPE_IPV6) {
      const auto* s = static_cast<const rte_flow_item_ipv6*>(p[1].spec);
      src = "[" + IpAddr::FromV6(s->hdr.src_addr).ToString() + "]";
      dst = "[" + IpAddr::FromV6(s->hdr.dst_addr).ToString() + "]";
    } else {
      const auto* s = static_cast<const rte_flow_item_ipv4*>(p[1].spec);
      src = IpAddr::FromV4(reinterpret_cast<const uint8_t*>(&s->hdr.src_addr)).ToString();
      dst = IpAddr::FromV4(reinterpret_cast<const uint8_t*>(&s->hdr.dst_addr)).ToString();
    }
    const bool tcp = p[2].type == RTE_FLOW_ITEM_TYPE_TCP;
    uint16_t sp, dp;
    if (tcp) {
      const auto* t = static_cast<const rte_flow_item_tcp*>(p[2].spec);
      sp = rte_be_to_cpu_16(t->hdr.src_port);
      dp = rte_be_to_cpu_16(t->hdr.dst_port);
    } else {
      const auto* u = static_cast<const rte_flow_item_udp*>(p[2].spec);
      sp = rte_be_to_cpu_16(u->hdr.src_port);
      dp = rte_be_to_cpu_16(u->hdr.dst_port);
    }
    return std::string(tcp ? "TCP " : "UDP ") + src + ":" + std::to_string(sp) + ">" + dst + ":" +
           std::to_string(dp);
  }

  int Validate(uint16_t port, const rte_flow_item* p, const rte_flow_action* a, rte_flow_error* e) {
    const PortBehaviour& b = ports.at(port);
    const bool age = a[0].type == RTE_FLOW_ACTION_TYPE_AGE;
    if (b.refuse_all || (b.refuse_v6 && p[1].type == RTE_FLOW_ITEM_TYPE_IPV6)) {
      e->type = RTE_FLOW_ERROR_TYPE_ITEM;
      e->message = "pattern not supported by fake";
      return -ENOTSUP;
    }
    if (b.refuse_age && age) {
      e->type = RTE_FLOW_ERROR_TYPE_ACTION;
      e->message = "age action not supported by fake";
      return -ENOTSUP;
    }
    return 0;
  }

  port::FlowOps Ops() {
    port::FlowOps ops;
    ops.port_valid = [this](uint16_t p) { return ports.count(p) != 0; };
    ops.driver_name = [](uint16_t) { return std::string("net_fake"); };
    ops.validate = [this](uint16_t port, const rte_flow_attr* attr, const rte_flow_item* p,
                          const rte_flow_action* a, rte_flow_error* e) {
      EXPECT_EQ(attr->ingress, 1u);
      return Validate(port, p, a, e);
    };
    ops.create = [this](uint16_t port, const rte_flow_attr*, const rte_flow_item* p,
                        const rte_flow_action* a, rte_flow_error* e) -> rte_flow* {
      ++creates;
      if (Validate(port, p, a, e) != 0) return nullptr;
      const std::string text = Decode(p);
      if (fail_create && fail_create(text)) {
        e->type = RTE_FLOW_ERROR_TYPE_HANDLE;
        e->message = "flow table full";
        return nullptr;
      }
      const bool age = a[0].type == RTE_FLOW_ACTION_TYPE_AGE;
      void* context = age ? static_cast<const rte_flow_action_age*>(a[0].conf)->context : nullptr;
      rules[next] = Rule{port, text, age, context};
      return reinterpret_cast<rte_flow*>(next++);
    };
    ops.destroy = [this](uint16_t port, rte_flow* f, rte_flow_error* e) {
      if (fail_destroy) {
        e->message = "device busy";
        return -EBUSY;
      }
      auto it = rules.find(reinterpret_cast<uintptr_t>(f));
      EXPECT_NE(it, rules.end()) << "destroying an unknown handle";
      if (it == rules.end()) return -ENOENT;
      EXPECT_EQ(it->second.port, port);
      destroyed.push_back(it->second.text);
      rules.erase(it);
      return 0;
    };
    ops.get_aged_flows = [this](uint16_t port, void** contexts, uint32_t n, rte_flow_error*) {
      ++aged_calls[port];
      std::deque<void*>& q = aged[port];
      uint32_t i = 0;
      for (; i < n && !q.empty(); ++i) {
        contexts[i] = q.front();
        q.pop_front();
      }
      return static_cast<int>(i);
    };
    return ops;
  }

  std::set<std::string> Installed() const {
    std::set<std::string> out;
    for (const auto& [h, r] : rules) out.insert(r.text);
    return out;
  }
  // Reports both rules of the flow whose to-server rule is `text` as aged.
  void AgeFlowOf(const std::string& text) {
    for (const auto& [h, r] : rules) {
      if (r.text == text) aged[r.port].push_back(r.context);
    }
  }
  void* ContextOf(const std::string& text) const {
    for (const auto& [h, r] : rules) {
      if (r.text == text) return r.context;
    }
    return nullptr;
  }
};

BypassConfig Enabled(uint32_t max_flows = 16) {
  BypassConfig c;
  c.enabled = true;
  c.max_flows = max_flows;
  return c;
}

const uint16_t kPorts[] = {3, 4};

TEST(BypassOffloadFake, StartClassifiesPorts) {
  FakeNic nic;
  nic.ports[5] = {.refuse_all = true};
  nic.ports[6] = {.refuse_age = true};
  nic.ports[7] = {.refuse_v6 = true};
  std::string error;
  {
    BypassOffload b(Enabled(), nic.Ops());
    const uint16_t bad[] = {3, 9};
    EXPECT_FALSE(b.Start(bad, &error));
    EXPECT_NE(error.find("DPDK port 9 does not exist"), std::string::npos) << error;
  }
  BypassOffload b(Enabled(), nic.Ops());
  const uint16_t ports[] = {3, 5, 6, 7, 3};
  ASSERT_TRUE(b.Start(ports, &error)) << error;
  EXPECT_TRUE(b.any_available());
  EXPECT_TRUE(b.available(3));
  EXPECT_FALSE(b.available(5));
  EXPECT_TRUE(b.available(6));
  EXPECT_TRUE(b.available(7));
  EXPECT_FALSE(b.available(4)) << "not in the list given to Start";
  EXPECT_EQ(b.status(3), "port 3 (driver net_fake): drop rules with AGE (idle 30 s)");
  EXPECT_EQ(b.status(5),
            "port 5 (driver net_fake): unavailable: pattern not supported by fake (Operation not "
            "supported)");
  EXPECT_EQ(b.status(6), "port 6 (driver net_fake): drop rules without AGE (max lifetime 600 s)");
  EXPECT_EQ(b.status(7), "port 7 (driver net_fake): drop rules with AGE (idle 30 s), IPv4 only");
  EXPECT_EQ(b.status(4), "port 4: not an input port");
  EXPECT_TRUE(nic.rules.empty()) << "Start only validates";

  const uint16_t only_bad[] = {5};
  BypassOffload none(Enabled(), nic.Ops());
  ASSERT_TRUE(none.Start(only_bad, &error));
  EXPECT_FALSE(none.any_available());

  BypassOffload disabled(BypassConfig{}, nic.Ops());
  ASSERT_TRUE(disabled.Start(kPorts, &error)) << error;
  EXPECT_FALSE(disabled.any_available());
  EXPECT_FALSE(disabled.Offload(Flow("10.0.0.1", 1000, "10.0.0.2", 80), 0));
  EXPECT_EQ(disabled.counters().refused_unavailable, 1u);
  EXPECT_EQ(nic.creates, 0);
}

TEST(BypassOffloadFake, OffloadCreatesBothDirections) {
  FakeNic nic;
  BypassOffload b(Enabled(), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  EXPECT_TRUE(b.Offload(Flow("10.0.0.1", 40000, "198.51.100.7", 443), 1000));
  EXPECT_TRUE(b.Offload(Flow("2001:db8::a", 5353, "2001:db8::b", 53, 17, 4), 1000));
  EXPECT_EQ(nic.Installed(), (std::set<std::string>{
                                 "TCP 10.0.0.1:40000>198.51.100.7:443",
                                 "TCP 198.51.100.7:443>10.0.0.1:40000",
                                 "UDP [2001:db8::a]:5353>[2001:db8::b]:53",
                                 "UDP [2001:db8::b]:53>[2001:db8::a]:5353",
                             }));
  std::set<void*> contexts;
  for (const auto& [h, r] : nic.rules) {
    EXPECT_TRUE(r.age);
    EXPECT_NE(r.context, nullptr);
    contexts.insert(r.context);
  }
  EXPECT_EQ(contexts.size(), 4u) << "one AGE context per rule";
  EXPECT_EQ(b.active(), 2u);
  EXPECT_EQ(b.counters().requested, 2u);
  EXPECT_EQ(b.counters().installed, 2u);
}

TEST(BypassOffloadFake, DuplicatesInEitherOrientation) {
  FakeNic nic;
  BypassOffload b(Enabled(), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  ASSERT_TRUE(b.Offload(Flow("10.0.0.1", 40000, "198.51.100.7", 443), 0));
  EXPECT_TRUE(b.Offload(Flow("10.0.0.1", 40000, "198.51.100.7", 443), 1));
  EXPECT_TRUE(b.Offload(Flow("198.51.100.7", 443, "10.0.0.1", 40000), 2));
  EXPECT_EQ(b.counters().duplicates, 2u);
  EXPECT_EQ(nic.rules.size(), 2u);
  // Differing in one field each: new flows.
  const BypassFlow others[] = {
      Flow("10.0.0.1", 40001, "198.51.100.7", 443),
      Flow("10.0.0.1", 40000, "198.51.100.8", 443),
      Flow("10.0.0.1", 40000, "198.51.100.7", 443, 17),
      Flow("10.0.0.1", 40000, "198.51.100.7", 443, 6, 4),
  };
  for (const BypassFlow& f : others) EXPECT_TRUE(b.Offload(f, 3));
  EXPECT_EQ(b.counters().duplicates, 2u);
  EXPECT_EQ(b.active(), 5u);
  EXPECT_EQ(nic.rules.size(), 10u);
}

TEST(BypassOffloadFake, CapacityAndMalformedFlows) {
  FakeNic nic;
  BypassOffload b(Enabled(2), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  ASSERT_TRUE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80), 0));
  ASSERT_TRUE(b.Offload(Flow("10.0.0.2", 1, "10.0.0.9", 80), 0));
  EXPECT_FALSE(b.Offload(Flow("10.0.0.3", 1, "10.0.0.9", 80), 0));
  EXPECT_EQ(b.counters().refused_capacity, 1u);
  EXPECT_TRUE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80), 0)) << "a duplicate needs no room";
  EXPECT_EQ(nic.rules.size(), 4u);

  BypassFlow icmp = Flow("10.0.0.4", 0, "10.0.0.9", 0, 1);
  BypassFlow v4_with_v6_addr = Flow("2001:db8::1", 1, "2001:db8::2", 2);
  v4_with_v6_addr.ip_version = 4;
  for (const BypassFlow& f : {icmp, v4_with_v6_addr}) EXPECT_FALSE(b.Offload(f, 0));
  EXPECT_EQ(b.counters().failed, 2u);
  EXPECT_EQ(b.counters().refused_capacity, 1u);
}

TEST(BypassOffloadFake, SecondRuleFailureRollsBackTheFirst) {
  FakeNic nic;
  nic.fail_create = [](const std::string& t) { return t == "TCP 10.0.0.9:80>10.0.0.1:1"; };
  BypassOffload b(Enabled(1), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  EXPECT_FALSE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80), 0));
  EXPECT_EQ(b.counters().failed, 1u);
  EXPECT_EQ(nic.destroyed, (std::vector<std::string>{"TCP 10.0.0.1:1>10.0.0.9:80"}));
  EXPECT_TRUE(nic.rules.empty());
  EXPECT_EQ(b.active(), 0u);
  // The only slot is free again; and a failed first rule leaves nothing to take down.
  EXPECT_TRUE(b.Offload(Flow("10.0.0.2", 1, "10.0.0.9", 80), 0));
  EXPECT_EQ(b.counters().installed, 1u);

  nic.fail_create = [](const std::string& t) { return t.rfind("TCP 10.0.0.3:", 0) == 0; };
  BypassOffload c(Enabled(1), nic.Ops());
  ASSERT_TRUE(c.Start(kPorts, &error)) << error;
  const size_t destroyed = nic.destroyed.size();
  EXPECT_FALSE(c.Offload(Flow("10.0.0.3", 1, "10.0.0.9", 80), 0));
  EXPECT_EQ(nic.destroyed.size(), destroyed);
  EXPECT_EQ(c.counters().failed, 1u);
}

TEST(BypassOffloadFake, FailedRollbackHoldsTheSlotUntilPollDestroysIt) {
  FakeNic nic;
  nic.fail_create = [](const std::string& t) { return t == "TCP 10.0.0.9:80>10.0.0.1:1"; };
  BypassOffload b(Enabled(1), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  nic.fail_destroy = true;
  EXPECT_FALSE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80), 0));
  EXPECT_EQ(nic.rules.size(), 1u);
  EXPECT_EQ(b.active(), 0u);
  EXPECT_FALSE(b.Offload(Flow("10.0.0.2", 1, "10.0.0.9", 80), 0));
  EXPECT_EQ(b.counters().refused_capacity, 1u) << "the half pair still holds the slot";
  nic.fail_destroy = false;
  b.Poll(1);
  EXPECT_TRUE(nic.rules.empty());
  EXPECT_TRUE(b.Offload(Flow("10.0.0.2", 1, "10.0.0.9", 80), 2));
  EXPECT_EQ(b.counters().aged + b.counters().expired, 0u) << "a rollback is neither";
}

TEST(BypassOffloadFake, AgedFlowsAreDestroyedAndTheirSlotsReused) {
  FakeNic nic;
  BypassOffload b(Enabled(2), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  ASSERT_TRUE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80), 0));
  ASSERT_TRUE(b.Offload(Flow("10.0.0.2", 1, "10.0.0.9", 53, 17), 0));
  void* old_context = nic.ContextOf("TCP 10.0.0.1:1>10.0.0.9:80");

  // One direction aged (a one-way UDP flow): the flow stays offloaded.
  nic.aged[3].push_back(nic.ContextOf("UDP 10.0.0.9:53>10.0.0.2:1"));
  b.Poll(1000);
  EXPECT_EQ(b.active(), 2u);
  EXPECT_EQ(b.counters().aged, 0u);

  // Both rules of the TCP flow aged, reported with a stranger's context and a repeat.
  int stranger = 0;
  nic.AgeFlowOf("TCP 10.0.0.1:1>10.0.0.9:80");
  nic.AgeFlowOf("TCP 10.0.0.9:80>10.0.0.1:1");
  nic.aged[3].push_back(&stranger);
  nic.aged[3].push_back(old_context);
  b.Poll(2000);
  EXPECT_EQ(b.counters().aged, 1u);
  EXPECT_EQ(b.active(), 1u);
  EXPECT_EQ(nic.Installed(),
            (std::set<std::string>{"UDP 10.0.0.2:1>10.0.0.9:53", "UDP 10.0.0.9:53>10.0.0.2:1"}));
  EXPECT_EQ(nic.aged_calls[4], 2) << "every AGE port is polled";

  // The freed slot takes the next flow, and its AGE context is the slot's again.
  ASSERT_TRUE(b.Offload(Flow("10.0.0.3", 1, "10.0.0.9", 80), 3000));
  EXPECT_EQ(nic.ContextOf("TCP 10.0.0.3:1>10.0.0.9:80"), old_context);
  EXPECT_FALSE(b.Offload(Flow("10.0.0.4", 1, "10.0.0.9", 80), 3000));  // full again

  // The UDP flow's other direction ages too: now it goes.
  nic.aged[3].push_back(nic.ContextOf("UDP 10.0.0.2:1>10.0.0.9:53"));
  b.Poll(4000);
  EXPECT_EQ(b.counters().aged, 2u);
  EXPECT_EQ(b.active(), 1u);
  EXPECT_EQ(b.counters().expired, 0u);
}

TEST(BypassOffloadFake, ManyAgedFlowsInOnePoll) {
  FakeNic nic;
  BypassOffload b(Enabled(400), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  for (uint16_t i = 0; i < 300; ++i) {
    ASSERT_TRUE(b.Offload(Flow("10.0.0.1", static_cast<uint16_t>(1000 + i), "10.0.0.9", 80), 0));
  }
  for (const auto& [h, r] : nic.rules) nic.aged[3].push_back(r.context);  // 600 > one batch
  b.Poll(1000);
  EXPECT_EQ(b.counters().aged, 300u);
  EXPECT_EQ(b.active(), 0u);
  EXPECT_TRUE(nic.rules.empty());
}

TEST(BypassOffloadFake, AgedDestroyFailureIsRetried) {
  FakeNic nic;
  BypassOffload b(Enabled(), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  ASSERT_TRUE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80), 0));
  nic.AgeFlowOf("TCP 10.0.0.1:1>10.0.0.9:80");
  nic.AgeFlowOf("TCP 10.0.0.9:80>10.0.0.1:1");
  nic.fail_destroy = true;
  b.Poll(1000);
  EXPECT_EQ(b.counters().aged, 0u);
  EXPECT_EQ(nic.rules.size(), 2u);
  EXPECT_TRUE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80), 1500));
  EXPECT_EQ(b.counters().duplicates, 1u) << "rules still in the NIC: not created twice";
  nic.fail_destroy = false;
  b.Poll(2000);
  EXPECT_EQ(b.counters().aged, 1u);
  EXPECT_TRUE(nic.rules.empty());
  EXPECT_EQ(b.active(), 0u);
}

TEST(BypassOffloadFake, WithoutAgeRulesExpireAtMaxLifetime) {
  FakeNic nic;
  nic.ports[3].refuse_age = true;
  BypassConfig config = Enabled();
  config.max_lifetime_s = 60;
  BypassOffload b(config, nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  ASSERT_TRUE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80), 1000));
  ASSERT_TRUE(b.Offload(Flow("10.0.0.2", 1, "10.0.0.9", 80), 5000));
  ASSERT_TRUE(b.Offload(Flow("10.0.0.3", 1, "10.0.0.9", 80, 6, 4), 1000));  // AGE port
  size_t no_age = 0;
  for (const auto& [h, r] : nic.rules) {
    if (r.port == 3) {
      EXPECT_FALSE(r.age) << r.text;
      ++no_age;
    } else {
      EXPECT_TRUE(r.age) << r.text;
    }
  }
  EXPECT_EQ(no_age, 4u);

  const struct {
    uint64_t now_ms;
    uint64_t expired;
    size_t active;
  } steps[] = {{60999, 0, 3}, {61000, 1, 2}, {64999, 1, 2}, {65000, 2, 1}, {999999, 2, 1}};
  for (const auto& s : steps) {
    b.Poll(s.now_ms);
    EXPECT_EQ(b.counters().expired, s.expired) << s.now_ms;
    EXPECT_EQ(b.active(), s.active) << s.now_ms;
  }
  EXPECT_EQ(nic.aged_calls.count(3), 0u) << "a port without AGE is never asked for aged flows";
  EXPECT_EQ(nic.Installed(),
            (std::set<std::string>{"TCP 10.0.0.3:1>10.0.0.9:80", "TCP 10.0.0.9:80>10.0.0.3:1"}));
  EXPECT_EQ(b.counters().aged, 0u);
}

TEST(BypassOffloadFake, UnavailablePortsRefuse) {
  FakeNic nic;
  nic.ports[3].refuse_all = true;
  nic.ports[4].refuse_v6 = true;
  BypassOffload b(Enabled(), nic.Ops());
  std::string error;
  ASSERT_TRUE(b.Start(kPorts, &error)) << error;
  const BypassFlow refused[] = {
      Flow("10.0.0.1", 1, "10.0.0.9", 80, 6, 3),        // port refuses flow rules
      Flow("2001:db8::1", 1, "2001:db8::9", 80, 6, 4),  // port refuses IPv6
      Flow("10.0.0.1", 1, "10.0.0.9", 80, 6, 8),        // not an input port
  };
  for (const BypassFlow& f : refused) EXPECT_FALSE(b.Offload(f, 0));
  EXPECT_EQ(b.counters().refused_unavailable, 3u);
  EXPECT_EQ(nic.creates, 0);
  EXPECT_TRUE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80, 6, 4), 0));
  EXPECT_EQ(b.counters().installed, 1u);
}

TEST(BypassOffloadFake, DestructorDestroysEveryRule) {
  FakeNic nic;
  nic.ports[4].refuse_age = true;
  {
    BypassOffload b(Enabled(), nic.Ops());
    std::string error;
    ASSERT_TRUE(b.Start(kPorts, &error)) << error;
    for (uint16_t i = 0; i < 5; ++i) {
      ASSERT_TRUE(b.Offload(Flow("10.0.0.1", static_cast<uint16_t>(i + 1), "10.0.0.9", 80, 6,
                                 static_cast<uint16_t>(3 + i % 2)),
                            0));
    }
    ASSERT_TRUE(b.Offload(Flow("2001:db8::1", 7, "2001:db8::9", 53, 17), 0));
    EXPECT_EQ(nic.rules.size(), 12u);
  }
  EXPECT_TRUE(nic.rules.empty());
  EXPECT_EQ(nic.destroyed.size(), 12u);
}

// The real API on a real (virtual) DPDK port. The only test here that initialises the EAL: one EAL
// per process, and ctest runs each test case in its own process.
TEST(BypassOffloadDpdk, NetNullIsUnavailableWithTheDriversReason) {
  port::EalPlan plan;
  plan.file_prefix = "fs_bypass_test_" + std::to_string(getpid());
  plan.args = {"bypass_offload_test",
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
    BypassOffload b(Enabled());
    const uint16_t ports[] = {port_id};
    EXPECT_TRUE(b.Start(ports, &error)) << "unavailable is not an error: " << error;
    EXPECT_FALSE(b.available(port_id));
    EXPECT_FALSE(b.any_available());
    // DPDK 22.11 answers ENOSYS for a driver without flow ops; the test does not pin the text.
    const std::string prefix =
        "port " + std::to_string(port_id) + " (driver net_null): unavailable: ";
    const std::string status = b.status(port_id);
    EXPECT_EQ(status.rfind(prefix, 0), 0u) << status;
    EXPECT_GT(status.size(), prefix.size()) << status;
    std::cout << "net_null: " << status << "\n";
    EXPECT_FALSE(b.Offload(Flow("10.0.0.1", 1, "10.0.0.9", 80, 6, port_id), 0));
    EXPECT_EQ(b.counters().refused_unavailable, 1u);
    b.Poll(1000);  // nothing to age on an unavailable port
  }
  {
    BypassOffload b(Enabled());
    const uint16_t ports[] = {static_cast<uint16_t>(port_id + 5)};
    EXPECT_FALSE(b.Start(ports, &error));
    EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  }
  port::CleanupEal(plan);
}

}  // namespace
}  // namespace fs::offload
