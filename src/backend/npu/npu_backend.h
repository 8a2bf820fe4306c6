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

// Which shape classes go to the NPU: decode (one token per product) and
// prefill (several). A class that is off runs on the CPU backend; --device
// auto turns a class off when the start-up calibration finds the NPU slower.
struct NpuRouting {
  bool decode = true;
  bool prefill = true;
};

// Any Error from the executor during a product (device lost, timeout, a
// kernel missing at run time) is printed once to stderr with its reason and
// every later product runs on the CPU: a run never dies on an NPU fault.
std::unique_ptr<Backend> MakeNpuBackend(std::unique_ptr<NpuExecutor> executor, ThreadPool* pool,
                                        NpuRouting routing = {});

}  // namespace bitnet
