// Hand-built blocks with known contents for every layout, plus round trips.
#include "formats/ggml_types.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/ternary_layout.h"
#include "util/error.h"
#include "util/half.h"

namespace bitnet {
namespace {

void PutU16(std::vector<uint8_t>& b, size_t at, uint16_t v) { std::memcpy(b.data() + at, &v, 2); }

std::vector<int8_t> RandomTernary(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-1, 1);
  std::vector<int8_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<int8_t>(dist(rng));
  return v;
}

std::vector<float> RandomFloats(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(GgmlTypes, NamesAndKnown) {
  EXPECT_STREQ(GgmlTypeName(kGgmlF32), "F32");
  EXPECT_STREQ(GgmlTypeName(kGgmlTQ2_0), "TQ2_0");
  EXPECT_STREQ(GgmlTypeName(kGgmlI2_S), "I2_S");
  EXPECT_STREQ(GgmlTypeName(kGgmlBitnetT2), "BITNET_T2");
  EXPECT_STREQ(GgmlTypeName(999), "unknown(999)");
  EXPECT_TRUE(GgmlTypeKnown(kGgmlQ6_K));
  EXPECT_FALSE(GgmlTypeKnown(999));
}

TEST(GgmlTypes, TensorBytes) {
  EXPECT_EQ(GgmlTensorBytes(kGgmlF32, {3, 5}), 60u);
  EXPECT_EQ(GgmlTensorBytes(kGgmlF16, {7}), 14u);
  EXPECT_EQ(GgmlTensorBytes(kGgmlBF16, {2, 2, 2}), 16u);
  EXPECT_EQ(GgmlTensorBytes(kGgmlI8, {9}), 9u);
  EXPECT_EQ(GgmlTensorBytes(kGgmlQ4_0, {64, 2}), 4u * 18);
  EXPECT_EQ(GgmlTensorBytes(kGgmlQ8_0, {64, 3}), 6u * 34);
  EXPECT_EQ(GgmlTensorBytes(kGgmlQ4_K, {512}), 2u * 144);
  EXPECT_EQ(GgmlTensorBytes(kGgmlQ6_K, {256, 4}), 4u * 210);
  EXPECT_EQ(GgmlTensorBytes(kGgmlTQ1_0, {2560, 2}), 20u * 54);
  EXPECT_EQ(GgmlTensorBytes(kGgmlTQ2_0, {2560, 2}), 20u * 66);
  EXPECT_EQ(GgmlTensorBytes(kGgmlI2_S, {2560, 6912}), 2560u * 6912 / 4 + 32);
  EXPECT_EQ(GgmlTensorBytes(kGgmlBitnetT2, {130, 3}), 3u * 256 / 4);
  EXPECT_EQ(GgmlTensorBytes(kGgmlF32, {}), 4u);  // a scalar
  EXPECT_THROW(GgmlTensorBytes(kGgmlQ8_0, {48}), Error);
  EXPECT_THROW(GgmlTensorBytes(kGgmlTQ2_0, {128}), Error);
  EXPECT_THROW(GgmlTensorBytes(kGgmlI2_S, {64, 2}), Error);
  EXPECT_THROW(GgmlTensorBytes(999, {4}), Error);
  EXPECT_THROW(GgmlTensorBytes(kGgmlF32, {1ull << 40, 1ull << 40}), Error);
  EXPECT_THROW(GgmlTensorBytes(kGgmlF32, {1ull << 62}), Error);  // bytes overflow
}

TEST(GgmlTypes, BlockSizeErrorNamesTheType) {
  try {
    GgmlTensorBytes(kGgmlQ4_K, {100});
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_K"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
  }
}

// TQ2_0: element e lives in byte 32*(e/128) + e%32 at bits 2*((e%128)/32), code q+1.
TEST(GgmlTypes, Tq2KnownBlock) {
  std::vector<uint8_t> block(66, 0x55);  // every code 1: all zeros
  block[0] = 0x52;                       // e0: code 2 (+1), e32: code 0 (-1), e64 and e96: 0
  block[63] = 0x95;                      // e255: code 2 (+1) in bits 7-6; e159/e191/e223: 0
  block[40] = 0x45;                      // e200 (bits 5-4): code 0 (-1); e136/e168/e232: code 1
  PutU16(block, 64, 0x3800);             // d = 0.5
  std::vector<int8_t> want(256, 0);
  want[0] = 1;
  want[32] = -1;
  want[255] = 1;
  want[200] = -1;
  std::vector<int8_t> got(256);
  std::vector<float> scales;
  UnpackTernaryType(kGgmlTQ2_0, block.data(), 256, got.data(), &scales);
  EXPECT_EQ(got, want);
  ASSERT_EQ(scales.size(), 1u);
  EXPECT_EQ(scales[0], 0.5f);
  std::vector<float> f(256);
  DequantizeRowToF32(kGgmlTQ2_0, block.data(), f.data(), 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(f[e], 0.5f * want[e]) << e;

  block[10] = 0x57;  // e10 gets code 3
  EXPECT_THROW(UnpackTernaryType(kGgmlTQ2_0, block.data(), 256, got.data(), &scales), Error);
}

// TQ1_0: bytes 0..31 hold elements m + 32n, bytes 32..47 elements 160 + m + 16n,
// qh bytes 48..51 elements 240 + j + 4n, as ceil(q*256/243) of a base-3 number q
// whose first trit (n = 0) is most significant; code = q + 1.
TEST(GgmlTypes, Tq1KnownBlock) {
  std::vector<uint8_t> block(54, 128);  // 128 = trits 1,1,1,1,1: all zeros
  for (int j = 48; j < 52; ++j) block[j] = 127;  // trits 1,1,1,1 (+ a padding 0 trit)
  block[0] = 188;   // trits 2,0,1,2,1: e0 +1, e32 -1, e64 0, e96 +1, e128 0
  block[37] = 70;   // trits 0,2,1,1,0: e165 -1, e181 +1, e197 0, e213 0, e229 -1
  block[50] = 177;  // trits 2,0,0,2: e242 +1, e246 -1, e250 -1, e254 +1
  PutU16(block, 52, 0x4000);  // d = 2
  std::vector<int8_t> want(256, 0);
  want[0] = 1, want[32] = -1, want[96] = 1;
  want[165] = -1, want[181] = 1, want[229] = -1;
  want[242] = 1, want[246] = -1, want[250] = -1, want[254] = 1;
  std::vector<int8_t> got(256);
  std::vector<float> scales;
  UnpackTernaryType(kGgmlTQ1_0, block.data(), 256, got.data(), &scales);
  EXPECT_EQ(got, want);
  ASSERT_EQ(scales.size(), 1u);
  EXPECT_EQ(scales[0], 2.0f);
  // The packer must write exactly these bytes back.
  EXPECT_EQ(PackTernaryType(kGgmlTQ1_0, want.data(), 256, {2.0f}), block);
}

// I2_S: 128-weight blocks of 32 bytes; byte b holds weights b, b+32, b+64, b+96 in
// bits 7-6, 5-4, 3-2, 1-0; code w+1; one f32 scale at byte n/4, then padding.
TEST(GgmlTypes, I2sKnownBlock) {
  std::vector<uint8_t> data(256 / 4 + 32, 0);
  std::fill(data.begin(), data.begin() + 64, 0x55);
  data[0] = 0x94;   // e0 code 2 (+1), e32 and e64 code 1, e96 code 0 (-1)
  data[37] = 0x15;  // block 1, byte 5: e133 code 0 (-1), e165/e197/e229 code 1
  const float scale = 0.75f;
  std::memcpy(data.data() + 64, &scale, 4);
  std::vector<int8_t> want(256, 0);
  want[0] = 1, want[96] = -1, want[133] = -1;
  std::vector<int8_t> got(256);
  std::vector<float> scales;
  UnpackTernaryType(kGgmlI2_S, data.data(), 256, got.data(), &scales);
  EXPECT_EQ(got, want);
  ASSERT_EQ(scales.size(), 1u);
  EXPECT_EQ(scales[0], 0.75f);
  EXPECT_EQ(PackTernaryType(kGgmlI2_S, want.data(), 256, {0.75f}), data);

  data[3] = 0xD5;  // e3 gets code 3
  EXPECT_THROW(UnpackTernaryType(kGgmlI2_S, data.data(), 256, got.data(), &scales), Error);
}

// I2_S rows are the kernels' packed layout byte for byte (no repacking on load).
TEST(GgmlTypes, I2sMatchesKernelLayout) {
  const int64_t rows = 3, cols = 384;
  auto w = RandomTernary(rows * cols, 7);
  auto i2s = PackTernaryType(kGgmlI2_S, w.data(), rows * cols, {1.0f});
  auto packed = PackTernaryRows(w.data(), rows, cols);
  ASSERT_EQ(packed.size(), static_cast<size_t>(rows * cols / 4));
  EXPECT_TRUE(std::equal(packed.begin(), packed.end(), i2s.begin()));
}

TEST(GgmlTypes, Q8_0KnownBlock) {
  std::vector<uint8_t> block(34);
  PutU16(block, 0, 0x3400);  // d = 0.25
  for (int j = 0; j < 32; ++j) block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128));
  std::vector<float> f(32);
  DequantizeRowToF32(kGgmlQ8_0, block.data(), f.data(), 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(f[j], 0.25f * static_cast<float>(j * 8 - 128)) << j;
}

// Q4_K: d, dmin, 12 bytes of 6-bit scales/mins, then 128 bytes of nibbles; element e
// is nibble (e%64)/32 of byte 32*(e/64) + e%32, value d*sc[e/32]*q - dmin*m[e/32].
TEST(GgmlTypes, Q4_KKnownBlock) {
  std::vector<uint8_t> b(144, 0);
  PutU16(b, 0, 0x3C00);  // d = 1
  PutU16(b, 2, 0x3800);  // dmin = 0.5
  uint8_t* scales = b.data() + 4;
  scales[0] = 1;  // sub-block 0: sc 1
  scales[4] = 2;  //              m 2
  // sub-block 5: sc 17 = 0b01'0001, m 33 = 0b10'0001: nibbles in byte 9, top bits in bytes 1 and 5.
  scales[9] = 0x11;
  scales[1] = 0x40;
  scales[5] = 0x80;
  uint8_t* qs = b.data() + 16;
  qs[3] = 0xBA;   // e3 (low nibble, sub-block 0): q 10; e35 (high, sub-block 1 with sc=m=0)
  qs[74] = 0x70;  // e170 (high nibble of byte 64+10, sub-block 5): q 7
  std::vector<float> want(256, 0.0f);
  for (int e = 0; e < 32; ++e) want[e] = -1.0f;      // q 0: -dmin*m = -1
  for (int e = 160; e < 192; ++e) want[e] = -16.5f;  // q 0: -0.5*33
  want[3] = 1.0f * 1 * 10 - 1.0f;
  want[170] = 17.0f * 7 - 16.5f;
  std::vector<float> f(256);
  DequantizeRowToF32(kGgmlQ4_K, b.data(), f.data(), 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(f[e], want[e]) << e;
}

// Q6_K: ql[128], qh[64], int8 scales[16], d. Element e (h=e/128, g=(e%128)/32,
// l=e%32): low nibble in ql[64h + l + 32(g&1)] (high half when g>=2), top bits in
// qh[32h + l] at 2g, scale scales[e/16]; value d*scale*(u - 32).
TEST(GgmlTypes, Q6_KKnownBlock) {
  std::vector<uint8_t> b(210, 0);
  auto* sc = reinterpret_cast<int8_t*>(b.data() + 192);
  sc[0] = 2, sc[5] = -3, sc[15] = 1;
  PutU16(b, 208, 0x3800);  // d = 0.5
  b[0] = 0x08, b[128 + 0] = 0x02;              // e0: u = 8 | 2<<4 = 40
  b[16] = 0x40, b[128 + 16] = 0x10;            // e80 (g=2, l=16): u = 4 | 1<<4 = 20
  b[127] = 0xF0, b[128 + 63] = 0xC0;           // e255 (h=1, g=3, l=31): u = 63
  std::vector<float> want(256, 0.0f);
  for (int e = 0; e < 16; ++e) want[e] = 0.5f * 2 * -32;
  for (int e = 80; e < 96; ++e) want[e] = 0.5f * -3 * -32;
  for (int e = 240; e < 256; ++e) want[e] = 0.5f * 1 * -32;
  want[0] = 0.5f * 2 * 8;
  want[80] = 0.5f * -3 * -12;
  want[255] = 0.5f * 31;
  std::vector<float> f(256);
  DequantizeRowToF32(kGgmlQ6_K, b.data(), f.data(), 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(f[e], want[e]) << e;
}

TEST(GgmlTypes, Q4_0KnownBlock) {
  std::vector<uint8_t> b(18, 0x88);  // every nibble 8: value 0
  PutU16(b, 0, 0x3C00);
  b[2] = 0x8F;  // e0 = 15-8 = 7, e16 = 0
  b[17] = 0x08; // e15 = 0, e31 = -8
  std::vector<float> f(32);
  DequantizeRowToF32(kGgmlQ4_0, b.data(), f.data(), 32);
  std::vector<float> want(32, 0.0f);
  want[0] = 7, want[31] = -8;
  EXPECT_EQ(f, want);
}

TEST(GgmlTypes, Q8_0RoundTrip) {
  const int64_t n = 32 * 8;
  auto x = RandomFloats(n, 1, -3.0f, 3.0f);
  auto q = QuantizeRowFromF32(kGgmlQ8_0, x.data(), n);
  ASSERT_EQ(q.size(), GgmlTensorBytes(kGgmlQ8_0, {static_cast<uint64_t>(n)}));
  std::vector<float> y(n);
  DequantizeRowToF32(kGgmlQ8_0, q.data(), y.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    const float tol = 0.5f * amax / 127.0f * 1.01f;
    for (int j = 0; j < 32; ++j) EXPECT_NEAR(y[32 * b + j], x[32 * b + j], tol) << b << " " << j;
  }
}

TEST(GgmlTypes, Q4_KRoundTrip) {
  const int64_t n = 256 * 4;
  auto x = RandomFloats(n, 2, -1.0f, 2.0f);
  for (int j = 0; j < 32; ++j) x[256 + j] = 5.0f + 0.01f * j;  // an all-positive sub-block
  auto q = QuantizeRowFromF32(kGgmlQ4_K, x.data(), n);
  ASSERT_EQ(q.size(), GgmlTensorBytes(kGgmlQ4_K, {static_cast<uint64_t>(n)}));
  std::vector<float> y(n);
  DequantizeRowToF32(kGgmlQ4_K, q.data(), y.data(), n);
  for (int64_t b = 0; b < n / 256; ++b) {
    float lo = 0, hi = 0;
    for (int j = 0; j < 256; ++j) lo = std::min(lo, x[256 * b + j]), hi = std::max(hi, x[256 * b + j]);
    // Step <= (range + one min step) / 15; error at most half a step.
    const float tol = 0.5f * (hi - lo) * (1.0f + 1.0f / 63) / 15.0f * 1.01f;
    for (int j = 0; j < 256; ++j) EXPECT_NEAR(y[256 * b + j], x[256 * b + j], tol) << b << " " << j;
  }
}

TEST(GgmlTypes, Q6_KRoundTrip) {
  const int64_t n = 256 * 4;
  auto x = RandomFloats(n, 3, -4.0f, 4.0f);
  for (int j = 0; j < 16; ++j) x[16 + j] = 0.001f * j;  // a tiny sub-block beside large ones
  for (int j = 0; j < 256; ++j) x[512 + j] = 0.0f;      // an all-zero super-block
  auto q = QuantizeRowFromF32(kGgmlQ6_K, x.data(), n);
  ASSERT_EQ(q.size(), GgmlTensorBytes(kGgmlQ6_K, {static_cast<uint64_t>(n)}));
  std::vector<float> y(n);
  DequantizeRowToF32(kGgmlQ6_K, q.data(), y.data(), n);
  for (int64_t b = 0; b < n / 256; ++b) {
    float amax = 0;
    for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[256 * b + j]));
    for (int s = 0; s < 16; ++s) {
      float sub = 0;
      for (int l = 0; l < 16; ++l) sub = std::max(sub, std::fabs(x[256 * b + 16 * s + l]));
      const float tol = 0.5f * (sub / 31.0f + amax / (31.0f * 127.0f)) * 1.01f + 1e-7f;
      for (int l = 0; l < 16; ++l) {
        const int64_t e = 256 * b + 16 * s + l;
        EXPECT_NEAR(y[e], x[e], tol) << e;
      }
    }
  }
  for (int j = 0; j < 256; ++j) EXPECT_EQ(y[512 + j], 0.0f);
}

TEST(GgmlTypes, HalfRoundTrips) {
  const int64_t n = 64;
  auto x = RandomFloats(n, 4, -100.0f, 100.0f);
  for (uint32_t type : {kGgmlF16, kGgmlBF16, kGgmlF32}) {
    auto q = QuantizeRowFromF32(type, x.data(), n);
    ASSERT_EQ(q.size(), GgmlTensorBytes(type, {static_cast<uint64_t>(n)}));
    std::vector<float> y(n);
    DequantizeRowToF32(type, q.data(), y.data(), n);
    const float rel = type == kGgmlF16 ? 1.0f / 2048 : type == kGgmlBF16 ? 1.0f / 256 : 0.0f;
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], x[i], std::fabs(x[i]) * rel) << GgmlTypeName(type) << i;
  }
}

class TernaryRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(TernaryRoundTrip, PackThenUnpack) {
  const uint32_t type = GetParam();
  const int64_t n = 768;
  auto w = RandomTernary(n, 11 + type);
  // Unequal per-block scales, exact in fp16, so a swapped or shared scale shows.
  std::vector<float> scales = type == kGgmlI2_S ? std::vector<float>{0.123f} : std::vector<float>{0.5f, 2.25f, 0.0625f};
  auto bytes = PackTernaryType(type, w.data(), n, scales);
  EXPECT_EQ(bytes.size(), GgmlTensorBytes(type, {static_cast<uint64_t>(n)}));
  std::vector<int8_t> got(n);
  std::vector<float> got_scales;
  UnpackTernaryType(type, bytes.data(), n, got.data(), &got_scales);
  EXPECT_EQ(got, w);
  EXPECT_EQ(got_scales, scales);
  if (type != kGgmlI2_S) {  // dequantize honours each block's own scale
    std::vector<float> f(n);
    DequantizeRowToF32(type, bytes.data(), f.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(f[i], w[i] * scales[i / 256]) << i;
  }
}

TEST_P(TernaryRoundTrip, RejectsBadInput) {
  const uint32_t type = GetParam();
  std::vector<int8_t> w(256, 0);
  const std::vector<float> scales = {1.0f};
  w[17] = 2;
  EXPECT_THROW(PackTernaryType(type, w.data(), 256, scales), Error);
  w[17] = 0;
  EXPECT_THROW(PackTernaryType(type, w.data(), 256, {1.0f, 2.0f}), Error);
  EXPECT_THROW(PackTernaryType(type, w.data(), 100, scales), Error);
}

INSTANTIATE_TEST_SUITE_P(Types, TernaryRoundTrip, ::testing::Values(kGgmlTQ1_0, kGgmlTQ2_0, kGgmlI2_S),
                         [](const ::testing::TestParamInfo<uint32_t>& param_info) { return std::string(GgmlTypeName(param_info.param)); });

TEST(GgmlTypes, UnsupportedTypesThrow) {
  std::vector<uint8_t> buf(1024, 0);
  std::vector<float> f(256);
  std::vector<int8_t> v(256);
  std::vector<float> scales;
  EXPECT_THROW(DequantizeRowToF32(kGgmlI2_S, buf.data(), f.data(), 256), Error);
  EXPECT_THROW(DequantizeRowToF32(999, buf.data(), f.data(), 256), Error);
  EXPECT_THROW(DequantizeRowToF32(kGgmlQ8_0, buf.data(), f.data(), 31), Error);
  EXPECT_THROW(UnpackTernaryType(kGgmlQ8_0, buf.data(), 256, v.data(), &scales), Error);
  EXPECT_THROW(QuantizeRowFromF32(kGgmlTQ2_0, f.data(), 256), Error);
}

}  // namespace
}  // namespace bitnet
