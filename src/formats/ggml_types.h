// ggml tensor types as they appear in GGUF files: sizes, dequantizers, and the
// ternary layouts (TQ1_0, TQ2_0, bitnet.cpp's I2_S) unpacked to {-1, 0, 1}.
//
// Every layout follows the block structs of ggml-common.h (little-endian, no
// padding) and bitnet.cpp's quantize_i2_s; ggml_types.cpp says what was checked.
#pragma once
#include <cstdint>
#include <vector>

namespace bitnet {

enum GgmlType : uint32_t {
  kGgmlF32 = 0,
  kGgmlF16 = 1,
  kGgmlQ4_0 = 2,
  kGgmlQ8_0 = 8,
  kGgmlQ4_K = 12,
  kGgmlQ6_K = 14,
  kGgmlI8 = 24,
  kGgmlI32 = 26,
  kGgmlBF16 = 30,
  kGgmlTQ1_0 = 34,
  kGgmlTQ2_0 = 35,
  kGgmlI2_S = 36,        // bitnet.cpp fork
  kGgmlBitnetT2 = 1024,  // this project's packed ternary rows: see src/kernels/ternary_layout.h
};

// "F32", ..., "I2_S", "BITNET_T2", or "unknown(N)".
const char* GgmlTypeName(uint32_t type);

// True when this build knows the type's size (GgmlTensorBytes does not throw for
// a well-shaped tensor).
bool GgmlTypeKnown(uint32_t type);

// Elements per block (1 for plain types); 0 if unknown.
int64_t GgmlBlockSize(uint32_t type);

// Bytes for a tensor with these GGUF dims (dims[0] innermost; no dims = a scalar).
// Throws Error if the type is unknown, the innermost dim is not a multiple of the
// block size, or the size overflows 64 bits.
// I2_S: n/4 bytes + 32 (f32 scale then padding, as bitnet.cpp writes it).
// BITNET_T2: rows * TernaryPaddedCols(dims[0]) / 4 where rows = product of the other dims.
uint64_t GgmlTensorBytes(uint32_t type, const std::vector<uint64_t>& dims);

// Dequantizes n elements (a whole number of blocks) of F32, F16, BF16, I8, Q4_0,
// Q8_0, Q4_K, Q6_K, TQ1_0, TQ2_0 to float. Throws Error for other types.
void DequantizeRowToF32(uint32_t type, const void* src, float* dst, int64_t n);

// Ternary types -> int8 values in {-1, 0, 1} plus scales.
//  TQ2_0 / TQ1_0: block_scales gets one float (the block's fp16 d) per 256 values.
//  I2_S: block_scales gets the tensor's single f32 scale (stored at byte n/4).
// Throws Error on a 2-bit code 3 (no ternary meaning), an unsupported type, or
// n not a multiple of the block size.
void UnpackTernaryType(uint32_t type, const void* src, int64_t n, int8_t* values, std::vector<float>* block_scales);

// Inverse of UnpackTernaryType: values must be in {-1, 0, 1}; block_scales holds
// n/256 scales (TQ1_0, TQ2_0; stored as fp16) or exactly one (I2_S). The result
// has GgmlTensorBytes(type, {n}) bytes.
std::vector<uint8_t> PackTernaryType(uint32_t type, const int8_t* values, int64_t n,
                                     const std::vector<float>& block_scales);

// Reference quantizers for F32, F16, BF16, Q8_0, Q4_K, Q6_K, built from the
// documented block layouts (simple and deterministic, not ggml's error search).
std::vector<uint8_t> QuantizeRowFromF32(uint32_t type, const float* src, int64_t n);

}  // namespace bitnet
