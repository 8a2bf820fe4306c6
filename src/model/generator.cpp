#include <algorithm>
#include <chrono>
#include <cstdio>

#include "bitnet/bitnet.h"
#include "util/error.h"
#include "util/progress.h"

namespace bitnet {
namespace {

// A prompt longer than this shows progress on a terminal, run kProgressSlice
// tokens at a time (the forward pass's own chunk size, so no speed is lost).
constexpr size_t kProgressAbove = 256;
constexpr size_t kProgressSlice = 128;

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Generator::Generator(Model& model, int context_length) : model_(model), cache_(model.NewCache(context_length)) {}

Generator::~Generator() = default;

void Generator::Reset() { cached_.clear(); }
const std::vector<int32_t>& Generator::cached_tokens() const { return cached_; }
int Generator::context_length() const { return cache_->capacity(); }

GenerationResult Generator::Run(std::span<const int32_t> prompt, const Params& params,
                                const std::function<bool(int32_t)>& on_token) {
  Check(!prompt.empty(), "prompt", "is empty");
  const int ctx = cache_->capacity();
  Check(static_cast<int>(prompt.size()) < ctx, "prompt",
        std::to_string(prompt.size()) + " tokens do not fit the context of " + std::to_string(ctx) +
            " tokens (raise -c or /clear)");
  GenerationResult result;
  GenerationStats& st = result.stats;
  st.n_prompt = static_cast<int>(prompt.size());

  // Reuse the longest cached prefix, but always run at least the last prompt
  // token: its logits are what the first sample needs.
  size_t keep = 0;
  while (keep < cached_.size() && keep + 1 < prompt.size() && cached_[keep] == prompt[keep]) ++keep;
  cached_.resize(keep);
  std::span<const int32_t> fresh = prompt.subspan(keep);
  st.n_prompt_eval = static_cast<int>(fresh.size());

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits;
  if (fresh.size() > kProgressAbove && ProgressActive()) {
    // In slices, to show progress. The same numbers: attention reads every
    // position's keys back from the cache, and the rest works token by token.
    Progress progress("prompt", static_cast<int64_t>(fresh.size()));
    for (size_t begin = 0; begin < fresh.size(); begin += kProgressSlice) {
      const size_t len = std::min(kProgressSlice, fresh.size() - begin);
      const bool last = begin + len == fresh.size();  // only the last slice needs logits
      logits = model_.Forward(fresh.subspan(begin, len), *cache_, static_cast<int>(keep + begin), last ? 1 : 0);
      progress.Update(static_cast<int64_t>(begin + len));
    }
  } else {
    logits = model_.Forward(fresh, *cache_, static_cast<int>(keep), 1);
  }
  cached_.insert(cached_.end(), fresh.begin(), fresh.end());
  st.prompt_ms = MsSince(t0);

  Sampler sampler(params.sampling);
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  const auto t_gen = std::chrono::steady_clock::now();
  for (int i = 0; i < params.max_tokens; ++i) {
    const int32_t id = sampler.Sample(logits, history);
    if (i == 0) st.ttft_ms = MsSince(t0);
    result.ids.push_back(id);
    history.push_back(id);
    st.n_generated = static_cast<int>(result.ids.size());
    const bool end = !params.ignore_eos && model_.IsEndOfGeneration(id);
    if (on_token && !on_token(id)) {
      result.finish = FinishReason::kCancelled;
      break;
    }
    if (end) {
      result.finish = FinishReason::kStop;
      break;
    }
    if (i + 1 == params.max_tokens) break;  // kLength; no need to run the last token
    if (static_cast<int>(cached_.size()) >= ctx) {
      result.finish = FinishReason::kContextFull;
      break;
    }
    const int32_t one[1] = {id};
    logits = model_.Forward(one, *cache_, static_cast<int>(cached_.size()), 1);
    cached_.push_back(id);
  }
  st.gen_ms = st.n_generated > 1 ? MsSince(t_gen) - (st.ttft_ms - st.prompt_ms) : 0.0;
  return result;
}

std::string GenerationStats::Format() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "prompt eval: %d tokens (%d reused from cache) in %.1f ms, %.2f tokens/s\n"
                "generation:  %d tokens, %.2f tokens/s\n"
                "time to first token: %.1f ms\n",
                n_prompt_eval, n_prompt - n_prompt_eval, prompt_ms, prompt_tps(), n_generated,
                gen_tps(), ttft_ms);
  return buf;
}

}  // namespace bitnet
