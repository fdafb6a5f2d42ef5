// EAL argument planning: pure logic, no EAL is started here.
#include <gtest/gtest.h>

#include <algorithm>

#include "dataplane/port/eal.h"

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

}  // namespace
}  // namespace fs::port
