// Finds stop strings in streamed text that arrives in arbitrary pieces (one
// token's worth at a time), so a stop string split across tokens is still
// found. Text that could be the start of a stop string is held back until the
// following text decides it; the stop string itself is never released.
#pragma once
#include <string>
#include <vector>

namespace bitnet::server {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds text; returns the text that is now certain to precede any stop
  // string. After a match, returns the text before it and then nothing more.
  std::string Push(const std::string& text);
  // The held-back text, once no more text is coming (empty after a match).
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace bitnet::server
