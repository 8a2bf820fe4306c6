// The one kernel dispatch (dispatch.h): every entry of every table this CPU
// can run against the scalar table's entry (bit for bit where the result is
// integer or the operations are the same, within stated tolerances where
// float sums run in another order), each table reporting what it runs, and
// BITNET_ISA choosing the table every public kernel function goes through.
#include "kernels/dispatch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/output_int8.h"
#include "kernels/quantize.h"
#include "util/error.h"
#include "util/half.h"

namespace bitnet {
namespace {

constexpr KernelIsa kAll[] = {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvxVnni, KernelIsa::kAvx512Vnni, KernelIsa::kNeonDot};

std::vector<float> RandomFloats(int64_t n, float scale, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& f : v) f = dist(rng);
  return v;
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// What each table must run, entry by entry: the ISA's own variant where the
// build has one, the best lesser one otherwise.
std::map<std::string, KernelIsa> ExpectedEntries(KernelIsa isa) {
  std::map<std::string, KernelIsa> want;
  for (const auto& [name, unused] : ScalarKernelTable().Entries()) want[name] = KernelIsa::kScalar;
  if (isa == KernelIsa::kAvx2 || isa == KernelIsa::kAvxVnni || isa == KernelIsa::kAvx512Vnni) {
    for (const char* name : {"rms_norm", "quantize_int8", "softmax", "relu2_gate", "dot_f32", "attention_scores",
                             "attention_values", "f32_to_f16_row", "mat_vec_dense", "mat_vec_int8_rows",
                             "mat_mul_int8_rows"})
      want[name] = KernelIsa::kAvx2;
  }
  if (isa == KernelIsa::kAvx512Vnni) want["mat_vec_int8_rows"] = want["mat_mul_int8_rows"] = KernelIsa::kAvx512Vnni;
  if (isa == KernelIsa::kNeonDot)
    for (const char* name : {"rms_norm", "quantize_int8", "softmax", "relu2_gate", "dot_f32", "mat_vec_int8_rows",
                             "mat_mul_int8_rows"})
      want[name] = KernelIsa::kNeonDot;
  if (isa != KernelIsa::kScalar) want["w2a8_mat_vec"] = want["w2a8_mat_mul"] = isa;
  return want;
}

TEST(KernelDispatch, EveryTableReportsWhatItRuns) {
  const KernelTable& s = ScalarKernelTable();
  for (KernelIsa isa : kAll) {
    const KernelTable* t = KernelTableFor(isa);
    if (t == nullptr) continue;
    SCOPED_TRACE(IsaName(isa));
    EXPECT_EQ(t->isa, isa);
    EXPECT_EQ(t->w2a8, W2A8KernelsFor(isa));
    std::map<std::string, KernelIsa> got;
    for (const auto& [name, entry_isa] : t->Entries()) got[name] = entry_isa;
    EXPECT_EQ(got.size(), 15u);
    const std::map<std::string, KernelIsa> want = ExpectedEntries(isa);
    for (const auto& [name, want_isa] : want) {
      ASSERT_TRUE(got.count(name)) << name;
      EXPECT_STREQ(IsaName(got[name]), IsaName(want_isa)) << name;
    }
    // The report matches the pointers: an entry said to be scalar is the
    // scalar function, any other is not.
    auto check = [&](const char* name, const void* fn, const void* scalar_fn) {
      ASSERT_NE(fn, nullptr) << name;
      if (want.at(name) == KernelIsa::kScalar) {
        EXPECT_EQ(fn, scalar_fn) << name;
      } else {
        EXPECT_NE(fn, scalar_fn) << name;
      }
    };
    check("rms_norm", reinterpret_cast<const void*>(t->rms_norm.fn), reinterpret_cast<const void*>(s.rms_norm.fn));
    check("quantize_int8", reinterpret_cast<const void*>(t->quantize_int8.fn),
          reinterpret_cast<const void*>(s.quantize_int8.fn));
    check("softmax", reinterpret_cast<const void*>(t->softmax.fn), reinterpret_cast<const void*>(s.softmax.fn));
    check("relu2_gate", reinterpret_cast<const void*>(t->relu2_gate.fn), reinterpret_cast<const void*>(s.relu2_gate.fn));
    check("silu_gate", reinterpret_cast<const void*>(t->silu_gate.fn), reinterpret_cast<const void*>(s.silu_gate.fn));
    check("dot_f32", reinterpret_cast<const void*>(t->dot_f32.fn), reinterpret_cast<const void*>(s.dot_f32.fn));
    check("apply_rope", reinterpret_cast<const void*>(t->apply_rope.fn), reinterpret_cast<const void*>(s.apply_rope.fn));
    check("attention_scores", reinterpret_cast<const void*>(t->attention_scores.fn),
          reinterpret_cast<const void*>(s.attention_scores.fn));
    check("attention_values", reinterpret_cast<const void*>(t->attention_values.fn),
          reinterpret_cast<const void*>(s.attention_values.fn));
    check("f32_to_f16_row", reinterpret_cast<const void*>(t->f32_to_f16_row.fn),
          reinterpret_cast<const void*>(s.f32_to_f16_row.fn));
    check("mat_vec_dense", reinterpret_cast<const void*>(t->mat_vec_dense.fn),
          reinterpret_cast<const void*>(s.mat_vec_dense.fn));
    check("mat_vec_int8_rows", reinterpret_cast<const void*>(t->mat_vec_int8_rows.fn),
          reinterpret_cast<const void*>(s.mat_vec_int8_rows.fn));
    check("mat_mul_int8_rows", reinterpret_cast<const void*>(t->mat_mul_int8_rows.fn),
          reinterpret_cast<const void*>(s.mat_mul_int8_rows.fn));
    check("w2a8_mat_vec", reinterpret_cast<const void*>(t->w2a8->mat_vec),
          reinterpret_cast<const void*>(s.w2a8->mat_vec));
    check("w2a8_mat_mul", reinterpret_cast<const void*>(t->w2a8->mat_mul),
          reinterpret_cast<const void*>(s.w2a8->mat_mul));
  }
}

TEST(KernelDispatch, BitnetIsaNamesAreCheckedNotTrusted) {
  EXPECT_THROW(SelectKernelTable("sse9"), Error);
  EXPECT_THROW(SelectKernelTable("AVX2"), Error);
  const std::vector<KernelIsa> runnable = RunnableIsas();
  ASSERT_FALSE(runnable.empty());
  EXPECT_EQ(runnable.front(), KernelIsa::kScalar);
  for (KernelIsa isa : kAll) {
    if (KernelTableFor(isa) != nullptr) {
      EXPECT_EQ(&SelectKernelTable(IsaName(isa)), KernelTableFor(isa));
      EXPECT_EQ(SelectW2A8Kernels(IsaName(isa)).isa, isa);
    } else {
      EXPECT_THROW(SelectKernelTable(IsaName(isa)), Error) << IsaName(isa);
    }
  }
  EXPECT_EQ(SelectKernelTable(nullptr).isa, runnable.back());
  EXPECT_EQ(SelectKernelTable("").isa, runnable.back());
#if defined(__x86_64__)
  EXPECT_EQ(KernelTableFor(KernelIsa::kNeonDot), nullptr);
#elif defined(__aarch64__)
  EXPECT_EQ(KernelTableFor(KernelIsa::kAvx2), nullptr);
  EXPECT_EQ(KernelTableFor(KernelIsa::kAvx512Vnni), nullptr);
#endif
}

// What ci_isa.sh relies on: the environment picks the table, and the public
// functions run it (under BITNET_ISA=scalar, every one is the scalar loop).
TEST(KernelDispatch, ActiveTableIsTheOneBitnetIsaNames) {
  const char* env = std::getenv("BITNET_ISA");
  const KernelTable& active = ActiveKernels();
  EXPECT_EQ(&active, &SelectKernelTable(env));
  if (env != nullptr && *env != '\0') {
    EXPECT_STREQ(IsaName(active.isa), env);
  }
  EXPECT_EQ(&ActiveW2A8Kernels(), active.w2a8);
  std::printf("BITNET_ISA=%s -> table %s:", env != nullptr ? env : "(unset)", IsaName(active.isa));
  for (const auto& [name, isa] : active.Entries()) std::printf(" %s=%s", name.c_str(), IsaName(isa));
  std::printf("\n");
}

TEST(KernelDispatch, PublicFunctionsRunTheActiveTableBitForBit) {
  const KernelTable& k = ActiveKernels();
  std::mt19937 rng(5);
  const int64_t n = 999;
  const std::vector<float> x = RandomFloats(n, 3.0f, rng), w = RandomFloats(n, 1.0f, rng);
  std::vector<float> a(n), b(n);
  RmsNorm(x.data(), w.data(), n, 1e-5f, a.data());
  k.rms_norm.fn(x.data(), w.data(), n, 1e-5f, b.data());
  EXPECT_EQ(a, b);
  a = x;
  b = x;
  Softmax(a.data(), n);
  k.softmax.fn(b.data(), n);
  EXPECT_EQ(a, b);
  EXPECT_EQ(Bits(DotF32(x.data(), w.data(), n)), Bits(k.dot_f32.fn(x.data(), w.data(), n)));
  std::vector<int8_t> qa(1024), qb(1024);
  int32_t sa = 0, sb = 0;
  EXPECT_EQ(Bits(QuantizeActivationsInt8(x.data(), n, 1024, qa.data(), &sa)),
            Bits(k.quantize_int8.fn(x.data(), n, 1024, qb.data(), &sb)));
  EXPECT_EQ(qa, qb);
  EXPECT_EQ(sa, sb);
  // The fused norm + quantize goes through the same two entries.
  std::vector<float> normed(n);
  k.rms_norm.fn(x.data(), w.data(), n, 1e-5f, normed.data());
  const float want_a = k.quantize_int8.fn(normed.data(), n, 1024, qb.data(), &sb);
  EXPECT_EQ(Bits(RmsNormQuantizeInt8(x.data(), w.data(), n, 1e-5f, 1024, qa.data(), &sa)), Bits(want_a));
  EXPECT_EQ(qa, qb);
  // Attention on a head size the SIMD code takes (128).
  const int dim = 128, n_q = 4, pos = 37;
  const std::vector<float> q = RandomFloats(n_q * dim, 1.0f, rng), kv = RandomFloats(pos * dim, 1.0f, rng);
  std::vector<float> sc(n_q * pos), sc2(n_q * pos);
  AttentionScores(q.data(), n_q, kv.data(), KvElement::kF32, dim, pos, dim, 0.1f, sc.data(), pos);
  k.attention_scores.fn(q.data(), n_q, kv.data(), KvElement::kF32, dim, pos, dim, 0.1f, sc2.data(), pos);
  EXPECT_EQ(sc, sc2);
  std::vector<float> o(n_q * dim), o2(n_q * dim);
  AttentionValues(sc.data(), n_q, pos, kv.data(), KvElement::kF32, dim, pos, dim, o.data());
  k.attention_values.fn(sc.data(), n_q, pos, kv.data(), KvElement::kF32, dim, pos, dim, o2.data());
  EXPECT_EQ(o, o2);
  const DenseMatrixView m{DenseType::kF32, 9, 111, kv.data()};
  std::vector<float> y(9), y2(9);
  MatVecDense(m, 0, 9, x.data(), y.data());
  k.mat_vec_dense.fn(m, 0, 9, x.data(), y2.data());
  EXPECT_EQ(y, y2);
}

// Under BITNET_ISA=scalar the public functions are the scalar loops exactly;
// on a SIMD table at least the float sums differ somewhere, so this test can
// tell the two apart.
TEST(KernelDispatch, ScalarTableIsScalarEverywhere) {
  for (const auto& [name, isa] : ScalarKernelTable().Entries()) EXPECT_EQ(isa, KernelIsa::kScalar) << name;
  if (ActiveKernels().isa != KernelIsa::kScalar) GTEST_SKIP() << "BITNET_ISA is not scalar";
  std::mt19937 rng(6);
  const std::vector<float> x = RandomFloats(4099, 5.0f, rng), w = RandomFloats(4099, 1.0f, rng);
  std::vector<float> a = x, b = x;
  Softmax(a.data(), 4099);
  ScalarKernelTable().softmax.fn(b.data(), 4099);
  EXPECT_EQ(a, b);
  EXPECT_EQ(Bits(DotF32(x.data(), w.data(), 4099)), Bits(ScalarKernelTable().dot_f32.fn(x.data(), w.data(), 4099)));
  EXPECT_STREQ(MatVecInt8RowsVariant(DenseMatrixView{DenseType::kI8Row, 1, 1, nullptr}), "scalar");
}

// ---- every entry of every runnable SIMD table against the scalar one ----

class KernelTableIsaTest : public ::testing::TestWithParam<KernelIsa> {
 protected:
  void SetUp() override {
    table_ = KernelTableFor(GetParam());
    if (table_ == nullptr) GTEST_SKIP() << IsaName(GetParam()) << " is not compiled in or this CPU cannot run it";
  }
  const KernelTable& t() const { return *table_; }
  const KernelTable& s() const { return ScalarKernelTable(); }
  const KernelTable* table_ = nullptr;
};

TEST_P(KernelTableIsaTest, QuantizeInt8IsBitExact) {
  std::mt19937 rng(31);
  for (int64_t n : {1, 7, 31, 32, 33, 100, 2560, 6912}) {
    for (float scale : {1e-3f, 1.0f, 50.0f}) {
      std::vector<float> x = RandomFloats(n, scale, rng);
      if (scale == 1.0f && n > 3) {  // exact ties: max|x| = 127 makes a = 1
        x[0] = 127.0f;
        for (int64_t i = 1; i < n; i += 3) x[i] = static_cast<float>(static_cast<int>(rng() % 254) - 127) + 0.5f;
      }
      const int64_t n_padded = (n + 127) / 128 * 128;
      std::vector<int8_t> want(n_padded, 0x55), got(n_padded, 0x55);
      int32_t want_sum = 0, got_sum = 0;
      const float want_a = s().quantize_int8.fn(x.data(), n, n_padded, want.data(), &want_sum);
      const float got_a = t().quantize_int8.fn(x.data(), n, n_padded, got.data(), &got_sum);
      ASSERT_EQ(Bits(got_a), Bits(want_a)) << n;
      ASSERT_EQ(got, want) << "n=" << n << " scale=" << scale;
      ASSERT_EQ(got_sum, want_sum) << n;
    }
  }
}

TEST_P(KernelTableIsaTest, GatesRopeAndHalfRowsAreBitExact) {
  std::mt19937 rng(32);
  for (int64_t n : {1, 7, 8, 9, 6912, 6913}) {
    const std::vector<float> g = RandomFloats(n, 2.0f, rng), u = RandomFloats(n, 2.0f, rng);
    std::vector<float> want(n), got(n);
    s().relu2_gate.fn(g.data(), u.data(), n, want.data());
    t().relu2_gate.fn(g.data(), u.data(), n, got.data());
    ASSERT_EQ(got, want) << "relu2 " << n;
    s().silu_gate.fn(g.data(), u.data(), n, want.data());
    t().silu_gate.fn(g.data(), u.data(), n, got.data());
    ASSERT_EQ(got, want) << "silu " << n;
  }
  const int head_dim = 128, n_heads = 5;
  std::vector<float> cos(head_dim / 2), sin(head_dim / 2);
  RopeTable(head_dim, 500000.0).Angles(1234, cos.data(), sin.data());
  std::vector<float> want = RandomFloats(n_heads * head_dim, 1.0f, rng), got = want;
  s().apply_rope.fn(want.data(), n_heads, head_dim, cos.data(), sin.data());
  t().apply_rope.fn(got.data(), n_heads, head_dim, cos.data(), sin.data());
  EXPECT_EQ(got, want);
  std::vector<float> x = RandomFloats(1003, 3.0f, rng);
  const float special[] = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 6e-8f, -3e-6f, 70000.0f, -0.0f, 65504.0f, 65520.0f};
  std::copy(std::begin(special), std::end(special), x.begin());
  std::vector<uint16_t> hw(x.size()), hg(x.size());
  s().f32_to_f16_row.fn(x.data(), static_cast<int64_t>(x.size()), hw.data());
  t().f32_to_f16_row.fn(x.data(), static_cast<int64_t>(x.size()), hg.data());
  EXPECT_EQ(hg, hw);
}

TEST_P(KernelTableIsaTest, RmsNormSoftmaxDotWithinTolerance) {
  std::mt19937 rng(33);
  for (int64_t n : {1, 15, 16, 17, 100, 2560, 6912}) {
    const std::vector<float> x = RandomFloats(n, 2.0f, rng), w = RandomFloats(n, 1.0f, rng);
    std::vector<float> want(n), got(n);
    s().rms_norm.fn(x.data(), w.data(), n, 1e-5f, want.data());
    t().rms_norm.fn(x.data(), w.data(), n, 1e-5f, got.data());
    // Only the double sum of squares runs in another order: 1e-6 relative is
    // far above what that can change, far below a wrong formula.
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i]) + 1e-30) << "rms_norm n=" << n << " i=" << i;

    double magnitude = 0.0;
    for (int64_t i = 0; i < n; ++i) magnitude += std::fabs(static_cast<double>(x[i]) * w[i]);
    EXPECT_NEAR(t().dot_f32.fn(x.data(), w.data(), n), s().dot_f32.fn(x.data(), w.data(), n), 2e-6 * magnitude + 1e-30)
        << "dot n=" << n;

    std::vector<float> sw = RandomFloats(n, 6.0f, rng);
    if (n > 2) sw[1] = -std::numeric_limits<float>::infinity();
    const std::vector<float> in = sw;
    std::vector<float> sg = sw;
    s().softmax.fn(sw.data(), n);
    t().softmax.fn(sg.data(), n);
    // Per element: exp within a few ulp, and |x - max| 2^-24 from rounding
    // x - max (kernels_isa_test's bound against double). Both normalize by a
    // float sum of n terms, added in different orders: the scalar loop's
    // running sum drifts by about sqrt(n) ulp, hence the sqrt(n) term.
    const float mx = *std::max_element(in.begin(), in.end());
    const double sum_tol = 3e-7 * std::sqrt(static_cast<double>(n));
    for (int64_t i = 0; i < n; ++i) {
      if (std::isinf(in[i])) continue;  // the mask: exactly 0, checked below
      const double arg = std::fabs(static_cast<double>(in[i]) - mx);
      ASSERT_NEAR(sg[i], sw[i], (4e-6 + 2.4e-7 * arg + sum_tol) * sw[i] + 1e-37) << "softmax n=" << n << " i=" << i;
    }
    if (n > 2) {
      EXPECT_EQ(sg[1], 0.0f);
    }
  }
}

