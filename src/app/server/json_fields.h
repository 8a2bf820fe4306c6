// Typed access to request fields: every wrong type or range is an ApiError
// 400 naming the field (its "param"), never an exception from the JSON
// library. A field that is absent or null counts as not given, because
// OpenAI clients send null for options they leave unset.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace bitnet::server {

// Parses a request body; malformed JSON or a non-object is a 400.
nlohmann::json ParseJsonObject(const std::string& body);

bool IsGiven(const nlohmann::json& object, const char* key);
std::optional<bool> OptionalBool(const nlohmann::json& object, const char* key);
std::optional<double> OptionalNumber(const nlohmann::json& object, const char* key, double min, double max);
std::optional<int64_t> OptionalInt(const nlohmann::json& object, const char* key, int64_t min, int64_t max);
std::optional<std::string> OptionalString(const nlohmann::json& object, const char* key);
std::string RequiredString(const nlohmann::json& object, const char* key);

}  // namespace bitnet::server
