// The settings of the enforcement backends (docs/enforcement.md), with their defaults in one
// place: the configuration (controlplane/config) reads them straight into these structs and the
// backends take them as they are. Plain values, no dependencies.
#pragma once

#include <string>
#include <vector>

namespace fs::enforce {

struct NftConfig {
  std::string family = "inet";  // inet, ip or ip6 (see the file comment)
  // The sensor's own table; names are [A-Za-z_][A-Za-z0-9_]* (nft's grammar reads a leading
  // digit as a number).
  std::string table = "flowsentry";
  std::string set4 = "blocked4", set6 = "blocked6";  // ipv4_addr / ipv6_addr, interval,timeout
  // Add chains block_forward and block_input in our table (hooks forward and input) that drop
  // traffic from and to the sets; false when the operator references the sets from their own rules.
  bool create_chains = true;
  int chain_priority = -10;  // before the usual filter chains (priority 0)
  // "" = apply locally through libnftables; else a shell command (run with /bin/sh -c) that reads
  // an nft script on stdin, e.g. "ssh fw1 nft -f -" or "ip netns exec rtr nft -f -".
  std::string command;
  int command_timeout_s = 10;  // >= 1
};

struct BgpConfig {
  std::string socket_path = "/run/flowsentry/bgp.sock";  // the bridge connects to it
  std::string socket_group;  // group the socket (0660) is given to, e.g. "exabgp"; "" = ours
  std::string next_hop4 = "192.0.2.1";  // discard next hops the routers route to null (RFC 6666
  std::string next_hop6 = "100::1";     // for IPv6; TEST-NET-1 by convention for IPv4)
  std::vector<std::string> communities = {"65535:666"};  // BLACKHOLE (RFC 7999) first
  int command_timeout_ms = 5000;  // how long ExaBGP may take to ack one command
};

struct WebhookConfig {
  std::string url;          // http://host:port/path or https://...
  std::string secret;       // HMAC key (the sensor reads it from a secret file); empty = unsigned
  int timeout_ms = 5000;    // applies to connect, read and write separately
  std::string sensor_name;  // included in every event; empty = this host's name
  // https only: PEM file of the CA(s) to trust instead of the system store (a district's
  // internal CA). The server certificate is always verified, host name included.
  std::string ca_file;
};

}  // namespace fs::enforce
