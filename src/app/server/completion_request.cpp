#include "app/server/completion_request.h"

#include <nlohmann/json.hpp>
#include <random>

#include "app/server/api_error.h"
#include "app/server/json_fields.h"

namespace bitnet::server {
namespace {

constexpr int kMaxStopStrings = 4;

std::vector<std::string> ParseStop(const nlohmann::json& body) {
  std::vector<std::string> stop;
  if (!IsGiven(body, "stop")) return stop;
  const nlohmann::json& v = body.at("stop");
  auto add = [&](const nlohmann::json& s) {
    if (!s.is_string()) throw ApiError(400, "'stop' must be a string or an array of strings", "stop", "invalid_type");
    // An empty stop string would end every reply before it starts.
    if (!s.get_ref<const std::string&>().empty()) stop.push_back(s.get<std::string>());
  };
  if (v.is_array()) {
    if (v.size() > kMaxStopStrings)
      throw ApiError(400, "'stop' takes at most 4 strings, got " + std::to_string(v.size()), "stop", "invalid_value");
    for (const nlohmann::json& s : v) add(s);
  } else {
    add(v);
  }
  return stop;
}

// The options both endpoints share.
void ParseCommon(const nlohmann::json& body, CompletionRequest& r) {
  if (IsGiven(body, "model")) OptionalString(body, "model");  // only its type is checked: one model is served
  if (std::optional<int64_t> n = OptionalInt(body, "n", 1, 128); n && *n != 1)
    throw ApiError(400, "'n' must be 1: this server returns one choice per request", "n", "unsupported_value");
  // Chat takes logprobs as a boolean, completions as a count: only "none" is served.
  if (IsGiven(body, "logprobs")) {
    const nlohmann::json& lp = body.at("logprobs");
    if (!lp.is_boolean() && !lp.is_number())
      throw ApiError(400, "'logprobs' must be a boolean or a number", "logprobs", "invalid_type");
    if ((lp.is_boolean() && lp.get<bool>()) || (lp.is_number() && lp.get<double>() != 0))
      throw ApiError(400, "'logprobs' is not supported", "logprobs", "unsupported_value");
  }

  // max_completion_tokens is the newer name; when both are given it wins.
  std::optional<int64_t> max_tokens = OptionalInt(body, "max_tokens", INT64_MIN, INT64_MAX);
  const char* max_name = "max_tokens";
  if (std::optional<int64_t> m = OptionalInt(body, "max_completion_tokens", INT64_MIN, INT64_MAX)) {
    max_tokens = m;
    max_name = "max_completion_tokens";
  }
  if (max_tokens) {
    if (*max_tokens < 1)
      throw ApiError(400, std::string("'") + max_name + "' must be at least 1, got " + std::to_string(*max_tokens),
                     max_name, "invalid_value");
    r.max_tokens = static_cast<int>(std::min<int64_t>(*max_tokens, INT32_MAX));
  }

  if (std::optional<double> t = OptionalNumber(body, "temperature", 0.0, 2.0)) r.sampling.temperature = static_cast<float>(*t);
  if (std::optional<double> p = OptionalNumber(body, "top_p", 0.0, 1.0)) {
    // top_p 0 keeps only the most likely token: the sampler wants p > 0, so say it as greedy.
    if (*p == 0.0) r.sampling.temperature = 0.0f;
    else r.sampling.top_p = static_cast<float>(*p);
  }
  if (std::optional<int64_t> k = OptionalInt(body, "top_k", 0, 1 << 30)) r.sampling.top_k = static_cast<int>(*k);
  if (std::optional<double> p = OptionalNumber(body, "min_p", 0.0, 1.0)) r.sampling.min_p = static_cast<float>(*p);
  if (std::optional<double> p = OptionalNumber(body, "repeat_penalty", 1e-3, 100.0))
    r.sampling.repeat_penalty = static_cast<float>(*p);
  std::optional<int64_t> seed = OptionalInt(body, "seed", INT64_MIN, INT64_MAX);
  // No seed (or a negative one, llama.cpp's "random"): a fresh one per request.
  r.sampling.seed = seed && *seed >= 0 ? static_cast<uint64_t>(*seed) : static_cast<uint64_t>(std::random_device{}()) << 32 |
                                                                           std::random_device{}();

  r.stop = ParseStop(body);
  r.stream = OptionalBool(body, "stream").value_or(false);
  if (IsGiven(body, "stream_options")) {
    const nlohmann::json& so = body.at("stream_options");
    if (!so.is_object()) throw ApiError(400, "'stream_options' must be an object", "stream_options", "invalid_type");
    if (!r.stream)
      throw ApiError(400, "'stream_options' is only allowed when 'stream' is true", "stream_options", "invalid_value");
    try {
      r.include_usage = OptionalBool(so, "include_usage").value_or(false);
    } catch (const ApiError& e) {
      throw ApiError(400, std::string("stream_options.") + e.what(), "stream_options.include_usage", e.code());
    }
  }
}

// A message's content: a string, or an array of {"type":"text","text":...} parts joined.
std::string MessageContent(const nlohmann::json& message, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  auto it = message.find("content");
  if (it == message.end()) throw ApiError(400, "'" + where + "' is required", where, "missing_field");
  if (it->is_null()) return "";  // an assistant turn that only called tools
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) throw ApiError(400, "'" + where + "' must be a string or an array of content parts", where, "invalid_type");
  std::string text;
  for (size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& part = (*it)[i];
    const std::string pwhere = where + "[" + std::to_string(i) + "]";
    if (!part.is_object()) throw ApiError(400, "'" + pwhere + "' must be an object", pwhere, "invalid_type");
    auto type = part.find("type");
    if (type == part.end() || !type->is_string())
      throw ApiError(400, "'" + pwhere + ".type' must be a string", pwhere + ".type", "invalid_type");
    if (*type != "text")
      throw ApiError(400, "'" + pwhere + ".type' is '" + type->get<std::string>() + "': only text parts are supported",
                     pwhere + ".type", "unsupported_value");
    auto t = part.find("text");
    if (t == part.end() || !t->is_string())
      throw ApiError(400, "'" + pwhere + ".text' must be a string", pwhere + ".text", "invalid_type");
    text += t->get<std::string>();
  }
  return text;
}

}  // namespace

