#include "app/server/stop_matcher.h"

#include <algorithm>
#include <string_view>

namespace bitnet::server {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string StopMatcher::Push(const std::string& text) {
  if (stopped_) return "";
  held_ += text;
  // Text already released never needs searching again: any stop string that
  // started inside it would have made it a held-back prefix.
  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Hold back the longest tail of held_ that is a proper prefix of a stop string.
  size_t keep = 0;
  const std::string_view held(held_);
  for (const std::string& s : stops_) {
    for (size_t n = std::min(s.size() - 1, held.size()); n > keep; --n) {
      if (held.substr(held.size() - n) == std::string_view(s).substr(0, n)) {
        keep = n;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::Flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace bitnet::server
