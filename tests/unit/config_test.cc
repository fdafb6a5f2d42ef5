#include "controlplane/config/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace fs::config {
namespace {

TEST(ConfigTest, ExampleFileLoadsAndEqualsTheDefaults) {
  Config c;
  std::string err;
  ASSERT_TRUE(LoadYamlFile(std::string(FS_SOURCE_DIR) + "/docs/flowsentry.example.yaml", &c, &err))
      << err;
  Config d;
  EXPECT_EQ(c.workers, d.workers);
  EXPECT_EQ(c.flow_capacity, d.flow_capacity);
  EXPECT_EQ(c.timeouts.tcp_established, d.timeouts.tcp_established);
  EXPECT_EQ(c.timeouts.udp_new, d.timeouts.udp_new);
  EXPECT_EQ(c.eve, d.eve);
  EXPECT_EQ(c.metrics_listen, d.metrics_listen);
  EXPECT_EQ(c.ring_size, d.ring_size);
  EXPECT_EQ(c.event_ring_size, d.event_ring_size);
  EXPECT_EQ(c.stream_enabled, d.stream_enabled);
  EXPECT_EQ(c.stream_depth, d.stream_depth);
  EXPECT_EQ(c.stream_midstream, d.stream_midstream);
  EXPECT_EQ(c.stream_ooo_segments, d.stream_ooo_segments);
  EXPECT_EQ(c.stream_memory_mb, d.stream_memory_mb);
  EXPECT_EQ(c.stream_contexts, d.stream_contexts);
  EXPECT_EQ(c.stream_prealloc, d.stream_prealloc);
  EXPECT_EQ(c.stream_bypass, d.stream_bypass);
  EXPECT_EQ(c.app_max_sessions, d.app_max_sessions);
  EXPECT_EQ(c.app_prealloc, d.app_prealloc);
  EXPECT_EQ(c.defrag_ipv4_policy, d.defrag_ipv4_policy);
  EXPECT_EQ(c.defrag_ipv6_policy, d.defrag_ipv6_policy);
  EXPECT_EQ(c.defrag_max_datagrams, d.defrag_max_datagrams);
  EXPECT_EQ(c.defrag_memory_kb, d.defrag_memory_kb);
  EXPECT_EQ(c.defrag_timeout, d.defrag_timeout);
  EXPECT_EQ(c.defrag_max_fragments, d.defrag_max_fragments);
  EXPECT_EQ(c.api_listen, d.api_listen);
  EXPECT_EQ(c.api_token_file, d.api_token_file);
  EXPECT_TRUE(c.pcaps.empty());
}

TEST(ConfigTest, StreamSection) {
  Config c;
  std::string err;
  ASSERT_TRUE(LoadYamlString(R"(
stream: {enabled: false, depth: 0, midstream: true, max-ooo-segments: 16,
         segment-memory-mb: 8, contexts: 1000, prealloc: 200, bypass: true}
)",
                             "t.yaml", &c, &err))
      << err;
  EXPECT_FALSE(c.stream_enabled);
  EXPECT_EQ(c.stream_depth, 0u);
  EXPECT_TRUE(c.stream_midstream);
  EXPECT_EQ(c.stream_ooo_segments, 16u);
  EXPECT_EQ(c.stream_memory_mb, 8u);
  EXPECT_EQ(c.stream_contexts, 1000u);
  EXPECT_EQ(c.stream_prealloc, 200u);
  EXPECT_TRUE(c.stream_bypass);
  // 0: nothing taken at start-up; negative is refused with the key named.
  ASSERT_TRUE(LoadYamlString("stream: {prealloc: 0}", "t.yaml", &c, &err)) << err;
  EXPECT_EQ(c.stream_prealloc, 0u);
  EXPECT_FALSE(LoadYamlString("stream: {prealloc: -5}", "t.yaml", &c, &err));
  EXPECT_NE(err.find("prealloc"), std::string::npos) << err;
}

