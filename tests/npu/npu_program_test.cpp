// The program interpreter rejects what would hang or corrupt on the array,
// and a malformed recording with an error naming the field. Each case
// mutates one thing of a program that otherwise runs bit-exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/npu/npu_layout.h"
#include "backend/npu/program_interpreter.h"
#include "backend/npu/recorded_program.h"
#include "backend/npu/runtime_sequence.h"
#include "kernels/w2a8.h"
#include "npu_test_util.h"
#include "util/error.h"

namespace bitnet {
namespace {

using nlohmann::json;

struct Dispatch {
  NpuTilingPlan plan = MakeNpuTilingPlan(200, 384, NpuGeneration::kNpu1, 2);  // 300 columns, padded
  npu_test::RandomTernary m = npu_test::MakeRandomTernary(plan.rows, 300, 11);
  std::vector<uint8_t> w = PackForNpu(m.view, plan);
  std::vector<int8_t> x = std::vector<int8_t>(static_cast<size_t>(plan.x_bytes()), 0);
  std::vector<int32_t> y = std::vector<int32_t>(static_cast<size_t>(plan.y_bytes() / 4), 0);
  std::vector<int32_t> want;

  Dispatch() {
    std::vector<int32_t> sums;
    const auto xs = npu_test::MakeActivations(2, 300, m.view.cols_padded, 12, &sums);
    PackActivationsForNpu(xs.data(), 2, m.view.cols_padded, plan, x.data());
    want.resize(static_cast<size_t>(2 * plan.rows));
    ScalarW2A8Kernels().mat_mul(m.view, 0, plan.rows, xs.data(), sums.data(), 2, want.data(), plan.rows);
  }

  // Runs the committed npu1 recording with the plan's sequence, after the mutations.
  void Run(const std::function<void(NpuRuntimeSequence&)>& mutate_seq,
           const std::function<void(json&)>& mutate_rec = nullptr) {
    json rec = json::parse(RecordedNpuProgramJson(NpuGeneration::kNpu1));
    if (mutate_rec) mutate_rec(rec);
    NpuRuntimeSequence seq = MakeNpuRuntimeSequence(plan);
    if (mutate_seq) mutate_seq(seq);
    const NpuDdrArg args[3] = {{w.data(), w.size()},
                               {reinterpret_cast<uint8_t*>(x.data()), x.size()},
                               {reinterpret_cast<uint8_t*>(y.data()), y.size() * 4}};
    NpuProgram::FromRecording(rec)->Run(seq, args, nullptr);
  }

