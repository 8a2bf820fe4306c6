// Picks the backend for --device auto|cpu|npu|npu-emu.
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"

namespace bitnet {

enum class DeviceKind { kAuto, kCpu, kNpu, kNpuEmu };

// Parses "auto", "cpu", "npu", "npu-emu"; throws Error naming --device otherwise.
DeviceKind ParseDevice(const std::string& name);

struct BackendChoice {
  std::unique_ptr<Backend> backend;
  std::string reason;  // one line: which backend and why, for the user
};

// kAuto: the NPU when XRT, a device and the xclbins in xclbin_dir are all
// present, else the CPU. kNpu: throws Error with the reason when any is
// missing. kNpuEmu: the NPU path through the emulator.
BackendChoice MakeBackend(DeviceKind kind, const std::string& xclbin_dir, ThreadPool* pool);

}  // namespace bitnet
