#include "app/server/batch_scheduler.h"

#include <algorithm>
#include <optional>

#include "util/error.h"

namespace bitnet::server {

struct BatchScheduler::Slot {
  std::unique_ptr<KvCache> cache;
  std::vector<int32_t> cached;  // tokens whose keys/values are in cache
  std::optional<Request> request;
  std::unique_ptr<Sampler> sampler;
  std::vector<int32_t> history;  // prompt + generated: the sampler's penalty window
  size_t prompt_done = 0;        // prompt tokens in the cache
  GenerationResult result;
  bool active() const { return request.has_value(); }
  bool prefilling() const { return prompt_done < request->prompt.size(); }
};

BatchScheduler::BatchScheduler(Model& model, int n_slots, int context_length, int batch_tokens)
    : model_(model), context_length_(context_length), batch_tokens_(std::max(1, batch_tokens)),
      activations_(model.NewActivations()) {
  Check(n_slots >= 1, "--parallel", "needs at least one slot");
  for (int i = 0; i < n_slots; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->cache = model.NewCache(context_length);
  }
}

BatchScheduler::~BatchScheduler() = default;

void BatchScheduler::Submit(Request request) {
  Check(!request.prompt.empty(), "prompt", "is empty");
  Check(static_cast<int>(request.prompt.size()) < context_length_, "prompt",
        std::to_string(request.prompt.size()) + " tokens do not fit the context of " +
            std::to_string(context_length_) + " tokens");
  queue_.push_back(std::move(request));
}

// Waiting requests take free slots in arrival order, each the free slot
// whose cached tokens share the longest prefix with its prompt.
void BatchScheduler::Admit() {
  while (!queue_.empty()) {
    Request& next = queue_.front();
    Slot* best = nullptr;
    size_t best_keep = 0;
    for (auto& slot : slots_) {
      if (slot->active()) continue;
      // Always run at least the last prompt token: its logits give the first sample.
      size_t keep = 0;
      while (keep < slot->cached.size() && keep + 1 < next.prompt.size() && slot->cached[keep] == next.prompt[keep])
        ++keep;
      if (best == nullptr || keep > best_keep) best = slot.get(), best_keep = keep;
    }
    if (best == nullptr) return;
    best->cached.resize(best_keep);
    best->prompt_done = best_keep;
    best->sampler = std::make_unique<Sampler>(next.params.sampling);
    best->history = next.prompt;
    best->result = {};
    best->result.stats.n_prompt = static_cast<int>(next.prompt.size());
    best->result.stats.n_prompt_eval = static_cast<int>(next.prompt.size() - best_keep);
    best->request = std::move(next);
    queue_.pop_front();
  }
}

void BatchScheduler::Finish(Slot& slot, FinishReason reason) {
  slot.result.finish = reason;
  if (slot.request->on_done) slot.request->on_done(slot.result);
  slot.request.reset();
}

bool BatchScheduler::Step() {
  Admit();
  // Decoding slots first (one token each), then prompt chunks while the budget lasts.
  std::vector<Slot*> in_batch;
  std::vector<BatchItem> batch;
  int budget = batch_tokens_;
  for (auto& slot : slots_) {
    if (!slot->active() || slot->prefilling() || budget == 0) continue;
    batch.push_back({std::span<const int32_t>(&slot->history.back(), 1), *slot->cache,
                     static_cast<int>(slot->cached.size()), 1});
    in_batch.push_back(slot.get());
    --budget;
  }
  for (auto& slot : slots_) {
    if (!slot->active() || !slot->prefilling() || budget == 0) continue;
    const std::span<const int32_t> rest = std::span<const int32_t>(slot->request->prompt).subspan(slot->prompt_done);
    const int chunk = std::min(budget, static_cast<int>(rest.size()));
    const bool last_chunk = chunk == static_cast<int>(rest.size());
    batch.push_back({rest.first(chunk), *slot->cache, static_cast<int>(slot->cached.size()), last_chunk ? 1 : 0});
    in_batch.push_back(slot.get());
    budget -= chunk;
  }
  last_step_ = {batch_tokens_ - budget, static_cast<int>(batch.size()), static_cast<int>(queue_.size())};
  if (batch.empty()) return false;

  const std::vector<float> logits = model_.ForwardBatch(batch, activations_.get());  // [wanted][vocab]
  const size_t vocab = model_.config().vocab;
  size_t next_logits = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    Slot& slot = *in_batch[i];
    slot.cached.insert(slot.cached.end(), batch[i].tokens.begin(), batch[i].tokens.end());
    if (slot.prefilling()) slot.prompt_done += batch[i].tokens.size();
    if (batch[i].n_logits == 0) continue;
    const std::span<const float> own(logits.data() + next_logits * vocab, vocab);
    ++next_logits;
    const Generator::Params& params = slot.request->params;
    const int32_t id = slot.sampler->Sample(own, slot.history);
    slot.result.ids.push_back(id);
    slot.history.push_back(id);
    slot.result.stats.n_generated = static_cast<int>(slot.result.ids.size());
    const bool end = !params.ignore_eos && model_.IsEndOfGeneration(id);
    if (slot.request->on_token && !slot.request->on_token(id))
      Finish(slot, FinishReason::kCancelled);
    else if (end)
      Finish(slot, FinishReason::kStop);
    else if (static_cast<int>(slot.result.ids.size()) >= params.max_tokens)
      Finish(slot, FinishReason::kLength);
    else if (static_cast<int>(slot.cached.size()) >= context_length_)
      Finish(slot, FinishReason::kContextFull);
  }
  return true;
}

}  // namespace bitnet::server
