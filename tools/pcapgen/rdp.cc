#include "tools/pcapgen/rdp.h"

#include "tools/pcapgen/byte_writer.h"

namespace fs::pcapgen::rdp {

namespace {
// TPKT (RFC 1006): version 3, reserved, 16-bit length of the whole packet.
Bytes Tpkt(const Bytes& x224) {
  ByteWriter w;
  w.U8(3).U8(0).Be16(static_cast<uint16_t>(x224.size() + 4)).Append(x224);
  return w.Take();
}
}  // namespace

Bytes ConnectionRequest(std::string_view user, uint32_t requested) {
  ByteWriter body;                      // after the length indicator
  body.U8(0xe0).Be16(0).Be16(0).U8(0);  // CR, dst-ref, src-ref, class 0
  body.Text("Cookie: mstshash=").Text(user).Text("\r\n");
  body.U8(0x01).U8(0x00).Le16(8).Le32(requested);  // RDP_NEG_REQ
  ByteWriter x224;
  x224.U8(static_cast<uint8_t>(body.size())).Append(body.bytes());
  return Tpkt(x224.Take());
}

Bytes ConnectionConfirm(uint32_t selected) {
  ByteWriter body;
  body.U8(0xd0).Be16(0).Be16(0x1234).U8(0);  // CC, dst-ref, src-ref, class 0
  // RDP_NEG_RSP; flags: extended client data, dynamic virtual channel GFX, restricted admin.
  body.U8(0x02).U8(0x0b).Le16(8).Le32(selected);
  ByteWriter x224;
  x224.U8(static_cast<uint8_t>(body.size())).Append(body.bytes());
  return Tpkt(x224.Take());
}

}  // namespace fs::pcapgen::rdp
