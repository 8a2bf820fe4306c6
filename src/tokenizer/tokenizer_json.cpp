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

// Streams tokenizer.json: model.vocab and model.merges (nearly all of the 9 MB) go straight into
// vectors, and the rest is kept as a small DOM. A full DOM of the file took most of the load time.
class TokenizerJsonReader : public nlohmann::json_sax<json> {
 public:
  json rest;  // the document without model.vocab and model.merges
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::string> merges;
  bool saw_vocab = false;
  bool saw_merges = false;
  std::string error;  // why parsing stopped; empty for a syntax error (see syntax_error)
  std::string syntax_error;

  bool null() override { return Scalar(json(nullptr)); }
  bool boolean(bool value) override { return Scalar(json(value)); }
  bool number_integer(number_integer_t value) override { return Integer(value); }
  bool number_unsigned(number_unsigned_t value) override {
    return Integer(value > static_cast<number_unsigned_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(value));
  }
  bool number_float(number_float_t value, const string_t&) override { return Scalar(json(value)); }
  bool binary(binary_t&) override { return Fail("unexpected binary value"); }

  bool string(string_t& value) override {
    switch (Top()) {
      case Mode::kMerges: merges.push_back(std::move(value)); return true;
      case Mode::kMergePair: pair_.push_back(std::move(value)); return true;
      default: return Scalar(json(std::move(value)));
    }
  }

  bool key(string_t& value) override {
    key_ = std::move(value);
    return true;
  }

  bool start_object(std::size_t) override {
    if (Top() != Mode::kDom) return Fail(Where() + ": unexpected object");
    if (AtModelField("vocab")) {
      saw_vocab = true;
      frames_.push_back({Mode::kVocab, nullptr, "vocab"});
      return true;
    }
    json* node = Insert(json::object());
    frames_.push_back({Mode::kDom, node, ChildName()});
    return true;
  }

  bool start_array(std::size_t) override {
    switch (Top()) {
      case Mode::kMerges:
        pair_.clear();
        frames_.push_back({Mode::kMergePair, nullptr, ""});
        return true;
      case Mode::kDom:
        break;
      default:
        return Fail(Where() + ": unexpected array");
    }
    if (AtModelField("merges")) {
      saw_merges = true;
      frames_.push_back({Mode::kMerges, nullptr, "merges"});
      return true;
    }
    json* node = Insert(json::array());
    frames_.push_back({Mode::kDom, node, ChildName()});
    return true;
  }

  bool end_object() override {
    frames_.pop_back();
    return true;
  }

  bool end_array() override {
    const Mode mode = Top();
    frames_.pop_back();
    if (mode == Mode::kMergePair) {
      if (pair_.size() != 2) return Fail(Where() + ": expected \"left right\" or [left, right]");
      merges.push_back(pair_[0] + " " + pair_[1]);
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    syntax_error = e.what();
    return false;
  }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair };
  struct Frame {
    Mode mode;
    json* node;        // the container being filled, for kDom
    std::string name;  // the key this container sits under in its parent object
  };

  Mode Top() const { return frames_.empty() ? Mode::kDom : frames_.back().mode; }

  bool AtModelField(const char* field) const {
    return frames_.size() == 2 && frames_[1].name == "model" && frames_[1].node != nullptr &&
           frames_[1].node->is_object() && key_ == field;
  }

  std::string ChildName() const {
    return !frames_.empty() && frames_.back().node->is_object() ? key_ : std::string();
  }

  std::string Where() const {
    switch (Top()) {
      case Mode::kVocab: return "model.vocab[\"" + key_ + "\"]";
      case Mode::kMerges:
      case Mode::kMergePair: return "model.merges[" + std::to_string(merges.size()) + "]";
      default: return "document";
    }
  }

  bool Fail(std::string message) {
    error = std::move(message);
    return false;
  }

  bool Integer(int64_t value) {
    if (Top() != Mode::kVocab) return Scalar(json(value));
    if (value < 0 || value >= kMaxTokenId) {
      return Fail(Where() + ": token id " + std::to_string(value) + " out of range");
    }
    vocab.emplace_back(std::move(key_), static_cast<int32_t>(value));
    return true;
  }

  bool Scalar(json value) {
    switch (Top()) {
      case Mode::kVocab: return Fail(Where() + ": token id is not an integer");
      case Mode::kMerges:
      case Mode::kMergePair: return Fail(Where() + ": expected \"left right\" or [left, right]");
      case Mode::kDom: Insert(std::move(value)); return true;
    }
    return true;
  }

  // Places value in the open container (or as the document) and returns where it now lives. Only the
  // innermost container ever grows, so pointers to the open ones stay valid.
  json* Insert(json value) {
    if (frames_.empty()) {
      rest = std::move(value);
      return &rest;
    }
    json& parent = *frames_.back().node;
    if (parent.is_object()) {
      json& slot = parent[key_];
      slot = std::move(value);
      return &slot;
    }
    parent.push_back(std::move(value));
    return &parent.back();
  }

  std::vector<Frame> frames_;
  std::string key_;
  std::vector<std::string> pair_;
};

}  // namespace

Tokenizer Tokenizer::FromJsonFile(const std::string& path) {
  TokenizerJsonReader reader;
  {
    MappedFile file(path);
    const char* begin = reinterpret_cast<const char*>(file.data());
    bool complete;
    try {
      complete = json::sax_parse(begin, begin + file.size(), &reader);
    } catch (const json::exception& e) {
      throw Error(path + ": not valid JSON: " + e.what());
    }
    if (!complete) {
      if (!reader.error.empty()) throw Error(path + ": " + reader.error);
      throw Error(path + ": not valid JSON: " + reader.syntax_error);
    }
  }
  const json& root = reader.rest;
  if (!root.is_object()) throw Error(path + ": top level is not a JSON object");

  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) throw Error(path + ": missing object field model");
  const json& model = *model_it;
  if (auto type = model.find("type"); type != model.end() && *type != "BPE") {
    throw Error(path + ": model.type: only BPE is supported, got " + Printable(type->dump()));
  }
  if (!reader.saw_vocab) throw Error(path + ": missing object field model.vocab");
  if (!reader.saw_merges) throw Error(path + ": missing array field model.merges");
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
  entries.reserve(reader.vocab.size() + 256);
  for (auto& [text, id] : reader.vocab) place(id, std::move(text), kTokenNormal, false, path + ": model.vocab");
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

  return Build(std::move(tokens), std::move(reader.merges), std::move(types), ignore_merges, path, "model.vocab",
               "model.merges");
}

}  // namespace bitnet
