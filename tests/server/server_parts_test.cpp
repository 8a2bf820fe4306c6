// The server's parts without HTTP: stop-string matching, request parsing and
// the slot pool's choices.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "app/server/api_error.h"
#include "app/server/completion_request.h"
#include "app/server/slot_pool.h"
#include "app/server/stop_matcher.h"
#include "server_test_util.h"

namespace bitnet::server {
namespace {

using Json = nlohmann::json;

// Feeds pieces; returns everything released plus the final flush.
std::string Feed(StopMatcher& m, const std::vector<std::string>& pieces, std::vector<std::string>* released = nullptr) {
  std::string out;
  for (const std::string& p : pieces) {
    const std::string r = m.Push(p);
    if (released) released->push_back(r);
    out += r;
  }
  return out + m.Flush();
}

TEST(StopMatcher, FindsAStopStringSplitAcrossPieces) {
  StopMatcher m({"END"});
  std::vector<std::string> released;
  EXPECT_EQ(Feed(m, {"hello E", "N", "D and more"}, &released), "hello ");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(released[0], "hello ") << "only the possible start 'E' is held back";
  EXPECT_EQ(released[1], "");
}

TEST(StopMatcher, ReleasesHeldTextWhenItIsNotAStop) {
  StopMatcher m({"END"});
  std::vector<std::string> released;
  EXPECT_EQ(Feed(m, {"an E", "Nx", "tra"}, &released), "an ENxtra");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(released[0], "an ");
  EXPECT_EQ(released[1], "ENx");
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "lo w"});
  EXPECT_EQ(Feed(m, {"hel", "lo world"}), "hel");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, OverlappingPrefixIsNotMissed) {
  // "aab" inside "aaab": the held text must keep the longest possible start.
  StopMatcher m({"aab"});
  EXPECT_EQ(Feed(m, {"x", "a", "a", "a", "b", "y"}), "xa");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, HeldTailIsReturnedAtTheEnd) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.Push("abc ST"), "abc ");
  EXPECT_EQ(m.Flush(), "ST");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, NothingAfterAStop) {
  StopMatcher m({"x"});
  EXPECT_EQ(m.Push("abxcd"), "ab");
  EXPECT_EQ(m.Push("more"), "");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcher, WithoutStopsPassesEverythingAtOnce) {
  StopMatcher m({"", ""});
  EXPECT_EQ(m.Push("abc"), "abc");
  EXPECT_FALSE(m.stopped());
}

TEST(ServerRequest, DefaultsAreTheModelsGenerationConfig) {
  const CompletionRequest r = ParseChatRequest(Json::parse(R"({"messages":[{"role":"user","content":"hi"}]})"));
  EXPECT_TRUE(r.chat);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.6f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FALSE(r.stream);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, "user");
  EXPECT_EQ(r.messages[0].content, "hi");
}

TEST(ServerRequest, FieldsAreRead) {
  const CompletionRequest r = ParseChatRequest(Json::parse(R"({
      "messages":[{"role":"developer","content":"be brief"},
                  {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
                  {"role":"assistant","content":null}],
      "max_tokens": 9, "max_completion_tokens": 7, "temperature": 0.2, "top_p": 0.5, "seed": 42,
      "stop": ["x", "yz"], "stream": true, "stream_options": {"include_usage": true}, "n": 1,
      "frequency_penalty": 0.5})"));
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_EQ(r.max_tokens, 7) << "max_completion_tokens wins";
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.2f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.5f);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "yz"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(ServerRequest, CompletionPromptForms) {
  EXPECT_EQ(ParseCompletionRequest(Json::parse(R"({"prompt":"abc"})")).prompt, "abc");
  EXPECT_EQ(ParseCompletionRequest(Json::parse(R"({"prompt":["abc"]})")).prompt, "abc");
  EXPECT_EQ(ParseCompletionRequest(Json::parse(R"({"prompt":[1,2,3]})")).prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(ParseCompletionRequest(Json::parse(R"({"prompt":"a","stop":"b"})")).stop, (std::vector<std::string>{"b"}));
  EXPECT_EQ(ParseCompletionRequest(Json::parse(R"({"prompt":"a","max_tokens":16.0})")).max_tokens, 16);
}

TEST(ServerRequest, NullMeansNotGiven) {
  const CompletionRequest r =
      ParseCompletionRequest(Json::parse(R"({"prompt":"a","max_tokens":null,"temperature":null,"stop":null})"));
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.6f);
  EXPECT_TRUE(r.stop.empty());
}

TEST(ServerRequest, ErrorsNameTheField) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"messages":[{"role":"tool","content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_completion_tokens":0})", "max_completion_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":1}})",
       "stream_options.include_usage"},
  };
  for (const auto& [body, param] : cases) {
    try {
      ParseChatRequest(Json::parse(body));
      ADD_FAILURE() << "accepted " << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400) << body;
      EXPECT_EQ(e.param(), param) << body;
      EXPECT_EQ(e.type(), "invalid_request_error");
    }
  }
}

class SlotPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::TokenizerPath().empty()) GTEST_SKIP() << "no tokenizer.json";
    model_ = testing::LoadTinyModel();
  }
  std::unique_ptr<Model> model_;
};

TEST_F(SlotPoolTest, PrefersTheSlotHoldingThePromptsPrefix) {
  SlotPool pool(*model_, 3, 64);
  const std::vector<int32_t> a = {128000, 10, 11, 12, 13};
  const std::vector<int32_t> b = {128000, 20, 21};
  int slot_a = -1, slot_b = -1;
  {
    auto lease = pool.Acquire(a, std::chrono::milliseconds(100));
    ASSERT_TRUE(lease);
    slot_a = lease->index();
    lease->cached_tokens() = a;  // as the scheduler leaves a slot that ran a
  }
  {
    auto lease = pool.Acquire(b, std::chrono::milliseconds(100));
    ASSERT_TRUE(lease);
    slot_b = lease->index();
    EXPECT_NE(slot_b, slot_a) << "an unrelated prompt takes a fresh slot, keeping a's cache";
    lease->cached_tokens() = b;
  }
  std::vector<int32_t> a_longer = a;
  a_longer.push_back(14);
  auto la = pool.Acquire(a_longer, std::chrono::milliseconds(100));
  ASSERT_TRUE(la);
  EXPECT_EQ(la->index(), slot_a);
  const std::vector<int32_t> b_longer = {128000, 20, 21, 99};
  auto lb = pool.Acquire(b_longer, std::chrono::milliseconds(100));
  ASSERT_TRUE(lb);
  EXPECT_EQ(lb->index(), slot_b);
  EXPECT_EQ(pool.busy(), 2);
}

TEST_F(SlotPoolTest, WaitIsBoundedAndFirstComeFirstServed) {
  SlotPool pool(*model_, 1, 64);
  const std::vector<int32_t> p = {128000, 1};
  auto held = pool.Acquire(p, std::chrono::milliseconds(100));
  ASSERT_TRUE(held);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(pool.Acquire(p, std::chrono::milliseconds(80))) << "no slot frees up";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(80));
  EXPECT_EQ(pool.waiting(), 0);

  std::atomic<int> order{0};
  int first = -1, second = -1;
  std::thread w1([&] {
    auto l = pool.Acquire(p, std::chrono::seconds(10));
    first = order++;
  });
  while (pool.waiting() < 1) std::this_thread::yield();
  std::thread w2([&] {
    auto l = pool.Acquire(p, std::chrono::seconds(10));
    second = order++;
  });
  while (pool.waiting() < 2) std::this_thread::yield();
  held.reset();
  w1.join();
  w2.join();
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
}

TEST_F(SlotPoolTest, ShutdownWakesWaiters) {
  SlotPool pool(*model_, 1, 64);
  const std::vector<int32_t> p = {128000, 1};
  auto held = pool.Acquire(p, std::chrono::milliseconds(100));
  std::thread waiter([&] { EXPECT_FALSE(pool.Acquire(p, std::chrono::seconds(30))); });
  while (pool.waiting() < 1) std::this_thread::yield();
  pool.Shutdown();
  waiter.join();
  EXPECT_FALSE(pool.Acquire(p, std::chrono::seconds(1)));
}

}  // namespace
}  // namespace bitnet::server