TEST(ConfigTest, DefragSection) {
  Config c;
  std::string err;
  ASSERT_TRUE(
      LoadYamlString("defrag: {ipv4-policy: bsd, ipv6-policy: windows, max-datagrams: 10,"
                     " memory-kb: 128, timeout: 5, max-fragments: 16}",
                     "t.yaml", &c, &err))
      << err;
  EXPECT_EQ(c.defrag_ipv4_policy, "bsd");
  EXPECT_EQ(c.defrag_ipv6_policy, "windows");
  EXPECT_EQ(c.defrag_max_datagrams, 10u);
  EXPECT_EQ(c.defrag_memory_kb, 128u);
  EXPECT_EQ(c.defrag_timeout, 5u);
  EXPECT_EQ(c.defrag_max_fragments, 16u);
  EXPECT_FALSE(LoadYamlString("defrag: {ipv4-policy: linux}", "t.yaml", &c, &err));
  EXPECT_EQ(err, "t.yaml: defrag.ipv4-policy: must be bsd or windows, got 'linux'");
  EXPECT_FALSE(LoadYamlString("defrag: {memory-kb: 1}", "t.yaml", &c, &err));
  EXPECT_NE(err.find("defrag.memory-kb"), std::string::npos) << err;
}

TEST(ConfigTest, PcapReader) {
  Config c;
  std::string err;
  EXPECT_EQ(c.pcap_reader, "buffered");
  ASSERT_TRUE(LoadYamlString("inputs: {pcap-reader: pmd}", "t.yaml", &c, &err)) << err;
  EXPECT_EQ(c.pcap_reader, "pmd");
  EXPECT_FALSE(LoadYamlString("inputs: {pcap-reader: mmap}", "t.yaml", &c, &err));
  EXPECT_EQ(err, "t.yaml: inputs.pcap-reader: must be buffered or pmd, got 'mmap'");
}

TEST(ConfigTest, BypassOffloadSection) {
  Config c;
  EXPECT_FALSE(c.bypass_offload.enabled);
  std::string err;
  ASSERT_TRUE(
      LoadYamlString("bypass-offload: {enabled: true, max-flows: 1000, idle-timeout: 5,"
                     " max-lifetime: 120, priority: 3, group: 2}",
                     "t.yaml", &c, &err))
      << err;
  EXPECT_TRUE(c.bypass_offload.enabled);
  EXPECT_EQ(c.bypass_offload.max_flows, 1000u);
  EXPECT_EQ(c.bypass_offload.idle_timeout_s, 5u);
  EXPECT_EQ(c.bypass_offload.max_lifetime_s, 120u);
  EXPECT_EQ(c.bypass_offload.priority, 3u);
  EXPECT_EQ(c.bypass_offload.group, 2u);
}

TEST(ConfigTest, StreamSectionErrorsNameTheKey) {
  for (const char* bad :
       {"stream: {depth: -1}", "stream: {max-ooo-segments: 0}", "stream: {midstream: maybe}",
        "stream: {segment-memory: 8}", "stream: {bypass: [1]}"}) {
    Config c;
    std::string err;
    EXPECT_FALSE(LoadYamlString(bad, "t.yaml", &c, &err)) << bad;
    EXPECT_NE(err.find("stream."), std::string::npos) << bad << " -> " << err;
  }
}

TEST(ConfigTest, ValuesAreApplied) {
  Config c;
  std::string err;
  ASSERT_TRUE(LoadYamlString(R"(
inputs: {pcap: [a.pcap, b.pcap]}
rules: one.rules
workers: 4
flow: {capacity: 5000, timeouts: {tcp: {new: 5, established: 7, closed: 1}, udp: {new: 2}}}
vars: {address-groups: {HOME_NET: "[10.20.0.0/16]"}, port-groups: {HTTP_PORTS: "8080"}}
outputs: {eve: "-", metrics-listen: "127.0.0.1:9999", summary: false, dns: false}
dpdk: {eal-args: [--log-level=8]}
log-level: debug
)",
                             "t.yaml", &c, &err))
      << err;
  EXPECT_EQ(c.pcaps, (std::vector<std::string>{"a.pcap", "b.pcap"}));
  EXPECT_EQ(c.rules, (std::vector<std::string>{"one.rules"}));
  EXPECT_EQ(c.workers, 4u);
  EXPECT_EQ(c.flow_capacity, 5000u);
  EXPECT_EQ(c.timeouts.tcp_new, 5u);
  EXPECT_EQ(c.timeouts.tcp_established, 7u);
  EXPECT_EQ(c.timeouts.tcp_closed, 1u);
  EXPECT_EQ(c.timeouts.udp_new, 2u);
  EXPECT_EQ(c.timeouts.udp_established, 300u);
  EXPECT_EQ(c.address_groups.at("HOME_NET"), "[10.20.0.0/16]");
  EXPECT_EQ(c.port_groups.at("HTTP_PORTS"), "8080");
  EXPECT_EQ(c.eve, "-");
  EXPECT_FALSE(c.dns_output);
  EXPECT_TRUE(Config{}.dns_output);  // EVE dns records are on by default
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9999");
  EXPECT_FALSE(c.summary);
  EXPECT_EQ(c.eal_args, (std::vector<std::string>{"--log-level=8"}));
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_TRUE(Validate(c, &err)) << err;
}

