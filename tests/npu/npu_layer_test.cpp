// The fused decode dispatch (npu/designs/bitnet_layer.py, src/backend/npu/
// npu_layer.h): RMSNorm and int8 quantization on a vector core feeding the
// matmul cores through a core -> core fifo, executed by the interpreter.
//  - the vector kernels (npu/kernels/bitnet_vector.h) equal a plain host
//    reference of the same operation order exactly, and the CPU model's
//    float path within the stated tolerance;
//  - the int32 products equal the CPU's MatMul on the int8 activations the
//    vector core produced, bit for bit;
//  - the layouts round-trip; the recording is current and the script's
//    sequence is the host's; a program that would hang fails quickly, naming
//    the cores and fifos.
#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "backend/npu/npu_layer.h"
#include "backend/npu/npu_layout.h"
#include "backend/npu/program_interpreter.h"
#include "bitnet_vector.h"
#include "kernels/ops.h"
#include "kernels/quantize.h"
#include "kernels/w2a8.h"
#include "npu_record_util.h"
#include "npu_test_util.h"
#include "util/error.h"

namespace bitnet {
namespace {

using nlohmann::json;
constexpr float kEps = 1e-5f;

std::vector<float> RandomFloats(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = d(rng);
  return v;
}

// The vector kernel's arithmetic written out as plain loops in the same order
// (16 partial sums reduced pairwise, (x*g)*inv*a, clamp, round half to even).
struct Reference {
  float scale = 0, inv = 0;
  std::vector<int8_t> q;
};
Reference PlainReference(const std::vector<float>& x, const std::vector<float>& g, int64_t width, int64_t padded) {
  float lanes[16] = {};
  float max_xg = 0;
  std::vector<float> xg(static_cast<size_t>(padded), 0.0f);
  for (int64_t i = 0; i < padded; ++i) {
    const float xi = i < width ? x[static_cast<size_t>(i)] : 0.0f;
    xg[static_cast<size_t>(i)] = xi * (i < width ? g[static_cast<size_t>(i)] : 0.0f);
    lanes[i % 16] += xi * xi;
    max_xg = std::max(max_xg, std::fabs(xg[static_cast<size_t>(i)]));
  }
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) lanes[l] = lanes[l] + lanes[l + w];
  Reference r;
  r.inv = bitnet_npu::InvSqrt(lanes[0] / static_cast<float>(width) + kEps);
  const float m = max_xg * r.inv;
  r.scale = 127.0f / std::max(m, 1e-5f);
  for (int64_t i = 0; i < padded; ++i)
    r.q.push_back(static_cast<int8_t>(std::nearbyint(std::clamp(xg[static_cast<size_t>(i)] * r.inv * r.scale, -128.0f, 127.0f))));
  return r;
}

TEST(NpuVectorKernel, InvSqrtIsAccurate) {
  for (float v : {1e-5f, 0.37f, 1.0f, 2.0f, 123.4f, 8.5e6f})
    EXPECT_NEAR(bitnet_npu::InvSqrt(v) * std::sqrt(static_cast<double>(v)), 1.0, 2e-7) << v;
  for (float v : {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 126.5f, -127.5f, 3.49f})
    EXPECT_EQ(bitnet_npu::RoundHalfEven(v), std::nearbyint(v)) << v;
}

// Norm + quantize on the host build of the kernel: exact against the plain
// reference; against the CPU model (double sums, libm sqrt, nearbyint):
// scale within 1e-5 relative, every activation within 1, and at most 1 % off.
TEST(NpuVectorKernel, NormQuantizeMatchesReferenceAndCpu) {
  for (int64_t width : {1, 100, 256, 2000, 2560, 4096, 6912}) {
    SCOPED_TRACE(width);
    const int64_t padded = (width + 255) / 256 * 256;
    const auto x = RandomFloats(width, 3, -4.0f, 4.0f), g = RandomFloats(width, 4, 0.2f, 2.0f);
    const NpuTilingPlan plan = MakeNpuTilingPlan(64, padded, NpuGeneration::kNpu2, 1);
    std::vector<float> vin(static_cast<size_t>(NpuVectorInputBytes(plan) / 4));
    PackNormInputForNpu(x.data(), g.data(), width, plan, vin.data());
    std::vector<uint8_t> state_bytes(sizeof(bitnet_npu::VecState) + 64);
    auto* state = reinterpret_cast<bitnet_npu::VecState*>(state_bytes.data());
    bitnet_npu::VecBegin(state, static_cast<int32_t>(width), std::bit_cast<int32_t>(kEps));
    for (int64_t c = 0; c < plan.k_chunks; ++c) bitnet_npu::VecNormChunk(state, vin.data() + c * 512);
    std::vector<uint8_t> records(static_cast<size_t>(NpuHostRecordBytes(plan)));
    bitnet_npu::VecFinish(state, records.data());
    for (int64_t c = 0; c < plan.k_chunks; ++c)
      bitnet_npu::VecEmitHost(state, records.data() + (c + 1) * bitnet_npu::kHostRecordBytes);
    const NpuNormResult got = ParseNpuHostRecords(records.data(), plan, width);

    const Reference ref = PlainReference(x, g, width, padded);
    EXPECT_EQ(got.scale, ref.scale);
    EXPECT_EQ(got.inv_rms, ref.inv);
    EXPECT_EQ(got.xq, ref.q);

    std::vector<int8_t> cpu(static_cast<size_t>(padded));
    int32_t cpu_sum = 0;
    const float cpu_scale = RmsNormQuantizeInt8(x.data(), g.data(), width, kEps, padded, cpu.data(), &cpu_sum);
    EXPECT_NEAR(got.scale / cpu_scale, 1.0, 1e-5);
    int off = 0;
    for (int64_t i = 0; i < padded; ++i) {
      ASSERT_LE(std::abs(got.xq[static_cast<size_t>(i)] - cpu[static_cast<size_t>(i)]), 1) << i;
      off += got.xq[static_cast<size_t>(i)] != cpu[static_cast<size_t>(i)];
    }
    EXPECT_LE(off, std::max<int64_t>(1, width / 100));
  }
}

// The residual and ReLU^2 * up steps (for the second fused dispatch, not yet
// in a design): exact against the CPU model's order.
TEST(NpuVectorKernel, ResidualAndRelu2MatchTheCpu) {
  std::mt19937 rng(9);
  std::uniform_int_distribution<int32_t> acc(-300000, 300000);
  std::vector<int32_t> a(512), b(512);
  for (auto& v : a) v = acc(rng);
  for (auto& v : b) v = acc(rng);
  const float sw = 0.73f, sg = 0.41f, su = 1.3f, scale = 21.7f;
  std::vector<float> h = RandomFloats(512, 5, -3, 3), want = h;
  bitnet_npu::VecResidual(h.data(), a.data(), 512, sw, scale);
  for (size_t i = 0; i < 512; ++i) want[i] += static_cast<float>(a[i]) * (sw / scale);  // forward.cpp's BitLinear + AddResidual
  EXPECT_EQ(h, want);
  std::vector<float> out(512), gate(512), up(512), cpu(512);
  bitnet_npu::VecRelu2Up(a.data(), b.data(), 512, sg, su, scale, out.data());
  for (size_t i = 0; i < 512; ++i) {
    gate[i] = static_cast<float>(a[i]) * (sg / scale);
    up[i] = static_cast<float>(b[i]) * (su / scale);
  }
  Relu2Gate(gate.data(), up.data(), 512, cpu.data());
  EXPECT_EQ(out, cpu);
}

TEST(NpuLayer, NormInputLayoutRoundTrips) {
  const NpuTilingPlan plan = MakeNpuTilingPlan(100, 768, NpuGeneration::kNpu1, 1);
  const auto x = RandomFloats(700, 1, -1, 1), g = RandomFloats(700, 2, -1, 1);
  std::vector<float> packed(static_cast<size_t>(NpuVectorInputBytes(plan) / 4), -9.0f);
  PackNormInputForNpu(x.data(), g.data(), 700, plan, packed.data());
  std::vector<float> x2, g2;
  UnpackNormInputFromNpu(packed.data(), plan, &x2, &g2);
  for (size_t k = 0; k < 768; ++k) {
    EXPECT_EQ(x2[k], k < 700 ? x[k] : 0.0f);
    EXPECT_EQ(g2[k], k < 700 ? g[k] : 0.0f);
  }
  EXPECT_THROW(PackNormInputForNpu(x.data(), g.data(), 769, plan, packed.data()), Error);
}

struct FusedCase {
  int64_t rows, cols, width;
  NpuGeneration gen;
};

// The whole dispatch through the recorded program: the vector core's int8
// equals the host build of its kernel, and y equals the CPU's MatMul on them.
TEST(NpuLayer, FusedDispatchIsExactAgainstTheCpuOnTheNpusActivations) {
  for (const FusedCase& c : {FusedCase{2560, 2560, 2560, NpuGeneration::kNpu2}, FusedCase{3840, 2560, 2560, NpuGeneration::kNpu1},
                             FusedCase{100, 300, 300, NpuGeneration::kNpu2}, FusedCase{700, 4096, 4000, NpuGeneration::kNpu1}, FusedCase{2560, 6912, 6912, NpuGeneration::kNpu2}}) {
    SCOPED_TRACE(std::to_string(c.rows) + "x" + std::to_string(c.cols) + " " + NpuGenerationName(c.gen));
    const auto m = npu_test::MakeRandomTernary(c.rows, c.cols, 21);
    const NpuTilingPlan plan = MakeNpuTilingPlan(c.rows, m.view.cols_padded, c.gen, 1);
    const std::vector<uint8_t> w = PackForNpu(m.view, plan);
    const auto x = RandomFloats(c.width, 22, -2, 2), g = RandomFloats(c.width, 23, 0.5f, 1.5f);
    std::vector<int32_t> y(static_cast<size_t>(plan.y_bytes() / 4), -7);
    const NpuNormResult r = EmulateNpuNormMatMul(plan, w.data(), w.size(), x.data(), g.data(), c.width, kEps, y.data());

    const Reference ref = PlainReference(x, g, c.width, plan.k_padded);
    EXPECT_EQ(r.scale, ref.scale);
    ASSERT_EQ(r.xq, ref.q);
    std::vector<int32_t> want(static_cast<size_t>(c.rows));
    ScalarW2A8Kernels().mat_mul(m.view, 0, c.rows, r.xq.data(), &r.sum, 1, want.data(), c.rows);
    for (int64_t row = 0; row < c.rows; ++row) ASSERT_EQ(y[static_cast<size_t>(row)], want[static_cast<size_t>(row)]) << row;
  }
}

// Malformed fused recordings: the error names what is wrong.
TEST(NpuLayer, RejectsMalformedRecordingsNamingTheField) {
  auto expect = [](const std::function<void(json&)>& mutate, const std::string& says) {
    json rec = json::parse(RecordedNpuLayerProgramJson(NpuGeneration::kNpu2));
    mutate(rec);
    try {
      NpuProgram::FromRecording(rec);
      ADD_FAILURE() << "no error; expected one saying '" << says << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  auto vector_call = [](json& r) -> json& { return r["config"]["workers"].back()["body"][1]; };  // bitnet_vec_begin
  expect([&](json& r) { vector_call(r)["args"][0] = json{{"buffer", "vrtp"}}; }, "passes the runtime parameter buffer 'vrtp'");
  expect([&](json& r) { vector_call(r)["args"][0] = json{{"buffer", "rtp_0_0"}}; }, "passes buffer 'rtp_0_0' that is not its own");
  expect([&](json& r) { r["config"]["buffers"][r["config"]["buffers"].size() - 2]["elems"] = 100; }, "buffer 'vstate' has 100");
  expect([&](json& r) { r["config"]["buffers"][0].erase("elem_bytes"); }, "'elem_bytes'");
  expect([&](json& r) {
    for (json& f : r["config"]["fifos"])
      if (f["name"] == kNpuVectorActivationFifo) f["consumers"].push_back(json{{"tile", {0, 0}}, {"via", "shim"}});
  }, "goes to cores and to a shim at once");
}

TEST(NpuLayer, RefusesWhatTheVectorCoreCannotHold) {
  std::string why;
  EXPECT_TRUE(NpuLayerFits(MakeNpuTilingPlan(2560, 6912, NpuGeneration::kNpu2, 1), 6912, &why)) << why;  // down_proj
  EXPECT_FALSE(NpuLayerFits(MakeNpuTilingPlan(2560, 7168, NpuGeneration::kNpu2, 1), 7000, &why));
  EXPECT_NE(why.find("vector core holds"), std::string::npos) << why;
  EXPECT_FALSE(NpuLayerFits(MakeNpuTilingPlan(2560, 2560, NpuGeneration::kNpu2, 4), 2560, &why));
  EXPECT_TRUE(NpuLayerFits(MakeNpuTilingPlan(2560, 2560, NpuGeneration::kNpu2, 1), 2560, &why));
}

TEST(NpuLayer, CommittedRecordingIsCurrentAndScriptSequenceIsTheHosts) {
  for (auto gen : {NpuGeneration::kNpu1, NpuGeneration::kNpu2}) {
    const NpuTilingPlan plan = MakeNpuTilingPlan(2560, 2560, gen, 1);
    EXPECT_TRUE(npu_test::RecordDesign(plan, "bitnet_layer.py") == json::parse(RecordedNpuLayerProgramJson(gen)))
        << "npu/recorded/bitnet_layer_" << NpuGenerationName(gen) << ".json is stale: run make -C npu record";
  }
  const json committed = json::parse(RecordedNpuLayerProgramJson(NpuGeneration::kNpu2));
  for (const FusedCase& c : {FusedCase{3840, 2560, 2560, NpuGeneration::kNpu2}, FusedCase{13824, 2560, 2500, NpuGeneration::kNpu2},
                             FusedCase{100, 300, 290, NpuGeneration::kNpu2}}) {
    const NpuTilingPlan plan = MakeNpuTilingPlan(c.rows, c.cols, c.gen, 1);
    const json rec = npu_test::RecordDesign(plan, "bitnet_layer.py", "--width " + std::to_string(c.width) + " --eps 1e-6");
    EXPECT_TRUE(rec.at("config") == committed.at("config")) << "the fused program depends on the shape";
    EXPECT_EQ(rec.at("runtime"), NpuRuntimeSequenceToJson(MakeNpuNormMatMulSequence(plan, c.width, 1e-6f)));
  }
  EXPECT_EQ(committed.at("config").at("buffers").at(committed.at("config").at("buffers").size() - 2).at("elems"),
            static_cast<int64_t>(sizeof(bitnet_npu::VecState)))
      << "npu/designs/bitnet_layer.py VEC_STATE_BYTES";
}

// Mutations of a fused dispatch that would hang the array: each fails fast,
// naming the cores and the fifo.
TEST(NpuLayer, HangsAreReportedQuicklyNamingCoresAndFifos) {
  // One row tile per core and 4 K chunks: more activation objects than the fifo's depth of 2.
  const auto m = npu_test::MakeRandomTernary(200, 1024, 3);
  const NpuTilingPlan plan = MakeNpuTilingPlan(200, 1024, NpuGeneration::kNpu1, 1);
  const std::vector<uint8_t> w = PackForNpu(m.view, plan);
  const auto x = RandomFloats(1000, 1, -1, 1), g = RandomFloats(1000, 2, -1, 1);
  auto run = [&](const std::function<void(NpuRuntimeSequence&)>& mutate_seq, const std::function<void(json&)>& mutate_rec) {
    json rec = json::parse(RecordedNpuLayerProgramJson(NpuGeneration::kNpu1));
    if (mutate_rec) mutate_rec(rec);
    NpuRuntimeSequence seq = MakeNpuNormMatMulSequence(plan, 1000, kEps);
    if (mutate_seq) mutate_seq(seq);
    std::vector<float> vin(static_cast<size_t>(NpuVectorInputBytes(plan) / 4));
    PackNormInputForNpu(x.data(), g.data(), 1000, plan, vin.data());
    std::vector<int32_t> y(static_cast<size_t>(plan.y_bytes() / 4));
    std::vector<uint8_t> records(static_cast<size_t>(NpuHostRecordBytes(plan)));
    const NpuDdrArg args[4] = {{const_cast<uint8_t*>(w.data()), w.size()},
                               {reinterpret_cast<uint8_t*>(vin.data()), vin.size() * 4},
                               {reinterpret_cast<uint8_t*>(y.data()), y.size() * 4},
                               {records.data(), records.size()}};
    NpuProgram::FromRecording(rec)->Run(seq, args, nullptr);
  };
  auto expect = [&](const std::function<void(NpuRuntimeSequence&)>& seq, const std::function<void(json&)>& rec,
                    const std::vector<std::string>& says) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      run(seq, rec);
      ADD_FAILURE() << "no error; expected one saying '" << says[0] << "'";
    } catch (const Error& e) {
      for (const std::string& s : says) EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  };
  EXPECT_NO_THROW(run(nullptr, nullptr));
  auto rtp = [](NpuRuntimeSequence& s, const std::string& buffer, int64_t slot) -> int64_t& {
    for (NpuSeqOp& op : s.ops)
      if (op.kind == NpuSeqOp::Kind::kWriteRtp && op.target == buffer && op.index == slot) return op.value;
    throw Error("no such write");
  };
  // The vector core emits one row tile more than the matmul cores take: it
  // blocks on a full fifo, and nothing else is left to run.
  expect([&](NpuRuntimeSequence& s) { ++rtp(s, kNpuVectorRtp, kNpuVrtpTiles); }, nullptr,
         {"deadlock", "core (0,4) waits to acquire 1 free object(s) of 'x_l1l1'"});
  // A matmul core takes one row tile more than its weights.
  expect([&](NpuRuntimeSequence& s) { ++rtp(s, "rtp_1_0", kNpuRtpTiles); }, nullptr,
         {"core (1,2) acquires object 5 of 'w_l2l1_1_0' but only 4 arrive"});
  // One matmul core takes nothing: the broadcast stalls on it (a fifo's
  // object is free only when every consumer released it), so the vector core
  // waits for room while the other matmul cores wait for its next object.
  expect([&](NpuRuntimeSequence& s) { rtp(s, "rtp_2_1", kNpuRtpTiles) = 0; }, nullptr,
         {"deadlock", "core (0,4) waits to acquire 1 free object(s) of 'x_l1l1'",
          "core (1,2) waits to acquire object 3 of 'x_l1l1'", "the runtime sequence waits to drain"});
  // The vector core waits for input the sequence never sends.
  expect([&](NpuRuntimeSequence& s) { ++rtp(s, kNpuVectorRtp, kNpuVrtpKChunks); }, nullptr,
         {"'v_l3l1'", "the array would hang"});
}

}  // namespace
}  // namespace bitnet
