// Webhook backend: HMAC against RFC 4231, the JSON bodies, URL validation, and real HTTP exchanges
// with an httplib::Server on 127.0.0.1 that verifies each request the way a receiver would.
#include "controlplane/enforce/webhook_backend.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace fs::enforce {
namespace {

using Json = nlohmann::json;

Block MakeBlock(const char* target, uint64_t created_ms = 1700000000000,
                uint64_t ttl_ms = 3600 * 1000) {
  patterns::IpPrefix p;
  std::string why;
  bool host_bits = false;
  EXPECT_TRUE(patterns::ParseIpEntry(target, &p, &host_bits, &why)) << target << ": " << why;
  Block b;
  b.target = p;
  b.source = BlockSource::kRule;
  b.gid = 1;
  b.sid = 2024001;
  b.reason = "ET EXPLOIT test";
  b.created_ms = created_ms;
  b.expires_ms = created_ms + ttl_ms;
  return b;
}

WebhookConfig Config(const std::string& url, const std::string& secret, int timeout_ms = 5000,
                     const std::string& sensor = "test-sensor") {
  WebhookConfig c;
  c.url = url;
  c.secret = secret;
  c.timeout_ms = timeout_ms;
  c.sensor_name = sensor;
  return c;
}

std::string Bytes(size_t n, uint8_t v) { return std::string(n, static_cast<char>(v)); }

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

// RFC 4231 section 4: HMAC-SHA-256 test cases 1-4, 6, 7 (case 5 is truncated output, checked as
// a prefix).
TEST(WebhookHmac, Rfc4231Vectors) {
  struct Case {
    const char* name;
    std::string key, data;
    const char* expected;
  };
  const Case cases[] = {
      {"1", Bytes(20, 0x0b), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"2", "Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"3", Bytes(20, 0xaa), Bytes(50, 0xdd),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {"4", Unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), Bytes(50, 0xcd),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {"6", Bytes(131, 0xaa), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {"7", Bytes(131, 0xaa),
       "This is a test using a larger than block-size key and a larger than block-size data. The "
       "key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(HmacSha256Hex(c.key, c.data), c.expected) << "RFC 4231 case " << c.name;
  }
  const std::string t5 = HmacSha256Hex(Bytes(20, 0x0c), "Test With Truncation");
  EXPECT_EQ(t5.substr(0, 32), "a3b6167473100ee06e0c796c2955552b") << "RFC 4231 case 5";
  // An empty key is valid HMAC (the unsigned configuration never calls this, but it must not
  // crash on a null pointer).
  EXPECT_EQ(HmacSha256Hex("", "").size(), 64u);
}

TEST(WebhookBody, IsoTime) {
  EXPECT_EQ(IsoTimeUtc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(IsoTimeUtc(1700000000123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(IsoTimeUtc(951782400000), "2000-02-29T00:00:00.000Z");
}

TEST(WebhookBody, BlockFields) {
  Block b = MakeBlock("203.0.113.5");
  const uint64_t now = b.created_ms + 600 * 1000;  // 10 minutes in: 50 left
  const std::string body = WebhookBody("block", b, "sensor-1", now);
  Json j = Json::parse(body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << body;
  EXPECT_EQ(j["event"], "block");
  EXPECT_EQ(j["target"], "203.0.113.5");
  EXPECT_EQ(j["source"], "rule");
  EXPECT_EQ(j["gid"], 1);
  EXPECT_EQ(j["signature_id"], 2024001);
  EXPECT_EQ(j["reason"], "ET EXPLOIT test");
  EXPECT_EQ(j["created"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(j["expires"], "2023-11-14T23:13:20.000Z");
  EXPECT_EQ(j["ttl"], 3000);
  EXPECT_EQ(j["sensor"], "sensor-1");
  EXPECT_EQ(j.size(), 10u) << body;
  // The documented order, so a human reading a receiver's log sees the event first.
  EXPECT_EQ(body.rfind("{\"event\":\"block\",\"target\":", 0), 0u) << body;

  b.source = BlockSource::kOperator;
  Json u = Json::parse(WebhookBody("unblock", b, "s", b.expires_ms + 1));
  EXPECT_EQ(u["event"], "unblock");
  EXPECT_EQ(u["source"], "operator");
  EXPECT_EQ(u["ttl"], 0);
}

TEST(WebhookBody, TargetsIpv6AndCidr) {
  const struct {
    const char* in;
    const char* out;
  } cases[] = {
      {"2001:db8::1", "2001:db8::1"},
      {"2001:db8:1:2::/64", "2001:db8:1:2::/64"},
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"198.51.100.7/32", "198.51.100.7"},
  };
  for (const auto& c : cases) {
    Json j = Json::parse(WebhookBody("block", MakeBlock(c.in), "s", 0), nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << c.in;
    EXPECT_EQ(j["target"], c.out) << c.in;
  }
}

TEST(WebhookBody, HostileReasonIsEscaped) {
  Block b = MakeBlock("192.0.2.1");
  b.reason = "a\"b\\c\nd\re\tf\x01g</script>{\"event\":\"unblock\"}";
  const std::string body = WebhookBody("block", b, "sen\"sor", 0);
  EXPECT_EQ(body.find('\n'), std::string::npos);
  EXPECT_EQ(body.find('\x01'), std::string::npos);
  Json j = Json::parse(body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << body;
  EXPECT_EQ(j["reason"], b.reason);
  EXPECT_EQ(j["event"], "block");
  EXPECT_EQ(j["sensor"], "sen\"sor");

  // Invalid UTF-8 (a signature msg is arbitrary bytes) is replaced, not thrown on.
  b.reason = "bad \xff\xfe utf8 \xc3";
  const std::string body2 = WebhookBody("block", b, "s", 0);
  Json j2 = Json::parse(body2, nullptr, false);
  ASSERT_FALSE(j2.is_discarded()) << body2;
  EXPECT_EQ(j2["reason"], "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd");
}

TEST(WebhookBody, Sync) {
  const Block blocks[] = {MakeBlock("203.0.113.5"), MakeBlock("2001:db8::7")};
  Json j = Json::parse(WebhookSyncBody(blocks, "s1", 1700000000000), nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["event"], "sync");
  EXPECT_EQ(j["sensor"], "s1");
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.000Z");
  ASSERT_EQ(j["blocks"].size(), 2u);
  EXPECT_EQ(j["blocks"][0]["target"], "203.0.113.5");
  EXPECT_EQ(j["blocks"][1]["target"], "2001:db8::7");
  EXPECT_EQ(j["blocks"][1]["ttl"], 3600);
  EXPECT_FALSE(j["blocks"][0].contains("event"));

  Json empty = Json::parse(WebhookSyncBody({}, "s1", 0));
  ASSERT_TRUE(empty["blocks"].is_array());
  EXPECT_TRUE(empty["blocks"].empty());
}

TEST(WebhookUrl, Parse) {
  const struct {
    const char* url;
    bool ok;
    bool https;
    const char* host;
    int port;
    const char* path;
  } cases[] = {
      {"http://hooks.example/x", true, false, "hooks.example", 80, "/x"},
      {"HTTPS://hooks.example", true, true, "hooks.example", 443, "/"},
      {"http://10.1.2.3:8080/a/b?token=1#frag", true, false, "10.1.2.3", 8080, "/a/b?token=1"},
      {"http://[2001:db8::1]:9000/h", true, false, "2001:db8::1", 9000, "/h"},
      {"https://[::1]/", true, true, "::1", 443, "/"},
      {"http://h?x=1", true, false, "h", 80, "/?x=1"},
      {"ftp://h/x", false, false, "", 0, ""},
      {"hooks.example/x", false, false, "", 0, ""},
      {"http://", false, false, "", 0, ""},
      {"http:///path", false, false, "", 0, ""},
      {"http://:80/", false, false, "", 0, ""},
      {"http://h:0/", false, false, "", 0, ""},
      {"http://h:65536/", false, false, "", 0, ""},
      {"http://h:80x/", false, false, "", 0, ""},
      {"http://h:/", false, false, "", 0, ""},
      {"http://user:pw@h/", false, false, "", 0, ""},
      {"http://h /x", false, false, "", 0, ""},
      {"http://h/x\ny", false, false, "", 0, ""},
      {"http://[2001:db8::1/", false, false, "", 0, ""},
      {"http://[]/", false, false, "", 0, ""},
      {"http://[::1]x/", false, false, "", 0, ""},
      {"http://h%41/", false, false, "", 0, ""},
      {"", false, false, "", 0, ""},
  };
  for (const auto& c : cases) {
    WebhookUrl u;
    std::string error;
    const bool ok = ParseWebhookUrl(c.url, &u, &error);
    EXPECT_EQ(ok, c.ok) << c.url << " " << error;
    if (!ok) {
      EXPECT_NE(error.find("webhook url"), std::string::npos) << error;
      continue;
    }
    EXPECT_EQ(u.https, c.https) << c.url;
    EXPECT_EQ(u.host, c.host) << c.url;
    EXPECT_EQ(u.port, c.port) << c.url;
    EXPECT_EQ(u.path, c.path) << c.url;
  }
}

TEST(WebhookBackend, StartRefusesBadUrlsAndNeedsNoReceiver) {
  for (const char* url : {"", "ftp://h/", "http://", "http://h:99999/", "https://u@h/"}) {
    WebhookBackend w(Config(url, "s"));
    std::string error;
    EXPECT_FALSE(w.Start(&error)) << url;
    EXPECT_FALSE(error.empty()) << url;
  }
  {
    WebhookBackend w(Config("http://h/", "s", 0));
    std::string error;
    EXPECT_FALSE(w.Start(&error));
    EXPECT_NE(error.find("timeout"), std::string::npos) << error;
  }
  // Nothing listens on these (a documentation address and a name that never resolves): Start
  // only validates.
  for (const char* url : {"http://192.0.2.1:81/hook", "https://receiver.invalid/hook"}) {
    WebhookBackend w(Config(url, "s"));
    std::string error;
    EXPECT_TRUE(w.Start(&error)) << url << ": " << error;
    EXPECT_STREQ(w.name(), "webhook");
  }
  WebhookBackend w(Config("http://127.0.0.1/", ""));
  std::string error;
  EXPECT_FALSE(w.Add(MakeBlock("192.0.2.1"), &error)) << "Add before Start";
}

// A receiver on 127.0.0.1 (port chosen by the kernel) that records requests and answers with a
// configurable status; its handler can be made to stall until released.
class Receiver {
 public:
  struct Request {
    std::string path, body;
    httplib::Headers headers;
  };

  // Plain HTTP, or HTTPS with the given PEM certificate and key.
  explicit Receiver(const std::string& cert = "", const std::string& key = "")
      : https_(!cert.empty()) {
    if (https_) {
      server_ = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    server_->Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock lock(mu_);
      requests_.push_back({req.target, req.body, req.headers});
      cv_.notify_all();
      if (stall_) {
        // Bounded so a broken test cannot hang the suite.
        cv_.wait_for(lock, std::chrono::seconds(20), [this] { return !stall_; });
      }
      res.status = status_;
      res.set_content(answer_, "text/plain");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  ~Receiver() {
    Release();
    server_->stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string Url(const std::string& path) const {
    return (https_ ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(port_) +
           path;
  }
  void Answer(int status, std::string body) {
    std::lock_guard lock(mu_);
    status_ = status;
    answer_ = std::move(body);
  }
  void Stall() {
    std::lock_guard lock(mu_);
    stall_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    stall_ = false;
    cv_.notify_all();
  }
  std::vector<Request> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  const bool https_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Request> requests_;
  int status_ = 200;
  std::string answer_ = "ok";
  bool stall_ = false;
};

std::string Header(const httplib::Headers& h, const std::string& key) {
  auto it = h.find(key);
  return it == h.end() ? "" : it->second;
}

// What a receiver does (webhook_backend.h): recompute the HMAC over timestamp "." raw body,
// compare, and check the timestamp is recent.
bool ReceiverAccepts(const Receiver::Request& r, const std::string& secret, std::string* why) {
  const std::string ts = Header(r.headers, "X-Flowsentry-Timestamp");
  const std::string sig = Header(r.headers, "X-Flowsentry-Signature");
  if (ts.empty() || sig.rfind("sha256=", 0) != 0) {
    *why = "missing timestamp or signature";
    return false;
  }
  if (sig.substr(7) != HmacSha256Hex(secret, ts + "." + r.body)) {
    *why = "signature mismatch";
    return false;
  }
  const long long now = static_cast<long long>(NowMs() / 1000);
  if (std::llabs(now - std::stoll(ts)) > 300) {
    *why = "stale timestamp " + ts;
    return false;
  }
  return true;
}

TEST(WebhookBackend, PostsSignedEventsTheReceiverVerifies) {
  Receiver rx;
  ASSERT_GT(rx.port(), 0);
  const std::string secret = "district-secret-0123456789";
  WebhookBackend w(Config(rx.Url("/flowsentry/hook?key=abc"), secret, 10000, "core-sensor"));
  std::string error;
  ASSERT_TRUE(w.Start(&error)) << error;

  const uint64_t now = NowMs();
  Block b4 = MakeBlock("203.0.113.5", now);
  Block b6 = MakeBlock("2001:db8::66", now);
  ASSERT_TRUE(w.Add(b4, &error)) << error;
  ASSERT_TRUE(w.Remove(b4, &error)) << error;
  const Block live[] = {b4, b6};
  ASSERT_TRUE(w.Sync(live, &error)) << error;

  std::vector<Receiver::Request> reqs = rx.Requests();
  ASSERT_EQ(reqs.size(), 3u);
  const char* events[] = {"block", "unblock", "sync"};
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Receiver::Request& r = reqs[i];
    SCOPED_TRACE(events[i]);
    EXPECT_EQ(r.path, "/flowsentry/hook?key=abc");
    EXPECT_EQ(Header(r.headers, "Content-Type"), "application/json");
    EXPECT_EQ(Header(r.headers, "X-Flowsentry-Event"), events[i]);
    std::string why;
    EXPECT_TRUE(ReceiverAccepts(r, secret, &why)) << why;
    // A forger without the secret, or one who edits the body, fails verification.
    EXPECT_FALSE(ReceiverAccepts(r, secret + "x", &why));
    Receiver::Request tampered = r;
    tampered.body.replace(tampered.body.find("203.0.113.5"), 11, "203.0.113.6");
    EXPECT_FALSE(ReceiverAccepts(tampered, secret, &why));
    Json j = Json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.body;
    EXPECT_EQ(j["event"], events[i]);
    EXPECT_EQ(j["sensor"], "core-sensor");
  }
  Json add = Json::parse(reqs[0].body);
  EXPECT_EQ(add["target"], "203.0.113.5");
  EXPECT_EQ(add["signature_id"], 2024001);
  EXPECT_EQ(add["ttl"], 3600);
  Json sync = Json::parse(reqs[2].body);
  ASSERT_EQ(sync["blocks"].size(), 2u);
  EXPECT_EQ(sync["blocks"][1]["target"], "2001:db8::66");
}

TEST(WebhookBackend, NoSecretSendsUnsigned) {
  Receiver rx;
  WebhookBackend w(Config(rx.Url("/"), ""));
  std::string error;
  ASSERT_TRUE(w.Start(&error)) << error;
  ASSERT_TRUE(w.Add(MakeBlock("192.0.2.9"), &error)) << error;
  auto reqs = rx.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers.count("X-Flowsentry-Signature"), 0u);
  EXPECT_FALSE(Header(reqs[0].headers, "X-Flowsentry-Timestamp").empty());
}

TEST(WebhookBackend, ErrorStatusFails) {
  Receiver rx;
  WebhookBackend w(Config(rx.Url("/hook"), "k"));
  std::string error;
  ASSERT_TRUE(w.Start(&error)) << error;

  rx.Answer(500, "database down\n");
  EXPECT_FALSE(w.Add(MakeBlock("192.0.2.1"), &error));
  EXPECT_NE(error.find("HTTP 500: database down?"), std::string::npos) << error;
  EXPECT_NE(error.find("http://127.0.0.1:" + std::to_string(rx.port()) + "/hook"),
            std::string::npos)
      << error;

  // The excerpt is the first 200 bytes.
  rx.Answer(503, std::string(200, 'a') + std::string(300, 'z'));
  EXPECT_FALSE(w.Remove(MakeBlock("192.0.2.1"), &error));
  EXPECT_NE(error.find("HTTP 503: " + std::string(200, 'a')), std::string::npos) << error;
  EXPECT_EQ(error.find('z'), std::string::npos) << error;

  // Redirects are not followed: the operator configured the wrong URL.
  rx.Answer(301, "moved");
  EXPECT_FALSE(w.Sync({}, &error));
  EXPECT_NE(error.find("HTTP 301"), std::string::npos) << error;

  rx.Answer(204, "");
  EXPECT_TRUE(w.Add(MakeBlock("192.0.2.1"), &error)) << error;
}

TEST(WebhookBackend, NothingListeningFails) {
  // A bound socket that never listens: connections to its port are refused, and nobody else can
  // take the port while we hold it.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const int port = ntohs(a.sin_port);

  WebhookBackend w(Config("http://127.0.0.1:" + std::to_string(port) + "/h", "k"));
  std::string error;
  EXPECT_TRUE(w.Start(&error)) << error;
  EXPECT_FALSE(w.Add(MakeBlock("192.0.2.1"), &error));
  EXPECT_NE(error.find("Connection"), std::string::npos) << error;
  close(fd);
}

TEST(WebhookBackend, SlowReceiverTimesOut) {
  Receiver rx;
  rx.Stall();
  WebhookBackend w(Config(rx.Url("/slow"), "k", 300));
  std::string error;
  ASSERT_TRUE(w.Start(&error)) << error;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(w.Add(MakeBlock("192.0.2.1"), &error));
  const auto waited = std::chrono::steady_clock::now() - t0;
  rx.Release();
  EXPECT_NE(error.find("Read"), std::string::npos) << error;
  // Generous bound: the point is that the call returns while the handler still stalls (it would
  // stall 20 s).
  EXPECT_LT(waited, std::chrono::seconds(15));
  EXPECT_EQ(rx.Requests().size(), 1u);
}

TEST(WebhookBackend, HttpsToPlainServerFailsTls) {
  Receiver rx;
  WebhookBackend w(Config("https://127.0.0.1:" + std::to_string(rx.port()) + "/h", "k"));
  std::string error;
  ASSERT_TRUE(w.Start(&error)) << error;
  EXPECT_FALSE(w.Add(MakeBlock("192.0.2.1"), &error));
  EXPECT_NE(error.find("TLS"), std::string::npos) << error;
}

// A self-signed certificate (its own CA) for one subjectAltName, written to a fresh temporary
// directory that is removed again.
class SelfSignedCert {
 public:
  explicit SelfSignedCert(const char* san) {
    char tmpl[] = "/tmp/fs_webhook_tls_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    cert_ = dir_ + "/cert.pem";
    key_ = dir_ + "/key.pem";
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("flowsentry test"), -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, std::string(san)},
                                     std::pair{NID_basic_constraints, std::string("CA:TRUE")}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      if (ext != nullptr) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
      }
    }
    X509_sign(x, pkey, EVP_sha256());
    FILE* f = fopen(cert_.c_str(), "w");
    if (f) {
      ok_ = PEM_write_X509(f, x) == 1;
      fclose(f);
    }
    f = fopen(key_.c_str(), "w");
    if (f) {
      ok_ = ok_ && PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
      fclose(f);
    }
    X509_free(x);
    EVP_PKEY_free(pkey);
  }
  ~SelfSignedCert() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  const std::string& cert() const { return cert_; }
  const std::string& key() const { return key_; }

 private:
  std::string dir_, cert_, key_;
  bool ok_ = false;
};

// HTTPS verifies the server: an unknown CA fails, the configured CA succeeds, and a certificate
// for another address fails even from the trusted CA.
TEST(WebhookBackend, HttpsVerifiesTheServerCertificate) {
  SelfSignedCert cert("IP:127.0.0.1");
  ASSERT_TRUE(cert.ok());
  Receiver rx(cert.cert(), cert.key());
  ASSERT_GT(rx.port(), 0);
  std::string error;
  {
    WebhookBackend w(Config(rx.Url("/tls"), "k"));
    ASSERT_TRUE(w.Start(&error)) << error;
    EXPECT_FALSE(w.Add(MakeBlock("192.0.2.1"), &error));
    EXPECT_NE(error.find("TLS certificate is not trusted: self-signed certificate (trusting the "
                         "system CAs)"),
              std::string::npos)
        << error;
  }
  EXPECT_TRUE(rx.Requests().empty());
  {
    WebhookConfig c = Config(rx.Url("/tls"), "k");
    c.ca_file = cert.cert();
    WebhookBackend w(c);
    ASSERT_TRUE(w.Start(&error)) << error;
    ASSERT_TRUE(w.Add(MakeBlock("192.0.2.1"), &error)) << error;
    auto reqs = rx.Requests();
    ASSERT_EQ(reqs.size(), 1u);
    std::string why;
    EXPECT_TRUE(ReceiverAccepts(reqs[0], "k", &why)) << why;
  }
  SelfSignedCert other("IP:127.0.0.2");
  ASSERT_TRUE(other.ok());
  Receiver rx2(other.cert(), other.key());
  {
    WebhookConfig c = Config(rx2.Url("/tls"), "k");
    c.ca_file = other.cert();
    WebhookBackend w(c);
    ASSERT_TRUE(w.Start(&error)) << error;
    EXPECT_FALSE(w.Add(MakeBlock("192.0.2.1"), &error));
    EXPECT_NE(
        error.find("TLS certificate is not trusted: it is not issued for 127.0.0.1 (trusting " +
                   other.cert() + ")"),
        std::string::npos)
        << error;
  }
  EXPECT_TRUE(rx2.Requests().empty());
}

TEST(WebhookBackend, CaFileChecksAtStart) {
  WebhookConfig c = Config("https://127.0.0.1:1/", "k");
  c.ca_file = "/nonexistent/ca.pem";
  WebhookBackend missing(c);
  std::string error;
  EXPECT_FALSE(missing.Start(&error));
  EXPECT_NE(error.find("cannot read ca-file /nonexistent/ca.pem"), std::string::npos) << error;

  c.url = "http://127.0.0.1:1/";
  c.ca_file = "/etc/hostname";
  WebhookBackend plain(c);
  EXPECT_FALSE(plain.Start(&error));
  EXPECT_NE(error.find("not https"), std::string::npos) << error;
}

}  // namespace
}  // namespace fs::enforce