struct BadYaml {
  const char* text;
  const char* message;
};

class ConfigErrorTest : public ::testing::TestWithParam<BadYaml> {};

TEST_P(ConfigErrorTest, NamesTheKeyAndWhy) {
  Config c;
  std::string err;
  EXPECT_FALSE(LoadYamlString(GetParam().text, "bad.yaml", &c, &err));
  EXPECT_EQ(err, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigErrorTest,
    ::testing::Values(
        BadYaml{"workers: 0\n", "bad.yaml: workers: must be between 1 and 64, got 0"},
        BadYaml{"workers: two\n", "bad.yaml: workers: must be a whole number, got 'two'"},
        BadYaml{"workers: [1]\n", "bad.yaml: workers: must be a number"},
        BadYaml{
            "wrkers: 2\n",
            "bad.yaml: wrkers: unknown key (known here: api, app-layer, bypass-offload, classification-file, "
            "defrag, dpdk, enforcement, flow, indicators, inputs, log-level, outputs, rules, "
            "stream, vars, workers)"},
        BadYaml{"bypass-offload: {max-flows: 0}\n",
                "bad.yaml: bypass-offload.max-flows: must be between 1 and 16777216, got 0"},
        BadYaml{"bypass-offload: {idle-timeout: 16777216}\n",
                "bad.yaml: bypass-offload.idle-timeout: must be between 1 and 16777215, got "
                "16777216"},
        BadYaml{"bypass-offload: {enable: true}\n",
                "bad.yaml: bypass-offload.enable: unknown key (known here: enabled, group, "
                "idle-timeout, max-flows, max-lifetime, priority)"},
        BadYaml{"enforcement: {enabled: yes please}\n",
                "bad.yaml: enforcement.enabled: must be true or false, got 'yes please'"},
        BadYaml{"enforcement: {allowlist: [10.0.0.1, 10.1.0.0/33]}\n",
                "bad.yaml: enforcement.allowlist[1]: bad prefix length '33' (0..32 for IPv4)"},
        BadYaml{"enforcement: {allowlist: [10.0.0.1/8]}\n",
                "bad.yaml: enforcement.allowlist[0]: host bits set in '10.0.0.1/8' (did you mean "
                "10.0.0.0/8?)"},
        BadYaml{"enforcement: {max-active: 0}\n",
                "bad.yaml: enforcement.max-active: must be between 1 and 1000000, got 0"},
        BadYaml{"enforcement: {nftables: {famly: inet}}\n",
                "bad.yaml: enforcement.nftables.famly: unknown key (known here: chain-priority, "
                "command, command-timeout, create-chains, family, set4, set6, table)"},
        BadYaml{"enforcement: {webhook: {timeout-ms: 1000}}\n",
                "bad.yaml: enforcement.webhook.url: missing"},
        BadYaml{"enforcement: {bgp: {communities: {a: b}}}\n",
                "bad.yaml: enforcement.bgp.communities: must be a string or a list of strings"},
        BadYaml{"flow: {timeouts: {tcp: {closed: -1}}}\n",
                "bad.yaml: flow.timeouts.tcp.closed: must be between 0 and 86400, got -1"},
        BadYaml{"flow: {timeouts: {udp: {closed: 3}}}\n",
                "bad.yaml: flow.timeouts.udp.closed: unknown key (known here: established, new)"},
        BadYaml{"outputs: {summary: maybe}\n",
                "bad.yaml: outputs.summary: must be true or false, got 'maybe'"},
        BadYaml{"outputs: {dns: often}\n",
                "bad.yaml: outputs.dns: must be true or false, got 'often'"},
        BadYaml{"inputs: {pcap: [[a]]}\n", "bad.yaml: inputs.pcap: must be a list of strings"},
        BadYaml{"workers: [\n", "bad.yaml:2:1: YAML syntax error: end of sequence flow not found"},
        BadYaml{"- a\n- b\n", "bad.yaml: (top level): must be a mapping"}));

TEST(ConfigTest, EnforcementSectionWithBackends) {
  Config c;
  std::string err;
  ASSERT_TRUE(LoadYamlString(R"(
enforcement:
  enabled: true
  dry-run: true
  allowlist: [192.0.2.1, 2001:db8::/32]
  allow-internal: true
  max-active: 50
  rate-per-minute: 10
  burst: 5
  default-ttl: 600
  max-ttl: 3600
  refresh-interval: 30
  state-file: /var/lib/flowsentry/blocks.json
  nftables: {family: ip, command: "ssh fw nft -f -", chain-priority: -20}
  bgp: {socket: /run/fs/bgp.sock, communities: ["65535:666", "64512:1"]}
  webhook: {url: "https://soar.example/h", secret-file: /etc/fs/secret}
  nic: {port: 1}
)",
                             "t.yaml", &c, &err))
      << err;
  const auto& e = c.enforcement;
  EXPECT_TRUE(e.enabled);
  EXPECT_TRUE(e.dry_run);
  ASSERT_EQ(e.allowlist.size(), 2u);
  EXPECT_EQ(e.allowlist[0].ToString(), "192.0.2.1");
  EXPECT_EQ(e.allowlist[1].ToString(), "2001:db8::/32");
  EXPECT_TRUE(e.allow_internal);
  EXPECT_EQ(e.max_active, 50u);
  EXPECT_EQ(e.rate_per_minute, 10u);
  EXPECT_EQ(e.burst, 5u);
  EXPECT_EQ(e.default_ttl, 600u);
  EXPECT_EQ(e.max_ttl, 3600u);
  EXPECT_EQ(e.refresh_interval, 30u);
  EXPECT_EQ(e.state_file, "/var/lib/flowsentry/blocks.json");
  EXPECT_TRUE(e.nftables.present);
  EXPECT_EQ(e.nftables.family, "ip");
  EXPECT_EQ(e.nftables.command, "ssh fw nft -f -");
  EXPECT_EQ(e.nftables.chain_priority, -20);
  EXPECT_EQ(e.nftables.table, "flowsentry");  // default kept
  EXPECT_TRUE(e.bgp.present);
  EXPECT_EQ(e.bgp.communities, (std::vector<std::string>{"65535:666", "64512:1"}));
  EXPECT_TRUE(e.webhook.present);
  EXPECT_EQ(e.webhook.secret_file, "/etc/fs/secret");
  EXPECT_TRUE(e.nic.present);
  EXPECT_EQ(e.nic.port, 1u);

  // Cross-field checks happen in Validate.
  Config bad;
  bad.pcaps = {"x.pcap"};
  bad.enforcement.default_ttl = 7200;
  bad.enforcement.max_ttl = 3600;
  EXPECT_FALSE(Validate(bad, &err));
  EXPECT_EQ(err, "enforcement.default-ttl: 7200 s is more than enforcement.max-ttl (3600 s)");
}

