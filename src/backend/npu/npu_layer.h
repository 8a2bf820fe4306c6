// The fused decode dispatch of npu/designs/bitnet_layer.py: RMSNorm and int8
// quantization on a vector core feeding the BitLinear cores (docs/NPU.md,
// "Fewer, bigger dispatches"). This file owns its DDR layouts (the vector
// input, the host records), its runtime sequence (the mirror of the design
// script's, checked equal by tests/npu/npu_layer_test.cpp) and its recorded
// program, compiled in like recorded_program.h's.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/npu/program_interpreter.h"
#include "backend/npu/runtime_sequence.h"
#include "backend/npu/tiling_plan.h"

namespace bitnet {

// Names and runtime parameter slots of the design script.
inline constexpr const char* kNpuVectorInputFifo = "v_l3l1";
inline constexpr const char* kNpuVectorActivationFifo = "x_l1l1";
inline constexpr const char* kNpuHostRecordFifo = "h_l1l3";
inline constexpr const char* kNpuVectorRtp = "vrtp";
inline constexpr int64_t kNpuVrtpWidth = 0, kNpuVrtpKChunks = 1, kNpuVrtpTiles = 2, kNpuVrtpEpsBits = 3,
                         kNpuVrtpLen = 4;
std::string NpuVectorBarrierName(const NpuTilingPlan& plan);  // barrier<cores>: the vector core is the last worker

// The vector core holds at most this many K chunks (bitnet_vector.h).
int64_t NpuLayerMaxKChunks();
// Whether `plan` (one token) can run fused with a norm over `width` elements; if not, *why says why.
bool NpuLayerFits(const NpuTilingPlan& plan, int64_t width, std::string* why);

// DDR argument 1: per K chunk one object of x[256] | g[256] floats, zero past width.
int64_t NpuVectorInputBytes(const NpuTilingPlan& plan);
void PackNormInputForNpu(const float* x, const float* g, int64_t width, const NpuTilingPlan& plan, float* out);
// Inverse, for tests: x and g of plan.k_padded elements each.
void UnpackNormInputFromNpu(const float* packed, const NpuTilingPlan& plan, std::vector<float>* x, std::vector<float>* g);

// DDR argument 3: what the vector core fed the matmul cores: a statistics
// record, then one record per K chunk of int8 activations.
int64_t NpuHostRecordBytes(const NpuTilingPlan& plan);
struct NpuNormResult {
  float scale = 0;        // a: y = acc * s_w / a
  int32_t sum = 0;        // sum of xq
  float inv_rms = 0;
  int32_t width = 0;
  std::vector<int8_t> xq;  // [plan.k_padded], zero past width
};
// Throws Error when the records are inconsistent (a width other than asked).
NpuNormResult ParseNpuHostRecords(const uint8_t* records, const NpuTilingPlan& plan, int64_t width);

// Arguments: 0 W (PackForNpu), 1 the vector input, 2 Y [kMaxTokens][rows_padded] int32, 3 the host records.
NpuRuntimeSequence MakeNpuNormMatMulSequence(const NpuTilingPlan& plan, int64_t width, float eps);

const std::string& RecordedNpuLayerProgramJson(NpuGeneration g);
std::shared_ptr<const NpuProgram> RecordedNpuLayerProgram(NpuGeneration g);

// One fused dispatch through the emulator, on DDR buffers as XRT would hand them.
void RunNpuNormMatMulProgram(const NpuTilingPlan& plan, const uint8_t* weights, size_t weight_bytes, const float* vin,
                             int64_t width, float eps, int32_t* y, uint8_t* records);
// The same from x and g, parsed.: y [kMaxTokens][rows_padded] (token 0 computed).
NpuNormResult EmulateNpuNormMatMul(const NpuTilingPlan& plan, const uint8_t* weights, size_t weight_bytes,
                                   const float* x, const float* g, int64_t width, float eps, int32_t* y);

}  // namespace bitnet