TEST_P(KernelTableIsaTest, AttentionWithinToleranceForEveryKvTypeAndHeadCount) {
  std::mt19937 rng(34);
  for (KvElement type : {KvElement::kF32, KvElement::kF16}) {
    for (int dim : {40, 64, 128}) {  // 40: not whole 32-float slices, the scalar loop's case
      for (int n_q : {1, 3, 4, 5}) {
        for (int64_t n : {1, 2, 7, 33}) {
          const int64_t row_stride = dim + 8;  // rows of a wider cache
          const std::vector<float> q = RandomFloats(n_q * dim, 1.0f, rng), kvf = RandomFloats(n * row_stride, 1.0f, rng);
          std::vector<uint16_t> kvh(kvf.size());
          for (size_t i = 0; i < kvf.size(); ++i) kvh[i] = F32ToF16(kvf[i]);
          const void* kv = type == KvElement::kF16 ? static_cast<const void*>(kvh.data()) : kvf.data();
          auto kv_at = [&](int64_t i) { return type == KvElement::kF16 ? F16ToF32(kvh[i]) : kvf[i]; };
          const int64_t stride = n + 3;
          std::vector<float> want(n_q * stride, -9.0f), got(want);
          s().attention_scores.fn(q.data(), n_q, kv, type, row_stride, n, dim, 0.125f, want.data(), stride);
          t().attention_scores.fn(q.data(), n_q, kv, type, row_stride, n, dim, 0.125f, got.data(), stride);
          for (int g = 0; g < n_q; ++g) {
            for (int64_t p = 0; p < n; ++p) {
              double magnitude = 0.0;
              for (int d = 0; d < dim; ++d) magnitude += std::fabs(q[g * dim + d] * kv_at(p * row_stride + d));
              ASSERT_NEAR(got[g * stride + p], want[g * stride + p], 2e-6 * 0.125 * magnitude + 1e-30)
                  << "scores dim=" << dim << " n_q=" << n_q << " n=" << n << " g=" << g << " p=" << p;
            }
            for (int64_t p = n; p < stride; ++p) ASSERT_EQ(got[g * stride + p], -9.0f) << "wrote past n";
          }
          std::vector<float> probs = RandomFloats(n_q * stride, 1.0f, rng);
          for (auto& v : probs) v = std::fabs(v);
          std::vector<float> ow(n_q * dim + 1, -9.0f), og(ow);
          s().attention_values.fn(probs.data(), n_q, stride, kv, type, row_stride, n, dim, ow.data());
          t().attention_values.fn(probs.data(), n_q, stride, kv, type, row_stride, n, dim, og.data());
          ASSERT_EQ(og.back(), -9.0f) << "wrote past out";
          for (int g = 0; g < n_q; ++g)
            for (int d = 0; d < dim; ++d) {
              double magnitude = 0.0;
              for (int64_t p = 0; p < n; ++p) magnitude += std::fabs(probs[g * stride + p] * kv_at(p * row_stride + d));
              ASSERT_NEAR(og[g * dim + d], ow[g * dim + d], 2e-6 * magnitude + 1e-30)
                  << "values dim=" << dim << " n_q=" << n_q << " n=" << n << " g=" << g << " d=" << d;
            }
        }
      }
    }
  }
}

