// The server over real HTTP on loopback: response shapes, streaming, stop
// strings, token endpoints, metrics, concurrency, disconnects, bad requests
// and authentication.
#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <map>

#include "server_test_util.h"

namespace bitnet::server::testing {
namespace {

constexpr int kContext = 256;

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::signal(SIGPIPE, SIG_IGN);  // a test that hangs up must not kill the process
    if (TokenizerPath().empty()) return;
    ServerOptions o;
    o.parallel = 2;
    o.context_length = kContext;
    o.model_name = "tiny-test";
    server_ = new TestServer(o);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "no tokenizer.json (run scripts/fetch_tokenizer.sh)";
  }
  static httplib::Client Client() { return server_->Client(); }

  static Json Chat(const std::string& user, int max_tokens, uint64_t seed = 5, double temperature = 0.0) {
    return Json{{"model", "tiny-test"},
                {"messages", Json::array({Json{{"role", "user"}, {"content", user}}})},
                {"max_tokens", max_tokens},
                {"temperature", temperature},
                {"seed", seed}};
  }
  static Json Completion(const std::string& prompt, int max_tokens) {
    return Json{{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"seed", 3}};
  }
  static std::vector<int32_t> Tokenize(const std::string& text, bool add_special) {
    httplib::Client c = Client();
    const Reply r = PostJson(c, "/tokenize", Json{{"content", text}, {"add_special", add_special}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json()["tokens"].get<std::vector<int32_t>>();
  }
  // A metric's value from /metrics (-1 when absent).
  static double Metric(const std::string& line_prefix) {
    httplib::Client c = Client();
    const Reply r = Get(c, "/metrics");
    size_t pos = 0;
    while ((pos = r.body.find(line_prefix + " ", pos)) != std::string::npos) {
      if (pos == 0 || r.body[pos - 1] == '\n') return std::stod(r.body.substr(pos + line_prefix.size() + 1));
      ++pos;
    }
    return -1;
  }

  static TestServer* server_;
};
TestServer* ServerTest::server_ = nullptr;

// The text of a streamed chat or completion, checking every chunk's shape.
struct Streamed {
  std::string text;
  std::vector<std::string> deltas;
  std::string finish_reason;
  Json usage;
};

Streamed ParseStream(const std::string& body, bool chat, bool include_usage) {
  Streamed s;
  const std::vector<std::string> events = SseData(body);
  EXPECT_GE(events.size(), 3u) << body;
  if (events.size() < 3) return s;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string id;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const Json c = Json::parse(events[i]);
    EXPECT_EQ(c["object"], chat ? "chat.completion.chunk" : "text_completion") << events[i];
    if (id.empty()) id = c["id"].get<std::string>();
    EXPECT_EQ(c["id"], id) << "every chunk carries the same id";
    EXPECT_TRUE(c["created"].is_number_integer());
    EXPECT_EQ(c["model"], "tiny-test");
    if (include_usage && c["choices"].empty()) {  // the usage chunk, last before [DONE]
      EXPECT_EQ(i + 2, events.size()) << "the usage chunk comes last";
      s.usage = c["usage"];
      continue;
    }
    EXPECT_EQ(c.contains("usage"), include_usage) << events[i];
    if (include_usage) {
      EXPECT_TRUE(c["usage"].is_null());
    }
    EXPECT_EQ(c["choices"].size(), 1u);
    const Json& choice = c["choices"][0];
    EXPECT_EQ(choice["index"], 0);
    if (chat) {
      const Json& delta = choice["delta"];
      if (i == 0) {
        EXPECT_EQ(delta, (Json{{"role", "assistant"}, {"content", ""}})) << "first chunk announces the role";
      } else if (!choice["finish_reason"].is_null()) {
        EXPECT_TRUE(delta.is_object() && delta.empty()) << "the final chunk's delta is empty";
      } else {
        EXPECT_FALSE(delta.contains("role"));
        s.deltas.push_back(delta["content"].get<std::string>());
      }
    } else if (choice["finish_reason"].is_null()) {
      s.deltas.push_back(choice["text"].get<std::string>());
    } else {
      EXPECT_EQ(choice["text"], "");
    }
    if (!choice["finish_reason"].is_null()) {
      EXPECT_TRUE(s.finish_reason.empty()) << "one final chunk";
      s.finish_reason = choice["finish_reason"].get<std::string>();
    } else {
      EXPECT_TRUE(s.finish_reason.empty()) << "nothing after the final chunk but usage";
    }
  }
  for (const std::string& d : s.deltas) s.text += d;
  return s;
}

// UTF-8 characters of s, so a stop string never splits one.
std::vector<std::string> Utf8Chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

TEST(ServerLoading, HealthSaysLoadingUntilTheModelIsSet) {
  if (TokenizerPath().empty()) GTEST_SKIP() << "no tokenizer.json";
  TestServer t(ServerOptions{}, /*load_model=*/false);
  httplib::Client c = t.Client();
  Reply r = Get(c, "/health");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.json(), (Json{{"status", "loading"}}));
  ExpectErrorObject(PostJson(c, "/v1/chat/completions", Json{{"messages", Json::array()}}), 503, "unavailable_error");
  t.server().SetModel(LoadTinyModel());
  r = Get(c, "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), (Json{{"status", "ok"}}));
}

TEST_F(ServerTest, ModelsListsTheServedModel) {
  httplib::Client c = Client();
  const Reply r = Get(c, "/v1/models");
  ASSERT_EQ(r.status, 200);
  const Json j = r.json();
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "tiny-test");
  EXPECT_EQ(j["data"][0]["object"], "model");
}

