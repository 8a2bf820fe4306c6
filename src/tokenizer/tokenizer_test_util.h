// Shared helpers for the tokenizer tests: where the test data lives, and the real tokenizer loaded once.
#pragma once
#include <cstdlib>
#include <string>

#include "tokenizer/tokenizer.h"

namespace bitnet::testing_util {

// BITNET_SHARED_DATA from the environment wins over the path compiled in, so a fresh clone with shared/
// elsewhere can still run the tests.
inline std::string SharedDataDir() {
  if (const char* env = std::getenv("BITNET_SHARED_DATA"); env != nullptr && *env != '\0') return env;
  return BITNET_SHARED_DATA;
}

inline std::string RealTokenizerPath() { return SharedDataDir() + "/bitnet-b1.58-2B-4T/tokenizer.json"; }

inline const Tokenizer& RealTokenizer() {
  static const Tokenizer tokenizer = Tokenizer::FromJsonFile(RealTokenizerPath());
  return tokenizer;
}

}  // namespace bitnet::testing_util
