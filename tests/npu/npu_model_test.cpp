// The model's decode through the NPU backend's fused dispatch (emulated): a
// tiny synthetic model, a counting executor around the emulator.
//  - each decoded layer is 4 fused dispatches (norm + quantize + BitLinear on
//    the device) and no plain ones: the norms and quantizers left the host;
//  - the logits match the CPU backend's within the stated tolerance and the
//    greedy tokens are the same.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "backend/npu/emulator.h"
#include "backend/npu/npu_backend.h"
#include "model/forward.h"
#include "model/model_impl.h"
#include "util/thread_pool.h"

namespace bitnet {
namespace {

class CountingExecutor final : public NpuExecutor {
 public:
  explicit CountingExecutor(std::unique_ptr<NpuExecutor> inner) : inner_(std::move(inner)) {}
  std::string Name() const override { return inner_->Name(); }
  NpuGeneration generation() const override { return inner_->generation(); }
  bool CanRun(const NpuTilingPlan& p, std::string* why) const override { return inner_->CanRun(p, why); }
  int AddMatrix(const NpuTilingPlan& p, std::vector<uint8_t> w) override { return inner_->AddMatrix(p, std::move(w)); }
  void Run(int m, const NpuTilingPlan& p, const int8_t* x, int32_t* y) override {
    ++plain;
    inner_->Run(m, p, x, y);
  }
  void RunBatch(int m, const NpuTilingPlan& p, int count, const int8_t* x, int32_t* y) override {
    plain += count;
    inner_->RunBatch(m, p, count, x, y);
  }
  bool CanRunNormMatMul(const NpuTilingPlan& p) const override { return inner_->CanRunNormMatMul(p); }
  void RunNormMatMul(int m, const NpuTilingPlan& p, const float* vin, int64_t width, float eps, int32_t* y,
                     uint8_t* records) override {
    ++fused;
    inner_->RunNormMatMul(m, p, vin, width, eps, y, records);
  }
  int plain = 0, fused = 0;

 private:
  std::unique_ptr<NpuExecutor> inner_;
};

struct Engine {
  ModelWeights weights;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> transformer;
  std::unique_ptr<KvCache::Impl> cache;
  Activations::Impl act;
  std::vector<float> Step(const std::vector<int32_t>& tokens, int pos) {
    std::vector<float> logits(static_cast<size_t>(weights.config.vocab));
    SequenceStep s;
    s.tokens = tokens.data();
    s.n = static_cast<int>(tokens.size());
    s.start_pos = pos;
    s.cache = cache.get();
    s.n_logits = 1;
    s.logits = logits.data();
    transformer->Forward(std::span<const SequenceStep>(&s, 1), act);
    return logits;
  }
};

TEST(NpuModel, DecodeFusesNormAndProductAndMatchesTheCpu) {
  const auto dir = std::filesystem::temp_directory_path() / ("npu_model_" + std::to_string(::getpid()));
  SynthOptions so;
  so.preset = "tiny";
  so.vocab = 512;
  so.n_threads = 1;
  WriteSyntheticModel(dir.string(), so);
  ThreadPool pool(1);
  Options opt;
  std::shared_ptr<gguf::File> none;
  Engine cpu, npu;
  cpu.weights = LoadWeights(dir.string(), opt, &none);
  npu.weights = LoadWeights(dir.string(), opt, &none);
  std::filesystem::remove_all(dir);
  auto counting = std::make_unique<CountingExecutor>(MakeNpuEmulator(NpuGeneration::kNpu2, &pool));
  CountingExecutor* count = counting.get();
  cpu.backend = MakeCpuBackend(&pool);
  npu.backend = MakeNpuBackend(std::move(counting), &pool);
  const ModelConfig& c = cpu.weights.config;
  for (Engine* e : {&cpu, &npu}) {
    e->transformer = std::make_unique<Transformer>(e->weights, *e->backend, pool);
    e->cache = std::make_unique<KvCache::Impl>(c.n_layers, 64, c.n_kv_heads * c.head_dim, "f32");
  }

  std::vector<int32_t> prompt = {3, 141, 59};
  std::vector<float> lc = cpu.Step(prompt, 0), ln = npu.Step(prompt, 0);
  EXPECT_EQ(count->fused, 0) << "prefill (3 tokens) takes the per-matrix path";
  int pos = static_cast<int>(prompt.size());
  for (int step = 0; step < 4; ++step) {
    // Tolerance: the device's quantizer rounds a few activations differently
    // (float sums where the CPU uses double), so logits agree to 0.1 % of their
    // largest magnitude, and the greedy token is the same.
    float max_abs = 0, max_diff = 0;
    for (size_t i = 0; i < lc.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(lc[i]));
      max_diff = std::max(max_diff, std::fabs(lc[i] - ln[i]));
    }
    EXPECT_LE(max_diff, 1e-3f * max_abs) << "step " << step;
    const auto next = static_cast<int32_t>(std::max_element(lc.begin(), lc.end()) - lc.begin());
    ASSERT_EQ(next, static_cast<int32_t>(std::max_element(ln.begin(), ln.end()) - ln.begin())) << "step " << step;
    const int fused0 = count->fused, plain0 = count->plain;
    lc = cpu.Step({next}, pos);
    ln = npu.Step({next}, pos);
    ++pos;
    EXPECT_EQ(count->fused - fused0, 4 * c.n_layers) << "qkv, o, gate|up, down: one dispatch each, norm included";
    EXPECT_EQ(count->plain - plain0, 0) << "no per-matrix dispatch and no host norm in decode";
  }
}

}  // namespace
}  // namespace bitnet
