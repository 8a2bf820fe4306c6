#include <gtest/gtest.h>

#include <filesystem>

#include "backend/device.h"
#include "backend/npu/xrt_runtime.h"
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
    FindNpuArtifacts(EmptyDir());
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bitlinear_all.xclbin"), std::string::npos) << msg;
    EXPECT_NE(msg.find("make -C npu compile-all"), std::string::npos) << msg;
  }
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
  EXPECT_EQ(NpuKernelName(plan), "bl_3840x2560_t1");
  EXPECT_EQ(NpuInstrPath("d", plan), "d/npu2/bitlinear_3840x2560_t1.insts.bin");
  EXPECT_EQ(NpuXclbinPath("d", NpuGeneration::kNpu1), "d/npu1/bitlinear_all.xclbin");
}

}  // namespace
}  // namespace bitnet
