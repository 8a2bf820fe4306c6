// The fields of /v1/chat/completions and /v1/completions this server acts
// on, validated. Fields that change nothing here (model, user, presence_penalty,
// ...) are ignored, as OpenAI clients send many of them.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bitnet/bitnet.h"

namespace bitnet::server {

struct CompletionRequest {
  bool chat = false;
  std::vector<ChatTurn> messages;       // chat
  std::string prompt;                   // completions, as text
  std::vector<int32_t> prompt_ids;      // completions, given as token ids (used as they are)
  std::optional<int> max_tokens;        // unset: up to the end of the context
  SamplingParams sampling;              // the model's defaults (generation_config) unless given
  std::vector<std::string> stop;        // at most 4, none empty
  bool stream = false;
  bool include_usage = false;           // stream_options.include_usage
};

// Both throw ApiError 400 naming the offending field.
// `defaults` are the model's own sampling defaults (Model::DefaultSampling); fields in the body override them.
CompletionRequest ParseChatRequest(const nlohmann::json& body, const SamplingParams& defaults = {});
CompletionRequest ParseCompletionRequest(const nlohmann::json& body, const SamplingParams& defaults = {});

}  // namespace bitnet::server
