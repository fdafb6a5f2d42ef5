#include "controlplane/output/eve.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <utility>

#include "controlplane/output/json_line.h"
#include "dataplane/app/smb.h"
#include "dataplane/app/tls.h"
#include "patterns/buffers.h"

namespace fs::output {
namespace {

// IANA protocol keywords for the assigned numbers 0..143, spelled as Suricata 7 prints them in
// "proto" (its built-in table, not /etc/protocols). Unassigned numbers print as digits.
// clang-format off
constexpr const char* kProtoNames[] = {
    /*   0 */ "HOPOPT", "ICMP", "IGMP", "GGP", "IP-in-IP", "ST", "TCP", "CBT",
    /*   8 */ "EGP", "IGP", "BBN-RCC-MON", "NVP-II", "PUP", "ARGUS", "EMCON", "XNET",
    /*  16 */ "CHAOS", "UDP", "MUX", "DCN-MEAS", "HMP", "PRM", "XNS-IDP", "TRUNK-1",
    /*  24 */ "TRUNK-2", "LEAF-1", "LEAF-2", "RDP", "IRTP", "ISO-TP4", "NETBLT", "MFE-NSP",
    /*  32 */ "MERIT-INP", "DCCP", "3PC", "IDPR", "XTP", "DDP", "IDPR-CMTP", "TP++",
    /*  40 */ "IL", "IPv6", "SDRP", "IPv6-Route", "IPv6-Frag", "IDRP", "RSVP", "GRE",
    /*  48 */ "DSR", "BNA", "ESP", "AH", "I-NLSP", "SwIPe", "NARP", "MOBILE",
    /*  56 */ "TLSP", "SKIP", "IPv6-ICMP", "IPv6-NoNxt", "IPv6-Opts", "Any", "CFTP", "Any",
    /*  64 */ "SAT-EXPAK", "KRYPTOLAN", "RVD", "IPPC", "Any", "SAT-MON", "VISA", "IPCU",
    /*  72 */ "CPNX", "CPHB", "WSN", "PVP", "BR-SAT-MON", "SUN-ND", "WB-MON", "WB-EXPAK",
    /*  80 */ "ISO-IP", "VMTP", "SECURE-VMTP", "VINES", "TTP", "NSFNET-IGP", "DGP", "TCF",
    /*  88 */ "EIGRP", "OSPF", "Sprite-RPC", "LARP", "MTP", "AX.25", "OS", "MICP",
    /*  96 */ "SCC-SP", "ETHERIP", "ENCAP", "Any", "GMTP", "IFMP", "PNNI", "PIM",
    /* 104 */ "ARIS", "SCPS", "QNX", "A/N", "IPComp", "SNP", "Compaq-Peer", "IPX-in-IP",
    /* 112 */ "VRRP", "PGM", "Any", "L2TP", "DDX", "IATP", "STP", "SRP",
    /* 120 */ "UTI", "SMP", "SM", "PTP", "IS-IS", "FIRE", "CRTP", "CRUDP",
    /* 128 */ "SSCOPMCE", "IPLT", "SPS", "PIPE", "SCTP", "FC", "RSVP-E2E-IGNORE", "Mobility",
    /* 136 */ "UDPLite", "MPLS-in-IP", "manet", "HIP", "Shim6", "WESP", "ROHC", "Ethernet",
};
// clang-format on
static_assert(std::size(kProtoNames) == 144);

// Suricata logs ports only for the protocols that have them (JsonAddrInfoInit).
bool HasPorts(uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

// A record's text: records are written field by field in Suricata's order (JsonLine), not built
// as a DOM and dumped.
std::string NewRecord() {
  std::string s;
  s.reserve(512);
  return s;
}

void AddVlan(JsonLine& j, const uint16_t (&vlan)[decode::kMaxVlans]) {
  // The snapshot has no tag count: an id of 0 reads as "no tag" (a priority-tagged frame, VLAN
  // 0, therefore prints no array, where Suricata would print [0]).
  if (vlan[0] == 0) return;
  j.BeginArray("vlan");
  for (uint16_t v : vlan) {
    if (v == 0) break;
    j.UIntItem(v);
  }
  j.EndArray();
}

std::string Hex2(uint8_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string{kHex[v >> 4], kHex[v & 0xf]};
}

// Suricata's "app_proto" on flow and alert records, when a protocol was detected.
void AddAppProto(JsonLine& j, uint8_t app_proto) {
  if (app_proto == 0 || app_proto >= patterns::kAppProtoCount) return;
  j.Str("app_proto", patterns::AppProtoName(static_cast<patterns::AppProto>(app_proto)));
}

void AddFlowCounters(JsonLine& j, const worker::FlowSnapshot& f) {
  j.UInt("pkts_toserver", f.pkts[0]);
  j.UInt("pkts_toclient", f.pkts[1]);
  j.UInt("bytes_toserver", f.bytes[0]);
  j.UInt("bytes_toclient", f.bytes[1]);
  j.Str("start", FormatTimestamp(f.first_ts_us));
}

}  // namespace

std::string FormatTimestamp(uint64_t ts_us) {
  // Records come in bursts from the same second: the date and time part is kept per thread and
  // made again (gmtime_r, snprintf) only when the second changes; the microseconds are written
  // digit by digit. (The formatting was a sixth of the EVE writer's time on DNS-heavy captures.)
  struct Second {
    uint64_t secs = UINT64_MAX;
    char text[32] = {};
    size_t len = 0;
    bool ok = false;
  };
  thread_local Second cached;
  const uint64_t secs = ts_us / 1000000;
  if (secs != cached.secs) {
    cached.secs = secs;
    const auto t = static_cast<time_t>(secs);
    struct tm tm;
    cached.ok = gmtime_r(&t, &tm) != nullptr;
    if (cached.ok) {
      const int n = std::snprintf(cached.text, sizeof(cached.text), "%04d-%02d-%02dT%02d:%02d:%02d.",
                                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                  tm.tm_min, tm.tm_sec);
      cached.ok = n > 0 && static_cast<size_t>(n) < sizeof(cached.text);
      cached.len = cached.ok ? static_cast<size_t>(n) : 0;
    }
  }
  if (!cached.ok) return "ts-error";
  std::string out(cached.text, cached.len);
  auto usecs = static_cast<unsigned>(ts_us % 1000000);
  char digits[6];
  for (int i = 5; i >= 0; --i, usecs /= 10) digits[i] = static_cast<char>('0' + usecs % 10);
  out.append(digits, 6);
  out += "+0000";
  return out;
}

std::string ProtoName(uint8_t proto) {
  if (proto < std::size(kProtoNames)) return kProtoNames[proto];
  return std::to_string(proto);
}

std::string FormatAlert(const worker::AlertEvent& ev, const RuleInfo& rule) {
  const worker::FlowSnapshot& f = ev.flow;
  const bool has_flow = f.flow_id != 0;
  const bool ports = HasPorts(f.proto);
  const std::string src_ip = ev.src.ToEveString();
  const std::string dest_ip = ev.dst.ToEveString();

  std::string out = NewRecord();
  JsonLine j(&out);
  j.Str("timestamp", FormatTimestamp(ev.ts_us));
  if (has_flow) j.UInt("flow_id", f.flow_id);
  j.Str("event_type", "alert");
  AddVlan(j, f.vlan);
  j.Str("src_ip", src_ip);
  if (ports) j.UInt("src_port", ev.sport);
  j.Str("dest_ip", dest_ip);
  if (ports) j.UInt("dest_port", ev.dport);
  j.Str("proto", ProtoName(f.proto));
  j.Str("pkt_src", "wire/pcap");

  j.BeginObject("alert");
  j.Str("action", rule.action);
  j.UInt("gid", rule.gid);
  j.UInt("signature_id", rule.sid);
  j.UInt("rev", rule.rev);
  j.Str("signature", rule.msg);
  j.Str("category", rule.category);
  j.Int("severity", rule.severity);
  if (rule.target != RuleInfo::Target::kNone) {
    // As Suricata's AlertJsonSourceTarget: the packet's addresses, ports for TCP/UDP/SCTP.
    const bool src_is_target = rule.target == RuleInfo::Target::kSrc;
    auto side = [&](const char* key, bool packet_src) {
      j.BeginObject(key);
      j.Str("ip", packet_src ? src_ip : dest_ip);
      if (ports) j.UInt("port", packet_src ? ev.sport : ev.dport);
      j.EndObject();
    };
    side("source", !src_is_target);
    side("target", src_is_target);
  }
  if (!rule.metadata.empty()) {
    // Suricata's layout: {"key": ["value", ...]}, the keys in the order they first appear, each
    // with all its values.
    const auto& md = rule.metadata;
    j.BeginObject("metadata");
    for (size_t i = 0; i < md.size(); ++i) {
      bool seen = false;
      for (size_t k = 0; k < i && !seen; ++k) seen = md[k].first == md[i].first;
      if (seen) continue;
      j.BeginArray(md[i].first);
      for (size_t k = i; k < md.size(); ++k) {
        if (md[k].first == md[i].first) j.StrItem(md[k].second);
      }
      j.EndArray();
    }
    j.EndObject();
  }
  j.EndObject();

  if (has_flow) {
    const bool to_client = ev.dir == flow::Dir::kToClient;
    AddAppProto(j, f.app_proto);
    j.Str("direction", to_client ? "to_client" : "to_server");
    j.BeginObject("flow");
    AddFlowCounters(j, f);
    // Suricata 7 (output-json-alert.c) orients the packet's tuple client -> server and prints
    // the ports only when the packet's source port is non-zero.
    j.Str("src_ip", to_client ? dest_ip : src_ip);
    j.Str("dest_ip", to_client ? src_ip : dest_ip);
    if (ports && ev.sport > 0) {
      j.UInt("src_port", to_client ? ev.dport : ev.sport);
      j.UInt("dest_port", to_client ? ev.sport : ev.dport);
    }
    j.EndObject();
  }
  j.End();
  return out;
}

std::string FormatFlow(const worker::FlowSnapshot& f) {
  const bool ports = HasPorts(f.proto);
  std::string out = NewRecord();
  JsonLine j(&out);
  j.Str("timestamp", FormatTimestamp(f.last_ts_us));
  j.UInt("flow_id", f.flow_id);
  j.Str("event_type", "flow");
  AddVlan(j, f.vlan);
  j.Str("src_ip", f.client_addr.ToEveString());
  if (ports) j.UInt("src_port", f.client_port);
  j.Str("dest_ip", f.server_addr.ToEveString());
  if (ports) j.UInt("dest_port", f.server_port);
  j.Str("proto", ProtoName(f.proto));
  AddAppProto(j, f.app_proto);

  j.BeginObject("flow");
  AddFlowCounters(j, f);
  j.Str("end", FormatTimestamp(f.last_ts_us));
  // Whole seconds between the second marks, as Suricata computes it.
  const uint64_t start_s = f.first_ts_us / 1000000, end_s = f.last_ts_us / 1000000;
  j.UInt("age", end_s > start_s ? end_s - start_s : 0);
  j.Str("state", flow::StateName(f.state));
  j.Str("reason", flow::EndReasonName(f.reason));
  j.Bool("alerted", f.alerted);
  j.EndObject();

  if (f.proto == IPPROTO_TCP) {
    namespace tf = decode::tcpflag;
    const uint8_t all = f.tcp_flags[0] | f.tcp_flags[1];
    j.BeginObject("tcp");
    j.Str("tcp_flags", Hex2(all));
    j.Str("tcp_flags_ts", Hex2(f.tcp_flags[0]));
    j.Str("tcp_flags_tc", Hex2(f.tcp_flags[1]));
    // Only the flags that were seen, in Suricata's order (EveTcpFlags); ECE prints as "ecn".
    static constexpr std::pair<uint8_t, const char*> kFlags[] = {
        {tf::kSyn, "syn"}, {tf::kFin, "fin"}, {tf::kRst, "rst"}, {tf::kPsh, "psh"},
        {tf::kAck, "ack"}, {tf::kUrg, "urg"}, {tf::kEce, "ecn"}, {tf::kCwr, "cwr"}};
    for (const auto& [bit, name] : kFlags) {
      if (all & bit) j.Bool(name, true);
    }
    j.EndObject();
  }
  j.End();
  return out;
}

std::string DnsTypeName(uint16_t type) {
  // Suricata 7's dns_rrtype_string (rust/src/dns/log.rs), spellings included ("NSAPPT",
  // "CDSNKEY", "ND" for MD); the types it does not name (AXFR, CAA, SVCB, ...) print as digits.
  switch (type) {
    // clang-format off
    case 1: return "A";          case 2: return "NS";         case 3: return "ND";
    case 4: return "MF";         case 5: return "CNAME";      case 6: return "SOA";
    case 7: return "MB";         case 8: return "MG";         case 9: return "MR";
    case 10: return "NULL";      case 11: return "WKS";       case 12: return "PTR";
    case 13: return "HINFO";     case 14: return "MINFO";     case 15: return "MX";
    case 16: return "TXT";       case 17: return "RP";        case 18: return "AFSDB";
    case 19: return "X25";       case 20: return "ISDN";      case 21: return "RT";
    case 22: return "NSAP";      case 23: return "NSAPPT";    case 24: return "SIG";
    case 25: return "KEY";       case 26: return "PX";        case 27: return "GPOS";
    case 28: return "AAAA";      case 29: return "LOC";       case 30: return "NXT";
    case 33: return "SRV";       case 34: return "ATMA";      case 35: return "NAPTR";
    case 36: return "KX";        case 37: return "CERT";      case 38: return "A6";
    case 39: return "DNAME";     case 41: return "OPT";       case 42: return "APL";
    case 43: return "DS";        case 44: return "SSHFP";     case 45: return "IPSECKEY";
    case 46: return "RRSIG";     case 47: return "NSEC";      case 48: return "DNSKEY";
    case 49: return "DHCID";     case 50: return "NSEC3";     case 51: return "NSEC3PARAM";
    case 52: return "TLSA";      case 55: return "HIP";       case 59: return "CDS";
    case 60: return "CDSNKEY";   case 65: return "HTTPS";     case 99: return "SPF";
    case 249: return "TKEY";     case 250: return "TSIG";     case 254: return "MAILA";
    case 255: return "ANY";      case 256: return "URI";
    // clang-format on
    default:
      return std::to_string(type);
  }
}

std::string DnsRcodeName(uint8_t rcode) {
  static constexpr const char* kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                           "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                           "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rcode < std::size(kNames)) return kNames[rcode];
  return std::to_string(rcode);
}

namespace {

// Bytes as Suricata's JSON builder prints them (set_string_from_bytes): ASCII as is (JSON escapes
// the control characters), every byte from 0x80 as the four characters \xNN.
std::string SuricataBytes(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (const char ch : in) {
    const auto b = static_cast<uint8_t>(ch);
    if (b < 0x80) {
      out.push_back(ch);
    } else {
      out += "\\x";
      out += Hex2(b);
    }
  }
  return out;
}

// The header every app record shares (src = the flow's client, as Suricata prints them).
void AppHeader(JsonLine& j, uint64_t ts_us, const worker::FlowSnapshot& f, const char* type) {
  j.Str("timestamp", FormatTimestamp(ts_us));
  j.UInt("flow_id", f.flow_id);
  j.Str("event_type", type);
  AddVlan(j, f.vlan);
  j.Str("src_ip", f.client_addr.ToEveString());
  j.UInt("src_port", f.client_port);
  j.Str("dest_ip", f.server_addr.ToEveString());
  j.UInt("dest_port", f.server_port);
  j.Str("proto", ProtoName(f.proto));
  j.Str("pkt_src", "wire/pcap");
}

}  // namespace

std::vector<std::string> FormatDns(const worker::DnsRecordEvent& ev) {
  const worker::FlowSnapshot& f = ev.flow;
  const uint16_t flags = ev.raw_flags;
  const uint8_t opcode = (flags >> 11) & 0xf;
  std::vector<std::string> out;
  // Every record: the header, then "dns": {"version": 2, "type", "id", ...
  auto begin = [&](JsonLine& j, const char* type) {
    AppHeader(j, ev.ts_us, f, "dns");
    j.BeginObject("dns");
    j.UInt("version", 2);
    j.Str("type", type);
    j.UInt("id", ev.id);
  };
  if (!ev.response) {
    // Suricata 7 logs one "query" record per question of a request.
    out.reserve(ev.query_count);
    for (uint8_t i = 0; i < ev.query_count; ++i) {
      std::string line = NewRecord();
      JsonLine j(&line);
      begin(j, "query");
      j.Str("rrname", SuricataBytes(ev.Name(ev.queries[i].name)));
      j.Str("rrtype", DnsTypeName(ev.queries[i].type));
      j.UInt("tx_id", ev.tx_id);
      if (flags & 0x0040) j.Bool("z", true);
      j.UInt("opcode", opcode);
      j.EndObject();
      j.End();
      out.push_back(std::move(line));
    }
    return out;
  }
  std::string line = NewRecord();
  JsonLine j(&line);
  begin(j, "answer");
  char hex[8];
  std::snprintf(hex, sizeof(hex), "%x", flags);
  j.Str("flags", hex);
  static constexpr std::pair<uint16_t, const char*> kBits[] = {{0x8000, "qr"}, {0x0400, "aa"},
                                                               {0x0200, "tc"}, {0x0100, "rd"},
                                                               {0x0080, "ra"}, {0x0040, "z"}};
  for (const auto& [bit, name] : kBits) {
    if (flags & bit) j.Bool(name, true);
  }
  j.UInt("opcode", opcode);
  if (ev.query_count > 0) {
    j.Str("rrname", SuricataBytes(ev.Name(ev.queries[0].name)));
    j.Str("rrtype", DnsTypeName(ev.queries[0].type));
  }
  j.Str("rcode", DnsRcodeName(flags & 0xf));
  if (ev.answer_count > 0) {
    j.BeginArray("answers");
    for (uint8_t i = 0; i < ev.answer_count; ++i) {
      const worker::DnsRecordEvent::Answer& a = ev.answers[i];
      j.BeginObjectItem();
      j.Str("rrname", SuricataBytes(ev.Name(a.name)));
      j.Str("rrtype", DnsTypeName(a.type));
      j.UInt("ttl", a.ttl);
      if (a.rdata_kind == 1) j.Str("rdata", a.addr.ToEveString());
      if (a.rdata_kind == 2 || a.rdata_kind == 3) j.Str("rdata", SuricataBytes(ev.Name(a.target)));
      j.EndObject();
    }
    j.EndArray();
  }
  j.EndObject();
  j.End();
  out.push_back(std::move(line));
  return out;
}

std::string TlsVersionString(uint16_t version) { return app::TlsVersionName(version); }

std::string FormatTls(const worker::TlsRecordEvent& ev) {
  std::string out = NewRecord();
  JsonLine j(&out);
  AppHeader(j, ev.ts_us, ev.flow, "tls");
  j.BeginObject("tls");
  auto str = [&](const char* key, const worker::TlsRecordEvent::Ref& r) {
    if (r.len > 0) j.Str(key, ev.Get(r));
  };
  str("subject", ev.subject);
  str("issuerdn", ev.issuer);
  str("serial", ev.serial);
  str("fingerprint", ev.fingerprint);
  str("sni", ev.sni);
  j.Str("version", TlsVersionString(ev.version));
  str("notbefore", ev.not_before);
  str("notafter", ev.not_after);
  if (ev.ja3_hash.len > 0 || ev.ja3.len > 0) {
    j.BeginObject("ja3");
    str("hash", ev.ja3_hash);
    str("string", ev.ja3);
    j.EndObject();
  }
  if (ev.ja3s_hash.len > 0 || ev.ja3s.len > 0) {
    j.BeginObject("ja3s");
    str("hash", ev.ja3s_hash);
    str("string", ev.ja3s);
    j.EndObject();
  }
  j.EndObject();
  j.End();
  return out;
}

namespace {

const char* SmbDisposition(uint32_t d) {
  static constexpr const char* kNames[] = {"FILE_SUPERSEDE", "FILE_OPEN",      "FILE_CREATE",
                                           "FILE_OPEN_IF",   "FILE_OVERWRITE", "FILE_OVERWRITE_IF"};
  return d < std::size(kNames) ? kNames[d] : "UNKNOWN";
}

const char* DcerpcTypeName(uint8_t t) {
  switch (t) {
    case 0:
      return "REQUEST";
    case 2:
      return "RESPONSE";
    case 11:
      return "BIND";
    case 12:
      return "BINDACK";
    case 14:
      return "ALTER_CONTEXT";
    case 15:
      return "ALTER_CONTEXT_RESP";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

std::string FormatSmb(const worker::SmbRecordEvent& ev) {
  std::string out = NewRecord();
  JsonLine j(&out);
  AppHeader(j, ev.ts_us, ev.flow, "smb");
  j.BeginObject("smb");
  auto str = [&](const char* key, const worker::SmbRecordEvent::Ref& r) {
    j.Str(key, ev.Get(r));
  };
  j.UInt("id", ev.id);
  const char* dialect = app::SmbDialectName(ev.dialect);
  j.Str("dialect", dialect != nullptr ? dialect : "unknown");
  j.Str("command", app::SmbCommandName(ev.version, ev.command));
  if (ev.response) {
    const char* status = app::SmbStatusName(ev.status);
    j.Str("status", status != nullptr ? std::string(status) : std::to_string(ev.status));
    j.Str("status_code", fmt::format("0x{:x}", ev.status));
  }
  j.UInt("session_id", ev.session_id);
  j.UInt("tree_id", ev.tree_id);
  if (ev.user.len > 0 || ev.domain.len > 0 || ev.host.len > 0) {
    j.BeginObject("ntlmssp");
    str("domain", ev.domain);
    str("user", ev.user);
    str("host", ev.host);
    j.EndObject();
  }
  const bool smb2 = ev.version == 2;
  const bool tree_connect = smb2 ? ev.command == 0x03 : ev.command == app::kSmb1TreeConnectAndx;
  if (ev.is_dcerpc) {
    j.BeginObject("dcerpc");
    j.Str("request", DcerpcTypeName(ev.dcerpc_ptype));
    if (ev.dcerpc_ptype == 0 && ev.dcerpc_opnum >= 0) j.Int("opnum", ev.dcerpc_opnum);
    if (ev.interface_count > 0) {
      j.BeginArray("interfaces");
      for (uint8_t i = 0; i < ev.interface_count; ++i) {
        j.BeginObjectItem();
        str("uuid", ev.interfaces[i]);
        j.Str("version", fmt::format("{}.0", ev.interface_versions[i]));
        j.EndObject();
      }
      j.EndArray();
    } else if (ev.dcerpc_interface.len > 0) {
      j.BeginArray("interfaces");
      j.BeginObjectItem();
      str("uuid", ev.dcerpc_interface);
      j.EndObject();
      j.EndArray();
    }
    j.UInt("call_id", ev.dcerpc_call_id);
    j.EndObject();
  } else if (ev.is_rename) {
    if (smb2) {
      j.BeginObject("set_info");
      j.Str("class", "FILE_INFO");
      j.Str("info_level", "SMB2_FILE_RENAME_INFO");
      j.EndObject();
    }
    j.BeginObject("rename");
    str("from", ev.rename_from);
    str("to", ev.rename_to);
    j.EndObject();
  } else if (ev.is_create) {
    if (ev.filename.len > 0) {
      str("filename", ev.filename);
    } else {
      j.Str("filename", "<share_root>");
    }
    j.Str("disposition", SmbDisposition(ev.disposition));
    j.Str("access", ev.is_delete ? "delete on close" : "normal");
  } else if (tree_connect) {
    str(ev.share_type == 2 || (ev.share_type == 0 && ev.is_pipe) ? "named_pipe" : "share",
        ev.share);
    if (smb2 && ev.response) {
      static constexpr const char* kTypes[] = {"UNKNOWN", "FILE", "PIPE", "PRINT"};
      j.Str("share_type", ev.share_type < 4 ? kTypes[ev.share_type] : "UNKNOWN");
    }
  } else if (ev.is_disposition && ev.filename.len > 0) {
    // SET_INFO of the delete disposition: Suricata names the file and says whether it is deleted
    // (its SETFILEPATHINFO record). Other SET_INFO classes, CLOSE, IOCTL, LOGOFF, ... name
    // nothing in Suricata's records.
    str("filename", ev.filename);
    j.Str("access", ev.is_delete ? "delete on close" : "normal");
  }
  j.EndObject();
  j.End();
  return out;
}

std::string FormatHttp(const worker::HttpRecordEvent& ev) {
  const worker::FlowSnapshot& f = ev.flow;
  std::string out = NewRecord();
  JsonLine j(&out);
  AppHeader(j, ev.ts_us, f, "http");
  j.UInt("tx_id", ev.tx_id);
  j.BeginObject("http");
  auto str = [&](const char* key, const worker::HttpRecordEvent::Ref& r) {
    if (r.len > 0) j.Str(key, SuricataBytes(ev.Get(r)));
  };
  str("hostname", ev.hostname);
  if (ev.http_port != 0) j.UInt("http_port", ev.http_port);
  str("url", ev.url);
  str("http_user_agent", ev.user_agent);
  str("http_content_type", ev.content_type);
  str("http_refer", ev.referer);
  str("http_method", ev.method);
  str("protocol", ev.protocol);
  if (ev.has_response && ev.status != 0) j.UInt("status", ev.status);
  str("redirect", ev.redirect);
  j.UInt("length", ev.length);
  j.EndObject();
  j.End();
  return out;
}

// ---------------------------------------------------------------------------------------------
// EveFile

namespace {

int OpenAppend(const std::string& path, std::string* error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0 && error != nullptr) {
    *error = "cannot open EVE log '" + path + "' for appending: " + std::strerror(errno);
  }
  return fd;
}

}  // namespace

EveFile::~EveFile() { Close(); }

bool EveFile::Open(const std::string& path, std::string* error) {
  Close();
  path_ = path;
  if (path == "-") {
    fd_ = STDOUT_FILENO;
    owns_fd_ = false;
  } else {
    fd_ = OpenAppend(path, error);
    owns_fd_ = fd_ >= 0;
  }
  if (fd_ >= 0 && buf_.capacity() < kFlushAt) buf_.reserve(kFlushAt + 4096);
  return fd_ >= 0;
}

bool EveFile::Write(std::string_view line) {
  if (fd_ < 0) {
    ++write_errors_;
    return false;
  }
  if (buf_.size() + line.size() + 1 > kMaxBacklog) {
    // The file has been refusing writes: try once more, then give up on the record rather than
    // grow without bound.
    Flush();
    if (buf_.size() + line.size() + 1 > kMaxBacklog) {
      ++write_errors_;
      return false;
    }
  }
  buf_.append(line);
  buf_.push_back('\n');
  ++buffered_lines_;
  if (buf_.size() >= kFlushAt) Flush();  // a failure keeps the bytes: the record is not lost yet
  return true;
}

bool EveFile::Flush() {
  if (fd_ < 0) return buf_.empty();
  size_t done = 0;
  bool ok = true;
  while (done < buf_.size()) {
    const ssize_t n = ::write(fd_, buf_.data() + done, buf_.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      ++failed_writes_;  // disk full, I/O error, ...: keep the rest for the next attempt
      ok = false;
      break;
    }
  }
  // Lines are counted, not searched for, unless the file took only part of the buffer.
  const uint64_t lines =
      done == buf_.size()
          ? buffered_lines_
          : static_cast<uint64_t>(std::count(buf_.data(), buf_.data() + done, '\n'));
  lines_written_ += lines;
  buffered_lines_ -= lines;
  buf_.erase(0, done);
  return ok;
}

bool EveFile::Reopen(std::string* error) {
  if (fd_ < 0) {
    if (error != nullptr) *error = "EVE log '" + path_ + "' is not open";
    return false;
  }
  if (!owns_fd_) return Flush();  // stdout: nothing to reopen
  // Open the new file first so that a failure leaves the old one in use.
  const int fd = OpenAppend(path_, error);
  if (fd < 0) return false;
  // What was buffered before the rotation belongs to the old (renamed) file. Whatever it refuses
  // stays buffered and goes to the new one.
  Flush();
  ::close(fd_);
  fd_ = fd;
  return Flush();
}

void EveFile::Close() {
  if (fd_ < 0) return;
  Flush();
  if (owns_fd_) ::close(fd_);
  fd_ = -1;
  owns_fd_ = false;
  write_errors_ += buffered_lines_;  // lost
  buffered_lines_ = 0;
  buf_.clear();
}

}  // namespace fs::output