TEST_F(ServerTest, ChatCompletionShapeUsageAndLengthFinish) {
  httplib::Client c = Client();
  const Reply r = PostJson(c, "/v1/chat/completions", Chat("Hello there", 6));
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = r.json();
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u) << j["id"];
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_TRUE(j["created"].is_number_integer());
  EXPECT_EQ(j["model"], "tiny-test");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  // The model's chat format, spelled out, tokenizes to the same prompt.
  const size_t prompt = Tokenize("<|begin_of_text|>User: Hello there<|eot_id|>Assistant: ", false).size();
  EXPECT_EQ(j["usage"]["prompt_tokens"], prompt);
  EXPECT_EQ(j["usage"]["completion_tokens"], 6);
  EXPECT_EQ(j["usage"]["total_tokens"], prompt + 6);
}

TEST_F(ServerTest, ChatContentPartsEqualThePlainString) {
  httplib::Client c = Client();
  Json parts = Chat("", 4);
  parts["messages"][0]["content"] = Json::array({Json{{"type", "text"}, {"text", "Hello "}},
                                                 Json{{"type", "text"}, {"text", "there"}}});
  const Reply a = PostJson(c, "/v1/chat/completions", parts);
  const Reply b = PostJson(c, "/v1/chat/completions", Chat("Hello there", 4));
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(a.json()["choices"][0]["message"], b.json()["choices"][0]["message"]);
  EXPECT_EQ(a.json()["usage"], b.json()["usage"]);
}

