// The GGUF metadata every file this project writes shares: the model config
// under "<arch>.*" and the tokenizer under "tokenizer.ggml.*".
#pragma once
#include <string>

#include "bitnet/bitnet.h"

namespace bitnet {

class Tokenizer;
namespace gguf {
class File;
class Writer;
}

// tokenizer.ggml.{bos,eos}_token_id style ids: fallback when the key is
// absent; an id that does not fit int32 is an Error naming the file and key
// (ValidateConfig then checks it against the vocabulary).
int32_t ReadGgufTokenId(const gguf::File& f, const char* key, int32_t fallback);

// A float metadata value as float: a finite float64 beyond float32's range is
// an Error naming the key (its cast would be undefined); NaN and infinity
// pass through for ValidateConfig to name.
float ReadGgufFloat(const gguf::File& f, const std::string& key);

// general.architecture = arch, and the llama.cpp-style config keys under arch.
void WriteGgufModelConfig(gguf::Writer& w, const std::string& arch, const ModelConfig& c);

// bos/eos ids always; the vocabulary, merges and token types when tokenizer is non-null.
void WriteGgufTokenizer(gguf::Writer& w, const ModelConfig& c, const Tokenizer* tokenizer);

}  // namespace bitnet
