// Times the tokenizer's load paths and encoding of about 1 MB of text.
// Usage: tokenizer_bench <tokenizer.json> [text file, repeated to 1 MB; default: English-like sample]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string SampleText(int argc, char** argv) {
  std::string unit =
      "The quick brown fox jumps over the lazy dog. It's 12:45 and we've counted 1,234,567 sheep; "
      "nobody knows why.\nIn 2024, researchers trained ternary-weight language models that run on "
      "laptops, phones and neural processing units without a GPU.\n\n";
  if (argc > 2) {
    std::ifstream in(argv[2], std::ios::binary);
    if (!in) throw bitnet::Error(std::string(argv[2]) + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    unit = ss.str();
    if (unit.empty()) throw bitnet::Error(std::string(argv[2]) + ": empty");
  }
  std::string text;
  while (text.size() < (1u << 20)) text += unit;
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s tokenizer.json [text file]\n", argv[0]);
    return 2;
  }
  try {
    auto start = std::chrono::steady_clock::now();
    const bitnet::Tokenizer tok = bitnet::Tokenizer::FromJsonFile(argv[1]);
    std::printf("FromJsonFile: %.3f s (%d tokens, %zu merges)\n", SecondsSince(start), tok.vocab_size(),
                tok.merges().size());

    start = std::chrono::steady_clock::now();
    const bitnet::Tokenizer gguf = bitnet::Tokenizer::FromVocab(tok.tokens(), tok.merges(), tok.token_types(), "copy");
    std::printf("FromVocab (including copying its inputs): %.3f s\n", SecondsSince(start));

    const std::string text = SampleText(argc, argv);
    start = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = tok.Encode(text);
    const double encode_s = SecondsSince(start);
    std::printf("Encode: %zu bytes -> %zu ids in %.3f s (%.1f MB/s)\n", text.size(), ids.size(), encode_s,
                text.size() / encode_s / 1e6);

    start = std::chrono::steady_clock::now();
    const std::string back = tok.Decode(ids);
    std::printf("Decode: %.4f s, round trip %s\n", SecondsSince(start), back == text ? "exact" : "MISMATCH");
    return back == text ? 0 : 1;
  } catch (const bitnet::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
