#include "model/export_gguf.h"

#include "util/error.h"

namespace bitnet {

void WriteBitnetCppGguf(const ModelWeights&, const Tokenizer*, const std::string& path) {
  throw Error(path + ": --format i2_s is not implemented yet");
}

void WriteLlamaCppGguf(const ModelWeights&, const Tokenizer*, const std::string& path, const std::string& format) {
  throw Error(path + ": --format " + format + " is not implemented yet");
}

}  // namespace bitnet
