// The IRON design script, run against the recording stand-in for aie.iron
// (npu/iron_record): its array configuration is the same for every shape (one
// PDI), its runtime sequence is the host's (runtime_sequence.cpp), the
// committed recording the emulator executes is current, and the program fits
// the hardware: DMA channels per tile, buffer descriptors, local memory,
// per-generation buffer alignment (32 B on AIE2, 64 B on AIE2P) and every
// shim access pattern within the BD limits.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "backend/npu/program_interpreter.h"
#include "backend/npu/recorded_program.h"
#include "backend/npu/runtime_sequence.h"
#include "backend/npu/npu_layer.h"
#include "backend/npu/npu_layout.h"
#include "kernels/w2a8.h"
#include "npu_record_util.h"
#include "npu_test_util.h"

namespace bitnet {
namespace {

using nlohmann::json;

// Limits per tile (mlir-aie's AIE2/AIE2P target model): compute tile 2 in /
// 2 out DMA channels, 16 BDs, 64 KiB; mem tile 6 / 6, 48 BDs, 512 KiB; shim
// 2 MM2S / 2 S2MM.
constexpr int kCoreChannels = 2, kCoreBds = 16;
constexpr int kMemChannels = 6, kMemBds = 48;
constexpr int64_t kMemBytes = 512 * 1024;
constexpr int kShimChannels = 2, kShimBds = 16;

struct Case { int64_t rows, cols, tokens; NpuGeneration gen; };
const std::vector<Case> kCases = {
    {3840, 2560, 1, NpuGeneration::kNpu2}, {2560, 2560, 1, NpuGeneration::kNpu1},
    {13824, 2560, 4, NpuGeneration::kNpu2}, {2560, 6912, 4, NpuGeneration::kNpu1},
    {640, 2560, 3, NpuGeneration::kNpu2},   {6912, 2560, 1, NpuGeneration::kNpu1},
    {2560, 6912, 2, NpuGeneration::kNpu2},  {100, 200, 3, NpuGeneration::kNpu2},
    {33, 1000, 1, NpuGeneration::kNpu1}};

std::string TileKey(const json& t) { return std::to_string(t[0].get<int>()) + "," + std::to_string(t[1].get<int>()); }
int Row(const json& t) { return t[1].get<int>(); }

// Every shape records the same configuration -- the one PDI -- and the runtime
// sequence the host generates for that shape.
TEST(NpuIronRecord, OneConfigurationForEveryShapeAndTheHostsRuntimeSequence) {
  for (const Case& c : kCases) {
    const NpuTilingPlan plan = MakeNpuTilingPlan(c.rows, c.cols, c.gen, c.tokens);
    SCOPED_TRACE(plan.ShapeName() + " t" + std::to_string(c.tokens) + " " + NpuGenerationName(c.gen));
    const json rec = npu_test::RecordDesign(plan);
    const json committed = json::parse(RecordedNpuProgramJson(c.gen));
    EXPECT_EQ(rec.at("device"), NpuGenerationName(c.gen));
    EXPECT_TRUE(rec.at("config") == committed.at("config")) << "the core program depends on the shape";
    EXPECT_EQ(rec.at("runtime"), NpuRuntimeSequenceToJson(MakeNpuRuntimeSequence(plan)));
  }
}

// The recording compiled into the emulator is what the design records now.
TEST(NpuIronRecord, CommittedRecordingIsCurrent) {
  for (auto gen : {NpuGeneration::kNpu1, NpuGeneration::kNpu2}) {
    const NpuTilingPlan plan = MakeNpuTilingPlan(kNpuRecordedRows, kNpuRecordedCols, gen, kNpuRecordedTokens);
    EXPECT_TRUE(npu_test::RecordDesign(plan) == json::parse(RecordedNpuProgramJson(gen)))
        << "npu/recorded/bitlinear_" << NpuGenerationName(gen) << ".json is stale: run make -C npu record";
  }
}

// The script's own runtime sequence (not the host's copy), executed on the
// recorded program, gives the CPU's int32 results.
TEST(NpuIronRecord, RecordedRuntimeSequenceRunsBitExact) {
  const Case c{300, 700, 3, NpuGeneration::kNpu2};
  const auto m = npu_test::MakeRandomTernary(c.rows, c.cols, 5);
  const NpuTilingPlan plan = MakeNpuTilingPlan(c.rows, m.view.cols_padded, c.gen, c.tokens);
  const json rec = npu_test::RecordDesign(plan);
  std::vector<int32_t> sums;
  const auto x = npu_test::MakeActivations(static_cast<int>(c.tokens), c.cols, m.view.cols_padded, 6, &sums);
  std::vector<int32_t> want(static_cast<size_t>(c.tokens * c.rows));
  ScalarW2A8Kernels().mat_mul(m.view, 0, c.rows, x.data(), sums.data(), static_cast<int>(c.tokens), want.data(), c.rows);

  std::vector<uint8_t> w = PackForNpu(m.view, plan);
  std::vector<int8_t> x_ddr(static_cast<size_t>(plan.x_bytes()));
  PackActivationsForNpu(x.data(), static_cast<int>(c.tokens), m.view.cols_padded, plan, x_ddr.data());
  std::vector<int32_t> y(static_cast<size_t>(plan.y_bytes() / 4), -7);
  const NpuDdrArg args[3] = {{w.data(), w.size()},
                             {reinterpret_cast<uint8_t*>(x_ddr.data()), x_ddr.size()},
                             {reinterpret_cast<uint8_t*>(y.data()), y.size() * 4}};
  NpuProgram::FromRecording(rec)->Run(ParseNpuRuntimeSequence(rec.at("runtime")), args, nullptr);
  for (int64_t t = 0; t < c.tokens; ++t)
    for (int64_t r = 0; r < c.rows; ++r)
      ASSERT_EQ(y[static_cast<size_t>(t * plan.rows_padded() + r)], want[static_cast<size_t>(t * c.rows + r)])
          << "token " << t << " row " << r;
}

// `extra_cores`: cores beyond the matmul cores (the fused design's vector core).
void CheckFitsTheHardware(const json& prog, NpuGeneration gen, int extra_cores = 0) {
  const int64_t align = gen == NpuGeneration::kNpu1 ? 32 : 64;
  const int columns = gen == NpuGeneration::kNpu1 ? 4 : 8;
  const json& config = prog.at("config");

  std::map<std::string, int> shim_mm2s, shim_s2mm, shim_bds;
  for (const NpuSeqOp& op : ParseNpuRuntimeSequence(prog.at("runtime")).ops) {
    if (op.kind != NpuSeqOp::Kind::kFill && op.kind != NpuSeqOp::Kind::kDrain) continue;
    ValidateNpuTap(op.tap, op.target);
    EXPECT_EQ(op.tile[1], 0) << op.target << ": transfers start at a shim tile";
    const std::string key = std::to_string(op.tile[0]) + ",0";
    ++(op.kind == NpuSeqOp::Kind::kFill ? shim_mm2s : shim_s2mm)[key];
    ++shim_bds[key];  // one BD per transfer: every pattern fits one 4-d BD
  }
  for (auto& [tile, n] : shim_bds) EXPECT_LE(n, kShimBds) << "shim " << tile << " buffer descriptors";
  // Bandwidth: both MM2S channels of every column's shim stream (weights, and x on column 0).
  ASSERT_EQ(static_cast<int>(shim_mm2s.size()), columns);
  for (auto& [tile, n] : shim_mm2s) EXPECT_EQ(n, kShimChannels) << "shim " << tile << " MM2S";
  for (auto& [tile, n] : shim_s2mm) EXPECT_LE(n, kShimChannels) << "shim " << tile << " S2MM";

  struct TileUse { int in = 0, out = 0, bds = 0; int64_t bytes = 0; };
  std::map<std::string, TileUse> use;
  std::map<std::string, int> rows;
  for (const json& f : config.at("fifos")) {
    const std::string name = f.at("name");
    const int64_t bytes = f.at("bytes"), depth = f.at("depth");
    std::set<std::string> at;  // a tile holds a fifo's buffers once, however many endpoints it has
    auto touch = [&](const json& end, bool producer) {
      const std::string key = TileKey(end.at("tile"));
      rows[key] = Row(end.at("tile"));
      if (Row(end.at("tile")) == 0) return;  // shim channels are counted above
      TileUse& u = use[key];
      (producer ? u.out : u.in) += 1;
      if (at.insert(key).second) {
        u.bds += static_cast<int>(depth);
        u.bytes += bytes * depth;
      }
      if (Row(end.at("tile")) >= 2) {
        EXPECT_EQ(bytes % align, 0) << name << ": core buffers must be " << align << "-byte multiples";
      }
    };
    ASSERT_FALSE(f.at("producer").is_null()) << name;
    touch(f.at("producer"), true);
    for (const json& c : f.at("consumers")) touch(c, false);
  }
  for (const json& b : config.at("buffers")) use[TileKey(b.at("tile"))].bytes += b.at("elems").get<int64_t>() * b.at("elem_bytes").get<int64_t>();
  int cores = 0;
  for (const auto& [key, u] : use) {
    const bool core = rows.at(key) >= 2;
    cores += core;
    EXPECT_LE(u.in, core ? kCoreChannels : kMemChannels) << key << " input channels";
    EXPECT_LE(u.out, core ? kCoreChannels : kMemChannels) << key << " output channels";
    EXPECT_LE(u.bds, core ? kCoreBds : kMemBds) << key << " buffer descriptors";
    EXPECT_LE(u.bytes, core ? NpuTilingPlan::kL1Budget : kMemBytes) << key << " local memory";
  }
  EXPECT_EQ(cores, columns * 4 - 2 + extra_cores) << "every core but two of column 0's works (matmul)";
}

TEST(NpuIronRecord, ProgramFitsTheHardware) {
  for (auto gen : {NpuGeneration::kNpu1, NpuGeneration::kNpu2}) {
    SCOPED_TRACE(NpuGenerationName(gen));
    CheckFitsTheHardware(json::parse(RecordedNpuProgramJson(gen)), gen);
    CheckFitsTheHardware(npu_test::RecordDesign(MakeNpuTilingPlan(13824, 2560, gen, 4)), gen);
  }
}

// The fused design (npu/designs/bitnet_layer.py) within the same limits: the
// vector core's state, input, activation and record buffers fit its L1, its
// fifos its 2 + 2 channels, the records shim (0,0)'s second S2MM.
TEST(NpuIronRecord, FusedProgramFitsTheHardware) {
  for (auto gen : {NpuGeneration::kNpu1, NpuGeneration::kNpu2}) {
    SCOPED_TRACE(NpuGenerationName(gen));
    CheckFitsTheHardware(json::parse(RecordedNpuLayerProgramJson(gen)), gen, 1);
    CheckFitsTheHardware(npu_test::RecordDesign(MakeNpuTilingPlan(2560, 6912, gen, 1), "bitnet_layer.py"), gen, 1);
  }
}

}  // namespace
}  // namespace bitnet
