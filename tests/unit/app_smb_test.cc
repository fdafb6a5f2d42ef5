// SMB parsing (dataplane/app/smb): conversations built here as NetBIOS + SMB2/SMB1 messages
// (negotiate, tree connect, create, write, rename and delete, svcctl over IPC$ with DCERPC bind and
// request, compound chains, SMB3 transform, SMB1 tree connect and NT create), the same transcript
// whatever the chunking (1-byte chunks, every split point, coalesced messages), truncation at every
// byte, hostile lengths, a fixed-seed mutation run, no allocation after construction, and (when
// the files are there) captures of PsExec-style, wmiexec and EternalBlue traffic.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "dataplane/app/smb.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/process.h"

namespace fs::app {
namespace {

using Bytes = std::string;

void P8(Bytes& b, uint8_t v) { b.push_back(static_cast<char>(v)); }
void P16(Bytes& b, uint16_t v) {
  P8(b, v & 0xFF);
  P8(b, v >> 8);
}
void P32(Bytes& b, uint32_t v) {
  P16(b, v & 0xFFFF);
  P16(b, v >> 16);
}
void P64(Bytes& b, uint64_t v) {
  P32(b, static_cast<uint32_t>(v));
  P32(b, static_cast<uint32_t>(v >> 32));
}
Bytes Utf16(const std::string& s) {
  Bytes b;
  for (unsigned char c : s) P16(b, c);
  return b;
}
Bytes NetBios(const Bytes& payload, uint8_t type = 0) {
  Bytes b;
  P8(b, type);
  P8(b, static_cast<uint8_t>(payload.size() >> 16));
  P8(b, static_cast<uint8_t>(payload.size() >> 8));
  P8(b, static_cast<uint8_t>(payload.size()));
  return b + payload;
}

constexpr uint32_t kResp = 0x1;
constexpr uint32_t kRelated = 0x4;

struct Hdr {
  uint16_t cmd = 0;
  uint64_t mid = 0;
  uint32_t flags = 0;
  uint32_t status = 0;
  uint32_t tree = 0;
  uint64_t session = 0x1000000000001ull;
};

Bytes Smb2(const Hdr& h, const Bytes& body) {
  Bytes b = "\xFESMB";
  P16(b, 64);
  P16(b, 1);
  P32(b, h.status);
  P16(b, h.cmd);
  P16(b, 1);
  P32(b, h.flags);
  P32(b, 0);  // NextCommand
  P64(b, h.mid);
  P32(b, 0xFEFF);
  P32(b, h.tree);
  P64(b, h.session);
  b += Bytes(16, '\0');
  return b + body;
}

// Sets NextCommand of each element (padded to 8) and joins them.
Bytes Compound(std::vector<Bytes> parts) {
  Bytes out;
  for (size_t i = 0; i < parts.size(); ++i) {
    Bytes& p = parts[i];
    if (i + 1 < parts.size()) {
      while (p.size() % 8) p.push_back('\0');
      const uint32_t n = static_cast<uint32_t>(p.size());
      for (int k = 0; k < 4; ++k) p[20 + k] = static_cast<char>(n >> (8 * k));
    }
    out += p;
  }
  return out;
}

Bytes FileId(uint64_t v) {
  Bytes b;
  P64(b, v);
  P64(b, v ^ 0xABCDEF);
  return b;
}

Bytes NegotiateReq(uint64_t mid) {
  Bytes body;
  P16(body, 36);
  P16(body, 3);
  P16(body, 1);
  P16(body, 0);
  P32(body, 0);
  body += Bytes(16, 'g');
  P64(body, 0);
  P16(body, 0x0202);
  P16(body, 0x0210);
  P16(body, 0x0311);
  return Smb2({0, mid}, body);
}
Bytes NegotiateResp(uint64_t mid, uint16_t dialect) {
  Bytes body;
  P16(body, 65);
  P16(body, 1);
  P16(body, dialect);
  P16(body, 0);
  body += Bytes(16, 's');
  P32(body, 0);
  P32(body, 65536);
  P32(body, 65536);
  P32(body, 65536);
  P64(body, 0);
  P64(body, 0);
  P16(body, 128);
  P16(body, 0);
  P32(body, 0);
  return Smb2({0, mid, kResp}, body);
}
Bytes TreeConnectReq(uint64_t mid, const std::string& path) {
  Bytes body;
  P16(body, 9);
  P16(body, 0);
  P16(body, 64 + 8);
  const Bytes p = Utf16(path);
  P16(body, static_cast<uint16_t>(p.size()));
  return Smb2({3, mid}, body + p);
}
Bytes TreeConnectResp(uint64_t mid, uint32_t tree, uint8_t type, uint32_t status = 0) {
  Bytes body;
  P16(body, 16);
  P8(body, type);
  P8(body, 0);
  P32(body, 0);
  P32(body, 0);
  P32(body, 0x1F01FF);
  return Smb2({3, mid, kResp, status, tree}, body);
}
Bytes CreateReq(uint64_t mid, uint32_t tree, const std::string& name, uint32_t disposition = 1,
                uint32_t flags = 0, uint32_t options = 0) {
  Bytes body;
  P16(body, 57);
  P8(body, 0);
  P8(body, 0);
  P32(body, 2);
  P64(body, 0);
  P64(body, 0);
  P32(body, 0x12019F);
  P32(body, 0x80);
  P32(body, 7);
  P32(body, disposition);
  P32(body, options);
  const Bytes n = Utf16(name);
  P16(body, 64 + 56);
  P16(body, static_cast<uint16_t>(n.size()));
  P32(body, 0);
  P32(body, 0);
  body += n;
  if (n.empty()) body.push_back('\0');
  return Smb2({5, mid, flags, 0, tree}, body);
}
Bytes CreateResp(uint64_t mid, uint32_t tree, uint64_t fid, uint32_t status = 0) {
  Bytes body;
  P16(body, 89);
  P8(body, 0);
  P8(body, 0);
  P32(body, 2);  // FILE_CREATED
  body += Bytes(48, '\0');
  P32(body, 0x80);
  P32(body, 0);
  body += FileId(fid);
  P32(body, 0);
  P32(body, 0);
  return Smb2({5, mid, kResp, status, tree}, body);
}
Bytes WriteReq(uint64_t mid, uint32_t tree, uint64_t fid, uint64_t offset, const Bytes& data,
               const Bytes& raw_fid = "") {
  Bytes body;
  P16(body, 49);
  P16(body, 64 + 48);
  P32(body, static_cast<uint32_t>(data.size()));
  P64(body, offset);
  body += raw_fid.empty() ? FileId(fid) : raw_fid;
  P32(body, 0);
  P32(body, 0);
  P16(body, 0);
  P16(body, 0);
  P32(body, 0);
  return Smb2({9, mid, 0, 0, tree}, body + data);
}
Bytes SetInfoReq(uint64_t mid, uint32_t tree, uint64_t fid, uint8_t cls, const Bytes& buf) {
  Bytes body;
  P16(body, 33);
  P8(body, 1);
  P8(body, cls);
  P32(body, static_cast<uint32_t>(buf.size()));
  P16(body, 64 + 32);
  P16(body, 0);
  P32(body, 0);
  body += FileId(fid);
  return Smb2({0x11, mid, 0, 0, tree}, body + buf);
}
Bytes RenameBuf(const std::string& to) {
  Bytes b;
  P8(b, 0);
  b += Bytes(7, '\0');
  P64(b, 0);
  const Bytes n = Utf16(to);
  P32(b, static_cast<uint32_t>(n.size()));
  return b + n;
}
Bytes IoctlReq(uint64_t mid, uint32_t tree, uint64_t fid, uint32_t code, const Bytes& in) {
  Bytes body;
  P16(body, 57);
  P16(body, 0);
  P32(body, code);
  body += FileId(fid);
  P32(body, 64 + 56);
  P32(body, static_cast<uint32_t>(in.size()));
  P32(body, 0);
  P32(body, 0);
  P32(body, 0);
  P32(body, 1024);
  P32(body, 1);
  P32(body, 0);
  return Smb2({0xB, mid, 0, 0, tree}, body + in);
}
Bytes CloseReq(uint64_t mid, uint32_t tree, uint64_t fid) {
  Bytes body;
  P16(body, 24);
  P16(body, 0);
  P32(body, 0);
  return Smb2({6, mid, 0, 0, tree}, body + FileId(fid));
}

// svcctl 367abb81-9844-35f1-ad32-98f038001003 v2.0, NDR transfer syntax.
const Bytes kSvcctlUuid("\x81\xbb\x7a\x36\x44\x98\xf1\x35\xad\x32\x98\xf0\x38\x00\x10\x03", 16);
const Bytes kNdrUuid("\x04\x5d\x88\x8a\xeb\x1c\xc9\x11\x9f\xe8\x08\x00\x2b\x10\x48\x60", 16);

Bytes DceHeader(uint8_t ptype, uint32_t call_id, size_t body_len) {
  Bytes b;
  P8(b, 5);
  P8(b, 0);
  P8(b, ptype);
  P8(b, 3);
  P32(b, 0x10);
  P16(b, static_cast<uint16_t>(16 + body_len));
  P16(b, 0);
  P32(b, call_id);
  return b;
}
Bytes DceBind(uint32_t call_id, uint16_t ctx, const Bytes& uuid, uint16_t ver) {
  Bytes body;
  P16(body, 4280);
  P16(body, 4280);
  P32(body, 0);
  P8(body, 1);
  P8(body, 0);
  P16(body, 0);
  P16(body, ctx);
  P8(body, 1);
  P8(body, 0);
  body += uuid;
  P16(body, ver);
  P16(body, 0);
  body += kNdrUuid;
  P32(body, 2);
  return DceHeader(11, call_id, body.size()) + body;
}
Bytes DceRequest(uint32_t call_id, uint16_t ctx, uint16_t opnum, const Bytes& stub) {
  Bytes body;
  P32(body, static_cast<uint32_t>(stub.size()));
  P16(body, ctx);
  P16(body, opnum);
  return DceHeader(0, call_id, body.size() + stub.size()) + body + stub;
}

Bytes Smb1TreeConnect(uint16_t mid, const std::string& path) {
  Bytes b = "\xFFSMB";
  P8(b, 0x75);
  P32(b, 0);
  P8(b, 0x18);
  P16(b, 0xC803);  // Unicode, NT status, extended security
  P16(b, 0);
  b += Bytes(8, '\0');
  P16(b, 0);
  P16(b, 0);       // TID
  P16(b, 0xFEFF);  // PID
  P16(b, 2048);    // UID
  P16(b, mid);
  P8(b, 4);  // word count
  P8(b, 0xFF);
  P8(b, 0);
  P16(b, 0);
  P16(b, 0);
  P16(b, 1);  // password length
  Bytes bytes;
  P8(bytes, 0);  // password
  // Header 32 + wc 1 + words 8 + bcc 2 + password 1 = 44: even, no pad.
  bytes += Utf16(path);
  P16(bytes, 0);
  bytes += "?????";
  bytes.push_back('\0');
  P16(b, static_cast<uint16_t>(bytes.size()));
  return b + bytes;
}

Bytes Smb1Header(uint8_t cmd, uint8_t flags, uint16_t tid, uint16_t mid) {
  Bytes b = "\xFFSMB";
  P8(b, cmd);
  P32(b, 0);
  P8(b, flags);
  P16(b, 0xC803);
  P16(b, 0);
  b += Bytes(8, '\0');
  P16(b, 0);
  P16(b, tid);
  P16(b, 0xFEFF);
  P16(b, 2048);
  P16(b, mid);
  return b;
}
Bytes Smb1TreeConnectResp(uint16_t mid, uint16_t tid) {
  Bytes b = Smb1Header(0x75, 0x98, tid, mid);
  P8(b, 0);
  P16(b, 4);
  return b + Bytes("IPC\0", 4);
}
Bytes Smb1NtCreate(uint16_t mid, uint16_t tid, const std::string& name) {
  Bytes b = Smb1Header(0xA2, 0x18, tid, mid);
  const Bytes n = Utf16(name) + Bytes(2, '\0');
  P8(b, 24);
  P8(b, 0xFF);
  P8(b, 0);
  P16(b, 0);
  P8(b, 0);
  P16(b, static_cast<uint16_t>(n.size()));
  P32(b, 0x16);
  P32(b, 0);
  P32(b, 0x2019F);
  P64(b, 0);
  P32(b, 0);
  P32(b, 3);
  P32(b, 1);  // FILE_OPEN
  P32(b, 0);
  P32(b, 2);
  P8(b, 0);
  // 32 + 1 + 48 + 2 = 83: one pad byte aligns the Unicode name.
  P16(b, static_cast<uint16_t>(n.size() + 1));
  P8(b, 0);
  return b + n;
}

// SESSION_SETUP request whose security blob holds an NTLMSSP AUTHENTICATE after some SPNEGO-like
// prefix bytes.
Bytes SessionSetupReq(uint64_t mid, const std::string& domain, const std::string& user,
                      const std::string& host) {
  Bytes ntlm("NTLMSSP\0", 8);
  P32(ntlm, 3);
  const Bytes d = Utf16(domain), u = Utf16(user), h = Utf16(host);
  P16(ntlm, 0);
  P16(ntlm, 0);
  P32(ntlm, 64);
  P16(ntlm, 0);
  P16(ntlm, 0);
  P32(ntlm, 64);
  uint32_t at = 64;
  for (const Bytes* f : {&d, &u, &h}) {
    P16(ntlm, static_cast<uint16_t>(f->size()));
    P16(ntlm, static_cast<uint16_t>(f->size()));
    P32(ntlm, at);
    at += static_cast<uint32_t>(f->size());
  }
  P64(ntlm, 0);
  P32(ntlm, 0xE2888215);  // NEGOTIATE_UNICODE among others
  ntlm += d + u + h;
  const Bytes blob = Bytes("\xa1\x82\x01\x00\x30\x82", 6) + ntlm;
  Bytes body;
  P16(body, 25);
  P8(body, 0);
  P8(body, 1);
  P32(body, 1);
  P32(body, 0);
  P16(body, 64 + 24);
  P16(body, static_cast<uint16_t>(blob.size()));
  P64(body, 0);
  return Smb2({1, mid}, body + blob);
}

// One conversation: messages in the order they travel, each with its direction.
using Conv = std::vector<std::pair<SmbDirection, Bytes>>;
constexpr SmbDirection kC = SmbDirection::kToServer;
constexpr SmbDirection kS = SmbDirection::kToClient;

struct Recorder {
  std::vector<std::string> log;
  std::vector<SmbRecord> recs;  // views are dangling after the callback: only scalars used
  std::vector<std::string> files, shares, pipes, rename_to, ifaces, dce_iface, users;

