// Continuous batching for the server: one loop owns every forward pass. Each
// step takes the next token of every decoding request plus prompt chunks of
// prefilling ones under a token budget (PlanStep), runs them as one
// Model::ForwardBatch, samples each request with its own sampler, and hands
// the text to the request's HTTP thread. Requests join and leave between
// steps; one whose client is gone leaves at the next step.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/server/completion_text.h"
#include "app/server/scheduler_stats.h"
#include "app/server/slot_pool.h"
#include "bitnet/bitnet.h"

namespace bitnet::server {

struct CompletionJob {
  std::vector<int32_t> prompt;
  Generator::Params params;
  std::vector<std::string> stop;
};

// The HTTP thread's end of one submitted request.
class CompletionHandle {
 public:
  // Hands each piece of text to on_text (may be null) on the calling thread
  // as the scheduler makes it, and returns once generation has ended. on_text
  // returning false means the client is gone: the request is dropped at the
  // next step and Wait returns at once. Rethrows the error that failed the
  // request, if one did.
  CompletionOutcome Wait(const std::function<bool(const std::string&)>& on_text);
  // The client is gone: the scheduler drops the request at its next step.
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  // The scheduler's end.
  void Emit(std::string text);
  void Finish(CompletionOutcome outcome);
  void Fail(std::exception_ptr error);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> pieces_;
  bool done_ = false;
  CompletionOutcome outcome_;
  std::exception_ptr error_;
  std::atomic<bool> cancelled_{false};
};

class BatchScheduler {
 public:
  // token_budget: the most tokens one step runs (--batch-size); it must hold
  // a decode token of every slot. on_generation: told the stats of every
  // request that ends (from the scheduler's thread).
  BatchScheduler(Model& model, int token_budget, std::function<void(const GenerationStats&)> on_generation);
  ~BatchScheduler();  // Stop()
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // Runs job on the leased slot, reusing the prefix of job.prompt the slot's
  // cache already holds; the slot is released when the request ends. Throws
  // Error naming the field when the job cannot run (empty prompt, a prompt
  // that does not fit the slot's context, a token outside the vocabulary).
  std::shared_ptr<CompletionHandle> Submit(std::unique_ptr<SlotPool::Lease> lease, CompletionJob job);
  // Ends every request as interrupted, and every later one at once; returns
  // when the loop has stopped. Safe to call more than once.
  void Stop();

  SchedulerStats stats() const;
  int token_budget() const { return token_budget_; }

 private:
  struct Sequence;
  void Loop();
  void Step(std::vector<std::unique_ptr<Sequence>>& active);
  std::vector<float> Forward(std::span<const BatchItem> items, std::span<Sequence* const> owners);
  void Sample(Sequence& s, std::span<const float> logits);
  void End(Sequence& s, bool hit_limit, bool interrupted);
  void Abort(Sequence& s, std::exception_ptr error);
  // The prefilling / decoding gauges: recounted after each step (caller holds
  // mu_), and a request leaves them before its client hears it has ended.
  void CountLocked(const std::vector<std::unique_ptr<Sequence>>& active);
  void Uncount(Sequence& s);

  Model& model_;
  const int token_budget_;
  std::function<void(const GenerationStats&)> on_generation_;
  std::unique_ptr<Activations> activations_;  // the loop's scratch: it is the only caller

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Sequence>> incoming_;  // submitted, not yet in a step
  bool stopping_ = false;
  SchedulerStats stats_;
  std::mutex join_mu_;  // Stop() may be called from two threads
  std::thread loop_;
};

}  // namespace bitnet::server
