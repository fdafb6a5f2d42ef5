#include "tools/pcapgen/http.h"

#include "tools/pcapgen/byte_writer.h"
#include "tools/pcapgen/civil_time.h"

namespace fs::pcapgen::http {

namespace {
void WriteHeaders(ByteWriter* w, const Headers& headers) {
  for (const auto& [name, value] : headers) w->Text(name).Text(": ").Text(value).Text("\r\n");
}
}  // namespace

Bytes Request(std::string_view method, std::string_view target, std::string_view host,
              const Headers& headers, const Bytes& body) {
  ByteWriter w;
  w.Text(method).Text(" ").Text(target).Text(" HTTP/1.1\r\nHost: ").Text(host).Text("\r\n");
  WriteHeaders(&w, headers);
  if (!body.empty()) w.Text("Content-Length: ").Text(std::to_string(body.size())).Text("\r\n");
  w.Text("\r\n").Append(body);
  return w.Take();
}

Bytes Response(int status, std::string_view reason, uint64_t now_us, std::string_view server,
               const Headers& headers, const Bytes& body) {
  ByteWriter w;
  w.Text("HTTP/1.1 ").Text(std::to_string(status)).Text(" ").Text(reason).Text("\r\n");
  w.Text("Date: ").Text(HttpDate(now_us / 1000000)).Text("\r\n");
  w.Text("Server: ").Text(server).Text("\r\n");
  WriteHeaders(&w, headers);
  w.Text("Content-Length: ").Text(std::to_string(body.size())).Text("\r\n\r\n").Append(body);
  return w.Take();
}

}  // namespace fs::pcapgen::http