TEST_F(ServerTest, StreamedChatEqualsTheWholeReply) {
  httplib::Client c = Client();
  const Reply whole = PostJson(c, "/v1/chat/completions", Chat("Tell me a story", 8));
  ASSERT_EQ(whole.status, 200) << whole.body;
  Json req = Chat("Tell me a story", 8);
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  httplib::Result r = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  const Streamed s = ParseStream(r->body, true, true);
  EXPECT_EQ(s.text, whole.json()["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_EQ(s.finish_reason, "length");
  EXPECT_EQ(s.usage, whole.json()["usage"]);
}

TEST_F(ServerTest, StreamWithoutUsageHasNoUsageChunk) {
  httplib::Client c = Client();
  Json req = Chat("Hi", 3);
  req["stream"] = true;
  httplib::Result r = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  const Streamed s = ParseStream(r->body, true, false);
  EXPECT_TRUE(s.usage.is_null());
  EXPECT_EQ(s.finish_reason, "length");
}

TEST_F(ServerTest, CompletionsWholeAndStreamedAgree) {
  httplib::Client c = Client();
  const std::string prompt = "The capital of France is";
  const Reply whole = PostJson(c, "/v1/completions", Completion(prompt, 7));
  ASSERT_EQ(whole.status, 200) << whole.body;
  const Json j = whole.json();
  EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][0]["text"].is_string());
  EXPECT_EQ(j["usage"]["prompt_tokens"], Tokenize(prompt, true).size());
  EXPECT_EQ(j["usage"]["completion_tokens"], 7);

  Json req = Completion(prompt, 7);
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  httplib::Result r = c.Post("/v1/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  const Streamed s = ParseStream(r->body, false, true);
  EXPECT_EQ(s.text, j["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(s.finish_reason, "length");
  EXPECT_EQ(s.usage, j["usage"]);
}

TEST_F(ServerTest, MaxCompletionTokensLimitsTheReply) {
  httplib::Client c = Client();
  Json req = Chat("Hi", 50);
  req.erase("max_tokens");
  req["max_completion_tokens"] = 2;
  const Reply r = PostJson(c, "/v1/chat/completions", req);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["usage"]["completion_tokens"], 2);
}

TEST_F(ServerTest, SameSeedSameTextAtTemperature) {
  httplib::Client c = Client();
  const Reply a = PostJson(c, "/v1/chat/completions", Chat("Seeded", 8, 1234, 1.0));
  const Reply b = PostJson(c, "/v1/chat/completions", Chat("Seeded", 8, 1234, 1.0));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.json()["choices"][0]["message"]["content"], b.json()["choices"][0]["message"]["content"]);
}

TEST_F(ServerTest, StopStringAcrossATokenBoundaryIsCutOut) {
  httplib::Client c = Client();
  const std::string prompt = "Once upon a time";
  // Learn the greedy tokens' text, then stop on the end of one token joined
  // to the start of the next.
  Json req = Completion(prompt, 12);
  req["stream"] = true;
  httplib::Result learn = c.Post("/v1/completions", req.dump(), "application/json");
  ASSERT_TRUE(learn);
  const Streamed free_run = ParseStream(learn->body, false, false);
  std::string stop;
  for (size_t i = 1; i + 1 < free_run.deltas.size() && stop.empty(); ++i) {
    const std::vector<std::string> a = Utf8Chars(free_run.deltas[i]);
    const std::vector<std::string> b = Utf8Chars(free_run.deltas[i + 1]);
    if (a.size() >= 2 && !b.empty()) stop = a[a.size() - 1] + b[0] + (b.size() > 1 ? b[1] : "");
  }
  ASSERT_FALSE(stop.empty()) << "the greedy run gave no pair of multi-character tokens: " << free_run.text;
  const size_t at = free_run.text.find(stop);
  ASSERT_NE(at, std::string::npos);
  const std::string expected = free_run.text.substr(0, at);

  Json whole = Completion(prompt, 12);
  whole["stop"] = Json::array({"\x01never", stop});
  const Reply r = PostJson(c, "/v1/completions", whole);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["choices"][0]["text"], expected) << "stop " << stop;
  EXPECT_EQ(r.json()["choices"][0]["finish_reason"], "stop");
  EXPECT_LT(r.json()["usage"]["completion_tokens"].get<int>(), 12);

  whole["stream"] = true;
  httplib::Result s = c.Post("/v1/completions", whole.dump(), "application/json");
  ASSERT_TRUE(s);
  const Streamed streamed = ParseStream(s->body, false, false);
  EXPECT_EQ(streamed.text, expected);
  EXPECT_EQ(streamed.finish_reason, "stop");
  EXPECT_EQ(streamed.text.find(stop), std::string::npos);

  // A single stop string given as a plain string works the same.
  whole["stream"] = false;
  whole["stop"] = stop;
  EXPECT_EQ(PostJson(c, "/v1/completions", whole).json()["choices"][0]["text"], expected);
}

