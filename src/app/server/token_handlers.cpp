// POST /tokenize and /detokenize in llama-server's shape.
#include <nlohmann/json.hpp>

#include "app/server/json_fields.h"
#include "app/server/server_impl.h"

namespace bitnet::server {

void HandleTokenize(Server::Impl& s, const httplib::Request& req, httplib::Response& res) {
  const nlohmann::json body = ParseJsonObject(req.body);
  const std::string content = RequiredString(body, "content");
  const bool add_special = OptionalBool(body, "add_special").value_or(false);
  // As llama-server: special-token text becomes special tokens unless told otherwise.
  const bool parse_special = OptionalBool(body, "parse_special").value_or(true);
  std::vector<int32_t> ids;
  if (add_special) ids.push_back(s.model->config().bos_id);
  const std::vector<int32_t> body_ids = s.model->Tokenize(content, parse_special);
  ids.insert(ids.end(), body_ids.begin(), body_ids.end());
  SendJson(res, 200, nlohmann::json{{"tokens", ids}}.dump());
}

void HandleDetokenize(Server::Impl& s, const httplib::Request& req, httplib::Response& res) {
  const nlohmann::json body = ParseJsonObject(req.body);
  auto it = body.find("tokens");
  if (it == body.end() || it->is_null()) throw ApiError(400, "'tokens' is required", "tokens", "missing_field");
  if (!it->is_array()) throw ApiError(400, "'tokens' must be an array of token ids", "tokens", "invalid_type");
  const int vocab = s.model->config().vocab;
  std::vector<int32_t> ids;
  for (const nlohmann::json& id : *it) {
    if (!id.is_number_integer())
      throw ApiError(400, "'tokens' must be an array of token ids", "tokens", "invalid_type");
    const int64_t v = id.get<int64_t>();
    if (v < 0 || v >= vocab)
      throw ApiError(400, "'tokens' holds " + std::to_string(v) + ", outside the vocabulary [0, " +
                              std::to_string(vocab) + ")",
                     "tokens", "invalid_value");
    ids.push_back(static_cast<int32_t>(v));
  }
  SendJson(res, 200,
           nlohmann::json{{"content", s.model->Detokenize(ids)}}.dump(-1, ' ', false,
                                                                      nlohmann::json::error_handler_t::replace));
}

}  // namespace bitnet::server
