// One request's generated tokens as the text its client gets: tokens become
// text through a TextStream, stop strings are cut out across token
// boundaries, and only text that is final is released.
#pragma once
#include <string>
#include <vector>

#include "app/server/stop_matcher.h"
#include "bitnet/bitnet.h"

namespace bitnet::server {

struct CompletionOutcome {
  std::string text;            // everything the client was given, joined
  std::string finish_reason;   // "stop" or "length"
  bool client_gone = false;    // the client stopped taking text
  bool interrupted = false;    // the server is shutting down
  GenerationStats stats;
};

class CompletionText {
 public:
  CompletionText(const Model& model, std::vector<std::string> stop);
  // The text generated id `id` makes final (often empty: part of a UTF-8
  // character or of what may be a stop string). Nothing after a stop string.
  std::string Push(int32_t id);
  // Once no more tokens come: the text held back so far (empty after a stop).
  std::string Flush();
  bool stopped() const { return matcher_.stopped(); }
  // The OpenAI finish_reason: "length" when generation ran out of tokens or
  // context before anything else ended it, else "stop".
  std::string FinishReason(bool hit_limit) const { return hit_limit && !stopped() ? "length" : "stop"; }

 private:
  TextStream stream_;
  StopMatcher matcher_;
};

}  // namespace bitnet::server
