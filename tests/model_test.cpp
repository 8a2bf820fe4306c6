// The forward pass against an independent float64 reference, the prefill and
// decode paths against each other, and every form of the same weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "reference_model.h"
#include "test_util.h"

namespace bitnet::testing {
namespace {

std::vector<float> AllLogits(Model& model, const std::vector<int32_t>& ids) {
  auto cache = model.NewCache(64);
  return model.Forward(ids, *cache, 0, static_cast<int>(ids.size()));
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

const std::vector<int32_t> kIds = {1, 17, 300, 42, 511, 0, 99, 256, 128, 7};

TEST(ModelTest, LogitsMatchFloat64Reference) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  auto model = Model::Load(path, CpuOptions());
  const std::vector<float> got = AllLogits(*model, kIds);
  const std::vector<double> ref = ReferenceLogits(path, kIds);
  ASSERT_EQ(got.size(), ref.size());
  // Tolerance: the engine works in float32 where the reference uses double;
  // a float-vs-double difference can move an int8 activation across a
  // rounding boundary by one step, which shifts a logit by well under 1% of
  // the logits' spread. Measured here: max error ~1e-4 of the range.
  const int vocab = model->config().vocab;
  int argmax_agree = 0;
  for (size_t t = 0; t < kIds.size(); ++t) {
    double lo = 1e300, hi = -1e300, max_err = 0;
    size_t ref_best = 0, got_best = 0;
    for (int v = 0; v < vocab; ++v) {
      const double r = ref[t * vocab + v];
      lo = std::min(lo, r);
      hi = std::max(hi, r);
      max_err = std::max(max_err, std::fabs(r - got[t * vocab + v]));
      if (r > ref[t * vocab + ref_best]) ref_best = v;
      if (got[t * vocab + v] > got[t * vocab + got_best]) got_best = v;
    }
    EXPECT_LT(max_err, 5e-3 * (hi - lo)) << "position " << t;
    argmax_agree += ref_best == got_best;
  }
  EXPECT_GE(argmax_agree, static_cast<int>(kIds.size()) - 1);
}

TEST(ModelTest, PrefillThenDecodeEqualsPrefillAll) {
  TempDir dir;
  auto model = Model::Load(MakeTinyModel(dir, "m"), CpuOptions());
  const std::vector<float> all = AllLogits(*model, kIds);
  const int vocab = model->config().vocab;
  auto cache = model->NewCache(64);
  const size_t split = 4;
  std::vector<float> stepwise =
      model->Forward(std::span<const int32_t>(kIds.data(), split), *cache, 0, static_cast<int>(split));
  for (size_t t = split; t < kIds.size(); ++t) {
    std::vector<float> one = model->Forward(std::span<const int32_t>(&kIds[t], 1), *cache, static_cast<int>(t));
    stepwise.insert(stepwise.end(), one.begin(), one.end());
  }
  ASSERT_EQ(stepwise.size(), all.size());
  EXPECT_LE(MaxAbsDiff(all, stepwise), 1e-4f);
  // The last-position logits of a prefill are those of position n-1.
  auto cache2 = model->NewCache(64);
  std::vector<float> last = model->Forward(kIds, *cache2, 0, 1);
  EXPECT_EQ(std::vector<float>(all.end() - vocab, all.end()), last);
}

TEST(ModelTest, ThreadCountDoesNotChangeLogits) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  auto one = Model::Load(path, CpuOptions(1));
  auto two = Model::Load(path, CpuOptions(2));
  EXPECT_EQ(AllLogits(*one, kIds), AllLogits(*two, kIds));
}

TEST(ModelTest, ConvertedGgufGivesIdenticalLogitsAndBytes) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  ConvertModel(path, dir / "a.gguf");
  ConvertModel(path, dir / "b.gguf");
  std::ifstream a(dir / "a.gguf", std::ios::binary), b(dir / "b.gguf", std::ios::binary);
  const std::string ba((std::istreambuf_iterator<char>(a)), {}), bb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_FALSE(ba.empty());
  EXPECT_EQ(ba, bb) << "converting twice must give identical bytes";
  auto hf = Model::Load(path, CpuOptions());
  auto gg = Model::Load(dir / "a.gguf", CpuOptions());
  EXPECT_EQ(AllLogits(*hf, kIds), AllLogits(*gg, kIds));
  // And converting the converted file again is a fixed point.
  ConvertModel(dir / "a.gguf", dir / "c.gguf");
  std::ifstream c(dir / "c.gguf", std::ios::binary);
  const std::string bc((std::istreambuf_iterator<char>(c)), {});
  EXPECT_EQ(bc.size(), ba.size());
}

TEST(ModelTest, ShardedSafetensorsLoadLikeOneFile) {
  TempDir dir;
  auto single = Model::Load(MakeTinyModel(dir, "one", 7, false, "autobitlinear", 1), CpuOptions());
  auto sharded = Model::Load(MakeTinyModel(dir, "three", 7, false, "autobitlinear", 3), CpuOptions());
  EXPECT_EQ(AllLogits(*single, kIds), AllLogits(*sharded, kIds));
}

// The packed form stores weight_scale in bf16, so logits agree to bf16
// precision of the scale (relative 2^-8), not bit for bit.
void ExpectClose(const std::vector<float>& a, const std::vector<float>& b, float rel) {
  float range = 0;
  for (float v : a) range = std::max(range, std::fabs(v));
  EXPECT_LT(MaxAbsDiff(a, b), rel * range);
}

