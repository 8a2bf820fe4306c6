#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "tokenizer/byte_unicode.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "util/error.h"

namespace bitnet {
namespace {

using testing_util::RealTokenizer;
using testing_util::RealTokenizerPath;
using testing_util::TestDataDir;

struct Vector {
  std::string text;
  std::vector<int32_t> ids;
};

const std::vector<Vector>& ReferenceVectors() {
  static const std::vector<Vector> vectors = [] {
    const std::string path = TestDataDir() + "/tokenizer_vectors.jsonl";
    std::ifstream in(path);
    if (!in) throw Error(path + ": cannot open");
    std::vector<Vector> out;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line);
      out.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>()});
    }
    return out;
  }();
  return vectors;
}

void AppendUtf8(std::string& s, char32_t c) {
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Random text drawn from the kinds of characters that stress the pre-tokenizer: letters of several
// scripts, combining marks, emoji with modifiers, digit runs, apostrophes and Unicode whitespace runs.
std::string RandomUnicodeText(std::mt19937& rng, size_t chars) {
  struct Range {
    char32_t lo, hi;
  };
  static const Range kRanges[] = {
      {'a', 'z'},         {'A', 'Z'},         {'0', '9'},         {' ', ' '},         {'!', '/'},
      {'\'', '\''},       {'\t', '\r'},       {0xA0, 0xA0},       {0x2000, 0x200B},   {0x3000, 0x3000},
      {0x00C0, 0x024F},   {0x0300, 0x036F},   {0x0400, 0x04FF},   {0x0600, 0x06FF},   {0x0900, 0x097F},
      {0x3040, 0x30FF},   {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3},   {0x1F300, 0x1F6FF}, {0x1F3FB, 0x1F3FF},
      {0xFE00, 0xFE0F},   {0x200D, 0x200D},   {0xFF01, 0xFF5E},   {0x1D400, 0x1D7FF}, {0x0660, 0x0669},
      {0x180E, 0x180E},   {0x85, 0x85},       {0x2028, 0x2029},   {0x10000, 0x10FFFF},
  };
  std::uniform_int_distribution<size_t> pick(0, std::size(kRanges) - 1);
  std::string s;
  for (size_t i = 0; i < chars; ++i) {
    const Range r = kRanges[pick(rng)];
    std::uniform_int_distribution<uint32_t> cp(r.lo, r.hi);
    char32_t c = cp(rng);
    if (c >= 0xD800 && c <= 0xDFFF) c = 'x';
    // Runs make whitespace and digit handling (\s+(?!\S), \p{N}{1,3}) matter.
    const int repeat = (rng() % 4 == 0) ? 1 + static_cast<int>(rng() % 5) : 1;
    for (int k = 0; k < repeat; ++k) AppendUtf8(s, c);
  }
  return s;
}

TEST(TokenizerVectors, EncodeMatchesEveryReferenceVector) {
  const Tokenizer& tok = RealTokenizer();
  ASSERT_FALSE(ReferenceVectors().empty());
  for (size_t i = 0; i < ReferenceVectors().size(); ++i) {
    const Vector& v = ReferenceVectors()[i];
    EXPECT_EQ(tok.Encode(v.text, /*parse_special=*/true), v.ids) << "vector line " << i + 1 << ": " << v.text;
  }
}

TEST(TokenizerVectors, DecodeGivesBackTheTextByteForByte) {
  const Tokenizer& tok = RealTokenizer();
  for (const Vector& v : ReferenceVectors()) EXPECT_EQ(tok.Decode(v.ids), v.text);
}

TEST(TokenizerVectors, FromVocabOfTheExportedVocabularyEncodesIdentically) {
  const Tokenizer& json = RealTokenizer();
  const Tokenizer gguf = Tokenizer::FromVocab(json.tokens(), json.merges(), json.token_types(), "exported");
  EXPECT_EQ(gguf.vocab_size(), json.vocab_size());
  EXPECT_EQ(gguf.ignore_merges(), json.ignore_merges());
  EXPECT_EQ(gguf.eot_id(), json.eot_id());
  for (const Vector& v : ReferenceVectors()) {
    EXPECT_EQ(gguf.Encode(v.text, true), v.ids) << v.text;
    EXPECT_EQ(gguf.Encode(v.text, false), json.Encode(v.text, false)) << v.text;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 50; ++i) {
    const std::string text = RandomUnicodeText(rng, 40);
    EXPECT_EQ(gguf.Encode(text), json.Encode(text));
  }
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// llama.cpp's test-tokenizer-0 format: inputs separated by "\n__ggml_vocab_test__\n", one output line of
// space-separated ids per input.
std::vector<Vector> LlamaCppVectors() {
  const std::string inp = ReadWholeFile(TestDataDir() + "/llamacpp-vocab-llama-bpe.inp");
  const std::string out = ReadWholeFile(TestDataDir() + "/llamacpp-vocab-llama-bpe.out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<Vector> vectors;
  for (size_t at = 0, next; (next = inp.find(sep, at)) != std::string::npos; at = next + sep.size())
    vectors.push_back({inp.substr(at, next - at), {}});
  std::istringstream lines(out);
  std::string line;
  for (Vector& v : vectors) {
    if (!std::getline(lines, line)) throw Error("llamacpp-vocab-llama-bpe.out: fewer lines than inputs");
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) v.ids.push_back(id);
  }
  return vectors;
}

TEST(LlamaCppVectors, EncodeMatchesEveryVectorWithSpecialTextAsPlainText) {
  const Tokenizer& tok = RealTokenizer();
  const std::vector<Vector> vectors = LlamaCppVectors();
  ASSERT_GE(vectors.size(), 40u);
  for (size_t i = 0; i < vectors.size(); ++i)
    EXPECT_EQ(tok.Encode(vectors[i].text, /*parse_special=*/false), vectors[i].ids) << "input " << i + 1;
}

TEST(LlamaCppVectors, DecodeGivesBackTheInput) {
  const Tokenizer& tok = RealTokenizer();
  for (const Vector& v : LlamaCppVectors()) EXPECT_EQ(tok.Decode(v.ids), v.text);
}

TEST(TokenizerVocab, RealFileFacts) {
  const Tokenizer& tok = RealTokenizer();
  EXPECT_EQ(tok.vocab_size(), 128256);
  EXPECT_EQ(tok.bos_id(), 128000);
  EXPECT_EQ(tok.eos_id(), 128001);
  EXPECT_EQ(tok.eot_id(), 128009);
  EXPECT_TRUE(tok.ignore_merges());
  EXPECT_TRUE(tok.IsSpecial(128009));
  EXPECT_TRUE(tok.IsSpecial(128255));
  EXPECT_FALSE(tok.IsSpecial(9906));
  EXPECT_FALSE(tok.IsSpecial(-1));
  EXPECT_FALSE(tok.IsSpecial(128256));
  EXPECT_EQ(tok.SpecialId("<|eot_id|>"), 128009);
  EXPECT_EQ(tok.SpecialId("<|start_header_id|>"), 128006);
  EXPECT_EQ(tok.SpecialId("Hello"), std::nullopt);
  EXPECT_EQ(tok.tokens()[220], "Ġ");
  EXPECT_EQ(tok.token_types()[220], kTokenNormal);
  EXPECT_EQ(tok.token_types()[128000], kTokenControl);
  EXPECT_EQ(tok.merges().size(), 280147u);
  EXPECT_EQ(tok.merges()[0], "Ġ Ġ");
  EXPECT_EQ(tok.TokenBytes(220), " ");
  EXPECT_EQ(tok.TokenBytes(198), "\n");
  EXPECT_EQ(tok.TokenBytes(128009), "<|eot_id|>");
}

TEST(TokenizerSpecial, SpecialTextIsOrdinaryTextUnlessAskedFor) {
  const Tokenizer& tok = RealTokenizer();
  const std::string text = "a<|eot_id|>b<|begin_of_text|>";
  const std::vector<int32_t> plain = tok.Encode(text);
  for (int32_t id : plain) EXPECT_LT(id, 128000) << "special id " << id << " injected from plain text";
  EXPECT_EQ(tok.Decode(plain), text);

  EXPECT_EQ(tok.Encode("<|eot_id|>", true), std::vector<int32_t>{128009});
  const std::vector<int32_t> parsed = tok.Encode(text, true);
  ASSERT_EQ(parsed.size(), 4u);
  EXPECT_EQ(parsed[1], 128009);
  EXPECT_EQ(parsed[3], 128000);
  EXPECT_EQ(tok.Decode(parsed), text);
}

TEST(TokenizerSpecial, LongestSpecialTokenWinsWhenOneIsAPrefixOfAnother) {
  const Tokenizer& tok = RealTokenizer();
  const auto id1 = tok.SpecialId("<|reserved_special_token_1|>");
  const auto id10 = tok.SpecialId("<|reserved_special_token_10|>");
  ASSERT_TRUE(id1 && id10);
  EXPECT_EQ(tok.Encode("<|reserved_special_token_10|>", true), std::vector<int32_t>{*id10});
  EXPECT_EQ(tok.Encode("<|reserved_special_token_1|>", true), std::vector<int32_t>{*id1});
}

TEST(TokenizerRoundTrip, RandomUnicodeStrings) {
  const Tokenizer& tok = RealTokenizer();
  std::mt19937 rng(1234);
  for (int i = 0; i < 300; ++i) {
    const std::string text = RandomUnicodeText(rng, 1 + rng() % 60);
    for (bool parse_special : {false, true}) {
      const std::vector<int32_t> ids = tok.Encode(text, parse_special);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < 128000) << "id " << id;
      ASSERT_EQ(tok.Decode(ids), text);
    }
  }
}

TEST(TokenizerRoundTrip, RandomBytesIncludingInvalidUtf8) {
  const Tokenizer& tok = RealTokenizer();
  std::mt19937 rng(99);
  for (int i = 0; i < 300; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
    const std::vector<int32_t> ids = tok.Encode(bytes);
    ASSERT_EQ(tok.Decode(ids), bytes);
  }
  // A stray continuation byte between words is a piece of its own: the words around it are unchanged.
  const std::vector<int32_t> hello = tok.Encode("Hello");
  const std::vector<int32_t> broken = tok.Encode("Hello\x80Hello");
  ASSERT_EQ(broken.size(), 2 * hello.size() + 1);
  EXPECT_EQ(broken.front(), hello.front());
  EXPECT_EQ(broken.back(), hello.back());
}

TEST(TokenizerDecode, IdsOutOfRangeThrow) {
  const Tokenizer& tok = RealTokenizer();
  const std::vector<int32_t> negative{9906, -1};
  const std::vector<int32_t> past_end{128256};
  EXPECT_THROW(tok.Decode(negative), Error);
  EXPECT_THROW(tok.Decode(past_end), Error);
  EXPECT_THROW(tok.TokenBytes(128256), Error);
  EXPECT_EQ(tok.Decode(std::vector<int32_t>{}), "");
}

TEST(ByteUnicode, MatchesGpt2Table) {
  EXPECT_EQ(ByteToUnicodeUtf8(' '), "Ġ");    // U+0120
  EXPECT_EQ(ByteToUnicodeUtf8('\n'), "Ċ");   // U+010A
  EXPECT_EQ(ByteToUnicodeUtf8(0x00), "Ā");   // U+0100
  EXPECT_EQ(ByteToUnicodeUtf8(0x7F), "ġ");   // U+0121
  EXPECT_EQ(ByteToUnicodeUtf8(0xAD), "Ń");   // U+0143
  EXPECT_EQ(ByteToUnicodeUtf8('a'), "a");
  EXPECT_EQ(ByteToUnicodeUtf8(0xE9), "é");
  for (int b = 0; b < 256; ++b) {
    const std::string raw(1, static_cast<char>(b));
    EXPECT_EQ(ByteLevelToBytes(BytesToByteLevel(raw)), raw);
  }
  EXPECT_EQ(ByteLevelToBytes("ĠtheĊ"), " the\n");
  EXPECT_EQ(ByteLevelToBytes("中"), std::nullopt);  // not a byte spelling
  EXPECT_EQ(ByteLevelToBytes(" "), std::nullopt);   // a raw space is spelled Ġ
}

std::vector<std::string> SplitPieces(std::string_view text) {
  static const PreTokenizer pre;
  std::vector<std::string_view> views;
  pre.Split(text, views);
  return {views.begin(), views.end()};
}

TEST(PreTokenizer, SplitsLikeTheLlama3Regex) {
  using V = std::vector<std::string>;
  EXPECT_EQ(SplitPieces("Hello world!"), (V{"Hello", " world", "!"}));
  EXPECT_EQ(SplitPieces("I'm 12345"), (V{"I", "'m", " ", "123", "45"}));
  EXPECT_EQ(SplitPieces("HE'LL"), (V{"HE", "'LL"}));
  EXPECT_EQ(SplitPieces("a  \n\n b"), (V{"a", "  \n\n", " b"}));
  EXPECT_EQ(SplitPieces("x   y"), (V{"x", "  ", " y"}));
  EXPECT_EQ(SplitPieces("end  "), (V{"end", "  "}));
  EXPECT_EQ(SplitPieces(""), V{});
}

TEST(PreTokenizer, WhitespaceIsUnicodeWhiteSpaceAsInOniguruma) {
  using V = std::vector<std::string>;
  // U+180E is not White_Space (Unicode 6.3+), so it joins the punctuation run; PCRE2's own \s would
  // split it out.
  EXPECT_EQ(SplitPieces("!\u180E!"), (V{"!\u180E!"}));
  // U+00A0 is White_Space, so it cannot join a punctuation run (only an ASCII space may lead one).
  EXPECT_EQ(SplitPieces("!\u00A0!"), (V{"!", "\u00A0", "!"}));
  // A letter run may take any one non-letter, non-digit, non-newline prefix, White_Space included.
  EXPECT_EQ(SplitPieces("a\u3000b"), (V{"a", "\u3000b"}));
}

TEST(PreTokenizer, InvalidUtf8BecomesItsOwnPiece) {
  using V = std::vector<std::string>;
  EXPECT_EQ(SplitPieces("ab\xFF" "cd"), (V{"ab", "\xFF", "cd"}));
  EXPECT_EQ(SplitPieces("\xE4\xB8"), (V{"\xE4\xB8"}));
}

// Spells raw bytes as a byte-level token, for the small hand-made vocabularies below.
std::string Spell(std::string_view raw) { return BytesToByteLevel(raw); }

// 256 byte tokens (id = byte value) plus `extra`.
std::vector<std::string> ByteVocabPlus(std::initializer_list<std::string_view> extra) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(Spell(std::string(1, static_cast<char>(b))));
  for (std::string_view e : extra) tokens.push_back(Spell(e));
  return tokens;
}

