// Picks the backend for --device auto|cpu|npu|npu-emu.
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/npu/npu_executor.h"

namespace bitnet {

enum class DeviceKind { kAuto, kCpu, kNpu, kNpuEmu };

// Parses "auto", "cpu", "npu", "npu-emu"; throws Error naming --device otherwise.
DeviceKind ParseDevice(const std::string& name);

struct BackendChoice {
  std::unique_ptr<Backend> backend;
  std::string reason;  // one line: which backend and why, for the user
};

// kAuto: opens the NPU (XRT built in, a device, its generation's xclbin in
// xclbin_dir), then calibrates it (CalibrateNpu) and uses it only for the
// shape classes where it measured faster than the CPU; otherwise, or on any
// failure, the CPU, with the reason in BackendChoice::reason. kNpu: the NPU
// for everything (throws Error with the reason when it cannot open).
// kNpuEmu: the NPU path through the emulator.
BackendChoice MakeBackend(DeviceKind kind, const std::string& xclbin_dir, ThreadPool* pool);

// What the NPU is for one shape class: faster than the CPU, or only a power
// win (slower, but it frees the CPU cores and draws less; --device npu).
enum class NpuShapeState { kFaster, kPower };
const char* NpuShapeStateName(NpuShapeState s);  // "faster" / "power"

struct NpuCalibration {
  double npu_decode_s = 0, cpu_decode_s = 0;    // one token
  double npu_prefill_s = 0, cpu_prefill_s = 0;  // kCalibrationPrefillTokens tokens
  NpuShapeState decode = NpuShapeState::kPower, prefill = NpuShapeState::kPower;
  std::string Summary() const;  // "decode faster (0.4 ms vs 0.9 ms), prefill power (...)"
};
inline constexpr int kCalibrationPrefillTokens = 8;

// Times one rows x cols product on `npu` and `cpu` for decode (1 token) and
// prefill (kCalibrationPrefillTokens), best of a few runs after a warm-up,
// and checks the NPU's int32 result once against the CPU's. Throws Error when
// a dispatch fails or the results differ.
NpuCalibration CalibrateNpu(Backend& npu, Backend& cpu, int64_t rows = 2560, int64_t cols = 2560);

// The kAuto decision for an opened executor (XRT, or a fake in tests).
BackendChoice MakeAutoBackend(std::unique_ptr<NpuExecutor> executor, ThreadPool* pool, int64_t calibration_rows = 2560,
                              int64_t calibration_cols = 2560);

}  // namespace bitnet
