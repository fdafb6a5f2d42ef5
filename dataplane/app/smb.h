// Incremental SMB parsing for the app layer: SMB2/3 in depth, SMB1 lightly, over the NetBIOS
// session framing of TCP port 445 (a 4-byte header: type, 24-bit length). One SmbParser per flow,
// fed the in-order stream bytes of BOTH directions (Feed names the direction): the maps that make
// SMB readable live across directions (a TREE_CONNECT request carries the share name, its response
// the tree id; a CREATE request carries the file name, its response the file id), so splitting the
// parser per direction would only move that state somewhere else. Each direction keeps its own
// framing state, so the two streams may be fed interleaved in any chunking.
//
// What it reports: one SmbRecord per SMB2 message (each element of a compounded chain is its own
// record) and per SMB1 message, to a sink of plain function pointers, with the names resolved
// through the flow's tables: share (tree id -> "\\host\SHARE"), file name (file id -> name),
// named pipe (a CREATE on an IPC$ tree), rename (SET_INFO FileRenameInformation: old name from the
// file id, new name from the buffer), delete (FileDispositionInformation[Ex]), WRITE offset,
// length and the leading data bytes, NTLMSSP user/domain/host from SESSION_SETUP, and DCERPC over
// a pipe (WRITE data, or IOCTL FSCTL_PIPE_TRANSCEIVE input): BIND/ALTER_CONTEXT interface UUIDs
// and REQUEST opnum with the interface bound to its context id. SMB3 transform (encrypted)
// messages are framed, counted and not inspected.
//
// Memory is bounded and reserved at construction: per direction, the first SmbConfig::retain
// bytes of a NetBIOS message are kept (headers, names, the start of WRITE data); the rest of a
// long message (bulk READ/WRITE data) is skipped and counted, never buffered. The tables are fixed
// arrays (kSmbMaxTrees, kSmbMaxFiles, kSmbMaxPending; when full the oldest entry is replaced and
// an event counted), names are truncated at fixed caps. Every length and offset read from the wire
// is checked against the bytes retained; garbage is a counted event, never an out-of-bounds read.
// A NetBIOS header of an unknown type loses the framing: that direction stops being inspected.
//
// No exceptions, no virtual calls, no allocation after construction. Anomalies are counted per
// parser and passed to the sink; their names are Suricata's app-layer-event names
// (smb.malformed_data ...) where Suricata has one.
//
// An SmbParser is owned by the flow's app-layer state and called only by the worker that owns the
// flow. It is neither copyable nor movable (records point into it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace fs::app {

inline constexpr size_t kSmbRetainDefault = 64 * 1024;  // bytes kept per NetBIOS message
inline constexpr size_t kSmbRetainMin = 512;
inline constexpr size_t kSmbRetainMax = 1024 * 1024;
// Of an SMB2 READ response or WRITE request (not in a compound chain), the bytes retained: the
// header, the command's fixed part and the leading data a DCERPC PDU on a pipe needs (its
// fragments are at most max_xmit_frag, 4,280-5,840 bytes from Windows). File contents past it
// are counted as skipped, never copied (they were most of the bytes an SMB flow copied).
inline constexpr size_t kSmbDataRetain = 256 + 8 * 1024;
inline constexpr size_t kSmbMaxTrees = 16;      // tree id -> share
inline constexpr size_t kSmbMaxFiles = 64;      // file id -> name (open files)
inline constexpr size_t kSmbMaxPending = 32;    // requests awaiting their response
inline constexpr size_t kSmbShareCap = 256;     // UTF-8 bytes kept of a share path
inline constexpr size_t kSmbNameCap = 512;      // UTF-8 bytes kept of a file name
inline constexpr size_t kSmbUserCap = 128;      // NTLMSSP user, domain, host
inline constexpr size_t kSmbMaxInterfaces = 8;  // DCERPC contexts reported per BIND / remembered
inline constexpr size_t kSmbMaxCompound = 64;   // SMB2 messages followed in one compound chain
inline constexpr size_t kSmbUuidLen = 36;       // "367abb81-9844-35f1-ad32-98f038001003"

