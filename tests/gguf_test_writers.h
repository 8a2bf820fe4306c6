// Test-only model writers: one random ternary model written as a Hugging Face
// packed directory and as the GGUF files other engines make (I2_S, TQ2_0,
// TQ1_0, ternary-valued floats), with the ternary packers written here from
// the documented layouts (docs/FORMATS.md, ggml-common.h), not borrowed
// from the engine. Also a float64 reference forward that honours any scale
// per 256-weight block.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bitnet/bitnet.h"

namespace bitnet::testing {

inline constexpr int64_t kTestScaleBlock = 256;

struct TestProjection {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int8_t> q;  // [rows][cols] in {-1, 0, 1}
  std::vector<float> d;   // [rows][ceil(cols / 256)]: weight = q * d
  float Scale(int64_t r, int64_t c) const { return d[r * ((cols + 255) / 256) + c / 256]; }
};

struct TestLayer {
  std::vector<float> attn_norm, attn_sub_norm, ffn_norm, ffn_sub_norm;
  TestProjection q, k, v, o, gate, up, down;
  std::vector<TestProjection*> All() { return {&q, &k, &v, &o, &gate, &up, &down}; }
};

struct TestModel {
  ModelConfig c;
  std::vector<uint16_t> embed_bf16;  // [vocab][hidden]
  std::vector<float> final_norm;
  std::vector<TestLayer> layers;
};

// Every row width a multiple of 256 (so I2_S and TQ fit): hidden 256, 4 heads
// of 64 (2 KV heads), FFN 512, 2 layers, vocab 512. One bf16 scale per projection.
ModelConfig WideConfig();
TestModel RandomTestModel(const ModelConfig& c, uint64_t seed);

// config.json + model.safetensors in the packed ("offline") form, autobitlinear
// (weight_scale multiplies). Needs one scale per projection.
void WriteHfPacked(const TestModel& m, const std::string& dir, const std::string& hidden_act);

struct GgufSpec {
  std::string arch = "bitnet-25";
  uint32_t ternary_type = 36;  // ggml type id: I2_S 36, TQ2_0 35, TQ1_0 34, F32 0, F16 1, BF16 30
  uint32_t embed_type = 30;    // BF16 30, F16 1, F32 0, Q8_0 8
  bool scale_tensors = false;  // TQ: d = 1 in every block, the scale in "<name>.scale"
  bool write_vocab_size = true;
  std::string name = "test";   // general.name
  std::string tokenizer_pre;   // non-empty: tokenizer.ggml.model "gpt2" and this tokenizer.ggml.pre (no vocab)
};
void WriteForeignGguf(const TestModel& m, const GgufSpec& spec, const std::string& path);

// Independent packers (the layouts of docs/FORMATS.md).
std::vector<uint8_t> PackI2S(const int8_t* q, int64_t n, float scale);
std::vector<uint8_t> PackTQ2(const int8_t* q, int64_t n, const float* d);
std::vector<uint8_t> PackTQ1(const int8_t* q, int64_t n, const float* d);

// Float64 logits [ids.size()][vocab] of m (docs/MODEL.md math, the
// embedding as bf16, weights q * d per block).
std::vector<double> ReferenceForward(const TestModel& m, const std::vector<int32_t>& ids);

}  // namespace bitnet::testing
