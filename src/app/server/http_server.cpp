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
    g.scheduling = s.scheduler->stats();
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

namespace {

bool CorsAllowed(const ServerOptions& o, const std::string& origin) {
  if (origin.empty()) return false;
  for (const std::string& allowed : o.cors_origins)
    if (allowed == "*" || allowed == origin) return true;
  return false;
}

// CORS headers for a browser's request from an allowed origin; nothing when
// --cors is not given.
void ApplyCors(const ServerOptions& o, const httplib::Request& req, httplib::Response& res) {
  const std::string origin = req.get_header_value("Origin");
  if (!CorsAllowed(o, origin)) return;
  const bool any = std::find(o.cors_origins.begin(), o.cors_origins.end(), "*") != o.cors_origins.end();
  res.set_header("Access-Control-Allow-Origin", any ? "*" : origin);
  if (!any) res.set_header("Vary", "Origin");
}

}  // namespace

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& s = *impl_;
  Check(s.options.parallel >= 1 && s.options.parallel <= 64, "--parallel", "must be between 1 and 64");
  Check(s.options.batch_size >= s.options.parallel, "--batch-size",
        std::to_string(s.options.batch_size) + " is below --parallel " + std::to_string(s.options.parallel) +
            ": a step must hold the next token of every slot");
  TransportLimits limits;
  // Workers run complete requests only (slow and idle connections wait in
  // the transport's poll loop), but each waiting or generating request holds
  // one: leave room beyond the slots so /health and /metrics always get through.
  limits.workers = std::max(16, 4 * s.options.parallel + 8);
  limits.max_body_bytes = s.options.max_body_bytes;
  limits.header_timeout = s.options.header_timeout;
  limits.body_timeout = s.options.body_timeout;
  limits.idle_timeout = s.options.idle_timeout;
  limits.max_connections = s.options.max_connections;

  // Every route runs here: every error leaves as an OpenAI error object.
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
    };
  };
  auto completions = [](bool chat) {
    return [chat](Impl& st, const httplib::Request& req, httplib::Response& res) { HandleCompletion(st, req, res, chat); };
  };
  struct Route {
    std::string method, path;
    std::function<void(const httplib::Request&, httplib::Response&)> run;
  };
  auto routes = std::make_shared<std::vector<Route>>();
  routes->push_back({"GET", "/health", route(true, false, HandleHealth)});
  for (const char* prefix : {"/v1", ""}) {
    const std::string p = prefix;
    routes->push_back({"GET", p + "/models", route(false, false, HandleModels)});
    routes->push_back({"POST", p + "/chat/completions", route(false, true, completions(true))});
    routes->push_back({"POST", p + "/completions", route(false, true, completions(false))});
  }
  routes->push_back({"POST", "/tokenize", route(false, true, HandleTokenize)});
  routes->push_back({"POST", "/detokenize", route(false, true, HandleDetokenize)});
  routes->push_back({"GET", "/metrics", route(false, false, HandleMetrics)});

  auto dispatch = [this, routes](const httplib::Request& req, httplib::Response& res) {
    Impl& st = *impl_;
    std::string allow;
    const Route* found = nullptr;
    for (const Route& r : *routes) {
      if (r.path != req.path) continue;
      allow += (allow.empty() ? "" : ", ") + r.method;
      if (r.method == req.method) found = &r;
    }
    if (found != nullptr) {
      found->run(req, res);
    } else if (!allow.empty() && req.method == "OPTIONS") {
      // A CORS preflight (no API key: browsers send none with it).
      res.status = 204;
      res.set_header("Allow", allow + ", OPTIONS");
      if (CorsAllowed(st.options, req.get_header_value("Origin"))) {
        res.set_header("Access-Control-Allow-Methods", allow + ", OPTIONS");
        const std::string asked = req.get_header_value("Access-Control-Request-Headers");
        res.set_header("Access-Control-Allow-Headers", asked.empty() ? "Authorization, Content-Type" : asked);
        res.set_header("Access-Control-Max-Age", "600");
      }
    } else if (!allow.empty()) {
      res.set_header("Allow", allow + ", OPTIONS");
      SendError(res, ApiError(405, req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")"));
    } else {
      SendError(res, ApiError(404, "no route for " + req.method + " " + req.path));
    }
    ApplyCors(st.options, req, res);
    // Counted before the response leaves, so a client that reads /metrics
    // right after its reply sees its own request.
    st.metrics.CountRequest(EndpointLabel(req.path), res.status);
  };
  // Replies the transport gives itself: malformed or oversized requests,
  // timeouts, too many connections.
  auto refuse = [this](const httplib::Request& req, httplib::Response& res) {
    Impl& st = *impl_;
    std::string code;
    if (res.status == 413) code = "request_too_large";
    if (res.status == 408) code = "request_timeout";
    std::string message = res.reason.empty() ? "HTTP error " + std::to_string(res.status) : res.reason;
    if (res.status == 400) message = "malformed HTTP request: " + message;
    SendError(res, ApiError(res.status, message, "", code));
    ApplyCors(st.options, req, res);
    st.metrics.CountRequest(EndpointLabel(req.path), res.status);
  };
  s.http = std::make_unique<HttpTransport>(limits, dispatch, refuse);
}

Server::~Server() { Stop(); }

int Server::Bind(const std::string& host, int port) {
  Check(port >= 0 && port <= 65535, "--port", "must be between 0 and 65535");
  int bound = port;
  if (port == 0) {
    bound = impl_->http->Bind(host, 0);
    Check(bound > 0, host, "cannot bind any port");
  } else {
    Check(impl_->http->Bind(host, port) > 0, host + ":" + std::to_string(port),
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
  impl_->http->Run();
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
  s.scheduler = std::make_unique<BatchScheduler>(*model, s.options.batch_size,
                                                 [&s](const GenerationStats& st) { s.metrics.CountGeneration(st); });
  s.model = std::move(model);
  if (s.stopping) {  // stopped while loading: take no requests
    s.pool->Shutdown();
    s.scheduler->Stop();
  }
  s.ready.store(true, std::memory_order_release);
}

void Server::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> model_lock(s.model_mu);
    s.stopping = true;
    if (s.pool) s.pool->Shutdown();
    if (s.scheduler) s.scheduler->Stop();  // running generations end at the next step
  }
  std::unique_lock<std::mutex> lock(s.listen_mu);
  if (!s.listen_started) {
    s.listen_done = true;  // a later Listen() returns at once
    return;
  }
  s.http->Stop();  // Run() returns once the workers have finished their requests
  s.listen_cv.wait(lock, [&] { return s.listen_done; });
}

}  // namespace bitnet::server