TEST(ConfigTest, IndicatorListsAreReadWithPathsRelativeToTheFile) {
  Config c;
  std::string err;
  ASSERT_TRUE(LoadYamlString(R"(
indicators:
  - {name: bad-ips, type: ip, file: /etc/lists/bad.txt, msg: "known bad", sid: 9100001, severity: 2}
)",
                             "t.yaml", &c, &err))
      << err;
  ASSERT_EQ(c.indicators.size(), 1u);
  EXPECT_EQ(c.indicators[0].name, "bad-ips");
  EXPECT_EQ(c.indicators[0].sid, 9100001u);
  EXPECT_EQ(c.indicators[0].file, "/etc/lists/bad.txt");
  EXPECT_FALSE(LoadYamlString(
      "indicators:\n  - {name: x, type: ip, file: f, msg: m, severity: 2}\n", "t.yaml", &c, &err));
  EXPECT_EQ(err, "t.yaml: indicators[0].sid: missing");
}

// The operator API section: values applied, token file relative to the config file, and every
// refusal naming its key.
TEST(ConfigTest, ApiSection) {
  Config c;
  std::string err;
  ASSERT_TRUE(LoadYamlString("api: {listen: \"0.0.0.0:9999\", token-file: /etc/fs/token}\n",
                             "t.yaml", &c, &err))
      << err;
  EXPECT_EQ(c.api_listen, "0.0.0.0:9999");
  EXPECT_EQ(c.api_token_file, "/etc/fs/token");
  ASSERT_TRUE(LoadYamlString("api: {listen: \"\"}\n", "t.yaml", &c, &err)) << err;
  EXPECT_EQ(c.api_listen, "");

  struct Case {
    const char* yaml;
    const char* error;
  };
  for (const Case& t : {
           Case{"api: {port: 1}\n",
                "t.yaml: api.port: unknown key (known here: listen, token-file)"},
           Case{"api: {listen: [a]}\n", "t.yaml: api.listen: must be a string"},
           Case{"api: 3\n", "t.yaml: api: must be a mapping"},
       }) {
    Config bad;
    EXPECT_FALSE(LoadYamlString(t.yaml, "t.yaml", &bad, &err)) << t.yaml;
    EXPECT_EQ(err, t.error);
  }
}