TEST_P(KernelTableIsaTest, DenseMatVecWithinToleranceForEveryType) {
  std::mt19937 rng(35);
  for (DenseType type : {DenseType::kF32, DenseType::kBf16, DenseType::kF16, DenseType::kI8Row}) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 15}, {4, 16}, {9, 17}, {13, 2560}}) {
      const std::vector<float> v = RandomFloats(rows * cols, 0.05f, rng), x = RandomFloats(cols, 1.0f, rng);
      const int64_t elem = type == DenseType::kF32 ? 4 : type == DenseType::kI8Row ? 1 : 2;
      std::vector<uint8_t> bytes(static_cast<size_t>(rows * cols * elem));
      for (int64_t i = 0; i < rows * cols; ++i) {
        if (type == DenseType::kF32) {
          std::memcpy(bytes.data() + 4 * i, &v[i], 4);
        } else if (type == DenseType::kI8Row) {
          bytes[i] = static_cast<uint8_t>(static_cast<int>(rng() % 255) - 127);
        } else {
          const uint16_t h = type == DenseType::kBf16 ? F32ToBf16(v[i]) : F32ToF16(v[i]);
          std::memcpy(bytes.data() + 2 * i, &h, 2);
        }
      }
      std::vector<float> scales(rows, 0.003f);
      const DenseMatrixView m{type, rows, cols, bytes.data(), type == DenseType::kI8Row ? scales.data() : nullptr};
      for (int64_t begin : {int64_t{0}, std::min<int64_t>(1, rows - 1)}) {
        std::vector<float> want(rows - begin + 1, -7.0f), got(want);
        s().mat_vec_dense.fn(m, begin, rows, x.data(), want.data());
        t().mat_vec_dense.fn(m, begin, rows, x.data(), got.data());
        ASSERT_EQ(got.back(), -7.0f) << "wrote past the range";
        std::vector<float> row(cols);
        for (int64_t r = begin; r < rows; ++r) {
          DenseRow(m, r, row.data());
          double magnitude = 0.0;
          for (int64_t c = 0; c < cols; ++c) magnitude += std::fabs(static_cast<double>(row[c]) * x[c]);
          ASSERT_NEAR(got[r - begin], want[r - begin], 2e-6 * magnitude + 1e-30)
              << DenseTypeName(type) << " " << rows << "x" << cols << " row " << r;
        }
      }
    }
  }
}

