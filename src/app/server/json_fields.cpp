#include "app/server/json_fields.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "app/server/api_error.h"

namespace bitnet::server {
namespace {

[[noreturn]] void WrongType(const char* key, const char* expected) {
  throw ApiError(400, std::string("'") + key + "' must be " + expected, key, "invalid_type");
}

std::string FormatNumber(double x) {
  std::string s = std::to_string(x);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// Deeper nesting is refused before any tree is built: a body of brackets
// alone would otherwise cost tens of bytes of tree per byte of body.
constexpr int kMaxJsonDepth = 64;

void CheckNesting(const std::string& body) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        throw ApiError(400, "request body is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", "",
                       "invalid_json");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace

nlohmann::json ParseJsonObject(const std::string& body) {
  CheckNesting(body);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    throw ApiError(400, std::string("request body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "request body must be a JSON object", "", "invalid_json");
  return j;
}

bool IsGiven(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && !it->is_null();
}

std::optional<bool> OptionalBool(const nlohmann::json& object, const char* key) {
  if (!IsGiven(object, key)) return std::nullopt;
  const nlohmann::json& v = object.at(key);
  if (!v.is_boolean()) WrongType(key, "a boolean");
  return v.get<bool>();
}

std::optional<double> OptionalNumber(const nlohmann::json& object, const char* key, double min, double max) {
  if (!IsGiven(object, key)) return std::nullopt;
  const nlohmann::json& v = object.at(key);
  if (!v.is_number()) WrongType(key, "a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < min || x > max)
    throw ApiError(400, std::string("'") + key + "' must be between " + FormatNumber(min) + " and " +
                            FormatNumber(max) + ", got " + FormatNumber(x),
                   key, "invalid_value");
  return x;
}

std::optional<int64_t> OptionalInt(const nlohmann::json& object, const char* key, int64_t min, int64_t max) {
  if (!IsGiven(object, key)) return std::nullopt;
  const nlohmann::json& v = object.at(key);
  int64_t x = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    x = u > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    x = v.get<int64_t>();
  } else if (v.is_number_float() && std::isfinite(v.get<double>()) && std::floor(v.get<double>()) == v.get<double>() &&
             std::fabs(v.get<double>()) < 9e18) {
    // Some clients (and every JavaScript number) may write 16 as 16.0.
    x = static_cast<int64_t>(v.get<double>());
  } else {
    WrongType(key, "an integer");
  }
  if (x < min || x > max)
    throw ApiError(400, std::string("'") + key + "' must be between " + std::to_string(min) + " and " +
                            std::to_string(max) + ", got " + std::to_string(x),
                   key, "invalid_value");
  return x;
}

std::optional<std::string> OptionalString(const nlohmann::json& object, const char* key) {
  if (!IsGiven(object, key)) return std::nullopt;
  const nlohmann::json& v = object.at(key);
  if (!v.is_string()) WrongType(key, "a string");
  return v.get<std::string>();
}

std::string RequiredString(const nlohmann::json& object, const char* key) {
  std::optional<std::string> s = OptionalString(object, key);
  if (!s) throw ApiError(400, std::string("'") + key + "' is required", key, "missing_field");
  return *s;
}

}  // namespace bitnet::server
