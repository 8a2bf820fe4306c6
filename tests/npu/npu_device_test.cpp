#include <gtest/gtest.h>

#include <filesystem>

#include "backend/device.h"
#include "backend/npu/emulator.h"
#include "backend/npu/npu_backend.h"
#include "backend/npu/xrt_runtime.h"
#include "npu_test_util.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace bitnet {
namespace {

bool NpuDevicePresent() { return std::filesystem::exists("/dev/accel/accel0"); }

std::string EmptyDir() {
  const auto dir = std::filesystem::temp_directory_path() / "bitnet_npu_device_test_empty";
  std::filesystem::create_directories(dir);
  return dir.string();
}

TEST(NpuDevice, ParsesEveryDeviceName) {
  EXPECT_EQ(ParseDevice("auto"), DeviceKind::kAuto);
  EXPECT_EQ(ParseDevice("cpu"), DeviceKind::kCpu);
  EXPECT_EQ(ParseDevice("npu"), DeviceKind::kNpu);
  EXPECT_EQ(ParseDevice("npu-emu"), DeviceKind::kNpuEmu);
  EXPECT_THROW(ParseDevice("gpu"), Error);
}

TEST(NpuDevice, AutoWithoutAnNpuFallsBackToTheCpuAndSaysWhy) {
  if (NpuDevicePresent()) GTEST_SKIP() << "an NPU is present; this test covers machines without one";
  ThreadPool pool(1);
  const BackendChoice choice = MakeBackend(DeviceKind::kAuto, EmptyDir(), &pool);
  ASSERT_TRUE(choice.backend);
  EXPECT_EQ(choice.backend->Name().rfind("cpu", 0), 0u) << choice.backend->Name();
  EXPECT_NE(choice.reason.find("NPU not used"), std::string::npos) << choice.reason;
  const char* expected_cause = XrtBuiltIn() ? "/dev/accel/accel0 missing" : "built without XRT";
  EXPECT_NE(choice.reason.find(expected_cause), std::string::npos) << choice.reason;
}

TEST(NpuDevice, ExplicitNpuWithoutAnNpuThrowsTheReason) {
  if (NpuDevicePresent()) GTEST_SKIP() << "an NPU is present; this test covers machines without one";
  ThreadPool pool(1);
  try {
    MakeBackend(DeviceKind::kNpu, EmptyDir(), &pool);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("--device npu"), std::string::npos) << msg;
    EXPECT_NE(msg.find(XrtBuiltIn() ? "/dev/accel/accel0" : "without XRT"), std::string::npos) << msg;
  }
}

TEST(NpuDevice, MissingXclbinIsNamedWithTheBuildCommand) {
  try {
    CheckNpuArtifacts(EmptyDir(), NpuGeneration::kNpu1);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bitlinear.xclbin"), std::string::npos) << msg;
    EXPECT_NE(msg.find("make -C npu compile-all NPU=npu1"), std::string::npos) << msg;
  }
}

// The names amdxdna reports through xrt::info::device::name (xrt-smi shows
// them as "[0000:c5:00.1] : RyzenAI-npu4").
TEST(NpuDevice, GenerationComesFromTheDeviceName) {
  EXPECT_EQ(NpuGenerationFromDeviceName("RyzenAI-npu1"), NpuGeneration::kNpu1);  // Phoenix, Hawk Point
  EXPECT_EQ(NpuGenerationFromDeviceName("RyzenAI-npu4"), NpuGeneration::kNpu2);  // Strix
  EXPECT_EQ(NpuGenerationFromDeviceName("RyzenAI-npu5"), NpuGeneration::kNpu2);  // Strix Halo
  EXPECT_EQ(NpuGenerationFromDeviceName("RyzenAI-npu6"), NpuGeneration::kNpu2);  // Krackan
  EXPECT_EQ(NpuGenerationFromDeviceName("NPU Phoenix"), NpuGeneration::kNpu1);
  EXPECT_EQ(NpuGenerationFromDeviceName("NPU Strix Halo"), NpuGeneration::kNpu2);
  EXPECT_THROW(NpuGenerationFromDeviceName("xilinx_u250_gen3x16"), Error);
  EXPECT_THROW(NpuGenerationFromDeviceName("RyzenAI-npu3"), Error);
}

// Fakes for the runtime: one whose dispatches fail, one that returns wrong
// results; both otherwise behave like the emulator.
class FakeExecutor : public NpuExecutor {
 public:
  enum class Mode { kFail, kWrong, kFailAfterFirst };
  explicit FakeExecutor(Mode mode) : mode_(mode), emu_(MakeNpuEmulator(NpuGeneration::kNpu2, nullptr)) {}
  std::string Name() const override { return "npu (fake)"; }
  NpuGeneration generation() const override { return NpuGeneration::kNpu2; }
  bool CanRun(const NpuTilingPlan&, std::string*) const override { return true; }
  int AddMatrix(const NpuTilingPlan& p, std::vector<uint8_t> w) override { return emu_->AddMatrix(p, std::move(w)); }
  void Run(int m, const NpuTilingPlan& p, const int8_t* x, int32_t* y) override {
    ++runs_;
    if (mode_ == Mode::kFail || (mode_ == Mode::kFailAfterFirst && runs_ > 1))
      throw Error("XRT: run bl_fake ended in state 8 (timeout)");
    emu_->Run(m, p, x, y);
    if (mode_ == Mode::kWrong) y[0] += 1;
  }

