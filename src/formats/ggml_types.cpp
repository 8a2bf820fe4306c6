// Layouts, checked against ggml-org/llama.cpp ggml/src/ggml-common.h (block structs)
// and ggml-quants.c (dequantize_row_*, quantize_row_tq*_0_ref), and against
// microsoft/BitNet src/ggml-bitnet-mad.cpp for I2_S:
//  - quantize_i2_s maps w = -1, 0, +1 to codes 0, 1, 2; within each 128-weight
//    block, weight j goes to byte 32*block + j%32 at shift 6 - 2*(j/32), i.e. byte b
//    holds weights b, b+32, b+64, b+96 in bits 7-6, 5-4, 3-2, 1-0. The AVX2
//    ggml_vec_dot_i2_i8_s agrees: (x >> 6) & 3 pairs with activations 0..31 of the
//    block. One f32 scale (max |w| of the whole tensor) is written at byte n/4 and
//    the tensor is n/4 + 32 bytes. (The ARM build of newer bitnet.cpp packs 64-weight
//    blocks instead; files made that way are not this layout and cannot be told apart.)
//  - TQ2_0 is the same 2-bit code in the opposite bit order (element e at bits
//    2*((e%128)/32) of byte 32*(e/128) + e%32), 64 bytes then an fp16 d per 256.
//  - TQ1_0 packs 5 trits per byte as ceil(q * 256 / 243) of the base-3 number q
//    (first trit most significant), so trit n is ((uint8_t)(byte * 3^n) * 3) >> 8.
#include "formats/ggml_types.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/ternary_layout.h"
#include "util/error.h"
#include "util/half.h"

namespace bitnet {
namespace {

constexpr int64_t kQK = 256;  // super-block size of the K and TQ types

struct TypeTraits {
  uint32_t id;
  const char* name;
  int64_t block;        // elements per block
  int64_t block_bytes;  // 0: size computed specially (I2_S, BITNET_T2)
};

// Sizes of every plain ggml type this reader can map, not only those it decodes,
// so a GGUF with, say, Q5_K tensors still opens with data pointers.
constexpr TypeTraits kTypes[] = {
    {kGgmlF32, "F32", 1, 4},          {kGgmlF16, "F16", 1, 2},          {kGgmlQ4_0, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},              {6, "Q5_0", 32, 22},              {7, "Q5_1", 32, 24},
    {kGgmlQ8_0, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},              {10, "Q2_K", kQK, 84},
    {11, "Q3_K", kQK, 110},           {kGgmlQ4_K, "Q4_K", kQK, 144},    {13, "Q5_K", kQK, 176},
    {kGgmlQ6_K, "Q6_K", kQK, 210},    {15, "Q8_K", kQK, 292},           {kGgmlI8, "I8", 1, 1},
    {25, "I16", 1, 2},                {26, "I32", 1, 4},                {27, "I64", 1, 8},
    {28, "F64", 1, 8},                {kGgmlBF16, "BF16", 1, 2},        {kGgmlTQ1_0, "TQ1_0", kQK, 54},
    {kGgmlTQ2_0, "TQ2_0", kQK, 66},   {kGgmlI2_S, "I2_S", 128, 0},      {kGgmlBitnetT2, "BITNET_T2", 1, 0},
};

const TypeTraits* FindTraits(uint32_t type) {
  for (const TypeTraits& t : kTypes)
    if (t.id == type) return &t;
  return nullptr;
}

std::string TypeLabel(uint32_t type) { return GgmlTypeName(type); }

uint64_t CheckedMul(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw Error(what + ": size overflows 64 bits");
  return r;
}

uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

void StoreU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

float LoadHalf(const uint8_t* p) { return F16ToF32(LoadU16(p)); }

float RoundToHalf(float f) { return F16ToF32(F32ToF16(f)); }

void CheckBlocks(const char* fn, uint32_t type, int64_t n, int64_t block) {
  if (n < 0 || n % block != 0)
    throw Error(std::string(fn) + ": " + TypeLabel(type) + ": " + std::to_string(n) +
                " elements is not a whole number of " + std::to_string(block) + "-element blocks");
}

// Q4_K stores 8 six-bit scales and 8 six-bit mins in 12 bytes: for sub-block
// j < 4 the low 6 bits of bytes j and j+4; for j >= 4 the nibbles of byte j+4
// plus the top 2 bits of bytes j-4 (scale) and j (min).
void GetScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void SetScaleMinK4(int j, uint8_t sc, uint8_t m, uint8_t* q) {
  if (j < 4) {
    q[j] = static_cast<uint8_t>((q[j] & 0xC0) | sc);
    q[j + 4] = static_cast<uint8_t>((q[j + 4] & 0xC0) | m);
  } else {
    q[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
    q[j - 4] = static_cast<uint8_t>(q[j - 4] | ((sc >> 4) << 6));
    q[j] = static_cast<uint8_t>(q[j] | ((m >> 4) << 6));
  }
}

// ---- dequantizers (one block each) ----

void DequantQ4_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((b[2 + j] & 0xF) - 8) * d;
    y[j + 16] = static_cast<float>((b[2 + j] >> 4) - 8) * d;
  }
}

void DequantQ8_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
}