// An int8-per-row matrix in [-127, 127] with its row scales and row sums.
struct RandomInt8Rows {
  RandomInt8Rows(int64_t rows, int64_t cols, std::mt19937& rng)
      : q(static_cast<size_t>(rows * cols)), scales(static_cast<size_t>(rows)), sums(static_cast<size_t>(rows)) {
    for (auto& v : q) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    for (auto& sc : scales) sc = 0.001f + static_cast<float>(rng() % 1000) * 1e-5f;
    Int8RowSums(q.data(), rows, cols, sums.data());
  }
  std::vector<int8_t> q;
  std::vector<float> scales;
  std::vector<int32_t> sums;
};

TEST_P(KernelTableIsaTest, Int8OutputRowsAreBitExactWithAndWithoutRowSums) {
  std::mt19937 rng(36);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {5, 31}, {8, 64}, {9, 65}, {17, 2560}, {6, 2561}}) {
    const RandomInt8Rows r8(rows, cols, rng);
    const std::vector<int8_t>& q = r8.q;
    const std::vector<float>& scales = r8.scales;
    const std::vector<int32_t>& sums = r8.sums;
    std::vector<int8_t> xq(cols);
    for (auto& v : xq) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    for (bool with_sums : {true, false}) {
      const DenseMatrixView m{DenseType::kI8Row, rows, cols, q.data(), scales.data(), with_sums ? sums.data() : nullptr};
      for (int64_t begin : {int64_t{0}, std::min<int64_t>(1, rows - 1)}) {
        std::vector<float> want(rows - begin + 1, -7.0f), got(want);
        s().mat_vec_int8_rows.fn(m, begin, rows, xq.data(), 0.37f, want.data());
        t().mat_vec_int8_rows.fn(m, begin, rows, xq.data(), 0.37f, got.data());
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_EQ(Bits(got[i]), Bits(want[i])) << rows << "x" << cols << " sums " << with_sums << " begin " << begin
                                                 << " i " << i;
      }
    }
  }
}

