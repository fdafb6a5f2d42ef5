#include "controlplane/config/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>
#include <set>

namespace fs::config {

namespace {

// Walks a YAML mapping, handing each known key to its handler; any other key is an error.
// A path the config file names, made absolute against the file's folder when relative.
std::string RelativeTo(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

class Reader {
 public:
  Reader(std::string origin, std::string* error) : origin_(std::move(origin)), error_(error) {}

  bool Fail(const std::string& key, const std::string& why) {
    *error_ = fmt::format("{}: {}: {}", origin_, key, why);
    return false;
  }

  using Handler = std::function<bool(const std::string& key, const YAML::Node&)>;

  // Handlers for Map() that read one value into *out (the common case of a key).
  Handler U32At(uint32_t lo, uint32_t hi, uint32_t* out) {
    return [this, lo, hi, out](const std::string& k, const YAML::Node& n) {
      return U32(k, n, lo, hi, out);
    };
  }
  Handler I32At(int lo, int hi, int* out) {
    return [this, lo, hi, out](const std::string& k, const YAML::Node& n) {
      return I32(k, n, lo, hi, out);
    };
  }
  Handler U32Or0At(uint32_t lo, uint32_t hi, uint32_t* out) {
    return [this, lo, hi, out](const std::string& k, const YAML::Node& n) {
      return U32Or0(k, n, lo, hi, out);
    };
  }
  Handler BoolAt(bool* out) {
    return [this, out](const std::string& k, const YAML::Node& n) { return Bool(k, n, out); };
  }
  Handler StrAt(std::string* out) {
    return [this, out](const std::string& k, const YAML::Node& n) { return Str(k, n, out); };
  }
  // A file path; relative paths are made absolute against base_dir (the config file's folder).
  Handler PathAt(const std::string& base_dir, std::string* out) {
    return [this, base_dir, out](const std::string& k, const YAML::Node& n) {
      if (!Str(k, n, out)) return false;
      *out = RelativeTo(base_dir, *out);
      return true;
    };
  }
  Handler StrListAt(std::vector<std::string>* out) {
    return [this, out](const std::string& k, const YAML::Node& n) { return StrList(k, n, out); };
  }
  bool Map(const std::string& prefix, const YAML::Node& node,
           const std::map<std::string, Handler>& handlers) {
    if (!node.IsMap()) return Fail(prefix.empty() ? "(top level)" : prefix, "must be a mapping");
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      const std::string full = prefix.empty() ? key : prefix + "." + key;
      auto it = handlers.find(key);
      if (it == handlers.end()) {
        std::string known;
        for (const auto& h : handlers) known += (known.empty() ? "" : ", ") + h.first;
        return Fail(full, fmt::format("unknown key (known here: {})", known));
      }
      if (!it->second(full, kv.second)) return false;
    }
    return true;
  }

  // A whole number in [lo, hi].
  bool Integer(const std::string& key, const YAML::Node& n, long long lo, long long hi,
               long long* out) {
    if (!n.IsScalar()) return Fail(key, "must be a number");
    try {
      *out = n.as<long long>();
    } catch (const YAML::Exception&) {
      return Fail(key, fmt::format("must be a whole number, got '{}'", n.Scalar()));
    }
    if (*out < lo || *out > hi) {
      return Fail(key, fmt::format("must be between {} and {}, got {}", lo, hi, *out));
    }
    return true;
  }

  bool U32(const std::string& key, const YAML::Node& n, uint32_t lo, uint32_t hi, uint32_t* out) {
    long long v = 0;
    if (!Integer(key, n, lo, hi, &v)) return false;
    *out = static_cast<uint32_t>(v);
    return true;
  }

  bool I32(const std::string& key, const YAML::Node& n, int lo, int hi, int* out) {
    long long v = 0;
    if (!Integer(key, n, lo, hi, &v)) return false;
    *out = static_cast<int>(v);
    return true;
  }

  // A list of addresses / CIDR blocks (an indicator-list entry each).
  bool PrefixList(const std::string& key, const YAML::Node& n,
                  std::vector<patterns::IpPrefix>* out) {
    std::vector<std::string> texts;
    if (!StrList(key, n, &texts)) return false;
    out->clear();
    for (size_t i = 0; i < texts.size(); ++i) {
      patterns::IpPrefix p;
      std::string why;
      if (!patterns::ParseExactPrefix(texts[i], &p, &why)) {
        return Fail(fmt::format("{}[{}]", key, i), why);
      }
      out->push_back(p);
    }
    return true;
  }

  // 0 (meaning "computed") or a value in [lo, hi].
  bool U32Or0(const std::string& key, const YAML::Node& n, uint32_t lo, uint32_t hi,
              uint32_t* out) {
    if (n.IsScalar() && n.Scalar() == "0") {
      *out = 0;
      return true;
    }
    if (!U32(key, n, lo, hi, out)) {
      *error_ += " (or 0 to compute it)";
      return false;
    }
    return true;
  }

  bool Str(const std::string& key, const YAML::Node& n, std::string* out) {
    if (!n.IsScalar()) return Fail(key, "must be a string");
    *out = n.Scalar();
    return true;
  }

  bool Bool(const std::string& key, const YAML::Node& n, bool* out) {
    if (!n.IsScalar()) return Fail(key, "must be true or false");
    try {
      *out = n.as<bool>();
    } catch (const YAML::Exception&) {
      return Fail(key, fmt::format("must be true or false, got '{}'", n.Scalar()));
    }
    return true;
  }

  // A string or a list of strings.
  bool StrList(const std::string& key, const YAML::Node& n, std::vector<std::string>* out) {
    out->clear();
    if (n.IsScalar()) {
      out->push_back(n.Scalar());
      return true;
    }
    if (!n.IsSequence()) return Fail(key, "must be a string or a list of strings");
    for (const auto& e : n) {
      if (!e.IsScalar()) return Fail(key, "must be a list of strings");
      out->push_back(e.Scalar());
    }
    return true;
  }

  bool StrMap(const std::string& key, const YAML::Node& n,
              std::map<std::string, std::string>* out) {
    if (!n.IsMap()) return Fail(key, "must be a mapping of NAME: value");
    for (const auto& kv : n) {
      if (!kv.second.IsScalar())
        return Fail(key + "." + kv.first.as<std::string>(), "must be a string");
      (*out)[kv.first.as<std::string>()] = kv.second.Scalar();
    }
    return true;
  }

 private:
  std::string origin_;
  std::string* error_;
};

bool Apply(const YAML::Node& root, const std::string& origin, const std::string& base_dir,
           Config* c, std::string* error) {
  Reader r(origin, error);
  if (!root || root.IsNull()) return true;  // empty file: defaults
  using H = Reader::Handler;
  auto timeouts = [&](uint32_t* n, uint32_t* e, uint32_t* cl) -> H {
    return [&r, n, e, cl](const std::string& k, const YAML::Node& v) {
      std::map<std::string, H> h = {
          {"new", [&r, n](const std::string& kk,
                          const YAML::Node& vv) { return r.U32(kk, vv, 1, 86400, n); }},
          {"established", [&r, e](const std::string& kk,
                                  const YAML::Node& vv) { return r.U32(kk, vv, 1, 86400, e); }},
      };
      if (cl != nullptr) {
        h["closed"] = [&r, cl](const std::string& kk, const YAML::Node& vv) {
          return r.U32(kk, vv, 0, 86400, cl);
        };
      }
      return r.Map(k, v, h);
    };
  };
  FlowTimeouts& t = c->timeouts;
  std::map<std::string, H> top = {
      {"inputs",
       [&](const std::string& k, const YAML::Node& v) {
         return r.Map(k, v,
                      {{"pcap", r.StrListAt(&c->pcaps)},
                       {"iface", r.StrListAt(&c->ifaces)},
                       {"port", r.StrListAt(&c->ports)},
                       {"replay-forever", r.BoolAt(&c->replay_forever)},
                       {"pcap-reader",
                        [&r, c](const std::string& kk, const YAML::Node& vv) {
                          if (!r.Str(kk, vv, &c->pcap_reader)) return false;
                          if (c->pcap_reader != "buffered" && c->pcap_reader != "pmd") {
                            return r.Fail(kk, fmt::format("must be buffered or pmd, got '{}'",
                                                          c->pcap_reader));
                          }
                          return true;
                        }}});
       }},
      // Files the config names are relative to its folder (like indicator lists and the token).
      {"rules",
       [&](const std::string& k, const YAML::Node& v) {
         if (!r.StrList(k, v, &c->rules)) return false;
         for (auto& path : c->rules) path = RelativeTo(base_dir, path);
         return true;
       }},
      {"classification-file", r.PathAt(base_dir, &c->classification)},
      {"vars",
       [&](const std::string& k, const YAML::Node& v) {
         return r.Map(k, v,
                      {{"address-groups",
                        [&](const std::string& kk, const YAML::Node& vv) {
                          return r.StrMap(kk, vv, &c->address_groups);
                        }},
                       {"port-groups", [&](const std::string& kk, const YAML::Node& vv) {
                          return r.StrMap(kk, vv, &c->port_groups);
                        }}});
       }},
      {"workers", r.U32At(1, 64, &c->workers)},
      {"flow",
       [&](const std::string& k, const YAML::Node& v) {
         return r.Map(k, v,
                      {{"capacity", r.U32At(1024, 1u << 26, &c->flow_capacity)},
                       {"timeouts", [&](const std::string& kk, const YAML::Node& vv) {
                          return r.Map(
                              kk, vv,
                              {{"tcp", timeouts(&t.tcp_new, &t.tcp_established, &t.tcp_closed)},
                               {"udp", timeouts(&t.udp_new, &t.udp_established, nullptr)},
                               {"icmp", timeouts(&t.icmp_new, &t.icmp_established, nullptr)},
                               {"other", timeouts(&t.other_new, &t.other_established, nullptr)}});
                        }}});
       }},
      {"stream",
       [&](const std::string& k, const YAML::Node& v) {
         return r.Map(k, v,
                      {{"enabled", r.BoolAt(&c->stream_enabled)},
                       {"depth", r.U32At(0, 1u << 30, &c->stream_depth)},
                       {"midstream", r.BoolAt(&c->stream_midstream)},
                       {"max-ooo-segments", r.U32At(1, 65535, &c->stream_ooo_segments)},
                       {"segment-memory-mb", r.U32At(1, 1u << 16, &c->stream_memory_mb)},
                       {"contexts", r.U32Or0At(1, 1u << 26, &c->stream_contexts)},
                       {"prealloc", r.U32At(0, 1u << 26, &c->stream_prealloc)},
                       {"bypass", r.BoolAt(&c->stream_bypass)}});
       }},
      {"app-layer",
       [&](const std::string& k, const YAML::Node& v) {
         return r.Map(
             k, v,
             {{"enabled", r.BoolAt(&c->app_enabled)},
              {"max-sessions", r.U32At(1, 1u << 20, &c->app_max_sessions)},
              {"prealloc", r.U32At(0, 1u << 20, &c->app_prealloc)},
              {"http",
               [&](const std::string& kk, const YAML::Node& vv) {
                 return r.Map(kk, vv,
                              {{"body-limit", r.U32At(0, 1u << 30, &c->http_body_limit)},
                               {"decompress", r.BoolAt(&c->http_decompress)}});
               }},
              {"smb",
               [&](const std::string& kk, const YAML::Node& vv) {
                 return r.Map(kk, vv, {{"retain-kb", r.U32At(1, 1024, &c->smb_retain_kb)}});
               }},
              {"tls", [&](const std::string& kk, const YAML::Node& vv) {
                 return r.Map(
                     kk, vv,
                     {{"encryption-handling",
                       [&](const std::string& k3, const YAML::Node& v3) {
                         std::string* out = &c->tls_encryption_handling;
                         if (!r.Str(k3, v3, out)) return false;
                         if (*out != "default" && *out != "full") {
                           return r.Fail(k3, fmt::format("must be default or full, got '{}'", *out));
                         }
                         return true;
                       }}});
               }}});
       }},
      {"bypass-offload",
       [&](const std::string& k, const YAML::Node& v) {
         offload::BypassConfig& b = c->bypass_offload;
         return r.Map(k, v,
                      {{"enabled", r.BoolAt(&b.enabled)},
                       {"max-flows", r.U32At(1, 1u << 24, &b.max_flows)},
                       {"idle-timeout", r.U32At(1, (1u << 24) - 1, &b.idle_timeout_s)},
                       {"max-lifetime", r.U32At(1, 7 * 86400, &b.max_lifetime_s)},
                       {"priority", r.U32At(0, 65535, &b.priority)},
                       {"group", r.U32At(0, 65535, &b.group)}});
       }},
      {"defrag",
       [&](const std::string& k, const YAML::Node& v) {
         auto policy = [&](std::string* out) {
           return [&r, out](const std::string& kk, const YAML::Node& vv) {
             if (!r.Str(kk, vv, out)) return false;
             if (*out != "bsd" && *out != "windows") {
               return r.Fail(kk, fmt::format("must be bsd or windows, got '{}'", *out));
             }
             return true;
           };
         };
         return r.Map(k, v,
                      {{"ipv4-policy", policy(&c->defrag_ipv4_policy)},
                       {"ipv6-policy", policy(&c->defrag_ipv6_policy)},
                       {"max-datagrams", r.U32At(1, 1u << 24, &c->defrag_max_datagrams)},
                       {"memory-kb", r.U32At(64, 1u << 22, &c->defrag_memory_kb)},
                       {"timeout", r.U32At(1, 3600, &c->defrag_timeout)},
                       {"max-fragments", r.U32At(2, 8192, &c->defrag_max_fragments)}});
       }},
      {"dpdk",
       [&](const std::string& k, const YAML::Node& v) {
         return r.Map(k, v,
                      {{"mbufs", r.U32Or0At(1023, 1u << 24, &c->mbufs)},
                       {"ring-size", r.U32At(64, 1u << 20, &c->ring_size)},
                       {"event-ring-size", r.U32At(64, 1u << 22, &c->event_ring_size)},
                       {"eal-args", r.StrListAt(&c->eal_args)}});
       }},
      {"outputs",
       [&](const std::string& k, const YAML::Node& v) {
         return r.Map(k, v,
                      {{"eve", r.StrAt(&c->eve)},
                       {"dns", r.BoolAt(&c->dns_output)},
                       {"http", r.BoolAt(&c->http_output)},
                       {"tls", r.BoolAt(&c->tls_output)},
                       {"smb", r.BoolAt(&c->smb_output)},
                       {"metrics-listen", r.StrAt(&c->metrics_listen)},
                       {"metrics-out", r.StrAt(&c->metrics_out)},
                       {"summary", r.BoolAt(&c->summary)}});
       }},
      {"api",
       [&](const std::string& k, const YAML::Node& v) {
         return r.Map(k, v,
                      {{"listen", r.StrAt(&c->api_listen)},
                       {"token-file", r.PathAt(base_dir, &c->api_token_file)}});
       }},
      {"enforcement",
       [&](const std::string& k, const YAML::Node& v) {
         EnforcementConfig& e = c->enforcement;
         return r.Map(
             k, v,
             {{"enabled", r.BoolAt(&e.enabled)},
              {"dry-run", r.BoolAt(&e.dry_run)},
              {"allowlist",
               [&](const std::string& kk, const YAML::Node& vv) {
                 return r.PrefixList(kk, vv, &e.allowlist);
               }},
              {"allow-internal", r.BoolAt(&e.allow_internal)},
              {"max-active", r.U32At(1, 1000000, &e.max_active)},
              {"rate-per-minute", r.U32At(1, 1000000, &e.rate_per_minute)},
              {"burst", r.U32At(1, 1000000, &e.burst)},
              {"default-ttl", r.U32At(1, 31536000, &e.default_ttl)},
              {"max-ttl", r.U32At(1, 31536000, &e.max_ttl)},
              {"refresh-interval", r.U32At(1, 86400, &e.refresh_interval)},
              {"state-file", r.PathAt(base_dir, &e.state_file)},
              {"nftables",
               [&](const std::string& kk, const YAML::Node& vv) {
                 auto& n = e.nftables;
                 n.present = true;
                 if (vv.IsNull()) return true;
                 return r.Map(kk, vv,
                              {{"family", r.StrAt(&n.family)},
                               {"table", r.StrAt(&n.table)},
                               {"set4", r.StrAt(&n.set4)},
                               {"set6", r.StrAt(&n.set6)},
                               {"create-chains", r.BoolAt(&n.create_chains)},
                               {"chain-priority", r.I32At(-1000, 1000, &n.chain_priority)},
                               {"command", r.StrAt(&n.command)},
                               {"command-timeout", r.I32At(1, 600, &n.command_timeout_s)}});
               }},
              {"bgp",
               [&](const std::string& kk, const YAML::Node& vv) {
                 auto& b = e.bgp;
                 b.present = true;
                 if (vv.IsNull()) return true;
                 return r.Map(
                     kk, vv,
                     {{"socket", r.PathAt(base_dir, &b.socket_path)},
                      {"socket-group", r.StrAt(&b.socket_group)},
                      {"next-hop4", r.StrAt(&b.next_hop4)},
                      {"next-hop6", r.StrAt(&b.next_hop6)},
                      {"communities", r.StrListAt(&b.communities)},
                      {"command-timeout-ms", r.I32At(100, 600000, &b.command_timeout_ms)}});
               }},
              {"webhook",
               [&](const std::string& kk, const YAML::Node& vv) {
                 auto& w = e.webhook;
                 w.present = true;
                 if (!r.Map(kk, vv,
                            {{"url", r.StrAt(&w.url)},
                             {"secret-file", r.PathAt(base_dir, &w.secret_file)},
                             {"ca-file", r.PathAt(base_dir, &w.ca_file)},
                             {"timeout-ms", r.I32At(100, 600000, &w.timeout_ms)}})) {
                   return false;
                 }
                 if (w.url.empty()) return r.Fail(kk + ".url", "missing");
                 return true;
               }},
              {"nic", [&](const std::string& kk, const YAML::Node& vv) {
                 auto& n = e.nic;
                 n.present = true;
                 if (vv.IsNull()) return true;
                 return r.Map(kk, vv,
                              {{"port", r.U32At(0, 1023, &n.port)},
                               {"max-rules", r.U32At(2, 1u << 20, &n.max_rules)}});
               }}});
       }},
      {"log-level", r.StrAt(&c->log_level)},
      {"indicators",
       [&](const std::string& k, const YAML::Node& v) {
         auto lists = patterns::ParseIndicatorsConfig(v, base_dir, k);
         if (!lists.ok()) {
           *error = fmt::format("{}: {}", origin, lists.error().message);
           return false;
         }
         c->indicators = std::move(lists.value());
         return true;
       }},
  };
  return r.Map("", root, top);
}

bool ValidListen(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size()) return false;
  if (s.size() - colon - 1 > 5) return false;  // std::stol would throw on a huge number
  for (size_t i = colon + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  long port = std::stol(s.substr(colon + 1));
  return port > 0 && port < 65536;
}

}  // namespace

bool LoadYamlString(const std::string& text, const std::string& origin, Config* cfg,
                    std::string* error) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    *error = fmt::format("{}:{}:{}: YAML syntax error: {}", origin, e.mark.line + 1,
                         e.mark.column + 1, e.msg);
    return false;
  }
  try {
    return Apply(root, origin, "", cfg, error);
  } catch (const YAML::Exception& e) {
    *error = fmt::format("{}: {}", origin, e.what());
    return false;
  }
}

