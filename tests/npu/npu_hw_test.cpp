// Hardware tests: run only where an NPU, XRT and the built xclbins exist
// (`make -C npu compile-all test-npu`); elsewhere they are reported SKIPPED.
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <filesystem>

#include "backend/device.h"
#include "backend/npu/xrt_runtime.h"
#include "kernels/w2a8.h"
#include "npu_test_util.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace bitnet {
namespace {

std::string XclbinDir() {
  const char* env = std::getenv("BITNET_NPU_XCLBIN_DIR");
  return env && *env ? env : std::string(BITNET_SOURCE_DIR) + "/build/npu";
}

// Returns the reason hardware tests cannot run here, or "" when they can.
std::string WhyNoHardware() {
  if (!XrtBuiltIn()) return "built without XRT";
  if (!std::filesystem::exists("/dev/accel/accel0")) return "no NPU (/dev/accel/accel0 missing)";
  // The runtime picks the generation from the device name; here it is enough
  // that some generation's xclbin was built.
  for (NpuGeneration g : {NpuGeneration::kNpu1, NpuGeneration::kNpu2})
    if (std::filesystem::exists(NpuXclbinPath(XclbinDir(), g))) return "";
  return "no xclbin in " + XclbinDir() + " (make -C npu compile-all)";
}

TEST(NpuHardware, RealShapesMatchTheCpuReferenceExactly) {
  if (const std::string why = WhyNoHardware(); !why.empty()) GTEST_SKIP() << why;
  ThreadPool pool(2);
  BackendChoice choice = MakeBackend(DeviceKind::kNpu, XclbinDir(), &pool);
  constexpr std::array<std::array<int64_t, 2>, 4> shapes = {{{3840, 2560}, {2560, 2560}, {13824, 2560}, {2560, 6912}}};
  for (auto [rows, cols] : shapes)
    for (int n : {1, 5}) {
      SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) + " n=" + std::to_string(n));
      const auto m = npu_test::MakeRandomTernary(rows, cols, 1234);
      ASSERT_TRUE(choice.backend->Supports(m.view)) << "no NPU kernel for this shape in " << XclbinDir();
      std::vector<int32_t> sums;
      const auto x = npu_test::MakeActivations(n, cols, m.view.cols_padded, 5, &sums);
      std::vector<int32_t> want(static_cast<size_t>(n * rows)), got(want.size());
      ScalarW2A8Kernels().mat_mul(m.view, 0, rows, x.data(), sums.data(), n, want.data(), rows);
      const int h = choice.backend->Upload(m.view);
      choice.backend->MatMul(h, x.data(), sums.data(), n, got.data());
      ASSERT_EQ(got, want);
      // A failed dispatch falls back to the CPU and would match too: it must not have.
      ASSERT_EQ(choice.backend->Name().find("failed"), std::string::npos) << choice.backend->Name();
    }
}

}  // namespace
}  // namespace bitnet
