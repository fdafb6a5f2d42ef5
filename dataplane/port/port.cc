#include "dataplane/port/port.h"

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include <cstring>

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
    const RssPlan rss =
        PlanRss({info.driver_name != nullptr ? info.driver_name : "?", info.max_rx_queues,
                 info.flow_type_rss_offloads, info.hash_key_size},
                cfg.workers);
    if (!rss.message.empty()) spdlog::info("input '{}': {}", p.input.value, rss.message);
    if (rss.hw) {
      p.hw_rss = true;
      p.rx_queues = rss.queues;
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = const_cast<uint8_t*>(kSymmetricRssKey);
      conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(kSymmetricRssKey);
      conf.rx_adv_conf.rss_conf.rss_hf = rss.rss_hf;
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
    if (p.hw_rss) {
      uint8_t key[64] = {};
      rte_eth_rss_conf got{};
      got.rss_key = key;
      got.rss_key_len = sizeof(key);
      const int qrc = rte_eth_dev_rss_hash_conf_get(p.port_id, &got);
      std::string why;
      if (!CheckRssKey(key, qrc == 0 ? got.rss_key_len : 0, qrc, &why)) {
        rte_eth_dev_stop(p.port_id);
        *error = fmt::format("input '{}': {}", p.input.value, why);
        return false;
      }
      if (!why.empty()) spdlog::warn("input '{}': {}", p.input.value, why);
    }
    // A mirror port sees traffic for other hosts: promiscuous where the device supports it.
    rte_eth_promiscuous_enable(p.port_id);
    ports_.push_back(p);
  }
  started_ = true;
  return true;
}

RssPlan PlanRss(const RssCaps& caps, uint32_t workers) {
  RssPlan plan;
  if (workers <= 1) return plan;  // one worker reads everything: nothing to spread
  const std::string software = fmt::format(
      "worker 0 spreads its packets over the {} workers in software (symmetric flow hash)",
      workers);
  plan.rss_hf = caps.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
  if (caps.max_rx_queues < workers) {
    plan.message = fmt::format("driver {} has {} RX queue(s), {} needed for hardware RSS: {}",
                               caps.driver, caps.max_rx_queues, workers, software);
  } else if (plan.rss_hf == 0) {
    plan.message = fmt::format("driver {} cannot hash IP/TCP/UDP (RSS): {}", caps.driver, software);
  } else if (caps.hash_key_size != sizeof(kSymmetricRssKey)) {
    plan.message =
        fmt::format("driver {} takes a {}-byte RSS key, the symmetric key has {} bytes: {}",
                    caps.driver, caps.hash_key_size, sizeof(kSymmetricRssKey), software);
  } else {
    plan.hw = true;
    plan.queues = static_cast<uint16_t>(workers);
    plan.message = fmt::format(
        "hardware RSS over {} RX queues (driver {}, symmetric key 0x6D5A): one queue per worker",
        workers, caps.driver);
    return plan;
  }
  plan.rss_hf = 0;
  return plan;
}

bool CheckRssKey(const uint8_t* key, uint8_t key_len, int query_rc, std::string* why) {
  why->clear();
  if (query_rc != 0) {
    *why = fmt::format("cannot read the RSS key back ({}); assuming the symmetric key is in use",
                       rte_strerror(-query_rc));
    return true;
  }
  if (key_len != sizeof(kSymmetricRssKey) ||
      std::memcmp(key, kSymmetricRssKey, sizeof(kSymmetricRssKey)) != 0) {
    *why =
        "the device did not keep the symmetric RSS key, so the two directions of a flow could "
        "reach different workers; run with --workers 1 on this input, or use a NIC that accepts "
        "a 40-byte Toeplitz key";
    return false;
  }
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
