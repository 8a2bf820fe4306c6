// The Hugging Face packed-weight layout round trip, and RoPE against float64.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/ops.h"
#include "model/load_hf.h"

namespace bitnet {
namespace {

TEST(HfPackedLayout, RoundTripsAndPlacesRowBlocks) {
  std::mt19937 rng(5);
  const int64_t out = 12, in = 7;
  std::vector<int8_t> w(out * in);
  for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);
  const std::vector<uint8_t> packed = PackHfPackedTernary(w.data(), out, in);
  ASSERT_EQ(packed.size(), static_cast<size_t>(out / 4 * in));
  std::vector<int8_t> back(w.size());
  UnpackHfPackedTernary(packed.data(), out, in, back.data());
  EXPECT_EQ(back, w);
  // Unpacked row i*(out/4) + r comes from bits 2i..2i+1 of packed row r.
  std::vector<uint8_t> one(out / 4 * in, 0x55);  // every code 1: weight 0
  one[1 * in + 2] = static_cast<uint8_t>((0x55 & ~(3 << 4)) | (2 << 4));  // packed row 1, bits 4-5: +1
  std::vector<int8_t> w1(out * in);
  UnpackHfPackedTernary(one.data(), out, in, w1.data());
  for (int64_t r = 0; r < out; ++r)
    for (int64_t c = 0; c < in; ++c) EXPECT_EQ(w1[r * in + c], (r == 2 * 3 + 1 && c == 2) ? 1 : 0) << r << "," << c;
}

TEST(HfPackedLayout, RejectsCodeThree) {
  std::vector<uint8_t> packed(4, 0xFF);
  std::vector<int8_t> w(16);
  EXPECT_THROW(UnpackHfPackedTernary(packed.data(), 4, 4, w.data()), std::exception);
}

TEST(Rope, MatchesFloat64RotateHalf) {
  const int dim = 128, heads = 3;
  const double theta = 500000.0;
  RopeTable table(dim, theta);
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int pos : {0, 1, 17, 4095}) {
    std::vector<float> v(heads * dim);
    for (auto& x : v) x = dist(rng);
    std::vector<double> ref(v.begin(), v.end());
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < dim / 2; ++i) {
        const double ang = pos * std::pow(theta, -2.0 * i / dim);
        const double a = v[h * dim + i], b = v[h * dim + i + dim / 2];
        ref[h * dim + i] = a * std::cos(ang) - b * std::sin(ang);
        ref[h * dim + i + dim / 2] = b * std::cos(ang) + a * std::sin(ang);
      }
    std::vector<float> cs(dim / 2), sn(dim / 2);
    table.Angles(pos, cs.data(), sn.data());
    ApplyRope(v.data(), heads, dim, cs.data(), sn.data());
    // float32 angles/products: about 1e-6 relative at small positions; the
    // angle pos * inv_freq loses a few ulps at pos 4095.
    for (int i = 0; i < heads * dim; ++i) EXPECT_NEAR(v[i], ref[i], 2e-5 * (1 + std::fabs(ref[i]))) << pos << " " << i;
  }
}

TEST(Rope, PositionZeroIsIdentityAndPairsAreHalfApart) {
  RopeTable table(8, 10000.0);
  std::vector<float> v = {1, 2, 3, 4, 5, 6, 7, 8}, orig = v;
  std::vector<float> cs(4), sn(4);
  table.Angles(0, cs.data(), sn.data());
  ApplyRope(v.data(), 1, 8, cs.data(), sn.data());
  EXPECT_EQ(v, orig);
  // At pos 1, dimension 0 (inv_freq 1) rotates (v0, v4) by one radian.
  table.Angles(1, cs.data(), sn.data());
  ApplyRope(v.data(), 1, 8, cs.data(), sn.data());
  EXPECT_NEAR(v[0], 1 * std::cos(1.0) - 5 * std::sin(1.0), 1e-5);
  EXPECT_NEAR(v[4], 5 * std::cos(1.0) + 1 * std::sin(1.0), 1e-5);
}

}  // namespace
}  // namespace bitnet
