// libFuzzer target: SafetensorsFile must turn any input into either a parsed file
// or a bitnet::Error. SafetensorsFile only reads from a path, so each input goes
// through a per-process temporary file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "formats/safetensors.h"
#include "util/error.h"

namespace {

// Never destroyed, so the exit handler that removes the file can still read it.
const std::string& TempPath() {
  static const std::string* path =
      new std::string("/tmp/bitnet_safetensors_fuzz_" + std::to_string(::getpid()) + ".safetensors");
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit([] { ::unlink(TempPath().c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = TempPath();
  FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) __builtin_trap();
  if (size > 0 && std::fwrite(data, 1, size, out) != size) __builtin_trap();
  std::fclose(out);
  try {
    bitnet::SafetensorsFile file(path);
    for (const auto& [name, t] : file.tensors()) {
      if (t.size_bytes == 0) continue;
      volatile uint8_t sink = t.data[0] ^ t.data[t.size_bytes - 1];  // promised in bounds
      (void)sink;
      (void)t.numel();
    }
  } catch (const bitnet::Error&) {
  }
  return 0;
}