TEST_F(ServerTest, TokenizeDetokenizeRoundTrip) {
  const std::string text = "Hello world, héllo 世界! 123";
  const std::vector<int32_t> plain = Tokenize(text, false);
  const std::vector<int32_t> with_bos = Tokenize(text, true);
  ASSERT_FALSE(plain.empty());
  ASSERT_EQ(with_bos.size(), plain.size() + 1);
  EXPECT_EQ(with_bos[0], 128000);
  EXPECT_TRUE(std::equal(plain.begin(), plain.end(), with_bos.begin() + 1));
  httplib::Client c = Client();
  const Reply r = PostJson(c, "/detokenize", Json{{"tokens", plain}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["content"], text);
  // Special tokens are parsed unless parse_special is false.
  EXPECT_EQ(Tokenize("<|eot_id|>", false), std::vector<int32_t>{128009});
  const Reply literal = PostJson(c, "/tokenize", Json{{"content", "<|eot_id|>"}, {"parse_special", false}});
  EXPECT_GT(literal.json()["tokens"].size(), 1u);
}

TEST_F(ServerTest, MetricsCountRequestsAndTokens) {
  httplib::Client c = Client();
  const double generated_before = Metric("bitnet_generated_tokens_total");
  const double chat_ok_before = std::max(0.0, Metric("bitnet_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}"));
  ASSERT_EQ(PostJson(c, "/v1/chat/completions", Chat("count me", 5)).status, 200);
  ASSERT_EQ(PostJson(c, "/v1/chat/completions", Json{{"messages", 3}}).status, 400);
  EXPECT_EQ(Metric("bitnet_generated_tokens_total"), generated_before + 5);
  EXPECT_EQ(Metric("bitnet_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}"), chat_ok_before + 1);
  EXPECT_GE(Metric("bitnet_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"}"), 1);
  EXPECT_EQ(Metric("bitnet_slots_total"), 2);
  EXPECT_EQ(Metric("bitnet_slots_busy"), 0);
  EXPECT_EQ(Metric("bitnet_requests_waiting"), 0);
  EXPECT_GT(Metric("bitnet_generation_tokens_per_second"), 0);
  const Reply r = Get(c, "/metrics");
  EXPECT_NE(r.body.find("# TYPE bitnet_requests_total counter"), std::string::npos);
}

TEST_F(ServerTest, ReusedPromptPrefixIsNotRecomputed) {
  httplib::Client c = Client();
  const Json first = Chat("A long shared system-like preamble that the next request repeats word for word.", 3);
  ASSERT_EQ(PostJson(c, "/v1/chat/completions", first).status, 200);
  const double evaluated_before = Metric("bitnet_prompt_tokens_evaluated_total");
  const double prompt_before = Metric("bitnet_prompt_tokens_total");
  ASSERT_EQ(PostJson(c, "/v1/chat/completions", first).status, 200);
  const double evaluated = Metric("bitnet_prompt_tokens_evaluated_total") - evaluated_before;
  const double given = Metric("bitnet_prompt_tokens_total") - prompt_before;
  EXPECT_GT(given, 15);
  EXPECT_EQ(evaluated, 1) << "the slot holding the same prompt runs only its last token";
}

TEST_F(ServerTest, ConcurrentClientsGetTheSequentialResults) {
  const std::vector<std::string> prompts = {"alpha", "beta gamma", "delta epsilon zeta", "eta"};
  std::map<std::string, std::string> expected;
  {
    httplib::Client c = Client();
    for (const std::string& p : prompts) {
      const Reply r = PostJson(c, "/v1/chat/completions", Chat(p, 6));
      ASSERT_EQ(r.status, 200) << r.body;
      expected[p] = r.json()["choices"][0]["message"]["content"];
    }
  }
  std::vector<std::future<std::vector<std::string>>> clients;
  for (int t = 0; t < 4; ++t) {
    clients.push_back(std::async(std::launch::async, [&, t] {
      httplib::Client c = Client();
      std::vector<std::string> got;
      for (int k = 0; k < 2; ++k) {
        const std::string& p = prompts[(t + k) % prompts.size()];
        Json req = Chat(p, 6);
        if (k == 1) req["stream"] = true;
        httplib::Result r = c.Post("/v1/chat/completions", req.dump(), "application/json");
        if (!r || r->status != 200) {
          got.push_back("<failed>");
          continue;
        }
        got.push_back(k == 1 ? ParseStream(r->body, true, false).text
                             : Json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>());
      }
      return got;
    }));
  }
  for (int t = 0; t < 4; ++t) {
    const std::vector<std::string> got = clients[t].get();
    ASSERT_EQ(got.size(), 2u);
    for (int k = 0; k < 2; ++k) EXPECT_EQ(got[k], expected[prompts[(t + k) % prompts.size()]]) << "client " << t;
  }
  EXPECT_EQ(Metric("bitnet_slots_busy"), 0);
  // Every token ran in some scheduler step; nothing is left queued. (Whether
  // two requests shared a step depends on timing here;
  // batch_scheduler_test.cpp checks that without HTTP in between.)
  EXPECT_GT(Metric("bitnet_steps_total"), 0);
  EXPECT_EQ(Metric("bitnet_step_sequences_count"), Metric("bitnet_steps_total"));
  EXPECT_GE(Metric("bitnet_step_sequences_sum"), Metric("bitnet_steps_total"));
  EXPECT_GE(Metric("bitnet_step_tokens_total"), Metric("bitnet_step_sequences_sum"));
  EXPECT_EQ(Metric("bitnet_requests_prefilling"), 0);
  EXPECT_EQ(Metric("bitnet_requests_decoding"), 0);
  EXPECT_EQ(Metric("bitnet_queue_length"), 0);
}

TEST_F(ServerTest, UnknownFieldsAreIgnored) {
  httplib::Client c = Client();
  Json req = Chat("Hi", 2);
  req["frequency_penalty"] = 0;
  req["presence_penalty"] = 0;
  req["user"] = "someone";
  req["logit_bias"] = Json::object();
  req["something_new"] = {{"nested", true}};
  req["messages"][0]["name"] = "bob";
  const Reply r = PostJson(c, "/v1/chat/completions", req);
  EXPECT_EQ(r.status, 200) << r.body;
}

struct BadRequest {
  const char* name;
  std::string path;
  std::string body;
  int status;
  const char* param;  // expected "param" (nullptr: not checked)
};

TEST_F(ServerTest, BadRequestsGetErrorObjects) {
  const std::string user = R"({"role":"user","content":"hi"})";
  const std::string many_words = [] {
    std::string s;
    for (int i = 0; i < 400; ++i) s += " word";
    return s;
  }();
  const std::vector<BadRequest> cases = {
      {"malformed JSON", "/v1/chat/completions", R"({"messages": [)", 400, nullptr},
      {"not an object", "/v1/chat/completions", "[1,2]", 400, nullptr},
      {"empty body", "/v1/chat/completions", "", 400, nullptr},
      {"temperature as text", "/v1/chat/completions", R"({"messages":[)" + user + R"(],"temperature":"hot"})", 400, "temperature"},
      {"temperature out of range", "/v1/chat/completions", R"({"messages":[)" + user + R"(],"temperature":3})", 400, "temperature"},
      {"top_p out of range", "/v1/chat/completions", R"({"messages":[)" + user + R"(],"top_p":1.5})", 400, "top_p"},
      {"messages missing", "/v1/chat/completions", R"({"model":"x"})", 400, "messages"},
      {"messages not an array", "/v1/chat/completions", R"({"messages":"hi"})", 400, "messages"},
      {"messages empty", "/v1/chat/completions", R"({"messages":[]})", 400, "messages"},
      {"message not an object", "/v1/chat/completions", R"({"messages":[1]})", 400, "messages[0]"},
      {"message without role", "/v1/chat/completions", R"({"messages":[{"content":"hi"}]})", 400, "messages[0].role"},
      {"message without content", "/v1/chat/completions", R"({"messages":[{"role":"user"}]})", 400, "messages[0].content"},
      {"unknown role", "/v1/chat/completions", R"({"messages":[{"role":"wizard","content":"hi"}]})", 400, "messages[0].role"},
      {"image part", "/v1/chat/completions",
       R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})", 400,
       "messages[0].content[0].type"},
      {"n = 2", "/v1/chat/completions", R"({"messages":[)" + user + R"(],"n":2})", 400, "n"},
      {"max_tokens 0", "/v1/chat/completions", R"({"messages":[)" + user + R"(],"max_tokens":0})", 400, "max_tokens"},
      {"max_tokens negative", "/v1/completions", R"({"prompt":"hi","max_tokens":-5})", 400, "max_tokens"},
      {"max_tokens fractional", "/v1/completions", R"({"prompt":"hi","max_tokens":2.5})", 400, "max_tokens"},
      {"max_tokens beyond the context", "/v1/chat/completions",
       R"({"messages":[)" + user + R"(],"max_tokens":)" + std::to_string(kContext) + "}", 400, "max_tokens"},
      {"prompt longer than the context", "/v1/completions", R"({"prompt":")" + many_words + R"("})", 400, "prompt"},
      {"chat longer than the context", "/v1/chat/completions",
       R"({"messages":[{"role":"user","content":")" + many_words + R"("}]})", 400, "messages"},
      {"prompt missing", "/v1/completions", R"({"max_tokens":3})", 400, "prompt"},
      {"prompt a number", "/v1/completions", R"({"prompt":7})", 400, "prompt"},
      {"prompt ids outside the vocabulary", "/v1/completions", R"({"prompt":[1,999999999]})", 400, "prompt"},
      {"five stop strings", "/v1/completions", R"({"prompt":"a","stop":["a","b","c","d","e"]})", 400, "stop"},
      {"stop a number", "/v1/completions", R"({"prompt":"a","stop":5})", 400, "stop"},
      {"stream not a boolean", "/v1/completions", R"({"prompt":"a","stream":"yes"})", 400, "stream"},
      {"stream_options without stream", "/v1/completions", R"({"prompt":"a","stream_options":{"include_usage":true}})",
       400, "stream_options"},
      {"seed as text", "/v1/completions", R"({"prompt":"a","seed":"x"})", 400, "seed"},
      {"logprobs", "/v1/chat/completions", R"({"messages":[)" + user + R"(],"logprobs":true})", 400, "logprobs"},
      {"tokenize without content", "/tokenize", R"({"text":"hi"})", 400, "content"},
      {"detokenize with text ids", "/detokenize", R"({"tokens":["a"]})", 400, "tokens"},
      {"detokenize outside the vocabulary", "/detokenize", R"({"tokens":[-1]})", 400, "tokens"},
  };
  httplib::Client c = Client();
  for (const BadRequest& b : cases) {
    SCOPED_TRACE(b.name);
    const Json e = ExpectErrorObject(PostJson(c, b.path, b.body), b.status);
    if (b.param != nullptr && !e.is_null()) {
      EXPECT_EQ(e["param"], b.param) << e.dump();
    }
  }
  // The server is still healthy and serving after all of that.
  EXPECT_EQ(PostJson(c, "/v1/chat/completions", Chat("still there?", 2)).status, 200);
}

