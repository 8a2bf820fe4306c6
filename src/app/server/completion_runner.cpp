#include "app/server/completion_runner.h"

#include "app/server/stop_matcher.h"

namespace bitnet::server {

CompletionOutcome RunCompletion(const Model& model, Generator& generator, std::span<const int32_t> prompt,
                                const Generator::Params& params, const std::vector<std::string>& stop,
                                const std::function<bool(const std::string&)>& on_text,
                                const std::atomic<bool>* cancel) {
  CompletionOutcome out;
  TextStream stream(model);
  StopMatcher matcher(stop);
  auto emit = [&](const std::string& delta) {
    if (delta.empty() || out.client_gone) return !out.client_gone;
    out.text += delta;
    if (on_text && !on_text(delta)) out.client_gone = true;
    return !out.client_gone;
  };
  const GenerationResult result = generator.Run(prompt, params, [&](int32_t id) {
    if (!emit(matcher.Push(stream.Push(id)))) return false;
    if (matcher.stopped()) return false;
    if (cancel != nullptr && cancel->load()) {
      out.interrupted = true;
      return false;
    }
    return true;
  });
  if (!matcher.stopped() && !out.client_gone) {
    emit(matcher.Push(stream.Flush()));
    emit(matcher.Flush());
  }
  out.stats = result.stats;
  const bool hit_limit = result.finish == FinishReason::kLength || result.finish == FinishReason::kContextFull;
  out.finish_reason = hit_limit && !matcher.stopped() ? "length" : "stop";
  return out;
}

}  // namespace bitnet::server
