// The Backend that runs BitLinear products through an NpuExecutor (XRT or the
// emulator). Matrices the executor cannot run (no plan fits, or no kernel for
// the shape) go to the CPU backend instead, so Upload never fails for shape
// reasons. The result is exact int32; scales stay with the model.
#pragma once
#include <memory>

#include "backend/backend.h"
#include "backend/npu/npu_executor.h"

namespace bitnet {

class ThreadPool;

std::unique_ptr<Backend> MakeNpuBackend(std::unique_ptr<NpuExecutor> executor, ThreadPool* pool);

}  // namespace bitnet
