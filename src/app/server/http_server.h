// The OpenAI-compatible HTTP server behind `bitnet serve`. It listens before
// the model is loaded (GET /health answers 503 "loading" until SetModel), so
// a supervisor can tell "starting" from "dead".
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "bitnet/bitnet.h"

namespace bitnet::server {

struct ServerOptions {
  std::string api_key;        // empty: no authentication
  std::string model_name = "bitnet";  // the id /v1/models lists and responses carry
  int parallel = 1;           // slots, each with its own KV cache
  int context_length = 0;     // per slot; 0: the model's maximum
  // Most tokens one forward step runs (the slots' decode tokens first, then
  // prompt chunks); at least `parallel`, so every decoding slot fits a step.
  int batch_size = 256;
  std::chrono::milliseconds queue_timeout{std::chrono::minutes(5)};  // longest wait for a free slot
  size_t max_body_bytes = 8u << 20;   // Content-Length or the chunks' total; more is a 413
  // Origins allowed to call the API from a browser ("*": any); empty: no CORS
  // headers at all. OPTIONS preflights are answered either way.
  std::vector<std::string> cors_origins;
  // A request must be whole within header_timeout of its first byte (head)
  // and body_timeout (body), or it gets a 408; an idle keep-alive connection
  // is closed after idle_timeout.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds body_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(5)};
  int max_connections = 512;  // open at once; more are answered 503
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
