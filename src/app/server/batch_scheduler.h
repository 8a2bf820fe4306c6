// Continuous batching, the step loop (issue 11 item 3; not yet wired into
// `bitnet serve`): every Step() takes the next token of each decoding slot
// plus chunks of waiting prompts, up to a per-step token budget (chunked
// prefill), runs them as one Model::ForwardBatch, and samples each slot with
// its own parameters. Requests join between steps (Submit) and leave when
// they finish or their on_token returns false. A slot keeps its cached tokens
// after a request, so a new prompt sharing a prefix runs only its new tokens.
#pragma once
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "bitnet/bitnet.h"

namespace bitnet::server {

class BatchScheduler {
 public:
  struct Request {
    std::vector<int32_t> prompt;
    Generator::Params params;
    std::function<bool(int32_t)> on_token;               // false: stop (a dropped client)
    std::function<void(const GenerationResult&)> on_done;  // once, when the request leaves
  };
  struct StepStats {
    int tokens = 0;     // tokens in the step's batch
    int sequences = 0;  // sequences in it
    int queued = 0;     // requests still waiting for a slot after it
  };

  // batch_tokens: the most tokens one step runs (--batch-size); at least 1.
  BatchScheduler(Model& model, int n_slots, int context_length, int batch_tokens);
  ~BatchScheduler();

  // Throws Error if the prompt is empty or does not fit the context.
  void Submit(Request request);
  // Runs one step; returns false (and does nothing) when no request is active or waiting.
  bool Step();
  const StepStats& last_step() const { return last_step_; }

 private:
  struct Slot;
  void Admit();
  void Finish(Slot& slot, FinishReason reason);

  Model& model_;
  const int context_length_;
  const int batch_tokens_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::deque<Request> queue_;
  std::unique_ptr<Activations> activations_;
  StepStats last_step_;
};

}  // namespace bitnet::server
