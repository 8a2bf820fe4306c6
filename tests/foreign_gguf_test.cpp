// GGUF files from bitnet.cpp and llama.cpp: each type and architecture against
// the same weights in Hugging Face form, scales per tensor / row / block
// against a float64 reference, conventions, exports, and malformed files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "gguf_test_writers.h"
#include "model/foreign_ternary.h"
#include "test_util.h"

namespace bitnet::testing {
namespace {

const std::vector<int32_t> kIds = {1, 17, 300, 42, 511, 0, 99, 256};

// 1bitLLM's SiLU BitNets, which llama.cpp's 'bitnet' architecture targets: no
// grouped-query heads, rope theta 10000.
ModelConfig OldBitnetConfig() {
  ModelConfig c = WideConfig();
  c.n_kv_heads = c.n_heads;
  c.rope_theta = 10000.0f;
  return c;
}

std::vector<float> LogitsWith(const std::string& path, const std::string& ffn_act) {
  Options o = CpuOptions();
  o.ffn_act = ffn_act;
  auto model = Model::Load(path, o);
  auto cache = model->NewCache(32);
  return model->Forward(kIds, *cache, 0, static_cast<int>(kIds.size()));
}

std::vector<float> Logits(const std::string& path) {
  auto model = Model::Load(path, CpuOptions());
  auto cache = model->NewCache(32);
  return model->Forward(kIds, *cache, 0, static_cast<int>(kIds.size()));
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

float Range(const std::vector<float>& a) {
  const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
  return *hi - *lo;
}

// Engine (float32, int8 activations) against the float64 reference: an
// activation can round to the other int8 step, so logits agree to a small
// fraction of their spread, as in model_test's reference comparison.
void ExpectMatchesReference(const std::vector<float>& got, const std::vector<double>& ref) {
  ASSERT_EQ(got.size(), ref.size());
  double lo = 1e300, hi = -1e300, err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    lo = std::min(lo, ref[i]);
    hi = std::max(hi, ref[i]);
    err = std::max(err, std::fabs(ref[i] - got[i]));
  }
  EXPECT_LT(err, 5e-3 * (hi - lo));
}

std::string Describe(const std::string& path) { return Model::Load(path, CpuOptions())->Describe(); }

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), {});
}

