// Runs the IRON design script (npu/designs/bitlinear_gemv.py) against the
// recording stand-in for aie.iron (npu/iron_record) and checks the program it
// builds: DMA transfers against the C++ plan, fifo object counts against the
// cores' acquire counts (a mismatch hangs the array), per-generation buffer
// alignment (32 B on AIE2, 64 B on AIE2P for 512-bit vectors), DMA channels
// per tile, buffer descriptors and local memory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "backend/npu/tiling_plan.h"
#include "util/error.h"

namespace bitnet {
namespace {

using nlohmann::json;

// Limits per tile (mlir-aie's AIE2/AIE2P target model): compute tile 2 in /
// 2 out DMA channels, 16 BDs, 64 KiB; mem tile 6 / 6, 48 BDs, 512 KiB; shim
// 2 MM2S / 2 S2MM.
constexpr int kCoreChannels = 2, kCoreBds = 16;
constexpr int kMemChannels = 6, kMemBds = 48;
constexpr int64_t kMemBytes = 512 * 1024;
constexpr int kShimChannels = 2;

json Record(const NpuTilingPlan& plan) {
  const std::string root = BITNET_SOURCE_DIR;
  const auto dir = std::filesystem::temp_directory_path() / ("npu_iron_record_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto plan_path = dir / "plan.json";
  std::ofstream(plan_path) << plan.ToJson();
  const std::string cmd = "PYTHONPATH='" + root + "/npu/iron_record:" + root +
                          "/npu/iron_record/numpy_fallback' python3 '" + root + "/npu/designs/bitlinear_gemv.py' --plan '" +
                          plan_path.string() + "' 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe.get())) out.append(buf, n);
  const int status = pclose(pipe.release());
  std::filesystem::remove_all(dir);
  if (status != 0) throw Error("recorder failed: " + cmd + "\n" + out);
  return json::parse(out);
}

std::string TileKey(const json& t) { return std::to_string(t[0].get<int>()) + "," + std::to_string(t[1].get<int>()); }
int Row(const json& t) { return t[1].get<int>(); }

NpuTap TapBytes(const json& op) {
  const int64_t e = op.at("elem_bytes");
  const json& t = op.at("tap");
  NpuTap tap;
  tap.offset = t.at("offset").get<int64_t>() * e;
  for (int d = 0; d < 4; ++d) {
    tap.sizes[d] = t.at("sizes")[d].get<int64_t>() * (d == 3 ? e : 1);
    tap.strides[d] = t.at("strides")[d].get<int64_t>() * (d == 3 ? 1 : e);
  }
  return tap;
}
int64_t Bytes(const NpuTap& t) { return t.sizes[0] * t.sizes[1] * t.sizes[2] * t.sizes[3]; }
bool SameTap(const NpuTap& a, const NpuTap& b) {
  return a.offset == b.offset && a.sizes == b.sizes && a.strides == b.strides;
}

void CheckProgram(const NpuTilingPlan& plan) {
  const json prog = Record(plan);
  ASSERT_EQ(prog.at("device"), NpuGenerationName(plan.generation));
  const int64_t align = plan.generation == NpuGeneration::kNpu1 ? 32 : 64;

  std::map<std::string, json> fifos;
  for (const json& f : prog.at("fifos")) fifos[f.at("name")] = f;

  // Objects each fifo carries per dispatch, from the shim transfers down the links.
  std::map<std::string, int64_t> shim_objects;
  std::map<std::string, int> shim_mm2s, shim_s2mm;
  int fills = 0, drains = 0;
  for (const json& op : prog.at("runtime").at("ops")) {
    if (op.at("op") != "fill" && op.at("op") != "drain") continue;
    const json& f = fifos.at(op.at("fifo"));
    const NpuTap tap = TapBytes(op);
    ValidateNpuTap(tap, op.at("fifo").get<std::string>());
    const int64_t obj = f.at("bytes");
    ASSERT_EQ(Bytes(tap) % obj, 0) << op.at("fifo") << ": transfer is not a whole number of objects";
    shim_objects[op.at("fifo")] = Bytes(tap) / obj;
    const int col = op.at("tile")[0];
    ASSERT_EQ(Row(op.at("tile")), 0) << "transfers start at a shim tile";
    if (op.at("op") == "fill") {
      ++shim_mm2s[TileKey(op.at("tile"))];
      // The plan's DMA program, exactly: weights and activations per column.
      const std::string name = op.at("fifo");
      if (name.rfind("w_", 0) == 0) EXPECT_TRUE(SameTap(tap, plan.WeightTap(col))) << name;
      else EXPECT_TRUE(SameTap(tap, plan.XTap())) << name;
      ++fills;
    } else {
      ++shim_s2mm[TileKey(op.at("tile"))];
      EXPECT_TRUE(SameTap(tap, plan.YTap(col))) << op.at("fifo");
      ++drains;
    }
  }
  EXPECT_EQ(fills, 2 * plan.columns);
  EXPECT_EQ(drains, plan.columns);
  for (auto& [tile, n] : shim_mm2s) EXPECT_LE(n, kShimChannels) << "shim " << tile << " MM2S";
  for (auto& [tile, n] : shim_s2mm) EXPECT_LE(n, kShimChannels) << "shim " << tile << " S2MM";

  auto objects = [&](const std::string& name) -> int64_t {
    const json& f = fifos.at(name);
    if (shim_objects.count(name)) return shim_objects.at(name);
    if (!f.at("link").is_null()) return shim_objects.at(f.at("link").at("parent"));
    ADD_FAILURE() << name << " is fed by neither the shim nor a link";
    return -1;
  };

  // Per tile: channels, BDs, memory, alignment.
  struct TileUse { int in = 0, out = 0, bds = 0; int64_t bytes = 0; };
  std::map<std::string, TileUse> use;
  std::map<std::string, int> rows;
  for (const auto& [name, f] : fifos) {
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
  for (const auto& [key, u] : use) {
    const bool core = rows.at(key) >= 2;
    EXPECT_LE(u.in, core ? kCoreChannels : kMemChannels) << key << " input channels";
    EXPECT_LE(u.out, core ? kCoreChannels : kMemChannels) << key << " output channels";
    EXPECT_LE(u.bds, core ? kCoreBds : kMemBds) << key << " buffer descriptors";
    EXPECT_LE(u.bytes, core ? NpuTilingPlan::kL1Budget : kMemBytes) << key << " local memory";
  }

  // Every core acquires exactly what its fifos carry, releases what it
  // acquires, and calls the kernel once per step.
  ASSERT_EQ(static_cast<int64_t>(prog.at("workers").size()), plan.cores());
  for (const json& w : prog.at("workers")) {
    std::map<std::string, int64_t> acquired, released;
    int64_t macs = 0;
    for (const json& ev : w.at("trace")) {
      if (ev[0] == "acquire") acquired[ev[1]] += ev[3].get<int64_t>();
      if (ev[0] == "release") released[ev[1]] += ev[3].get<int64_t>();
      if (ev[0] == "call" && ev[1].get<std::string>().rfind("bitlinear_w2a8_t", 0) == 0) ++macs;
    }
    EXPECT_EQ(macs, plan.steps_per_core()) << TileKey(w.at("tile"));
    EXPECT_EQ(acquired, released) << TileKey(w.at("tile"));
    for (const auto& [name, n] : acquired) EXPECT_EQ(n, objects(name)) << TileKey(w.at("tile")) << " " << name;
  }
}

TEST(NpuIronRecord, DesignProgramsFitThePlanAndTheHardware) {
  struct Case { int64_t rows, cols, tokens; NpuGeneration gen; };
  const std::vector<Case> cases = {
      {3840, 2560, 1, NpuGeneration::kNpu2}, {2560, 2560, 1, NpuGeneration::kNpu1},
      {13824, 2560, 1, NpuGeneration::kNpu2}, {2560, 6912, 4, NpuGeneration::kNpu1},
      {640, 2560, 4, NpuGeneration::kNpu2},   {6912, 2560, 1, NpuGeneration::kNpu1},
      {100, 200, 3, NpuGeneration::kNpu2},    {33, 1000, 1, NpuGeneration::kNpu1}};
  for (const Case& c : cases) {
    const NpuTilingPlan plan = MakeNpuTilingPlan(c.rows, c.cols, c.gen, c.tokens);
    SCOPED_TRACE(plan.ShapeName() + " t" + std::to_string(c.tokens) + " " + NpuGenerationName(c.gen));
    CheckProgram(plan);
  }
}

}  // namespace
}  // namespace bitnet