TEST_F(ServerTest, UnknownRouteIs404WithErrorObject) {
  httplib::Client c = Client();
  ExpectErrorObject(Get(c, "/v1/nothing"), 404, "not_found_error");
}

TEST_F(ServerTest, OversizedBodyIsRejected) {
  httplib::Client c = Client();
  const std::string big = R"({"prompt":")" + std::string(9u << 20, 'a') + R"("})";
  httplib::Result r = c.Post("/v1/completions", big, "application/json");
  // The server may answer before the client has sent everything; either way
  // it must refuse, never run the request.
  if (r) ExpectErrorObject({r->status, r->body}, 413);
  EXPECT_GE(Metric("bitnet_requests_total{endpoint=\"/v1/completions\",status=\"413\"}"), 1);
  httplib::Client after = Client();
  EXPECT_EQ(Get(after, "/health").status, 200);
}

// Two clients stream while a long prompt (many steps under a small
// --batch-size) and a prompt too long for the context arrive: every client
// gets the text it gets alone, and the bad request fails alone.
TEST(ServerScheduling, MixedLoadGivesEachClientItsAloneText) {
  if (TokenizerPath().empty()) GTEST_SKIP() << "no tokenizer.json";
  std::signal(SIGPIPE, SIG_IGN);
  ServerOptions o;
  o.parallel = 3;
  o.batch_size = 8;
  o.context_length = 512;
  o.model_name = "tiny-test";
  TestServer t(o);
  std::vector<int> long_prompt = {128000};
  for (int i = 1; i < 180; ++i) long_prompt.push_back(1000 + 37 * i);
  const std::vector<Json> requests = {
      {{"prompt", "Once upon a time"}, {"max_tokens", 200}, {"temperature", 0}, {"stream", true}},
      {{"prompt", "The weather today"}, {"max_tokens", 200}, {"temperature", 0.8}, {"seed", 9}, {"stream", true}},
      {{"prompt", long_prompt}, {"max_tokens", 8}, {"temperature", 0}}};
  auto text_of = [&](const Json& req) -> std::string {
    httplib::Client c = t.Client();
    httplib::Result r = c.Post("/v1/completions", req.dump(), "application/json");
    if (!r || r->status != 200) return "<failed>";
    if (req.value("stream", false)) return ParseStream(r->body, false, false).text;
    return Json::parse(r->body)["choices"][0]["text"].get<std::string>();
  };
  std::vector<std::string> alone;
  for (const Json& req : requests) alone.push_back(text_of(req));
  auto metric = [&](const std::string& name) {
    httplib::Client c = t.Client();
    const Reply m = Get(c, "/metrics");
    const size_t pos = m.body.find("\n" + name + " ");
    return pos == std::string::npos ? -1.0 : std::stod(m.body.substr(pos + name.size() + 2));
  };

  auto a = std::async(std::launch::async, text_of, requests[0]);
  auto b = std::async(std::launch::async, text_of, requests[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (metric("bitnet_requests_decoding") < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(metric("bitnet_requests_decoding"), 2) << "both streams should be decoding by now";
  std::vector<int> too_long(600, 1000);
  too_long[0] = 128000;
  httplib::Client c = t.Client();
  const Json e = ExpectErrorObject(PostJson(c, "/v1/completions", Json{{"prompt", too_long}}), 400);
  EXPECT_EQ(e.value("param", ""), "prompt");
  EXPECT_EQ(text_of(requests[2]), alone[2]);
  EXPECT_EQ(a.get(), alone[0]);
  EXPECT_EQ(b.get(), alone[1]);
  EXPECT_GT(metric("bitnet_step_sequences_count"), metric("bitnet_step_sequences_bucket{le=\"1\"}"))
      << "no step held more than one request";
  EXPECT_EQ(metric("bitnet_queue_length"), 0);
  EXPECT_EQ(metric("bitnet_slots_busy"), 0);
}

TEST(ServerScheduling, ABatchSizeBelowTheSlotCountIsRefused) {
  ServerOptions o;
  o.parallel = 4;
  o.batch_size = 3;
  try {
    Server server(o);
    ADD_FAILURE() << "accepted --batch-size 3 with 4 slots";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--batch-size"), std::string::npos) << e.what();
  }
}

// A client that hangs up mid-stream frees its slot at once.
TEST(ServerDisconnect, ClientGoneMidStreamFreesTheSlot) {
  if (TokenizerPath().empty()) GTEST_SKIP() << "no tokenizer.json";
  std::signal(SIGPIPE, SIG_IGN);
  ServerOptions o;
  o.parallel = 1;
  o.context_length = 4096;
  TestServer t(o);
  const Json long_stream = {{"prompt", "Go on forever"}, {"max_tokens", 4000}, {"temperature", 0}, {"stream", true}};
  // The whole 4000 tokens take seconds; time it to bound the check below.
  httplib::Client c = t.Client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = long_stream.dump();
  req.set_header("Content-Type", "application/json");
  int chunks = 0;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  c.send(req, res, err);
  EXPECT_EQ(chunks, 3) << "the stream started, then the client hung up";
  c.stop();

  const auto t0 = std::chrono::steady_clock::now();
  httplib::Client next = t.Client();
  const Reply r = PostJson(next, "/v1/completions", Json{{"prompt", "next"}, {"max_tokens", 3}, {"temperature", 0}});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.status, 200) << r.body;
  const double generated = [&] {
    const Reply m = Get(next, "/metrics");
    const size_t pos = m.body.find("\nbitnet_generated_tokens_total ");
    return pos == std::string::npos ? -1.0 : std::stod(m.body.substr(pos + 31));
  }();
  EXPECT_LT(generated, 1000) << "the abandoned stream kept generating";
  EXPECT_LT(seconds, 5.0);
  const Reply m = Get(next, "/metrics");
  EXPECT_NE(m.body.find("\nbitnet_slots_busy 0\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("\nbitnet_requests_decoding 0\n"), std::string::npos) << "the stream left the scheduler";
  EXPECT_NE(m.body.find("\nbitnet_generations_total 2\n"), std::string::npos) << "both requests ended";
}

TEST(ServerAuth, ApiKeyIsRequiredExceptForHealth) {
  if (TokenizerPath().empty()) GTEST_SKIP() << "no tokenizer.json";
  ServerOptions o;
  o.api_key = "sk-test-123";
  o.context_length = 128;
  TestServer t(o);
  httplib::Client c = t.Client();
  const Json req = {{"messages", Json::array({Json{{"role", "user"}, {"content", "hi"}}})}, {"max_tokens", 2}};
  ExpectErrorObject(PostJson(c, "/v1/chat/completions", req), 401, "authentication_error");
  ExpectErrorObject(PostJson(c, "/v1/chat/completions", req, {{"Authorization", "Bearer sk-test-12"}}), 401,
                    "authentication_error");
  ExpectErrorObject(PostJson(c, "/v1/chat/completions", req, {{"Authorization", "sk-test-123"}}), 401,
                    "authentication_error");
  ExpectErrorObject(Get(c, "/v1/models"), 401, "authentication_error");
  EXPECT_EQ(Get(c, "/health").status, 200);
  EXPECT_EQ(PostJson(c, "/v1/chat/completions", req, {{"Authorization", "Bearer sk-test-123"}}).status, 200);
  EXPECT_EQ(Get(c, "/v1/models", {{"Authorization", "Bearer sk-test-123"}}).status, 200);
}

}  // namespace
}  // namespace bitnet::server::testing
