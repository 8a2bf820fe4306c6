#include "app/server/openai_format.h"

#include <nlohmann/json.hpp>
#include <random>

namespace bitnet::server {
namespace {

using Json = nlohmann::ordered_json;

// Generated text may end inside a character that was cut by a stop string or
// the token limit; replace such bytes rather than failing the response.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

Json Head(const ResponseIdentity& who, const char* object) {
  Json j;
  j["id"] = who.id;
  j["object"] = object;
  j["created"] = who.created;
  j["model"] = who.model;
  j["system_fingerprint"] = nullptr;
  return j;
}

Json UsageJson(const Usage& u) {
  Json j;
  j["prompt_tokens"] = u.prompt_tokens;
  j["completion_tokens"] = u.completion_tokens;
  j["total_tokens"] = u.prompt_tokens + u.completion_tokens;
  return j;
}

Json OrNull(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

}  // namespace

std::string NewResponseId(const std::string& prefix) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(rng)];
  return id;
}

std::string ChatCompletionBody(const ResponseIdentity& who, const std::string& content,
                               const std::string& finish_reason, const Usage& usage) {
  Json j = Head(who, "chat.completion");
  Json choice;
  choice["index"] = 0;
  choice["message"] = {{"role", "assistant"}, {"content", content}};
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason;
  j["choices"] = Json::array({choice});
  j["usage"] = UsageJson(usage);
  return Dump(j);
}

std::string TextCompletionBody(const ResponseIdentity& who, const std::string& text, const std::string& finish_reason,
                               const Usage& usage) {
  Json j = Head(who, "text_completion");
  Json choice;
  choice["text"] = text;
  choice["index"] = 0;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason;
  j["choices"] = Json::array({choice});
  j["usage"] = UsageJson(usage);
  return Dump(j);
}

std::string ChatChunk(const ResponseIdentity& who, const std::optional<std::string>& role,
                      const std::optional<std::string>& content, const std::optional<std::string>& finish_reason,
                      bool with_usage_null) {
  Json j = Head(who, "chat.completion.chunk");
  Json delta = Json::object();
  if (role) delta["role"] = *role;
  if (content) delta["content"] = *content;
  Json choice;
  choice["index"] = 0;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = OrNull(finish_reason);
  j["choices"] = Json::array({choice});
  if (with_usage_null) j["usage"] = nullptr;
  return Dump(j);
}

std::string ChatUsageChunk(const ResponseIdentity& who, const Usage& usage) {
  Json j = Head(who, "chat.completion.chunk");
  j["choices"] = Json::array();
  j["usage"] = UsageJson(usage);
  return Dump(j);
}

std::string TextChunk(const ResponseIdentity& who, const std::string& text,
                      const std::optional<std::string>& finish_reason, bool with_usage_null) {
  Json j = Head(who, "text_completion");
  Json choice;
  choice["text"] = text;
  choice["index"] = 0;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = OrNull(finish_reason);
  j["choices"] = Json::array({choice});
  if (with_usage_null) j["usage"] = nullptr;
  return Dump(j);
}

std::string TextUsageChunk(const ResponseIdentity& who, const Usage& usage) {
  Json j = Head(who, "text_completion");
  j["choices"] = Json::array();
  j["usage"] = UsageJson(usage);
  return Dump(j);
}

std::string SseEvent(const std::string& json) { return "data: " + json + "\n\n"; }
std::string SseDone() { return "data: [DONE]\n\n"; }

}  // namespace bitnet::server
