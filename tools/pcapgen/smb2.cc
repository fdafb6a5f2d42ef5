#include "tools/pcapgen/smb2.h"

#include <cctype>
#include <utility>

#include "tools/pcapgen/byte_writer.h"
#include "tools/pcapgen/civil_time.h"
#include "tools/pcapgen/der.h"
#include "tools/pcapgen/rng.h"

namespace fs::pcapgen {

namespace {

// MS-SMB2 2.2.1 command codes.
constexpr uint16_t kNegotiate = 0x0000, kSessionSetup = 0x0001, kLogoff = 0x0002,
                   kTreeConnect = 0x0003, kTreeDisconnect = 0x0004, kCreate = 0x0005,
                   kClose = 0x0006, kRead = 0x0008, kWrite = 0x0009, kSetInfo = 0x0011;
constexpr const char* kSpnegoOid = "1.3.6.1.5.5.2";
constexpr const char* kNtlmsspOid = "1.3.6.1.4.1.311.2.2.10";
constexpr uint32_t kNtlmNegotiateFlags = 0xe2088297;
constexpr uint32_t kNtlmChallengeFlags = 0xe28a8215;
constexpr uint32_t kNtlmAuthFlags = 0xe2888215;
constexpr const char* kDnsDomain = "district.example";
constexpr const char* kNbDomain = "DISTRICT";

// NTLMSSP VERSION: Windows 10/11 or Server 2022, NTLM revision 15.
void NtlmVersion(ByteWriter* w, uint16_t build) { w->U8(10).U8(0).Le16(build).Zeros(3).U8(15); }

// The server's AV pairs (MS-NLMP 2.2.2.1), also echoed inside the client's NTLMv2 response.
Bytes TargetInfo(std::string_view computer, uint64_t filetime) {
  ByteWriter w;
  auto pair = [&w](uint16_t id, std::string_view s) {
    w.Le16(id).Le16(static_cast<uint16_t>(s.size() * 2)).Utf16(s);
  };
  std::string fqdn(computer);
  for (char& c : fqdn) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  fqdn += std::string(".") + kDnsDomain;
  pair(2, kNbDomain);
  pair(1, computer);
  pair(4, kDnsDomain);
  pair(3, fqdn);
  pair(5, kDnsDomain);
  w.Le16(7).Le16(8).Le64(filetime);
  w.Le16(0).Le16(0);
  return w.Take();
}

// A security buffer field (length, max length, offset) of an NTLMSSP message.
void NtlmField(ByteWriter* w, size_t len, size_t offset) {
  w->Le16(static_cast<uint16_t>(len)).Le16(static_cast<uint16_t>(len));
  w->Le32(static_cast<uint32_t>(offset));
}

}  // namespace

Smb2Dialog::Smb2Dialog(Rng* rng, std::string server_name, uint64_t now_us)
    : rng_(rng),
      server_name_(std::move(server_name)),
      now_us_(now_us),
      client_guid_(rng->Bytes(16)),
      server_guid_(rng->Bytes(16)) {}

Bytes Smb2Dialog::Message(const Header& h, bool response, const Bytes& body) const {
  ByteWriter w;
  w.U8(0).Be24(static_cast<uint32_t>(64 + body.size()));  // NetBIOS session message
  w.U8(0xfe).Text("SMB").Le16(64);
  w.Le16(h.command == kNegotiate ? 0 : 1);  // credit charge
  w.Le32(response ? h.status : 0);          // status / channel sequence
  w.Le16(h.command).Le16(h.credits);
  w.Le32(response ? 0x00000001 : 0);  // SMB2_FLAGS_SERVER_TO_REDIR
  w.Le32(0);                          // next command
  w.Le64(message_id_);
  w.Le32(0x0000feff);  // process id
  w.Le32(h.tree_id);
  w.Le64(h.command == kSessionSetup && response ? pending_session_id_ : session_id_);
  w.Zeros(16);  // signature (unsigned session)
  w.Append(body);
  return w.Take();
}

Smb2Exchange Smb2Dialog::Pair(uint16_t command, const Bytes& req_body, uint32_t status,
                              const Bytes& resp_body) {
  Smb2Exchange ex;
  ex.request = Message(Header{command, 0, tree_id_, 1}, false, req_body);
  ex.response = Message(Header{command, status, tree_id_, 1}, true, resp_body);
  ++message_id_;
  return ex;
}

Bytes Smb2Dialog::FileId() const {
  return ByteWriter().Le64(file_persistent_).Le64(file_volatile_).Take();
}

Bytes Smb2Dialog::ErrorBody() const {
  return ByteWriter().Le16(9).U8(0).U8(0).Le32(0).U8(0).Take();
}

Smb2Exchange Smb2Dialog::Negotiate() {
  ByteWriter req;
  req.Le16(36).Le16(4).Le16(1 /* signing enabled */).Le16(0).Le32(0x7f).Append(client_guid_);
  req.Le64(0);
  for (uint16_t dialect : {0x0202, 0x0210, 0x0300, 0x0302}) req.Le16(dialect);

  using namespace der;
  const Bytes token =
      Tlv(0x60, Cat({Oid(kSpnegoOid), Ctx(0, Seq({Ctx(0, Seq({Oid(kNtlmsspOid)}))}))}));
  ByteWriter resp;
  resp.Le16(65).Le16(1).Le16(0x0302).Le16(0).Append(server_guid_).Le32(0x2f);
  resp.Le32(8388608).Le32(8388608).Le32(8388608);
  resp.Le64(FileTime(now_us_)).Le64(0);
  resp.Le16(0x80).Le16(static_cast<uint16_t>(token.size())).Le32(0).Append(token);
  return Pair(kNegotiate, req.Take(), smb2::kStatusSuccess, resp.Take());
}

Smb2Exchange Smb2Dialog::SessionSetupNegotiate() {
  using namespace der;
  ByteWriter ntlm;
  ntlm.Text(std::string_view("NTLMSSP\0", 8)).Le32(1).Le32(kNtlmNegotiateFlags);
  NtlmField(&ntlm, 0, 0);
  NtlmField(&ntlm, 0, 0);
  NtlmVersion(&ntlm, 19041);
  const Bytes init =
      Tlv(0x60,
          Cat({Oid(kSpnegoOid),
               Ctx(0, Seq({Ctx(0, Seq({Oid(kNtlmsspOid)})), Ctx(2, OctetString(ntlm.bytes()))}))}));

  server_challenge_ = rng_->Next();
  const Bytes target_name = Utf16Le(kNbDomain);
  const Bytes info = TargetInfo(server_name_, FileTime(now_us_));
  ByteWriter chal;
  chal.Text(std::string_view("NTLMSSP\0", 8)).Le32(2);
  NtlmField(&chal, target_name.size(), 56);
  chal.Le32(kNtlmChallengeFlags).Le64(server_challenge_).Le64(0);
  NtlmField(&chal, info.size(), 56 + target_name.size());
  NtlmVersion(&chal, 20348);
  chal.Append(target_name).Append(info);
  const Bytes resp_token =
      Ctx(1, Seq({Ctx(0, Enumerated(1) /* accept-incomplete */), Ctx(1, Oid(kNtlmsspOid)),
                  Ctx(2, OctetString(chal.bytes()))}));

  pending_session_id_ = (rng_->Next() & 0x0000ffffffff0000ULL) | 0x0000000000000041ULL;
  ByteWriter req;
  req.Le16(25).U8(0).U8(1).Le32(1).Le32(0).Le16(0x58).Le16(static_cast<uint16_t>(init.size()));
  req.Le64(0).Append(init);
  ByteWriter resp;
  resp.Le16(9).Le16(0).Le16(0x48).Le16(static_cast<uint16_t>(resp_token.size()));
  resp.Append(resp_token);
  return Pair(kSessionSetup, req.Take(), smb2::kStatusMoreProcessingRequired, resp.Take());
}

Smb2Exchange Smb2Dialog::SessionSetupAuth(std::string_view domain, std::string_view user,
                                          std::string_view workstation) {
  using namespace der;
  session_id_ = pending_session_id_;
  const Bytes dom = Utf16Le(domain), usr = Utf16Le(user), ws = Utf16Le(workstation);
  ByteWriter nt;  // NTLMv2 response: NTProofStr, then the client blob
  nt.Append(rng_->Bytes(16));
  nt.U8(1).U8(1).Le16(0).Le32(0).Le64(FileTime(now_us_)).Append(rng_->Bytes(8)).Le32(0);
  nt.Append(TargetInfo(server_name_, FileTime(now_us_))).Le32(0);
  const Bytes lm(24, 0);
  const Bytes key = rng_->Bytes(16);

  constexpr size_t kFixed = 88;
  size_t off = kFixed;
  ByteWriter auth;
  auth.Text(std::string_view("NTLMSSP\0", 8)).Le32(3);
  const size_t off_dom = off, off_usr = off_dom + dom.size(), off_ws = off_usr + usr.size();
  const size_t off_lm = off_ws + ws.size(), off_nt = off_lm + lm.size();
  const size_t off_key = off_nt + nt.size();
  NtlmField(&auth, lm.size(), off_lm);
  NtlmField(&auth, nt.size(), off_nt);
  NtlmField(&auth, dom.size(), off_dom);
  NtlmField(&auth, usr.size(), off_usr);
  NtlmField(&auth, ws.size(), off_ws);
  NtlmField(&auth, key.size(), off_key);
  auth.Le32(kNtlmAuthFlags);
  NtlmVersion(&auth, 19041);
  auth.Append(rng_->Bytes(16));  // MIC
  auth.Append(dom).Append(usr).Append(ws).Append(lm).Append(nt.bytes()).Append(key);

  const Bytes token =
      Ctx(1, Seq({Ctx(2, OctetString(auth.bytes())), Ctx(3, OctetString(rng_->Bytes(16)))}));
  const Bytes resp_token = Ctx(
      1, Seq({Ctx(0, Enumerated(0) /* accept-completed */), Ctx(3, OctetString(rng_->Bytes(16)))}));
  ByteWriter req;
  req.Le16(25).U8(0).U8(1).Le32(1).Le32(0).Le16(0x58).Le16(static_cast<uint16_t>(token.size()));
  req.Le64(0).Append(token);
  ByteWriter resp;
  resp.Le16(9).Le16(0).Le16(0x48).Le16(static_cast<uint16_t>(resp_token.size()));
  resp.Append(resp_token);
  return Pair(kSessionSetup, req.Take(), smb2::kStatusSuccess, resp.Take());
}

Smb2Exchange Smb2Dialog::TreeConnect(std::string_view unc) {
  const Bytes path = Utf16Le(unc);
  ByteWriter req;
  req.Le16(9).Le16(0).Le16(0x48).Le16(static_cast<uint16_t>(path.size())).Append(path);
  const bool ipc = unc.size() >= 4 && unc.substr(unc.size() - 4) == "IPC$";
  ByteWriter resp;
  resp.Le16(16).U8(ipc ? 0x02 : 0x01).U8(0).Le32(ipc ? 0x30 : 0x00).Le32(0);
  resp.Le32(ipc ? 0x001f00a9 : 0x001f01ff);
  // The request goes out on tree 0; the response carries the new tree id.
  Smb2Exchange ex;
  tree_id_ = 0;
  ex.request = Message(Header{kTreeConnect, 0, 0, 1}, false, req.Take());
  tree_id_ = next_tree_id_++;
  ex.response = Message(Header{kTreeConnect, smb2::kStatusSuccess, tree_id_, 1}, true, resp.Take());
  ++message_id_;
  return ex;
}

Smb2Exchange Smb2Dialog::Create(std::string_view name, Open mode, uint64_t file_size,
                                uint32_t status) {
  uint32_t access = 0x00120089, disposition = 1, options = 0x00000040, attributes = 0;
  uint32_t action = 1;  // FILE_OPENED
  switch (mode) {
    case Open::kRead:
      break;
    case Open::kOverwrite:
      access = 0x0012019f, disposition = 5, attributes = 0x80, action = 3;  // FILE_OVERWRITTEN
      break;
    case Open::kCreate:
      access = 0x0012019f, disposition = 2, attributes = 0x80, action = 2;  // FILE_CREATED
      break;
    case Open::kModify:
      access = 0x0012019f, disposition = 1;
      break;
    case Open::kRename:
      access = 0x00110080, disposition = 1;
      break;
    case Open::kPipe:
      access = 0x0012019f, disposition = 1, options = 0;
      break;
  }
  const Bytes n = Utf16Le(name);
  ByteWriter req;
  req.Le16(57).U8(0).U8(0).Le32(2 /* impersonation */).Le64(0).Le64(0);
  req.Le32(access).Le32(attributes).Le32(7 /* share read|write|delete */);
  req.Le32(disposition).Le32(options).Le16(0x78).Le16(static_cast<uint16_t>(n.size()));
  req.Le32(0).Le32(0).Append(n);
  if (status != smb2::kStatusSuccess) {
    return Pair(kCreate, req.Take(), status, ErrorBody());
  }
  file_persistent_ = rng_->Next();
  file_volatile_ = rng_->Next();
  const uint64_t ft = FileTime(now_us_);
  // An existing file's creation time is a stable function of its name (1-60 days ago), so
  // opening it twice reports the same times.
  uint64_t name_hash = 1469598103934665603ULL;
  for (char ch : name) name_hash = (name_hash ^ static_cast<uint8_t>(ch)) * 1099511628211ULL;
  const uint64_t created = mode == Open::kCreate ? ft : ft - 864000000000ULL * (1 + name_hash % 60);
  const bool pipe = mode == Open::kPipe;
  ByteWriter resp;
  resp.Le16(89).U8(0).U8(0).Le32(action);
  resp.Le64(pipe ? 0 : created)
      .Le64(pipe ? 0 : ft)
      .Le64(pipe ? 0 : created)
      .Le64(pipe ? 0 : created);
  resp.Le64(pipe ? 4096 : (file_size + 4095) / 4096 * 4096).Le64(pipe ? 0 : file_size);
  resp.Le32(pipe ? 0x80 : 0x20).Le32(0).Append(FileId()).Le32(0).Le32(0);
  return Pair(kCreate, req.Take(), smb2::kStatusSuccess, resp.Take());
}

Smb2Exchange Smb2Dialog::Write(uint64_t offset, const Bytes& data) {
  ByteWriter req;
  req.Le16(49).Le16(0x70).Le32(static_cast<uint32_t>(data.size())).Le64(offset).Append(FileId());
  req.Le32(0).Le32(0).Le16(0).Le16(0).Le32(0).Append(data);
  ByteWriter resp;
  resp.Le16(17).Le16(0).Le32(static_cast<uint32_t>(data.size())).Le32(0).Le16(0).Le16(0);
  return Pair(kWrite, req.Take(), smb2::kStatusSuccess, resp.Take());
}

Smb2Exchange Smb2Dialog::Read(uint64_t offset, const Bytes& data) {
  ByteWriter req;
  req.Le16(49).U8(0x50).U8(0).Le32(static_cast<uint32_t>(data.size())).Le64(offset);
  req.Append(FileId()).Le32(0).Le32(0).Le32(0).Le16(0).Le16(0).U8(0);
  ByteWriter resp;
  resp.Le16(17).U8(0x50).U8(0).Le32(static_cast<uint32_t>(data.size())).Le32(0).Le32(0);
  resp.Append(data);
  return Pair(kRead, req.Take(), smb2::kStatusSuccess, resp.Take());
}

Smb2Exchange Smb2Dialog::Rename(std::string_view new_name) {
  const Bytes n = Utf16Le(new_name);
  ByteWriter info;  // FILE_RENAME_INFORMATION_TYPE_2
  info.U8(0).Zeros(7).Le64(0).Le32(static_cast<uint32_t>(n.size())).Append(n);
  ByteWriter req;
  req.Le16(33).U8(1 /* SMB2_0_INFO_FILE */).U8(10 /* FileRenameInformation */);
  req.Le32(static_cast<uint32_t>(info.size())).Le16(0x60).Le16(0).Le32(0).Append(FileId());
  req.Append(info.bytes());
  return Pair(kSetInfo, req.Take(), smb2::kStatusSuccess, ByteWriter().Le16(2).Take());
}

Smb2Exchange Smb2Dialog::Close() {
  ByteWriter req;
  req.Le16(24).Le16(0).Le32(0).Append(FileId());
  ByteWriter resp;
  resp.Le16(60).Le16(0).Le32(0).Zeros(48).Le32(0);
  return Pair(kClose, req.Take(), smb2::kStatusSuccess, resp.Take());
}

Smb2Exchange Smb2Dialog::TreeDisconnect() {
  const Bytes body = ByteWriter().Le16(4).Le16(0).Take();
  return Pair(kTreeDisconnect, body, smb2::kStatusSuccess, body);
}

Smb2Exchange Smb2Dialog::Logoff() {
  const Bytes body = ByteWriter().Le16(4).Le16(0).Take();
  tree_id_ = 0;
  return Pair(kLogoff, body, smb2::kStatusSuccess, body);
}

}  // namespace fs::pcapgen

