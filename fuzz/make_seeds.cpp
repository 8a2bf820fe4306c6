// Writes a small seed corpus of valid files for the fuzzers:
//   fuzz_make_seeds OUT_DIR  ->  OUT_DIR/gguf/*.gguf, OUT_DIR/safetensors/*.safetensors
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "util/error.h"

namespace {

namespace fs = std::filesystem;
using bitnet::gguf::Writer;

void AddQuantized(Writer& w, std::vector<std::vector<uint8_t>>& keep, const std::string& name, uint32_t type,
                  uint64_t n) {
  std::vector<float> x(n);
  for (uint64_t i = 0; i < n; ++i) x[i] = static_cast<float>((i * 37) % 17) - 8.0f;
  keep.push_back(bitnet::QuantizeRowFromF32(type, x.data(), static_cast<int64_t>(n)));
  w.AddTensor(name, {n}, type, keep.back().data(), keep.back().size());
}

void AddTernary(Writer& w, std::vector<std::vector<uint8_t>>& keep, const std::string& name, uint32_t type,
                uint64_t n) {
  std::vector<int8_t> v(n);
  for (uint64_t i = 0; i < n; ++i) v[i] = static_cast<int8_t>(static_cast<int>(i % 3) - 1);
  std::vector<float> scales(type == bitnet::kGgmlI2_S ? 1 : n / 256, 0.5f);
  keep.push_back(bitnet::PackTernaryType(type, v.data(), static_cast<int64_t>(n), scales));
  w.AddTensor(name, {n}, type, keep.back().data(), keep.back().size());
}

void WriteGgufSeeds(const fs::path& dir) {
  std::vector<std::vector<uint8_t>> keep;
  Writer w;
  w.SetString("general.architecture", "bitnet-25");
  w.SetUint32("bitnet-25.block_count", 2);
  w.SetInt32("i32", -3);
  w.SetUint64("u64", 1ull << 40);
  w.SetFloat32("bitnet-25.attention.layer_norm_rms_epsilon", 1e-5f);
  w.SetBool("flag", true);
  w.SetStringArray("tokenizer.ggml.tokens", {"<s>", "a", "b", "ab"});
  w.SetInt32Array("tokenizer.ggml.token_type", {3, 1, 1, 1});
  w.SetFloat32Array("tokenizer.ggml.scores", {0.0f, -1.0f, -2.0f, -3.0f});
  AddQuantized(w, keep, "f32", bitnet::kGgmlF32, 8);
  AddQuantized(w, keep, "f16", bitnet::kGgmlF16, 8);
  AddQuantized(w, keep, "q8_0", bitnet::kGgmlQ8_0, 32);
  AddQuantized(w, keep, "q4_k", bitnet::kGgmlQ4_K, 256);
  AddQuantized(w, keep, "q6_k", bitnet::kGgmlQ6_K, 256);
  AddTernary(w, keep, "tq1_0", bitnet::kGgmlTQ1_0, 256);
  AddTernary(w, keep, "tq2_0", bitnet::kGgmlTQ2_0, 256);
  AddTernary(w, keep, "i2_s", bitnet::kGgmlI2_S, 128);
  w.AllowRawType(4242);
  keep.emplace_back(5, 0x7f);
  w.AddTensor("raw", {5}, 4242, keep.back().data(), keep.back().size());
  w.Write((dir / "mixed.gguf").string());

  Writer aligned;
  aligned.SetUint32("general.alignment", 64);
  std::vector<float> x(3, 1.0f);
  aligned.AddTensor("x", {3}, bitnet::kGgmlF32, x.data(), 12);
  aligned.AddTensor("y", {1, 3}, bitnet::kGgmlF32, x.data(), 12);
  aligned.Write((dir / "align64.gguf").string());

  Writer().Write((dir / "empty.gguf").string());
}

void WriteFile(const fs::path& path, const std::string& header, const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

void WriteSafetensorsSeeds(const fs::path& dir) {
  WriteFile(dir / "two.safetensors",
            R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
            R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})",
            std::vector<uint8_t>(22, 0x3f));
  WriteFile(dir / "empty.safetensors", "{}", {});
  WriteFile(dir / "u8.safetensors", R"({"w":{"dtype":"U8","shape":[4,1],"data_offsets":[0,4]}})", {1, 2, 3, 4});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    const fs::path out(argv[1]);
    fs::create_directories(out / "gguf");
    fs::create_directories(out / "safetensors");
    WriteGgufSeeds(out / "gguf");
    WriteSafetensorsSeeds(out / "safetensors");
  } catch (const bitnet::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
