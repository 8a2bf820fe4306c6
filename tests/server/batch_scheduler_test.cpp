// The continuous-batching step loop: requests batched together, with chunked
// prefill under a small token budget and more requests than slots, get
// exactly the tokens each gets from a Generator alone.
#include <gtest/gtest.h>

#include <map>

#include "app/server/batch_scheduler.h"
#include "../test_util.h"

namespace bitnet::testing {
namespace {

std::vector<int32_t> Prompt(int n, int seed) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((seed * 97 + i * 31) % 512);
  return ids;
}

Generator::Params Greedy(int max_tokens) {
  Generator::Params p;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  p.sampling.temperature = 0.0f;
  return p;
}

TEST(BatchScheduler, BatchedRequestsGetTheTokensTheyGetAlone) {
  TempDir dir;
  auto model = Model::Load(MakeTinyModel(dir, "m"), CpuOptions());
  // Lengths around the budget of 8: prompts split over several steps, and
  // 5 requests for 3 slots, so two wait and join between steps.
  const std::vector<std::pair<std::vector<int32_t>, int>> requests = {
      {Prompt(3, 1), 12}, {Prompt(13, 2), 5}, {Prompt(1, 3), 9}, {Prompt(20, 4), 7}, {Prompt(6, 5), 10}};
  std::vector<std::vector<int32_t>> alone;
  for (const auto& [prompt, max_tokens] : requests) {
    Generator generator(*model, 64);
    alone.push_back(generator.Run(prompt, Greedy(max_tokens)).ids);
  }

  server::BatchScheduler scheduler(*model, 3, 64, 8);
  std::map<int, std::vector<int32_t>> streamed;
  std::map<int, GenerationResult> done;
  for (int i = 0; i < static_cast<int>(requests.size()); ++i)
    scheduler.Submit({requests[i].first, Greedy(requests[i].second),
                      [&streamed, i](int32_t id) {
                        streamed[i].push_back(id);
                        return true;
                      },
                      [&done, i](const GenerationResult& r) { done[i] = r; }});
  int steps = 0, max_sequences = 0;
  while (scheduler.Step()) {
    ++steps;
    EXPECT_LE(scheduler.last_step().tokens, 8);
    max_sequences = std::max(max_sequences, scheduler.last_step().sequences);
  }
  EXPECT_GT(max_sequences, 1) << "never batched";
  ASSERT_EQ(done.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(done[static_cast<int>(i)].ids, alone[i]) << "request " << i;
    EXPECT_EQ(streamed[static_cast<int>(i)], alone[i]) << "request " << i;
    EXPECT_EQ(done[static_cast<int>(i)].finish, FinishReason::kLength);
  }
}

TEST(BatchScheduler, AStoppedRequestFreesItsSlotForTheNextAndAReusedPrefixIsNotRerun) {
  TempDir dir;
  auto model = Model::Load(MakeTinyModel(dir, "m"), CpuOptions());
  server::BatchScheduler scheduler(*model, 1, 64, 16);
  GenerationResult first, second;
  int first_tokens = 0;
  scheduler.Submit({Prompt(10, 7), Greedy(50), [&](int32_t) { return ++first_tokens < 2; },
                    [&](const GenerationResult& r) { first = r; }});
  std::vector<int32_t> longer = Prompt(10, 7);
  longer.push_back(5);
  scheduler.Submit({longer, Greedy(3), nullptr, [&](const GenerationResult& r) { second = r; }});
  while (scheduler.Step()) {
  }
  EXPECT_EQ(first.finish, FinishReason::kCancelled);
  EXPECT_EQ(first.ids.size(), 2u);
  EXPECT_EQ(second.finish, FinishReason::kLength);
  EXPECT_EQ(second.stats.n_prompt_eval, 1);  // the first 10 tokens were still in the slot's cache
  Generator alone(*model, 64);
  EXPECT_EQ(second.ids, alone.Run(longer, Greedy(3)).ids);
}

}  // namespace
}  // namespace bitnet::testing
