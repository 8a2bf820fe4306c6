#include "app/server/api_error.h"

#include <nlohmann/json.hpp>

namespace bitnet::server {

std::string ErrorBody(const ApiError& e) {
  nlohmann::ordered_json error;
  error["message"] = e.what();
  error["type"] = e.type();
  error["param"] = e.param().empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.param());
  error["code"] = e.code().empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.code());
  nlohmann::ordered_json body;
  body["error"] = std::move(error);
  // replace: a message may quote client bytes that are not valid UTF-8.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace bitnet::server
