#include "patterns/vars.h"

namespace fs::patterns {

Vars Vars::SuricataDefaults() {
  Vars v;
  v.SetAddress("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]");
  v.SetAddress("EXTERNAL_NET", "!$HOME_NET");
  for (const char* name :
       {"HTTP_SERVERS", "SMTP_SERVERS", "SQL_SERVERS", "DNS_SERVERS", "TELNET_SERVERS",
        "AIM_SERVERS", "DC_SERVERS", "DNP3_SERVER", "DNP3_CLIENT", "MODBUS_CLIENT", "MODBUS_SERVER",
        "ENIP_CLIENT", "ENIP_SERVER"}) {
    v.SetAddress(name, "$HOME_NET");
  }
  v.SetPort("HTTP_PORTS", "80");
  v.SetPort("SHELLCODE_PORTS", "!80");
  v.SetPort("ORACLE_PORTS", "1521");
  v.SetPort("SSH_PORTS", "22");
  v.SetPort("DNP3_PORTS", "20000");
  v.SetPort("MODBUS_PORTS", "502");
  v.SetPort("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]");
  v.SetPort("FTP_PORTS", "21");
  v.SetPort("GENEVE_PORTS", "6081");
  v.SetPort("VXLAN_PORTS", "4789");
  v.SetPort("TEREDO_PORTS", "3544");
  return v;
}

}  // namespace fs::patterns
