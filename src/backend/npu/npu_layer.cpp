#include "backend/npu/npu_layer.h"

#include <bit>
#include <cstring>
#include <mutex>

#include "backend/npu/recorded_program.h"
#include "bitnet_vector.h"
#include "util/error.h"

namespace bitnet {

static_assert(bitnet_npu::kVecChunk == NpuTilingPlan::kKChunk, "the vector core norms one K chunk per input object");

constexpr int64_t kVecInputObjectBytes = bitnet_npu::kVecInputFloats * static_cast<int64_t>(sizeof(float));

std::string NpuVectorBarrierName(const NpuTilingPlan& plan) { return "barrier" + std::to_string(plan.cores()); }

int64_t NpuLayerMaxKChunks() { return bitnet_npu::kVecMaxChunks; }

bool NpuLayerFits(const NpuTilingPlan& plan, int64_t width, std::string* why) {
  if (plan.tokens != 1) {
    *why = "the fused dispatch is for decode (one token)";
    return false;
  }
  if (width < 1 || width > plan.k_padded) {
    *why = "norm width " + std::to_string(width) + " is not within the matrix's K " + std::to_string(plan.k_padded);
    return false;
  }
  if (plan.k_chunks > NpuLayerMaxKChunks()) {
    *why = "K " + std::to_string(plan.k_padded) + " is more than the vector core holds (" +
           std::to_string(NpuLayerMaxKChunks() * NpuTilingPlan::kKChunk) + ")";
    return false;
  }
  return true;
}

int64_t NpuVectorInputBytes(const NpuTilingPlan& plan) {
  return plan.k_chunks * bitnet_npu::kVecInputFloats * static_cast<int64_t>(sizeof(float));
}

void PackNormInputForNpu(const float* x, const float* g, int64_t width, const NpuTilingPlan& plan, float* out) {
  Check(width >= 0 && width <= plan.k_padded, "PackNormInputForNpu",
        "width " + std::to_string(width) + " exceeds the plan's K " + std::to_string(plan.k_padded));
  for (int64_t c = 0; c < plan.k_chunks; ++c) {
    float* obj = out + c * bitnet_npu::kVecInputFloats;
    for (int i = 0; i < bitnet_npu::kVecChunk; ++i) {
      const int64_t k = c * bitnet_npu::kVecChunk + i;
      obj[bitnet_npu::VecInputX(i)] = k < width ? x[k] : 0.0f;
      obj[bitnet_npu::VecInputWeight(i)] = k < width ? g[k] : 0.0f;
    }
  }
}

void UnpackNormInputFromNpu(const float* packed, const NpuTilingPlan& plan, std::vector<float>* x,
                            std::vector<float>* g) {
  x->assign(static_cast<size_t>(plan.k_padded), 0.0f);
  g->assign(static_cast<size_t>(plan.k_padded), 0.0f);
  for (int64_t k = 0; k < plan.k_padded; ++k) {
    const float* obj = packed + (k / bitnet_npu::kVecChunk) * bitnet_npu::kVecInputFloats;
    (*x)[static_cast<size_t>(k)] = obj[bitnet_npu::VecInputX(static_cast<int>(k % bitnet_npu::kVecChunk))];
    (*g)[static_cast<size_t>(k)] = obj[bitnet_npu::VecInputWeight(static_cast<int>(k % bitnet_npu::kVecChunk))];
  }
}

int64_t NpuHostRecordBytes(const NpuTilingPlan& plan) { return (plan.k_chunks + 1) * bitnet_npu::kHostRecordBytes; }

NpuNormResult ParseNpuHostRecords(const uint8_t* records, const NpuTilingPlan& plan, int64_t width) {
  bitnet_npu::HostStats st;
  std::memcpy(&st, records, sizeof(st));
  Check(st.width == width, "npu host records",
        "the vector core normed " + std::to_string(st.width) + " elements, asked for " + std::to_string(width));
  NpuNormResult r;
  r.scale = st.scale;
  r.sum = st.sum;
  r.inv_rms = st.inv_rms;
  r.width = st.width;
  r.xq.resize(static_cast<size_t>(plan.k_padded));
  for (int64_t c = 0; c < plan.k_chunks; ++c)
    std::memcpy(r.xq.data() + c * bitnet_npu::kKChunk, records + (c + 1) * bitnet_npu::kHostRecordBytes,
                bitnet_npu::kKChunk);
  int32_t sum = 0;
  for (int8_t q : r.xq) sum += q;
  Check(sum == r.sum, "npu host records", "the activations sum to " + std::to_string(sum) + ", the statistics say " +
                                              std::to_string(r.sum));
  return r;
}

NpuRuntimeSequence MakeNpuNormMatMulSequence(const NpuTilingPlan& plan, int64_t width, float eps) {
  std::string why;
  Check(NpuLayerFits(plan, width, &why), "npu fused dispatch", why);
  // The matmul cores' sequence, with x coming from the vector core instead of a shim.
  NpuRuntimeSequence seq = MakeNpuRuntimeSequence(plan);
  seq.arg_bytes = {plan.weight_bytes(), NpuVectorInputBytes(plan), plan.y_bytes(), NpuHostRecordBytes(plan)};
  seq.arg_elem_bytes = {1, 4, 4, 1};
  std::vector<NpuSeqOp> ops;
  for (const NpuSeqOp& op : seq.ops) {
    if (op.kind == NpuSeqOp::Kind::kSetBarrier && ops.back().kind == NpuSeqOp::Kind::kWriteRtp) {
      const int64_t values[kNpuVrtpLen] = {width, plan.k_chunks, plan.tiles_per_core, std::bit_cast<int32_t>(eps)};
      for (int64_t slot = 0; slot < kNpuVrtpLen; ++slot) {
        NpuSeqOp w;
        w.kind = NpuSeqOp::Kind::kWriteRtp;
        w.target = kNpuVectorRtp;
        w.index = slot;
        w.value = values[slot];
        ops.push_back(w);
      }
    }
    if (op.kind == NpuSeqOp::Kind::kStart) {
      NpuSeqOp b;
      b.kind = NpuSeqOp::Kind::kSetBarrier;
      b.target = NpuVectorBarrierName(plan);
      b.value = 1;
      ops.push_back(b);
      NpuSeqOp start = op;
      start.value = plan.cores() + 1;
      ops.push_back(start);
      continue;
    }
    if (op.kind == NpuSeqOp::Kind::kFill && op.target == kNpuActivationFifo) {
      NpuSeqOp fill = op;
      fill.target = kNpuVectorInputFifo;
      // One input object per row of the pattern: 2 KiB = 512 words, within a BD's 1023.
      fill.tap = NpuTap{0, {1, 1, plan.k_chunks, kVecInputObjectBytes}, {0, 0, kVecInputObjectBytes, 1}};
      fill.elem_bytes = 4;
      ops.push_back(fill);
      continue;
    }
    if (op.kind == NpuSeqOp::Kind::kFinishTaskGroup) {
      NpuSeqOp drain;
      drain.kind = NpuSeqOp::Kind::kDrain;
      drain.target = kNpuHostRecordFifo;
      drain.arg = 3;
      drain.tap = NpuTap{0, {1, 1, plan.k_chunks + 1, bitnet_npu::kHostRecordBytes}, {0, 0, bitnet_npu::kHostRecordBytes, 1}};
      drain.elem_bytes = 1;
      drain.tile = {0, 0};
      drain.wait = true;
      ops.push_back(drain);
    }
    ops.push_back(op);
  }
  seq.ops = std::move(ops);
  return seq;
}

// Defined in the file CMake generates from npu/recorded/*.json.
extern const char* const kNpuLayerRecordingNpu1;
extern const char* const kNpuLayerRecordingNpu2;

const std::string& RecordedNpuLayerProgramJson(NpuGeneration g) {
  static const std::string npu1 = kNpuLayerRecordingNpu1, npu2 = kNpuLayerRecordingNpu2;
  return g == NpuGeneration::kNpu1 ? npu1 : npu2;
}

std::shared_ptr<const NpuProgram> RecordedNpuLayerProgram(NpuGeneration g) {
  static std::mutex mu;
  static std::shared_ptr<const NpuProgram> programs[2];
  std::lock_guard<std::mutex> lock(mu);
  auto& p = programs[g == NpuGeneration::kNpu1 ? 0 : 1];
  if (!p) p = ParseNpuRecording(RecordedNpuLayerProgramJson(g), "bitnet_layer", g);
  return p;
}

void RunNpuNormMatMulProgram(const NpuTilingPlan& plan, const uint8_t* weights, size_t weight_bytes, const float* vin,
                             int64_t width, float eps, int32_t* y, uint8_t* records) {
  Check(static_cast<int64_t>(weight_bytes) == plan.weight_bytes(), "npu emulator",
        "weight buffer has " + std::to_string(weight_bytes) + " bytes, plan " + plan.ShapeName() + " needs " +
            std::to_string(plan.weight_bytes()));
  // The program only reads W and the vector input; the interpreter's buffers are writable.
  const NpuDdrArg args[4] = {{const_cast<uint8_t*>(weights), weight_bytes},
                             {reinterpret_cast<uint8_t*>(const_cast<float*>(vin)), static_cast<size_t>(NpuVectorInputBytes(plan))},
                             {reinterpret_cast<uint8_t*>(y), static_cast<size_t>(plan.y_bytes())},
                             {records, static_cast<size_t>(NpuHostRecordBytes(plan))}};
  RecordedNpuLayerProgram(plan.generation)->Run(MakeNpuNormMatMulSequence(plan, width, eps), args, nullptr);
}

NpuNormResult EmulateNpuNormMatMul(const NpuTilingPlan& plan, const uint8_t* weights, size_t weight_bytes,
                                   const float* x, const float* g, int64_t width, float eps, int32_t* y) {
  std::vector<float> vin(static_cast<size_t>(NpuVectorInputBytes(plan) / 4));
  PackNormInputForNpu(x, g, width, plan, vin.data());
  std::vector<uint8_t> records(static_cast<size_t>(NpuHostRecordBytes(plan)));
  RunNpuNormMatMulProgram(plan, weights, weight_bytes, vin.data(), width, eps, y, records.data());
  return ParseNpuHostRecords(records.data(), plan, width);
}

}  // namespace bitnet
