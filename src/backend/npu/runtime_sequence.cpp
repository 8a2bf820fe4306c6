#include "backend/npu/runtime_sequence.h"

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace bitnet {

std::string NpuWeightFifoName(int64_t column, int64_t channel) {
  return "w_l3l2_" + std::to_string(column) + "_" + std::to_string(channel);
}
std::string NpuResultFifoName(int64_t column) { return "y_l2l3_" + std::to_string(column); }
std::string NpuRtpName(int64_t column, int64_t core) {
  return "rtp_" + std::to_string(column) + "_" + std::to_string(core);
}
std::string NpuBarrierName(int64_t column, int64_t core) {
  // The design creates one barrier per worker, in core order.
  return "barrier" + std::to_string(NpuTilingPlan::FirstCoreOfColumn(column) + core);
}

NpuRuntimeSequence MakeNpuRuntimeSequence(const NpuTilingPlan& plan) {
  NpuRuntimeSequence seq;
  seq.arg_bytes = {plan.weight_bytes(), plan.x_bytes(), plan.y_bytes()};
  seq.arg_elem_bytes = {1, 1, 4};
  auto op = [&](NpuSeqOp::Kind kind) -> NpuSeqOp& {
    seq.ops.emplace_back();
    seq.ops.back().kind = kind;
    return seq.ops.back();
  };
  // Counts first, then the barriers: a core must never read a stale count.
  for (int64_t c = 0; c < plan.columns; ++c)
    for (int64_t p = 0; p < NpuTilingPlan::CoresInColumn(c); ++p)
      for (int64_t slot = 0; slot < kNpuRtpLen; ++slot) {
        NpuSeqOp& w = op(NpuSeqOp::Kind::kWriteRtp);
        w.target = NpuRtpName(c, p);
        w.index = slot;
        w.value = slot == kNpuRtpTiles ? plan.tiles_per_core
                  : slot == kNpuRtpKChunks ? plan.k_chunks
                  : slot == kNpuRtpTokens ? plan.tokens
                                          : 0;
      }
  for (int64_t c = 0; c < plan.columns; ++c)
    for (int64_t p = 0; p < NpuTilingPlan::CoresInColumn(c); ++p) {
      NpuSeqOp& b = op(NpuSeqOp::Kind::kSetBarrier);
      b.target = NpuBarrierName(c, p);
      b.value = 1;
    }
  op(NpuSeqOp::Kind::kStart).value = plan.cores();
  auto xfer = [&](NpuSeqOp::Kind kind, std::string fifo, int arg, const NpuTap& tap, int64_t column, bool wait) {
    NpuSeqOp& f = op(kind);
    f.target = std::move(fifo);
    f.arg = arg;
    f.tap = tap;
    f.elem_bytes = seq.arg_elem_bytes[static_cast<size_t>(arg)];
    f.tile = {static_cast<int>(column), 0};
    f.wait = wait;
  };
  xfer(NpuSeqOp::Kind::kFill, kNpuActivationFifo, 1, plan.XTap(), 0, false);
  for (int64_t c = 0; c < plan.columns; ++c)
    for (int64_t h = 0; h < plan.WeightChannels(c); ++h)
      xfer(NpuSeqOp::Kind::kFill, NpuWeightFifoName(c, h), 0, plan.WeightTap(c, h), c, false);
  for (int64_t c = 0; c < plan.columns; ++c)
    xfer(NpuSeqOp::Kind::kDrain, NpuResultFifoName(c), 2, plan.YTap(c), c, true);
  op(NpuSeqOp::Kind::kFinishTaskGroup);
  return seq;
}

namespace {

const char* KindName(NpuSeqOp::Kind k) {
  switch (k) {
    case NpuSeqOp::Kind::kWriteRtp: return "write_rtp";
    case NpuSeqOp::Kind::kSetBarrier: return "set_barrier";
    case NpuSeqOp::Kind::kStart: return "start";
    case NpuSeqOp::Kind::kFill: return "fill";
    case NpuSeqOp::Kind::kDrain: return "drain";
    case NpuSeqOp::Kind::kFinishTaskGroup: return "finish_task_group";
  }
  return "?";
}

const nlohmann::json& Field(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) throw Error(where + ": missing field '" + key + "'");
  return j.at(key);
}

int64_t IntField(const nlohmann::json& j, const char* key, const std::string& where) {
  const nlohmann::json& v = Field(j, key, where);
  if (!v.is_number_integer()) throw Error(where + ": field '" + key + "' is not an integer");
  return v.get<int64_t>();
}

std::string StringField(const nlohmann::json& j, const char* key, const std::string& where) {
  const nlohmann::json& v = Field(j, key, where);
  if (!v.is_string()) throw Error(where + ": field '" + key + "' is not a string");
  return v.get<std::string>();
}

}  // namespace

