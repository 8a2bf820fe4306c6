// Helpers for the server tests: a tiny random model with the real tokenizer,
// an in-process server on a free loopback port, and HTTP/SSE helpers.
#pragma once
#include <httplib.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "app/server/http_server.h"
#include "bitnet/bitnet.h"

namespace bitnet::server::testing {

using Json = nlohmann::json;

// The real Llama 3 tokenizer, as scripts/fetch_tokenizer.sh leaves it. Empty when it is missing.
inline std::string TokenizerPath() {
  const std::string p = std::string(BITNET_SOURCE_DIR) + "/models/tokenizer.json";
  return std::filesystem::exists(p) ? p : "";
}

// One tiny model directory per test process, removed at exit.
inline const std::string& TinyModelDir() {
  static const std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bitnet-server-test-XXXXXX").string();
    const std::string root = ::mkdtemp(tmpl.data());
    static struct Cleanup {
      std::string path;
      ~Cleanup() { std::filesystem::remove_all(path); }
    } cleanup{root};
    SynthOptions o;
    o.preset = "tiny";
    o.seed = 11;
    o.tokenizer = TokenizerPath();
    o.n_threads = 2;
    WriteSyntheticModel(root + "/tiny", o);
    return root + "/tiny";
  }();
  return dir;
}

inline std::unique_ptr<Model> LoadTinyModel() {
  Options o;
  o.n_threads = 1;  // the server tests run several requests at once on 2 cores
  o.device = "cpu";
  o.verbose = false;
  return Model::Load(TinyModelDir(), o);
}

// A server on 127.0.0.1:<free port>, served from its own thread.
class TestServer {
 public:
  explicit TestServer(ServerOptions options, bool load_model = true) : server_(std::move(options)) {
    port_ = server_.Bind("127.0.0.1", 0);
    listener_ = std::thread([this] { server_.Listen(); });
    if (load_model) server_.SetModel(LoadTinyModel());
  }
  ~TestServer() {
    server_.Stop();
    listener_.join();
  }
  int port() const { return port_; }
  Server& server() { return server_; }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }

 private:
  Server server_;
  int port_ = 0;
  std::thread listener_;
};

// POSTs JSON; fails the test (and returns status 0) when no response came.
struct Reply {
  int status = 0;
  std::string body;
  Json json() const { return Json::parse(body); }
};

inline Reply PostJson(httplib::Client& c, const std::string& path, const std::string& body,
                      const httplib::Headers& headers = {}) {
  httplib::Result r = c.Post(path, headers, body, "application/json");
  if (!r) {
    ADD_FAILURE() << "POST " << path << ": no response (" << httplib::to_string(r.error()) << ")";
    return {};
  }
  return {r->status, r->body};
}
inline Reply PostJson(httplib::Client& c, const std::string& path, const Json& body,
                      const httplib::Headers& headers = {}) {
  return PostJson(c, path, body.dump(), headers);
}
inline Reply Get(httplib::Client& c, const std::string& path, const httplib::Headers& headers = {}) {
  httplib::Result r = c.Get(path, headers);
  if (!r) {
    ADD_FAILURE() << "GET " << path << ": no response (" << httplib::to_string(r.error()) << ")";
    return {};
  }
  return {r->status, r->body};
}

// The payloads of an SSE body's "data: " events, in order.
inline std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    const std::string event = body.substr(pos, end - pos);
    if (event.rfind("data: ", 0) == 0) out.push_back(event.substr(6));
    else if (!event.empty()) out.push_back("<not a data event: " + event + ">");
    pos = end + 2;
  }
  return out;
}

// Checks {"error":{"message","type","param","code"}} and returns the error.
inline Json ExpectErrorObject(const Reply& r, int status, const std::string& type = "invalid_request_error") {
  EXPECT_EQ(r.status, status) << r.body;
  Json j = Json::parse(r.body, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].is_object()) << r.body;
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return Json();
  const Json& e = j["error"];
  EXPECT_TRUE(e.contains("message") && e["message"].is_string() && !e["message"].get<std::string>().empty()) << r.body;
  EXPECT_EQ(e.value("type", ""), type) << r.body;
  EXPECT_TRUE(e.contains("param") && (e["param"].is_null() || e["param"].is_string())) << r.body;
  EXPECT_TRUE(e.contains("code") && (e["code"].is_null() || e["code"].is_string())) << r.body;
  return e;
}

}  // namespace bitnet::server::testing
