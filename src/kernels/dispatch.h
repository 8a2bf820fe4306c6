// The one kernel dispatch: a table of function pointers per instruction set,
// chosen once from BITNET_ISA (or, unset, the best this CPU and build can run).
// Every per-token kernel (norms, quantizer, float ops, attention, dense and
// int8 output matrices, W2A8) is called through it: the public functions in
// ops.h, quantize.h, attention.h, dense.h and output_int8.h forward to
// ActiveKernels(), so BITNET_ISA=scalar makes every one of them scalar.
//
// A table for an ISA holds that ISA's variant of each kernel where one exists
// and the best lesser one otherwise (the avx512vnni table's float ops are the
// AVX2 ones; RoPE and SiLU are scalar everywhere); Entries() says which.
//
// BITNET_ISA=scalar|avx2|avxvnni|avx512vnni|neon. An unknown name, or an ISA this CPU
// or build cannot run, throws Error on first use (no silent fallback); the
// CPU backend makes that first use when it is created.
//
// Not in the table: load-time conversions (TernarizeAbsmean,
// QuantizeDenseRowsInt8, Int8RowSums, DenseRow) are scalar, always.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/attention.h"
#include "kernels/dense.h"
#include "kernels/w2a8.h"

namespace bitnet {

template <typename Fn>
struct KernelEntry {
  Fn* fn = nullptr;
  KernelIsa isa = KernelIsa::kScalar;  // the variant fn is
};

using RmsNormFn = void(const float* x, const float* w, int64_t n, float eps, float* out);
using QuantizeInt8Fn = float(const float* x, int64_t n, int64_t n_padded, int8_t* xq, int32_t* sum);
using SoftmaxFn = void(float* x, int64_t n);
using GateFn = void(const float* gate, const float* up, int64_t n, float* out);
using DotF32Fn = float(const float* a, const float* b, int64_t n);
using ApplyRopeFn = void(float* heads, int n_heads, int head_dim, const float* cos, const float* sin);
using AttentionScoresFn = void(const float* q, int n_q, const void* k, KvElement type, int64_t row_stride, int64_t n,
                               int dim, float scale, float* scores, int64_t stride);
using AttentionValuesFn = void(const float* probs, int n_q, int64_t stride, const void* v, KvElement type,
                               int64_t row_stride, int64_t n, int dim, float* out);
using F32ToF16RowFn = void(const float* src, int64_t n, uint16_t* dst);
using MatVecDenseFn = void(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const float* x, float* y);
// The avx512vnni variant needs m.row_sums; without them it runs the AVX2 one.
using MatVecInt8RowsFn = void(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                              float inv_a, float* y);
using MatMulInt8RowsFn = void(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                              const float* inv_a, int n, float* const* y);

struct KernelTable {
  KernelIsa isa = KernelIsa::kScalar;  // the ISA this table was built for
  const W2A8Kernels* w2a8 = nullptr;   // mat_vec and mat_mul; w2a8->isa == isa

  KernelEntry<RmsNormFn> rms_norm;
  KernelEntry<QuantizeInt8Fn> quantize_int8;
  KernelEntry<SoftmaxFn> softmax;
  KernelEntry<GateFn> relu2_gate;
  KernelEntry<GateFn> silu_gate;
  KernelEntry<DotF32Fn> dot_f32;
  KernelEntry<ApplyRopeFn> apply_rope;
  KernelEntry<AttentionScoresFn> attention_scores;
  KernelEntry<AttentionValuesFn> attention_values;
  KernelEntry<F32ToF16RowFn> f32_to_f16_row;
  KernelEntry<MatVecDenseFn> mat_vec_dense;
  KernelEntry<MatVecInt8RowsFn> mat_vec_int8_rows;
  KernelEntry<MatMulInt8RowsFn> mat_mul_int8_rows;

  // (entry name, the variant it runs) for every entry, W2A8's included.
  std::vector<std::pair<std::string, KernelIsa>> Entries() const;
};

// The table for `isa` if this build has it and this CPU can run it, else null.
const KernelTable* KernelTableFor(KernelIsa isa);

// The scalar table: the oracle every other one is tested against.
const KernelTable& ScalarKernelTable();

// What BITNET_ISA=`forced` selects (null or empty: the best runnable table).
// Throws Error for an unknown name or an ISA this CPU or build cannot run.
const KernelTable& SelectKernelTable(const char* forced);

// The table chosen once from BITNET_ISA. A throw leaves it unchosen, so every
// later call throws the same error.
const KernelTable& ActiveKernels();

}  // namespace bitnet