TEST(TokenizerBpe, MergesApplyLowestRankFirstNotLeftToRight) {
  // ids: "bc" 256, "ab" 257, "abc" 258.
  const Tokenizer tok = Tokenizer::FromVocab(ByteVocabPlus({"bc", "ab", "abc"}), {"b c", "a b", "a bc"}, {}, "toy");
  // abcab: "b c" (rank 0) first, then "a b" at the end, then "a bc"; left-to-right greedy would give
  // ab, c, ab.
  EXPECT_EQ(tok.Encode("abcab"), (std::vector<int32_t>{258, 257}));
  EXPECT_EQ(tok.Encode("cab"), (std::vector<int32_t>{'c', 257}));
}

TEST(TokenizerBpe, EqualRanksMergeLeftmostFirst) {
  const Tokenizer tok = Tokenizer::FromVocab(ByteVocabPlus({"aa"}), {"a a"}, {}, "toy");
  EXPECT_EQ(tok.Encode("aaa"), (std::vector<int32_t>{256, 'a'}));
  EXPECT_EQ(tok.Encode("aaaaa"), (std::vector<int32_t>{256, 256, 'a'}));
}

TEST(TokenizerBpe, IgnoreMergesEmitsAPieceThatIsAToken) {
  // "xyz" (id 256) cannot be reached by any merge, but GGUF vocabularies are Llama 3 style
  // (ignore_merges), so the whole piece is one token.
  const Tokenizer tok = Tokenizer::FromVocab(ByteVocabPlus({"xyz"}), {}, {}, "toy");
  EXPECT_TRUE(tok.ignore_merges());
  EXPECT_EQ(tok.Encode("xyz"), std::vector<int32_t>{256});
  EXPECT_EQ(tok.Encode("xyzx"), (std::vector<int32_t>{'x', 'y', 'z', 'x'}));
}