TEST(ConfigTest, ApiValidation) {
  const std::string dir = ::testing::TempDir();
  const std::string empty = dir + "/fs_config_empty_token";
  const std::string good = dir + "/fs_config_good_token";
  { std::ofstream(empty).flush(); }
  { std::ofstream(good) << "s3cret\n"; }
  struct Case {
    std::string listen, token_file;
    const char* error_part;  // nullptr: valid
  };
  for (const Case& t : {
           Case{"127.0.0.1:9581", "", nullptr},
           Case{"", "", nullptr},
           Case{"127.0.0.1:0", "", "api.listen"},
           Case{"localhost", "", "api.listen"},
           Case{"127.0.0.1:99999999999999999999999", "", "api.listen"},
           Case{"127.0.0.1:9581", good, nullptr},
           Case{"127.0.0.1:9581", empty, "api.token-file"},
           Case{"127.0.0.1:9581", dir + "/fs_config_no_such_token", "api.token-file"},
       }) {
    Config c;
    c.pcaps = {"a.pcap"};
    c.api_listen = t.listen;
    c.api_token_file = t.token_file;
    std::string err;
    if (t.error_part == nullptr) {
      EXPECT_TRUE(Validate(c, &err)) << t.listen << " " << t.token_file << ": " << err;
    } else {
      EXPECT_FALSE(Validate(c, &err)) << t.listen << " " << t.token_file;
      EXPECT_NE(err.find(t.error_part), std::string::npos) << err;
    }
  }
}

TEST(ConfigTest, ValidateCrossChecks) {
  std::string err;
  Config c;
  EXPECT_FALSE(Validate(c, &err));
  EXPECT_NE(err.find("no input"), std::string::npos);
  c.pcaps = {"a.pcap"};
  c.ifaces = {"eth1"};
  EXPECT_FALSE(Validate(c, &err));
  EXPECT_NE(err.find("cannot be mixed"), std::string::npos);
  c.ifaces.clear();
  c.metrics_listen = "localhost";
  EXPECT_FALSE(Validate(c, &err));
  EXPECT_NE(err.find("metrics-listen"), std::string::npos);
  c.metrics_listen = "127.0.0.1:70000";
  EXPECT_FALSE(Validate(c, &err));
  c.metrics_listen = "";
  EXPECT_TRUE(Validate(c, &err)) << err;
  c.log_level = "loud";
  EXPECT_FALSE(Validate(c, &err));
}

}  // namespace
}  // namespace fs::config
