// The NPU emulator (`--device npu-emu`): runs a dispatch of the bitlinear
// design on the CPU from the same DDR buffers the XRT runtime would hand the
// device, by executing the program npu/iron_record captured from the real
// design script (recorded_program.h) with the plan's runtime sequence
// (runtime_sequence.h), through the program interpreter
// (program_interpreter.h) and the kernel source (npu/kernels/w2a8_tile.h).
// What it does not model: timing, lock/BD exhaustion, and the AIE compiler (a
// miscompile on hardware would not show here).
#pragma once
#include <cstdint>
#include <memory>

#include "backend/npu/npu_executor.h"

namespace bitnet {

class ThreadPool;

// One dispatch. weights: PackForNpu output; x: [kMaxTokens][k_padded];
// y: [kMaxTokens][rows_padded]. Workers run in parallel on `pool` (may be
// null). Throws Error when the program would hang or fault on the array.
void EmulateNpuDispatch(const NpuTilingPlan& plan, const uint8_t* weights, size_t weight_bytes, const int8_t* x,
                        int32_t* y, ThreadPool* pool);

std::unique_ptr<NpuExecutor> MakeNpuEmulator(NpuGeneration generation, ThreadPool* pool);

}  // namespace bitnet
