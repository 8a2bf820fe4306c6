// The XRT host runtime for the bitlinear designs. One xclbin per NPU
// generation holds one kernel per (shape, tokens) — aiecc's --xclbin-input
// chaining — so a single hardware context serves every matrix; each kernel
// has its own instruction stream. Compiled against whatever XRT headers the
// build found (BITNET_XRT); without them OpenXrtExecutor reports that.
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
std::string NpuXclbinPath(const std::string& dir, NpuGeneration g);      // DIR/npuN/bitlinear_all.xclbin
std::string NpuKernelName(const NpuTilingPlan& plan);                    // bl_3840x2560_t1
std::string NpuInstrPath(const std::string& dir, const NpuTilingPlan& plan);  // DIR/npuN/bitlinear_3840x2560_t1.insts.bin

// Which generation's artifacts to use: BITNET_NPU_GEN if set, else the one
// whose xclbin exists in dir (npu2 first). Throws Error naming the expected
// paths when none exists.
NpuGeneration FindNpuArtifacts(const std::string& dir);

// Opens XRT device 0 and loads the xclbin. Throws Error saying what is
// missing (XRT not built in, no device node, XRT error text, ...).
std::unique_ptr<NpuExecutor> OpenXrtExecutor(const std::string& xclbin_dir);

}  // namespace bitnet