  static Recorder* Self(void* c) { return static_cast<Recorder*>(c); }
  SmbSink Sink() {
    SmbSink s;
    s.ctx = this;
    s.record = [](void* c, const SmbRecord& r) {
      Recorder* self = Self(c);
      std::string line =
          std::string(SmbCommandName(r.version, r.command)) + (r.is_response ? " resp" : " req") +
          " mid=" + std::to_string(r.message_id) + " tree=" + std::to_string(r.tree_id) +
          " status=" + std::to_string(r.status) + " share=" + std::string(r.share) +
          " file=" + std::string(r.filename) + " pipe=" + std::string(r.named_pipe) +
          " len=" + std::to_string(r.length) + " off=" + std::to_string(r.offset) +
          " data=" + std::string(reinterpret_cast<const char*>(r.data), r.data_len);
      if (r.is_rename)
        line += " rename " + std::string(r.rename_from) + "->" + std::string(r.rename_to);
      if (r.is_delete) line += " delete";
      if (r.is_encrypted) line += " encrypted";
      if (r.is_dcerpc)
        line += " dce=" + std::to_string(r.dcerpc_ptype) + "/" + std::to_string(r.dcerpc_opnum);
      for (size_t i = 0; i < r.interface_count; ++i) line += " if=" + std::string(r.interfaces[i]);
      if (!r.dcerpc_interface.empty()) line += " reqif=" + std::string(r.dcerpc_interface);
      self->log.push_back(line);
      self->recs.push_back(r);
      self->files.emplace_back(r.filename);
      self->shares.emplace_back(r.share);
      self->pipes.emplace_back(r.named_pipe);
      self->rename_to.emplace_back(r.rename_to);
      self->ifaces.emplace_back(r.interface_count ? std::string(r.interfaces[0]) : "");
      self->dce_iface.emplace_back(r.dcerpc_interface);
      self->users.emplace_back(r.ntlmssp_user);
    };
    s.event = [](void* c, SmbEvent e) {
      Self(c)->log.push_back(std::string("EVENT ") + SmbEventName(e));
    };
    return s;
  }
  std::string Text() const {
    std::string t;
    for (const auto& l : log) t += l + "\n";
    return t;
  }
};

// Feeds the conversation; `piece` 0 gives each message in one call, otherwise pieces of that size.
std::string Transcript(const Conv& conv, size_t piece = 0, Recorder* out = nullptr,
                       SmbConfig cfg = {}) {
  Recorder local;
  Recorder& rec = out ? *out : local;
  SmbParser p(cfg, rec.Sink());
  for (const auto& [dir, bytes] : conv) {
    const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
    if (piece == 0) {
      p.Feed(dir, d, bytes.size());
      continue;
    }
    for (size_t at = 0; at < bytes.size(); at += piece)
      p.Feed(dir, d + at, std::min(piece, bytes.size() - at));
  }
  return rec.Text();
}

constexpr uint32_t kTree = 5;
constexpr uint32_t kIpcTree = 9;

Conv FileConversation() {
  return {
      {kC, NetBios(NegotiateReq(0))},
      {kS, NetBios(NegotiateResp(0, 0x0311))},
      {kC, NetBios(TreeConnectReq(3, "\\\\10.0.0.5\\ADMIN$"))},
      {kS, NetBios(TreeConnectResp(3, kTree, 1))},
      {kC, NetBios(CreateReq(4, kTree, "Temp\\evil.exe", 5))},
      {kS, NetBios(CreateResp(4, kTree, 0x77))},
      {kC, NetBios(WriteReq(5, kTree, 0x77, 4096, Bytes("MZ\x90\x00payload", 11)))},
      {kC, NetBios(SetInfoReq(6, kTree, 0x77, 10, RenameBuf("Temp\\evil.exe.locked")))},
      {kC, NetBios(SetInfoReq(7, kTree, 0x77, 13, Bytes("\x01", 1)))},
      {kC, NetBios(CloseReq(8, kTree, 0x77))},
  };
}

Conv PipeConversation() {
  return {
      {kC, NetBios(TreeConnectReq(10, "\\\\10.0.0.5\\IPC$"))},
      {kS, NetBios(TreeConnectResp(10, kIpcTree, 2))},
      {kC, NetBios(CreateReq(11, kIpcTree, "svcctl"))},
      {kS, NetBios(CreateResp(11, kIpcTree, 0x99))},
      {kC, NetBios(WriteReq(12, kIpcTree, 0x99, 0, DceBind(1, 0, kSvcctlUuid, 2)))},
      {kC, NetBios(IoctlReq(13, kIpcTree, 0x99, kFsctlPipeTransceive,
                            DceRequest(2, 0, 12, Bytes(40, 'x'))))},
      {kC, NetBios(WriteReq(14, kIpcTree, 0x99, 0, DceRequest(3, 0, 19, Bytes(8, 'y'))))},
  };
}

// FileConversation up to its tree connect, then CREATE name + WRITE data (related: file id
// all-ones) + CLOSE compounded in one NetBIOS message; fed in pieces of `piece` (0: whole).
void CompoundCreateWriteClose(const std::string& name, const Bytes& data, size_t piece,
                              Recorder* rec) {
  const Bytes ones(16, '\xFF');
  const Bytes chain = Compound({CreateReq(20, kTree, name, 2),
                                WriteReq(21, kTree, 0, 0, data, ones), CloseReq(22, kTree, 0)});
  Conv conv = FileConversation();
  conv.resize(4);
  conv.push_back({kC, NetBios(chain)});
  Transcript(conv, piece, rec);
}

TEST(SmbParser, NegotiateDialectAndFileLifecycle) {
  Recorder rec;
  Transcript(FileConversation(), 0, &rec);
  ASSERT_EQ(rec.recs.size(), 10u) << rec.Text();
  EXPECT_EQ(rec.recs[1].dialect, 0x0311);
  EXPECT_STREQ(SmbDialectName(rec.recs[1].dialect), "3.11");
  EXPECT_STREQ(SmbCommandName(2, rec.recs[1].command), "SMB2_COMMAND_NEGOTIATE_PROTOCOL");
  // Tree connect: the request's path, mapped to the response's tree id.
  EXPECT_EQ(rec.shares[2], "\\\\10.0.0.5\\ADMIN$");
  EXPECT_EQ(rec.shares[3], "\\\\10.0.0.5\\ADMIN$");
  EXPECT_EQ(rec.recs[3].tree_id, kTree);
  EXPECT_EQ(rec.recs[3].share_type, 1);
  // Create: name and disposition; the response's file id.
  EXPECT_EQ(rec.files[4], "Temp\\evil.exe");
  EXPECT_EQ(rec.recs[4].disposition, 5u);
  EXPECT_EQ(rec.shares[4], "\\\\10.0.0.5\\ADMIN$");
  EXPECT_EQ(rec.files[5], "Temp\\evil.exe");
  EXPECT_EQ(rec.recs[5].file_id_persistent, 0x77u);
  EXPECT_EQ(rec.recs[5].create_action, 2u);
  // Write: named through the file id.
  EXPECT_STREQ(SmbCommandName(2, rec.recs[6].command), "SMB2_COMMAND_WRITE");
  EXPECT_EQ(rec.files[6], "Temp\\evil.exe");
  EXPECT_EQ(rec.recs[6].offset, 4096u);
  EXPECT_EQ(rec.recs[6].length, 11u);
  EXPECT_EQ(rec.recs[6].data_len, 11u);
  EXPECT_FALSE(rec.recs[6].data_truncated);
  // Rename, then delete (of the renamed handle), then close.
  EXPECT_TRUE(rec.recs[7].is_rename);
  EXPECT_EQ(rec.files[7], "Temp\\evil.exe");
  EXPECT_EQ(rec.rename_to[7], "Temp\\evil.exe.locked");
  EXPECT_TRUE(rec.recs[8].is_delete);
  EXPECT_EQ(rec.files[8], "Temp\\evil.exe.locked");
  EXPECT_EQ(rec.files[9], "Temp\\evil.exe.locked");
  EXPECT_EQ(rec.Text().find("EVENT"), std::string::npos) << rec.Text();
}

TEST(SmbParser, NamedPipeDcerpcBindAndRequest) {
  Recorder rec;
  Transcript(PipeConversation(), 0, &rec);
  ASSERT_EQ(rec.recs.size(), 7u) << rec.Text();
  EXPECT_EQ(rec.recs[1].share_type, 2);
  EXPECT_TRUE(rec.recs[2].is_pipe);
  EXPECT_EQ(rec.pipes[2], "svcctl");
  EXPECT_EQ(rec.pipes[3], "svcctl");
  EXPECT_TRUE(rec.recs[4].is_dcerpc);
  EXPECT_EQ(rec.recs[4].dcerpc_ptype, 11);
  EXPECT_EQ(rec.recs[4].interface_count, 1u);
  EXPECT_EQ(rec.ifaces[4], "367abb81-9844-35f1-ad32-98f038001003");
  EXPECT_EQ(rec.recs[4].interface_versions[0], 2);
  EXPECT_EQ(rec.pipes[4], "svcctl");
  // CreateServiceW over IOCTL transceive, StartServiceW over WRITE.
  EXPECT_EQ(rec.recs[5].ioctl_code, kFsctlPipeTransceive);
  EXPECT_EQ(rec.recs[5].dcerpc_opnum, 12);
  EXPECT_EQ(rec.dce_iface[5], "367abb81-9844-35f1-ad32-98f038001003");
  EXPECT_EQ(rec.recs[6].dcerpc_opnum, 19);
  EXPECT_EQ(rec.pipes[6], "svcctl");
  EXPECT_EQ(rec.Text().find("EVENT"), std::string::npos) << rec.Text();
}

TEST(SmbParser, CompoundedRequests) {
  // CREATE + WRITE (related, file id all-ones) + CLOSE in one NetBIOS message.
  Recorder rec;
  CompoundCreateWriteClose("a.txt", "hello", 0, &rec);
  ASSERT_EQ(rec.recs.size(), 7u) << rec.Text();
  EXPECT_EQ(rec.files[4], "a.txt");
  EXPECT_EQ(rec.recs[5].compound_index, 1u);
  EXPECT_EQ(rec.files[5], "a.txt");
  EXPECT_EQ(rec.recs[5].data_len, 5u);
  EXPECT_EQ(rec.recs[6].compound_index, 2u);
  EXPECT_STREQ(SmbCommandName(2, rec.recs[6].command), "SMB2_COMMAND_CLOSE");
  EXPECT_EQ(rec.shares[6], "\\\\10.0.0.5\\ADMIN$");
}

TEST(SmbParser, BadCompoundOffsetIsAnEvent) {
  Bytes chain = Compound({CreateReq(20, kTree, "a.txt"), CloseReq(22, kTree, 0)});
  chain[20] = '\x08';  // NextCommand 8: shorter than a header
  chain[21] = chain[22] = chain[23] = 0;
  Recorder rec;
  SmbParser p({}, rec.Sink());
  const Bytes m = NetBios(chain);
  p.Feed(kC, reinterpret_cast<const uint8_t*>(m.data()), m.size());
  EXPECT_EQ(p.event_count(SmbEvent::kMalformedData), 1u);
  EXPECT_EQ(rec.recs.size(), 1u);
}

TEST(SmbParser, Smb3TransformIsCountedNotInspected) {
  Bytes t = "\xFDSMB";
  t += Bytes(32, 's');
  P32(t, 100);
  P16(t, 0);
  P16(t, 1);
  P64(t, 0x4242);
  t += Bytes(100, 'e');
  Conv conv = {{kC, NetBios(NegotiateReq(0))},
               {kS, NetBios(NegotiateResp(0, 0x0311))},
               {kC, NetBios(t)},
               {kS, NetBios(t)},
               {kC, NetBios(t)}};
  Recorder rec;
  SmbParser p({}, rec.Sink());
  for (const auto& [d, b] : conv) p.Feed(d, reinterpret_cast<const uint8_t*>(b.data()), b.size());
  EXPECT_TRUE(p.encrypted());
  EXPECT_EQ(p.encrypted_messages(), 3u);
  ASSERT_EQ(rec.recs.size(), 3u);  // negotiate x2, one encrypted record
  EXPECT_TRUE(rec.recs[2].is_encrypted);
  EXPECT_EQ(rec.recs[2].session_id, 0x4242u);
  EXPECT_EQ(rec.Text().find("EVENT"), std::string::npos) << rec.Text();
}

TEST(SmbParser, Smb1TreeConnectAndNtCreate) {
  Recorder rec;
  SmbParser p({}, rec.Sink());
  const Bytes m = NetBios(Smb1TreeConnect(7, "\\\\192.168.1.10\\IPC$"));
  p.Feed(kC, reinterpret_cast<const uint8_t*>(m.data()), m.size());
  ASSERT_EQ(rec.recs.size(), 1u) << rec.Text();
  EXPECT_EQ(rec.recs[0].version, 1);
  EXPECT_STREQ(SmbCommandName(1, rec.recs[0].command), "SMB1_COMMAND_TREE_CONNECT_ANDX");
  EXPECT_EQ(rec.shares[0], "\\\\192.168.1.10\\IPC$");
  EXPECT_TRUE(p.smb1_seen());
  // The response maps the tree id to the share; an NT_CREATE on it opens a pipe.
  const Bytes more =
      NetBios(Smb1TreeConnectResp(7, 2048)) + NetBios(Smb1NtCreate(8, 2048, "\\samr"));
  p.Feed(kS, reinterpret_cast<const uint8_t*>(more.data()),
         4 + Smb1TreeConnectResp(7, 2048).size());
  p.Feed(kC,
         reinterpret_cast<const uint8_t*>(more.data()) + 4 + Smb1TreeConnectResp(7, 2048).size(),
         more.size() - 4 - Smb1TreeConnectResp(7, 2048).size());
  ASSERT_EQ(rec.recs.size(), 3u) << rec.Text();
  EXPECT_EQ(rec.recs[1].tree_id, 2048u);
  EXPECT_EQ(rec.shares[1], "\\\\192.168.1.10\\IPC$");
  EXPECT_STREQ(SmbCommandName(1, rec.recs[2].command), "SMB1_COMMAND_NT_CREATE_ANDX");
  EXPECT_EQ(rec.files[2], "\\samr");
  EXPECT_EQ(rec.pipes[2], "\\samr");
  EXPECT_EQ(rec.recs[2].disposition, 1u);
  EXPECT_EQ(rec.Text().find("EVENT"), std::string::npos) << rec.Text();
}

TEST(SmbParser, NtlmsspUserFromSessionSetup) {
  Recorder rec;
  SmbParser p({}, rec.Sink());
  const Bytes m = NetBios(SessionSetupReq(2, "DISTRICT", "jdoe", "LAB-PC-07"));
  p.Feed(kC, reinterpret_cast<const uint8_t*>(m.data()), m.size());
  ASSERT_EQ(rec.recs.size(), 1u) << rec.Text();
  EXPECT_EQ(rec.users[0], "jdoe");
  // A user field pointing past the blob is an event, not a read out of bounds.
  Bytes bad = SessionSetupReq(3, "D", "u", "h");
  bad[64 + 24 + 6 + 40] = '\x7f';
  const Bytes b2 = NetBios(bad);
  p.Feed(kC, reinterpret_cast<const uint8_t*>(b2.data()), b2.size());
  EXPECT_EQ(p.event_count(SmbEvent::kMalformedNtlmsspRequest), 1u);
}

TEST(SmbParser, MalformedDcerpcBindIsAnEvent) {
  Conv conv = PipeConversation();
  conv.resize(4);
  Bytes bind = DceBind(1, 0, kSvcctlUuid, 2);
  bind[24] = 5;  // five contexts announced, one present
  conv.push_back({kC, NetBios(WriteReq(12, kIpcTree, 0x99, 0, bind))});
  Recorder rec;
  Transcript(conv, 0, &rec);
  EXPECT_NE(rec.Text().find("EVENT malformed_dcerpc"), std::string::npos) << rec.Text();
  EXPECT_EQ(rec.ifaces.back(), "367abb81-9844-35f1-ad32-98f038001003");
}

TEST(SmbParser, LooksLikeSmb) {
  const Bytes a = NetBios(NegotiateReq(0));
  const Bytes b = NetBios(Smb1TreeConnect(1, "\\\\x\\y"));
  EXPECT_TRUE(LooksLikeSmb(reinterpret_cast<const uint8_t*>(a.data()), a.size()));
  EXPECT_TRUE(LooksLikeSmb(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
  const Bytes http = "GET / HTTP/1.1\r\n";
  EXPECT_FALSE(LooksLikeSmb(reinterpret_cast<const uint8_t*>(http.data()), http.size()));
  EXPECT_FALSE(LooksLikeSmb(reinterpret_cast<const uint8_t*>(a.data()), 7));
  EXPECT_FALSE(LooksLikeSmb(nullptr, 0));
}

TEST(SmbParser, DuplicateNegotiateAndMalformedDialects) {
  Bytes bad = NegotiateReq(1);
  bad[64 + 2] = '\x70';  // 112 dialects, far past the message
  Conv conv = {{kC, NetBios(bad)},
               {kS, NetBios(NegotiateResp(0, 0x0210))},
               {kS, NetBios(NegotiateResp(1, 0x0311))}};
  Recorder rec;
  Transcript(conv, 0, &rec);
  EXPECT_NE(rec.Text().find("EVENT negotiate_malformed_dialects"), std::string::npos);
  EXPECT_NE(rec.Text().find("EVENT duplicate_negotiate"), std::string::npos);
}

TEST(SmbParser, LargeWriteIsSkippedNotBuffered) {
  Conv conv = FileConversation();
  conv.resize(6);
  const Bytes big(200000, 'D');
  conv.push_back({kC, NetBios(WriteReq(5, kTree, 0x77, 0, big))});
  conv.push_back({kC, NetBios(CloseReq(6, kTree, 0x77))});
  Recorder rec;
  SmbConfig cfg;
  cfg.retain = 4096;
  Transcript(conv, 1000, &rec, cfg);
  ASSERT_EQ(rec.recs.size(), 8u);
  EXPECT_EQ(rec.recs[6].length, 200000u);
  EXPECT_TRUE(rec.recs[6].data_truncated);
  EXPECT_EQ(rec.recs[6].data_len, 4096u - 112u);
  EXPECT_EQ(rec.files[6], "Temp\\evil.exe");
  EXPECT_EQ(rec.files[7], "Temp\\evil.exe");
}

// A lone WRITE's file data past kSmbDataRetain is counted as skipped, never copied, whatever the
// chunking (the header may arrive split); a DCERPC PDU on a pipe within it is still parsed, and a
// WRITE inside a compound chain keeps the whole message (the next element follows the data).
TEST(SmbParser, FileDataPastTheDataRetainIsNotCopied) {
  const Bytes big(200000, 'D');
  const size_t wire = 64 + 48 + big.size();
  for (size_t piece : {size_t{0}, size_t{30}, size_t{1460}}) {
    Conv conv = FileConversation();
    conv.resize(6);
    conv.push_back({kC, NetBios(WriteReq(5, kTree, 0x77, 0, big))});
    conv.push_back({kC, NetBios(CloseReq(6, kTree, 0x77))});
    Recorder rec;
    SmbParser p({}, rec.Sink());
    for (const auto& [dir, bytes] : conv) {
      const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
      const size_t step = piece == 0 ? bytes.size() : piece;
      for (size_t at = 0; at < bytes.size(); at += step)
        p.Feed(dir, d + at, std::min(step, bytes.size() - at));
    }
    ASSERT_EQ(rec.recs.size(), 8u) << "piece " << piece;
    EXPECT_EQ(rec.recs[6].length, 200000u);
    EXPECT_TRUE(rec.recs[6].data_truncated);
    EXPECT_EQ(rec.recs[6].data_len, kSmbDataRetain - 112u) << "piece " << piece;
    EXPECT_EQ(p.skipped_bytes(), wire - kSmbDataRetain) << "piece " << piece;
    EXPECT_EQ(rec.files[7], "Temp\\evil.exe");
  }
  // A 6,000-byte DCERPC request on the svcctl pipe: parsed from the retained part.
  Conv pipe = PipeConversation();
  pipe.resize(5);
  pipe.push_back(
      {kC, NetBios(WriteReq(14, kIpcTree, 0x99, 0, DceRequest(3, 0, 12, Bytes(6000, 'y'))))});
  Recorder prec;
  Transcript(pipe, 700, &prec);
  ASSERT_EQ(prec.recs.size(), 6u) << prec.Text();
  EXPECT_EQ(prec.recs[5].dcerpc_opnum, 12);
  EXPECT_EQ(prec.dce_iface[5], "367abb81-9844-35f1-ad32-98f038001003");
  EXPECT_FALSE(prec.recs[5].data_truncated);
  // In a compound chain the CLOSE after a 20,000-byte WRITE is still seen.
  Recorder crec;
  CompoundCreateWriteClose("b.txt", Bytes(20000, 'z'), 1000, &crec);
  ASSERT_EQ(crec.recs.size(), 7u) << crec.Text();
  EXPECT_EQ(crec.recs[5].data_len, 20000u);
  EXPECT_STREQ(SmbCommandName(2, crec.recs[6].command), "SMB2_COMMAND_CLOSE");
  EXPECT_EQ(crec.files[5], "b.txt");
}

TEST(SmbParser, UnknownNetbiosTypeLosesFraming) {
  Recorder rec;
  SmbParser p({}, rec.Sink());
  const Bytes junk("\x42\x00\x00\x10garbagegarbage!!", 20);
  p.Feed(kC, reinterpret_cast<const uint8_t*>(junk.data()), junk.size());
  EXPECT_FALSE(p.inspecting(kC));
  EXPECT_TRUE(p.inspecting(kS));
  EXPECT_EQ(p.event_count(SmbEvent::kFramingLost), 1u);
  // NetBIOS keepalives and session requests are skipped.
  const Bytes ka = Bytes("\x85\x00\x00\x00", 4) + NetBios("abcd", 0x81) + NetBios(NegotiateReq(0));
  p.Feed(kS, reinterpret_cast<const uint8_t*>(ka.data()), ka.size());
  EXPECT_EQ(rec.recs.size(), 1u);
}

Conv AllConversations() {
  Conv c = FileConversation();
  for (auto& m : PipeConversation()) c.push_back(m);
  c.push_back({kC, NetBios(Compound({CreateReq(30, kTree, "b.txt"),
                                     WriteReq(31, kTree, 0, 0, "zz", Bytes(16, '\xFF'))}))});
  c.push_back({kC, NetBios(Smb1TreeConnect(7, "\\\\h\\C$"))});
  return c;
}

TEST(SmbParser, SameRecordsWhateverTheChunking) {
  const Conv conv = AllConversations();
  const std::string whole = Transcript(conv);
  ASSERT_NE(whole.find("if=367abb81"), std::string::npos) << whole;
  EXPECT_EQ(Transcript(conv, 1), whole);
  EXPECT_EQ(Transcript(conv, 7), whole);
  // Every split point of every message.
  for (size_t i = 0; i < conv.size(); ++i) {
    for (size_t cut = 1; cut < conv[i].second.size(); ++cut) {
      Recorder rec;
      SmbParser p({}, rec.Sink());
      for (size_t j = 0; j < conv.size(); ++j) {
        const auto* d = reinterpret_cast<const uint8_t*>(conv[j].second.data());
        if (j == i) {
          p.Feed(conv[j].first, d, cut);
          p.Feed(conv[j].first, d + cut, conv[j].second.size() - cut);
        } else {
          p.Feed(conv[j].first, d, conv[j].second.size());
        }
      }
      ASSERT_EQ(rec.Text(), whole) << "message " << i << " cut " << cut;
    }
  }
  // Consecutive messages of one direction coalesced into one chunk; the other direction fed
  // interleaved only where the conversation needs it.
  Conv merged;
  for (const auto& m : conv) {
    if (!merged.empty() && merged.back().first == m.first)
      merged.back().second += m.second;
    else
      merged.push_back(m);
  }
  EXPECT_EQ(Transcript(merged), whole);
}

TEST(SmbParser, TruncationAtEveryLengthNeverCrashes) {
  const Conv conv = AllConversations();
  for (const auto& [dir, bytes] : conv) {
    for (size_t n = 0; n <= bytes.size(); ++n) {
      // The message cut short, then framed as if that were all of it.
      const Bytes body = bytes.substr(4, n > 4 ? n - 4 : 0);
      const Bytes m = NetBios(body);
      Recorder rec;
      SmbParser p({}, rec.Sink());
      p.Feed(dir, reinterpret_cast<const uint8_t*>(bytes.data()), n);  // stream ends mid-message
      SmbParser q({}, rec.Sink());
      q.Feed(dir, reinterpret_cast<const uint8_t*>(m.data()), m.size());
    }
  }
}

TEST(SmbParser, MutationLoopNeverCrashes) {
  const Conv conv = AllConversations();
  std::mt19937 rng(12345);
  uint64_t records = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    Conv c = conv;
    const int mutations = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < mutations; ++k) {
      Bytes& b = c[rng() % c.size()].second;
      if (b.empty()) continue;
      const size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0:
          b[at] = static_cast<char>(rng());
          break;
        case 1:
          b[at] = static_cast<char>(0xFF);
          break;
        case 2:
          b[at] ^= static_cast<char>(1u << (rng() % 8));
          break;
        default:
          b.erase(at, rng() % 8);
          break;
      }
    }
    Recorder rec;
    SmbConfig cfg;
    cfg.retain = (iter % 2) ? 512 : kSmbRetainDefault;
    Transcript(c, 1 + rng() % 64, &rec, cfg);
    records += rec.recs.size();
  }
  EXPECT_GT(records, 0u);
}

TEST(SmbParser, NoAllocationAfterConstruction) {
  const Conv conv = AllConversations();
  uint64_t records = 0;
  SmbSink sink;
  sink.ctx = &records;
  sink.record = [](void* c, const SmbRecord&) { ++*static_cast<uint64_t*>(c); };
  SmbParser p({}, sink);
  const uint64_t before = fs::test_support::Allocations();
  for (const auto& [dir, bytes] : conv)
    p.Feed(dir, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  EXPECT_EQ(fs::test_support::Allocations(), before);
  EXPECT_GT(records, 10u);
}

TEST(SmbParser, TablesStayBounded) {
  Recorder rec;
  SmbParser p({}, rec.Sink());
  auto feed = [&](SmbDirection d, const Bytes& b) {
    const Bytes m = NetBios(b);
    p.Feed(d, reinterpret_cast<const uint8_t*>(m.data()), m.size());
  };
  feed(kC, TreeConnectReq(1, "\\\\h\\S"));
  feed(kS, TreeConnectResp(1, kTree, 1));
  for (uint64_t i = 0; i < 200; ++i) {
    feed(kC, CreateReq(100 + i, kTree, "f" + std::to_string(i)));
    feed(kS, CreateResp(100 + i, kTree, 1000 + i));
  }
  EXPECT_GT(p.event_count(SmbEvent::kTooManyOpenFiles), 0u);
  // The newest file is still named.
  feed(kC, CloseReq(999, kTree, 1199));
  EXPECT_EQ(rec.files.back(), "f199");
  for (uint64_t i = 0; i < 100; ++i) feed(kC, CreateReq(5000 + i, kTree, "p"));
  EXPECT_GT(p.event_count(SmbEvent::kTooManyPending), 0u);
}

TEST(SmbParser, EventNames) {
  EXPECT_STREQ(SmbEventName(SmbEvent::kMalformedData), "malformed_data");
  EXPECT_STREQ(SmbEventName(SmbEvent::kDuplicateNegotiate), "duplicate_negotiate");
  EXPECT_STREQ(SmbStatusName(0xC0000022), "STATUS_ACCESS_DENIED");
  EXPECT_EQ(SmbStatusName(0x12345678), nullptr);
}

// ---- captures -------------------------------------------------------------------------------

// Feeds the port-445 TCP payloads of an Ethernet/IPv4 capture to one SmbParser per connection,
// in order, by sequence number: retransmitted bytes are dropped, a gap skips the segment (the
// captures used here have none). Returns false when the file is not there.
bool ReplayCapture(const std::string& name, Recorder* rec, uint64_t* gaps) {
  const std::string shared = fs::testing::SharedDir();
  if (shared.empty()) return false;  // ../shared absent: the capture tests skip
  const std::string path = shared + "/data/captures/" + name;
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path.c_str(), err);
  if (pc == nullptr) return false;
  struct Conn {
    std::unique_ptr<SmbParser> parser;
    uint32_t next[2] = {0, 0};
    bool synced[2] = {false, false};
  };
  std::map<std::tuple<uint32_t, uint32_t, uint16_t, uint16_t>, Conn> conns;
  pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(pc, &h, &d) == 1) {
    const size_t n = h->caplen;
    if (pcap_datalink(pc) != DLT_EN10MB || n < 14 + 20) continue;
    size_t off = 12;
    uint16_t et = static_cast<uint16_t>(d[off] << 8 | d[off + 1]);
    off += 2;
    while (et == 0x8100 && off + 4 <= n) {
      et = static_cast<uint16_t>(d[off + 2] << 8 | d[off + 3]);
      off += 4;
    }
    if (et != 0x0800 || off + 20 > n || (d[off] >> 4) != 4 || d[off + 9] != 6) continue;
    const size_t t = off + (d[off] & 15) * 4;
    size_t end = off + (d[off + 2] << 8 | d[off + 3]);
    if (end > n) end = n;
    if (t + 20 > end) continue;
    const uint16_t sp = static_cast<uint16_t>(d[t] << 8 | d[t + 1]);
    const uint16_t dp = static_cast<uint16_t>(d[t + 2] << 8 | d[t + 3]);
    if (sp != 445 && dp != 445) continue;
    const uint32_t seq =
        static_cast<uint32_t>(d[t + 4]) << 24 | d[t + 5] << 16 | d[t + 6] << 8 | d[t + 7];
    const size_t pay = t + (d[t + 12] >> 4) * 4;
    if (pay > end) continue;
    uint32_t a, b;
    std::memcpy(&a, d + off + 12, 4);
    std::memcpy(&b, d + off + 16, 4);
    const int dir = dp == 445 ? 0 : 1;
    Conn& c = conns[dir == 0 ? std::make_tuple(a, b, sp, dp) : std::make_tuple(b, a, dp, sp)];
    if (!c.parser) c.parser = std::make_unique<SmbParser>(SmbConfig{}, rec->Sink());
    if (d[t + 13] & 0x02) {  // SYN
      c.next[dir] = seq + 1;
      c.synced[dir] = true;
      continue;
    }
    if (!c.synced[dir]) {
      c.next[dir] = seq;
      c.synced[dir] = true;
    }
    const size_t len = end - pay;
    const int32_t delta = static_cast<int32_t>(seq - c.next[dir]);
    if (len == 0) continue;
    if (delta > 0) {
      ++*gaps;
      continue;
    }
    if (static_cast<size_t>(-static_cast<int64_t>(delta)) >= len) continue;
    const size_t skip = static_cast<size_t>(-static_cast<int64_t>(delta));
    c.parser->Feed(dir ? kS : kC, d + pay + skip, len - skip);
    c.next[dir] = seq + static_cast<uint32_t>(len);
  }
  pcap_close(pc);
  return true;
}

