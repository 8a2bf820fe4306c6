// The server's shared state, seen by the route handlers. Internal to
// src/app/server: it is the one place httplib's types meet the engine's
// (httplib::Request/Response are the handlers' types; the transport is ours).
#pragma once
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "app/server/api_error.h"
#include "app/server/batch_scheduler.h"
#include "app/server/http_server.h"
#include "app/server/http_transport.h"
#include "app/server/metrics.h"
#include "app/server/slot_pool.h"

namespace bitnet::server {

struct Server::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)) {}

  ServerOptions options;
  std::unique_ptr<HttpTransport> http;
  Metrics metrics;
  // Written once by SetModel before `ready` turns true; read-only afterwards
  // (handlers read them only after seeing `ready`; Stop takes model_mu).
  std::mutex model_mu;
  std::unique_ptr<Model> model;
  std::unique_ptr<SlotPool> pool;
  std::unique_ptr<BatchScheduler> scheduler;  // after pool: its requests hold the pool's leases
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};

  std::mutex listen_mu;
  std::condition_variable listen_cv;
  bool listen_started = false;
  bool listen_done = false;
};

// Response helpers shared by the handlers.
void SendJson(httplib::Response& res, int status, const std::string& body);
void SendError(httplib::Response& res, const ApiError& error);

// The handlers; each throws ApiError for the client's mistakes.
void HandleCompletion(Server::Impl& s, const httplib::Request& req, httplib::Response& res, bool chat);
void HandleTokenize(Server::Impl& s, const httplib::Request& req, httplib::Response& res);
void HandleDetokenize(Server::Impl& s, const httplib::Request& req, httplib::Response& res);

}  // namespace bitnet::server
