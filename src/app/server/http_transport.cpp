#include "app/server/http_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

namespace bitnet::server {
namespace {

using Clock = std::chrono::steady_clock;

// A refused client's bytes read and dropped after the reply, so the reply is
// not lost to a reset while it is still sending; beyond this it is cut off.
constexpr size_t kMaxDrainBytes = 256u << 10;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = s.find(',', start);
    out.push_back(Trim(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool HasToken(const std::string& header_value, const char* token) {
  for (const std::string& t : SplitList(Lower(header_value)))
    if (t == token) return true;
  return false;
}

const char* StatusText(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 400 ? "OK" : "Error";
  }
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

// Writes everything, waiting at most `timeout` for each stretch of progress.
bool WriteAll(int fd, const char* data, size_t n, std::chrono::milliseconds timeout) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w > 0) {
      data += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      int r;
      do r = ::poll(&p, 1, static_cast<int>(timeout.count()));
      while (r < 0 && errno == EINTR);
      if (r <= 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL))) return false;
      continue;
    }
    return false;
  }
  return true;
}
bool WriteAll(int fd, const std::string& s, std::chrono::milliseconds timeout) {
  return WriteAll(fd, s.data(), s.size(), timeout);
}

}  // namespace

// ---------------------------------------------------------------- parser

RequestParser::Result RequestParser::Fail(int status, std::string message) {
  state_ = State::kError;
  error_status_ = status;
  error_message_ = std::move(message);
  keep_alive_ = false;
  return Result::kError;
}

void RequestParser::Reset() {
  state_ = State::kHead;
  req_ = httplib::Request();
  scan_ = line_start_ = remaining_ = 0;
  keep_alive_ = expect_continue_ = false;
  error_status_ = 0;
  error_message_.clear();
}

size_t RequestParser::FindBlankLine(const std::string& buf) {
  for (size_t i = scan_; i < buf.size(); ++i) {
    if (buf[i] != '\n') continue;
    const size_t len = i - line_start_;
    if (len == 0 || (len == 1 && buf[line_start_] == '\r')) {
      scan_ = line_start_ = 0;
      return i + 1;
    }
    line_start_ = i + 1;
  }
  scan_ = buf.size();
  return std::string::npos;
}

bool RequestParser::ParseHead(const std::string& head) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < head.size()) {
    size_t nl = head.find('\n', start);
    if (nl == std::string::npos) nl = head.size();
    std::string line = head.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    start = nl + 1;
  }
  if (lines.empty()) return Fail(400, "empty request"), false;

  // METHOD SP request-target SP HTTP-version
  const std::string& rl = lines[0];
  const size_t sp1 = rl.find(' '), sp2 = sp1 == std::string::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string::npos || rl.find(' ', sp2 + 1) != std::string::npos || sp2 == sp1 + 1)
    return Fail(400, "malformed request line"), false;
  req_.method = rl.substr(0, sp1);
  req_.target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  req_.version = rl.substr(sp2 + 1);
  for (unsigned char c : req_.method)
    if (!IsTokenChar(c)) return Fail(400, "malformed request method"), false;
  for (unsigned char c : req_.target)
    if (c <= 0x20 || c == 0x7f) return Fail(400, "malformed request target"), false;
  if (req_.version != "HTTP/1.1" && req_.version != "HTTP/1.0") {
    if (req_.version.size() == 8 && req_.version.rfind("HTTP/", 0) == 0 && std::isdigit(req_.version[5]) &&
        req_.version[6] == '.' && std::isdigit(req_.version[7]))
      return Fail(505, "only HTTP/1.0 and HTTP/1.1 are served"), false;
    return Fail(400, "malformed HTTP version"), false;
  }
  const size_t q = req_.target.find('?');
  req_.path = httplib::detail::decode_url(req_.target.substr(0, q), false);
  if (q != std::string::npos) httplib::detail::parse_query_text(req_.target.substr(q + 1), req_.params);

  if (lines.size() - 1 > limits_->max_headers) return Fail(431, "too many header fields"), false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line[0] == ' ' || line[0] == '\t') return Fail(400, "obsolete header line folding"), false;
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) return Fail(400, "malformed header field"), false;
    for (size_t k = 0; k < colon; ++k)
      if (!IsTokenChar(static_cast<unsigned char>(line[k]))) return Fail(400, "malformed header field name"), false;
    req_.headers.emplace(line.substr(0, colon), Trim(line.substr(colon + 1)));
  }
  return ParseFraming();
}

