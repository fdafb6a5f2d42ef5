// SMB2/3 message builders (MS-SMB2) over NetBIOS session framing, with NTLMSSP authentication in
// SPNEGO tokens. An Smb2Dialog tracks what a real client and server keep between messages
// (message ids, session id, tree ids, file ids) and returns each request with its response, so
// the caller only decides what the user does and when.
// One Smb2Dialog per TCP connection; single-threaded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tools/pcapgen/packet_builder.h"

namespace fs::pcapgen {

class Rng;

namespace smb2 {
inline constexpr uint32_t kStatusSuccess = 0x00000000;
inline constexpr uint32_t kStatusMoreProcessingRequired = 0xc0000016;
inline constexpr uint32_t kStatusObjectNameNotFound = 0xc0000034;
inline constexpr uint32_t kStatusAccessDenied = 0xc0000022;
}  // namespace smb2

struct Smb2Exchange {
  Bytes request;   // NBSS-framed, client to server
  Bytes response;  // NBSS-framed, server to client
};

class Smb2Dialog {
 public:
  enum class Open : uint8_t {
    kRead,       // FILE_OPEN, read access
    kOverwrite,  // FILE_OVERWRITE_IF, read/write access (saving a document)
    kCreate,     // FILE_CREATE, read/write access (a new file)
    kModify,     // FILE_OPEN, read/write access (changing an existing file in place)
    kRename,     // FILE_OPEN with DELETE access, to rename it afterwards
    kPipe,       // a named pipe on IPC$
  };

  Smb2Dialog(Rng* rng, std::string server_name, uint64_t now_us);

  // The caller passes the capture time of each exchange (FILETIMEs in responses follow it).
  void set_now_us(uint64_t now_us) { now_us_ = now_us; }

  Smb2Exchange Negotiate();
  // NTLMSSP NEGOTIATE -> CHALLENGE (STATUS_MORE_PROCESSING_REQUIRED).
  Smb2Exchange SessionSetupNegotiate();
  // NTLMSSP AUTHENTICATE (NTLMv2) -> STATUS_SUCCESS.
  Smb2Exchange SessionSetupAuth(std::string_view domain, std::string_view user,
                                std::string_view workstation);
  // `unc` like \\fs01\students; becomes the current tree.
  Smb2Exchange TreeConnect(std::string_view unc);
  // Opens `name` (relative to the share) on the current tree; on success it becomes the current
  // file. `status` other than success makes an error response (e.g. name not found).
  Smb2Exchange Create(std::string_view name, Open mode, uint64_t file_size,
                      uint32_t status = smb2::kStatusSuccess);
  Smb2Exchange Write(uint64_t offset, const Bytes& data);
  Smb2Exchange Read(uint64_t offset, const Bytes& data);
  // SET_INFO FileRenameInformation on the current file.
  Smb2Exchange Rename(std::string_view new_name);
  Smb2Exchange Close();
  Smb2Exchange TreeDisconnect();
  Smb2Exchange Logoff();

 private:
  struct Header {
    uint16_t command;
    uint32_t status;
    uint32_t tree_id;
    uint16_t credits;
  };
  Bytes Message(const Header& h, bool response, const Bytes& body) const;
  Smb2Exchange Pair(uint16_t command, const Bytes& req_body, uint32_t status,
                    const Bytes& resp_body);
  Bytes FileId() const;
  Bytes ErrorBody() const;

  Rng* rng_;
  std::string server_name_;
  uint64_t now_us_;
  uint64_t message_id_ = 0;
  uint64_t session_id_ = 0;
  uint64_t pending_session_id_ = 0;
  uint32_t tree_id_ = 0;
  uint32_t next_tree_id_ = 1;
  uint64_t file_persistent_ = 0;
  uint64_t file_volatile_ = 0;
  Bytes client_guid_, server_guid_;
  uint64_t server_challenge_ = 0;
};

}  // namespace fs::pcapgen

namespace fs::pcapgen::dcerpc {
// DCE/RPC connection-oriented BIND to the service control manager (svcctl) interface and the
// server's BIND_ACK, as PsExec exchanges them over the \svcctl pipe.
Bytes BindSvcctl(uint32_t call_id);
Bytes BindAckSvcctl(uint32_t call_id, uint32_t assoc_group);
}  // namespace fs::pcapgen::dcerpc
