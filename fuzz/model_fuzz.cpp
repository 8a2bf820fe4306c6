// libFuzzer target over the whole model loader: Model::Load (config.json,
// generation_config.json, safetensors, tokenizer.json, or a GGUF file) and one
// forward step on what it accepted must end in a model or a bitnet::Error.
// A crash, a sanitizer report, another exception type or a hang is a bug.
//
// Input: bytes starting with "GGUF" are one GGUF file. Anything else is split
// at each kSeparator line into config.json, model.safetensors, tokenizer.json
// and generation_config.json (in that order; a missing part is a missing
// file), written to a per-process temporary directory, which is then loaded
// as a Hugging Face directory. fuzz_make_seeds writes seeds in this form.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "bitnet/bitnet.h"
#include "util/error.h"

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSeparator = "\n--bitnet-fuzz-part--\n";
constexpr const char* kParts[] = {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"};

// Never destroyed, so the exit handler that removes the directory can still read it.
const std::string& TempDir() {
  static const std::string* dir =
      new std::string((fs::temp_directory_path() / ("bitnet_model_fuzz_" + std::to_string(::getpid()))).string());
  return *dir;
}

void WriteOrTrap(const std::string& path, std::string_view bytes) {
  FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) __builtin_trap();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size()) __builtin_trap();
  std::fclose(out);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(TempDir(), ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const fs::path dir = TempDir();
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "hf", ec);
  if (ec) __builtin_trap();
  std::string model_path;
  if (input.substr(0, 4) == "GGUF") {
    model_path = (dir / "model.gguf").string();
    WriteOrTrap(model_path, input);
  } else {
    model_path = (dir / "hf").string();
    size_t at = 0;
    for (const char* name : kParts) {
      if (at > input.size()) break;
      const size_t end = std::min(input.find(kSeparator, at), input.size());
      WriteOrTrap((dir / "hf" / name).string(), input.substr(at, end - at));
      at = end + kSeparator.size();
    }
  }
  bitnet::Options options;
  options.device = "cpu";
  options.n_threads = 1;
  options.verbose = false;
  try {
    std::unique_ptr<bitnet::Model> model = bitnet::Model::Load(model_path, options);
    (void)model->Describe();
    // One step through the weights the loader accepted: misaligned or
    // out-of-range data would surface here as a sanitizer report.
    std::unique_ptr<bitnet::KvCache> cache = model->NewCache(1);
    const int32_t token = model->config().bos_id;
    (void)model->Forward({&token, 1}, *cache, 0);
    if (model->has_tokenizer()) (void)model->Detokenize(model->Tokenize("Hi <|eot_id|> there", true));
  } catch (const bitnet::Error&) {
  }
  return 0;
}