bool RequestParser::ParseFraming() {
  const bool http11 = req_.version == "HTTP/1.1";
  const std::string connection = req_.get_header_value("Connection");
  keep_alive_ = http11 ? !HasToken(connection, "close") : HasToken(connection, "keep-alive");

  std::vector<std::string> te, cl;
  for (const auto& [name, value] : req_.headers) {
    const std::string n = Lower(name);
    if (n == "transfer-encoding") te.push_back(value);
    if (n == "content-length") cl.push_back(value);
  }
  if (!te.empty()) {
    // RFC 9112 6.1: Transfer-Encoding beside Content-Length (a smuggling
    // vector), or in HTTP/1.0, is faulty framing.
    if (!cl.empty()) return Fail(400, "both Content-Length and Transfer-Encoding are given"), false;
    if (!http11) return Fail(400, "Transfer-Encoding in an HTTP/1.0 request"), false;
    std::vector<std::string> codings;
    for (const std::string& v : te)
      for (const std::string& c : SplitList(Lower(v))) codings.push_back(c);
    if (codings.size() != 1 || codings[0] != "chunked")
      return Fail(501, "only Transfer-Encoding: chunked is supported"), false;
    state_ = State::kChunkSize;
  } else if (!cl.empty()) {
    // Every value (repeated fields, comma lists) must be the same decimal number.
    std::string digits;
    for (const std::string& v : cl) {
      for (const std::string& item : SplitList(v)) {
        if (item.empty() || !std::all_of(item.begin(), item.end(), [](unsigned char c) { return std::isdigit(c); }))
          return Fail(400, "Content-Length must be a decimal number of bytes, got '" + v + "'"), false;
        std::string canon = item.substr(std::min(item.find_first_not_of('0'), item.size() - 1));
        if (!digits.empty() && canon != digits) return Fail(400, "conflicting Content-Length values"), false;
        digits = canon;
      }
    }
    if (digits.size() > 18 || std::stoull(digits) > limits_->max_body_bytes)
      return Fail(413, "the request body is larger than the server accepts"), false;
    remaining_ = std::stoull(digits);
    state_ = remaining_ > 0 ? State::kBody : State::kDone;
    req_.body.reserve(remaining_);
  } else {
    state_ = State::kDone;  // no body
  }
  if (state_ != State::kDone && http11 && Lower(req_.get_header_value("Expect")) == "100-continue")
    expect_continue_ = true;
  return true;
}

RequestParser::Result RequestParser::Parse(std::string& buf) {
  for (;;) {
    switch (state_) {
      case State::kHead: {
        if (scan_ == 0) {  // RFC 9112 2.2: ignore blank lines before a request line
          size_t k = 0;
          while (k < buf.size() && (buf[k] == '\r' || buf[k] == '\n')) ++k;
          buf.erase(0, k);
        }
        const size_t end = FindBlankLine(buf);
        if (end == std::string::npos) {
          if (buf.size() > limits_->max_head_bytes) return Fail(431, "the request head is too large");
          return Result::kNeedMore;
        }
        if (end > limits_->max_head_bytes) return Fail(431, "the request head is too large");
        const std::string head = buf.substr(0, end);
        buf.erase(0, end);
        if (!ParseHead(head)) return Result::kError;
        break;
      }
      case State::kBody:
      case State::kChunkData: {
        const size_t take = std::min(remaining_, buf.size());
        req_.body.append(buf, 0, take);
        buf.erase(0, take);
        remaining_ -= take;
        if (remaining_ > 0) return Result::kNeedMore;
        state_ = state_ == State::kBody ? State::kDone : State::kChunkDataEnd;
        break;
      }
      case State::kChunkSize: {
        const size_t nl = buf.find('\n');
        if (nl == std::string::npos) {
          if (buf.size() > 1024) return Fail(400, "malformed chunk size line");
          return Result::kNeedMore;
        }
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        line = Trim(line.substr(0, line.find(';')));  // chunk extensions are ignored
        if (line.empty() || line.size() > 15 ||
            !std::all_of(line.begin(), line.end(), [](unsigned char c) { return std::isxdigit(c); }))
          return Fail(400, "malformed chunk size");
        const size_t size = std::stoull(line, nullptr, 16);
        if (size == 0) {
          state_ = State::kTrailers;
          line_start_ = scan_ = 0;
          break;
        }
        if (size > limits_->max_body_bytes - req_.body.size())
          return Fail(413, "the request body is larger than the server accepts");
        remaining_ = size;
        state_ = State::kChunkData;
        break;
      }
      case State::kChunkDataEnd: {
        if (buf.empty()) return Result::kNeedMore;
        if (buf[0] == '\n') {
          buf.erase(0, 1);
        } else if (buf[0] == '\r') {
          if (buf.size() < 2) return Result::kNeedMore;
          if (buf[1] != '\n') return Fail(400, "malformed chunk");
          buf.erase(0, 2);
        } else {
          return Fail(400, "malformed chunk");
        }
        state_ = State::kChunkSize;
        break;
      }
      case State::kTrailers: {
        const size_t end = FindBlankLine(buf);
        if (end == std::string::npos) {
          if (buf.size() > limits_->max_head_bytes) return Fail(431, "the chunked trailer is too large");
          return Result::kNeedMore;
        }
        buf.erase(0, end);  // trailer fields are read and dropped
        state_ = State::kDone;
        break;
      }
      case State::kDone:
        return Result::kDone;
      case State::kError:
        return Result::kError;
    }
  }
}