// X(id, name): anomaly events. Names are Suricata's app-layer-event names (rules say
// app-layer-event:smb.<name>) where Suricata has the event; the others are flowsentry's own.
#define FS_SMB_EVENTS(X)                                                                     \
  X(kInternalError, "internal_error")   /* a state the parser should never reach */          \
  X(kMalformedData, "malformed_data")   /* a length/offset past the message, bad */          \
                                        /* magic, unknown NetBIOS type, bad chain */         \
  X(kRecordOverflow, "record_overflow") /* a field needed lies past the retained */          \
                                        /* part of a long message */                         \
  X(kMalformedNtlmsspRequest, "malformed_ntlmssp_request")                                   \
  X(kDuplicateNegotiate, "duplicate_negotiate") /* a second NEGOTIATE response */            \
  X(kNegotiateMalformedDialects, "negotiate_malformed_dialects")                             \
  X(kMalformedDcerpc, "malformed_dcerpc")     /* own: bad DCERPC header or bind list */      \
  X(kTooManyOpenFiles, "too_many_open_files") /* own: file table full, oldest replaced */    \
  X(kTooManyTrees, "too_many_trees")          /* own: tree table full, oldest replaced */    \
  X(kTooManyPending, "too_many_pending")      /* own: pending table full, oldest replaced */ \
  X(kNameTruncated, "name_truncated")         /* own: a name longer than its cap */          \
  X(kFramingLost, "framing_lost")             /* own: direction no longer inspected */

enum class SmbEvent : uint8_t {
#define FS_X(id, name) id,
  FS_SMB_EVENTS(FS_X)
#undef FS_X
      kCount
};
inline constexpr int kSmbEventCount = static_cast<int>(SmbEvent::kCount);

// "malformed_data" ... (without the "smb." prefix).
const char* SmbEventName(SmbEvent e);

enum class SmbDirection : uint8_t { kToServer, kToClient };

// SMB2 command codes (MS-SMB2 2.2.1.2). SMB1 records carry the raw SMB1 command byte instead.
enum class Smb2Command : uint16_t {
  kNegotiate = 0x00,
  kSessionSetup = 0x01,
  kLogoff = 0x02,
  kTreeConnect = 0x03,
  kTreeDisconnect = 0x04,
  kCreate = 0x05,
  kClose = 0x06,
  kFlush = 0x07,
  kRead = 0x08,
  kWrite = 0x09,
  kLock = 0x0A,
  kIoctl = 0x0B,
  kCancel = 0x0C,
  kEcho = 0x0D,
  kQueryDirectory = 0x0E,
  kChangeNotify = 0x0F,
  kQueryInfo = 0x10,
  kSetInfo = 0x11,
  kOplockBreak = 0x12,
};

// SMB1 command bytes the parser looks into or names.
inline constexpr uint8_t kSmb1NegotiateProtocol = 0x72;
inline constexpr uint8_t kSmb1TreeConnectAndx = 0x75;
inline constexpr uint8_t kSmb1NtCreateAndx = 0xA2;

inline constexpr uint32_t kFsctlPipeTransceive = 0x0011C017;

struct SmbConfig {
  size_t retain = kSmbRetainDefault;  // per direction; clamped to [kSmbRetainMin, kSmbRetainMax]
};

// One parsed SMB message. Views point into the parser's buffers and are valid only during the
// callback that receives the record.
struct SmbRecord {
  SmbDirection direction = SmbDirection::kToServer;
  uint8_t version = 2;       // 1 or 2 (SMB2 and SMB3 share the header)
  bool is_response = false;  // from the header flags, not from the direction
  uint16_t command = 0;      // Smb2Command for version 2, the SMB1 command byte for version 1
  uint32_t status = 0;       // NTSTATUS (responses; requests carry 0 or a channel sequence)
  uint64_t session_id = 0;   // SMB1: UID
  uint32_t tree_id = 0;      // SMB1: TID
  uint64_t message_id = 0;   // SMB1: MID
  uint16_t dialect = 0;      // negotiated SMB2 dialect of the flow so far (0x0311 ...), 0 if none
  uint32_t compound_index = 0;  // position in an SMB2 compound chain (0 for the first/only)
  bool truncated = false;       // part of the message lay past the retained bytes

  std::string_view share;       // "\\10.0.0.5\ADMIN$": TREE_CONNECT path, or the tree's share
  uint8_t share_type = 0;       // TREE_CONNECT response: 1 disk, 2 pipe, 3 print
  std::string_view filename;    // CREATE name, or the name of the file id used
  std::string_view named_pipe;  // the file is a pipe on IPC$: its name ("svcctl")
  bool is_pipe = false;
  uint32_t disposition = 0;         // CREATE CreateDisposition (request; response repeats it)
  uint32_t create_action = 0;       // CREATE response CreateAction
  uint32_t desired_access = 0;      // CREATE request
  uint64_t file_id_persistent = 0;  // the file id the message names or the CREATE response gives
  uint64_t file_id_volatile = 0;

  uint64_t offset = 0;            // READ/WRITE
  uint32_t length = 0;            // READ/WRITE: bytes requested/written
  const uint8_t* data = nullptr;  // WRITE/READ response/IOCTL input: leading data bytes retained
  size_t data_len = 0;
  bool data_truncated = false;  // data_len < the data's length on the wire

