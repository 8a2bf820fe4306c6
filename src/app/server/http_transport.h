// The server's HTTP/1.1 transport: one poll() thread owns every connection
// that is idle or still sending its request, and a fixed pool of workers runs
// the handlers of complete requests. A slow or silent client therefore costs
// a file descriptor, never a worker, and is cut off by the header, body and
// idle deadlines. Requests and responses are cpp-httplib's plain structs
// (httplib::Request, httplib::Response, httplib::DataSink), so the route
// handlers are written as for httplib; httplib's own server is not used (see
// docs/SERVER.md, "HTTP layer", for why).
#pragma once
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bitnet::server {

struct TransportLimits {
  size_t max_body_bytes = 8u << 20;   // Content-Length or the sum of the chunks
  size_t max_head_bytes = 64u << 10;  // request line and headers (and chunked trailers)
  size_t max_headers = 100;
  std::chrono::milliseconds header_timeout{10000};  // first byte of a request to its blank line
  std::chrono::milliseconds body_timeout{60000};    // first byte of a request to its last
  std::chrono::milliseconds idle_timeout{5000};     // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{30000};   // longest one write may block
  int workers = 16;
  int max_connections = 512;  // open at once; more are answered 503 and closed
};

// Parses HTTP/1.0 and 1.1 requests incrementally from the front of a buffer,
// checking framing strictly: a bad, negative, oversized or conflicting
// Content-Length, Content-Length beside Transfer-Encoding, a coding other
// than chunked, a body over the limit (counted as it arrives, chunked or
// not) are errors at once, before the body is read.
class RequestParser {
 public:
  enum class Result { kNeedMore, kDone, kError };
  explicit RequestParser(const TransportLimits& limits) : limits_(&limits) {}

  // Consumes what it can from the front of `buf` (the request's bytes; a
  // pipelined next request stays in `buf`).
  Result Parse(std::string& buf);
  void Reset();  // ready for the next request on the connection

  httplib::Request& request() { return req_; }  // what was parsed (all of it once kDone)
  bool head_done() const { return state_ != State::kHead; }
  bool keep_alive() const { return keep_alive_; }
  // True once after a head with "Expect: 100-continue" and a body to come.
  bool TakeExpectContinue() { return std::exchange(expect_continue_, false); }
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

 private:
  enum class State { kHead, kBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kDone, kError };
  Result Fail(int status, std::string message);
  // Index just past the blank line ending a head or trailer section, or npos.
  size_t FindBlankLine(const std::string& buf);
  bool ParseHead(const std::string& head);
  bool ParseFraming();

  const TransportLimits* limits_;
  State state_ = State::kHead;
  httplib::Request req_;
  size_t scan_ = 0, line_start_ = 0;  // FindBlankLine's progress
  size_t remaining_ = 0;              // body or chunk bytes still to come
  bool keep_alive_ = false, expect_continue_ = false;
  int error_status_ = 0;
  std::string error_message_;
};

// True when the client whose request this thread's handler is answering has
// closed its end of the connection (checked now, without blocking); false
// outside a handler. Lets a handler that answers only at the end (a whole,
// non-streamed completion) stop work nobody will read. A client that only
// shuts down its sending half counts as gone too, as for most HTTP servers.
bool ClientHungUp();

class HttpTransport {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  // `handler` answers complete requests; `refuse` fills in the body of a
  // reply the transport gives itself (res.status is set: 400, 408, 413, ...;
  // req holds what was parsed, maybe nothing).
  HttpTransport(TransportLimits limits, Handler handler, Handler refuse);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Binds and listens (backlog SOMAXCONN); returns the port, or -1.
  int Bind(const std::string& host, int port);
  // Serves until Stop(); returns once every worker has finished its request.
  void Run();
  // Safe from any thread, before, during or after Run(), more than once.
  void Stop();

  struct Conn;

 private:
  void Reactor();
  void Worker();
  void Serve(std::unique_ptr<Conn> conn);
  void Refuse(Conn& conn, int status, const std::string& message, bool from_reactor);
  bool WriteResponse(Conn& conn, const httplib::Request& req, httplib::Response& res, bool& keep_alive);
  void Wake();

  const TransportLimits limits_;
  const Handler handler_, refuse_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Stop() and connections coming back from workers
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<std::unique_ptr<Conn>> work_;      // complete requests for the workers
  std::vector<std::unique_ptr<Conn>> returned_;  // keep-alive connections back to the reactor
  std::atomic<int> open_{0};                      // connections open anywhere
};

}  // namespace bitnet::server
