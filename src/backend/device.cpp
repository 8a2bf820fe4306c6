#include "backend/device.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <vector>

#include "backend/npu/emulator.h"
#include "backend/npu/npu_backend.h"
#include "backend/npu/xrt_runtime.h"
#include "util/error.h"

namespace bitnet {
namespace {

constexpr const char* kAccelNode = "/dev/accel/accel0";

// Generation the emulator plans for: BITNET_NPU_GEN, else npu2 (the larger array).
NpuGeneration EmulatedGeneration() {
  const char* env = std::getenv("BITNET_NPU_GEN");
  return env && *env ? ParseNpuGeneration(env) : NpuGeneration::kNpu2;
}

// Opens the NPU executor or throws Error with the reason it cannot.
std::unique_ptr<NpuExecutor> OpenNpuExecutor(const std::string& xclbin_dir) {
  if (!XrtBuiltIn())
    throw Error("this binary was built without XRT (needs XRT >= 2.17; reconfigure with -DBITNET_XRT=ON, docs/NPU.md)");
  if (!std::filesystem::exists(kAccelNode))
    throw Error(std::string("no XRT device found (") + kAccelNode + " missing; is the amdxdna driver loaded?)");
  return OpenXrtExecutor(xclbin_dir);  // generation from the device name, then its xclbin
}

// Best of `reps` timed runs after one warm-up (the first dispatch also loads
// instruction streams and allocates buffers).
template <typename Fn>
double BestSeconds(Fn fn, int reps) {
  fn();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

std::string Ms(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g ms", s * 1e3);
  return buf;
}

}  // namespace

DeviceKind ParseDevice(const std::string& name) {
  if (name == "auto") return DeviceKind::kAuto;
  if (name == "cpu") return DeviceKind::kCpu;
  if (name == "npu") return DeviceKind::kNpu;
  if (name == "npu-emu") return DeviceKind::kNpuEmu;
  throw Error("--device: unknown device '" + name + "' (expected auto, cpu, npu or npu-emu)");
}

BackendChoice MakeBackend(DeviceKind kind, const std::string& xclbin_dir, ThreadPool* pool) {
  const std::string dir = xclbin_dir.empty() ? "build/npu" : xclbin_dir;
  BackendChoice choice;
  switch (kind) {
    case DeviceKind::kCpu:
      choice.backend = MakeCpuBackend(pool);
      choice.reason = "device: " + choice.backend->Name();
      return choice;
    case DeviceKind::kNpuEmu:
      choice.backend = MakeNpuBackend(MakeNpuEmulator(EmulatedGeneration(), pool), pool);
      choice.reason = "device: " + choice.backend->Name() + " — the NPU design emulated on the CPU (slow; for testing)";
      return choice;
    case DeviceKind::kNpu:
      try {
        choice.backend = MakeNpuBackend(OpenNpuExecutor(dir), pool);
      } catch (const Error& e) {
        throw Error(std::string("--device npu: ") + e.what());
      }
      choice.reason = "device: " + choice.backend->Name();
      return choice;
    case DeviceKind::kAuto:
      try {
        return MakeAutoBackend(OpenNpuExecutor(dir), pool);
      } catch (const Error& e) {
        choice.backend = MakeCpuBackend(pool);
        choice.reason = "device: " + choice.backend->Name() + " — NPU not used: " + e.what();
      }
      return choice;
  }
  throw Error("--device: unhandled device kind");
}

const char* NpuShapeStateName(NpuShapeState s) { return s == NpuShapeState::kFaster ? "faster" : "power"; }

std::string NpuCalibration::Summary() const {
  return std::string("decode ") + NpuShapeStateName(decode) + " (npu " + Ms(npu_decode_s) + " vs cpu " +
         Ms(cpu_decode_s) + "), prefill " + NpuShapeStateName(prefill) + " (npu " + Ms(npu_prefill_s) + " vs cpu " +
         Ms(cpu_prefill_s) + " for " + std::to_string(kCalibrationPrefillTokens) + " tokens)";
}

NpuCalibration CalibrateNpu(Backend& npu, Backend& cpu, int64_t rows, int64_t cols) {
  // A random ternary matrix and full-range activations (seeded: reproducible).
  std::mt19937 rng(12);
  std::uniform_int_distribution<int> wdist(-1, 1), xdist(-128, 127);
  std::vector<int8_t> values(static_cast<size_t>(rows * cols));
  for (auto& v : values) v = static_cast<int8_t>(wdist(rng));
  const std::vector<uint8_t> packed = PackTernaryRows(values.data(), rows, cols);
  TernaryMatrixView view;
  view.rows = rows;
  view.cols = cols;
  view.cols_padded = TernaryPaddedCols(cols);
  view.codes = packed.data();
  constexpr int kT = kCalibrationPrefillTokens;
  std::vector<int8_t> x(static_cast<size_t>(kT * view.cols_padded), 0);
  std::vector<int32_t> sums(kT, 0);
  for (int t = 0; t < kT; ++t)
    for (int64_t k = 0; k < cols; ++k) {
      const auto v = static_cast<int8_t>(xdist(rng));
      x[static_cast<size_t>(t * view.cols_padded + k)] = v;
      sums[static_cast<size_t>(t)] += v;
    }
  const int hn = npu.Upload(view), hc = cpu.Upload(view);
  std::vector<int32_t> yn(static_cast<size_t>(kT * rows)), yc(yn.size());
  // Checked once, on the prefill product (it covers the decode kernel's rows too).
  npu.MatMul(hn, x.data(), sums.data(), kT, yn.data());
  cpu.MatMul(hc, x.data(), sums.data(), kT, yc.data());
  for (size_t i = 0; i < yn.size(); ++i)
    if (yn[i] != yc[i])
      throw Error("calibration: the NPU result differs from the CPU (token " + std::to_string(i / rows) + ", row " +
                  std::to_string(i % rows) + ": " + std::to_string(yn[i]) + " vs " + std::to_string(yc[i]) + ")");
  NpuCalibration c;
  constexpr int kReps = 3;
  c.npu_decode_s = BestSeconds([&] { npu.MatMul(hn, x.data(), sums.data(), 1, yn.data()); }, kReps);
  c.cpu_decode_s = BestSeconds([&] { cpu.MatMul(hc, x.data(), sums.data(), 1, yc.data()); }, kReps);
  c.npu_prefill_s = BestSeconds([&] { npu.MatMul(hn, x.data(), sums.data(), kT, yn.data()); }, kReps);
  c.cpu_prefill_s = BestSeconds([&] { cpu.MatMul(hc, x.data(), sums.data(), kT, yc.data()); }, kReps);
  c.decode = c.npu_decode_s < c.cpu_decode_s ? NpuShapeState::kFaster : NpuShapeState::kPower;
  c.prefill = c.npu_prefill_s < c.cpu_prefill_s ? NpuShapeState::kFaster : NpuShapeState::kPower;
  return c;
}

BackendChoice MakeAutoBackend(std::unique_ptr<NpuExecutor> executor, ThreadPool* pool, int64_t calibration_rows,
                              int64_t calibration_cols) {
  BackendChoice choice;
  NpuCalibration cal;
  try {
    // A throwaway backend, so the calibration matrix is not one of the model's
    // and a dispatch failure surfaces here instead of falling back silently.
    class Strict final : public NpuExecutor {
     public:
      explicit Strict(NpuExecutor& e) : e_(e) {}
      std::string Name() const override { return e_.Name(); }
      NpuGeneration generation() const override { return e_.generation(); }
      bool CanRun(const NpuTilingPlan& p, std::string* why) const override { return e_.CanRun(p, why); }
      int AddMatrix(const NpuTilingPlan& p, std::vector<uint8_t> w) override { return e_.AddMatrix(p, std::move(w)); }
      void Run(int m, const NpuTilingPlan& p, const int8_t* x, int32_t* y) override {
        try {
          e_.Run(m, p, x, y);
        } catch (const Error& e) {
          failure = e.what();
          throw;
        }
      }
      void RunBatch(int m, const NpuTilingPlan& p, int count, const int8_t* x, int32_t* y) override {
        try {
          e_.RunBatch(m, p, count, x, y);
        } catch (const Error& e) {
          failure = e.what();
          throw;
        }
      }
      std::string failure;

     private:
      NpuExecutor& e_;
    };
    auto strict = std::make_unique<Strict>(*executor);
    Strict* probe = strict.get();
    std::unique_ptr<Backend> trial = MakeNpuBackend(std::move(strict), pool);
    std::unique_ptr<Backend> cpu = MakeCpuBackend(pool);
    cal = CalibrateNpu(*trial, *cpu, calibration_rows, calibration_cols);
    if (!probe->failure.empty()) throw Error("calibration dispatch failed: " + probe->failure);
  } catch (const Error& e) {
    choice.backend = MakeCpuBackend(pool);
    choice.reason = "device: " + choice.backend->Name() + " — NPU not used: " + e.what();
    return choice;
  }
  const NpuRouting routing{cal.decode == NpuShapeState::kFaster, cal.prefill == NpuShapeState::kFaster};
  if (!routing.decode && !routing.prefill) {
    choice.backend = MakeCpuBackend(pool);
    choice.reason = "device: " + choice.backend->Name() + " — NPU not used: calibration: " + cal.Summary() +
                    "; slower than the CPU for both, a power win only (--device npu uses it anyway)";
    return choice;
  }
  choice.backend = MakeNpuBackend(std::move(executor), pool, routing);
  choice.reason = "device: " + choice.backend->Name() + " — calibration: " + cal.Summary();
  return choice;
}

}  // namespace bitnet