void WriteAll(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::string LoadError(const std::string& path) {
  try {
    Model::Load(path, CpuOptions());
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

struct Fixture {
  TempDir dir;
  TestModel model = RandomTestModel(WideConfig(), 11);
  std::string Hf(const std::string& act) {
    model.c.relu2 = act == "relu2";
    const std::string path = dir / ("hf-" + act);
    WriteHfPacked(model, path, act);
    return path;
  }
  std::string Gguf(const std::string& name, GgufSpec spec) {
    const std::string path = dir / name;
    WriteForeignGguf(model, spec, path);
    return path;
  }
};

TEST(ForeignGguf, EveryTypeAndArchitectureGivesTheHfLogits) {
  Fixture fx;
  const std::vector<float> relu2 = Logits(fx.Hf("relu2"));
  const std::vector<float> silu = Logits(fx.Hf("silu"));
  EXPECT_GT(MaxAbsDiff(relu2, silu), 1e-3f) << "the activation must matter for these checks to mean anything";
  struct Case {
    const char* arch;
    uint32_t type;
  };
  for (const Case& k : {Case{"bitnet-25", kGgmlI2_S}, Case{"bitnet-b1.58", kGgmlTQ2_0}, Case{"bitnet", kGgmlTQ2_0},
                        Case{"bitnet", kGgmlTQ1_0}, Case{"bitnet-25", kGgmlTQ1_0}, Case{"bitnet-25", kGgmlF32},
                        Case{"bitnet", kGgmlF16}, Case{"bitnet-b1.58", kGgmlBF16}}) {
    GgufSpec spec;
    spec.arch = k.arch;
    spec.ternary_type = k.type;
    const std::string path = fx.Gguf(std::string(k.arch) + "-" + GgmlTypeName(k.type) + ".gguf", spec);
    // WideConfig has GQA and rope theta 500000, so even llama.cpp's 'bitnet'
    // reads as the relu^2 2B-4T family (SiLU 'bitnet' files: OldBitnetFileIsSiluAndOverridesWork).
    EXPECT_EQ(Logits(path), relu2) << k.arch << " " << GgmlTypeName(k.type);
  }
}

TEST(ForeignGguf, ActivationFollowsTheArchitectureAndInfoSaysWhy) {
  Fixture fx;
  fx.model = RandomTestModel(OldBitnetConfig(), 11);
  GgufSpec spec;
  spec.ternary_type = kGgmlTQ2_0;
  spec.arch = "bitnet";
  const std::string llama = fx.Gguf("llama.gguf", spec);
  spec.arch = "bitnet-25";
  const std::string bitnetcpp = fx.Gguf("bitnetcpp.gguf", spec);
  EXPECT_NE(Describe(llama).find("SiLU FFN gate (llama.cpp builds 'bitnet' with SiLU"), std::string::npos)
      << Describe(llama);
  EXPECT_NE(Describe(bitnetcpp).find("relu^2 FFN gate (bitnet.cpp builds 'bitnet-25'"), std::string::npos)
      << Describe(bitnetcpp);
  EXPECT_NE(Logits(llama), Logits(bitnetcpp));
  EXPECT_NE(Describe(bitnetcpp).find("TQ2_0"), std::string::npos) << Describe(bitnetcpp);
}

// llama.cpp's converter labels 2B-4T 'bitnet' (SiLU in llama.cpp): the family
// is recognised and computed with relu^2, giving the HF model's logits.
TEST(ForeignGguf, TwoB4TLikeBitnetFileIsRelu2) {
  Fixture fx;
  const std::vector<float> relu2 = Logits(fx.Hf("relu2"));
  const std::vector<float> silu = Logits(fx.Hf("silu"));
  GgufSpec spec;
  spec.arch = "bitnet";
  spec.ternary_type = kGgmlTQ2_0;
  spec.tokenizer_pre = "llama-bpe";
  const std::string path = fx.Gguf("2b4t-like.gguf", spec);
  EXPECT_EQ(Logits(path), relu2);
  const std::string d = Describe(path);
  EXPECT_NE(d.find("relu^2 FFN gate (bitnet arch with Llama 3 vocab, GQA, rope theta 500000: the 2B-4T family"),
            std::string::npos) << d;
  // The override follows llama.cpp instead.
  EXPECT_EQ(LogitsWith(path, "silu"), silu);
  EXPECT_NE(Model::Load(path, [] { Options o = CpuOptions(); o.ffn_act = "silu"; return o; }())->Describe().find(
                "SiLU FFN gate (--ffn-act silu"),
            std::string::npos);
}

// Old-bitnet shape (no GQA, theta 10000): llama.cpp's SiLU, unless the name says 2B-4T
// or a Llama 3 vocabulary joins one other sign.
TEST(ForeignGguf, OldBitnetFileIsSiluAndOverridesWork) {
  Fixture fx;
  fx.model = RandomTestModel(OldBitnetConfig(), 11);
  const std::vector<float> relu2 = Logits(fx.Hf("relu2"));
  const std::vector<float> silu = Logits(fx.Hf("silu"));
  ASSERT_GT(MaxAbsDiff(relu2, silu), 1e-3f);
  GgufSpec spec;
  spec.arch = "bitnet";
  spec.ternary_type = kGgmlTQ1_0;
  const std::string old = fx.Gguf("old.gguf", spec);
  EXPECT_EQ(Logits(old), silu);
  EXPECT_NE(Describe(old).find("SiLU FFN gate (llama.cpp builds 'bitnet'"), std::string::npos) << Describe(old);
  EXPECT_EQ(LogitsWith(old, "relu2"), relu2);
  EXPECT_EQ(LogitsWith(old, "auto"), silu);
  spec.tokenizer_pre = "llama-bpe";  // one sign alone is not enough
  EXPECT_EQ(Logits(fx.Gguf("old-llama3.gguf", spec)), silu);
  spec.tokenizer_pre.clear();
  spec.name = "Bitnet B1.58 2B 4T";  // llama.cpp's rewrite of the directory name
  const std::string named = fx.Gguf("named.gguf", spec);
  EXPECT_EQ(Logits(named), relu2);
  EXPECT_NE(Describe(named).find("general.name 'Bitnet B1.58 2B 4T'"), std::string::npos) << Describe(named);
  try {
    LogitsWith(old, "gelu");
    ADD_FAILURE() << "--ffn-act gelu was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--ffn-act"), std::string::npos) << e.what();
  }
}

TEST(ForeignGguf, I2sScaleMultipliesLikeBitnetCpp) {
  // Doubling the stored f32 scale must double every projection output: a
  // divide convention would halve them instead.
  Fixture fx;
  const std::vector<double> ref = ReferenceForward(fx.model, kIds);
  ExpectMatchesReference(Logits(fx.Gguf("a.gguf", {})), ref);
  for (TestLayer& L : fx.model.layers)
    for (TestProjection* p : L.All())
      for (float& d : p->d) d *= 2;
  const std::vector<double> doubled = ReferenceForward(fx.model, kIds);
  ExpectMatchesReference(Logits(fx.Gguf("b.gguf", {})), doubled);
}

TEST(ForeignGguf, TqScaleTensorsMultiply) {
  Fixture fx;
  const std::vector<float> hf = Logits(fx.Hf("relu2"));
  GgufSpec spec;
  spec.ternary_type = kGgmlTQ2_0;
  spec.scale_tensors = true;  // d = 1 in every block, the scale in "<name>.scale"
  EXPECT_EQ(Logits(fx.Gguf("s.gguf", spec)), hf);
}

TEST(ForeignGguf, QuantizedEmbeddingsLoadAsTheirValues) {
  // A Q8_0 embedding must give exactly the logits of an F32 file holding its
  // dequantized values; an F16 one stays close to the bf16 original.
  Fixture fx;
  GgufSpec spec;
  spec.embed_type = kGgmlQ8_0;
  const std::string q8 = fx.Gguf("q8.gguf", spec);
  auto file = gguf::File::Open(q8);
  const gguf::TensorInfo* t = file->FindTensor("token_embd.weight");
  ASSERT_NE(t, nullptr);
  std::vector<float> deq(static_cast<size_t>(t->n_elements()));
  DequantizeRowToF32(kGgmlQ8_0, t->data, deq.data(), static_cast<int64_t>(deq.size()));
  TestModel f32_model = fx.model;
  // Q8_0 values are f16 d times an int8: bf16 cannot hold all of them, so the
  // comparison file keeps f32. Write it by replacing the bf16 table via F32 spec.
  GgufSpec f32spec;
  f32spec.embed_type = kGgmlF32;
  const std::string f32 = fx.dir / "f32.gguf";
  WriteForeignGguf(f32_model, f32spec, f32);
  {
    std::vector<uint8_t> bytes = ReadAll(f32);
    auto f = gguf::File::Open(f32);
    const gguf::TensorInfo* e = f->FindTensor("token_embd.weight");
    std::memcpy(bytes.data() + f->data_offset() + e->offset, deq.data(), deq.size() * 4);
    f.reset();
    WriteAll(f32, bytes);
  }
  EXPECT_EQ(Logits(q8), Logits(f32));
  spec.embed_type = kGgmlF16;
  const std::vector<float> f16 = Logits(fx.Gguf("f16.gguf", spec));
  const std::vector<float> bf16 = Logits(fx.Gguf("bf16.gguf", {}));
  EXPECT_LT(MaxAbsDiff(f16, bf16), 1e-2f * Range(bf16));
}

TEST(ForeignGguf, PerRowAndPerBlockScalesAreHonoured) {
  Fixture fx;
  // Per row: q rows of layer 0 (one block each) take one of three scales.
  // Per block: the second 256-weight block of every layer-1 down row gets 3x.
  TestProjection& q = fx.model.layers[0].q;
  for (int64_t r = 0; r < q.rows; ++r) q.d[r] *= static_cast<float>(1 + r % 3);
  TestProjection& down = fx.model.layers[1].down;  // cols 512: two blocks per row
  for (int64_t r = 0; r < down.rows; ++r) down.d[r * 2 + 1] *= 3;
  const std::vector<double> ref = ReferenceForward(fx.model, kIds);
  for (uint32_t type : {kGgmlTQ2_0, kGgmlTQ1_0, kGgmlF32}) {
    GgufSpec spec;
    spec.ternary_type = type;
    const std::string path = fx.Gguf(std::string("blocks-") + GgmlTypeName(type) + ".gguf", spec);
    ExpectMatchesReference(Logits(path), ref);
    const std::string info = Describe(path);
    EXPECT_NE(info.find("per-block scales"), std::string::npos) << info;
  }
  // Without the per-block tensor only per-row scales remain: the fast path.
  for (int64_t r = 0; r < down.rows; ++r) down.d[r * 2 + 1] = down.d[r * 2];
  GgufSpec spec;
  spec.ternary_type = kGgmlTQ2_0;
  const std::string rows = fx.Gguf("rows.gguf", spec);
  ExpectMatchesReference(Logits(rows), ReferenceForward(fx.model, kIds));
  EXPECT_NE(Describe(rows).find("per-row scales"), std::string::npos) << Describe(rows);
}

TEST(ForeignGguf, RopePermutationMatchesLlamaCppAndIsUndone) {
  // llama.cpp's permute: reshape(heads, 2, dim/2, cols).swapaxes(1, 2): new
  // row h*dim + 2i + j comes from old row h*dim + j*dim/2 + i.
  ForeignTernary t;
  t.rows = 2 * 8;
  t.cols = 4;
  t.values.resize(static_cast<size_t>(t.rows * t.cols));
  t.block_scales.resize(static_cast<size_t>(t.rows));
  for (int64_t r = 0; r < t.rows; ++r) {
    t.values[r * t.cols] = static_cast<int8_t>(r % 3 - 1);
    t.block_scales[r] = static_cast<float>(r + 1);
  }
  ForeignTernary p = t;
  PermuteRopeRows(p, 2, 8);
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 2; ++j) EXPECT_EQ(p.block_scales[h * 8 + 2 * i + j], t.block_scales[h * 8 + j * 4 + i]);
  UnpermuteRopeRows(p, 2, 8);
  EXPECT_EQ(p.values, t.values);
  EXPECT_EQ(p.block_scales, t.block_scales);
  // No converter of the three architectures permutes (docs/FORMATS.md): a file
  // whose q/k rows were permuted anyway must not match the HF logits, which
  // is how the exact-match test above also shows no rows are moved at load.
  Fixture fx;
  const std::vector<float> hf = Logits(fx.Hf("relu2"));
  for (TestLayer& L : fx.model.layers) {
    ForeignTernary q;
    q.rows = L.q.rows;
    q.cols = L.q.cols;
    q.values = L.q.q;
    q.block_scales = L.q.d;
    PermuteRopeRows(q, fx.model.c.n_heads, fx.model.c.head_dim);
    L.q.q = q.values;
  }
  EXPECT_NE(Logits(fx.Gguf("permuted.gguf", {})), hf);
  EXPECT_NE(Describe(fx.Gguf("p2.gguf", {})).find("Hugging Face q/k row order"), std::string::npos);
}