  uint32_t ioctl_code = 0;
  uint8_t info_type = 0;  // SET_INFO / QUERY_INFO
  uint8_t info_class = 0;
  bool is_rename = false;
  std::string_view rename_from;
  std::string_view rename_to;
  bool is_delete = false;  // SET_INFO disposition with DeletePending, or CREATE DELETE_ON_CLOSE

  std::string_view ntlmssp_user;  // SESSION_SETUP NTLMSSP AUTHENTICATE
  std::string_view ntlmssp_domain;
  std::string_view ntlmssp_host;

  bool is_dcerpc = false;
  uint8_t dcerpc_ptype = 0;  // 0 REQUEST, 2 RESPONSE, 11 BIND, 12 BIND_ACK, 14 ALTER_CONTEXT
  uint32_t dcerpc_call_id = 0;
  int32_t dcerpc_opnum = -1;  // REQUEST
  uint16_t dcerpc_context_id = 0;
  std::string_view dcerpc_interface;  // REQUEST: the UUID bound to its context id, if seen
  size_t interface_count = 0;         // BIND / ALTER_CONTEXT
  std::array<std::string_view, kSmbMaxInterfaces> interfaces{};
  std::array<uint16_t, kSmbMaxInterfaces> interface_versions{};  // major version

  bool is_encrypted = false;   // SMB3 transform header: nothing else is known
  bool is_compressed = false;  // SMB3 compression transform: not decompressed
};

// Any pointer may be null. `ctx` is passed back unchanged.
struct SmbSink {
  void* ctx = nullptr;
  void (*record)(void* ctx, const SmbRecord& rec) = nullptr;
  void (*event)(void* ctx, SmbEvent e) = nullptr;
};

// Content detection: a NetBIOS session message whose payload starts with an SMB1 (0xFF), SMB2/3
// (0xFE) or transform (0xFD) magic and whose length is plausible.
bool LooksLikeSmb(const uint8_t* data, size_t len);

// "SMB2_COMMAND_CREATE", "SMB1_COMMAND_TREE_CONNECT_ANDX", as Suricata's EVE writes them.
const char* SmbCommandName(uint8_t version, uint16_t command);
// "STATUS_SUCCESS" ... for the common NTSTATUS values, nullptr for others (EVE then writes the
// hex code).
const char* SmbStatusName(uint32_t status);
// "2.10", "3.11" ... as Suricata writes the dialect; nullptr when unknown.
const char* SmbDialectName(uint16_t dialect);

class SmbParser {
 public:
  // Bytes of the two message buffers for cfg (2 x the clamped retain).
  static size_t StorageBytes(const SmbConfig& cfg);
  // storage: StorageBytes(cfg) the caller keeps until the parser is destroyed (a pooled block);
  // or nullptr: the parser allocates its own.
  SmbParser(const SmbConfig& cfg, const SmbSink& sink, uint8_t* storage = nullptr);
  ~SmbParser();
  SmbParser(const SmbParser&) = delete;
  SmbParser& operator=(const SmbParser&) = delete;

  // Parses the next bytes of one direction's stream. Never fails; anomalies are events.
  void Feed(SmbDirection dir, const uint8_t* data, size_t len);

  uint32_t event_count(SmbEvent e) const { return events_[static_cast<int>(e)]; }
  uint64_t messages() const { return messages_; }  // SMB messages parsed (compound elements)
  uint64_t encrypted_messages() const { return encrypted_; }
  uint64_t skipped_bytes() const { return skipped_; }  // message bytes past the retained part
  bool encrypted() const { return encrypted_ != 0; }
  bool smb1_seen() const { return smb1_seen_; }
  uint16_t dialect() const { return dialect_; }
  bool inspecting(SmbDirection dir) const { return !dirs_[static_cast<int>(dir)].lost; }

 private:
  struct Dir {
    uint8_t nb[4] = {0, 0, 0, 0};
    uint8_t nb_have = 0;
    uint32_t msg_len = 0;
    uint32_t got = 0;
    uint32_t keep = 0;   // bytes of this message retained (at most cap_), see RetainFor
    bool sized = false;  // keep was set from the message's header
    bool lost = false;
    uint8_t* buf = nullptr;  // cap_ bytes of the storage
  };
  // Table entries have no initialisers: a parser is constructed per SMB flow, and the 56 KB of
  // tables below would otherwise be written (and their pages faulted in) for every one. Which
  // entries hold something is kept apart, in the small `*_used_` arrays (zeroed), so a lookup
  // reads only the entries in use.
  struct Tree {
    uint32_t tree_id;
    bool is_ipc;
    uint16_t len;
    char share[kSmbShareCap];
  };
  struct File {
    uint8_t id[16];
    bool is_pipe;
    uint16_t len;
    char name[kSmbNameCap];
  };
  struct Pending {
    uint16_t command;
    uint64_t message_id;
    uint32_t tree_id;
    uint32_t disposition;
    uint32_t desired_access;
    bool delete_on_close;
    uint8_t file_id[16];
    uint16_t len;
    char name[kSmbNameCap];
  };
  struct Span {  // one message as parsed: retained bytes and its length on the wire
    const uint8_t* p;
    size_t avail;
    size_t wire;
  };

