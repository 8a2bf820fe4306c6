// CPU feature tests that __builtin_cpu_supports cannot spell on every
// compiler: clang 14 rejects "f16c" there (an error, not false), which broke
// the clang builds (fuzz/run.sh) of the AVX2 dense and attention paths.
#pragma once

#if defined(__x86_64__)
#include <cpuid.h>

namespace bitnet {

// CPUID leaf 1, ECX bit 29: the half <-> float conversions (vcvtph2ps).
inline bool CpuHasF16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
}

// CPUID leaf 7 subleaf 1, EAX bit 4: AVX-VNNI (the VEX vpdpbusd). Neither
// GCC 12 nor clang 14 spells it the same way in __builtin_cpu_supports
// (clang rejects "avxvnni"). The OS's saving of ymm state is what the AVX2
// test, which callers make first, already checks.
inline bool CpuHasAvxVnni() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) != 0 && (a & (1u << 4)) != 0;
}

}  // namespace bitnet
#endif
