#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/byte_unicode.h"
#include "tokenizer/tokenizer_data.h"
#include "util/error.h"

namespace bitnet {

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerData> data) : data_(std::move(data)) {}

Tokenizer Tokenizer::FromVocab(std::vector<std::string> tokens, std::vector<std::string> merges,
                               std::vector<int32_t> token_types, const std::string& source_name) {
  return Build(std::move(tokens), std::move(merges), std::move(token_types), /*ignore_merges=*/true,
               source_name, "tokenizer.ggml.tokens", "tokenizer.ggml.merges");
}

Tokenizer Tokenizer::Build(std::vector<std::string> tokens, std::vector<std::string> merges,
                           std::vector<int32_t> token_types, bool ignore_merges, const std::string& source_name,
                           const std::string& tokens_field, const std::string& merges_field) {
  if (tokens.empty()) throw Error(source_name + ": " + tokens_field + ": the vocabulary is empty");
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) {
    throw Error(source_name + ": " + tokens_field + ": too many tokens");
  }
  if (token_types.empty()) token_types.assign(tokens.size(), kTokenNormal);
  if (token_types.size() != tokens.size()) {
    throw Error(source_name + ": token types: " + std::to_string(token_types.size()) + " entries for " +
                std::to_string(tokens.size()) + " tokens");
  }

  auto data = std::make_shared<TokenizerData>();
  data->source_name = source_name;
  data->ignore_merges = ignore_merges;
  const size_t n = tokens.size();

  std::vector<bool> is_added(n);
  data->token_bytes.resize(n);
  for (size_t id = 0; id < n; ++id) {
    const int32_t type = token_types[id];
    is_added[id] = type == kTokenControl || type == kTokenUserDefined;
    if (is_added[id]) {
      data->token_bytes[id] = tokens[id];
    } else if (auto bytes = ByteLevelToBytes(tokens[id])) {
      data->token_bytes[id] = std::move(*bytes);
    } else {
      // Hugging Face's byte-level decoder falls back to the token's own UTF-8 when a character is not
      // a byte spelling; decoding does the same.
      data->token_bytes[id] = tokens[id];
    }
  }
  data->bpe = BpeModel(tokens, data->token_bytes, is_added, merges, ignore_merges,
                       source_name + ": " + merges_field);

  for (size_t id = 0; id < n; ++id) {
    if (!is_added[id] || tokens[id].empty()) continue;
    const auto id32 = static_cast<int32_t>(id);
    data->added.push_back({tokens[id], id32, token_types[id] == kTokenControl});
    data->added_id_of_text.emplace(tokens[id], id32);
  }
  for (uint32_t i = 0; i < data->added.size(); ++i) {
    data->added_by_first_byte[static_cast<uint8_t>(data->added[i].text[0])].push_back(i);
  }
  for (auto& bucket : data->added_by_first_byte) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
      return data->added[a].text.size() > data->added[b].text.size();
    });
  }
  auto find_added = [&](const char* text) {
    auto it = data->added_id_of_text.find(text);
    return it == data->added_id_of_text.end() ? -1 : it->second;
  };
  data->bos_id = find_added("<|begin_of_text|>");
  data->eos_id = find_added("<|end_of_text|>");
  data->eot_id = find_added("<|eot_id|>");

  data->tokens = std::move(tokens);
  data->merges = std::move(merges);
  data->token_types = std::move(token_types);
  return Tokenizer(std::move(data));
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool parse_special) const {
  const TokenizerData& d = *data_;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<std::string_view> pieces;
  BpeScratch scratch;
  auto encode_plain = [&](std::string_view segment) {
    pieces.clear();
    d.pretokenizer.Split(segment, pieces);
    for (std::string_view piece : pieces) d.bpe.EncodePiece(piece, ids, scratch);
  };

  size_t segment_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto& bucket = d.added_by_first_byte[static_cast<uint8_t>(text[i])];
    for (uint32_t index : bucket) {
      const AddedToken& token = d.added[index];
      if (token.control && !parse_special) continue;
      if (text.substr(i, token.text.size()) != token.text) continue;
      encode_plain(text.substr(segment_start, i - segment_start));
      ids.push_back(token.id);
      i += token.text.size() - 1;
      segment_start = i + 1;
      break;
    }
  }
  encode_plain(text.substr(segment_start));
  return ids;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  const auto& bytes = data_->token_bytes;
  size_t total = 0;
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= bytes.size()) {
      throw Error(data_->source_name + ": token id " + std::to_string(id) + " is outside [0, " +
                  std::to_string(bytes.size()) + ")");
    }
    total += bytes[id].size();
  }
  std::string text;
  text.reserve(total);
  for (int32_t id : ids) text += bytes[id];
  return text;
}

std::string Tokenizer::TokenBytes(int32_t id) const {
  const auto& bytes = data_->token_bytes;
  if (id < 0 || static_cast<size_t>(id) >= bytes.size()) {
    throw Error(data_->source_name + ": token id " + std::to_string(id) + " is outside [0, " +
                std::to_string(bytes.size()) + ")");
  }
  return bytes[id];
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(data_->tokens.size()); }

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < data_->token_types.size() &&
         data_->token_types[id] == kTokenControl;
}

std::optional<int32_t> Tokenizer::SpecialId(std::string_view text) const {
  auto it = data_->added_id_of_text.find(std::string(text));
  if (it == data_->added_id_of_text.end()) return std::nullopt;
  return it->second;
}

int32_t Tokenizer::bos_id() const { return data_->bos_id; }
int32_t Tokenizer::eos_id() const { return data_->eos_id; }
int32_t Tokenizer::eot_id() const { return data_->eot_id; }
const std::vector<std::string>& Tokenizer::tokens() const { return data_->tokens; }
const std::vector<std::string>& Tokenizer::merges() const { return data_->merges; }
const std::vector<int32_t>& Tokenizer::token_types() const { return data_->token_types; }
bool Tokenizer::ignore_merges() const { return data_->ignore_merges; }

}  // namespace bitnet
