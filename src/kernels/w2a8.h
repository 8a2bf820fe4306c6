// W2A8 kernels: packed ternary weights (ternary_layout.h) times int8
// activations, exact int32 results. Every variant is bit-exact with the scalar
// reference; the variant is chosen at run time from the CPU's features and can
// be forced with BITNET_ISA=scalar|avx2|avxvnni|avx512vnni|neon. The choice is the one
// kernel table's (dispatch.h), which every other kernel follows too.
//
// Activations are padded with zeros to w.cols_padded. Kernels compute
// sum_k u[r][k] * x[k] - x_sum with u = w + 1 (docs/MODEL.md), so x_sum
// must be the sum of the activations.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/ternary_layout.h"

namespace bitnet {

enum class KernelIsa { kScalar, kAvx2, kAvxVnni, kAvx512Vnni, kNeonDot };

struct W2A8Kernels {
  KernelIsa isa;
  const char* name;
  // y[r - row_begin] = sum_k W[r][k] * x[k] for r in [row_begin, row_end).
  void (*mat_vec)(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end,
                  const int8_t* x, int32_t x_sum, int32_t* y);
  // For n tokens (x: [n][w.cols_padded], x_sums: [n]):
  // y[t * y_stride + r] = sum_k W[r][k] * x[t][k] for r in [row_begin, row_end).
  void (*mat_mul)(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end,
                  const int8_t* x, const int32_t* x_sums, int n, int32_t* y, int64_t y_stride);
};

// The scalar oracle; always built.
const W2A8Kernels& ScalarW2A8Kernels();

// The variant for `isa` if it is compiled in and this CPU can run it, else null.
const W2A8Kernels* W2A8KernelsFor(KernelIsa isa);

// Every variant that can run here, scalar first.
std::vector<KernelIsa> RunnableIsas();

// The best runnable variant, or the one BITNET_ISA names (throws Error if that
// one cannot run here). Chosen once.
const W2A8Kernels& ActiveW2A8Kernels();

// What ActiveW2A8Kernels chooses when BITNET_ISA holds `forced` (null or empty:
// the best runnable variant). Throws Error for an unknown name or a variant
// this CPU or build cannot run.
const W2A8Kernels& SelectW2A8Kernels(const char* forced);

const char* IsaName(KernelIsa isa);
// Parses "scalar", "avx2", "avxvnni", "avx512vnni", "neon"; throws Error otherwise.
KernelIsa ParseIsa(const std::string& name);

}  // namespace bitnet
