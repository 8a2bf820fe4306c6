// The batch scheduler: the step-planning policy as a pure function, and the
// loop itself on a tiny model, checked against each request run alone.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "app/server/batch_scheduler.h"
#include "app/server/completion_text.h"
#include "app/server/slot_pool.h"
#include "app/server/step_plan.h"
#include "server_test_util.h"

namespace bitnet::server {
namespace {

int Tokens(const std::vector<StepSlice>& plan) {
  int n = 0;
  for (const StepSlice& s : plan) n += s.n_tokens;
  return n;
}

TEST(PlanStep, DecodeTokensFirstThenOldestPromptFillsTheBudget) {
  // A prompt arrived first, then two sequences decode, then a second prompt.
  const std::vector<SequenceDemand> demands = {{100, false}, {1, true}, {1, true}, {50, false}};
  const std::vector<StepSlice> plan = PlanStep(demands, 64);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].sequence, 1);
  EXPECT_EQ(plan[1].sequence, 2);
  EXPECT_EQ(plan[0].n_tokens, 1);
  EXPECT_TRUE(plan[0].samples && plan[1].samples);
  EXPECT_EQ(plan[2].sequence, 0) << "the older prompt gets the rest";
  EXPECT_EQ(plan[2].n_tokens, 62);
  EXPECT_FALSE(plan[2].samples) << "a chunk that leaves prompt tokens behind samples nothing";
  EXPECT_EQ(Tokens(plan), 64);
}

TEST(PlanStep, PromptsThatFitShareTheStep) {
  const std::vector<SequenceDemand> demands = {{10, false}, {1, true}, {20, false}, {40, false}};
  const std::vector<StepSlice> plan = PlanStep(demands, 64);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[1].sequence, 0);
  EXPECT_EQ(plan[1].n_tokens, 10);
  EXPECT_TRUE(plan[1].samples);
  EXPECT_EQ(plan[2].n_tokens, 20);
  EXPECT_TRUE(plan[2].samples);
  EXPECT_EQ(plan[3].sequence, 3);
  EXPECT_EQ(plan[3].n_tokens, 33);
  EXPECT_FALSE(plan[3].samples);
  EXPECT_EQ(Tokens(plan), 64);
}

TEST(PlanStep, TheBudgetIsNeverExceeded) {
  for (int budget : {0, 1, 2, 3, 7, 64, 1000}) {
    SCOPED_TRACE(budget);
    const std::vector<SequenceDemand> demands = {{1, true}, {300, false}, {1, true}, {0, false}, {5, false}};
    const std::vector<StepSlice> plan = PlanStep(demands, budget);
    EXPECT_EQ(Tokens(plan), std::min(budget, 307));
    for (const StepSlice& s : plan) {
      EXPECT_GT(s.n_tokens, 0);
      EXPECT_NE(s.sequence, 3) << "nothing pending, nothing planned";
      EXPECT_LE(s.n_tokens, demands[s.sequence].pending);
      EXPECT_EQ(s.samples, s.n_tokens == demands[s.sequence].pending);
    }
    if (budget >= 2) {
      ASSERT_GE(plan.size(), 2u);
      EXPECT_TRUE(demands[plan[0].sequence].decoding && demands[plan[1].sequence].decoding);
    }
  }
}

TEST(PlanStep, NothingPendingPlansNothing) {
  EXPECT_TRUE(PlanStep({}, 64).empty());
  const std::vector<SequenceDemand> idle = {{0, false}, {0, true}};
  EXPECT_TRUE(PlanStep(idle, 64).empty());
}

constexpr int kContext = 512;

std::vector<int32_t> Ids(int n, int seed) {
  std::vector<int32_t> ids = {128000};
  for (int i = 1; i < n; ++i) ids.push_back(static_cast<int32_t>((seed * 7919 + i * 104729) % 120000));
  return ids;
}

Generator::Params Greedy(int max_tokens) {
  Generator::Params p;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  p.sampling.temperature = 0.0f;
  return p;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::TokenizerPath().empty()) GTEST_SKIP() << "no tokenizer.json";
    model_ = testing::LoadTinyModel();
  }
  // The text a request gets on its own: a Generator, no scheduler.
  std::string Alone(const CompletionJob& job) {
    Generator g(*model_, kContext);
    const GenerationResult r = g.Run(job.prompt, job.params);
    CompletionText text(*model_, job.stop);
    std::string out;
    for (int32_t id : r.ids) out += text.Push(id);
    return out + text.Flush();
  }
  std::shared_ptr<CompletionHandle> Submit(SlotPool& pool, BatchScheduler& scheduler, const CompletionJob& job) {
    auto lease = pool.Acquire(job.prompt, std::chrono::seconds(10));
    EXPECT_TRUE(lease);
    return scheduler.Submit(std::move(lease), job);
  }
  // Polls until cond holds; false after 10 s.
  template <typename Cond>
  static bool Eventually(Cond cond) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  std::unique_ptr<Model> model_;
};