// ---- exports ----

TEST(ForeignGguf, ExportsRoundTrip) {
  Fixture fx;
  const std::string hf = fx.Hf("relu2");
  const std::vector<float> src = Logits(hf);
  for (const char* format : {"tq2_0", "tq1_0", "i2_s"}) {
    ConvertOptions o;
    o.format = format;
    const std::string out = fx.dir / (std::string(format) + ".gguf");
    ConvertModel(hf, out, o);
    auto f = gguf::File::Open(out);
    const uint32_t want = std::string(format) == "i2_s" ? kGgmlI2_S : std::string(format) == "tq2_0" ? kGgmlTQ2_0 : kGgmlTQ1_0;
    for (const char* name : {"blk.0.attn_q.weight", "blk.1.ffn_down.weight"}) {
      ASSERT_NE(f->FindTensor(name), nullptr);
      EXPECT_EQ(f->FindTensor(name)->type, want) << format << " " << name;
    }
    EXPECT_EQ(f->GetString("general.architecture"), std::string(format) == "i2_s" ? "bitnet-25" : "bitnet");
    const std::vector<float> got = Logits(out);
    if (std::string(format) == "i2_s") {
      // The official layout keeps the embedding in f16: measured here the
      // logits move by under 1e-3 of their spread (bf16 -> f16 is exact for
      // these values' mantissas; only rounding at tiny magnitudes differs).
      EXPECT_EQ(f->FindTensor("token_embd.weight")->type, kGgmlF16);
      EXPECT_LT(MaxAbsDiff(got, src), 1e-3f * Range(src));
    } else {
      EXPECT_EQ(got, src) << format;
    }
    // Exporting the export again gives the same bytes: nothing drifts.
    const std::string again = fx.dir / (std::string(format) + "-again.gguf");
    ConvertModel(out, again, o);
    EXPECT_EQ(ReadAll(again), ReadAll(out)) << format;
  }
}