void DequantQ4_K(const uint8_t* b, float* y) {
  const float d = LoadHalf(b), dmin = LoadHalf(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  for (int e = 0; e < kQK; ++e) {
    uint8_t sc, m;
    GetScaleMinK4(e / 32, scales, &sc, &m);
    const uint8_t byte = qs[(e / 64) * 32 + e % 32];
    const int q = (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
    y[e] = d * sc * static_cast<float>(q) - dmin * m;
  }
}

// Element e of a Q6_K block: half h = e/128, group g = (e%128)/32, l = e%32. Its
// low nibble is in ql[64h + l + 32(g&1)] (high nibble when g >= 2), its top two
// bits in qh[32h + l] at bits 2g, and its scale is scales[e/16].
void DequantQ6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = LoadHalf(b + 208);
  for (int e = 0; e < kQK; ++e) {
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    const uint8_t lo_byte = ql[64 * h + l + 32 * (g & 1)];
    const int lo = g >= 2 ? (lo_byte >> 4) : (lo_byte & 0xF);
    const int hi = (qh[32 * h + l] >> (2 * g)) & 3;
    y[e] = d * static_cast<float>(sc[e / 16]) * static_cast<float>((lo | (hi << 4)) - 32);
  }
}

// ---- ternary codes ----

int TritOf(uint8_t byte, int n) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const uint8_t shifted = static_cast<uint8_t>(byte * kPow3[n]);
  return (shifted * 3) >> 8;
}

uint8_t PackTrits(const int* codes, int count) {  // count <= 5; first code most significant
  int q = 0;
  for (int i = 0; i < count; ++i) q = q * 3 + codes[i];
  for (int i = count; i < 5; ++i) q *= 3;
  return static_cast<uint8_t>((q * 256 + 242) / 243);
}

// Element -> (byte, trit) of a TQ1_0 block; bytes 48..51 are qh.
void Tq1Position(int e, int* byte, int* trit) {
  if (e < 160) {
    *byte = e % 32;
    *trit = e / 32;
  } else if (e < 240) {
    *byte = 32 + (e - 160) % 16;
    *trit = (e - 160) / 16;
  } else {
    *byte = 48 + (e - 240) % 4;
    *trit = (e - 240) / 4;
  }
}

int Tq2Byte(int e) { return 32 * (e / 128) + e % 32; }
int Tq2Shift(int e) { return 2 * ((e % 128) / 32); }
int I2sShift(int e) { return 6 - 2 * ((e % 128) / 32); }

int8_t CodeToValue(int code, const char* type) {
  if (code == 3) throw Error(std::string(type) + " data holds the 2-bit code 3, which has no ternary meaning");
  return static_cast<int8_t>(code - 1);
}

int ValueToCode(int8_t v, int64_t index) {
  if (v < -1 || v > 1)
    throw Error("ternary value " + std::to_string(v) + " at index " + std::to_string(index) +
                " is not in {-1, 0, 1}");
  return v + 1;
}

// ---- quantizers (one block each) ----

void QuantQ8_0(const float* x, uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const uint16_t dh = F32ToF16(amax / 127.0f);
  const float d = F16ToF32(dh);
  StoreU16(b, dh);
  for (int j = 0; j < 32; ++j) {
    const float q = d > 0.0f ? std::nearbyint(x[j] / d) : 0.0f;
    b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(q, -128.0f, 127.0f)));
  }
}

