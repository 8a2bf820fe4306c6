// Runs one request's generation on a slot: tokens become text through a
// TextStream, stop strings are cut out across token boundaries, and each
// piece of text that is final is handed to the caller as it appears.
#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "bitnet/bitnet.h"

namespace bitnet::server {

struct CompletionOutcome {
  std::string text;            // everything sent to on_text, joined
  std::string finish_reason;   // "stop" or "length"
  bool client_gone = false;    // on_text returned false
  bool interrupted = false;    // `cancel` was raised (server shutting down)
  GenerationStats stats;
};

// on_text(delta) returns false when the client is gone, which stops generation
// at once. `cancel` (may be null) is polled once per token.
CompletionOutcome RunCompletion(const Model& model, Generator& generator, std::span<const int32_t> prompt,
                                const Generator::Params& params, const std::vector<std::string>& stop,
                                const std::function<bool(const std::string&)>& on_text,
                                const std::atomic<bool>* cancel);

}  // namespace bitnet::server
