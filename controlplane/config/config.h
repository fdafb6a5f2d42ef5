// The sensor's configuration: defaults, the YAML file (--config), then command-line overrides.
// Built and validated once by main() before anything starts; read-only afterwards.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "controlplane/enforce/backend_config.h"
#include "dataplane/offload/bypass_config.h"
#include "patterns/indicators.h"

namespace fs::config {

struct FlowTimeouts {  // seconds; Suricata's defaults
  uint32_t tcp_new = 60, tcp_established = 600, tcp_closed = 60;
  uint32_t udp_new = 30, udp_established = 300;
  uint32_t icmp_new = 30, icmp_established = 300;
  uint32_t other_new = 30, other_established = 300;
};

// enforcement: (docs/enforcement.md). Backends are used when their mapping is present.
struct EnforcementConfig {
  bool enabled = false;
  bool dry_run = false;
  std::vector<patterns::IpPrefix> allowlist;
  bool allow_internal = false;
  uint32_t max_active = 1000;
  uint32_t rate_per_minute = 60;
  uint32_t burst = 20;
  uint32_t default_ttl = 3600, max_ttl = 604800, refresh_interval = 60;  // seconds
  std::string state_file;
  // A backend is used when its mapping is present; its settings are the backend's own.
  struct Nftables : enforce::NftConfig {
    bool present = false;
  } nftables;
  struct Bgp : enforce::BgpConfig {
    bool present = false;
  } bgp;
  struct Webhook : enforce::WebhookConfig {
    bool present = false;
    std::string secret_file;  // the HMAC key (WebhookConfig::secret) is read from it at start
  } webhook;
  struct Nic {
    bool present = false;
    uint32_t port = 0;
    uint32_t max_rules = 1024;
  } nic;
};

struct Config {
  // inputs
  std::vector<std::string> pcaps;
  std::vector<std::string> ifaces;
  std::vector<std::string> ports;  // PCI addresses
  bool replay_forever = false;     // pcaps replayed from memory in a loop (benchmarks)
  // How capture files are read: "buffered" (the sensor's CaptureReader: 256 KiB reads, classic
  // pcap records from its own buffer, pcapng through libpcap; replayed: from memory, each pass
  // new flows) or "pmd" (net_pcap's
  // own file RX, 4 KiB reads; replayed: infinite_rx, the same flows again).
  std::string pcap_reader = "buffered";
  double duration_s = 0;           // stop after this long (0 = at end of input / on a signal)
  uint64_t max_packets = 0;        // stop once this many packets were processed (0 = no limit)
  // patterns
  std::vector<std::string> rules;  // files or directories; empty = the district pack
  std::string classification;      // classification.config; empty = the pack's
  std::map<std::string, std::string> address_groups;      // overrides of HOME_NET ...
  std::map<std::string, std::string> port_groups;         // overrides of HTTP_PORTS ...
  std::vector<patterns::IndicatorListConfig> indicators;  // IP / domain lists (docs/indicators.md)
  // workers and memory
  uint32_t workers = 1;
  uint32_t flow_capacity = 262144;  // per worker
  FlowTimeouts timeouts;
  // TCP streams, per worker (docs/reassembly.md): reassembly and Hyperscan stream scanning.
  bool stream_enabled = true;
  uint32_t stream_depth = 1u << 20;    // bytes inspected per direction; 0 = unlimited
  bool stream_midstream = false;       // pick up sessions whose SYN was not seen
  uint32_t stream_ooo_segments = 256;  // out-of-order segments buffered per flow direction
  uint32_t stream_memory_mb = 64;      // memory for buffered out-of-order segments
  uint32_t stream_contexts = 0;        // flows with Hyperscan stream state; 0 = flow capacity
  uint32_t stream_prealloc = 32768;    // of those, taken in memory at start-up (per worker)
  bool stream_bypass = false;          // stop inspecting flows past the depth both ways
  // App layer on TCP streams (docs/app-layer.md): protocol detection, HTTP and DNS-over-TCP
  // parsing. Needs stream.enabled.
  bool app_enabled = true;
  uint32_t app_max_sessions = 512;      // per worker: flows with app-layer state at once
  uint32_t app_prealloc = 512;          // of those, readied at start-up (per worker)
  uint32_t http_body_limit = 1u << 20;  // body bytes decoded per HTTP message
  bool http_decompress = true;          // gzip/deflate Content-Encoding
  uint32_t smb_retain_kb = 64;  // bytes kept per SMB message (names, headers), per direction
  // TLS once encrypted (Suricata's app-layer.protocols.tls.encryption-handling): "default" stops
  // inspecting the flow's payload with payload rules after the handshake; "full" inspects it.
  std::string tls_encryption_handling = "default";
  // Bypassed flows (pass rule, stream.bypass) dropped by the NIC (rte_flow), where it can.
  offload::BypassConfig bypass_offload;
  // IP fragment reassembly, per worker (docs/design-notes.md "IP fragments").
  std::string defrag_ipv4_policy = "windows";  // bsd | windows (Suricata's shipped config)
  std::string defrag_ipv6_policy = "bsd";
  uint32_t defrag_max_datagrams = 4096;  // datagrams being reassembled at once
  uint32_t defrag_memory_kb = 4096;      // fragment bytes held at once
  uint32_t defrag_timeout = 60;          // seconds since a datagram's last fragment
  uint32_t defrag_max_fragments = 256;   // per datagram; more drops the datagram
  uint32_t ring_size = 4096;             // software distribution ring per worker (mbufs)
  uint32_t event_ring_size = 65536;      // events per worker to the control plane
  uint32_t mbufs = 0;                    // 0 = computed
  std::vector<std::string> eal_args;
  // outputs
  std::string eve = "eve.json";  // "-" = stdout, "" = off
  bool dns_output = true;   // EVE "dns" records (outputs.dns); parsing and lists work either way
  bool http_output = true;  // EVE "http" records (outputs.http); parsing and rules work either way
  bool tls_output = true;   // EVE "tls" records (outputs.tls); parsing and rules work either way
  bool smb_output = true;   // EVE "smb" records (outputs.smb); parsing and rules work either way
  std::string metrics_listen = "127.0.0.1:9580";  // "" = off
  std::string metrics_out;  // Prometheus text file written at exit (textfile collector)
  std::string log_level = "info";
  bool summary = true;
  std::string summary_json;  // the summary as JSON, for scripts and the bench harness
  // operator API (controlplane/api, docs/operator-guide.md "Operator API")
  std::string api_listen = "127.0.0.1:9581";  // "" = off
  std::string api_token_file;  // bearer token for mutating calls; "" = those calls are refused
  EnforcementConfig enforcement;
};

// Loads a YAML file over `cfg`. Unknown keys, wrong types and out-of-range values are errors
// naming the key ("workers: must be between 1 and 64, got 0").
bool LoadYamlFile(const std::string& path, Config* cfg, std::string* error);
bool LoadYamlString(const std::string& text, const std::string& origin, Config* cfg,
                    std::string* error);

// Cross-field validation after all sources were applied.
bool Validate(const Config& cfg, std::string* error);

}  // namespace fs::config