  void ProcessMessage(SmbDirection dir, const uint8_t* p, size_t avail, size_t wire);
  void ParseSmb2(SmbDirection dir, const uint8_t* p, size_t avail, size_t wire);
  void ParseSmb2One(SmbDirection dir, Span m, uint32_t index);
  void ParseSmb1(SmbDirection dir, const uint8_t* p, size_t avail, size_t wire);
  void Smb2Negotiate(const Span& m, SmbRecord* r);
  void Smb2SessionSetup(const Span& m, SmbRecord* r);
  void Smb2TreeConnect(const Span& m, SmbRecord* r);
  void Smb2Create(const Span& m, SmbRecord* r, bool related);
  void Smb2Read(const Span& m, SmbRecord* r);
  void Smb2Write(const Span& m, SmbRecord* r);
  void Smb2Ioctl(const Span& m, SmbRecord* r);
  void Smb2SetInfo(const Span& m, SmbRecord* r);
  void Smb2FileIdAt(const Span& m, size_t off, SmbRecord* r);
  void ParseDcerpc(const uint8_t* p, size_t len, SmbRecord* r);
  void ParseNtlmssp(const uint8_t* p, size_t len, SmbRecord* r);
  bool LooksLikeDcerpc(const uint8_t* p, size_t len) const;

  Tree* FindTree(uint32_t tree_id);
  void AddTree(uint32_t tree_id, const char* share, size_t len);
  File* FindFile(const uint8_t* id);
  File* AddFile(const uint8_t* id, const char* name, size_t len, bool is_pipe);
  Pending* FindPending(uint64_t message_id, uint16_t command);
  Pending* AddPending(uint64_t message_id, uint16_t command);
  // A table slot: the first not in use, else (counting `full`) the next in round-robin order,
  // whose entry is replaced. The slot is marked in use.
  template <size_t N>
  size_t TakeSlot(std::array<bool, N>& used, size_t* next, SmbEvent full);
  void DropTree(const Tree* t) { tree_used_[t - trees_.data()] = false; }
  void DropFile(const File* f) { file_used_[f - files_.data()] = false; }
  void DropPending(const Pending* q) { pending_used_[q - pending_.data()] = false; }
  void ApplyFile(const File* f, SmbRecord* r);
  void Deliver(const SmbRecord& r);
  void Event(SmbEvent e);

  const SmbSink sink_;
  const size_t cap_;
  std::unique_ptr<uint8_t[]> owned_;  // the 2 * cap_ message bytes when the caller gave none
  std::array<Dir, 2> dirs_{};

  // The tables and buffers below are default-initialised, not zeroed (see Tree): the `*_used_`
  // flags (and each buffer's length, kept beside it) say what is valid.
  std::array<Tree, kSmbMaxTrees> trees_;
  std::array<bool, kSmbMaxTrees> tree_used_{};
  size_t tree_next_ = 0;
  std::array<File, kSmbMaxFiles> files_;
  std::array<bool, kSmbMaxFiles> file_used_{};
  size_t file_next_ = 0;
  std::array<Pending, kSmbMaxPending> pending_;
  std::array<bool, kSmbMaxPending> pending_used_{};
  size_t pending_next_ = 0;
  struct Context {
    uint16_t id;
    char uuid[kSmbUuidLen];
  };
  std::array<Context, kSmbMaxInterfaces> contexts_;
  std::array<bool, kSmbMaxInterfaces> context_used_{};
  size_t context_next_ = 0;

  // Buffers the views of the record being delivered point into.
  std::array<char, kSmbShareCap> rec_share_;
  std::array<char, kSmbNameCap> rec_name_;
  std::array<char, kSmbNameCap> rec_rename_to_;
  std::array<char, kSmbUserCap> rec_user_;
  std::array<char, kSmbUserCap> rec_domain_;
  std::array<char, kSmbUserCap> rec_host_;
  std::array<std::array<char, kSmbUuidLen>, kSmbMaxInterfaces> rec_ifaces_;
  // The CREATE of the current compound chain: a related request after it names its file id as
  // all-ones and means this one.
  std::array<char, kSmbNameCap> chain_name_;
  size_t chain_name_len_ = 0;
  bool chain_pipe_ = false;

  uint16_t dialect_ = 0;
  bool negotiated_ = false;
  bool smb1_seen_ = false;
  uint64_t messages_ = 0;
  uint64_t encrypted_ = 0;
  uint64_t skipped_ = 0;
  std::array<uint32_t, kSmbEventCount> events_{};
};

}  // namespace fs::app