bool HasLine(const Recorder& rec, const std::vector<std::string>& parts) {
  for (const auto& l : rec.log) {
    bool all = true;
    for (const auto& p : parts) all = all && l.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

TEST(SmbCapture, CopyOfMimikatzFromAdminShare) {
  Recorder rec;
  uint64_t gaps = 0;
  if (!ReplayCapture("smb_mimikatz_copy_to_host.pcap", &rec, &gaps))
    GTEST_SKIP() << "capture not found (../shared/data/captures or $FS_SHARED_DIR)";
  EXPECT_EQ(gaps, 0u);
  EXPECT_TRUE(HasLine(rec, {"SMB2_COMMAND_TREE_CONNECT resp", "share=\\\\admin-pc\\c$"}));
  EXPECT_TRUE(
      HasLine(rec, {"SMB2_COMMAND_READ", "share=\\\\admin-pc\\c$", "file=temp\\mimikatz.exe"}));
  EXPECT_EQ(rec.Text().find("EVENT"), std::string::npos) << rec.Text();
}

TEST(SmbCapture, WmiexecDcerpcOverPipes) {
  Recorder rec;
  uint64_t gaps = 0;
  if (!ReplayCapture("rdp-then-wmiexec.pcap", &rec, &gaps))
    GTEST_SKIP() << "capture not found (../shared/data/captures or $FS_SHARED_DIR)";
  // winreg and samr, bound and called.
  EXPECT_TRUE(HasLine(
      rec, {"SMB2_COMMAND_WRITE req", "pipe=winreg", "if=338cd001-2244-31f1-aaaa-900038001003"}));
  EXPECT_TRUE(
      HasLine(rec, {"pipe=winreg", "dce=0/", "reqif=338cd001-2244-31f1-aaaa-900038001003"}));
  EXPECT_TRUE(HasLine(rec, {"pipe=samr", "reqif=12345778-1234-abcd-ef00-0123456789ac"}));
  EXPECT_TRUE(HasLine(rec, {"SMB2_COMMAND_CREATE req", "file=example.bat"}));
  EXPECT_EQ(rec.Text().find("EVENT"), std::string::npos) << rec.Text();
}

TEST(SmbCapture, EternalBlueSmb1) {
  Recorder rec;
  uint64_t gaps = 0;
  if (!ReplayCapture("eternalblue-success-unpatched-win7.pcap", &rec, &gaps))
    GTEST_SKIP() << "capture not found (../shared/data/captures or $FS_SHARED_DIR)";
  EXPECT_TRUE(HasLine(rec, {"SMB1_COMMAND_TREE_CONNECT_ANDX resp", "IPC$"}));
  EXPECT_TRUE(HasLine(rec, {"SMB1_COMMAND_NT_TRANS req"}));
  EXPECT_TRUE(HasLine(rec, {"SMB1_COMMAND_TRANS2_SECONDARY req", "IPC$"}));
}

}  // namespace
}  // namespace fs::app
