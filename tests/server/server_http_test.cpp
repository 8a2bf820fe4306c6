// The HTTP layer against hostile and unusual clients, over raw loopback
// sockets: body limits for chunked bodies, bad Content-Length, slowloris,
// connection bursts, pipelining, HTTP/1.0 streams, deep JSON and CORS. Every
// test is bounded by socket timeouts of a few seconds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <future>

#include <random>
#include <thread>

#include "app/server/http_transport.h"
#include "server_test_util.h"

namespace bitnet::server::testing {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// A blocking loopback socket whose reads and writes give up after `timeout`.
class Raw {
 public:
  explicit Raw(int port, std::chrono::milliseconds timeout = std::chrono::milliseconds(4000)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Raw() {
    if (fd_ >= 0) ::close(fd_);
  }
  Raw(const Raw&) = delete;
  bool connected() const { return connected_; }
  bool Send(const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  bool Readable(int wait_ms = 0) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, wait_ms) > 0;
  }
  // Everything until the server closes (or the read timeout).
  std::string ReadAll() {
    std::string out;
    char buf[16384];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  // One response with a Content-Length body (the connection may stay open).
  std::string ReadOne() {
    std::string out;
    char buf[16384];
    for (;;) {
      const size_t end = out.find("\r\n\r\n");
      if (end != std::string::npos) {
        const size_t cl = Lower(out.substr(0, end)).find("content-length:");
        const size_t len = cl == std::string::npos ? 0 : std::stoul(out.substr(cl + 15));
        if (out.size() >= end + 4 + len) return out;
      }
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}
std::string HeadOf(const std::string& response) { return Raw::Lower(response.substr(0, response.find("\r\n\r\n"))); }
std::string BodyOf(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

class ServerHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    if (TokenizerPath().empty()) GTEST_SKIP() << "no tokenizer.json";
  }
};

// No model: the transport and the routes that need none are enough.
ServerOptions Bare() {
  ServerOptions o;
  o.model_name = "bare";
  return o;
}

TEST_F(ServerHttpTest, ChunkedBodyOverTheLimitIs413WithoutReadingItAll) {
  ServerOptions o = Bare();
  o.max_body_bytes = 1u << 20;
  TestServer server(o, false);
  {  // One chunk declared larger than the limit: refused at its size line.
    Raw c(server.port());
    const auto t0 = Clock::now();
    ASSERT_TRUE(c.Send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3200000\r\n"));
    const std::string r = c.ReadAll();
    EXPECT_EQ(StatusOf(r), 413) << r;
    EXPECT_NE(r.find("request_too_large"), std::string::npos) << r;
    EXPECT_LT(MsSince(t0), 2000);
  }
  {  // Many small chunks: refused once their sum passes the limit.
    Raw c(server.port(), std::chrono::milliseconds(2000));
    ASSERT_TRUE(c.Send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'a') + "\r\n";
    size_t sent = 0;
    while (sent < (50u << 20) && !c.Readable() && c.Send(chunk)) sent += 0x10000;
    const std::string r = c.ReadAll();
    EXPECT_EQ(StatusOf(r), 413) << r.substr(0, 200);
    EXPECT_LT(sent, 8u << 20) << "the server kept reading far past the limit";
  }
  httplib::Client after = server.Client();
  EXPECT_EQ(Get(after, "/v1/models").status, 200);
}

TEST_F(ServerHttpTest, ChunkedBodyWithinTheLimitIsRead) {
  TestServer server(Bare(), false);
  Raw c(server.port());
  // The route needs the model (503 here) but the body must have been read whole:
  // the pipelined request after it is answered.
  ASSERT_TRUE(c.Send("POST /tokenize HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5;ext=1\r\n{\"con\r\n9\r\ntent\":\"a\"\r\n1\r\n}\r\n0\r\nTrailer: x\r\n\r\n"
                     "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string r = c.ReadAll();
  EXPECT_EQ(StatusOf(r), 503) << r;
  const size_t second = r.find("HTTP/1.1 200");
  EXPECT_NE(second, std::string::npos) << r;
}

TEST_F(ServerHttpTest, BadContentLengthIsRefusedAtOnce) {
  TestServer server(Bare(), false);
  struct Case {
    const char* headers;
    int status;
  };
  const Case cases[] = {
      {"Content-Length: -1\r\n", 400},
      {"Content-Length: abc\r\n", 400},
      {"Content-Length: 12abc\r\n", 400},
      {"Content-Length: \r\n", 400},
      {"Content-Length: 0x10\r\n", 400},
      {"Content-Length: 5\r\nContent-Length: 6\r\n", 400},
      {"Content-Length: 5, 6\r\n", 400},
      {"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400},
      {"Transfer-Encoding: gzip\r\n", 501},
      {"Content-Length: 99999999999999999999999999\r\n", 413},
      {"Content-Length: 9000000\r\n", 413},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.headers);
    Raw c(server.port(), std::chrono::milliseconds(2000));
    const auto t0 = Clock::now();
    ASSERT_TRUE(c.Send(std::string("POST /v1/completions HTTP/1.1\r\nHost: x\r\n") + k.headers + "\r\n"));
    const std::string r = c.ReadAll();  // the server closes after its reply
    EXPECT_EQ(StatusOf(r), k.status) << r;
    EXPECT_NE(HeadOf(r).find("connection: close"), std::string::npos) << r;
    EXPECT_NE(BodyOf(r).find("\"error\""), std::string::npos) << r;
    EXPECT_LT(MsSince(t0), 1000);
  }
  // Equal duplicates are one length.
  Raw c(server.port());
  ASSERT_TRUE(c.Send("POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 02\r\n"
                     "Connection: close\r\n\r\n{}"));
  EXPECT_EQ(StatusOf(c.ReadAll()), 503);  // read and routed (the model is not loaded)
}

TEST_F(ServerHttpTest, MalformedHeadsAreRefused) {
  TestServer server(Bare(), false);
  const std::pair<const char*, int> cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /health HTTP/2.0\r\n\r\n", 505},
      {"GET /health HTTP/1.1\r\nBad Header: x\r\n\r\n", 400},
      {"GET /health HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400},
  };
  for (const auto& [request, status] : cases) {
    SCOPED_TRACE(request);
    Raw c(server.port(), std::chrono::milliseconds(2000));
    ASSERT_TRUE(c.Send(request));
    EXPECT_EQ(StatusOf(c.ReadAll()), status);
  }
  Raw big(server.port(), std::chrono::milliseconds(2000));
  big.Send("GET /health HTTP/1.1\r\nX: " + std::string(70000, 'a'));
  EXPECT_EQ(StatusOf(big.ReadAll()), 431);
}

TEST_F(ServerHttpTest, SlowlorisSocketsDoNotDelayOtherClients) {
  TestServer server(Bare(), false);
  std::vector<std::unique_ptr<Raw>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<Raw>(server.port()));
    ASSERT_TRUE(slow.back()->Send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le"));
  }
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<Raw>(server.port()));  // and 20 that send a head, then no body
    ASSERT_TRUE(slow.back()->Send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int round = 0; round < 3; ++round) {
    const auto t0 = Clock::now();
    httplib::Client c = server.Client();
    EXPECT_EQ(Get(c, "/v1/models").status, 200);
    EXPECT_LT(MsSince(t0), 1000);
    for (auto& s : slow) s->Send("x");  // keep trickling
  }
}

TEST_F(ServerHttpTest, SlowRequestsAreCutOffByTheHeaderTimeout) {
  ServerOptions o = Bare();
  o.header_timeout = std::chrono::milliseconds(300);
  o.idle_timeout = std::chrono::milliseconds(300);
  TestServer server(o, false);
  Raw slow(server.port());
  const auto t0 = Clock::now();
  ASSERT_TRUE(slow.Send("GET /health HTTP/1.1\r\n"));
  std::string r;
  while (MsSince(t0) < 3000) {
    slow.Send("X");  // one byte every 50 ms never finishes the head
    if (slow.Readable(50)) {
      r = slow.ReadAll();
      break;
    }
  }
  EXPECT_EQ(StatusOf(r), 408) << r;
  EXPECT_LT(MsSince(t0), 1500);
  Raw idle(server.port());  // a connection that never sends is closed silently
  const auto t1 = Clock::now();
  EXPECT_EQ(idle.ReadAll(), "");
  EXPECT_LT(MsSince(t1), 1500);
}

TEST_F(ServerHttpTest, ABurstOfConnectionsConnectsWithoutStalling) {
  TestServer server(Bare(), false);
  std::vector<std::unique_ptr<Raw>> conns;
  double worst = 0;
  const auto t0 = Clock::now();
  for (int i = 0; i < 200; ++i) {
    const auto t = Clock::now();
    conns.push_back(std::make_unique<Raw>(server.port()));
    ASSERT_TRUE(conns.back()->connected()) << i;
    worst = std::max(worst, MsSince(t));
  }
  EXPECT_LT(worst, 500) << "a connect waited on the listen backlog";
  EXPECT_LT(MsSince(t0), 3000);
  for (auto& c : conns) ASSERT_TRUE(c->Send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  for (auto& c : conns) EXPECT_EQ(StatusOf(c->ReadAll()), 503);  // "loading": answered
}

TEST_F(ServerHttpTest, PipelinedRequestsAreAnsweredInOrder) {
  TestServer server(Bare(), false);
  Raw c(server.port());
  ASSERT_TRUE(c.Send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                     "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string all = c.ReadAll();
  const size_t a = all.find("HTTP/1.1 200"), b = all.find("HTTP/1.1 404"), d = all.find("HTTP/1.1 503");
  ASSERT_NE(a, std::string::npos) << all;
  ASSERT_NE(b, std::string::npos) << all;
  ASSERT_NE(d, std::string::npos) << all;
  EXPECT_LT(a, b);
  EXPECT_LT(b, d);
  EXPECT_NE(all.find("\"object\":\"list\""), std::string::npos);
  EXPECT_NE(all.find("loading"), std::string::npos);
}

TEST_F(ServerHttpTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  TestServer server(Bare(), false);
  Raw c(server.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string r = c.ReadOne();
    EXPECT_EQ(StatusOf(r), 200) << r;
    EXPECT_EQ(HeadOf(r).find("connection: close"), std::string::npos) << r;
  }
}

TEST_F(ServerHttpTest, ExpectContinueGetsAnInterimReply) {
  TestServer server(Bare(), false);
  Raw c(server.port());
  ASSERT_TRUE(c.Send("POST /tokenize HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
                     "Connection: close\r\n\r\n"));
  ASSERT_TRUE(c.Readable(2000));
  ASSERT_TRUE(c.Send("{}"));
  const std::string r = c.ReadAll();
  EXPECT_EQ(r.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("HTTP/1.1 503"), std::string::npos) << r;
}

TEST_F(ServerHttpTest, Http10StreamIsNotChunked) {
  ServerOptions o;
  o.context_length = 128;
  TestServer server(o);
  const std::string body = R"({"prompt":"Hello","max_tokens":3,"stream":true,"temperature":0})";
  Raw c(server.port(), std::chrono::milliseconds(20000));
  ASSERT_TRUE(c.Send("POST /v1/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  const std::string r = c.ReadAll();
  ASSERT_EQ(StatusOf(r), 200) << r;
  const std::string head = HeadOf(r);
  EXPECT_EQ(head.find("transfer-encoding"), std::string::npos) << head;
  EXPECT_NE(head.find("connection: close"), std::string::npos) << head;
  EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;
  const std::string events = BodyOf(r);
  EXPECT_EQ(events.rfind("data: ", 0), 0u) << events;  // no chunk-size lines
  EXPECT_NE(events.find("data: [DONE]\n\n"), std::string::npos) << events;

  // HTTP/1.1 still streams chunked.
  Raw c11(server.port(), std::chrono::milliseconds(20000));
  ASSERT_TRUE(c11.Send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body));
  const std::string r11 = c11.ReadAll();
  EXPECT_NE(HeadOf(r11).find("transfer-encoding: chunked"), std::string::npos) << r11;
  EXPECT_NE(r11.find("\r\n0\r\n\r\n"), std::string::npos);
}

// Reads a counter or gauge from /metrics (-1 when absent).
double Metric(httplib::Client& c, const std::string& name) {
  const Reply m = Get(c, "/metrics");
  const size_t pos = m.body.find("\n" + name + " ");
  return pos == std::string::npos ? -1.0 : std::stod(m.body.substr(pos + name.size() + 2));
}

// A whole (non-streamed) answer is written only at the end, so the server
// must look at the socket to see that its client left: the generation stops
// at the scheduler's next step and the slot serves the next request.
TEST_F(ServerHttpTest, ClientGoneBeforeAWholeAnswerFreesTheSlot) {
  ServerOptions o;
  o.parallel = 1;
  o.context_length = 4096;
  TestServer server(o);
  httplib::Client probe = server.Client();
  const std::string body = R"({"prompt":"Go on forever","max_tokens":4000,"temperature":0})";
  {
    Raw c(server.port());
    ASSERT_TRUE(c.Send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
    const auto t0 = Clock::now();
    while (Metric(probe, "bitnet_requests_decoding") < 1 && MsSince(t0) < 10000)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(Metric(probe, "bitnet_requests_decoding"), 1) << "the request never started decoding";
  }  // the client hangs up here, mid-generation

  const auto t0 = Clock::now();
  httplib::Client next = server.Client();
  const Reply r = PostJson(next, "/v1/completions", Json{{"prompt", "next"}, {"max_tokens", 3}, {"temperature", 0}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_LT(MsSince(t0), 5000) << "the next request waited for the abandoned one";
  EXPECT_LT(Metric(next, "bitnet_generated_tokens_total"), 1000) << "the abandoned request kept generating";
  EXPECT_EQ(Metric(next, "bitnet_slots_busy"), 0);
  EXPECT_EQ(Metric(next, "bitnet_generations_total"), 2) << "both requests ended";
}

size_t PeakRssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

TEST_F(ServerHttpTest, DeeplyNestedJsonIsRefusedBeforeParsing) {
  ServerOptions o;
  o.context_length = 128;
  o.parallel = 1;
  TestServer server(o);
  httplib::Client c = server.Client();
  const auto t0 = Clock::now();
  const Json e = ExpectErrorObject(PostJson(c, "/v1/completions", std::string(10000, '[')), 400);
  EXPECT_EQ(e.value("code", ""), "invalid_json");
  EXPECT_LT(MsSince(t0), 1000);
  // Depth 64 is allowed (then refused for what it is, not for its depth).
  const std::string ok_depth = R"({"prompt":"a","x":)" + std::string(63, '[') + std::string(63, ']') + "}";
  EXPECT_EQ(PostJson(c, "/tokenize", ok_depth).status, 400);  // no "content"
  // Brackets inside strings do not count.
  const std::string in_string = R"({"content":")" + std::string(1000, '[') + R"("})";
  EXPECT_EQ(PostJson(c, "/tokenize", in_string).status, 200);

  // Peak memory stays near the bodies themselves (2 MB each), where a parsed
  // tree would cost ~70 MB per body.
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM
  const size_t before = PeakRssKb();
  std::vector<std::future<int>> all;
  for (int i = 0; i < 8; ++i)
    all.push_back(std::async(std::launch::async, [&] {
      httplib::Client ci = server.Client();
      return PostJson(ci, "/v1/chat/completions", std::string(2u << 20, '[')).status;
    }));
  for (auto& f : all) EXPECT_EQ(f.get(), 400);
  const size_t after = PeakRssKb();
  if (before > 0 && after > 0) {
    EXPECT_LT(after - std::min(after, before), 150u * 1024) << "KB";
  }
}

TEST_F(ServerHttpTest, CorsIsOffByDefault) {
  TestServer server(Bare(), false);
  Raw c(server.port());
  ASSERT_TRUE(c.Send("GET /v1/models HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n\r\n"));
  const std::string r = c.ReadOne();
  EXPECT_EQ(StatusOf(r), 200);
  EXPECT_EQ(HeadOf(r).find("access-control-"), std::string::npos) << r;
  ASSERT_TRUE(c.Send("OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n"
                     "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"));
  const std::string p = c.ReadAll();
  EXPECT_EQ(StatusOf(p), 204) << p;
  EXPECT_EQ(HeadOf(p).find("access-control-"), std::string::npos) << p;
}

TEST_F(ServerHttpTest, CorsFlagAllowsItsOriginsAndAnswersPreflights) {
  ServerOptions o = Bare();
  o.cors_origins = {"http://app.example"};
  o.api_key = "secret";
  TestServer server(o, false);
  {
    Raw c(server.port());
    ASSERT_TRUE(c.Send("OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n"
                       "Access-Control-Request-Method: POST\r\n"
                       "Access-Control-Request-Headers: authorization, content-type\r\nConnection: close\r\n\r\n"));
    const std::string p = c.ReadAll();
    const std::string head = HeadOf(p);
    EXPECT_EQ(StatusOf(p), 204) << p;  // no API key needed for a preflight
    EXPECT_NE(head.find("access-control-allow-origin: http://app.example"), std::string::npos) << p;
    EXPECT_NE(head.find("access-control-allow-methods: post"), std::string::npos) << p;
    EXPECT_NE(head.find("access-control-allow-headers: authorization, content-type"), std::string::npos) << p;
    EXPECT_NE(head.find("vary: origin"), std::string::npos) << p;
  }
  {
    Raw c(server.port());
    ASSERT_TRUE(c.Send("GET /v1/models HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n"
                       "Authorization: Bearer secret\r\nConnection: close\r\n\r\n"));
    const std::string r = c.ReadAll();
    EXPECT_EQ(StatusOf(r), 200) << r;
    EXPECT_NE(HeadOf(r).find("access-control-allow-origin: http://app.example"), std::string::npos) << r;
  }
  {  // Errors carry the header too, so the page can read them.
    Raw c(server.port());
    ASSERT_TRUE(c.Send("GET /v1/models HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\nConnection: close\r\n\r\n"));
    const std::string r = c.ReadAll();
    EXPECT_EQ(StatusOf(r), 401) << r;
    EXPECT_NE(HeadOf(r).find("access-control-allow-origin: http://app.example"), std::string::npos) << r;
  }
  {  // Another origin gets nothing.
    Raw c(server.port());
    ASSERT_TRUE(c.Send("GET /health HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ(HeadOf(c.ReadAll()).find("access-control-"), std::string::npos);
  }
}

TEST_F(ServerHttpTest, CorsWildcardAndWrongMethod) {
  ServerOptions o = Bare();
  o.cors_origins = {"*"};
  TestServer server(o, false);
  Raw c(server.port());
  ASSERT_TRUE(c.Send("DELETE /v1/models HTTP/1.1\r\nHost: x\r\nOrigin: http://any.example\r\nConnection: close\r\n\r\n"));
  const std::string r = c.ReadAll();
  EXPECT_EQ(StatusOf(r), 405) << r;
  EXPECT_NE(HeadOf(r).find("allow: get"), std::string::npos) << r;
  EXPECT_NE(HeadOf(r).find("access-control-allow-origin: *"), std::string::npos) << r;
}


// ---- the request parser alone

struct Parsed {
  std::string method, path, body;
};

// Feeds `stream` in pieces of 1..max_piece bytes; returns the requests parsed
// and whether it stopped at an error.
std::vector<Parsed> ParseStream(const std::string& stream, size_t max_piece, std::mt19937& rng, bool* error,
                                const TransportLimits& limits) {
  RequestParser p(limits);
  std::vector<Parsed> out;
  std::string buf;
  size_t pos = 0;
  *error = false;
  while (pos < stream.size()) {
    const size_t n = std::min(stream.size() - pos, 1 + rng() % max_piece);
    buf.append(stream, pos, n);
    pos += n;
    for (;;) {
      const RequestParser::Result r = p.Parse(buf);
      EXPECT_LE(p.request().body.size(), limits.max_body_bytes);
      if (r == RequestParser::Result::kError) {
        *error = true;
        return out;
      }
      if (r == RequestParser::Result::kNeedMore) break;
      out.push_back({p.request().method, p.request().path, p.request().body});
      p.Reset();
    }
  }
  return out;
}

TEST(RequestParser, AnySplitOfAPipelinedStreamParsesTheSame) {
  const std::string stream =
      "\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "POST /b?x=1 HTTP/1.1\nTransfer-Encoding: chunked\n\n3\r\nabc\r\n2;e=1\r\nde\r\n0\r\nT: 1\r\n\r\n"
      "GET /c%20d HTTP/1.0\r\n\r\n";
  TransportLimits limits;
  std::mt19937 rng(7);
  for (size_t piece : {1, 2, 3, 7, 64, 4096}) {
    SCOPED_TRACE(piece);
    bool error = false;
    const std::vector<Parsed> got = ParseStream(stream, piece, rng, &error, limits);
    EXPECT_FALSE(error);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].method + got[0].path + got[0].body, "POST/ahello");
    EXPECT_EQ(got[1].method + got[1].path + got[1].body, "POST/babcde");
    EXPECT_EQ(got[2].method + got[2].path + got[2].body, "GET/c d");
  }
}

TEST(RequestParser, MutatedStreamsNeverCrashOrOverrunTheLimits) {
  const std::string base =
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
  TransportLimits limits;
  limits.max_body_bytes = 20;
  limits.max_head_bytes = 256;
  std::mt19937 rng(11);
  const char alphabet[] = "\r\n :;,0123456789abcdefABCDEF-xHTP/.\t";
  for (int i = 0; i < 3000; ++i) {
    std::string s = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[at] = alphabet[rng() % (sizeof alphabet - 1)]; break;
        case 1: s.erase(at, 1 + rng() % 3); break;
        default: {
          const std::string filler(1 + rng() % 40, alphabet[rng() % (sizeof alphabet - 1)]);
          s = s.substr(0, at) + filler + s.substr(at);  // (not insert: GCC 12 warns falsely)
          break;
        }
      }
      if (s.empty()) s.push_back('x');
    }
    bool error = false;
    ParseStream(s, 1 + rng() % 16, rng, &error, limits);
  }
}

}  // namespace
}  // namespace bitnet::server::testing