TEST(TokenizerBpe, UserDefinedTokensAreAlwaysMatchedControlTokensOnlyOnRequest) {
  std::vector<std::string> tokens = ByteVocabPlus({});
  tokens.push_back("<ctl>");   // 256
  tokens.push_back("<user>");  // 257
  std::vector<int32_t> types(256, kTokenNormal);
  types.push_back(kTokenControl);
  types.push_back(kTokenUserDefined);
  const Tokenizer tok = Tokenizer::FromVocab(tokens, {}, types, "toy");
  EXPECT_EQ(tok.Encode("<user>"), std::vector<int32_t>{257});
  EXPECT_EQ(tok.Encode("<ctl>", true), std::vector<int32_t>{256});
  EXPECT_EQ(tok.Encode("<ctl>").size(), 5u);
  EXPECT_TRUE(tok.IsSpecial(256));
  EXPECT_FALSE(tok.IsSpecial(257));
  EXPECT_EQ(tok.bos_id(), -1);
}

TEST(TokenizerBpe, MissingByteTokenIsAnErrorNotACrash) {
  const Tokenizer tok = Tokenizer::FromVocab({"a", "b"}, {}, {}, "tiny");
  EXPECT_EQ(tok.Encode("ab"), (std::vector<int32_t>{0, 1}));
  EXPECT_THROW(tok.Encode("c"), Error);
}