TEST(ForeignGguf, ExportOfTheTinyModelFallsBackToExactFloats) {
  // The tiny preset's rows (128, 320 wide) fit no TQ block: those projections
  // are written as ternary-valued F32, and the logits stay identical.
  TempDir dir;
  const std::string hf = MakeTinyModel(dir, "tiny");
  const std::vector<float> src = Logits(hf);
  ConvertOptions o;
  o.format = "tq2_0";
  ConvertModel(hf, dir / "t.gguf", o);
  EXPECT_EQ(Logits(dir / "t.gguf"), src);
  o.format = "i2_s";
  ConvertModel(hf, dir / "i.gguf", o);
  auto f = gguf::File::Open(dir / "i.gguf");
  EXPECT_EQ(f->FindTensor("blk.0.attn_q.weight")->type, kGgmlI2_S);   // 128 wide
  EXPECT_EQ(f->FindTensor("blk.0.ffn_down.weight")->type, kGgmlF32);  // 320 wide
  EXPECT_LT(MaxAbsDiff(Logits(dir / "i.gguf"), src), 1e-3f * Range(src));
}

TEST(ForeignGguf, PerBlockScalesSurviveExport) {
  Fixture fx;
  TestProjection& down = fx.model.layers[0].down;
  for (int64_t r = 0; r < down.rows; ++r) down.d[r * 2 + 1] *= 2;
  GgufSpec spec;
  spec.ternary_type = kGgmlTQ2_0;
  const std::string src = fx.Gguf("src.gguf", spec);
  ConvertOptions o;
  o.format = "tq1_0";
  ConvertModel(src, fx.dir / "out.gguf", o);
  EXPECT_EQ(Logits(fx.dir / "out.gguf"), Logits(src));
  o.format = "i2_s";  // one scale per tensor only: that projection becomes F32
  ConvertModel(src, fx.dir / "i2s.gguf", o);
  EXPECT_EQ(gguf::File::Open(fx.dir / "i2s.gguf")->FindTensor("blk.0.ffn_down.weight")->type, kGgmlF32);
}

