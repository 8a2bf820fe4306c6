#include "backend/npu/npu_host_kernels.h"

#include "util/error.h"
#include "w2a8_tile.h"

namespace bitnet {

bool RunNpuHostKernel(const std::string& name, const NpuKernelArgs& args, bool aie2p) {
  // The core's alignment rule for this generation (thread-local: workers run on pool threads).
  aie::shim_detail::g_aie2p = aie2p;
  if (name == "bitlinear_zero") {
    Check(args.buffers.size() == 1 && args.scalars.empty(), name, "takes one buffer");
    bitnet_npu::ZeroTileMax(reinterpret_cast<int32_t*>(args.buffers[0]));
    return true;
  }
  if (name == "bitlinear_w2a8") {
    Check(args.buffers.size() == 3 && args.scalars.size() == 1, name, "takes three buffers and tokens");
    const int64_t tokens = args.scalars[0];
    Check(tokens >= 1 && tokens <= bitnet_npu::kMaxTokens, name,
          "tokens runtime parameter " + std::to_string(tokens) + " is outside 1.." +
              std::to_string(bitnet_npu::kMaxTokens));
    bitnet_npu::W2A8TileMacTokens(args.buffers[0], reinterpret_cast<const int8_t*>(args.buffers[1]),
                                  reinterpret_cast<int32_t*>(args.buffers[2]), static_cast<int32_t>(tokens));
    return true;
  }
  return false;
}

}  // namespace bitnet
