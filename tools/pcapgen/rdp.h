// RDP connection setup builders (MS-RDPBCGR 2.2.1.1/2.2.1.2): TPKT + X.224 Connection Request with
// the mstshash cookie and an RDP Negotiation Request, and the Connection Confirm with the
// Negotiation Response. What follows on the wire (TLS/CredSSP) comes from TlsConversation.
#pragma once

#include <cstdint>
#include <string_view>

#include "tools/pcapgen/packet_builder.h"

namespace fs::pcapgen::rdp {

inline constexpr uint32_t kProtocolRdp = 0, kProtocolSsl = 1, kProtocolHybrid = 2,
                          kProtocolHybridEx = 8;

// "Cookie: mstshash=<user>\r\n" then RDP_NEG_REQ with `requested` protocols.
Bytes ConnectionRequest(std::string_view user, uint32_t requested);
Bytes ConnectionConfirm(uint32_t selected);

}  // namespace fs::pcapgen::rdp
