#include "app/server/batch_scheduler.h"

#include <algorithm>
#include <chrono>

#include "app/server/step_plan.h"
#include "util/error.h"

namespace bitnet::server {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

CompletionOutcome CompletionHandle::Wait(const std::function<bool(const std::string&)>& on_text) {
  std::string text;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return done_ || !pieces_.empty(); });
    if (pieces_.empty()) break;  // done, and every piece handed over
    const std::string piece = std::move(pieces_.front());
    pieces_.pop_front();
    lock.unlock();  // a slow client must not hold up the scheduler's Emit
    text += piece;
    const bool taken = !on_text || on_text(piece);
    lock.lock();
    if (!taken) {
      Cancel();
      CompletionOutcome gone;
      gone.text = std::move(text);
      gone.client_gone = true;
      return gone;
    }
  }
  if (error_) std::rethrow_exception(error_);
  CompletionOutcome out = outcome_;
  out.text = std::move(text);
  return out;
}

void CompletionHandle::Emit(std::string text) {
  if (text.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pieces_.push_back(std::move(text));
  }
  cv_.notify_all();
}

void CompletionHandle::Finish(CompletionOutcome outcome) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outcome_ = std::move(outcome);
    done_ = true;
  }
  cv_.notify_all();
}

void CompletionHandle::Fail(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::move(error);
    done_ = true;
  }
  cv_.notify_all();
}

// One request from submission to its end. Touched only by the loop's thread
// once submitted.
struct BatchScheduler::Sequence {
  Sequence(const Model& model, std::unique_ptr<SlotPool::Lease> l, CompletionJob j)
      : lease(std::move(l)), job(std::move(j)), text(model, job.stop), sampler(job.params.sampling),
        history(job.prompt) {}

  bool prefilling() const { return prompt_done < job.prompt.size(); }

  std::shared_ptr<CompletionHandle> handle = std::make_shared<CompletionHandle>();
  std::unique_ptr<SlotPool::Lease> lease;
  CompletionJob job;
  CompletionText text;
  Sampler sampler;
  std::vector<int32_t> history;  // prompt and generated tokens: what the repeat penalty sees
  size_t prompt_done = 0;        // prompt tokens whose keys/values are in the slot's cache
  int32_t next = 0;              // the latest sampled token, run in the next step
  GenerationStats stats;
  Clock::time_point submitted = Clock::now();
  Clock::time_point first_token;
  int SchedulerStats::*counted_in = nullptr;  // &SchedulerStats::prefilling or decoding, as last counted
  bool ended = false;
};

BatchScheduler::BatchScheduler(Model& model, int token_budget, std::function<void(const GenerationStats&)> on_generation)
    : model_(model), token_budget_(token_budget), on_generation_(std::move(on_generation)),
      activations_(model.NewActivations()) {
  Check(token_budget >= 1, "--batch-size", "must be at least 1");
  loop_ = std::thread([this] { Loop(); });
}

BatchScheduler::~BatchScheduler() { Stop(); }

std::shared_ptr<CompletionHandle> BatchScheduler::Submit(std::unique_ptr<SlotPool::Lease> lease, CompletionJob job) {
  Check(lease != nullptr, "server", "no slot");
  const int ctx = lease->cache().capacity();
  const int vocab = model_.config().vocab;
  Check(!job.prompt.empty(), "prompt", "is empty");
  Check(static_cast<int>(job.prompt.size()) < ctx, "prompt",
        std::to_string(job.prompt.size()) + " tokens do not fit the context of " + std::to_string(ctx) + " tokens");
  for (int32_t id : job.prompt)
    Check(id >= 0 && id < vocab, "prompt",
          "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  Check(job.params.max_tokens >= 1, "max_tokens", "must be at least 1");
  job.params.sampling.Validate();

  auto seq = std::make_unique<Sequence>(model_, std::move(lease), std::move(job));
  const std::vector<int32_t>& prompt = seq->job.prompt;  // job is moved from
  // Keep the longest prefix the slot already holds, but always run the last
  // prompt token: its logits are what the first sample needs.
  std::vector<int32_t>& cached = seq->lease->cached_tokens();
  size_t keep = 0;
  while (keep < cached.size() && keep + 1 < prompt.size() && cached[keep] == prompt[keep]) ++keep;
  cached.resize(keep);
  seq->prompt_done = keep;
  seq->stats.n_prompt = static_cast<int>(prompt.size());
  seq->stats.n_prompt_eval = static_cast<int>(prompt.size() - keep);

  std::shared_ptr<CompletionHandle> handle = seq->handle;
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) {
    lock.unlock();
    End(*seq, false, true);
    return handle;
  }
  incoming_.push_back(std::move(seq));
  lock.unlock();
  cv_.notify_all();
  return handle;
}

void BatchScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::lock_guard<std::mutex> join_lock(join_mu_);
  if (loop_.joinable()) loop_.join();
}

SchedulerStats BatchScheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats s = stats_;
  s.prefilling += static_cast<int>(incoming_.size());
  return s;
}

void BatchScheduler::Loop() {
  std::vector<std::unique_ptr<Sequence>> active;  // in arrival order: PlanStep serves the oldest prompt first
  for (;;) {
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !incoming_.empty() || !active.empty(); });
      for (std::unique_ptr<Sequence>& s : incoming_) active.push_back(std::move(s));
      incoming_.clear();
      CountLocked(active);
      stop = stopping_;
    }
    for (std::unique_ptr<Sequence>& s : active)
      if (stop || s->handle->cancelled()) End(*s, false, stop);
    std::erase_if(active, [](const std::unique_ptr<Sequence>& s) { return s->ended; });
    if (!active.empty()) {
      try {
        Step(active);
      } catch (...) {
        // Not a forward pass error (those fail only their request): nothing
        // tells which request caused it, so every running one is failed
        // rather than the loop dying with their clients waiting.
        for (std::unique_ptr<Sequence>& s : active)
          if (!s->ended) Abort(*s, std::current_exception());
      }
      std::erase_if(active, [](const std::unique_ptr<Sequence>& s) { return s->ended; });
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      CountLocked(active);
    }
    if (stop) return;
  }
}

void BatchScheduler::Step(std::vector<std::unique_ptr<Sequence>>& active) {
  std::vector<SequenceDemand> demands;  // [active]
  for (const std::unique_ptr<Sequence>& s : active)
    demands.push_back({s->prefilling() ? static_cast<int>(s->job.prompt.size() - s->prompt_done) : 1,
                       !s->prefilling()});
  const std::vector<StepSlice> plan = PlanStep(demands, token_budget_);
  if (plan.empty()) return;
  std::vector<BatchItem> items;  // [plan]
  std::vector<Sequence*> owners;  // [plan]
  int tokens = 0;
  for (const StepSlice& slice : plan) {
    Sequence& s = *active[slice.sequence];
    const std::span<const int32_t> run = s.prefilling()
                                             ? std::span<const int32_t>(s.job.prompt).subspan(s.prompt_done, slice.n_tokens)
                                             : std::span<const int32_t>(&s.next, 1);
    items.push_back({run, s.lease->cache(), static_cast<int>(s.lease->cached_tokens().size()), slice.samples ? 1 : 0});
    owners.push_back(&s);
    tokens += slice.n_tokens;
  }
  const std::vector<float> logits = Forward(items, owners);  // [items with n_logits 1][vocab]
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.RecordStep(static_cast<int>(items.size()), tokens);
  }
  const size_t vocab = static_cast<size_t>(model_.config().vocab);
  size_t row = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    Sequence& s = *owners[i];
    const bool samples = items[i].n_logits == 1;
    const std::span<const float> own = samples ? std::span<const float>(logits).subspan(row * vocab, vocab)
                                               : std::span<const float>();
    if (samples) ++row;
    if (s.ended) continue;  // its forward pass failed
    std::vector<int32_t>& cached = s.lease->cached_tokens();
    cached.insert(cached.end(), items[i].tokens.begin(), items[i].tokens.end());
    if (s.prefilling()) {
      s.prompt_done += items[i].tokens.size();
      if (!s.prefilling()) s.stats.prompt_ms = MsSince(s.submitted);
    }
    if (samples) Sample(s, own);
  }
}

