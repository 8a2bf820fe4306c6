#include "backend/npu/npu_host_kernels.h"

#include "util/error.h"
#include "bitnet_vector.h"
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
  // The vector core's kernels (bitnet_vector.cc); buffer sizes were checked against the declarations.
  auto state = [&] { return reinterpret_cast<bitnet_npu::VecState*>(args.buffers[0]); };
  if (name == "bitnet_vec_begin") {
    Check(args.buffers.size() == 1 && args.scalars.size() == 2, name, "takes the state, width and eps");
    const int64_t width = args.scalars[0];
    Check(width >= 1 && width <= bitnet_npu::kVecMaxWidth, name,
          "width runtime parameter " + std::to_string(width) + " is outside 1.." + std::to_string(bitnet_npu::kVecMaxWidth));
    bitnet_npu::VecBegin(state(), static_cast<int32_t>(width), static_cast<int32_t>(args.scalars[1]));
    return true;
  }
  if (name == "bitnet_vec_norm") {
    Check(args.buffers.size() == 2 && args.scalars.empty(), name, "takes the state and an input object");
    Check((state()->chunks_in + 1) * bitnet_npu::kVecChunk <= bitnet_npu::kVecMaxWidth, name,
          "more input chunks than the state holds");
    bitnet_npu::VecNormChunk(state(), reinterpret_cast<const float*>(args.buffers[1]));
    return true;
  }
  if (name == "bitnet_vec_finish" || name == "bitnet_vec_emit_host" || name == "bitnet_vec_emit_x") {
    Check(args.buffers.size() == 2 && args.scalars.empty(), name, "takes the state and an output object");
    if (name == "bitnet_vec_finish")
      bitnet_npu::VecFinish(state(), args.buffers[1]);
    else if (name == "bitnet_vec_emit_host")
      bitnet_npu::VecEmitHost(state(), args.buffers[1]);
    else
      bitnet_npu::VecEmitActivations(state(), reinterpret_cast<int8_t*>(args.buffers[1]));
    return true;
  }
  return false;
}

}  // namespace bitnet
