// Writes a small seed corpus of valid files for the fuzzers:
//   fuzz_make_seeds OUT_DIR  ->  OUT_DIR/gguf/*.gguf, OUT_DIR/safetensors/*.safetensors,
//                                OUT_DIR/model/*.seed (model_fuzz's split form of a tiny model directory)
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
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

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A model small enough for libFuzzer's max_len: hidden 8 (2 heads of 4, one
// KV head), FFN 16, vocabulary 16, one layer. model_fuzz.cpp splits its input
// at kSeparator into config.json | model.safetensors | tokenizer.json |
// generation_config.json; this writes the same form.
void WriteModelSeeds(const fs::path& dir) {
  const std::string kSeparator = "\n--bitnet-fuzz-part--\n";  // as in model_fuzz.cpp
  auto bf16 = [](std::vector<int64_t> shape, uint16_t base) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<uint8_t> b(static_cast<size_t>(2 * n));
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t v = static_cast<uint16_t>(base + (i * 7) % 64);
      b[2 * i] = static_cast<uint8_t>(v & 0xff);
      b[2 * i + 1] = static_cast<uint8_t>(v >> 8);
    }
    return bitnet::SafetensorsEntry{"", "BF16", shape, b};
  };
  for (const bool packed : {false, true}) {
    std::vector<bitnet::SafetensorsEntry> e;
    auto add = [&](const std::string& name, bitnet::SafetensorsEntry t) {
      t.name = name;
      e.push_back(std::move(t));
    };
    auto linear = [&](const std::string& name, int64_t rows, int64_t cols) {
      if (!packed) return add(name + ".weight", bf16({rows, cols}, 0x3c00));
      std::vector<uint8_t> codes(static_cast<size_t>(rows / 4 * cols));
      for (size_t i = 0; i < codes.size(); ++i) codes[i] = i % 3 == 0 ? 0x96 : 0x55;  // 2-bit codes 0..2 only
      add(name + ".weight", {"", "U8", {rows / 4, cols}, codes});
      add(name + ".weight_scale", bf16({1}, 0x3f80));
    };
    add("model.embed_tokens.weight", bf16({16, 8}, 0x3c00));
    add("model.norm.weight", bf16({8}, 0x3f80));
    const std::string p = "model.layers.0.";
    add(p + "input_layernorm.weight", bf16({8}, 0x3f80));
    add(p + "post_attention_layernorm.weight", bf16({8}, 0x3f80));
    add(p + "self_attn.attn_sub_norm.weight", bf16({8}, 0x3f80));
    add(p + "mlp.ffn_sub_norm.weight", bf16({16}, 0x3f80));
    linear(p + "self_attn.q_proj", 8, 8);
    linear(p + "self_attn.k_proj", 4, 8);
    linear(p + "self_attn.v_proj", 4, 8);
    linear(p + "self_attn.o_proj", 8, 8);
    linear(p + "mlp.gate_proj", 16, 8);
    linear(p + "mlp.up_proj", 16, 8);
    linear(p + "mlp.down_proj", 8, 16);
    const fs::path st = dir / "model.safetensors.tmp";
    bitnet::WriteSafetensors(st.string(), e);
    const std::string weights = ReadAll(st);
    fs::remove(st);
    const std::string config =
        std::string(R"({"model_type": "bitnet", "hidden_act": "relu2", "hidden_size": 8, "intermediate_size": 16, )") +
        R"("num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4, )"
        R"("max_position_embeddings": 16, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "vocab_size": 16, )"
        R"("bos_token_id": 3, "eos_token_id": 1, "tie_word_embeddings": true, "quantization_config": )" +
        (packed ? R"({"quantization_mode": "offline", "linear_class": "autobitlinear"}})"
                : R"({"quantization_mode": "online"}})");
    const std::string tokenizer =
        // The one pre-tokenizer the reader accepts (Llama 3's split, then byte-level).
        R"({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": )"
        R"("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, )"
        R"("behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]}, )"
        R"("added_tokens": [{"id": 3, "content": "<|begin_of_text|>", "special": true}], )"
        R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})";
    const std::string generation = R"({"do_sample": true, "temperature": 0.6, "top_p": 0.9, "top_k": 5})";
    std::ofstream((dir / (packed ? "packed.seed" : "bf16.seed")), std::ios::binary)
        << config << kSeparator << weights << kSeparator << tokenizer << kSeparator << generation;
    if (!packed)
      std::ofstream(dir / "config_and_weights.seed", std::ios::binary) << config << kSeparator << weights;
  }
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
    fs::create_directories(out / "model");
    WriteGgufSeeds(out / "gguf");
    WriteSafetensorsSeeds(out / "safetensors");
    WriteModelSeeds(out / "model");
  } catch (const bitnet::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