TEST_F(SchedulerTest, ConcurrentRequestsGetTheTextEachGetsAlone) {
  SlotPool pool(*model_, 4, kContext);
  std::vector<GenerationStats> finished;
  std::mutex finished_mu;
  BatchScheduler scheduler(*model_, 64, [&](const GenerationStats& s) {
    std::lock_guard<std::mutex> lock(finished_mu);
    finished.push_back(s);
  });
  std::vector<CompletionJob> jobs = {{Ids(3, 1), Greedy(20), {}},
                                     {Ids(17, 2), Greedy(12), {}},
                                     {Ids(100, 3), Greedy(20), {}},  // over the budget: two steps of prompt
                                     {Ids(40, 4), Greedy(16), {}}};
  jobs[3].params.sampling = {0.9f, 20, 0.95f, 0.0f, 1.1f, 64, 1234};  // its own sampler, seeded
  std::vector<std::string> alone;
  for (const CompletionJob& job : jobs) alone.push_back(Alone(job));

  std::vector<std::shared_ptr<CompletionHandle>> handles;
  for (const CompletionJob& job : jobs) handles.push_back(Submit(pool, scheduler, job));
  int prompt_tokens = 0, decode_tokens = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const CompletionOutcome out = handles[i]->Wait(nullptr);
    EXPECT_EQ(out.text, alone[i]) << "request " << i;
    EXPECT_EQ(out.finish_reason, "length");
    EXPECT_EQ(out.stats.n_generated, jobs[i].params.max_tokens);
    prompt_tokens += static_cast<int>(jobs[i].prompt.size());
    decode_tokens += jobs[i].params.max_tokens - 1;  // the last sampled token is never run
  }
  const SchedulerStats st = scheduler.stats();
  EXPECT_EQ(st.step_tokens, static_cast<uint64_t>(prompt_tokens + decode_tokens)) << "every token ran exactly once";
  EXPECT_GE(st.steps * 64, st.step_tokens);
  EXPECT_GT(st.step_sequences, st.steps) << "no step ever held two requests";
  EXPECT_EQ(st.prefilling + st.decoding, 0);
  EXPECT_EQ(pool.busy(), 0);
  std::lock_guard<std::mutex> lock(finished_mu);
  EXPECT_EQ(finished.size(), jobs.size()) << "every request's stats were reported";
}

TEST_F(SchedulerTest, ALongPromptArrivingWhileOthersDecodeChangesNoText) {
  SlotPool pool(*model_, 3, kContext);
  const int budget = 16;
  BatchScheduler scheduler(*model_, budget, nullptr);
  const std::vector<CompletionJob> jobs = {{Ids(5, 7), Greedy(60), {}},
                                           {Ids(9, 8), Greedy(60), {}},
                                           {Ids(200, 9), Greedy(10), {}}};
  std::vector<std::string> alone;
  for (const CompletionJob& job : jobs) alone.push_back(Alone(job));
  auto a = Submit(pool, scheduler, jobs[0]);
  auto b = Submit(pool, scheduler, jobs[1]);
  ASSERT_TRUE(Eventually([&] { return scheduler.stats().decoding == 2; }));
  const uint64_t steps_before = scheduler.stats().steps;
  auto c = Submit(pool, scheduler, jobs[2]);
  EXPECT_EQ(c->Wait(nullptr).text, alone[2]);
  const SchedulerStats at_c = scheduler.stats();
  // 200 prompt tokens next to 2 decode tokens a step need at least 200 / 14 steps.
  EXPECT_GE(at_c.steps - steps_before, static_cast<uint64_t>((200 + budget - 3) / (budget - 2)));
  EXPECT_EQ(a->Wait(nullptr).text, alone[0]);
  EXPECT_EQ(b->Wait(nullptr).text, alone[1]);
}

