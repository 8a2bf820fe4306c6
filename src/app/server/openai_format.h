// Response bodies in OpenAI's exact shapes: chat.completion,
// chat.completion.chunk, text_completion (whole and streamed), and the
// Server-Sent Events framing of the streamed ones.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace bitnet::server {

struct ResponseIdentity {
  std::string id;      // chatcmpl-... or cmpl-...
  int64_t created = 0; // Unix seconds
  std::string model;
};

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
};

// A fresh id: prefix + 24 random alphanumerics.
std::string NewResponseId(const std::string& prefix);

std::string ChatCompletionBody(const ResponseIdentity& who, const std::string& content,
                               const std::string& finish_reason, const Usage& usage);
std::string TextCompletionBody(const ResponseIdentity& who, const std::string& text, const std::string& finish_reason,
                               const Usage& usage);

// One streamed chunk. role: the first chat chunk's {"role":"assistant"};
// finish_reason: the last one's. with_usage_null: stream_options.include_usage
// asks for "usage": null on every chunk before the usage chunk.
std::string ChatChunk(const ResponseIdentity& who, const std::optional<std::string>& role,
                      const std::optional<std::string>& content, const std::optional<std::string>& finish_reason,
                      bool with_usage_null);
std::string ChatUsageChunk(const ResponseIdentity& who, const Usage& usage);
std::string TextChunk(const ResponseIdentity& who, const std::string& text,
                      const std::optional<std::string>& finish_reason, bool with_usage_null);
std::string TextUsageChunk(const ResponseIdentity& who, const Usage& usage);

// "data: <json>\n\n", and the terminator "data: [DONE]\n\n".
std::string SseEvent(const std::string& json);
std::string SseDone();

}  // namespace bitnet::server