// ---------------------------------------------------------------- transport

struct HttpTransport::Conn {
  explicit Conn(int f, const TransportLimits& limits) : fd(f), parser(limits) {}
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
  enum class Phase { kIdle, kReading, kDraining };
  int fd;
  std::string in;
  RequestParser parser;
  Phase phase = Phase::kIdle;
  Clock::time_point started, deadline;
  std::string remote_addr;
  int remote_port = 0;
  size_t drained = 0;  // bytes dropped while draining
};

HttpTransport::HttpTransport(TransportLimits limits, Handler handler, Handler refuse)
    : limits_(limits), handler_(std::move(handler)), refuse_(std::move(refuse)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

HttpTransport::~HttpTransport() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

int HttpTransport::Bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // The kernel caps the backlog at net.core.somaxconn.
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) return -1;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  listen_fd_ = fd;
  return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

void HttpTransport::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof one);
}

void HttpTransport::Stop() {
  stopping_ = true;
  Wake();
  std::lock_guard<std::mutex> lock(mu_);
  work_cv_.notify_all();
}

void HttpTransport::Run() {
  if (listen_fd_ < 0 || stopping_) return;
  std::vector<std::thread> workers;
  for (int i = 0; i < std::max(1, limits_.workers); ++i) workers.emplace_back([this] { Worker(); });
  Reactor();
  {
    std::lock_guard<std::mutex> lock(mu_);
    work_cv_.notify_all();
  }
  for (std::thread& t : workers) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  returned_.clear();
  work_.clear();
}

void HttpTransport::Refuse(Conn& conn, int status, const std::string& message, bool from_reactor) {
  httplib::Request& req = conn.parser.request();
  httplib::Response res;
  res.status = status;
  res.reason = message;
  refuse_(req, res);
  res.set_header("Connection", "close");
  bool keep = false;
  // From the reactor the reply must not block it: it is small, and a fresh
  // socket's send buffer takes it whole.
  if (from_reactor) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + StatusText(status) + "\r\n";
    for (const auto& [k, v] : res.headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n\r\n" + res.body;
    WriteAll(conn.fd, out, std::chrono::milliseconds(0));
  } else {
    WriteResponse(conn, req, res, keep);
  }
  // Lingering close: stop writing, then read and drop what the client still
  // sends for a moment, so the reply is not lost to a reset.
  ::shutdown(conn.fd, SHUT_WR);
  conn.in.clear();
  conn.phase = Conn::Phase::kDraining;
  conn.deadline = Clock::now() + std::chrono::milliseconds(500);
}