TEST_F(SchedulerTest, ASlotsCachedPrefixIsNotRunAgain) {
  SlotPool pool(*model_, 1, kContext);
  BatchScheduler scheduler(*model_, 64, nullptr);
  const CompletionJob first{Ids(30, 5), Greedy(4), {}};
  const CompletionOutcome a = Submit(pool, scheduler, first)->Wait(nullptr);
  EXPECT_EQ(a.stats.n_prompt_eval, 30);
  const uint64_t tokens_before = scheduler.stats().step_tokens;
  CompletionJob longer = first;
  longer.prompt.insert(longer.prompt.end(), {11, 12, 13});
  const CompletionOutcome b = Submit(pool, scheduler, longer)->Wait(nullptr);
  EXPECT_EQ(b.stats.n_prompt, 33);
  EXPECT_EQ(b.stats.n_prompt_eval, 3) << "only the new tokens run";
  EXPECT_EQ(scheduler.stats().step_tokens - tokens_before, 3u + 3u);  // 3 prompt tokens, 3 decode tokens
  EXPECT_EQ(b.text, Alone(longer));
  // The same prompt again runs only its last token (its logits start the reply).
  const CompletionOutcome c = Submit(pool, scheduler, longer)->Wait(nullptr);
  EXPECT_EQ(c.stats.n_prompt_eval, 1);
  EXPECT_EQ(c.text, b.text);
}

TEST_F(SchedulerTest, ABadRequestFailsAloneAndFreesItsSlot) {
  SlotPool pool(*model_, 2, 64);
  BatchScheduler scheduler(*model_, 64, nullptr);
  const CompletionJob good{Ids(6, 1), Greedy(30), {}};
  auto running = Submit(pool, scheduler, good);
  const CompletionJob too_long{Ids(64, 2), Greedy(4), {}};
  try {
    Submit(pool, scheduler, too_long);
    ADD_FAILURE() << "a prompt as long as the context was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("prompt"), std::string::npos) << e.what();
  }
  CompletionJob bad_id{{128000, 5, -3}, Greedy(4), {}};
  EXPECT_THROW(Submit(pool, scheduler, bad_id), std::runtime_error);
  bad_id.prompt = {128000, 999999999};
  EXPECT_THROW(Submit(pool, scheduler, bad_id), std::runtime_error);
  EXPECT_LE(pool.busy(), 1) << "a refused request keeps no slot";
  const CompletionOutcome out = running->Wait(nullptr);
  EXPECT_EQ(out.stats.n_generated, 30);
  EXPECT_EQ(out.text, Alone(good));
  EXPECT_EQ(pool.busy(), 0);
}

TEST_F(SchedulerTest, AClientThatStopsTakingTextLeavesAtTheNextStep) {
  SlotPool pool(*model_, 1, kContext);
  BatchScheduler scheduler(*model_, 64, nullptr);
  auto handle = Submit(pool, scheduler, {Ids(4, 3), Greedy(400), {}});
  int pieces = 0;
  uint64_t steps_at_cancel = 0;
  const CompletionOutcome out = handle->Wait([&](const std::string&) {
    steps_at_cancel = scheduler.stats().steps;
    return ++pieces < 3;
  });
  EXPECT_TRUE(out.client_gone);
  EXPECT_EQ(pieces, 3);
  ASSERT_TRUE(Eventually([&] { return pool.busy() == 0; })) << "the slot stayed taken";
  // The loop runs ahead of the client by whatever text it had queued, but
  // stops within a step of seeing the cancel, far before 400 tokens.
  EXPECT_LT(scheduler.stats().steps, 200u);
  EXPECT_GE(scheduler.stats().steps, steps_at_cancel);
  // The freed slot serves the next request.
  EXPECT_EQ(Submit(pool, scheduler, {Ids(4, 4), Greedy(3), {}})->Wait(nullptr).stats.n_generated, 3);
}

TEST_F(SchedulerTest, StopInterruptsRunningRequestsAndRefusesLaterOnes) {
  SlotPool pool(*model_, 1, kContext);
  BatchScheduler scheduler(*model_, 64, nullptr);
  auto handle = Submit(pool, scheduler, {Ids(4, 5), Greedy(500), {}});
  ASSERT_TRUE(Eventually([&] { return scheduler.stats().decoding == 1; }));
  scheduler.Stop();
  const CompletionOutcome out = handle->Wait(nullptr);
  EXPECT_TRUE(out.interrupted);
  EXPECT_LT(out.stats.n_generated, 500);
  EXPECT_EQ(pool.busy(), 0);
  const CompletionOutcome late = Submit(pool, scheduler, {Ids(4, 6), Greedy(3), {}})->Wait(nullptr);
  EXPECT_TRUE(late.interrupted);
  EXPECT_EQ(late.stats.n_generated, 0);
  scheduler.Stop();  // twice is fine
}

TEST_F(SchedulerTest, ABudgetOfZeroIsRefused) {
  EXPECT_THROW(BatchScheduler(*model_, 0, nullptr), std::runtime_error);
}

}  // namespace
}  // namespace bitnet::server