// Q4_K reference: x = d*sc*q - dmin*m. Each 32-element sub-block gets the offset
// that covers its minimum (never positive, as in ggml) and the smallest scale that
// covers its range, both rounded up so no value has to be clamped.
void QuantQ4_K(const float* x, uint8_t* b) {
  float offset[8], top[8];
  float max_offset = 0.0f;
  for (int j = 0; j < 8; ++j) {
    float lo = 0.0f, hi = -INFINITY;
    for (int l = 0; l < 32; ++l) {
      lo = std::min(lo, x[32 * j + l]);
      hi = std::max(hi, x[32 * j + l]);
    }
    offset[j] = -lo;
    top[j] = hi;
    max_offset = std::max(max_offset, offset[j]);
  }
  const float dmin = RoundToHalf(max_offset / 63.0f);
  uint8_t m[8], sc[8];
  float need[8], max_need = 0.0f;
  for (int j = 0; j < 8; ++j) {
    m[j] = dmin > 0.0f ? static_cast<uint8_t>(std::min(63.0f, std::ceil(offset[j] / dmin))) : 0;
    need[j] = std::max(0.0f, top[j] + dmin * m[j]);
    max_need = std::max(max_need, need[j]);
  }
  const float d = RoundToHalf(max_need / (15.0f * 63.0f));
  for (int j = 0; j < 8; ++j) sc[j] = d > 0.0f ? static_cast<uint8_t>(std::min(63.0f, std::ceil(need[j] / (15.0f * d)))) : 0;
  StoreU16(b, F32ToF16(d));
  StoreU16(b + 2, F32ToF16(dmin));
  uint8_t* scales = b + 4;
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) SetScaleMinK4(j, sc[j], m[j], scales);
  uint8_t* qs = b + 16;
  std::memset(qs, 0, 128);
  for (int e = 0; e < kQK; ++e) {
    const int j = e / 32;
    const float step = d * sc[j];
    const int q = step > 0.0f ? static_cast<int>(std::clamp(std::nearbyint((x[e] + dmin * m[j]) / step), 0.0f, 15.0f)) : 0;
    qs[(e / 64) * 32 + e % 32] |= static_cast<uint8_t>((e % 64) < 32 ? q : q << 4);
  }
}

// Q6_K reference: x = d*scale[j]*q, q in [-32, 31]. Sub-block scales are rounded
// up so that |x| / (d*scale) <= 31 and nothing clamps.
void QuantQ6_K(const float* x, uint8_t* b) {
  float s[16], max_s = 0.0f;
  for (int j = 0; j < 16; ++j) {
    float amax = 0.0f;
    for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * j + l]));
    s[j] = amax / 31.0f;
    max_s = std::max(max_s, s[j]);
  }
  std::memset(b, 0, 210);
  const float d = RoundToHalf(max_s / 127.0f);
  auto* scales = reinterpret_cast<int8_t*>(b + 192);
  for (int j = 0; j < 16; ++j) scales[j] = d > 0.0f ? static_cast<int8_t>(std::min(127.0f, std::ceil(s[j] / d))) : 0;
  StoreU16(b + 208, F32ToF16(d));
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  for (int e = 0; e < kQK; ++e) {
    const float step = d * scales[e / 16];
    const int q = step > 0.0f ? static_cast<int>(std::clamp(std::nearbyint(x[e] / step), -32.0f, 31.0f)) : 0;
    const int u = q + 32;
    const int h = e / 128, g = (e % 128) / 32, l = e % 32;
    ql[64 * h + l + 32 * (g & 1)] |= static_cast<uint8_t>(g >= 2 ? (u & 0xF) << 4 : (u & 0xF));
    qh[32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * g));
  }
}

}  // namespace

const char* GgmlTypeName(uint32_t type) {
  if (const TypeTraits* t = FindTraits(type)) return t->name;
  // One buffer per thread keeps the pointer valid until that thread's next call.
  thread_local std::string unknown;
  unknown = "unknown(" + std::to_string(type) + ")";
  return unknown.c_str();
}

bool GgmlTypeKnown(uint32_t type) { return FindTraits(type) != nullptr; }

int64_t GgmlBlockSize(uint32_t type) {
  const TypeTraits* t = FindTraits(type);
  return t ? t->block : 0;
}

