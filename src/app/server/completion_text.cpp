#include "app/server/completion_text.h"

namespace bitnet::server {

CompletionText::CompletionText(const Model& model, std::vector<std::string> stop)
    : stream_(model), matcher_(std::move(stop)) {}

std::string CompletionText::Push(int32_t id) {
  if (matcher_.stopped()) return "";
  return matcher_.Push(stream_.Push(id));
}

std::string CompletionText::Flush() {
  if (matcher_.stopped()) return "";
  std::string tail = matcher_.Push(stream_.Flush());
  return tail + matcher_.Flush();
}

}  // namespace bitnet::server
