// Ports: the packet mempool and every input port (NIC, pcap, af_packet) configured and started.
// Owned by the main thread; workers only call rx bursts on the queues assigned to them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/port/eal.h"

struct rte_mempool;

namespace fs::port {

// The symmetric Toeplitz key (0x6D5A repeated): both directions of a flow hash alike.
extern const uint8_t kSymmetricRssKey[40];

struct PortConfig {
  uint32_t workers = 1;
  uint16_t rx_descriptors = 1024;
  uint32_t mbufs = 8191;
  uint16_t mbuf_priv_size = 0;  // per-mbuf private area (the decoded packet rides there)
};

struct Port {
  uint16_t port_id = 0;
  std::string name;  // ethdev name (net_pcap0, PCI address ...)
  Input input;
  uint16_t rx_queues = 1;  // == workers when the device spreads flows itself (symmetric RSS)
  bool hw_rss = false;
};

// How an input's packets reach the workers, decided from what the device reports
// (rte_eth_dev_info): one RX queue per worker with the symmetric RSS key when the device can, else
// one queue that worker 0 spreads in software. `message` says which and, when not in hardware, why
// (logged at start: an operator with a multi-queue NIC should know when it is not used).
struct RssCaps {
  std::string driver;
  uint16_t max_rx_queues = 1;
  uint64_t flow_type_rss_offloads = 0;  // RTE_ETH_RSS_* the device can hash on
  uint8_t hash_key_size = 0;            // bytes; 0 = not reported
};
struct RssPlan {
  bool hw = false;
  uint16_t queues = 1;
  uint64_t rss_hf = 0;  // hash fields requested (IP, TCP, UDP as far as supported)
  std::string message;
};
RssPlan PlanRss(const RssCaps& caps, uint32_t workers);
// After start: the key the device reports must be the symmetric one, or the two directions of a
// flow would reach different workers. False with *why when it differs; true when it matches or
// the device cannot report it (*why then says so).
bool CheckRssKey(const uint8_t* key, uint8_t key_len, int query_rc, std::string* why);

// Mbuf pool size needed for the given ports/workers/rings (also used to size EAL memory).
uint32_t MbufsNeeded(size_t ports, uint32_t workers, uint16_t rx_descriptors, uint32_t ring_size,
                     uint64_t preload_packets);
// Bytes one mbuf costs in the pool (header + private area + data room).
uint64_t MbufFootprint(uint16_t priv_size);

class Ports {
 public:
  Ports() = default;
  ~Ports();
  Ports(const Ports&) = delete;
  Ports& operator=(const Ports&) = delete;

  // Creates the mempool and configures and starts every input (names from EalPlan). A device
  // with at least `workers` RX queues and RSS gets one queue per worker with the symmetric key;
  // any other gets one queue, which a worker distributes in software.
  bool Setup(const std::vector<Input>& inputs, const std::vector<std::string>& names,
             const PortConfig& cfg, std::string* error);
  void Stop();

  const std::vector<Port>& ports() const { return ports_; }
  rte_mempool* pool() const { return pool_; }

  // Port-level counters (from rte_eth_stats): packets the device delivered, and what it lost.
  struct DeviceStats {
    uint64_t ipackets = 0, ibytes = 0, imissed = 0, ierrors = 0, rx_nombuf = 0;
  };
  DeviceStats Stats(const Port& p) const;

 private:
  rte_mempool* pool_ = nullptr;
  std::vector<Port> ports_;
  bool started_ = false;
};

}  // namespace fs::port
