// libFuzzer target: the GGUF reader, its typed getters and the tensor decoders
// must turn any input into either a File or a bitnet::Error. Anything else (a
// crash, a sanitizer report, another exception type, a huge allocation) is a bug.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "util/error.h"

namespace {

// Decoding is linear in the tensor size; larger tensors only slow the fuzzer.
constexpr uint64_t kMaxDecodeElements = 1 << 16;

template <typename F>
void IgnoreErrors(F&& f) {
  try {
    f();
  } catch (const bitnet::Error&) {
  }
}

void ExerciseTensor(const bitnet::gguf::TensorInfo& t) {
  if (t.data == nullptr || t.size_bytes == 0) return;
  // Touch the first and last byte: the reader promised they are inside the file.
  volatile uint8_t sink = t.data[0] ^ t.data[t.size_bytes - 1];
  (void)sink;
  const uint64_t n = t.n_elements();
  if (n == 0 || n > kMaxDecodeElements) return;
  if (t.type == bitnet::kGgmlTQ1_0 || t.type == bitnet::kGgmlTQ2_0 || t.type == bitnet::kGgmlI2_S) {
    std::vector<int8_t> values(n);
    std::vector<float> scales;
    IgnoreErrors([&] { bitnet::UnpackTernaryType(t.type, t.data, static_cast<int64_t>(n), values.data(), &scales); });
  }
  if (t.type != bitnet::kGgmlI2_S && t.type != bitnet::kGgmlBitnetT2) {
    std::vector<float> out(n);
    IgnoreErrors([&] { bitnet::DequantizeRowToF32(t.type, t.data, out.data(), static_cast<int64_t>(n)); });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<bitnet::gguf::File> f;
  try {
    f = bitnet::gguf::File::FromBytes(std::vector<uint8_t>(data, data + size), "fuzz-input");
  } catch (const bitnet::Error&) {
    return 0;
  }
  for (const auto& kv : f->metadata()) {
    const std::string& key = kv.first;
    (void)kv.second.TypeName();
    IgnoreErrors([&] { f->GetString(key); });
    IgnoreErrors([&] { f->GetUint(key); });
    IgnoreErrors([&] { f->GetInt(key); });
    IgnoreErrors([&] { f->GetFloat(key); });
    IgnoreErrors([&] { f->GetBool(key); });
    IgnoreErrors([&] { f->GetStringArray(key); });
    IgnoreErrors([&] { f->GetIntArray(key); });
    IgnoreErrors([&] { f->GetFloatArray(key); });
  }
  for (const auto& t : f->tensors()) {
    if (f->FindTensor(t.name) != &t) __builtin_trap();  // names are unique, so the index must agree
    ExerciseTensor(t);
  }
  return 0;
}