uint64_t GgmlTensorBytes(uint32_t type, const std::vector<uint64_t>& dims) {
  const TypeTraits* t = FindTraits(type);
  const std::string where = std::string("type ") + GgmlTypeName(type);
  if (!t) throw Error(where + ": unknown ggml type, size not known");
  const uint64_t ne0 = dims.empty() ? 1 : dims[0];
  uint64_t rows = 1;
  for (size_t i = 1; i < dims.size(); ++i) rows = CheckedMul(rows, dims[i], where);
  const uint64_t n = CheckedMul(ne0, rows, where);
  if (n > static_cast<uint64_t>(INT64_MAX)) throw Error(where + ": element count overflows int64");
  if (ne0 % static_cast<uint64_t>(t->block) != 0)
    throw Error(where + ": innermost dim " + std::to_string(ne0) + " is not a multiple of the block size " +
                std::to_string(t->block));
  if (type == kGgmlI2_S) return n / 4 + 32;
  if (type == kGgmlBitnetT2) {
    if (ne0 > static_cast<uint64_t>(INT64_MAX - kTernaryBlock)) throw Error(where + ": innermost dim too large");
    const uint64_t padded = static_cast<uint64_t>(TernaryPaddedCols(static_cast<int64_t>(ne0)));
    return CheckedMul(rows, padded / 4, where);
  }
  return CheckedMul(n / static_cast<uint64_t>(t->block), static_cast<uint64_t>(t->block_bytes), where);
}

void DequantizeRowToF32(uint32_t type, const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const TypeTraits* t = FindTraits(type);
  if (!t) throw Error(std::string("DequantizeRowToF32: unsupported type ") + GgmlTypeName(type));
  CheckBlocks("DequantizeRowToF32", type, n, t->block);
  const int64_t nb = n / t->block;
  switch (type) {
    case kGgmlF32:
      std::memcpy(dst, p, static_cast<size_t>(n) * 4);
      return;
    case kGgmlF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(LoadU16(p + 2 * i));
      return;
    case kGgmlBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToF32(LoadU16(p + 2 * i));
      return;
    case kGgmlI8:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int8_t>(p[i]));
      return;
    case kGgmlQ4_0:
      for (int64_t i = 0; i < nb; ++i) DequantQ4_0(p + 18 * i, dst + 32 * i);
      return;
    case kGgmlQ8_0:
      for (int64_t i = 0; i < nb; ++i) DequantQ8_0(p + 34 * i, dst + 32 * i);
      return;
    case kGgmlQ4_K:
      for (int64_t i = 0; i < nb; ++i) DequantQ4_K(p + 144 * i, dst + kQK * i);
      return;
    case kGgmlQ6_K:
      for (int64_t i = 0; i < nb; ++i) DequantQ6_K(p + 210 * i, dst + kQK * i);
      return;
    case kGgmlTQ1_0:
    case kGgmlTQ2_0: {
      std::vector<int8_t> values(static_cast<size_t>(n));
      std::vector<float> scales;
      UnpackTernaryType(type, src, n, values.data(), &scales);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(values[i]) * scales[i / kQK];
      return;
    }
    default:
      throw Error(std::string("DequantizeRowToF32: unsupported type ") + GgmlTypeName(type));
  }
}

void UnpackTernaryType(uint32_t type, const void* src, int64_t n, int8_t* values, std::vector<float>* block_scales) {
  const auto* p = static_cast<const uint8_t*>(src);
  block_scales->clear();
  switch (type) {
    case kGgmlTQ2_0: {
      CheckBlocks("UnpackTernaryType", type, n, kQK);
      for (int64_t i = 0; i < n / kQK; ++i) {
        const uint8_t* b = p + 66 * i;
        for (int e = 0; e < kQK; ++e) values[kQK * i + e] = CodeToValue((b[Tq2Byte(e)] >> Tq2Shift(e)) & 3, "TQ2_0");
        block_scales->push_back(LoadHalf(b + 64));
      }
      return;
    }
    case kGgmlTQ1_0: {
      CheckBlocks("UnpackTernaryType", type, n, kQK);
      for (int64_t i = 0; i < n / kQK; ++i) {
        const uint8_t* b = p + 54 * i;
        for (int e = 0; e < kQK; ++e) {
          int byte, trit;
          Tq1Position(e, &byte, &trit);
          values[kQK * i + e] = static_cast<int8_t>(TritOf(b[byte], trit) - 1);
        }
        block_scales->push_back(LoadHalf(b + 52));
      }
      return;
    }
    case kGgmlI2_S: {
      CheckBlocks("UnpackTernaryType", type, n, kTernaryBlock);
      for (int64_t e = 0; e < n; ++e) {
        const uint8_t byte = p[(e / kTernaryBlock) * kTernaryBlockBytes + e % 32];
        values[e] = CodeToValue((byte >> I2sShift(static_cast<int>(e % kTernaryBlock))) & 3, "I2_S");
      }
      float scale;
      std::memcpy(&scale, p + n / 4, 4);
      block_scales->push_back(scale);
      return;
    }
    default:
      throw Error(std::string("type ") + GgmlTypeName(type) + " is not a ternary type");
  }
}