 private:
  Mode mode_;
  std::unique_ptr<NpuExecutor> emu_;
  int runs_ = 0;
};

TEST(NpuDevice, ARuntimeFailureFallsBackToTheCpuAndSaysWhy) {
  ThreadPool pool(1);
  auto backend = MakeNpuBackend(std::make_unique<FakeExecutor>(FakeExecutor::Mode::kFailAfterFirst), &pool);
  auto cpu = MakeCpuBackend(&pool);
  const auto m = npu_test::MakeRandomTernary(100, 300, 7);
  const int hn = backend->Upload(m.view), hc = cpu->Upload(m.view);
  for (int n : {1, 5, 1}) {
    std::vector<int32_t> sums;
    const auto x = npu_test::MakeActivations(n, m.view.cols, m.view.cols_padded, 9 + n, &sums);
    std::vector<int32_t> yn(static_cast<size_t>(n * m.view.rows), -1), yc(yn.size());
    testing::internal::CaptureStderr();
    backend->MatMul(hn, x.data(), sums.data(), n, yn.data());
    const std::string err = testing::internal::GetCapturedStderr();
    cpu->MatMul(hc, x.data(), sums.data(), n, yc.data());
    EXPECT_EQ(yn, yc) << "n=" << n;
    if (n == 5) EXPECT_NE(err.find("NPU dispatch failed (XRT: run bl_fake ended in state 8"), std::string::npos) << err;
    else EXPECT_EQ(err, "");  // the first run worked; after the failure no dispatch is tried again
  }
  EXPECT_NE(backend->Name().find("failed, on the CPU"), std::string::npos) << backend->Name();
}

TEST(NpuDevice, AutoWithAFailingRuntimeUsesTheCpuAndSaysWhy) {
  ThreadPool pool(1);
  const BackendChoice c =
      MakeAutoBackend(std::make_unique<FakeExecutor>(FakeExecutor::Mode::kFail), &pool, 96, 512);
  EXPECT_EQ(c.backend->Name().rfind("cpu", 0), 0u) << c.backend->Name();
  EXPECT_NE(c.reason.find("NPU not used: calibration dispatch failed: XRT: run bl_fake"), std::string::npos) << c.reason;
}

TEST(NpuDevice, AutoChecksTheNpuResultAgainstTheCpu) {
  ThreadPool pool(1);
  const BackendChoice c =
      MakeAutoBackend(std::make_unique<FakeExecutor>(FakeExecutor::Mode::kWrong), &pool, 96, 512);
  EXPECT_EQ(c.backend->Name().rfind("cpu", 0), 0u) << c.backend->Name();
  EXPECT_NE(c.reason.find("differs from the CPU (token 0, row 0"), std::string::npos) << c.reason;
}

// The emulator is exact, so the decision rests on the timings alone; the
// reason must state each class as faster or power either way.
TEST(NpuDevice, AutoCalibratesEachShapeClass) {
  ThreadPool pool(1);
  const BackendChoice c = MakeAutoBackend(MakeNpuEmulator(NpuGeneration::kNpu2, &pool), &pool, 256, 1024);
  EXPECT_NE(c.reason.find("calibration: decode "), std::string::npos) << c.reason;
  EXPECT_NE(c.reason.find("prefill "), std::string::npos) << c.reason;
  const bool on_cpu = c.backend->Name().rfind("cpu", 0) == 0;
  if (on_cpu) EXPECT_NE(c.reason.find("power win only"), std::string::npos) << c.reason;
  else EXPECT_NE(c.reason.find("faster"), std::string::npos) << c.reason;
}

TEST(NpuDevice, EmulatorIsSelectable) {
  ThreadPool pool(1);
  const BackendChoice choice = MakeBackend(DeviceKind::kNpuEmu, "", &pool);
  ASSERT_TRUE(choice.backend);
  EXPECT_NE(choice.backend->Name().find("npu-emu"), std::string::npos);
  EXPECT_NE(choice.reason.find("npu-emu"), std::string::npos);
}

TEST(NpuDevice, ArtifactNamesMatchTheMakefile) {
  const NpuTilingPlan plan = MakeNpuTilingPlan(3840, 2560, NpuGeneration::kNpu2);
  EXPECT_STREQ(kNpuKernelName, "bitlinear");
  EXPECT_EQ(NpuInstrPath("d", plan), "d/npu2/insts/bitlinear_3840x2560_t1.bin");
  EXPECT_EQ(NpuXclbinPath("d", NpuGeneration::kNpu1), "d/npu1/bitlinear.xclbin");
}

}  // namespace
}  // namespace bitnet
