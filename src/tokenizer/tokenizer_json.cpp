// Tokenizer::FromJsonFile: Hugging Face tokenizer.json -> the GGUF-form vocabulary Build() takes.
#include <nlohmann/json.hpp>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace bitnet {
namespace {

using nlohmann::json;

// Ids past this are surely a corrupt file, and would otherwise size a huge vector.
constexpr int64_t kMaxTokenId = 1 << 24;

bool UsesLlama3Split(const json& pre_tokenizer) {
  if (!pre_tokenizer.is_object()) return false;
  const auto type = pre_tokenizer.value("type", std::string());
  if (type == "Sequence") {
    auto it = pre_tokenizer.find("pretokenizers");
    if (it == pre_tokenizer.end() || !it->is_array()) return false;
    bool found = false;
    for (const json& step : *it) {
      const auto step_type = step.is_object() ? step.value("type", std::string()) : std::string();
      if (step_type == "Split") {
        if (!UsesLlama3Split(step)) return false;
        found = true;
      } else if (step_type == "ByteLevel") {
        // Byte-level with its own regex would split a second time, differently.
        if (step.value("use_regex", true)) return false;
      } else {
        return false;
      }
    }
    return found;
  }
  if (type != "Split") return false;
  auto pattern = pre_tokenizer.find("pattern");
  if (pattern == pre_tokenizer.end() || !pattern->is_object()) return false;
  auto regex = pattern->find("Regex");
  return regex != pattern->end() && regex->is_string() &&
         regex->get_ref<const std::string&>() == kLlama3PreTokenizerPattern &&
         pre_tokenizer.value("behavior", std::string()) == "Isolated" && !pre_tokenizer.value("invert", false);
}

int32_t TokenId(const json& value, const std::string& where) {
  if (!value.is_number_integer()) throw Error(where + ": token id is not an integer");
  const auto id = value.get<int64_t>();
  if (id < 0 || id >= kMaxTokenId) throw Error(where + ": token id " + std::to_string(id) + " out of range");
  return static_cast<int32_t>(id);
}

}  // namespace

Tokenizer Tokenizer::FromJsonFile(const std::string& path) {
  json root;
  {
    MappedFile file(path);
    const char* begin = reinterpret_cast<const char*>(file.data());
    try {
      root = json::parse(begin, begin + file.size());
    } catch (const json::exception& e) {
      throw Error(path + ": not valid JSON: " + e.what());
    }
  }
  if (!root.is_object()) throw Error(path + ": top level is not a JSON object");

  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) throw Error(path + ": missing object field model");
  const json& model = *model_it;
  if (auto type = model.find("type"); type != model.end() && *type != "BPE") {
    throw Error(path + ": model.type: only BPE is supported, got " + type->dump());
  }
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) throw Error(path + ": missing object field model.vocab");
  auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array()) throw Error(path + ": missing array field model.merges");
  bool ignore_merges = false;
  if (auto it = model.find("ignore_merges"); it != model.end() && !it->is_null()) {
    if (!it->is_boolean()) throw Error(path + ": model.ignore_merges is not a boolean");
    ignore_merges = it->get<bool>();
  }
  // Other normalizers or pre-tokenizers would change every token boundary; refusing them beats
  // silently producing different ids.
  if (auto it = root.find("normalizer"); it != root.end() && !it->is_null()) {
    throw Error(path + ": normalizer: not supported (only Llama 3 style tokenizers, which have none)");
  }
  if (auto it = root.find("pre_tokenizer"); it == root.end() || !UsesLlama3Split(*it)) {
    throw Error(path + ": pre_tokenizer: only the Llama 3 regex split followed by byte-level is supported");
  }

  struct Entry {
    std::string text;
    int32_t type;
    bool set = false;
  };
  std::vector<Entry> entries;
  auto place = [&](int32_t id, std::string text, int32_t type, bool may_replace, const std::string& where) {
    if (static_cast<size_t>(id) >= entries.size()) entries.resize(static_cast<size_t>(id) + 1);
    if (entries[id].set && !may_replace) throw Error(where + ": id " + std::to_string(id) + " appears twice");
    entries[id] = Entry{std::move(text), type, true};
  };
  entries.reserve(vocab_it->size() + 256);
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    place(TokenId(it.value(), path + ": model.vocab[\"" + it.key() + "\"]"), it.key(), kTokenNormal, false,
          path + ": model.vocab");
  }
  if (auto added_it = root.find("added_tokens"); added_it != root.end() && !added_it->is_null()) {
    if (!added_it->is_array()) throw Error(path + ": added_tokens is not an array");
    for (size_t i = 0; i < added_it->size(); ++i) {
      const json& added = (*added_it)[i];
      const std::string where = path + ": added_tokens[" + std::to_string(i) + "]";
      if (!added.is_object()) throw Error(where + ": not an object");
      auto content = added.find("content");
      auto id = added.find("id");
      if (content == added.end() || !content->is_string()) throw Error(where + ": missing string field content");
      if (id == added.end()) throw Error(where + ": missing field id");
      const bool special = added.value("special", false);
      // An added token may restate a vocabulary entry; it then becomes an added token under that id.
      place(TokenId(*id, where + ".id"), content->get<std::string>(), special ? kTokenControl : kTokenUserDefined,
            true, where);
    }
  }

  std::vector<std::string> tokens(entries.size());
  std::vector<int32_t> types(entries.size());
  for (size_t id = 0; id < entries.size(); ++id) {
    if (!entries[id].set) throw Error(path + ": model.vocab: no token has id " + std::to_string(id));
    tokens[id] = std::move(entries[id].text);
    types[id] = entries[id].type;
  }

  const json& merges_json = *merges_it;
  std::vector<std::string> merges;
  merges.reserve(merges_json.size());
  for (size_t i = 0; i < merges_json.size(); ++i) {
    const json& merge = merges_json[i];
    // Older files write "left right"; newer ones ["left", "right"].
    if (merge.is_string()) {
      merges.push_back(merge.get<std::string>());
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      merges.push_back(merge[0].get<std::string>() + " " + merge[1].get<std::string>());
    } else {
      throw Error(path + ": model.merges[" + std::to_string(i) + "]: expected \"left right\" or [left, right]");
    }
  }
  root = json();  // the DOM is large; free it before building the tables

  return Build(std::move(tokens), std::move(merges), std::move(types), ignore_merges, path, "model.vocab",
               "model.merges");
}

}  // namespace bitnet
