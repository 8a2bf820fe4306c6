// Executes an NPU program as npu/iron_record captured it from the real design
// script (npu/designs/bitlinear_gemv.py): the array configuration (ObjectFifos
// with object sizes, depths, endpoints and split/join/forward links; runtime
// parameter buffers; barriers; workers with their traced bodies, loops and
// kernel calls) plus a runtime sequence (runtime parameter writes, barrier
// sets, shim fills and drains with their access patterns). This is the
// authoritative `npu-emu`: it knows nothing of the tiling plan.
//
// Execution model: shim fills turn DDR into object streams; split/forward
// links slice or pass them on; each worker's body runs with its loop counts
// read from its runtime parameters and its kernels from npu/kernels (through
// the host shim); joins assemble the cores' objects; drains write DDR. It
// rejects what would hang or corrupt on hardware: a core acquiring more
// objects than arrive, objects left unconsumed, more objects held than a
// fifo's depth, a runtime parameter read before its barrier, a transfer that
// is not whole objects, a tap outside its buffer, a kernel argument of the
// wrong size. Cores may feed cores (directly or through a mem-tile join):
// every worker runs on its own thread and blocks on a full or empty fifo
// within its depth; when all of them wait, the dispatch fails with a
// deadlock report naming each core and the fifo it waits on. It does not
// model timing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "backend/npu/runtime_sequence.h"

namespace bitnet {

class ThreadPool;

struct NpuDdrArg {
  uint8_t* data = nullptr;
  size_t bytes = 0;
};

class NpuProgram {
 public:
  // `recorded` is the JSON npu/iron_record prints (its "config" is used).
  // Throws Error naming the field when the recording is malformed.
  static std::shared_ptr<const NpuProgram> FromRecording(const nlohmann::json& recorded);

  virtual ~NpuProgram() = default;
  virtual std::string device() const = 0;  // "npu1" / "npu2"
  // One dispatch. Each worker runs on a thread of its own, as each core runs
  // its own program (`pool` is not used: a worker may wait for another). Throws
  // Error saying what would have gone wrong on the array.
  virtual void Run(const NpuRuntimeSequence& seq, std::span<const NpuDdrArg> args, ThreadPool* pool) const = 0;
};

}  // namespace bitnet
