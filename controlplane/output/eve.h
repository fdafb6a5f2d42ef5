// EVE JSON output: formats alerts and flow records as Suricata 7 prints them (same field names,
// order and value formats, so Elastic/Splunk/Security Onion/EveBox read them unchanged), and an
// append-only line sink that survives logrotate.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/worker/events.h"

namespace fs::output {

// What the alert record says about the rule that fired. The caller looks it up from the event
// (pattern generation + rule index); the printed gid/signature_id/rev come from here.
struct RuleInfo {
  uint32_t sid = 0, gid = 1, rev = 0;
  std::string msg, category;  // category: the classtype's description ("" when none)
  int severity = 3;           // Suricata's default priority when the rule has no classtype
  std::string action = "allowed";
  // Printed as Suricata prints rule metadata: "metadata": {"key": ["value", ...]}.
  std::vector<std::pair<std::string, std::string>> metadata;
  // The rule's target keyword: which side of the packet is the target (Suricata's
  // SIG_FLAG_SRC_IS_TARGET / SIG_FLAG_DEST_IS_TARGET); the alert then carries "source" and
  // "target" objects.
  enum class Target : uint8_t { kNone, kSrc, kDst };
  Target target = Target::kNone;
};

// One EVE "alert" object (no trailing newline). Addresses and ports are the packet's; the nested
// "flow" object is oriented client -> server, as Suricata 7 prints it.
std::string FormatAlert(const worker::AlertEvent& ev, const RuleInfo& rule);

// One EVE "flow" record (no trailing newline), src = client, dest = server. Suricata stamps the
// record with the time it was logged; a snapshot carries no such time, so "timestamp" is the
// flow's last packet time (equal to "end").
std::string FormatFlow(const worker::FlowSnapshot& flow);

// One EVE "dns" record (no trailing newline) in Suricata 7's layout (eve "dns" version 2,
// detailed answers): a request gives {"type": "query", "id", "rrname", "rrtype", "tx_id",
// "opcode"} for its first query; a response {"version": 2, "type": "answer", "id", "flags"
// (hex), "qr"/"aa"/"tc"/"rd"/"ra"/"z" when set, "opcode", "rrname"/"rrtype" of its first query,
// "rcode", "answers": [{"rrname", "rrtype", "ttl", "rdata"}]}. src = the flow's client, as in
// Suricata 7. A request with several queries gives one line per query (Suricata 7 does the
// same), hence a vector.
std::vector<std::string> FormatDns(const worker::DnsRecordEvent& ev);

// One EVE "http" record (no trailing newline) in Suricata 7's layout: {"timestamp", "flow_id",
// "event_type": "http", src/dest = the flow's client/server, "proto", "pkt_src", "tx_id",
// "http": {"hostname", "http_port" (when the Host header names one), "url" (the raw request
// target), "http_user_agent", "http_content_type" (the response's), "http_refer", "http_method",
// "protocol", "status", "redirect", "length"}}; absent values are left out, as Suricata does.
std::string FormatHttp(const worker::HttpRecordEvent& ev);

// One EVE "tls" record (no trailing newline) in Suricata 7's extended layout, with the fields the
// sensor has: {"timestamp", "flow_id", "event_type": "tls", src/dest = client/server, "proto",
// "pkt_src", "tls": {"subject", "issuerdn", "serial", "fingerprint", "sni", "version",
// "notbefore", "notafter", "ja3": {"hash", "string"}, "ja3s": {"hash", "string"}}}; absent
// values are left out ("version" is always there: "UNDETERMINED" without a ServerHello).
std::string FormatTls(const worker::TlsRecordEvent& ev);
// Suricata's tls.version strings: "SSLv3", "TLSv1", "TLS 1.1", "TLS 1.2", "TLS 1.3", else
// "UNDETERMINED".
std::string TlsVersionString(uint16_t version);

// One EVE "smb" record (no trailing newline) in Suricata 7's layout (rust/src/smb/log.rs):
// "smb": {"id", "dialect", "command" ("SMB2_COMMAND_CREATE"), "status" and "status_code" (hex;
// responses), "session_id", "tree_id", then by command: "ntlmssp": {"domain", "user", "host"};
// CREATE: "filename", "disposition" ("FILE_OPEN" ...), "access"; TREE_CONNECT: "share" or
// "named_pipe" (IPC$), "share_type" ("FILE", "PIPE", "PRINT"); a rename: "set_info" and
// "rename": {"from", "to"}; DCERPC: "dcerpc": {"request", "opnum", "interfaces": [{"uuid",
// "version"}], "call_id"}; other commands naming a file: "filename", "share"}.
std::string FormatSmb(const worker::SmbRecordEvent& ev);

// "A", "AAAA", "CNAME" ... as Suricata prints DNS record types; the number for the others.
std::string DnsTypeName(uint16_t type);
// "NOERROR", "NXDOMAIN" ... as Suricata prints response codes; the number for the others.
std::string DnsRcodeName(uint8_t rcode);

// "2024-04-21T10:11:12.123456+0000" (UTC), EVE's timestamp format.
std::string FormatTimestamp(uint64_t ts_us);

// EVE "proto": the IANA keyword Suricata prints ("TCP", "UDP", "ICMP", "IPv6-ICMP", "GRE", ...),
// or the number as a string for unassigned protocol numbers.
std::string ProtoName(uint8_t proto);

// Append-only EVE file. Owned and called only by the control-plane output thread; not
// thread-safe. Lines are buffered and written in large chunks. A failed write(2) is counted and
// the unwritten bytes are kept for the next attempt (up to a cap); a record is only given up, and
// counted in write_errors(), when it cannot be kept. Never throws. "-" writes to stdout.
class EveFile {
 public:
  EveFile() = default;
  ~EveFile();
  EveFile(const EveFile&) = delete;
  EveFile& operator=(const EveFile&) = delete;

  // Opens path for appending, creating it (mode 0640) if needed. Closes a file already open.
  bool Open(const std::string& path, std::string* error);
  // Buffers line plus '\n'; writes when the buffer is full. False when the record was lost (not
  // open, or the file has refused writes for so long that the backlog is full).
  bool Write(std::string_view line);
  // Writes everything buffered. False when the file refused some of it (kept for a retry).
  bool Flush();
  // For logrotate (after the file was renamed): opens the path anew, writes what was buffered to
  // the old file, then continues in the new one. On failure the old file stays in use.
  bool Reopen(std::string* error);
  // Flushes and closes; records the file still refuses are lost. Safe to call twice.
  void Close();

  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  uint64_t lines_written() const { return lines_written_; }  // complete lines handed to the OS
  uint64_t write_errors() const { return write_errors_; }    // records lost
  uint64_t failed_writes() const { return failed_writes_; }  // failed write(2) calls (retried)

 private:
  static constexpr size_t kFlushAt = 64 * 1024;
  static constexpr size_t kMaxBacklog = 16 * 1024 * 1024;  // kept while writes keep failing

  int fd_ = -1;
  bool owns_fd_ = false;
  std::string path_;
  std::string buf_;
  uint64_t buffered_lines_ = 0;  // whole and part lines in buf_
  uint64_t lines_written_ = 0;
  uint64_t write_errors_ = 0;
  uint64_t failed_writes_ = 0;
};

}  // namespace fs::output
