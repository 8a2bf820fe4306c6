// Placeholders until the SIMD variants land: each reports "not available".
#include "kernels/w2a8.h"

namespace bitnet {
const W2A8Kernels* Avx2W2A8Kernels() { return nullptr; }
const W2A8Kernels* Avx512VnniW2A8Kernels() { return nullptr; }
const W2A8Kernels* NeonDotW2A8Kernels() { return nullptr; }
}  // namespace bitnet
