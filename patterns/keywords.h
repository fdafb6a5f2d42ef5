// Names Suricata 7.0 knows, so that the parser can tell "not supported yet" (skip the rule with
// the name) from "unknown" (a typo: reject the rule). Read-only tables; any thread.
#pragma once

#include <string_view>

namespace fs::patterns {

// Rule option keywords and their aliases (lower case), as `suricata --list-keywords` lists them.
bool IsSuricataKeyword(std::string_view lower_name);

// Protocol names Suricata accepts in a rule header that the sensor does not evaluate yet:
// app-layer protocols (http, dns, tls, smb, ...) and the tcp-stream/sctp/ipv4/ipv6/pkthdr
// variants.
bool IsSuricataOnlyProtocol(std::string_view lower_name);

// Actions Suricata accepts other than "alert" (pass, drop, reject, ...). The parser handles "pass"
// itself; the others are skipped.
bool IsSuricataOnlyAction(std::string_view lower_name);

}  // namespace fs::patterns
