#include <gtest/gtest.h>

#include <map>

#include "bitnet/bitnet.h"

namespace bitnet {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.5f, -1.0f, 2.9f, 0.0f}; }

TEST(SamplerTest, ZeroTemperatureIsArgmax) {
  Sampler s(SamplingParams{.temperature = 0.0f});
  EXPECT_EQ(s.Sample(Logits(), {}), 1);
}

TEST(SamplerTest, SameSeedSameTokens) {
  SamplingParams p{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 123};
  Sampler a(p), b(p);
  std::vector<int32_t> ta, tb;
  for (int i = 0; i < 50; ++i) {
    ta.push_back(a.Sample(Logits(), {}));
    tb.push_back(b.Sample(Logits(), {}));
  }
  EXPECT_EQ(ta, tb);
  p.seed = 124;
  Sampler c(p);
  std::vector<int32_t> tc;
  for (int i = 0; i < 50; ++i) tc.push_back(c.Sample(Logits(), {}));
  EXPECT_NE(ta, tc);
}

TEST(SamplerTest, TopKOneIsGreedyAndTopKLimitsTheSupport) {
  Sampler k1(SamplingParams{.temperature = 5.0f, .top_k = 1, .top_p = 1.0f, .seed = 1});
  for (int i = 0; i < 20; ++i) EXPECT_EQ(k1.Sample(Logits(), {}), 1);
  Sampler k2(SamplingParams{.temperature = 5.0f, .top_k = 2, .top_p = 1.0f, .seed = 2});
  for (int i = 0; i < 100; ++i) {
    const int32_t id = k2.Sample(Logits(), {});
    EXPECT_TRUE(id == 1 || id == 4) << id;
  }
}

TEST(SamplerTest, TopPKeepsTheSmallestNucleus) {
  // Probabilities at T=1: id1 is far ahead, so a small top_p keeps only it.
  std::vector<float> l = {0.0f, 10.0f, 1.0f, 0.5f};
  Sampler s(SamplingParams{.temperature = 1.0f, .top_k = 0, .top_p = 0.5f, .seed = 3});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.Sample(l, {}), 1);
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
  std::vector<float> l = {5.0f, 4.9f, 0.0f, -3.0f};
  Sampler s(SamplingParams{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.5f, .seed = 4});
  std::map<int32_t, int> seen;
  for (int i = 0; i < 300; ++i) seen[s.Sample(l, {})]++;
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_EQ(seen.count(3), 0u);
  EXPECT_GT(seen[0], 0);
  EXPECT_GT(seen[1], 0);
}

TEST(SamplerTest, RepetitionPenaltyDemotesRecentTokens) {
  std::vector<float> l = {1.0f, 3.0f, 2.9f};
  Sampler plain(SamplingParams{.temperature = 0.0f});
  EXPECT_EQ(plain.Sample(l, std::vector<int32_t>{1}), 1);
  Sampler penal(SamplingParams{.temperature = 0.0f, .repeat_penalty = 1.5f});
  EXPECT_EQ(penal.Sample(l, std::vector<int32_t>{1}), 2);
  // Negative logits are pushed further down, not up.
  std::vector<float> neg = {-1.0f, -1.2f};
  Sampler penal2(SamplingParams{.temperature = 0.0f, .repeat_penalty = 2.0f});
  EXPECT_EQ(penal2.Sample(neg, std::vector<int32_t>{0}), 1);
}

TEST(SamplerTest, TemperatureSpreadsTheDistribution) {
  std::vector<float> l = {2.0f, 1.0f};
  auto count_zero = [&](float temp) {
    Sampler s(SamplingParams{.temperature = temp, .top_k = 0, .top_p = 1.0f, .seed = 9});
    int zeros = 0;
    for (int i = 0; i < 2000; ++i) zeros += s.Sample(l, {}) == 0;
    return zeros;
  };
  // p(0) = 0.73 at T=1 and 0.52 at T=10.
  EXPECT_GT(count_zero(1.0f), 1300);
  EXPECT_LT(count_zero(10.0f), 1200);
}

}  // namespace
}  // namespace bitnet
