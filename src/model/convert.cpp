#include <filesystem>

#include "bitnet/bitnet.h"
#include "model/export_gguf.h"
#include "model/model_impl.h"
#include "model/native_gguf.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace bitnet {

void ConvertModel(const std::string& input, const std::string& output, const ConvertOptions& options) {
  namespace fs = std::filesystem;
  Check(!output.empty(), "-o", "no output file given");
  // Before the (slow) load: -o /dev/null, a directory or a FIFO is refused
  // up front, and the writer checks again before its rename.
  CheckOutputPath(output);
  std::error_code ec;
  if (fs::exists(input) && fs::exists(output) && fs::equivalent(input, output, ec))
    throw Error(output + ": output would overwrite the input");
  Check(options.format == "native" || options.format == "i2_s" || options.format == "tq2_0" ||
            options.format == "tq1_0",
        "--format", "unknown output format '" + options.format + "' (expected native, i2_s, tq2_0 or tq1_0)");
  Options load;
  load.packed_scale = options.packed_scale;
  std::shared_ptr<gguf::File> gguf_file;
  ModelWeights weights = LoadWeights(input, load, &gguf_file);
  ApplyFfnActivation(weights, options.ffn_act);
  std::unique_ptr<Tokenizer> tokenizer = LoadTokenizerFor(input, gguf_file.get());
  if (options.format == "native")
    WriteNativeGguf(weights, tokenizer.get(), output);
  else if (options.format == "i2_s")
    WriteBitnetCppGguf(weights, tokenizer.get(), output);
  else if (options.format == "tq2_0" || options.format == "tq1_0")
    WriteLlamaCppGguf(weights, tokenizer.get(), output, options.format);
  else
    throw Error("--format: unknown output format '" + options.format + "' (expected native, i2_s, tq2_0 or tq1_0)");
}

}  // namespace bitnet