// The batched output kernel against the scalar one-token kernel, token by
// token: every token count through the six-token tiles and their edges, row
// ranges that start mid-matrix and end off a four-row tile, widths off a
// 64-byte vector, and nothing written outside [begin, end).
TEST_P(KernelTableIsaTest, Int8OutputBatchMatchesOneTokenScalar) {
  std::mt19937 rng(37);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {7, 65}, {13, 2560}, {6, 2561}}) {
    const RandomInt8Rows r8(rows, cols, rng);
    const std::vector<int8_t>& q = r8.q;
    const std::vector<float>& scales = r8.scales;
    const std::vector<int32_t>& sums = r8.sums;
    for (bool with_sums : {true, false}) {
      const DenseMatrixView m{DenseType::kI8Row, rows, cols, q.data(), scales.data(), with_sums ? sums.data() : nullptr};
      for (int n : {1, 2, 3, 4, 5, 6, 7, 8, 13}) {
        std::vector<int8_t> xq(static_cast<size_t>(n * cols));
        for (auto& v : xq) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
        std::vector<float> inv_a(n);
        for (auto& a : inv_a) a = 0.01f + static_cast<float>(rng() % 100) * 1e-3f;
        const int64_t begin = std::min<int64_t>(1, rows - 1);
        std::vector<std::vector<float>> got(n, std::vector<float>(rows, -7.0f));
        std::vector<float*> outs;
        for (auto& g : got) outs.push_back(g.data());
        t().mat_mul_int8_rows.fn(m, begin, rows, xq.data(), inv_a.data(), n, outs.data());
        for (int tok = 0; tok < n; ++tok) {
          std::vector<float> want(rows, -7.0f);
          s().mat_vec_int8_rows.fn(m, begin, rows, xq.data() + tok * cols, inv_a[tok], want.data() + begin);
          for (int64_t r = 0; r < rows; ++r)
            ASSERT_EQ(Bits(got[tok][r]), Bits(want[r]))
                << rows << "x" << cols << " sums " << with_sums << " n " << n << " token " << tok << " row " << r;
        }
      }
    }
  }
}

std::string IsaParamName(const ::testing::TestParamInfo<KernelIsa>& info) { return IsaName(info.param); }

INSTANTIATE_TEST_SUITE_P(SimdTables, KernelTableIsaTest,
                         ::testing::Values(KernelIsa::kAvx2, KernelIsa::kAvxVnni, KernelIsa::kAvx512Vnni, KernelIsa::kNeonDot),
                         IsaParamName);

}  // namespace
}  // namespace bitnet