void HttpTransport::Reactor() {
  std::map<int, std::unique_ptr<Conn>> conns;
  std::vector<pollfd> fds;
  std::vector<char> chunk(64 << 10);
  const auto to_worker = [&](std::map<int, std::unique_ptr<Conn>>::iterator it) {
    std::unique_ptr<Conn> c = std::move(it->second);
    conns.erase(it);
    std::lock_guard<std::mutex> lock(mu_);
    work_.push_back(std::move(c));
    work_cv_.notify_one();
  };
  // Parses what a reading connection holds; true once a whole request is
  // there (for a worker), false while it stays here (reading or refused).
  const auto advance = [&](Conn& c) -> bool {
    const RequestParser::Result r = c.parser.Parse(c.in);
    if (c.parser.TakeExpectContinue()) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      WriteAll(c.fd, kContinue, std::chrono::milliseconds(0));
    }
    if (r == RequestParser::Result::kDone) return true;
    if (r == RequestParser::Result::kError) {
      Refuse(c, c.parser.error_status(), c.parser.error_message(), true);
      return false;
    }
    if (c.parser.head_done()) c.deadline = c.started + limits_.body_timeout;
    return false;
  };

  Clock::time_point accept_paused_until{};  // out of descriptors: let the listen queue wait
  while (!stopping_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (std::unique_ptr<Conn>& c : returned_) {
        const int fd = c->fd;
        conns[fd] = std::move(c);
      }
      returned_.clear();
    }
    fds.clear();
    fds.push_back({listen_fd_, static_cast<short>(Clock::now() < accept_paused_until ? 0 : POLLIN), 0});
    fds.push_back({wake_fd_, POLLIN, 0});
    Clock::time_point soonest = Clock::now() + std::chrono::seconds(1);
    if (accept_paused_until > Clock::now()) soonest = std::min(soonest, accept_paused_until);
    for (const auto& [fd, c] : conns) {
      fds.push_back({fd, POLLIN, 0});
      soonest = std::min(soonest, c->deadline);
    }
    int r = ::poll(fds.data(), fds.size(), RemainingMs(soonest) + 1);
    if (r < 0 && errno != EINTR) break;
    if (stopping_) break;
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &v, sizeof v);
    }
    if (fds[0].revents & POLLIN) {
      for (;;) {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          // EMFILE/ENFILE leave the socket readable: without a pause this loop would spin.
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            accept_paused_until = Clock::now() + std::chrono::milliseconds(100);
          break;
        }
        auto c = std::make_unique<Conn>(fd, limits_);
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char host[INET6_ADDRSTRLEN] = "";
        if (addr.ss_family == AF_INET) {
          auto* a = reinterpret_cast<sockaddr_in*>(&addr);
          ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
          c->remote_port = ntohs(a->sin_port);
        } else if (addr.ss_family == AF_INET6) {
          auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
          ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
          c->remote_port = ntohs(a->sin6_port);
        }
        c->remote_addr = host;
        c->deadline = Clock::now() + limits_.idle_timeout;
        if (open_.load() >= limits_.max_connections) {
          Refuse(*c, 503, "too many open connections", true);
          c->deadline = Clock::now() + std::chrono::milliseconds(100);
        }
        ++open_;
        conns[fd] = std::move(c);
      }
    }
    const Clock::time_point now = Clock::now();
    for (size_t i = 2; i < fds.size(); ++i) {
      auto it = conns.find(fds[i].fd);
      if (it == conns.end()) continue;
      Conn& c = *it->second;
      bool close = false;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        // A bounded read per round keeps one fast sender from starving the rest.
        const ssize_t n = ::recv(c.fd, chunk.data(), chunk.size(), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          close = true;
        } else if (n > 0 && c.phase == Conn::Phase::kDraining) {
          c.drained += static_cast<size_t>(n);  // dropped; a client that keeps sending is cut off
          if (c.drained > kMaxDrainBytes) close = true;
        } else if (n > 0) {
          if (c.phase == Conn::Phase::kIdle) {
            c.phase = Conn::Phase::kReading;
            c.started = now;
            c.deadline = now + limits_.header_timeout;
          }
          c.in.append(chunk.data(), static_cast<size_t>(n));
          if (advance(c)) {
            to_worker(it);
            continue;
          }
        }
      }
      if (!close && now >= c.deadline) {
        if (c.phase == Conn::Phase::kReading) Refuse(c, 408, "the request did not arrive in time", true);
        else close = true;
      }
      if (close) {
        conns.erase(it);
        --open_;
      }
    }
  }
  ::close(listen_fd_);
  listen_fd_ = -1;
  open_ -= static_cast<int>(conns.size());
  conns.clear();
}

void HttpTransport::Worker() {
  for (;;) {
    std::unique_ptr<Conn> c;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !work_.empty(); });
      if (work_.empty()) return;  // stopping, nothing left
      c = std::move(work_.front());
      work_.pop_front();
    }
    Serve(std::move(c));
  }
}

namespace {
thread_local int serving_fd = -1;  // the connection of the request the handler is answering
}  // namespace