CompletionRequest ParseChatRequest(const nlohmann::json& body, const SamplingParams& defaults) {
  CompletionRequest r;
  r.sampling = defaults;
  r.chat = true;
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) throw ApiError(400, "'messages' is required", "messages", "missing_field");
  if (!it->is_array()) throw ApiError(400, "'messages' must be an array", "messages", "invalid_type");
  if (it->empty()) throw ApiError(400, "'messages' must not be empty", "messages", "invalid_value");
  for (size_t i = 0; i < it->size(); ++i) {
    const nlohmann::json& m = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw ApiError(400, "'" + where + "' must be an object", where, "invalid_type");
    auto role = m.find("role");
    if (role == m.end() || role->is_null()) throw ApiError(400, "'" + where + ".role' is required", where + ".role", "missing_field");
    if (!role->is_string()) throw ApiError(400, "'" + where + ".role' must be a string", where + ".role", "invalid_type");
    std::string name = role->get<std::string>();
    // OpenAI's newer name for the system role.
    if (name == "developer") name = "system";
    if (name != "system" && name != "user" && name != "assistant")
      throw ApiError(400, "'" + where + ".role' is '" + role->get<std::string>() + "': expected system, user or assistant",
                     where + ".role", "invalid_value");
    r.messages.push_back({name, MessageContent(m, i)});
  }
  ParseCommon(body, r);
  return r;
}

CompletionRequest ParseCompletionRequest(const nlohmann::json& body, const SamplingParams& defaults) {
  CompletionRequest r;
  r.sampling = defaults;
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw ApiError(400, "'prompt' is required", "prompt", "missing_field");
  const char* shape = "'prompt' must be a string, an array of one string, or an array of token ids";
  if (it->is_string()) {
    r.prompt = it->get<std::string>();
  } else if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    r.prompt = (*it)[0].get<std::string>();
  } else if (it->is_array() && !it->empty() && (*it)[0].is_number()) {
    for (const nlohmann::json& id : *it) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
        throw ApiError(400, shape, "prompt", "invalid_type");
      r.prompt_ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  } else if (it->is_array() && it->size() > 1) {
    throw ApiError(400, "'prompt' with several prompts is not supported: send one per request", "prompt",
                   "unsupported_value");
  } else {
    throw ApiError(400, shape, "prompt", "invalid_type");
  }
  ParseCommon(body, r);
  return r;
}

}  // namespace bitnet::server
