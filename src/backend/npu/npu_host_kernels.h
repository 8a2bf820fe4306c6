// The AIE kernels of npu/kernels, compiled for the host through
// aie_host_shim.h, under the names the design's Kernel objects give them. The
// program interpreter calls them with the objects a worker holds.
#pragma once
#include <cstdint>
#include <span>
#include <string>

namespace bitnet {

struct NpuKernelArgs {
  std::span<uint8_t* const> buffers;  // in argument order, buffer arguments only
  std::span<const int64_t> scalars;   // in argument order, scalar arguments only
};

// Runs kernel `name`; false when no host build of it exists. Throws Error
// when an argument is out of the kernel's range.
bool RunNpuHostKernel(const std::string& name, const NpuKernelArgs& args, bool aie2p);

}  // namespace bitnet