bool ClientHungUp() {
  if (serving_fd < 0) return false;
  pollfd p{serving_fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void HttpTransport::Serve(std::unique_ptr<Conn> conn) {
  Conn& c = *conn;
  for (;;) {
    httplib::Request req = std::move(c.parser.request());
    req.remote_addr = c.remote_addr;
    req.remote_port = c.remote_port;
    httplib::Response res;
    bool keep = c.parser.keep_alive() && !stopping_;
    try {
      serving_fd = c.fd;
      handler_(req, res);
      serving_fd = -1;
    } catch (...) {
      serving_fd = -1;
      res = httplib::Response();
      res.status = 500;
      refuse_(req, res);
    }
    if (HasToken(res.get_header_value("Connection"), "close")) keep = false;
    if (!WriteResponse(c, req, res, keep) || !keep) break;
    // Pipelined requests are answered in order, one at a time.
    c.parser.Reset();
    c.phase = Conn::Phase::kReading;
    c.started = Clock::now();
    const RequestParser::Result r = c.in.empty() ? RequestParser::Result::kNeedMore : c.parser.Parse(c.in);
    if (r == RequestParser::Result::kDone) continue;
    if (r == RequestParser::Result::kError) {
      Refuse(c, c.parser.error_status(), c.parser.error_message(), false);
      break;
    }
    if (c.in.empty() && !c.parser.head_done()) {
      c.phase = Conn::Phase::kIdle;
      c.deadline = Clock::now() + limits_.idle_timeout;
    } else {
      c.deadline = c.started + (c.parser.head_done() ? limits_.body_timeout : limits_.header_timeout);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) break;
    returned_.push_back(std::move(conn));
    Wake();
    return;
  }
  if (c.phase == Conn::Phase::kDraining) {
    // Give the refused client its lingering close without holding a worker long.
    ::shutdown(c.fd, SHUT_WR);
    pollfd p{c.fd, POLLIN, 0};
    char sink[4096];
    const Clock::time_point until = Clock::now() + std::chrono::milliseconds(200);
    size_t drained = 0;
    ssize_t n;
    while (drained < kMaxDrainBytes && ::poll(&p, 1, RemainingMs(until)) > 0 &&
           (n = ::recv(c.fd, sink, sizeof sink, 0)) > 0)
      drained += static_cast<size_t>(n);
  }
  conn.reset();
  --open_;
}

bool HttpTransport::WriteResponse(Conn& conn, const httplib::Request& req, httplib::Response& res, bool& keep_alive) {
  const bool http11 = req.version != "HTTP/1.0";
  const bool streamed = static_cast<bool>(res.content_provider_);
  const bool sized_stream = streamed && res.content_length_ > 0;
  // A stream of unknown length is chunked for HTTP/1.1 and ends with the
  // connection for HTTP/1.0 clients, which do not know chunked encoding.
  const bool chunked = streamed && !sized_stream && http11;
  if (streamed && !sized_stream && !http11) keep_alive = false;
  const bool no_body = res.status == 204 || res.status == 304 || res.status < 200;

  std::string head = "HTTP/1.1 " + std::to_string(res.status) + " " + StatusText(res.status) + "\r\n";
  for (const auto& [name, value] : res.headers) {
    const std::string n = Lower(name);
    if (n == "content-length" || n == "transfer-encoding" || n == "connection") continue;
    head += name + ": " + value + "\r\n";
  }
  if (chunked) head += "Transfer-Encoding: chunked\r\n";
  else if (sized_stream) head += "Content-Length: " + std::to_string(res.content_length_) + "\r\n";
  else if (!streamed && !no_body) head += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  else if (!http11) head += "Connection: keep-alive\r\n";
  head += "\r\n";
  if (!streamed) {
    if (!no_body) head += res.body;
    return WriteAll(conn.fd, head, limits_.write_timeout);
  }
  if (!WriteAll(conn.fd, head, limits_.write_timeout)) return false;

  bool failed = false, done = false;
  size_t offset = 0;
  httplib::DataSink sink;
  sink.write = [&](const char* data, size_t n) {
    if (failed) return false;
    if (n == 0) return true;
    if (chunked) {
      char size_line[32];
      const int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
      std::string frame(size_line, static_cast<size_t>(len));
      frame.append(data, n);
      frame += "\r\n";
      failed = !WriteAll(conn.fd, frame, limits_.write_timeout);
    } else {
      failed = !WriteAll(conn.fd, data, n, limits_.write_timeout);
    }
    if (!failed) offset += n;
    return !failed;
  };
  sink.is_writable = [&] {
    if (failed) return false;
    pollfd p{conn.fd, POLLOUT, 0};
    return ::poll(&p, 1, 0) >= 0 && !(p.revents & (POLLERR | POLLHUP | POLLNVAL));
  };
  sink.done = [&] { done = true; };
  while (!done && !failed && !(sized_stream && offset >= res.content_length_)) {
    if (!res.content_provider_(offset, sized_stream ? res.content_length_ - offset : 0, sink)) {
      failed = true;
      break;
    }
  }
  if (!failed && chunked) failed = !WriteAll(conn.fd, std::string("0\r\n\r\n"), limits_.write_timeout);
  res.content_provider_success_ = !failed;
  return !failed;
}

}  // namespace bitnet::server