TEST(TokenizerBpe, BadVocabulariesThrowNamingTheField) {
  try {
    Tokenizer::FromVocab(ByteVocabPlus({}), {"a q"}, {}, "model.gguf");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.gguf: tokenizer.ggml.merges[0]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tokenizer::FromVocab(ByteVocabPlus({}), {"ab"}, {}, "m"), Error);
  EXPECT_THROW(Tokenizer::FromVocab(ByteVocabPlus({}), {}, {1, 1}, "m"), Error);
  EXPECT_THROW(Tokenizer::FromVocab({}, {}, {}, "m"), Error);
}

class TokenizerJsonErrors : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = ::testing::TempDir() + "tokenizer_test_" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }
  static std::string MessageOf(const std::string& path) {
    try {
      Tokenizer::FromJsonFile(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  static constexpr const char* kPre =
      R"("pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": )"
      R"("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, )"
      R"("behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]})";
};

TEST_F(TokenizerJsonErrors, MissingFileNamesThePath) {
  const std::string path = ::testing::TempDir() + "tokenizer_test_does_not_exist.json";
  EXPECT_NE(MessageOf(path).find(path), std::string::npos);
}

TEST_F(TokenizerJsonErrors, NotJsonNamesThePath) {
  const std::string path = Write("not_json.json", "{\"model\": [1, 2");
  const std::string message = MessageOf(path);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("JSON"), std::string::npos) << message;
}

