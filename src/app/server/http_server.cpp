#include "app/server/http_server.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/server/server_impl.h"
#include "util/error.h"

namespace bitnet::server {
namespace {

using Handler = std::function<void(Server::Impl&, const httplib::Request&, httplib::Response&)>;

// Routes by name, so /metrics labels stay bounded whatever paths clients try.
const char* const kRoutes[] = {"/health", "/v1/models", "/v1/chat/completions", "/v1/completions",
                               "/tokenize", "/detokenize", "/metrics"};

std::string EndpointLabel(const std::string& path) {
  for (const char* r : kRoutes)
    if (path == r) return r;
  // Paths registered as aliases without the /v1 prefix.
  for (const char* r : kRoutes)
    if (std::string(r).rfind("/v1", 0) == 0 && path == std::string(r).substr(3)) return r;
  return "other";
}

// Compares without an early exit, so response time does not reveal how much
// of a guessed key was right.
bool SameKey(const std::string& given, const std::string& expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % std::max<size_t>(expected.size(), 1)]);
  return diff == 0;
}

void CheckApiKey(const Server::Impl& s, const httplib::Request& req) {
  if (s.options.api_key.empty()) return;
  const std::string auth = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (auth.empty())
    throw ApiError(401, "missing API key: send 'Authorization: Bearer KEY'", "", "invalid_api_key");
  if (auth.rfind(prefix, 0) != 0 || !SameKey(auth.substr(prefix.size()), s.options.api_key))
    throw ApiError(401, "incorrect API key", "", "invalid_api_key");
}

void RequireModel(const Server::Impl& s) {
  if (!s.ready.load(std::memory_order_acquire)) throw ApiError(503, "the model is still loading", "", "loading");
}

void HandleHealth(Server::Impl& s, const httplib::Request&, httplib::Response& res) {
  if (s.ready.load(std::memory_order_acquire)) SendJson(res, 200, R"({"status":"ok"})");
  else SendJson(res, 503, R"({"status":"loading"})");
}

void HandleModels(Server::Impl& s, const httplib::Request&, httplib::Response& res) {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::ordered_json model;
  model["id"] = s.options.model_name;
  model["object"] = "model";
  model["created"] = now;
  model["owned_by"] = "bitnet-npu";
  nlohmann::ordered_json body;
  body["object"] = "list";
  body["data"] = nlohmann::ordered_json::array({model});
  SendJson(res, 200, body.dump());
}

void HandleMetrics(Server::Impl& s, const httplib::Request&, httplib::Response& res) {
  Metrics::Gauges g;
  g.ready = s.ready.load(std::memory_order_acquire);
  if (g.ready) {
    g.slots_total = s.pool->size();
    g.slots_busy = s.pool->busy();
    g.requests_waiting = s.pool->waiting();
    g.batching = s.model->joined_stats();
  }
  res.status = 200;
  res.set_content(s.metrics.Render(g), "text/plain; version=0.0.4");
}

}  // namespace

void SendJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void SendError(httplib::Response& res, const ApiError& error) { SendJson(res, error.status(), ErrorBody(error)); }

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& s = *impl_;
  Check(s.options.parallel >= 1 && s.options.parallel <= 64, "--parallel", "must be between 1 and 64");
  // Each waiting or generating request holds a connection thread, and idle
  // keep-alive connections hold one for a while: leave room beyond the slots
  // so /health and /metrics always get through.
  const size_t threads = static_cast<size_t>(std::max(16, 4 * s.options.parallel + 8));
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.http.set_payload_max_length(s.options.max_body_bytes);
  s.http.set_read_timeout(30, 0);
  s.http.set_write_timeout(30, 0);

  // Every route runs here: the API key is checked after httplib has read the
  // body (so a keep-alive connection stays in sync), and every error leaves
  // as an OpenAI error object.
  auto route = [this](bool open, bool needs_model, Handler handler) {
    return [this, open, needs_model, handler](const httplib::Request& req, httplib::Response& res) {
      Impl& st = *impl_;
      try {
        if (!open) CheckApiKey(st, req);
        if (needs_model) RequireModel(st);
        handler(st, req, res);
      } catch (const ApiError& e) {
        SendError(res, e);
      } catch (const std::exception& e) {
        // The engine's own checks (bitnet::Error) describe a request it cannot serve.
        SendError(res, ApiError(500, e.what(), "", "internal_error", "server_error"));
      }
      // Counted before the response leaves, so a client that reads /metrics
      // right after its reply sees its own request.
      st.metrics.CountRequest(EndpointLabel(req.path), res.status);
    };
  };
  auto completions = [](bool chat) {
    return [chat](Impl& st, const httplib::Request& req, httplib::Response& res) { HandleCompletion(st, req, res, chat); };
  };
  s.http.Get("/health", route(true, false, HandleHealth));
  for (const char* prefix : {"/v1", ""}) {
    const std::string p = prefix;
    s.http.Get(p + "/models", route(false, false, HandleModels));
    s.http.Post(p + "/chat/completions", route(false, true, completions(true)));
    s.http.Post(p + "/completions", route(false, true, completions(false)));
  }
  s.http.Post("/tokenize", route(false, true, HandleTokenize));
  s.http.Post("/detokenize", route(false, true, HandleDetokenize));
  s.http.Get("/metrics", route(false, false, HandleMetrics));

  s.http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                       httplib::Response& res) {
    // Only fill in statuses httplib set itself (no route, body too large, ...):
    // the routes have answered and counted their own.
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    impl_->metrics.CountRequest(EndpointLabel(req.path), res.status);
    std::string message = "HTTP error " + std::to_string(res.status);
    if (res.status == 400) message = "malformed HTTP request";
    if (res.status == 404) message = "no route for " + req.method + " " + req.path;
    if (res.status == 413) message = "the request body is larger than the server accepts";
    SendError(res, ApiError(res.status, message, "", res.status == 413 ? "request_too_large" : ""));
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, ApiError(500, what, "", "internal_error", "server_error"));
  });
}

Server::~Server() { Stop(); }

int Server::Bind(const std::string& host, int port) {
  Check(port >= 0 && port <= 65535, "--port", "must be between 0 and 65535");
  int bound = port;
  if (port == 0) {
    bound = impl_->http.bind_to_any_port(host);
    Check(bound > 0, host, "cannot bind any port");
  } else {
    Check(impl_->http.bind_to_port(host, port), host + ":" + std::to_string(port),
          "cannot bind (address in use, or not an address of this machine)");
  }
  return bound;
}

void Server::Listen() {
  {
    std::lock_guard<std::mutex> lock(impl_->listen_mu);
    if (impl_->listen_started || impl_->stopping) return;
    impl_->listen_started = true;
  }
  impl_->http.listen_after_bind();
  {
    std::lock_guard<std::mutex> lock(impl_->listen_mu);
    impl_->listen_done = true;
  }
  impl_->listen_cv.notify_all();
}

void Server::SetModel(std::unique_ptr<Model> model) {
  Impl& s = *impl_;
  Check(model != nullptr, "server", "no model");
  Check(!s.ready, "server", "a model is already set");
  const int max = model->config().max_context;
  const int ctx = s.options.context_length > 0 ? std::min(s.options.context_length, max) : max;
  std::lock_guard<std::mutex> lock(s.model_mu);
  s.pool = std::make_unique<SlotPool>(*model, s.options.parallel, ctx);
  s.model = std::move(model);
  if (s.stopping) s.pool->Shutdown();  // stopped while loading: take no requests
  s.ready.store(true, std::memory_order_release);
}

void Server::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> model_lock(s.model_mu);
    s.stopping = true;  // running generations see this at their next token
    if (s.pool) s.pool->Shutdown();
  }
  std::unique_lock<std::mutex> lock(s.listen_mu);
  if (!s.listen_started) {
    s.listen_done = true;  // a later Listen() returns at once
    return;
  }
  // httplib ignores stop() until its accept loop is running, so repeat it
  // until Listen() has returned (that also waits for every open connection).
  bool stop_sent = false;  // a second stop() would trip httplib's assert on the closed socket
  while (!s.listen_done) {
    lock.unlock();
    if (!stop_sent && s.http.is_running()) {
      s.http.stop();
      stop_sent = true;
    }
    lock.lock();
    s.listen_cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return s.listen_done; });
  }
}

}  // namespace bitnet::server
