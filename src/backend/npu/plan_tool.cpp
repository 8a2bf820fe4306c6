// bitnet-npu-plan ROWS COLS [--device npu1|npu2] [--tokens N]
// Prints the NPU tiling plan as JSON: the one input the IRON design script
// (npu/designs/bitlinear_gemv.py) takes, so host and design cannot disagree.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backend/npu/tiling_plan.h"
#include "util/error.h"

int main(int argc, char** argv) {
  try {
    bitnet::NpuGeneration gen = bitnet::NpuGeneration::kNpu2;
    int64_t tokens = 1;
    int64_t dims[2] = {0, 0};
    int n_dims = 0;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--device" && i + 1 < argc) {
        gen = bitnet::ParseNpuGeneration(argv[++i]);
      } else if (arg == "--tokens" && i + 1 < argc) {
        tokens = std::stoll(argv[++i]);
      } else if (n_dims < 2 && !arg.empty() && arg[0] != '-') {
        dims[n_dims++] = std::stoll(arg);
      } else {
        throw bitnet::Error("bitnet-npu-plan: unexpected argument '" + arg + "'");
      }
    }
    if (n_dims != 2) throw bitnet::Error("usage: bitnet-npu-plan ROWS COLS [--device npu1|npu2] [--tokens N]");
    std::printf("%s\n", bitnet::MakeNpuTilingPlan(dims[0], dims[1], gen, tokens).ToJson().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
