// Batch invariance: a sequence's logits are bit-identical whether it runs
// alone or in a batch with other sequences of other lengths and positions,
// and whether forward calls run one after another or from two threads at
// once. ctest runs this binary twice: with the default kernels and with
// BITNET_ISA=scalar.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "util/thread_pool.h"

namespace bitnet::testing {
namespace {

// A sequence's history (already in its cache before the step) and the tokens of the step.
struct Sequence {
  std::vector<int32_t> history;
  std::vector<int32_t> step;
  int n_logits = 1;
};

std::vector<int32_t> Ids(int n, int seed) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((seed * 131 + i * 37) % 512);
  return ids;
}

// A cache holding the sequence's history, filled in one forward call.
std::unique_ptr<KvCache> CacheWithHistory(Model& model, const Sequence& seq) {
  auto cache = model.NewCache(256);
  if (!seq.history.empty()) model.Forward(seq.history, *cache, 0, 0);
  return cache;
}

std::vector<float> StepAlone(Model& model, const Sequence& seq) {
  auto cache = CacheWithHistory(model, seq);
  return model.Forward(seq.step, *cache, static_cast<int>(seq.history.size()), seq.n_logits);
}

// Every sequence's logits from one batched call, split per sequence.
std::vector<std::vector<float>> StepBatched(Model& model, const std::vector<Sequence>& seqs) {
  std::vector<std::unique_ptr<KvCache>> caches;
  std::vector<BatchItem> batch;
  for (const Sequence& seq : seqs) {
    caches.push_back(CacheWithHistory(model, seq));
    batch.push_back({seq.step, *caches.back(), static_cast<int>(seq.history.size()), seq.n_logits});
  }
  const std::vector<float> all = model.ForwardBatch(batch);
  std::vector<std::vector<float>> per_sequence;
  size_t at = 0;
  for (const Sequence& seq : seqs) {
    const size_t len = static_cast<size_t>(seq.n_logits) * model.config().vocab;
    EXPECT_LE(at + len, all.size());
    per_sequence.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(at),
                              all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), at + len)));
    at += len;
  }
  EXPECT_EQ(at, all.size());
  return per_sequence;
}

bool BitIdentical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Paths {
  std::string output_type;
  std::string kv_type;
};
void PrintTo(const Paths& paths, std::ostream* os) { *os << paths.output_type << " output, " << paths.kv_type << " KV"; }

class BatchInvariance : public ::testing::TestWithParam<Paths> {
 protected:
  std::unique_ptr<Model> Load(const TempDir& dir) {
    Options o = CpuOptions();
    o.output_type = GetParam().output_type;
    o.kv_type = GetParam().kv_type;
    auto model = Model::Load(MakeTinyModel(dir, "m"), o);
    // The binary runs once per kernel variant: make sure the one asked for is the one running.
    if (const char* isa = std::getenv("BITNET_ISA"); isa != nullptr && *isa != '\0') {
      EXPECT_NE(model->device_line().find(isa), std::string::npos) << model->device_line();
    }
    return model;
  }
};

// Decodes at different positions, a prompt, a prompt with every logit, and
// one that crosses the 128-token chunk of the stacked batch.
const std::vector<Sequence> kMixedBatch = {
    {Ids(5, 1), Ids(1, 2), 1},     // decode at position 5
    {{}, Ids(9, 3), 1},            // prompt, next-token logits
    {Ids(40, 4), Ids(1, 5), 1},    // decode at position 40
    {Ids(3, 6), Ids(6, 7), 6},     // continuation, every logit
    {{}, Ids(130, 8), 2},          // long prompt: the batch spans two chunks
    {Ids(17, 9), Ids(2, 10), 0},   // a prompt chunk that wants no logits
};

TEST_P(BatchInvariance, EachSequenceGetsTheLogitsItGetsAlone) {
  TempDir dir;
  auto model = Load(dir);
  const std::vector<std::vector<float>> batched = StepBatched(*model, kMixedBatch);
  ASSERT_EQ(batched.size(), kMixedBatch.size());
  for (size_t i = 0; i < kMixedBatch.size(); ++i) {
    const std::vector<float> alone = StepAlone(*model, kMixedBatch[i]);
    EXPECT_EQ(alone.size(), static_cast<size_t>(kMixedBatch[i].n_logits) * model->config().vocab);
    EXPECT_TRUE(BitIdentical(alone, batched[i])) << "sequence " << i;
  }
}

TEST_P(BatchInvariance, OrderInTheBatchDoesNotMatter) {
  TempDir dir;
  auto model = Load(dir);
  std::vector<Sequence> reversed(kMixedBatch.rbegin(), kMixedBatch.rend());
  const auto forward = StepBatched(*model, kMixedBatch);
  const auto backward = StepBatched(*model, reversed);
  for (size_t i = 0; i < kMixedBatch.size(); ++i)
    EXPECT_TRUE(BitIdentical(forward[i], backward[kMixedBatch.size() - 1 - i])) << "sequence " << i;
}