bool LoadYamlFile(const std::string& path, Config* cfg, std::string* error) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    *error = fmt::format("cannot read config file '{}'", path);
    return false;
  } catch (const YAML::ParserException& e) {
    *error = fmt::format("{}:{}:{}: YAML syntax error: {}", path, e.mark.line + 1,
                         e.mark.column + 1, e.msg);
    return false;
  }
  try {
    return Apply(root, path, std::filesystem::path(path).parent_path().string(), cfg, error);
  } catch (const YAML::Exception& e) {
    *error = fmt::format("{}: {}", path, e.what());
    return false;
  }
}

bool Validate(const Config& c, std::string* error) {
  const size_t inputs = c.pcaps.size() + c.ifaces.size() + c.ports.size();
  if (inputs == 0) {
    *error =
        "no input: give --pcap FILE, --iface NAME or --port PCI_ADDRESS (or inputs: in the config)";
    return false;
  }
  if (!c.pcaps.empty() && (c.ifaces.size() + c.ports.size()) > 0) {
    *error = "inputs: capture files (--pcap) cannot be mixed with live inputs (--iface/--port)";
    return false;
  }
  if (c.workers < 1 || c.workers > 64) {
    *error = fmt::format("workers: must be between 1 and 64, got {}", c.workers);
    return false;
  }
  const EnforcementConfig& e = c.enforcement;
  if (e.default_ttl > e.max_ttl) {
    *error = fmt::format("enforcement.default-ttl: {} s is more than enforcement.max-ttl ({} s)",
                         e.default_ttl, e.max_ttl);
    return false;
  }
  if (e.burst > e.max_active) {
    // Not wrong, but a burst above the cap is the cap: say so rather than surprise.
    *error = fmt::format("enforcement.burst: {} is more than enforcement.max-active ({})", e.burst,
                         e.max_active);
    return false;
  }
  if (!c.metrics_listen.empty() && !ValidListen(c.metrics_listen)) {
    *error = fmt::format("metrics-listen: expected ADDRESS:PORT (e.g. 127.0.0.1:9580), got '{}'",
                         c.metrics_listen);
    return false;
  }
  if (!c.api_listen.empty() && !ValidListen(c.api_listen)) {
    *error = fmt::format("api.listen: expected ADDRESS:PORT (e.g. 127.0.0.1:9581), got '{}'",
                         c.api_listen);
    return false;
  }
  if (!c.api_token_file.empty()) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(c.api_token_file, ec);
    if (ec) {
      *error = fmt::format("api.token-file: cannot read '{}': {}", c.api_token_file, ec.message());
      return false;
    }
    if (size == 0) {
      *error = fmt::format("api.token-file: '{}' is empty; put the token on its first line",
                           c.api_token_file);
      return false;
    }
  }
  static const std::set<std::string> kLevels = {"trace", "debug",    "info", "warning",
                                                "error", "critical", "off"};
  if (!kLevels.count(c.log_level)) {
    *error = fmt::format(
        "log-level: must be one of trace, debug, info, warning, error, critical, off; got '{}'",
        c.log_level);
    return false;
  }
  return true;
}

}  // namespace fs::config
