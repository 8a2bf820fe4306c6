// Shared helpers for the tokenizer tests: where the test data lives, and the real tokenizer loaded once.
#pragma once
#include <cstdlib>
#include <string>

#include "tokenizer/tokenizer.h"

namespace bitnet::testing_util {

// tests/data in the source tree (reference vectors, see its README).
inline std::string TestDataDir() { return BITNET_TEST_DATA; }

// models/tokenizer.json as scripts/fetch_tokenizer.sh leaves it; $BITNET_TOKENIZER wins.
inline std::string RealTokenizerPath() {
  if (const char* env = std::getenv("BITNET_TOKENIZER"); env != nullptr && *env != '\0') return env;
  return BITNET_TOKENIZER_JSON;
}

inline const Tokenizer& RealTokenizer() {
  static const Tokenizer tokenizer = Tokenizer::FromJsonFile(RealTokenizerPath());
  return tokenizer;
}

}  // namespace bitnet::testing_util
