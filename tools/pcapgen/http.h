// HTTP/1.1 message builders: requests as a browser sends them and responses with the headers a
// typical server returns (Date derived from capture time, exact Content-Length). Plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tools/pcapgen/packet_builder.h"

namespace fs::pcapgen::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Request line, Host, then `headers` in order, then the body (Content-Length added when non-empty).
Bytes Request(std::string_view method, std::string_view target, std::string_view host,
              const Headers& headers, const Bytes& body = {});
// Status line, Date, Server, then `headers`, Content-Length, the body.
Bytes Response(int status, std::string_view reason, uint64_t now_us, std::string_view server,
               const Headers& headers, const Bytes& body);

}  // namespace fs::pcapgen::http