nlohmann::json NpuRuntimeSequenceToJson(const NpuRuntimeSequence& seq) {
  nlohmann::json j;
  j["args"] = nlohmann::json::array();
  for (size_t i = 0; i < seq.arg_bytes.size(); ++i)
    j["args"].push_back({{"index", i}, {"bytes", seq.arg_bytes[i]}, {"elem_bytes", seq.arg_elem_bytes[i]}});
  j["ops"] = nlohmann::json::array();
  for (const NpuSeqOp& op : seq.ops) {
    nlohmann::json o{{"op", KindName(op.kind)}};
    switch (op.kind) {
      case NpuSeqOp::Kind::kWriteRtp:
        o["buffer"] = op.target;
        o["index"] = op.index;
        o["value"] = op.value;
        break;
      case NpuSeqOp::Kind::kSetBarrier:
        o["barrier"] = op.target;
        o["value"] = op.value;
        break;
      case NpuSeqOp::Kind::kStart: o["workers"] = op.value; break;
      case NpuSeqOp::Kind::kFill:
      case NpuSeqOp::Kind::kDrain: {
        const int64_t e = op.elem_bytes;
        o["fifo"] = op.target;
        o["arg"] = op.arg;
        o["tap"] = {{"offset", op.tap.offset / e},
                    {"sizes", {op.tap.sizes[0], op.tap.sizes[1], op.tap.sizes[2], op.tap.sizes[3] / e}},
                    {"strides", {op.tap.strides[0] / e, op.tap.strides[1] / e, op.tap.strides[2] / e, 1}}};
        o["elem_bytes"] = e;
        o["tile"] = {op.tile[0], op.tile[1]};
        o["wait"] = op.wait;
        break;
      }
      case NpuSeqOp::Kind::kFinishTaskGroup: break;
    }
    j["ops"].push_back(std::move(o));
  }
  return j;
}

NpuRuntimeSequence ParseNpuRuntimeSequence(const nlohmann::json& runtime) {
  const std::string where = "npu runtime sequence";
  NpuRuntimeSequence seq;
  const nlohmann::json& args = Field(runtime, "args", where);
  if (!args.is_array()) throw Error(where + ": field 'args' is not an array");
  for (const nlohmann::json& a : args) {
    seq.arg_bytes.push_back(IntField(a, "bytes", where + " args"));
    seq.arg_elem_bytes.push_back(IntField(a, "elem_bytes", where + " args"));
    if (seq.arg_elem_bytes.back() <= 0) throw Error(where + " args: field 'elem_bytes' must be positive");
  }
  const nlohmann::json& ops = Field(runtime, "ops", where);
  if (!ops.is_array()) throw Error(where + ": field 'ops' is not an array");
  for (size_t i = 0; i < ops.size(); ++i) {
    const nlohmann::json& o = ops[i];
    const std::string at = where + " op " + std::to_string(i);
    const std::string kind = StringField(o, "op", at);
    NpuSeqOp op;
    if (kind == "write_rtp") {
      op.kind = NpuSeqOp::Kind::kWriteRtp;
      op.target = StringField(o, "buffer", at);
      op.index = IntField(o, "index", at);
      op.value = IntField(o, "value", at);
    } else if (kind == "set_barrier") {
      op.kind = NpuSeqOp::Kind::kSetBarrier;
      op.target = StringField(o, "barrier", at);
      op.value = IntField(o, "value", at);
    } else if (kind == "start") {
      op.kind = NpuSeqOp::Kind::kStart;
      op.value = IntField(o, "workers", at);
    } else if (kind == "fill" || kind == "drain") {
      op.kind = kind == "fill" ? NpuSeqOp::Kind::kFill : NpuSeqOp::Kind::kDrain;
      op.target = StringField(o, "fifo", at);
      op.arg = static_cast<int>(IntField(o, "arg", at));
      if (op.arg < 0 || op.arg >= static_cast<int>(seq.arg_bytes.size()))
        throw Error(at + ": field 'arg' names no runtime argument");
      op.elem_bytes = IntField(o, "elem_bytes", at);
      if (op.elem_bytes != seq.arg_elem_bytes[static_cast<size_t>(op.arg)])
        throw Error(at + ": field 'elem_bytes' differs from its argument's");
      const nlohmann::json& tap = Field(o, "tap", at);
      const nlohmann::json& sizes = Field(tap, "sizes", at + " tap");
      const nlohmann::json& strides = Field(tap, "strides", at + " tap");
      if (!sizes.is_array() || sizes.size() != 4 || !strides.is_array() || strides.size() != 4)
        throw Error(at + ": tap 'sizes' and 'strides' must have 4 entries");
      const int64_t e = op.elem_bytes;
      op.tap.offset = IntField(tap, "offset", at + " tap") * e;
      for (int d = 0; d < 4; ++d) {
        if (!sizes[d].is_number_integer() || !strides[d].is_number_integer())
          throw Error(at + ": tap dimension " + std::to_string(d) + " is not an integer");
        op.tap.sizes[static_cast<size_t>(d)] = sizes[d].get<int64_t>() * (d == 3 ? e : 1);
        op.tap.strides[static_cast<size_t>(d)] = strides[d].get<int64_t>() * (d == 3 ? 1 : e);
      }
      const nlohmann::json& tile = Field(o, "tile", at);
      if (!tile.is_array() || tile.size() != 2) throw Error(at + ": field 'tile' must be [column, row]");
      if (!tile[0].is_number_integer() || !tile[1].is_number_integer())
        throw Error(at + ": field 'tile' must hold integers");
      op.tile = {tile[0].get<int>(), tile[1].get<int>()};
      const nlohmann::json& wait = Field(o, "wait", at);
      if (!wait.is_boolean()) throw Error(at + ": field 'wait' is not a boolean");
      op.wait = wait.get<bool>();
    } else if (kind == "finish_task_group") {
      op.kind = NpuSeqOp::Kind::kFinishTaskGroup;
    } else {
      throw Error(at + ": unknown op '" + kind + "'");
    }
    seq.ops.push_back(std::move(op));
  }
  return seq;
}

}  // namespace bitnet