std::vector<uint8_t> PackTernaryType(uint32_t type, const int8_t* values, int64_t n,
                                     const std::vector<float>& block_scales) {
  auto check_scales = [&](size_t want) {
    if (block_scales.size() != want)
      throw Error(std::string("type ") + GgmlTypeName(type) + " needs " + std::to_string(want) +
                  " scales, got " + std::to_string(block_scales.size()));
  };
  switch (type) {
    case kGgmlTQ2_0: {
      CheckBlocks("PackTernaryType", type, n, kQK);
      check_scales(static_cast<size_t>(n / kQK));
      std::vector<uint8_t> out(static_cast<size_t>(n / kQK * 66), 0);
      for (int64_t i = 0; i < n / kQK; ++i) {
        uint8_t* b = out.data() + 66 * i;
        for (int e = 0; e < kQK; ++e)
          b[Tq2Byte(e)] |= static_cast<uint8_t>(ValueToCode(values[kQK * i + e], kQK * i + e) << Tq2Shift(e));
        StoreU16(b + 64, F32ToF16(block_scales[i]));
      }
      return out;
    }
    case kGgmlTQ1_0: {
      CheckBlocks("PackTernaryType", type, n, kQK);
      check_scales(static_cast<size_t>(n / kQK));
      std::vector<uint8_t> out(static_cast<size_t>(n / kQK * 54), 0);
      for (int64_t i = 0; i < n / kQK; ++i) {
        uint8_t* b = out.data() + 54 * i;
        int codes[52][5] = {};
        int counts[52] = {};
        for (int e = 0; e < kQK; ++e) {
          int byte, trit;
          Tq1Position(e, &byte, &trit);
          codes[byte][trit] = ValueToCode(values[kQK * i + e], kQK * i + e);
          counts[byte] = std::max(counts[byte], trit + 1);
        }
        for (int byte = 0; byte < 52; ++byte) b[byte] = PackTrits(codes[byte], counts[byte]);
        StoreU16(b + 52, F32ToF16(block_scales[i]));
      }
      return out;
    }
    case kGgmlI2_S: {
      CheckBlocks("PackTernaryType", type, n, kTernaryBlock);
      check_scales(1);
      std::vector<uint8_t> out(static_cast<size_t>(n / 4 + 32), 0);
      for (int64_t e = 0; e < n; ++e)
        out[(e / kTernaryBlock) * kTernaryBlockBytes + e % 32] |=
            static_cast<uint8_t>(ValueToCode(values[e], e) << I2sShift(static_cast<int>(e % kTernaryBlock)));
      std::memcpy(out.data() + n / 4, &block_scales[0], 4);
      return out;
    }
    default:
      throw Error(std::string("type ") + GgmlTypeName(type) + " is not a ternary type");
  }
}

std::vector<uint8_t> QuantizeRowFromF32(uint32_t type, const float* src, int64_t n) {
  const TypeTraits* t = FindTraits(type);
  if (!t) throw Error(std::string("QuantizeRowFromF32: unsupported type ") + GgmlTypeName(type));
  CheckBlocks("QuantizeRowFromF32", type, n, t->block);
  const int64_t nb = n / t->block;
  std::vector<uint8_t> out;
  switch (type) {
    case kGgmlF32:
      out.resize(static_cast<size_t>(n) * 4);
      std::memcpy(out.data(), src, out.size());
      return out;
    case kGgmlF16:
    case kGgmlBF16:
      out.resize(static_cast<size_t>(n) * 2);
      for (int64_t i = 0; i < n; ++i) StoreU16(out.data() + 2 * i, type == kGgmlF16 ? F32ToF16(src[i]) : F32ToBf16(src[i]));
      return out;
    case kGgmlQ8_0:
      out.resize(static_cast<size_t>(nb) * 34);
      for (int64_t i = 0; i < nb; ++i) QuantQ8_0(src + 32 * i, out.data() + 34 * i);
      return out;
    case kGgmlQ4_K:
      out.resize(static_cast<size_t>(nb) * 144);
      for (int64_t i = 0; i < nb; ++i) QuantQ4_K(src + kQK * i, out.data() + 144 * i);
      return out;
    case kGgmlQ6_K:
      out.resize(static_cast<size_t>(nb) * 210);
      for (int64_t i = 0; i < nb; ++i) QuantQ6_K(src + kQK * i, out.data() + 210 * i);
      return out;
    default:
      throw Error(std::string("QuantizeRowFromF32: unsupported type ") + GgmlTypeName(type));
  }
}

}  // namespace bitnet