// The same step in a batch is a different computation from the step alone
// only if something leaks between sequences: a sequence whose history
// differs must get different logits, or the comparisons above prove nothing.
TEST_P(BatchInvariance, DifferentHistoriesGiveDifferentLogits) {
  TempDir dir;
  auto model = Load(dir);
  Sequence a{Ids(8, 11), Ids(1, 12), 1};
  Sequence b{Ids(8, 13), Ids(1, 12), 1};
  EXPECT_FALSE(BitIdentical(StepAlone(*model, a), StepAlone(*model, b)));
}

// Two threads decode their own sequences with their own Activations, at the
// same time, and get what each gets run alone.
TEST_P(BatchInvariance, ConcurrentForwardCallsMatchSequentialOnes) {
  TempDir dir;
  auto model = Load(dir);
  auto decode = [&](int seed, Activations* activations) {
    auto cache = model->NewCache(128);
    std::vector<float> logits = model->Forward(Ids(12, seed), *cache, 0, 1, activations);
    std::vector<float> trace = logits;
    for (int pos = 12; pos < 60; ++pos) {
      const int32_t next[1] = {(seed + pos * 7) % 512};
      logits = model->Forward(next, *cache, pos, 1, activations);
      trace.insert(trace.end(), logits.begin(), logits.end());
    }
    return trace;
  };
  const std::vector<float> alone_a = decode(21, nullptr);
  const std::vector<float> alone_b = decode(22, nullptr);
  auto scratch_a = model->NewActivations();
  auto scratch_b = model->NewActivations();
  std::vector<float> together_a, together_b, pooled_c, pooled_d;
  std::thread ta([&] { together_a = decode(21, scratch_a.get()); });
  std::thread tb([&] { together_b = decode(22, scratch_b.get()); });
  ta.join();
  tb.join();
  EXPECT_TRUE(BitIdentical(alone_a, together_a));
  EXPECT_TRUE(BitIdentical(alone_b, together_b));
  // Without Activations of their own, concurrent calls borrow from the model.
  std::thread tc([&] { pooled_c = decode(21, nullptr); });
  std::thread td([&] { pooled_d = decode(22, nullptr); });
  tc.join();
  td.join();
  EXPECT_TRUE(BitIdentical(alone_a, pooled_c));
  EXPECT_TRUE(BitIdentical(alone_b, pooled_d));
}

TEST_P(BatchInvariance, SequencesOfABatchMustUseDistinctCaches) {
  TempDir dir;
  auto model = Load(dir);
  auto cache = model->NewCache(16);
  const std::vector<int32_t> ids = Ids(2, 1);
  const BatchItem batch[] = {{ids, *cache, 0, 1}, {ids, *cache, 2, 1}};
  EXPECT_THROW(model->ForwardBatch(batch), std::runtime_error);
}

// The worker index ParallelFor hands each range is the thread running it:
// distinct per range, below size(), so per-worker scratch is never shared.
TEST(ThreadPoolWorkers, EachRangeGetsItsOwnWorkerIndex) {
  ThreadPool pool(3);
  for (int64_t n : {1, 2, 3, 7, 100}) {
    std::vector<int> worker_of(static_cast<size_t>(n), -1);
    std::vector<std::thread::id> thread_of_worker(3);
    pool.ParallelFor(n, 1, [&](int worker, int64_t begin, int64_t end) {
      ASSERT_GE(worker, 0);
      ASSERT_LT(worker, pool.size());
      thread_of_worker[worker] = std::this_thread::get_id();
      for (int64_t i = begin; i < end; ++i) worker_of[i] = worker;
    });
    std::vector<int> ranges_per_worker(3, 0);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NE(worker_of[i], -1) << "index " << i << " never ran";
      if (i == 0 || worker_of[i] != worker_of[i - 1]) ++ranges_per_worker[worker_of[i]];
    }
    for (int w = 0; w < 3; ++w) EXPECT_LE(ranges_per_worker[w], 1) << "worker " << w << " got two ranges, n " << n;
  }
}

// Regions asked for by two threads at once take turns: each sees every worker once.
TEST(ThreadPoolWorkers, RegionsFromTwoThreadsDoNotMix) {
  ThreadPool pool(2);
  auto hammer = [&](std::atomic<int>& total) {
    for (int i = 0; i < 2000; ++i) pool.RunOnAll([&](int t) { total += t + 1; });
  };
  std::atomic<int> a{0}, b{0};
  std::thread ta([&] { hammer(a); });
  std::thread tb([&] { hammer(b); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.load(), 2000 * 3);
  EXPECT_EQ(b.load(), 2000 * 3);
}

INSTANTIATE_TEST_SUITE_P(OutputAndCache, BatchInvariance,
                         ::testing::Values(Paths{"bf16", "f32"}, Paths{"int8", "f16"}),
                         [](const ::testing::TestParamInfo<Paths>& param_info) {
                           return param_info.param.output_type + "_" + param_info.param.kv_type;
                         });

}  // namespace
}  // namespace bitnet::testing