TEST_F(TokenizerJsonErrors, MissingVocabNamesTheField) {
  const std::string path = Write("no_vocab.json", std::string("{") + kPre + R"(, "model": {"type": "BPE", "merges": []}})");
  const std::string message = MessageOf(path);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("model.vocab"), std::string::npos) << message;
}

TEST_F(TokenizerJsonErrors, MergeOfUnknownTokensNamesTheField) {
  const std::string path = Write("bad_merge.json", std::string("{") + kPre +
                                                       R"(, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, )"
                                                       R"("merges": ["a b"]}})");
  const std::string message = MessageOf(path);
  EXPECT_NE(message.find("model.merges[0]"), std::string::npos) << message;
}

TEST_F(TokenizerJsonErrors, NonIntegerVocabIdNamesTheToken) {
  const std::string path = Write("float_id.json", std::string("{") + kPre +
                                                      R"(, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1.5}, "merges": []}})");
  const std::string message = MessageOf(path);
  EXPECT_NE(message.find("model.vocab[\"b\"]"), std::string::npos) << message;
}

TEST_F(TokenizerJsonErrors, MalformedMergeEntryNamesItsIndex) {
  const std::string path = Write("merge_number.json", std::string("{") + kPre +
                                                          R"(, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, )"
                                                          R"("merges": ["a b", 7]}})");
  const std::string message = MessageOf(path);
  EXPECT_NE(message.find("model.merges[1]"), std::string::npos) << message;
}

