// Internal to the kernels library: each kernel file puts its variants into a
// KernelTable (dispatch.cpp builds the tables). The x86 Add*Avx2 functions
// exist only on x86 builds, AddNeon* only on aarch64 ones; dispatch.cpp calls
// them only after checking the CPU.
#pragma once
#include "kernels/dispatch.h"

namespace bitnet::dispatch_fill {

void AddScalarOps(KernelTable& t);
void AddScalarQuantize(KernelTable& t);
void AddScalarAttention(KernelTable& t);
void AddScalarDense(KernelTable& t);
void AddScalarOutputInt8(KernelTable& t);

#if defined(__x86_64__)
void AddAvx2Ops(KernelTable& t);
void AddAvx2Quantize(KernelTable& t);
void AddAvx2Attention(KernelTable& t);
void AddAvx2Dense(KernelTable& t);
void AddAvx2OutputInt8(KernelTable& t);
void AddAvx512VnniOutputInt8(KernelTable& t);
#endif

#if defined(__aarch64__)
void AddNeonOps(KernelTable& t);  // and the quantizer
void AddNeonOutputInt8(KernelTable& t);
#endif

}  // namespace bitnet::dispatch_fill
