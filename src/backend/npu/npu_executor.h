// What runs an NPU dispatch: the XRT runtime on hardware, or the emulator.
// Both take exactly the buffers the design's runtime sequence reads and
// writes, so the host side above them is the same code either way.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend/npu/tiling_plan.h"
#include "util/error.h"

namespace bitnet {

class NpuExecutor {
 public:
  virtual ~NpuExecutor() = default;
  virtual std::string Name() const = 0;
  virtual NpuGeneration generation() const = 0;
  // Whether a dispatch for `plan` is available (e.g. its kernel and
  // instruction stream exist); if not, *why says what is missing.
  virtual bool CanRun(const NpuTilingPlan& plan, std::string* why) const = 0;
  // Takes a matrix's PackForNpu buffer (weights stay resident); returns an id.
  virtual int AddMatrix(const NpuTilingPlan& plan, std::vector<uint8_t> weights) = 0;
  // One dispatch: x is [kMaxTokens][plan.k_padded] int8 (tokens past
  // plan.tokens zero), y receives [kMaxTokens][plan.rows_padded()] int32, of
  // which the first plan.tokens rows are computed. `plan` must have the
  // matrix's layout (only tokens may differ from the plan given to AddMatrix).
  virtual void Run(int matrix, const NpuTilingPlan& plan, const int8_t* x, int32_t* y) = 0;
  // `count` dispatches of the same matrix and plan (a long prefill): x holds
  // count activation buffers back to back, y count result buffers. A runtime
  // that can submit them together overrides this (XRT: one xrt::runlist, one
  // host round trip instead of count); by default they run one by one.
  virtual void RunBatch(int matrix, const NpuTilingPlan& plan, int count, const int8_t* x, int32_t* y) {
    for (int i = 0; i < count; ++i) Run(matrix, plan, x + i * plan.x_bytes(), y + i * (plan.y_bytes() / 4));
  }
  // The fused decode dispatch (npu_layer.h, npu/designs/bitnet_layer.py):
  // whether this executor has it for `plan`, and one run of it. vin is the
  // vector input (PackNormInputForNpu), y as in Run, records receive
  // NpuHostRecordBytes(plan) bytes. By default an executor has none.
  virtual bool CanRunNormMatMul(const NpuTilingPlan& /*plan*/) const { return false; }
  virtual void RunNormMatMul(int /*matrix*/, const NpuTilingPlan& /*plan*/, const float* /*vin*/, int64_t /*width*/,
                             float /*eps*/, int32_t* /*y*/, uint8_t* /*records*/) {
    throw Error("this NPU runtime has no fused dispatch");
  }
};

}  // namespace bitnet
