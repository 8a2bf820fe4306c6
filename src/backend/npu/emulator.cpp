#include "backend/npu/emulator.h"

#include <vector>

#include "backend/npu/npu_layer.h"
#include "backend/npu/program_interpreter.h"
#include "backend/npu/recorded_program.h"
#include "backend/npu/runtime_sequence.h"
#include "util/error.h"
#include "w2a8_tile.h"

namespace bitnet {
namespace {

static_assert(bitnet_npu::kTileRows == NpuTilingPlan::kTileRows, "kernel and plan disagree on tile rows");
static_assert(bitnet_npu::kKChunk == NpuTilingPlan::kKChunk, "kernel and plan disagree on the K chunk");
static_assert(bitnet_npu::kMaxTokens == NpuTilingPlan::kMaxTokens, "kernel and plan disagree on the object tokens");

class NpuEmulator final : public NpuExecutor {
 public:
  NpuEmulator(NpuGeneration generation, ThreadPool* pool) : generation_(generation), pool_(pool) {}

  std::string Name() const override { return std::string("npu-emu (") + NpuGenerationName(generation_) + ")"; }
  NpuGeneration generation() const override { return generation_; }
  bool CanRun(const NpuTilingPlan&, std::string*) const override { return true; }

  int AddMatrix(const NpuTilingPlan& plan, std::vector<uint8_t> weights) override {
    Check(static_cast<int64_t>(weights.size()) == plan.weight_bytes(), "npu emulator",
          "weight buffer size does not match plan " + plan.ShapeName());
    matrices_.push_back(std::move(weights));
    return static_cast<int>(matrices_.size()) - 1;
  }

  void Run(int matrix, const NpuTilingPlan& plan, const int8_t* x, int32_t* y) override {
    const std::vector<uint8_t>& w = matrices_.at(static_cast<size_t>(matrix));
    EmulateNpuDispatch(plan, w.data(), w.size(), x, y, pool_);
  }

  bool CanRunNormMatMul(const NpuTilingPlan& plan) const override { return plan.k_chunks <= NpuLayerMaxKChunks(); }

  void RunNormMatMul(int matrix, const NpuTilingPlan& plan, const float* vin, int64_t width, float eps, int32_t* y,
                     uint8_t* records) override {
    const std::vector<uint8_t>& w = matrices_.at(static_cast<size_t>(matrix));
    RunNpuNormMatMulProgram(plan, w.data(), w.size(), vin, width, eps, y, records);
  }

 private:
  NpuGeneration generation_;
  ThreadPool* pool_;
  std::vector<std::vector<uint8_t>> matrices_;
};

}  // namespace

void EmulateNpuDispatch(const NpuTilingPlan& plan, const uint8_t* weights, size_t weight_bytes, const int8_t* x,
                        int32_t* y, ThreadPool* pool) {
  Check(static_cast<int64_t>(weight_bytes) == plan.weight_bytes(), "npu emulator",
        "weight buffer has " + std::to_string(weight_bytes) + " bytes, plan " + plan.ShapeName() + " needs " +
            std::to_string(plan.weight_bytes()));
  // The program only reads W and X; the interpreter's buffers are writable for Y.
  const NpuDdrArg args[3] = {
      {const_cast<uint8_t*>(weights), weight_bytes},
      {reinterpret_cast<uint8_t*>(const_cast<int8_t*>(x)), static_cast<size_t>(plan.x_bytes())},
      {reinterpret_cast<uint8_t*>(y), static_cast<size_t>(plan.y_bytes())}};
  RecordedNpuProgram(plan.generation)->Run(MakeNpuRuntimeSequence(plan), args, pool);
}

std::unique_ptr<NpuExecutor> MakeNpuEmulator(NpuGeneration generation, ThreadPool* pool) {
  return std::make_unique<NpuEmulator>(generation, pool);
}

}  // namespace bitnet
