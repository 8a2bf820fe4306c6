// bitnet serve: the OpenAI-compatible HTTP server (src/app/server/).
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "app/commands.h"
#include "app/common.h"
#include "app/server/http_server.h"
#include "util/error.h"

namespace bitnet::app {
namespace {

// The name clients see: --alias, else the model's file or directory name.
std::string ModelName(const Args& args) {
  if (args.Has("--alias")) return args.Str("--alias");
  std::filesystem::path p(ModelPathFrom(args));
  if (!p.has_filename()) p = p.parent_path();
  const std::string name = p.filename().string();
  return name.empty() ? "bitnet" : name;
}

}  // namespace

int RunServe(int argc, char** argv) {
  Args args("serve", "-m MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel N] [-b N] [-c CTX] [-t N] [--cors ORIGINS]",
            "Serves the model over an OpenAI-compatible HTTP API: /v1/chat/completions, /v1/completions,\n"
            "/v1/models, /tokenize, /detokenize, /health, /metrics. Point an OpenAI client at\n"
            "http://HOST:PORT/v1. The port is bound before the model loads (/health says \"loading\").");
  AddModelFlags(args, BatchSizeFlag::kServeStepBudget);
  args.Value({"--host"}, "ADDR", "address to listen on (0.0.0.0: every interface)", "127.0.0.1");
  args.Value({"--port"}, "N", "port to listen on (0: any free port)", "8080");
  args.Value({"--api-key"}, "KEY", "require 'Authorization: Bearer KEY' (default: $BITNET_API_KEY, else none)");
  args.Value({"-np", "--parallel"}, "N", "requests generated at once, each with its own KV cache of -c tokens", "1");
  args.Value({"--alias"}, "NAME", "model id reported to clients (default: the model's file name)");
  args.Value({"--queue-timeout"}, "SEC", "longest wait for a free slot before answering 503", "300");
  args.Value({"--cors"}, "ORIGINS",
             "let browsers on these origins call the API: comma-separated (e.g. http://localhost:3000), or '*'");
  if (!args.Parse(argc, argv)) return 0;

  server::ServerOptions options;
  options.model_name = ModelName(args);
  options.parallel = args.Int("--parallel");
  Check(options.parallel >= 1 && options.parallel <= 64, "--parallel", "must be between 1 and 64");
  options.batch_size = args.Int("--batch-size");
  options.context_length = args.Int("--ctx-size");
  Check(options.context_length >= 0, "-c", "must be >= 0");
  const int queue_timeout = args.Int("--queue-timeout");
  Check(queue_timeout >= 1, "--queue-timeout", "must be at least 1 second");
  options.queue_timeout = std::chrono::seconds(queue_timeout);
  if (args.Has("--cors")) {
    std::string list = args.Str("--cors");
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      std::string origin = list.substr(start, comma - start);
      while (!origin.empty() && origin.back() == ' ') origin.pop_back();
      while (!origin.empty() && origin.front() == ' ') origin.erase(0, 1);
      while (!origin.empty() && origin.back() == '/') origin.pop_back();  // browsers send no trailing slash
      Check(!origin.empty(), "--cors", "must list origins (scheme://host[:port]) or '*'");
      options.cors_origins.push_back(origin);
      start = comma + 1;
    }
  }
  if (args.Has("--api-key")) {
    options.api_key = args.Str("--api-key");
  } else if (const char* env = std::getenv("BITNET_API_KEY"); env != nullptr) {
    options.api_key = env;
  }
  const Options model_options = ModelOptionsFrom(args);
  const std::string model_path = ModelPathFrom(args);
  const std::string host = args.Str("--host");

  // Signals are taken by sigwait on this thread alone: every thread started
  // below inherits the blocked mask, and shutdown runs outside any handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // internal: the model failed to load
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is seen as a failed write

  server::Server server(options);
  const int port = server.Bind(host, args.Int("--port"));
  std::fprintf(stderr, "serve: listening on http://%s:%d (OpenAI base URL http://%s:%d/v1)\n", host.c_str(), port,
               host.c_str(), port);
  std::fflush(stderr);
  std::thread listener([&] { server.Listen(); });

  std::string load_error;
  const pthread_t main_thread = pthread_self();
  std::thread loader([&] {
    try {
      std::unique_ptr<Model> model = Model::Load(model_path, model_options);
      Check(model->has_tokenizer(), model_path, "has no tokenizer: the server needs one (tokenizer.json beside it)");
      ContextFrom(args, *model);  // -c beyond the model's maximum is an error, as in generate and chat
      ApplyLlamaModelFlags(args, BatchSizeFlag::kServeStepBudget);
      server.SetModel(std::move(model));
      std::fprintf(stderr, "serve: model '%s' ready, %d slot(s), up to %d tokens per step\n",
                   options.model_name.c_str(), options.parallel, options.batch_size);
    } catch (const std::exception& e) {
      load_error = e.what();
      pthread_kill(main_thread, SIGUSR1);
    }
  });

  int sig = 0;
  sigwait(&signals, &sig);
  if (sig != SIGUSR1) std::fprintf(stderr, "serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server.Stop();
  listener.join();
  loader.join();  // a load cannot be interrupted; it ends on its own
  if (!load_error.empty()) throw Error(load_error);
  return 0;
}

}  // namespace bitnet::app
