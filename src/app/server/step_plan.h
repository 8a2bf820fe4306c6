// What one scheduler step runs: the next token of every decoding sequence,
// then prompt chunks of prefilling sequences, within a per-step token budget
// (--batch-size). A pure function, so the policy is testable without a model.
#pragma once
#include <span>
#include <vector>

namespace bitnet::server {

struct SequenceDemand {
  int pending = 0;        // tokens it still has to run before it can sample (decode: 1)
  bool decoding = false;  // its prompt is done: pending is its last sampled token
};

struct StepSlice {
  int sequence = 0;  // index into the demands
  int n_tokens = 0;  // its next n_tokens pending tokens
  bool samples = false;  // the slice ends its pending tokens: its last token's logits are sampled
};

// Decode tokens go first, in order (each costs one token of budget and keeps
// a stream going); the rest of the budget goes to prompts in order, the
// oldest first, so a new request's prompt starts in the very next step and
// its time to first token is its own prompt's, not the other streams'.
// Sequences with nothing pending get nothing. The slices' tokens never sum to
// more than budget (budget < 1 plans nothing).
std::vector<StepSlice> PlanStep(std::span<const SequenceDemand> demands, int budget);

}  // namespace bitnet::server