namespace fs::pcapgen::dcerpc {

namespace {
// UUIDs in DCE/RPC's little-endian wire form.
const Bytes kSvcctlUuid = {0x81, 0xbb, 0x7a, 0x36, 0x44, 0x98, 0xf1, 0x35,
                           0xad, 0x32, 0x98, 0xf0, 0x38, 0x00, 0x10, 0x03};
const Bytes kNdrUuid = {0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11,
                        0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60};

void CommonHeader(ByteWriter* w, uint8_t ptype, uint32_t call_id) {
  w->U8(5).U8(0).U8(ptype).U8(0x03 /* first|last frag */).Le32(0x00000010 /* LE, ASCII */);
  w->Le16(0 /* frag_length, patched */).Le16(0).Le32(call_id);
}
}  // namespace

Bytes BindSvcctl(uint32_t call_id) {
  ByteWriter w;
  CommonHeader(&w, 11, call_id);
  w.Le16(4280).Le16(4280).Le32(0);
  w.U8(1).Zeros(3);
  w.Le16(0).U8(1).U8(0).Append(kSvcctlUuid).Le16(2).Le16(0).Append(kNdrUuid).Le32(2);
  w.PatchLe16(8, static_cast<uint16_t>(w.size()));
  return w.Take();
}

Bytes BindAckSvcctl(uint32_t call_id, uint32_t assoc_group) {
  ByteWriter w;
  CommonHeader(&w, 12, call_id);
  w.Le16(4280).Le16(4280).Le32(assoc_group);
  const std::string_view addr("\\PIPE\\ntsvcs\0", 13);
  w.Le16(static_cast<uint16_t>(addr.size())).Text(addr).Align(4);
  w.U8(1).Zeros(3);
  w.Le16(0).Le16(0).Append(kNdrUuid).Le32(2);
  w.PatchLe16(8, static_cast<uint16_t>(w.size()));
  return w.Take();
}

}  // namespace fs::pcapgen::dcerpc