TEST_F(TokenizerJsonErrors, MissingIdNamesTheField) {
  const std::string path = Write("id_gap.json", std::string("{") + kPre +
                                                    R"(, "model": {"type": "BPE", "vocab": {"a": 0, "b": 2}, "merges": []}})");
  const std::string message = MessageOf(path);
  EXPECT_NE(message.find("no token has id 1"), std::string::npos) << message;
}

TEST_F(TokenizerJsonErrors, SmallValidFileLoadsAndBothMergeSpellingsWork) {
  const std::string body = std::string("{") + kPre + R"(, "added_tokens": [{"id": 3, "content": "<s>", "special": true}], )"
                           R"("model": {"type": "BPE", "ignore_merges": false, "vocab": {"a": 0, "b": 1, "ab": 2}, )";
  const Tokenizer strings = Tokenizer::FromJsonFile(Write("strings.json", body + R"("merges": ["a b"]}})"));
  const Tokenizer pairs = Tokenizer::FromJsonFile(Write("pairs.json", body + R"("merges": [["a", "b"]]}})"));
  EXPECT_EQ(strings.Encode("abba<s>", true), (std::vector<int32_t>{2, 1, 0, 3}));
  EXPECT_EQ(pairs.Encode("abba<s>", true), (std::vector<int32_t>{2, 1, 0, 3}));
  EXPECT_FALSE(strings.ignore_merges());
  EXPECT_EQ(strings.merges(), std::vector<std::string>{"a b"});
}

TEST_F(TokenizerJsonErrors, OtherPreTokenizersAreRefused) {
  const std::string path = Write("whitespace_pre.json",
                                 R"({"pre_tokenizer": {"type": "Whitespace"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  EXPECT_NE(MessageOf(path).find("pre_tokenizer"), std::string::npos);
}

bool IsValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    const size_t len = b < 0x80 ? 1 : b >= 0xF5 ? 0 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

TEST(Utf8StreamDecoder, NeverEmitsAPartialCharacterWhenFedByteByByte) {
  std::mt19937 rng(5);
  for (int round = 0; round < 50; ++round) {
    const std::string text = RandomUnicodeText(rng, 30);
    Utf8StreamDecoder decoder;
    std::string out;
    for (char c : text) {
      const std::string piece = decoder.Push(std::string_view(&c, 1));
      ASSERT_TRUE(IsValidUtf8(piece));
      out += piece;
    }
    out += decoder.Flush();
    EXPECT_EQ(out, text);
  }
}

TEST(Utf8StreamDecoder, HoldsOnlyWhatCanStillComplete) {
  Utf8StreamDecoder decoder;
  EXPECT_EQ(decoder.Push("a\xE4"), "a");
  EXPECT_EQ(decoder.Push("\xB8"), "");
  EXPECT_EQ(decoder.Push("\xAD!"), "\xE4\xB8\xAD!");
  EXPECT_EQ(decoder.Push("\xFF"), "\xFF");          // never valid: passed through at once
  EXPECT_EQ(decoder.Push("\xE0\x80"), "\xE0\x80");  // overlong prefix: cannot complete
  EXPECT_EQ(decoder.Push("\xF0\x9F"), "");
  EXPECT_EQ(decoder.Flush(), "\xF0\x9F");
  EXPECT_EQ(decoder.Flush(), "");
}

TEST(Utf8StreamDecoder, StreamsTokenBytesOfEmoji) {
  const Tokenizer& tok = RealTokenizer();
  const std::string text = "emoji 😀👍🏽 🦙 中文";
  Utf8StreamDecoder decoder;
  std::string out;
  for (int32_t id : tok.Encode(text)) {
    const std::string piece = decoder.Push(tok.TokenBytes(id));
    // Emoji are split across tokens here, so a naive writer would emit broken characters.
    EXPECT_TRUE(IsValidUtf8(piece));
    out += piece;
  }
  out += decoder.Flush();
  EXPECT_EQ(out, text);
}

}  // namespace
}  // namespace bitnet
