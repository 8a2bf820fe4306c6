// GGUF files made by other engines (bitnet.cpp's I2_S, llama.cpp's TQ2_0/TQ1_0).
#include "formats/gguf.h"
#include "model/model_impl.h"
#include "util/error.h"

namespace bitnet {

ModelWeights LoadForeignGguf(std::shared_ptr<gguf::File> file, const Options&) {
  throw Error(file->path() + ": metadata 'general.architecture': unsupported architecture '" +
              file->GetString("general.architecture") + "' (expected bitnet-npu)");
}

}  // namespace bitnet