std::vector<float> BatchScheduler::Forward(std::span<const BatchItem> items, std::span<Sequence* const> owners) {
  try {
    return model_.ForwardBatch(items, activations_.get());
  } catch (const std::exception&) {
    // One request's bad step must not fail the others: run each alone, and
    // fail only those that fail alone. Their logits rows stay zero, unread.
    const size_t vocab = static_cast<size_t>(model_.config().vocab);
    size_t rows = 0;
    for (const BatchItem& item : items) rows += static_cast<size_t>(item.n_logits);
    std::vector<float> logits(rows * vocab);
    size_t row = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      try {
        const std::vector<float> one = model_.ForwardBatch(items.subspan(i, 1), activations_.get());
        std::copy(one.begin(), one.end(), logits.begin() + static_cast<std::ptrdiff_t>(row * vocab));
      } catch (...) {
        Abort(*owners[i], std::current_exception());
      }
      row += static_cast<size_t>(items[i].n_logits);
    }
    return logits;
  }
}

void BatchScheduler::Sample(Sequence& s, std::span<const float> logits) {
  const int32_t id = s.sampler.Sample(logits, s.history);
  s.history.push_back(id);
  GenerationStats& st = s.stats;
  if (st.n_generated == 0) {
    st.ttft_ms = MsSince(s.submitted);
    s.first_token = Clock::now();
  }
  ++st.n_generated;
  s.handle->Emit(s.text.Push(id));
  const bool end_of_turn = !s.job.params.ignore_eos && model_.IsEndOfGeneration(id);
  if (s.text.stopped() || end_of_turn) return End(s, false, false);
  const bool context_full = static_cast<int>(s.lease->cached_tokens().size()) >= s.lease->cache().capacity();
  if (st.n_generated == s.job.params.max_tokens || context_full) return End(s, true, false);
  s.next = id;
}

void BatchScheduler::End(Sequence& s, bool hit_limit, bool interrupted) {
  if (!interrupted && !s.handle->cancelled()) s.handle->Emit(s.text.Flush());
  GenerationStats& st = s.stats;
  st.gen_ms = st.n_generated > 1 ? MsSince(s.first_token) : 0.0;
  CompletionOutcome out;
  out.finish_reason = s.text.FinishReason(hit_limit);
  out.interrupted = interrupted;
  out.stats = st;
  s.lease.reset();  // the slot is free, and no longer counted, before the client hears the end
  Uncount(s);
  if (on_generation_) on_generation_(st);
  s.handle->Finish(std::move(out));
  s.ended = true;
}

void BatchScheduler::Abort(Sequence& s, std::exception_ptr error) {
  s.lease.reset();
  Uncount(s);
  s.handle->Fail(std::move(error));
  s.ended = true;
}

void BatchScheduler::CountLocked(const std::vector<std::unique_ptr<Sequence>>& active) {
  stats_.prefilling = 0;
  stats_.decoding = 0;
  for (const std::unique_ptr<Sequence>& s : active) {
    if (s->ended) continue;
    s->counted_in = s->prefilling() ? &SchedulerStats::prefilling : &SchedulerStats::decoding;
    ++(stats_.*s->counted_in);
  }
}

void BatchScheduler::Uncount(Sequence& s) {
  if (s.counted_in == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  --(stats_.*s.counted_in);
  s.counted_in = nullptr;
}

}  // namespace bitnet::server