// ---- malformed files ----

TEST(ForeignGguf, MalformedGgufFilesAreRejectedClearly) {
  Fixture fx;
  const std::string good = fx.Gguf("good.gguf", {});
  const std::vector<uint8_t> bytes = ReadAll(good);

  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2));
  WriteAll(fx.dir / "cut.gguf", cut);
  EXPECT_NE(LoadError(fx.dir / "cut.gguf").find("cut.gguf"), std::string::npos) << LoadError(fx.dir / "cut.gguf");

  std::vector<uint8_t> overlong = bytes;
  const uint64_t huge = 1ull << 40;
  std::memcpy(overlong.data() + 8, &huge, 8);  // tensor count, after magic and version
  WriteAll(fx.dir / "overlong.gguf", overlong);
  EXPECT_NE(LoadError(fx.dir / "overlong.gguf"), "");

  // Misaligned: the offset of output_norm.weight, after its name, n_dims, dims and type.
  std::vector<uint8_t> misaligned = bytes;
  const std::string name = "output_norm.weight";
  auto it = std::search(misaligned.begin(), misaligned.end(), name.begin(), name.end());
  ASSERT_NE(it, misaligned.end());
  const size_t at = static_cast<size_t>(it - misaligned.begin()) + name.size() + 4 + 8 + 4;
  uint64_t offset;
  std::memcpy(&offset, misaligned.data() + at, 8);
  offset += 4;
  std::memcpy(misaligned.data() + at, &offset, 8);
  WriteAll(fx.dir / "misaligned.gguf", misaligned);
  EXPECT_NE(LoadError(fx.dir / "misaligned.gguf").find("alignment"), std::string::npos)
      << LoadError(fx.dir / "misaligned.gguf");

  // Unknown type: the first ternary tensor's type id set to 99.
  std::vector<uint8_t> unknown = bytes;
  const std::string q = "blk.0.attn_q.weight";
  it = std::search(unknown.begin(), unknown.end(), q.begin(), q.end());
  ASSERT_NE(it, unknown.end());
  const uint32_t type99 = 99;
  std::memcpy(unknown.data() + (it - unknown.begin()) + q.size() + 4 + 16, &type99, 4);
  WriteAll(fx.dir / "unknown.gguf", unknown);
  const std::string err = LoadError(fx.dir / "unknown.gguf");
  EXPECT_NE(err.find("blk.0.attn_q.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown(99)"), std::string::npos) << err;
}