  bool Exact() const {
    for (int64_t t = 0; t < 2; ++t)
      for (int64_t r = 0; r < plan.rows; ++r)
        if (y[static_cast<size_t>(t * plan.rows_padded() + r)] != want[static_cast<size_t>(t * plan.rows + r)]) return false;
    return true;
  }
};

NpuSeqOp* Find(NpuRuntimeSequence& seq, NpuSeqOp::Kind kind, const std::string& target, int64_t index = -1) {
  for (NpuSeqOp& op : seq.ops)
    if (op.kind == kind && op.target == target && (index < 0 || op.index == index)) return &op;
  return nullptr;
}

void ExpectError(Dispatch& d, const std::function<void(NpuRuntimeSequence&)>& seq, const std::function<void(json&)>& rec,
                 const std::string& says) {
  try {
    d.Run(seq, rec);
    ADD_FAILURE() << "no error; expected one saying '" << says << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
}

TEST(NpuProgram, UnmutatedDispatchIsBitExact) {
  Dispatch d;
  d.Run(nullptr);
  EXPECT_TRUE(d.Exact());
}

TEST(NpuProgram, RejectsRuntimeSequencesThatWouldHang) {
  Dispatch d;
  // One row tile more than the DMAs deliver: a core waits forever.
  ExpectError(d, [](NpuRuntimeSequence& s) { Find(s, NpuSeqOp::Kind::kWriteRtp, "rtp_1_2", kNpuRtpTiles)->value += 1; },
              nullptr, "only");
  // One K chunk fewer: objects left in the fifo.
  ExpectError(d, [](NpuRuntimeSequence& s) { Find(s, NpuSeqOp::Kind::kWriteRtp, "rtp_0_0", kNpuRtpKChunks)->value -= 1; },
              nullptr, "consumes");
  // A weight transfer that is not whole objects.
  ExpectError(d, [](NpuRuntimeSequence& s) { Find(s, NpuSeqOp::Kind::kFill, NpuWeightFifoName(2, 1))->tap.sizes[3] -= 4; },
              nullptr, "whole number");
  // A core released without its barrier.
  ExpectError(d, [](NpuRuntimeSequence& s) { Find(s, NpuSeqOp::Kind::kSetBarrier, NpuBarrierName(3, 3))->value = 0; },
              nullptr, "does not set");
  // Counts written after the core was released could be read stale.
  ExpectError(d, [](NpuRuntimeSequence& s) {
    NpuSeqOp late = *Find(s, NpuSeqOp::Kind::kWriteRtp, "rtp_0_1", kNpuRtpTokens);
    s.ops.insert(s.ops.end() - 1, late);
  }, nullptr, "after its core was released");
  // A token count the kernel does not have.
  ExpectError(d, [](NpuRuntimeSequence& s) { Find(s, NpuSeqOp::Kind::kWriteRtp, "rtp_2_0", kNpuRtpTokens)->value = 5; },
              nullptr, "tokens runtime parameter");
  // A drain that reads past the results.
  ExpectError(d, [](NpuRuntimeSequence& s) { Find(s, NpuSeqOp::Kind::kDrain, NpuResultFifoName(1))->tap.offset += 1 << 20; },
              nullptr, "outside its buffer");
}

TEST(NpuProgram, ATokenCountBelowTheDataLeavesTokensUncomputed) {
  Dispatch d;
  d.Run([](NpuRuntimeSequence& s) {
    for (NpuSeqOp& op : s.ops)
      if (op.kind == NpuSeqOp::Kind::kWriteRtp && op.index == kNpuRtpTokens) op.value = 1;
  });
  EXPECT_FALSE(d.Exact());  // token 1 is zero, so the check can fail
}

TEST(NpuProgram, RejectsMalformedRecordingsNamingTheField) {
  Dispatch d;
  ExpectError(d, nullptr, [](json& r) { r["config"]["fifos"][0].erase("depth"); }, "'depth'");
  ExpectError(d, nullptr, [](json& r) { r["config"]["workers"][0]["kernels"][1]["args"][0]["buffer_bytes"] = 4096; },
              "declared 4096 bytes");
  ExpectError(d, nullptr, [](json& r) { r["config"]["workers"][0]["body"][1]["count"] = json{{"const", 2}}; },
              "only");  // the plan has one row tile per core
  ExpectError(d, nullptr, [](json& r) { r["config"]["workers"][0]["body"].erase(0); }, "before waiting on its barrier");
  ExpectError(d, nullptr, [](json& r) { r["config"]["fifos"][0]["depth"] = 0; }, "must be positive");
  ExpectError(d, nullptr, [](json& r) { r["config"]["workers"][0]["body"][1]["body"][1]["kernel"] = "nope"; },
              "calls kernel 'nope'");
  ExpectError(d, nullptr, [](json& r) { r.erase("config"); }, "'config'");
  ExpectError(d, nullptr, [](json& r) { r["config"]["buffers"][0]["rtp"] = 1; }, "'rtp' is not a boolean");
  ExpectError(d, nullptr, [](json& r) { r["config"]["workers"][0]["inputs"][0] = 7; }, "is not a name");
}

TEST(NpuProgram, RejectsMalformedRuntimeSequencesNamingTheField) {
  json rt = NpuRuntimeSequenceToJson(MakeNpuRuntimeSequence(MakeNpuTilingPlan(64, 256, NpuGeneration::kNpu2)));
  EXPECT_NO_THROW(ParseNpuRuntimeSequence(rt));
  json bad = rt;
  bad["ops"][0].erase("value");
  EXPECT_THROW(ParseNpuRuntimeSequence(bad), Error);
  bad = rt;
  bad["ops"].back() = json{{"op", "teleport"}};
  EXPECT_THROW(ParseNpuRuntimeSequence(bad), Error);
  bad = rt;
  for (json& op : bad["ops"])
    if (op["op"] == "drain") op["wait"] = "yes";
  EXPECT_THROW(ParseNpuRuntimeSequence(bad), Error);
  // Round trip.
  EXPECT_EQ(NpuRuntimeSequenceToJson(ParseNpuRuntimeSequence(rt)), rt);
}

}  // namespace
}  // namespace bitnet

namespace bitnet {
namespace {

// A DDR round trip inside one dispatch, the route dispatch B needs for
// results going back to the vector core: column 0's results are drained
// (awaited), then filled again from DDR through the mem tile and drained to a
// fourth buffer. The fill must see the drained bytes; without the await it
// runs first and sees the buffer's old contents.
std::vector<int32_t> RoundTrip(bool await_results) {
  Dispatch d;
  json rec = json::parse(RecordedNpuProgramJson(NpuGeneration::kNpu1));
  NpuRuntimeSequence seq = MakeNpuRuntimeSequence(d.plan);
  NpuSeqOp* y0 = Find(seq, NpuSeqOp::Kind::kDrain, NpuResultFifoName(0));
  y0->wait = await_results;
  const int64_t obj = NpuTilingPlan::y_object_bytes() * NpuTilingPlan::CoresInColumn(0);
  const int64_t total = y0->tap.sizes[0] * y0->tap.sizes[1] * y0->tap.sizes[2] * y0->tap.sizes[3];
  rec["config"]["fifos"].push_back(json{{"name", "rt_in"}, {"bytes", obj}, {"elem_bytes", 4}, {"depth", 2},
                                        {"producer", {{"tile", {0, 0}}, {"via", "shim"}}},
                                        {"consumers", json::array({{{"tile", {0, 1}}, {"via", "forward"}}})},
                                        {"link", nullptr}});
  rec["config"]["fifos"].push_back(json{{"name", "rt_out"}, {"bytes", obj}, {"elem_bytes", 4}, {"depth", 2},
                                        {"producer", {{"tile", {0, 1}}, {"via", "forward"}}},
                                        {"consumers", json::array({{{"tile", {0, 0}}, {"via", "shim"}}})},
                                        {"link", {{"kind", "forward"}, {"parent", "rt_in"}, {"offset", 0}}}});
  NpuSeqOp fill = *y0;
  fill.kind = NpuSeqOp::Kind::kFill;
  fill.target = "rt_in";
  fill.wait = false;
  NpuSeqOp drain;
  drain.kind = NpuSeqOp::Kind::kDrain;
  drain.target = "rt_out";
  drain.arg = 3;
  drain.tap = NpuTap{0, {1, 1, total / obj, obj}, {0, 0, obj, 1}};
  drain.elem_bytes = 4;
  drain.wait = true;
  // After column 0's drain: its results are in DDR when awaited.
  const auto at = std::find_if(seq.ops.begin(), seq.ops.end(), [](const NpuSeqOp& op) {
    return op.kind == NpuSeqOp::Kind::kDrain && op.target == NpuResultFifoName(0);
  });
  seq.ops.insert(seq.ops.insert(at + 1, fill) + 1, drain);
  seq.arg_bytes.push_back(total);
  seq.arg_elem_bytes.push_back(4);
  std::vector<int32_t> back(static_cast<size_t>(total / 4), -7);
  const NpuDdrArg args[4] = {{d.w.data(), d.w.size()},
                             {reinterpret_cast<uint8_t*>(d.x.data()), d.x.size()},
                             {reinterpret_cast<uint8_t*>(d.y.data()), d.y.size() * 4},
                             {reinterpret_cast<uint8_t*>(back.data()), back.size() * 4}};
  NpuProgram::FromRecording(rec)->Run(seq, args, nullptr);
  EXPECT_TRUE(d.Exact());
  // What the round trip should carry: Y read back with column 0's pattern.
  std::vector<int32_t> want;
  const NpuTap& t = y0->tap;
  for (int64_t i0 = 0; i0 < t.sizes[0]; ++i0)
    for (int64_t i1 = 0; i1 < t.sizes[1]; ++i1)
      for (int64_t i2 = 0; i2 < t.sizes[2]; ++i2)
        for (int64_t b = 0; b < t.sizes[3]; b += 4)
          want.push_back(d.y[static_cast<size_t>((t.offset + i0 * t.strides[0] + i1 * t.strides[1] + i2 * t.strides[2] + b) / 4)]);
  EXPECT_EQ(back.size(), want.size());
  return back == want ? std::vector<int32_t>{} : back;
}

TEST(NpuProgram, AFillAfterAnAwaitedDrainReadsWhatTheDrainWrote) {
  EXPECT_TRUE(RoundTrip(true).empty()) << "the round trip did not carry the drained results";
  EXPECT_FALSE(RoundTrip(false).empty()) << "without the await the fill must see the old contents";
}

}  // namespace
}  // namespace bitnet
