// EAL argument planning: pure logic, no EAL is started here.
#include <gtest/gtest.h>
#include <rte_ethdev.h>

#include <algorithm>

#include "dataplane/port/eal.h"
#include "dataplane/port/port.h"

namespace fs::port {
namespace {

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(EalPlanTest, NoHugepagesGivesNoHugeAndComputedMemory) {
  EalRequest r;
  r.inputs = {{Input::Kind::kPcap, "/tmp/a.pcap"}};
  r.workers = 2;
  r.pool_bytes = 100ull << 20;
  r.cpus = {0, 1};
  r.pid = 42;
  EalPlan p;
  std::string err;
  ASSERT_TRUE(PlanEal(r, &p, &err)) << err;
  EXPECT_TRUE(p.no_huge);
  EXPECT_EQ(p.memory_mb, 264u);  // 2 x 100 MiB + 64
  EXPECT_TRUE(Has(p.args, "--no-huge"));
  EXPECT_TRUE(Has(p.args, "264"));
  EXPECT_TRUE(Has(p.args, "--file-prefix=flowsentry-42"));
  EXPECT_TRUE(Has(p.args, "--no-pci"));
  EXPECT_TRUE(Has(p.args, "--no-telemetry"));
  EXPECT_TRUE(Has(p.args, "net_pcap0,rx_pcap=/tmp/a.pcap"));
  // 3 lcores on 2 CPUs: they share the CPUs.
  EXPECT_TRUE(Has(p.args, "--lcores=(0-2)@(0,1)"));
  EXPECT_EQ(p.vdev_names, (std::vector<std::string>{"net_pcap0"}));
}

TEST(EalPlanTest, HugepagesAndEnoughCpusPinEachLcore) {
  EalRequest r;
  r.inputs = {{Input::Kind::kPci, "0000:03:00.0"}, {Input::Kind::kIface, "eth1"}};
  r.workers = 2;
  r.hugepages_available = true;
  r.cpus = {2, 3, 4, 5};
  r.user_args = {"--log-level=8"};
  EalPlan p;
  std::string err;
  ASSERT_TRUE(PlanEal(r, &p, &err)) << err;
  EXPECT_FALSE(p.no_huge);
  EXPECT_FALSE(Has(p.args, "--no-huge"));
  EXPECT_FALSE(Has(p.args, "--no-pci"));
  EXPECT_TRUE(Has(p.args, "--lcores=0@2,1@3,2@4"));
  EXPECT_TRUE(Has(p.args, "0000:03:00.0"));
  EXPECT_TRUE(Has(p.args, "net_af_packet0,iface=eth1,qpairs=1"));
  EXPECT_EQ(p.args.back(), "--log-level=8");
  EXPECT_EQ(p.vdev_names, (std::vector<std::string>{"0000:03:00.0", "net_af_packet0"}));
}

TEST(EalPlanTest, InfiniteReplay) {
  EalRequest r;
  r.inputs = {{Input::Kind::kPcap, "x.pcap"}};
  r.infinite_rx = true;
  EalPlan p;
  std::string err;
  ASSERT_TRUE(PlanEal(r, &p, &err));
  EXPECT_TRUE(Has(p.args, "net_pcap0,rx_pcap=x.pcap,infinite_rx=1"));
}

TEST(EalPlanTest, PathsDpdkCannotCarryAreRefused) {
  EalRequest r;
  r.inputs = {{Input::Kind::kPcap, "/tmp/a,b.pcap"}};
  EalPlan p;
  std::string err;
  EXPECT_FALSE(PlanEal(r, &p, &err));
  EXPECT_NE(err.find("'/tmp/a,b.pcap' contains ','"), std::string::npos) << err;
  r.inputs = {{Input::Kind::kIface, "eth1,iface=lo"}};
  EXPECT_FALSE(PlanEal(r, &p, &err));
}

// Symmetric RSS set-up (issue 7): hardware spreading only where the device can do it with the
// symmetric key, and a message that says why not otherwise.
struct RssCase {
  const char* name;
  RssCaps caps;
  uint32_t workers;
  bool hw;
  const char* message_part;
};

TEST(RssPlanTest, HardwareOnlyWhereTheDeviceCanUseTheSymmetricKey) {
  const uint64_t kAll = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
  const RssCase cases[] = {
      {"one worker", {"net_ice", 64, kAll, 40}, 1, false, ""},
      {"multi-queue NIC", {"net_ice", 64, kAll, 40}, 4, true, "hardware RSS over 4 RX queues"},
      {"too few queues", {"net_pcap", 1, 0, 0}, 2, false, "has 1 RX queue(s), 2 needed"},
      {"no RSS", {"net_af_packet", 8, 0, 0}, 2, false, "cannot hash IP/TCP/UDP"},
      {"52-byte key", {"net_i40e", 64, kAll, 52}, 2, false, "takes a 52-byte RSS key"},
  };
  for (const RssCase& c : cases) {
    SCOPED_TRACE(c.name);
    const RssPlan plan = PlanRss(c.caps, c.workers);
    EXPECT_EQ(plan.hw, c.hw);
    EXPECT_EQ(plan.queues, c.hw ? c.workers : 1u);
    EXPECT_EQ(plan.rss_hf, c.hw ? kAll : 0u);
    if (*c.message_part == '\0') {
      EXPECT_EQ(plan.message, "");
    } else {
      EXPECT_NE(plan.message.find(c.message_part), std::string::npos) << plan.message;
    }
    if (!c.hw && c.workers > 1) {
      EXPECT_NE(plan.message.find("in software"), std::string::npos) << plan.message;
    }
  }
  // Only the hash fields the device supports are asked for.
  EXPECT_EQ(PlanRss({"x", 8, RTE_ETH_RSS_IP, 40}, 2).rss_hf, uint64_t{RTE_ETH_RSS_IP});
}

TEST(RssPlanTest, KeyReadBackMustBeTheSymmetricKey) {
  std::string why;
  EXPECT_TRUE(CheckRssKey(kSymmetricRssKey, 40, 0, &why));
  EXPECT_EQ(why, "");
  uint8_t other[40];
  std::copy(std::begin(kSymmetricRssKey), std::end(kSymmetricRssKey), other);
  other[7] ^= 1;
  EXPECT_FALSE(CheckRssKey(other, 40, 0, &why));
  EXPECT_NE(why.find("did not keep the symmetric RSS key"), std::string::npos) << why;
  EXPECT_FALSE(CheckRssKey(kSymmetricRssKey, 52, 0, &why));
  // A device that cannot report its key: accepted, with a warning text.
  EXPECT_TRUE(CheckRssKey(nullptr, 0, -ENOTSUP, &why));
  EXPECT_NE(why.find("cannot read the RSS key back"), std::string::npos) << why;
}

}  // namespace
}  // namespace fs::port
