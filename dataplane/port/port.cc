#include "dataplane/port/port.h"

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

namespace fs::port {

const uint8_t kSymmetricRssKey[40] = {0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A,
                                      0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A,
                                      0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A,
                                      0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A, 0x6D, 0x5A};

namespace {
constexpr uint32_t kPoolCache = 256;
constexpr uint32_t kBurst = 32;
}  // namespace

uint32_t MbufsNeeded(size_t ports, uint32_t workers, uint16_t rx_descriptors, uint32_t ring_size,
                     uint64_t preload_packets) {
  // Every place an mbuf can wait: device rings (one queue per worker at most), software rings,
  // bursts in the workers' hands, per-lcore caches; plus packets a PMD preloads (infinite_rx).
  uint64_t n = uint64_t(ports) * workers * rx_descriptors + uint64_t(workers) * ring_size +
               uint64_t(workers) * kBurst * 4 + uint64_t(workers + 1) * kPoolCache * 2 + 1024 +
               preload_packets;
  // rte_mempool is most efficient at 2^q - 1 elements.
  uint64_t p = 1;
  while (p - 1 < n) p <<= 1;
  return static_cast<uint32_t>(p - 1);
}

uint64_t MbufFootprint(uint16_t priv_size) {
  return sizeof(rte_mbuf) + priv_size + RTE_MBUF_DEFAULT_BUF_SIZE + 64;
}

Ports::~Ports() { Stop(); }

bool Ports::Setup(const std::vector<Input>& inputs, const std::vector<std::string>& names,
                  const PortConfig& cfg, std::string* error) {
  const uint16_t priv = RTE_ALIGN(cfg.mbuf_priv_size, RTE_MBUF_PRIV_ALIGN);
  pool_ = rte_pktmbuf_pool_create("fs_mbufs", cfg.mbufs, kPoolCache, priv,
                                  RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (pool_ == nullptr) {
    *error = fmt::format("cannot create the packet pool ({} mbufs): {}", cfg.mbufs,
                         rte_strerror(rte_errno));
    return false;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    Port p;
    p.input = inputs[i];
    p.name = names[i];
    if (rte_eth_dev_get_port_by_name(p.name.c_str(), &p.port_id) != 0) {
      *error = fmt::format("input '{}': DPDK has no device '{}' (is it bound to a DPDK driver?)",
                           p.input.value, p.name);
      return false;
    }
    rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(p.port_id, &info);
    if (rc != 0) {
      *error =
          fmt::format("input '{}': cannot read device info: {}", p.input.value, rte_strerror(-rc));
      return false;
    }
    rte_eth_conf conf{};
    const uint64_t rss_hf =
        info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
    if (cfg.workers > 1 && info.max_rx_queues >= cfg.workers && rss_hf != 0 &&
        info.hash_key_size == sizeof(kSymmetricRssKey)) {
      p.hw_rss = true;
      p.rx_queues = static_cast<uint16_t>(cfg.workers);
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = const_cast<uint8_t*>(kSymmetricRssKey);
      conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(kSymmetricRssKey);
      conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    }
    rc = rte_eth_dev_configure(p.port_id, p.rx_queues, 0, &conf);
    if (rc != 0) {
      *error = fmt::format("input '{}': configure failed: {}", p.input.value, rte_strerror(-rc));
      return false;
    }
    uint16_t nb_rxd = cfg.rx_descriptors, nb_txd = 0;
    rte_eth_dev_adjust_nb_rx_tx_desc(p.port_id, &nb_rxd, &nb_txd);
    for (uint16_t q = 0; q < p.rx_queues; ++q) {
      rc = rte_eth_rx_queue_setup(p.port_id, q, nb_rxd, rte_eth_dev_socket_id(p.port_id), nullptr,
                                  pool_);
      if (rc != 0) {
        *error = fmt::format("input '{}': RX queue {} setup failed: {}", p.input.value, q,
                             rte_strerror(-rc));
        return false;
      }
    }
    rc = rte_eth_dev_start(p.port_id);
    if (rc != 0) {
      *error = fmt::format("input '{}': start failed: {}", p.input.value, rte_strerror(-rc));
      return false;
    }
    // A mirror port sees traffic for other hosts: promiscuous where the device supports it.
    rte_eth_promiscuous_enable(p.port_id);
    ports_.push_back(p);
  }
  started_ = true;
  return true;
}

void Ports::Stop() {
  if (!started_) return;
  for (const Port& p : ports_) {
    rte_eth_dev_stop(p.port_id);
    rte_eth_dev_close(p.port_id);
  }
  started_ = false;
}

Ports::DeviceStats Ports::Stats(const Port& p) const {
  rte_eth_stats s{};
  DeviceStats out;
  if (rte_eth_stats_get(p.port_id, &s) == 0) {
    out.ipackets = s.ipackets;
    out.ibytes = s.ibytes;
    out.imissed = s.imissed;
    out.ierrors = s.ierrors;
    out.rx_nombuf = s.rx_nombuf;
  }
  return out;
}

}  // namespace fs::port