TEST(ModelTest, PackedFormsAgreeWithBf16UnderEitherScaleConvention) {
  TempDir dir;
  auto bf16 = Model::Load(MakeTinyModel(dir, "bf16"), CpuOptions());
  const std::vector<float> ref = AllLogits(*bf16, kIds);
  for (const char* cls : {"autobitlinear", "bitlinear"}) {
    const std::string path = MakeTinyModel(dir, std::string("packed-") + cls, 7, true, cls);
    auto packed = Model::Load(path, CpuOptions());
    ExpectClose(ref, AllLogits(*packed, kIds), 0.05f);
    // Forcing the other convention gives scales off by ~mean|W|^2: clearly different logits.
    Options wrong = CpuOptions();
    wrong.packed_scale = std::string(cls) == "autobitlinear" ? "divide" : "multiply";
    auto bad = Model::Load(path, wrong);
    EXPECT_GT(MaxAbsDiff(ref, AllLogits(*bad, kIds)), 0.05f);
  }
}

TEST(ModelTest, Int8OutputMatrixStaysCloseToBf16) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  auto bf16 = Model::Load(path, CpuOptions());
  Options o = CpuOptions();
  o.output_type = "int8";
  auto int8 = Model::Load(path, o);
  ExpectClose(AllLogits(*bf16, kIds), AllLogits(*int8, kIds), 0.02f);
}

TEST(ModelTest, RejectsOutOfRangeIdsAndContextOverflow) {
  TempDir dir;
  auto model = Model::Load(MakeTinyModel(dir, "m"), CpuOptions());
  auto cache = model->NewCache(8);
  const std::vector<int32_t> bad = {1, 512};
  try {
    model->Forward(bad, *cache, 0);
    FAIL() << "id 512 is outside a 512-token vocabulary";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("512"), std::string::npos) << e.what();
  }
  const std::vector<int32_t> nine(9, 1);
  EXPECT_THROW(model->Forward(nine, *cache, 0), std::exception);
  const std::vector<int32_t> two = {1, 2};
  EXPECT_THROW(model->Forward(two, *cache, 7), std::exception);
  EXPECT_THROW(model->NewCache(5000), std::exception);
}

TEST(ModelTest, GeneratorReusesTheCachedPrefix) {
  TempDir dir;
  auto model = Model::Load(MakeTinyModel(dir, "m"), CpuOptions());
  Generator gen(*model, 64);
  Generator::Params p;
  p.max_tokens = 5;
  p.sampling.temperature = 0;
  const std::vector<int32_t> prompt = {1, 2, 3, 4};
  GenerationResult first = gen.Run(prompt, p);
  EXPECT_EQ(first.stats.n_prompt_eval, 4);
  ASSERT_EQ(first.ids.size(), 5u);
  std::vector<int32_t> next = prompt;
  next.insert(next.end(), first.ids.begin(), first.ids.end());
  next.push_back(9);
  GenerationResult second = gen.Run(next, p);
  // The first four generated tokens were run and cached; the last one and 9 are new.
  EXPECT_EQ(second.stats.n_prompt_eval, 2);
  // A fresh generator on the same prompt gives the same tokens (greedy).
  Generator fresh(*model, 64);
  EXPECT_EQ(fresh.Run(next, p).ids, second.ids);
}

}  // namespace
}  // namespace bitnet::testing

namespace bitnet::testing {
namespace {

TEST(ModelTest, SamplingDefaultsComeFromGenerationConfigAndSurviveConversion) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  {
    auto model = Model::Load(path, CpuOptions());
    EXPECT_FLOAT_EQ(model->DefaultSampling().temperature, 0.6f);  // synth writes the published config
    EXPECT_FLOAT_EQ(model->DefaultSampling().top_p, 0.9f);
  }
  std::ofstream(path + "/generation_config.json") << R"({"temperature": 0.3, "top_p": 0.5, "top_k": 7})";
  ConvertModel(path, dir / "m.gguf");
  for (const std::string& p : {path, dir / "m.gguf"}) {
    auto model = Model::Load(p, CpuOptions());
    EXPECT_FLOAT_EQ(model->DefaultSampling().temperature, 0.3f) << p;
    EXPECT_FLOAT_EQ(model->DefaultSampling().top_p, 0.5f) << p;
    EXPECT_EQ(model->DefaultSampling().top_k, 7) << p;
  }
  std::ofstream(path + "/generation_config.json") << R"({"top_p": 7})";
  EXPECT_THROW(Model::Load(path, CpuOptions()), std::exception);
}

}  // namespace
}  // namespace bitnet::testing

namespace bitnet::testing {
namespace {

TEST(ModelTest, KvTypeOption) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  auto logits = [&](const std::string& kv) {
    Options o = CpuOptions();
    o.kv_type = kv;
    return AllLogits(*Model::Load(path, o), kIds);
  };
  const std::vector<float> f32 = logits("f32"), f16 = logits("f16");
  EXPECT_EQ(logits("auto"), f32) << "a tiny cache stays float32";
  EXPECT_NE(f16, f32);
  ExpectClose(f32, f16, 0.05f);
  Options bad = CpuOptions();
  bad.kv_type = "q4";
  EXPECT_THROW(Model::Load(path, bad), std::exception);
}

}  // namespace
}  // namespace bitnet::testing