TEST(ForeignGguf, BadMetadataAndShapesNameTheFieldOrTensor) {
  Fixture fx;
  GgufSpec spec;
  spec.arch = "llama";
  const std::string llama = fx.Gguf("llama.gguf", spec);
  EXPECT_NE(LoadError(llama).find("general.architecture"), std::string::npos) << LoadError(llama);
  EXPECT_NE(LoadError(llama).find("'llama'"), std::string::npos);

  // A ternary tensor whose values are not ternary: F32 with two magnitudes in one block.
  fx.model.layers[0].k.d.assign(fx.model.layers[0].k.d.size(), 0.02f);
  GgufSpec f32;
  f32.ternary_type = kGgmlF32;
  const std::string path = fx.Gguf("f32.gguf", f32);
  std::vector<uint8_t> bytes = ReadAll(path);
  {
    auto f = gguf::File::Open(path);
    const gguf::TensorInfo* t = f->FindTensor("blk.0.attn_k.weight");
    float* w = reinterpret_cast<float*>(bytes.data() + f->data_offset() + t->offset);
    w[0] = 0.5f;
    w[1] = 0.25f;
  }
  WriteAll(fx.dir / "notternary.gguf", bytes);
  const std::string err = LoadError(fx.dir / "notternary.gguf");
  EXPECT_NE(err.find("blk.0.attn_k.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("not ternary-valued"), std::string::npos) << err;

  // Metadata that disagrees with the tensors.
  TestModel small = fx.model;
  small.c.ffn = 256;  // metadata says 256, tensors are 512 wide
  small.c.vocab = fx.model.c.vocab;
  WriteForeignGguf(small, {}, fx.dir / "ffn.gguf");
  const std::string shape_err = LoadError(fx.dir / "ffn.gguf");
  EXPECT_NE(shape_err.find("blk.0."), std::string::npos) << shape_err;
}

}  // namespace
}  // namespace bitnet::testing
