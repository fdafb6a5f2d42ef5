#include "dataplane/app/smb.h"

#include <algorithm>
#include <cstring>

namespace fs::app {

const char* SmbEventName(SmbEvent e) {
  switch (e) {
#define FS_X(id, name) \
  case SmbEvent::id:   \
    return name;
    FS_SMB_EVENTS(FS_X)
#undef FS_X
    case SmbEvent::kCount:
      break;
  }
  return "unknown";
}

namespace {

constexpr size_t kSmb2HeaderLen = 64;
constexpr size_t kSmb1HeaderLen = 32;
constexpr uint32_t kSmb2FlagResponse = 0x1;
constexpr uint32_t kSmb2FlagAsync = 0x2;
constexpr uint32_t kSmb2FlagRelated = 0x4;
constexpr uint32_t kStatusSuccess = 0;
constexpr uint32_t kStatusPending = 0x103;
constexpr uint32_t kCreateOptionDeleteOnClose = 0x1000;
constexpr uint8_t kInfoTypeFile = 1;
constexpr uint8_t kFileRenameInformation = 10;
constexpr uint8_t kFileDispositionInformation = 13;
constexpr uint8_t kFileDispositionInformationEx = 64;
constexpr uint8_t kDcerpcRequest = 0;
constexpr uint8_t kDcerpcBind = 11;
constexpr uint8_t kDcerpcAlterContext = 14;
constexpr uint16_t kSmb1Pending = 0x100;  // pending-table command space for SMB1 requests

uint16_t Rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t Rd32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t Rd64(const uint8_t* p) {
  return static_cast<uint64_t>(Rd32(p)) | (static_cast<uint64_t>(Rd32(p + 4)) << 32);
}
uint16_t Rd16E(const uint8_t* p, bool le) {
  return le ? Rd16(p) : static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t Rd32E(const uint8_t* p, bool le) {
  return le ? Rd32(p)
            : (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
                  (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

// off..off+n lies inside the first `avail` bytes.
bool Has(size_t avail, size_t off, size_t n) { return off <= avail && n <= avail - off; }

bool IsMagic(const uint8_t* p, uint8_t first) {
  return p[0] == first && p[1] == 'S' && p[2] == 'M' && p[3] == 'B';
}

size_t PutUtf8(uint32_t cp, char* out, size_t at, size_t cap, bool* trunc) {
  char tmp[4];
  size_t n;
  if (cp < 0x80) {
    tmp[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    tmp[0] = static_cast<char>(0xC0 | (cp >> 6));
    tmp[1] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    tmp[0] = static_cast<char>(0xE0 | (cp >> 12));
    tmp[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    tmp[2] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    tmp[0] = static_cast<char>(0xF0 | (cp >> 18));
    tmp[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    tmp[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    tmp[3] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 4;
  }
  if (n > cap - at) {
    *trunc = true;
    return at;
  }
  std::memcpy(out + at, tmp, n);
  return at + n;
}

// UTF-16LE -> UTF-8, stopping at a NUL code unit; an unpaired surrogate becomes U+FFFD. Returns
// the length written (at most cap); *trunc is set when the text did not fit.
size_t Utf16ToUtf8(const uint8_t* p, size_t bytes, char* out, size_t cap, bool* trunc) {
  size_t at = 0;
  for (size_t i = 0; i + 1 < bytes && !*trunc; i += 2) {
    uint32_t u = Rd16(p + i);
    if (u == 0) break;
    if (u >= 0xD800 && u <= 0xDBFF && i + 3 < bytes) {
      const uint32_t lo = Rd16(p + i + 2);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        i += 2;
      } else {
        u = 0xFFFD;
      }
    } else if (u >= 0xD800 && u <= 0xDFFF) {
      u = 0xFFFD;
    }
    at = PutUtf8(u, out, at, cap, trunc);
  }
  return at;
}

// OEM (SMB1 non-Unicode) string: ASCII kept, other bytes as '?', stopping at NUL.
size_t OemToText(const uint8_t* p, size_t bytes, char* out, size_t cap, bool* trunc) {
  size_t at = 0;
  for (size_t i = 0; i < bytes; ++i) {
    if (p[i] == 0) break;
    if (at == cap) {
      *trunc = true;
      break;
    }
    out[at++] = p[i] < 0x80 ? static_cast<char>(p[i]) : '?';
  }
  return at;
}

char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool IsIpcShare(const char* s, size_t len) {
  if (len < 4) return false;
  const char* t = s + len - 4;
  if (!(Upper(t[0]) == 'I' && Upper(t[1]) == 'P' && Upper(t[2]) == 'C' && t[3] == '$'))
    return false;
  return len == 4 || s[len - 5] == '\\';
}

void FormatUuid(const uint8_t* u, bool le, char* out) {
  static const char kHex[] = "0123456789abcdef";
  uint8_t b[16];
  const uint32_t d1 = Rd32E(u, le);
  const uint16_t d2 = Rd16E(u + 4, le);
  const uint16_t d3 = Rd16E(u + 6, le);
  b[0] = static_cast<uint8_t>(d1 >> 24);
  b[1] = static_cast<uint8_t>(d1 >> 16);
  b[2] = static_cast<uint8_t>(d1 >> 8);
  b[3] = static_cast<uint8_t>(d1);
  b[4] = static_cast<uint8_t>(d2 >> 8);
  b[5] = static_cast<uint8_t>(d2);
  b[6] = static_cast<uint8_t>(d3 >> 8);
  b[7] = static_cast<uint8_t>(d3);
  std::memcpy(b + 8, u + 8, 8);
  size_t at = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[at++] = '-';
    out[at++] = kHex[b[i] >> 4];
    out[at++] = kHex[b[i] & 0xF];
  }
}

bool AllOnes(const uint8_t* id) {
  for (int i = 0; i < 16; ++i)
    if (id[i] != 0xFF) return false;
  return true;
}

}  // namespace

bool LooksLikeSmb(const uint8_t* data, size_t len) {
  if (data == nullptr || len < 8 || data[0] != 0x00) return false;
  const uint32_t nb_len = (static_cast<uint32_t>(data[1]) << 16) | (data[2] << 8) | data[3];
  if (nb_len < 4) return false;
  const uint8_t m = data[4];
  if (!(m == 0xFF || m == 0xFE || m == 0xFD || m == 0xFC) || !IsMagic(data + 4, m)) return false;
  if (m == 0xFF) return nb_len >= kSmb1HeaderLen;
  if (m == 0xFE) return nb_len >= kSmb2HeaderLen;
  return true;
}

const char* SmbCommandName(uint8_t version, uint16_t command) {
  if (version == 1) {
    switch (command) {
      case 0x04:
        return "SMB1_COMMAND_CLOSE";
      case 0x06:
        return "SMB1_COMMAND_DELETE";
      case 0x07:
        return "SMB1_COMMAND_RENAME";
      case 0x24:
        return "SMB1_COMMAND_LOCKING_ANDX";
      case 0x25:
        return "SMB1_COMMAND_TRANS";
      case 0x26:
        return "SMB1_COMMAND_TRANS_SECONDARY";
      case 0x2B:
        return "SMB1_COMMAND_ECHO";
      case 0x2D:
        return "SMB1_COMMAND_OPEN_ANDX";
      case 0x2E:
        return "SMB1_COMMAND_READ_ANDX";
      case 0x2F:
        return "SMB1_COMMAND_WRITE_ANDX";
      case 0x32:
        return "SMB1_COMMAND_TRANS2";
      case 0x33:
        return "SMB1_COMMAND_TRANS2_SECONDARY";
      case 0x71:
        return "SMB1_COMMAND_TREE_DISCONNECT";
      case 0x72:
        return "SMB1_COMMAND_NEGOTIATE_PROTOCOL";
      case 0x73:
        return "SMB1_COMMAND_SESSION_SETUP_ANDX";
      case 0x74:
        return "SMB1_COMMAND_LOGOFF_ANDX";
      case 0x75:
        return "SMB1_COMMAND_TREE_CONNECT_ANDX";
      case 0xA0:
        return "SMB1_COMMAND_NT_TRANS";
      case 0xA1:
        return "SMB1_COMMAND_NT_TRANS_SECONDARY";
      case 0xA2:
        return "SMB1_COMMAND_NT_CREATE_ANDX";
      case 0xA4:
        return "SMB1_COMMAND_NT_CANCEL";
      default:
        return "SMB1_COMMAND_UNKNOWN";
    }
  }
  switch (static_cast<Smb2Command>(command)) {
    case Smb2Command::kNegotiate:
      return "SMB2_COMMAND_NEGOTIATE_PROTOCOL";
    case Smb2Command::kSessionSetup:
      return "SMB2_COMMAND_SESSION_SETUP";
    case Smb2Command::kLogoff:
      return "SMB2_COMMAND_SESSION_LOGOFF";
    case Smb2Command::kTreeConnect:
      return "SMB2_COMMAND_TREE_CONNECT";
    case Smb2Command::kTreeDisconnect:
      return "SMB2_COMMAND_TREE_DISCONNECT";
    case Smb2Command::kCreate:
      return "SMB2_COMMAND_CREATE";
    case Smb2Command::kClose:
      return "SMB2_COMMAND_CLOSE";
    case Smb2Command::kFlush:
      return "SMB2_COMMAND_FLUSH";
    case Smb2Command::kRead:
      return "SMB2_COMMAND_READ";
    case Smb2Command::kWrite:
      return "SMB2_COMMAND_WRITE";
    case Smb2Command::kLock:
      return "SMB2_COMMAND_LOCK";
    case Smb2Command::kIoctl:
      return "SMB2_COMMAND_IOCTL";
    case Smb2Command::kCancel:
      return "SMB2_COMMAND_CANCEL";
    case Smb2Command::kEcho:
      return "SMB2_COMMAND_KEEPALIVE";
    case Smb2Command::kQueryDirectory:
      return "SMB2_COMMAND_FIND";
    case Smb2Command::kChangeNotify:
      return "SMB2_COMMAND_CHANGE_NOTIFY";
    case Smb2Command::kQueryInfo:
      return "SMB2_COMMAND_GET_INFO";
    case Smb2Command::kSetInfo:
      return "SMB2_COMMAND_SET_INFO";
    case Smb2Command::kOplockBreak:
      return "SMB2_COMMAND_OPLOCK_BREAK";
  }
  return "SMB2_COMMAND_UNKNOWN";
}

const char* SmbStatusName(uint32_t status) {
  switch (status) {
    case 0x00000000:
      return "STATUS_SUCCESS";
    case 0x00000103:
      return "STATUS_PENDING";
    case 0x00000104:
      return "STATUS_REPARSE";
    case 0x0000010C:
      return "STATUS_NOTIFY_ENUM_DIR";
    case 0x80000005:
      return "STATUS_BUFFER_OVERFLOW";
    case 0x80000006:
      return "STATUS_NO_MORE_FILES";
    case 0xC0000003:
      return "STATUS_INVALID_INFO_CLASS";
    case 0xC0000008:
      return "STATUS_INVALID_HANDLE";
    case 0xC000000D:
      return "STATUS_INVALID_PARAMETER";
    case 0xC000000F:
      return "STATUS_NO_SUCH_FILE";
    case 0xC0000010:
      return "STATUS_INVALID_DEVICE_REQUEST";
    case 0xC0000011:
      return "STATUS_END_OF_FILE";
    case 0xC0000016:
      return "STATUS_MORE_PROCESSING_REQUIRED";
    case 0xC0000022:
      return "STATUS_ACCESS_DENIED";
    case 0xC0000023:
      return "STATUS_BUFFER_TOO_SMALL";
    case 0xC0000034:
      return "STATUS_OBJECT_NAME_NOT_FOUND";
    case 0xC0000035:
      return "STATUS_OBJECT_NAME_COLLISION";
    case 0xC000003A:
      return "STATUS_OBJECT_PATH_NOT_FOUND";
    case 0xC0000043:
      return "STATUS_SHARING_VIOLATION";
    case 0xC0000056:
      return "STATUS_DELETE_PENDING";
    case 0xC000006D:
      return "STATUS_LOGON_FAILURE";
    case 0xC000006E:
      return "STATUS_ACCOUNT_RESTRICTION";
    case 0xC0000071:
      return "STATUS_PASSWORD_EXPIRED";
    case 0xC0000072:
      return "STATUS_ACCOUNT_DISABLED";
    case 0xC00000BA:
      return "STATUS_FILE_IS_A_DIRECTORY";
    case 0xC00000BB:
      return "STATUS_NOT_SUPPORTED";
    case 0xC00000C9:
      return "STATUS_NETWORK_NAME_DELETED";
    case 0xC00000CC:
      return "STATUS_BAD_NETWORK_NAME";
    case 0xC0000101:
      return "STATUS_DIRECTORY_NOT_EMPTY";
    case 0xC0000120:
      return "STATUS_CANCELLED";
    case 0xC0000128:
      return "STATUS_FILE_CLOSED";
    case 0xC000014B:
      return "STATUS_PIPE_BROKEN";
    case 0xC0000184:
      return "STATUS_INVALID_DEVICE_STATE";
    case 0xC0000203:
      return "STATUS_USER_SESSION_DELETED";
    case 0xC0000205:
      return "STATUS_INSUFF_SERVER_RESOURCES";
    case 0xC0000225:
      return "STATUS_NOT_FOUND";
    case 0xC0000234:
      return "STATUS_ACCOUNT_LOCKED_OUT";
    default:
      return nullptr;
  }
}

const char* SmbDialectName(uint16_t dialect) {
  switch (dialect) {
    case 0x0202:
      return "2.02";
    case 0x0210:
      return "2.10";
    case 0x0222:
      return "2.22";
    case 0x0224:
      return "2.24";
    case 0x02FF:
      return "2.??";
    case 0x0300:
      return "3.00";
    case 0x0302:
      return "3.02";
    case 0x0310:
      return "3.10";
    case 0x0311:
      return "3.11";
    default:
      return nullptr;
  }
}

namespace {
size_t RetainOf(const SmbConfig& cfg) {
  return std::clamp(cfg.retain, kSmbRetainMin, kSmbRetainMax);
}
}  // namespace

size_t SmbParser::StorageBytes(const SmbConfig& cfg) { return 2 * RetainOf(cfg); }

SmbParser::SmbParser(const SmbConfig& cfg, const SmbSink& sink, uint8_t* storage)
    : sink_(sink), cap_(RetainOf(cfg)) {
  if (storage == nullptr) {
    owned_.reset(new uint8_t[2 * cap_]);
    storage = owned_.get();
  }
  dirs_[0].buf = storage;
  dirs_[1].buf = storage + cap_;
}

SmbParser::~SmbParser() = default;

void SmbParser::Event(SmbEvent e) {
  ++events_[static_cast<int>(e)];
  if (sink_.event != nullptr) sink_.event(sink_.ctx, e);
}

void SmbParser::Deliver(const SmbRecord& r) {
  ++messages_;
  if (sink_.record != nullptr) sink_.record(sink_.ctx, r);
}

// Bytes to retain of a message whose first kSmb2HeaderLen bytes are at p: kSmbDataRetain for a
// lone SMB2 READ response or WRITE request (their file data is not inspected past it), else all.
static size_t RetainFor(const uint8_t* p, size_t msg_len) {
  if (!IsMagic(p, 0xFE) || Rd32(p + 20) != 0) return msg_len;
  const uint16_t command = Rd16(p + 12);
  const bool response = (Rd32(p + 16) & kSmb2FlagResponse) != 0;
  const bool data = (command == static_cast<uint16_t>(Smb2Command::kRead) && response) ||
                    (command == static_cast<uint16_t>(Smb2Command::kWrite) && !response);
  return data && msg_len > kSmbDataRetain ? kSmbDataRetain : msg_len;
}

void SmbParser::Feed(SmbDirection dir, const uint8_t* data, size_t len) {
  Dir& d = dirs_[static_cast<int>(dir)];
  while (len > 0 && !d.lost) {
    if (d.nb_have < 4) {
      d.nb[d.nb_have++] = *data++;
      --len;
      if (d.nb_have < 4) continue;
      const uint8_t type = d.nb[0];
      // RFC 1002 4.3: session message, request, positive/negative/retarget response, keepalive.
      if (type != 0x00 && (type < 0x81 || type > 0x85)) {
        Event(SmbEvent::kMalformedData);
        Event(SmbEvent::kFramingLost);
        d.lost = true;
        return;
      }
      d.msg_len = (static_cast<uint32_t>(d.nb[1]) << 16) | (d.nb[2] << 8) | d.nb[3];
      d.got = 0;
      // Only session messages (type 0) are retained and parsed.
      d.keep = type != 0x00 ? 0 : static_cast<uint32_t>(d.msg_len < cap_ ? d.msg_len : cap_);
      d.sized = type != 0x00;
      if (d.msg_len == 0) d.nb_have = 0;
      continue;
    }
    size_t want = d.msg_len - d.got;
    // Up to the end of the header first: it decides how much of the rest is retained.
    if (!d.sized && d.got < kSmb2HeaderLen) want = std::min<size_t>(want, kSmb2HeaderLen - d.got);
    const size_t n = len < want ? len : want;
    if (d.got < d.keep) {
      const size_t room = d.keep - d.got;
      std::memcpy(d.buf + d.got, data, n < room ? n : room);
    }
    d.got += static_cast<uint32_t>(n);
    data += n;
    len -= n;
    if (!d.sized && d.got >= kSmb2HeaderLen) {
      // The header is in: retain less of a message that carries file data. What was copied
      // already stays valid (keep never drops below it).
      d.sized = true;
      const size_t copied = d.got < d.keep ? d.got : d.keep;
      const size_t want_keep = RetainFor(d.buf, d.keep);
      d.keep = static_cast<uint32_t>(want_keep > copied ? want_keep : copied);
    }
    if (d.got == d.msg_len) {
      d.nb_have = 0;
      if (d.nb[0] == 0x00) {
        const size_t kept = d.msg_len < d.keep ? d.msg_len : d.keep;
        skipped_ += d.msg_len - kept;
        ProcessMessage(dir, d.buf, kept, d.msg_len);
      }
    }
  }
}

void SmbParser::ProcessMessage(SmbDirection dir, const uint8_t* p, size_t avail, size_t wire) {
  if (avail > wire || avail > cap_) {  // the framing never keeps more than it was sent
    Event(SmbEvent::kInternalError);
    return;
  }
  if (avail < 4) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  if (IsMagic(p, 0xFE)) return ParseSmb2(dir, p, avail, wire);
  if (IsMagic(p, 0xFF)) return ParseSmb1(dir, p, avail, wire);
  if (IsMagic(p, 0xFD) || IsMagic(p, 0xFC)) {
    SmbRecord r;
    r.direction = dir;
    r.dialect = dialect_;
    if (p[0] == 0xFD) {
      // Transform header: ProtocolId, Signature(16), Nonce(16), OriginalMessageSize(4),
      // Reserved(2), Flags(2), SessionId(8). Reported once per flow; the rest only counted.
      r.is_encrypted = true;
      if (Has(avail, 44, 8)) r.session_id = Rd64(p + 44);
      if (Has(avail, 36, 4)) r.length = Rd32(p + 36);
      if (encrypted_++ == 0) Deliver(r);
      return;
    }
    // Compression transform: ProtocolId, OriginalCompressedSegmentSize(4), Algorithm(2),
    // Flags(2), Offset/Length(4). Not decompressed; the sizes are exposed (CVE-2020-0796).
    r.is_compressed = true;
    if (Has(avail, 4, 4)) r.length = Rd32(p + 4);
    if (Has(avail, 12, 4)) r.offset = Rd32(p + 12);
    r.truncated = avail < wire;
    Deliver(r);
    return;
  }
  Event(SmbEvent::kMalformedData);
}

// ---- tables ---------------------------------------------------------------------------------

SmbParser::Tree* SmbParser::FindTree(uint32_t tree_id) {
  for (size_t i = 0; i < kSmbMaxTrees; ++i)
    if (tree_used_[i] && trees_[i].tree_id == tree_id) return &trees_[i];
  return nullptr;
}

template <size_t N>
size_t SmbParser::TakeSlot(std::array<bool, N>& used, size_t* next, SmbEvent full) {
  for (size_t i = 0; i < N; ++i) {
    if (!used[i]) {
      used[i] = true;
      return i;
    }
  }
  Event(full);
  const size_t i = *next;
  *next = (*next + 1) % N;
  return i;
}

void SmbParser::AddTree(uint32_t tree_id, const char* share, size_t len) {
  Tree* t = FindTree(tree_id);
  if (t == nullptr) t = &trees_[TakeSlot(tree_used_, &tree_next_, SmbEvent::kTooManyTrees)];
  t->tree_id = tree_id;
  t->len = static_cast<uint16_t>(len < kSmbShareCap ? len : kSmbShareCap);
  std::memcpy(t->share, share, t->len);
  t->is_ipc = IsIpcShare(t->share, t->len);
}

SmbParser::File* SmbParser::FindFile(const uint8_t* id) {
  for (size_t i = 0; i < kSmbMaxFiles; ++i)
    if (file_used_[i] && std::memcmp(files_[i].id, id, 16) == 0) return &files_[i];
  return nullptr;
}

SmbParser::File* SmbParser::AddFile(const uint8_t* id, const char* name, size_t len, bool pipe) {
  File* f = FindFile(id);
  if (f == nullptr) f = &files_[TakeSlot(file_used_, &file_next_, SmbEvent::kTooManyOpenFiles)];
  f->is_pipe = pipe;
  std::memcpy(f->id, id, 16);
  f->len = static_cast<uint16_t>(len < kSmbNameCap ? len : kSmbNameCap);
  std::memcpy(f->name, name, f->len);
  return f;
}

SmbParser::Pending* SmbParser::FindPending(uint64_t message_id, uint16_t command) {
  for (size_t i = 0; i < kSmbMaxPending; ++i) {
    const Pending& q = pending_[i];
    if (pending_used_[i] && q.message_id == message_id && q.command == command) return &pending_[i];
  }
  return nullptr;
}

SmbParser::Pending* SmbParser::AddPending(uint64_t message_id, uint16_t command) {
  Pending* q = FindPending(message_id, command);
  if (q == nullptr)
    q = &pending_[TakeSlot(pending_used_, &pending_next_, SmbEvent::kTooManyPending)];
  q->message_id = message_id;
  q->command = command;
  q->tree_id = 0;
  q->disposition = 0;
  q->desired_access = 0;
  q->delete_on_close = false;
  std::memset(q->file_id, 0, sizeof(q->file_id));
  q->len = 0;
  return q;
}

void SmbParser::ApplyFile(const File* f, SmbRecord* r) {
  std::memcpy(rec_name_.data(), f->name, f->len);
  r->filename = std::string_view(rec_name_.data(), f->len);
  if (f->is_pipe) {
    r->is_pipe = true;
    r->named_pipe = r->filename;
  }
}

// ---- SMB2 -----------------------------------------------------------------------------------

void SmbParser::ParseSmb2(SmbDirection dir, const uint8_t* p, size_t avail, size_t wire) {
  chain_name_len_ = 0;
  chain_pipe_ = false;
  size_t off = 0;
  for (uint32_t index = 0;; ++index) {
    if (index == kSmbMaxCompound) {
      Event(SmbEvent::kMalformedData);
      return;
    }
    if (!Has(avail, off, 4)) {
      Event(SmbEvent::kRecordOverflow);
      return;
    }
    if (!IsMagic(p + off, 0xFE)) {
      Event(SmbEvent::kMalformedData);
      return;
    }
    const uint32_t next = Has(avail, off + 20, 4) ? Rd32(p + off + 20) : 0;
    bool last = next == 0;
    size_t elem = wire - off;
    if (!last) {
      if (next < kSmb2HeaderLen || next >= wire - off) {
        Event(SmbEvent::kMalformedData);
        last = true;
      } else {
        elem = next;
      }
    }
    const size_t kept = avail - off < elem ? avail - off : elem;
    ParseSmb2One(dir, Span{p + off, kept, elem}, index);
    if (last) return;
    off += next;
  }
}

void SmbParser::Smb2FileIdAt(const Span& m, size_t off, SmbRecord* r) {
  const size_t at = kSmb2HeaderLen + off;
  if (!Has(m.avail, at, 16)) {
    Event(m.wire >= at + 16 ? SmbEvent::kRecordOverflow : SmbEvent::kMalformedData);
    return;
  }
  const uint8_t* id = m.p + at;
  r->file_id_persistent = Rd64(id);
  r->file_id_volatile = Rd64(id + 8);
  if (const File* f = FindFile(id)) {
    ApplyFile(f, r);
  } else if (AllOnes(id) && chain_name_len_ > 0) {
    std::memcpy(rec_name_.data(), chain_name_.data(), chain_name_len_);
    r->filename = std::string_view(rec_name_.data(), chain_name_len_);
    if (chain_pipe_) {
      r->is_pipe = true;
      r->named_pipe = r->filename;
    }
  }
}

void SmbParser::ParseSmb2One(SmbDirection dir, Span m, uint32_t index) {
  if (m.avail < kSmb2HeaderLen) {
    Event(m.wire < kSmb2HeaderLen ? SmbEvent::kMalformedData : SmbEvent::kRecordOverflow);
    return;
  }
  const uint8_t* h = m.p;
  SmbRecord r;
  r.direction = dir;
  r.version = 2;
  const uint32_t flags = Rd32(h + 16);
  r.is_response = (flags & kSmb2FlagResponse) != 0;
  r.command = Rd16(h + 12);
  r.status = r.is_response ? Rd32(h + 8) : 0;
  r.message_id = Rd64(h + 24);
  r.session_id = Rd64(h + 40);
  r.compound_index = index;
  r.truncated = m.avail < m.wire;
  if ((flags & kSmb2FlagAsync) == 0) {
    r.tree_id = Rd32(h + 36);
    if (const Tree* t = FindTree(r.tree_id)) {
      std::memcpy(rec_share_.data(), t->share, t->len);
      r.share = std::string_view(rec_share_.data(), t->len);
    }
  }
  const bool related = (flags & kSmb2FlagRelated) != 0;
  const size_t b = kSmb2HeaderLen;  // body offset
  // An interim response (STATUS_PENDING) leaves its request pending for the final one.
  const bool interim = r.is_response && r.status == kStatusPending;
  switch (static_cast<Smb2Command>(r.command)) {
    case Smb2Command::kNegotiate:
      Smb2Negotiate(m, &r);
      break;
    case Smb2Command::kSessionSetup:
      Smb2SessionSetup(m, &r);
      break;
    case Smb2Command::kTreeConnect:
      if (!interim) Smb2TreeConnect(m, &r);
      break;
    case Smb2Command::kTreeDisconnect:
      if (!r.is_response) {
        if (Tree* t = FindTree(r.tree_id)) DropTree(t);
      }
      break;
    case Smb2Command::kCreate:
      if (!interim) Smb2Create(m, &r, related);
      break;
    case Smb2Command::kClose:
      if (!r.is_response) {
        Smb2FileIdAt(m, 8, &r);
        if (Has(m.avail, b + 8, 16)) {
          if (File* f = FindFile(m.p + b + 8)) DropFile(f);
        }
      }
      break;
    case Smb2Command::kRead:
      if (!interim) Smb2Read(m, &r);
      break;
    case Smb2Command::kWrite:
      if (!r.is_response) Smb2Write(m, &r);
      break;
    case Smb2Command::kIoctl:
      if (!interim) Smb2Ioctl(m, &r);
      break;
    case Smb2Command::kSetInfo:
      if (!r.is_response) Smb2SetInfo(m, &r);
      break;
    case Smb2Command::kQueryInfo:
      if (!r.is_response && Has(m.avail, b + 4, 0)) {
        r.info_type = m.p[b + 2];
        r.info_class = m.p[b + 3];
        Smb2FileIdAt(m, 24, &r);
      }
      break;
    case Smb2Command::kFlush:
    case Smb2Command::kLock:
    case Smb2Command::kQueryDirectory:
    case Smb2Command::kChangeNotify:
      if (!r.is_response) Smb2FileIdAt(m, 8, &r);
      break;
    case Smb2Command::kOplockBreak:
      Smb2FileIdAt(m, 8, &r);
      break;
    case Smb2Command::kLogoff:
    case Smb2Command::kCancel:
    case Smb2Command::kEcho:
      break;
    default:
      Event(SmbEvent::kMalformedData);
      break;
  }
  r.dialect = dialect_;
  Deliver(r);
}

void SmbParser::Smb2Negotiate(const Span& m, SmbRecord* r) {
  const size_t b = kSmb2HeaderLen;
  if (!r->is_response) {
    // StructureSize(2)=36, DialectCount(2), ..., Dialects at body+36.
    if (!Has(m.avail, b, 4)) {
      Event(SmbEvent::kNegotiateMalformedDialects);
      return;
    }
    const uint16_t count = Rd16(m.p + b + 2);
    if (count == 0 || !Has(m.wire, b + 36, size_t{count} * 2))
      Event(SmbEvent::kNegotiateMalformedDialects);
    return;
  }
  if (r->status != kStatusSuccess) return;
  if (!Has(m.avail, b + 4, 2)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  const uint16_t d = Rd16(m.p + b + 4);
  // 0x02FF answers an SMB1 multi-protocol negotiate; the SMB2 negotiate that follows is normal.
  if (negotiated_ && dialect_ != 0x02FF) Event(SmbEvent::kDuplicateNegotiate);
  negotiated_ = true;
  dialect_ = d;
}

void SmbParser::Smb2SessionSetup(const Span& m, SmbRecord* r) {
  if (r->is_response) return;
  const size_t b = kSmb2HeaderLen;
  // StructureSize(2)=25, Flags, SecurityMode, Capabilities(4), Channel(4),
  // SecurityBufferOffset(2) at +12, SecurityBufferLength(2) at +14.
  if (!Has(m.avail, b + 12, 4)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  const size_t off = Rd16(m.p + b + 12);
  const size_t len = Rd16(m.p + b + 14);
  if (len == 0) return;
  if (!Has(m.wire, off, len)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  if (!Has(m.avail, off, len)) {
    Event(SmbEvent::kRecordOverflow);
    return;
  }
  ParseNtlmssp(m.p + off, len, r);
}

// NTLMSSP AUTHENTICATE (MS-NLMP 2.2.1.3), found by its signature inside the GSS-API/SPNEGO blob.
void SmbParser::ParseNtlmssp(const uint8_t* p, size_t len, SmbRecord* r) {
  static const uint8_t kSig[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};
  size_t at = 0;
  bool found = false;
  for (; at + 8 <= len; ++at)
    if (std::memcmp(p + at, kSig, 8) == 0) {
      found = true;
      break;
    }
  if (!found) return;
  const uint8_t* s = p + at;
  const size_t n = len - at;
  if (n < 12) {
    Event(SmbEvent::kMalformedNtlmsspRequest);
    return;
  }
  if (Rd32(s + 8) != 3) return;  // only AUTHENTICATE names the user
  if (n < 64) {
    Event(SmbEvent::kMalformedNtlmsspRequest);
    return;
  }
  const bool unicode = (Rd32(s + 60) & 0x1) != 0;
  struct FieldOut {
    size_t at;
    char* buf;
    std::string_view* view;
  };
  const FieldOut fields[] = {{28, rec_domain_.data(), &r->ntlmssp_domain},
                             {36, rec_user_.data(), &r->ntlmssp_user},
                             {44, rec_host_.data(), &r->ntlmssp_host}};
  for (const FieldOut& f : fields) {
    const size_t flen = Rd16(s + f.at);
    const size_t foff = Rd32(s + f.at + 4);
    if (!Has(n, foff, flen)) {
      Event(SmbEvent::kMalformedNtlmsspRequest);
      return;
    }
    bool trunc = false;
    const size_t out = unicode ? Utf16ToUtf8(s + foff, flen, f.buf, kSmbUserCap, &trunc)
                               : OemToText(s + foff, flen, f.buf, kSmbUserCap, &trunc);
    if (trunc) Event(SmbEvent::kNameTruncated);
    *f.view = std::string_view(f.buf, out);
  }
}

void SmbParser::Smb2TreeConnect(const Span& m, SmbRecord* r) {
  const size_t b = kSmb2HeaderLen;
  if (!r->is_response) {
    // StructureSize(2)=9, Flags(2), PathOffset(2), PathLength(2).
    if (!Has(m.avail, b, 8)) {
      Event(SmbEvent::kMalformedData);
      return;
    }
    const size_t off = Rd16(m.p + b + 4);
    size_t len = Rd16(m.p + b + 6);
    if (!Has(m.wire, off, len)) {
      Event(SmbEvent::kMalformedData);
      return;
    }
    if (!Has(m.avail, off, len)) {
      Event(SmbEvent::kRecordOverflow);
      len = off < m.avail ? m.avail - off : 0;
    }
    bool trunc = false;
    const size_t n = len ? Utf16ToUtf8(m.p + off, len, rec_share_.data(), kSmbShareCap, &trunc) : 0;
    if (trunc) Event(SmbEvent::kNameTruncated);
    r->share = std::string_view(rec_share_.data(), n);
    Pending* q = AddPending(r->message_id, r->command);
    std::memcpy(q->name, rec_share_.data(), n);
    q->len = static_cast<uint16_t>(n);
    return;
  }
  if (Has(m.avail, b + 2, 1)) r->share_type = m.p[b + 2];
  Pending* q = FindPending(r->message_id, r->command);
  if (q == nullptr) return;
  DropPending(q);
  std::memcpy(rec_share_.data(), q->name, q->len);
  r->share = std::string_view(rec_share_.data(), q->len);
  if (r->status == kStatusSuccess) AddTree(r->tree_id, q->name, q->len);
}

void SmbParser::Smb2Create(const Span& m, SmbRecord* r, bool related) {
  const size_t b = kSmb2HeaderLen;
  if (!r->is_response) {
    if (!Has(m.avail, b, 56)) {
      Event(m.wire >= b + 56 ? SmbEvent::kRecordOverflow : SmbEvent::kMalformedData);
      return;
    }
    r->desired_access = Rd32(m.p + b + 24);
    r->disposition = Rd32(m.p + b + 36);
    const uint32_t options = Rd32(m.p + b + 40);
    const size_t off = Rd16(m.p + b + 44);
    size_t len = Rd16(m.p + b + 46);
    if (len > 0 && !Has(m.wire, off, len)) {
      Event(SmbEvent::kMalformedData);
      len = 0;
    } else if (len > 0 && !Has(m.avail, off, len)) {
      Event(SmbEvent::kRecordOverflow);
      len = off < m.avail ? m.avail - off : 0;
    }
    bool trunc = false;
    const size_t n = len ? Utf16ToUtf8(m.p + off, len, rec_name_.data(), kSmbNameCap, &trunc) : 0;
    if (trunc) Event(SmbEvent::kNameTruncated);
    r->filename = std::string_view(rec_name_.data(), n);
    const Tree* t = FindTree(r->tree_id);
    r->is_pipe = t != nullptr && t->is_ipc;
    if (r->is_pipe) r->named_pipe = r->filename;
    r->is_delete = (options & kCreateOptionDeleteOnClose) != 0;
    (void)related;
    std::memcpy(chain_name_.data(), rec_name_.data(), n);
    chain_name_len_ = n;
    chain_pipe_ = r->is_pipe;
    Pending* q = AddPending(r->message_id, r->command);
    q->tree_id = r->tree_id;
    q->disposition = r->disposition;
    q->desired_access = r->desired_access;
    q->delete_on_close = r->is_delete;
    std::memcpy(q->name, rec_name_.data(), n);
    q->len = static_cast<uint16_t>(n);
    return;
  }
  Pending* q = FindPending(r->message_id, r->command);
  if (q != nullptr) {
    DropPending(q);
    std::memcpy(rec_name_.data(), q->name, q->len);
    r->filename = std::string_view(rec_name_.data(), q->len);
    const Tree* t = FindTree(q->tree_id);
    r->is_pipe = t != nullptr && t->is_ipc;
    if (r->is_pipe) r->named_pipe = r->filename;
    r->disposition = q->disposition;
    r->desired_access = q->desired_access;
    r->is_delete = q->delete_on_close;
  }
  if (r->status != kStatusSuccess) return;
  // StructureSize(2)=89, OplockLevel, Flags, CreateAction(4), times, sizes, attributes,
  // Reserved2(4), FileId(16) at +64.
  if (!Has(m.avail, b, 80)) {
    Event(m.wire >= b + 80 ? SmbEvent::kRecordOverflow : SmbEvent::kMalformedData);
    return;
  }
  r->create_action = Rd32(m.p + b + 4);
  const uint8_t* id = m.p + b + 64;
  r->file_id_persistent = Rd64(id);
  r->file_id_volatile = Rd64(id + 8);
  if (q != nullptr) AddFile(id, rec_name_.data(), r->filename.size(), r->is_pipe);
}

void SmbParser::Smb2Read(const Span& m, SmbRecord* r) {
  const size_t b = kSmb2HeaderLen;
  if (!r->is_response) {
    // StructureSize(2)=49, Padding, Flags, Length(4), Offset(8), FileId(16) at +16.
    if (!Has(m.avail, b, 32)) {
      Event(SmbEvent::kMalformedData);
      return;
    }
    r->length = Rd32(m.p + b + 4);
    r->offset = Rd64(m.p + b + 8);
    Smb2FileIdAt(m, 16, r);
    Pending* q = AddPending(r->message_id, r->command);
    std::memcpy(q->file_id, m.p + b + 16, 16);
    return;
  }
  Pending* q = FindPending(r->message_id, r->command);
  if (q != nullptr) {
    DropPending(q);
    r->file_id_persistent = Rd64(q->file_id);
    r->file_id_volatile = Rd64(q->file_id + 8);
    if (const File* f = FindFile(q->file_id)) ApplyFile(f, r);
  }
  if (r->status != kStatusSuccess && r->status != 0x80000005) return;
  // StructureSize(2)=17, DataOffset(1), Reserved(1), DataLength(4).
  if (!Has(m.avail, b, 8)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  const size_t off = m.p[b + 2];
  const size_t len = Rd32(m.p + b + 4);
  r->length = static_cast<uint32_t>(len);
  if (len == 0) return;
  if (!Has(m.wire, off, len)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  if (off < m.avail) {
    r->data = m.p + off;
    r->data_len = m.avail - off < len ? m.avail - off : len;
  }
  r->data_truncated = r->data_len < len;
  if (r->is_pipe && r->data != nullptr) ParseDcerpc(r->data, r->data_len, r);
}

void SmbParser::Smb2Write(const Span& m, SmbRecord* r) {
  const size_t b = kSmb2HeaderLen;
  // StructureSize(2)=49, DataOffset(2), Length(4), Offset(8), FileId(16) at +16, Channel(4),
  // RemainingBytes(4), WriteChannelInfoOffset(2), WriteChannelInfoLength(2), Flags(4).
  if (!Has(m.avail, b, 32)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  const size_t off = Rd16(m.p + b + 2);
  const size_t len = Rd32(m.p + b + 4);
  r->length = static_cast<uint32_t>(len);
  r->offset = Rd64(m.p + b + 8);
  Smb2FileIdAt(m, 16, r);
  if (len == 0) return;
  if (!Has(m.wire, off, len)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  if (off < m.avail) {
    r->data = m.p + off;
    r->data_len = m.avail - off < len ? m.avail - off : len;
  }
  r->data_truncated = r->data_len < len;
  if (r->data == nullptr) return;
  // A pipe we saw opened, or, joined mid-flow, a write to an unknown file that looks like DCERPC.
  if (r->is_pipe || (r->filename.empty() && LooksLikeDcerpc(r->data, r->data_len)))
    ParseDcerpc(r->data, r->data_len, r);
}

void SmbParser::Smb2Ioctl(const Span& m, SmbRecord* r) {
  const size_t b = kSmb2HeaderLen;
  // Request: StructureSize(2)=57, Reserved(2), CtlCode(4), FileId(16) at +8, InputOffset(4) at
  // +24, InputCount(4) at +28. Response: same up to FileId, then InputOffset(4) at +24,
  // InputCount(4) at +28, OutputOffset(4) at +32, OutputCount(4) at +36.
  if (!Has(m.avail, b, r->is_response ? 40 : 32)) {
    if (r->is_response && r->status != kStatusSuccess) return;  // error responses are short
    Event(SmbEvent::kMalformedData);
    return;
  }
  r->ioctl_code = Rd32(m.p + b + 4);
  Smb2FileIdAt(m, 8, r);
  const size_t off = Rd32(m.p + b + (r->is_response ? 32 : 24));
  const size_t len = Rd32(m.p + b + (r->is_response ? 36 : 28));
  r->length = static_cast<uint32_t>(len);
  if (len == 0) return;
  if (!Has(m.wire, off, len)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  if (off < m.avail) {
    r->data = m.p + off;
    r->data_len = m.avail - off < len ? m.avail - off : len;
  }
  r->data_truncated = r->data_len < len;
  if (r->ioctl_code == kFsctlPipeTransceive && r->data != nullptr)
    ParseDcerpc(r->data, r->data_len, r);
}

void SmbParser::Smb2SetInfo(const Span& m, SmbRecord* r) {
  const size_t b = kSmb2HeaderLen;
  // StructureSize(2)=33, InfoType(1), FileInfoClass(1), BufferLength(4), BufferOffset(2),
  // Reserved(2), AdditionalInformation(4), FileId(16) at +16.
  if (!Has(m.avail, b, 32)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  r->info_type = m.p[b + 2];
  r->info_class = m.p[b + 3];
  const size_t len = Rd32(m.p + b + 4);
  const size_t off = Rd16(m.p + b + 8);
  Smb2FileIdAt(m, 16, r);
  if (r->info_type != kInfoTypeFile) return;
  if (!Has(m.wire, off, len)) {
    Event(SmbEvent::kMalformedData);
    return;
  }
  if (!Has(m.avail, off, len)) {
    Event(SmbEvent::kRecordOverflow);
    return;
  }
  const uint8_t* buf = m.p + off;
  switch (r->info_class) {
    case kFileRenameInformation: {
      // FILE_RENAME_INFORMATION_TYPE_2: ReplaceIfExists(1), Reserved(7), RootDirectory(8),
      // FileNameLength(4) at 16, FileName at 20.
      if (len < 20) {
        Event(SmbEvent::kMalformedData);
        return;
      }
      const size_t nlen = Rd32(buf + 16);
      if (!Has(len, 20, nlen)) {
        Event(SmbEvent::kMalformedData);
        return;
      }
      bool trunc = false;
      const size_t n = Utf16ToUtf8(buf + 20, nlen, rec_rename_to_.data(), kSmbNameCap, &trunc);
      if (trunc) Event(SmbEvent::kNameTruncated);
      r->is_rename = true;
      r->rename_from = r->filename;
      r->rename_to = std::string_view(rec_rename_to_.data(), n);
      // The handle now names the new file (optimistic: the response is not awaited).
      if (File* f = FindFile(m.p + b + 16)) {
        f->len = static_cast<uint16_t>(n);
        std::memcpy(f->name, rec_rename_to_.data(), n);
      }
      break;
    }
    case kFileDispositionInformation:
      if (len < 1) {
        Event(SmbEvent::kMalformedData);
        return;
      }
      r->is_delete = buf[0] != 0;
      break;
    case kFileDispositionInformationEx:
      if (len < 4) {
        Event(SmbEvent::kMalformedData);
        return;
      }
      r->is_delete = (Rd32(buf) & 0x1) != 0;
      break;
    default:
      break;
  }
}

// ---- DCERPC ---------------------------------------------------------------------------------

bool SmbParser::LooksLikeDcerpc(const uint8_t* p, size_t len) const {
  return len >= 16 && p[0] == 5 && p[1] == 0 && p[2] <= 20;
}

// Connection-oriented DCE/RPC PDU (C706 12.6) at the start of pipe data: common header
// rpc_vers(1)=5, minor(1), ptype(1), pfc_flags(1), drep(4), frag_length(2), auth_length(2),
// call_id(4). Only the first PDU of the data is looked at.
void SmbParser::ParseDcerpc(const uint8_t* p, size_t len, SmbRecord* r) {
  // Pipes carry other protocols too (PsExec's own pipes): only data that starts like DCERPC is
  // looked at, and only a bad DCERPC header is an anomaly.
  if (len < 2 || p[0] != 5 || p[1] != 0) return;
  if (!LooksLikeDcerpc(p, len)) {
    Event(SmbEvent::kMalformedDcerpc);
    return;
  }
  const bool le = (p[4] & 0x10) != 0;
  r->is_dcerpc = true;
  r->dcerpc_ptype = p[2];
  r->dcerpc_call_id = Rd32E(p + 12, le);
  const size_t frag = Rd16E(p + 8, le);
  if (frag < 16) {
    Event(SmbEvent::kMalformedDcerpc);
    return;
  }
  const size_t n = frag < len ? frag : len;  // a PDU split over several writes: what we have
  if (r->dcerpc_ptype == kDcerpcRequest) {
    // alloc_hint(4), p_cont_id(2), opnum(2).
    if (n < 24) {
      Event(SmbEvent::kMalformedDcerpc);
      return;
    }
    r->dcerpc_context_id = Rd16E(p + 20, le);
    r->dcerpc_opnum = Rd16E(p + 22, le);
    for (size_t i = 0; i < kSmbMaxInterfaces; ++i) {
      const Context& c = contexts_[i];
      if (context_used_[i] && c.id == r->dcerpc_context_id) {
        std::memcpy(rec_ifaces_[0].data(), c.uuid, kSmbUuidLen);
        r->dcerpc_interface = std::string_view(rec_ifaces_[0].data(), kSmbUuidLen);
        break;
      }
    }
    return;
  }
  if (r->dcerpc_ptype != kDcerpcBind && r->dcerpc_ptype != kDcerpcAlterContext) return;
  // max_xmit_frag(2), max_recv_frag(2), assoc_group_id(4), n_context_elem(1), reserved(3), then
  // per context: p_cont_id(2), n_transfer_syn(1), reserved(1), abstract syntax (uuid 16,
  // version 4), n_transfer_syn transfer syntaxes (20 each).
  if (n < 28) {
    Event(SmbEvent::kMalformedDcerpc);
    return;
  }
  const size_t count = p[24];
  size_t at = 28;
  for (size_t i = 0; i < count; ++i) {
    if (!Has(n, at, 24)) {
      Event(SmbEvent::kMalformedDcerpc);
      return;
    }
    const uint16_t ctx_id = Rd16E(p + at, le);
    const size_t n_ts = p[at + 2];
    const uint8_t* uuid = p + at + 4;
    if (r->interface_count < kSmbMaxInterfaces) {
      const size_t k = r->interface_count++;
      FormatUuid(uuid, le, rec_ifaces_[k].data());
      r->interfaces[k] = std::string_view(rec_ifaces_[k].data(), kSmbUuidLen);
      r->interface_versions[k] = Rd16E(uuid + 16, le);
    }
    int slot = -1;
    for (size_t j = 0; j < kSmbMaxInterfaces; ++j)
      if (context_used_[j] && contexts_[j].id == ctx_id) slot = static_cast<int>(j);
    if (slot < 0) {
      slot = static_cast<int>(context_next_);
      context_next_ = (context_next_ + 1) % kSmbMaxInterfaces;
    }
    context_used_[slot] = true;
    Context& c = contexts_[slot];
    c.id = ctx_id;
    FormatUuid(uuid, le, c.uuid);
    at += 24 + n_ts * 20;
  }
}

// ---- SMB1 -----------------------------------------------------------------------------------

// SMB1 is named and its share and file names read; AndX chains are not followed.
void SmbParser::ParseSmb1(SmbDirection dir, const uint8_t* p, size_t avail, size_t wire) {
  smb1_seen_ = true;
  if (avail < kSmb1HeaderLen + 1) {
    Event(wire < kSmb1HeaderLen + 1 ? SmbEvent::kMalformedData : SmbEvent::kRecordOverflow);
    return;
  }
  SmbRecord r;
  r.direction = dir;
  r.version = 1;
  r.command = p[4];
  r.status = Rd32(p + 5);
  r.is_response = (p[9] & 0x80) != 0;
  const bool unicode = (Rd16(p + 10) & 0x8000) != 0;
  r.tree_id = Rd16(p + 24);
  r.session_id = Rd16(p + 28);
  r.message_id = Rd16(p + 30);
  r.truncated = avail < wire;
  r.dialect = dialect_;
  if (const Tree* t = FindTree(r.tree_id | 0x80000000u)) {
    std::memcpy(rec_share_.data(), t->share, t->len);
    r.share = std::string_view(rec_share_.data(), t->len);
  }
  const size_t wc = p[32];
  const size_t words = 33;
  const size_t bcc_at = words + 2 * wc;
  const uint8_t* w = p + words;
  size_t bytes_at = 0;
  size_t bytes_len = 0;
  bool have_bytes = false;
  if (Has(avail, bcc_at, 2)) {
    bytes_at = bcc_at + 2;
    bytes_len = Rd16(p + bcc_at);
    if (!Has(wire, bytes_at, bytes_len)) {
      Event(SmbEvent::kMalformedData);
      bytes_len = 0;
    } else {
      if (!Has(avail, bytes_at, bytes_len)) bytes_len = avail - bytes_at;
      have_bytes = true;
    }
  } else if (wc > 0 && !r.is_response) {
    Event(Has(wire, bcc_at, 2) ? SmbEvent::kRecordOverflow : SmbEvent::kMalformedData);
  }
  const uint16_t pend_cmd = static_cast<uint16_t>(kSmb1Pending | r.command);
  if (r.command == kSmb1TreeConnectAndx && !r.is_response && wc == 4 && have_bytes) {
    // AndX(4), Flags(2), PasswordLength(2); bytes: Password, pad to 2 (Unicode), Path, Service.
    size_t at = bytes_at + Rd16(w + 6);
    if (unicode && (at & 1)) ++at;
    const size_t end = bytes_at + bytes_len;
    if (at <= end) {
      bool trunc = false;
      const size_t n = unicode
                           ? Utf16ToUtf8(p + at, end - at, rec_share_.data(), kSmbShareCap, &trunc)
                           : OemToText(p + at, end - at, rec_share_.data(), kSmbShareCap, &trunc);
      if (trunc) Event(SmbEvent::kNameTruncated);
      r.share = std::string_view(rec_share_.data(), n);
      Pending* q = AddPending(r.message_id, pend_cmd);
      std::memcpy(q->name, rec_share_.data(), n);
      q->len = static_cast<uint16_t>(n);
    } else {
      Event(SmbEvent::kMalformedData);
    }
  } else if (r.command == kSmb1TreeConnectAndx && r.is_response) {
    if (Pending* q = FindPending(r.message_id, pend_cmd)) {
      DropPending(q);
      std::memcpy(rec_share_.data(), q->name, q->len);
      r.share = std::string_view(rec_share_.data(), q->len);
      // SMB1 has no share type: IPC$ is the pipe share (EVE "named_pipe", as Suricata's).
      r.is_pipe = IsIpcShare(q->name, q->len);
      // SMB1 tree ids live in their own space of the table (high bit set).
      if (r.status == kStatusSuccess) AddTree(r.tree_id | 0x80000000u, q->name, q->len);
    }
  } else if (r.command == kSmb1NtCreateAndx && !r.is_response && wc == 24 && have_bytes) {
    // AndX(4), Reserved(1), NameLength(2) at 5, Flags(4), RootDirectoryFid(4),
    // DesiredAccess(4) at 15, AllocationSize(8), ExtFileAttributes(4), ShareAccess(4),
    // CreateDisposition(4) at 35, CreateOptions(4) at 39, ...
    const size_t name_len = Rd16(w + 5);
    r.desired_access = Rd32(w + 15);
    r.disposition = Rd32(w + 35);
    r.is_delete = (Rd32(w + 39) & kCreateOptionDeleteOnClose) != 0;
    size_t at = bytes_at;
    if (unicode && (at & 1)) ++at;
    const size_t end = bytes_at + bytes_len;
    size_t take = at <= end ? end - at : 0;
    if (name_len < take) take = name_len;
    bool trunc = false;
    const size_t n = unicode ? Utf16ToUtf8(p + at, take, rec_name_.data(), kSmbNameCap, &trunc)
                             : OemToText(p + at, take, rec_name_.data(), kSmbNameCap, &trunc);
    if (trunc) Event(SmbEvent::kNameTruncated);
    r.filename = std::string_view(rec_name_.data(), n);
    const Tree* t = FindTree(r.tree_id | 0x80000000u);
    r.is_pipe = t != nullptr && t->is_ipc;
    if (r.is_pipe) r.named_pipe = r.filename;
  }
  Deliver(r);
}

}  // namespace fs::app
