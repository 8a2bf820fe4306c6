// The OpenAI-compatible HTTP server behind `bitnet serve`. It listens before
// the model is loaded (GET /health answers 503 "loading" until SetModel), so
// a supervisor can tell "starting" from "dead".
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "bitnet/bitnet.h"

namespace bitnet::server {

struct ServerOptions {
  std::string api_key;        // empty: no authentication
  std::string model_name = "bitnet";  // the id /v1/models lists and responses carry
  int parallel = 1;           // slots, each with its own KV cache
  int context_length = 0;     // per slot; 0: the model's maximum
  std::chrono::milliseconds queue_timeout{std::chrono::minutes(5)};  // longest wait for a free slot
  size_t max_body_bytes = 8u << 20;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // stops the server if it still runs
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (port 0: a free port the system picks); returns the port.
  // Throws Error when the address cannot be bound.
  int Bind(const std::string& host, int port);
  // Serves on the bound socket until Stop(); run it on its own thread.
  void Listen();
  // Makes the model available (builds the slots); /health turns to "ok".
  void SetModel(std::unique_ptr<Model> model);
  // Cancels running generations, wakes queued requests, stops listening, and
  // returns once Listen() has returned. Safe to call more than once.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bitnet::server
