// The XRT host runtime for the bitlinear design. One xclbin per NPU
// generation holds the one shape-agnostic core program (one PDI, one kernel),
// so a single hardware context and a single xrt::kernel serve every matrix;
// what differs per (shape, tokens) is only the instruction stream (the
// runtime sequence: runtime parameters and shim DMA patterns), one BO each. Needs XRT >= 2.17 (xrt::hw_context, the
// only API the amdxdna driver serves); the build compiles it only when such
// headers are found (BITNET_XRT, docs/NPU.md), else OpenXrtExecutor says so.
//
// Unverified on hardware: nothing here has run on an NPU (docs/NPU.md).
#pragma once
#include <memory>
#include <string>

#include "backend/npu/npu_executor.h"

namespace bitnet {

// True when this binary was built with XRT.
bool XrtBuiltIn();

// Artifact names shared with npu/Makefile.
std::string NpuXclbinPath(const std::string& dir, NpuGeneration g);      // DIR/npuN/bitlinear.xclbin
inline constexpr const char* kNpuKernelName = "bitlinear";               // the xclbin's one kernel
std::string NpuInstrPath(const std::string& dir, const NpuTilingPlan& plan);  // DIR/npuN/insts/bitlinear_3840x2560_t1.bin

// The generation of an XRT device from its name (xrt::info::device::name).
// The amdxdna driver reports "RyzenAI-npu1" for Phoenix/Hawk Point (AIE2) and
// "RyzenAI-npu4" / "-npu5" / "-npu6" for Strix / Strix Halo / Krackan
// (AIE2P); older Windows-era names are "NPU Phoenix", "NPU Strix", ...
// Throws Error naming the device when it is none of these.
NpuGeneration NpuGenerationFromDeviceName(const std::string& device_name);

// Throws Error naming the expected path and the build command when the
// xclbin for generation g is not in dir.
void CheckNpuArtifacts(const std::string& dir, NpuGeneration g);

// Opens XRT device 0, takes the generation from its name, and loads that
// generation's xclbin from xclbin_dir. Throws Error saying what is missing
// (XRT not built in, no device node, unknown device, no xclbin, XRT error).
std::unique_ptr<NpuExecutor> OpenXrtExecutor(const std::string& xclbin_dir);

}  // namespace bitnet
