// The NPU emulator: executes a dispatch of the bitlinear design on the CPU
// from the same DDR buffers the XRT runtime would hand the device. Each
// column's shim DMA patterns (NpuTilingPlan taps) are walked to produce the
// streams the ObjectFifos carry; each core consumes its share of every object
// in the design's loop order and runs the shared tile arithmetic
// (npu/kernels/w2a8_tile.h); the joined output stream is written back through
// the output tap. What it does not model: timing, lock/BD exhaustion, and the
// AIE compiler (a miscompile on hardware would not show here).
#pragma once
#include <cstdint>
#include <memory>

#include "backend/npu/npu_executor.h"

namespace bitnet {

class ThreadPool;

// One dispatch. weights: PackForNpu output; x: [tokens][k_padded];
// y: [tokens][rows_padded]. Columns run in parallel on `pool` (may be null).
// Throws Error when a stream's length differs from what the cores consume
// (on hardware that is a deadlock) or a tap reaches outside its buffer.
void EmulateNpuDispatch(const NpuTilingPlan& plan, const uint8_t* weights, size_t weight_bytes, const int8_t* x,
                        int32_t* y, ThreadPool* pool);

std::unique_ptr<NpuExecutor> MakeNpuEmulator(NpuGeneration generation, ThreadPool* pool);

}  // namespace bitnet
