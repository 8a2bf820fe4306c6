// The per-shape half of the NPU program: the runtime sequence (what aiecc
// turns into the instruction stream). The core program and fifos are the same
// for every shape (one PDI, recorded from npu/designs/bitlinear_gemv.py); this
// sequence writes each core's runtime parameters, releases the cores, and
// programs the shim DMAs. It mirrors the design script's sequence op for op;
// tests/npu/npu_iron_record_test.cpp checks they are equal for many shapes.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "backend/npu/tiling_plan.h"

namespace bitnet {

struct NpuSeqOp {
  enum class Kind { kWriteRtp, kSetBarrier, kStart, kFill, kDrain, kFinishTaskGroup };
  Kind kind = Kind::kStart;
  std::string target;     // write_rtp: buffer; set_barrier: barrier; fill/drain: fifo
  int64_t index = 0;      // write_rtp: slot
  int64_t value = 0;      // write_rtp, set_barrier: value; start: worker count
  int arg = 0;            // fill/drain: runtime sequence argument (0 = W, 1 = X, 2 = Y)
  NpuTap tap;             // fill/drain, in bytes of the argument
  int64_t elem_bytes = 1;  // fill/drain: the argument's element size (taps are recorded in elements)
  std::array<int, 2> tile{0, 0};
  bool wait = false;
};

struct NpuRuntimeSequence {
  std::vector<int64_t> arg_bytes;  // sizes of the sequence's DDR arguments
  std::vector<int64_t> arg_elem_bytes;
  std::vector<NpuSeqOp> ops;
};

// Names the design script gives its fifos and runtime parameter buffers.
std::string NpuWeightFifoName(int64_t column, int64_t channel);  // w_l3l2_<c>_<h>
std::string NpuResultFifoName(int64_t column);                   // y_l2l3_<c>
inline constexpr const char* kNpuActivationFifo = "x_l3l1";
std::string NpuRtpName(int64_t column, int64_t core);            // rtp_<c>_<p>
std::string NpuBarrierName(int64_t column, int64_t core);        // barrier<global core index>
// Runtime parameter slots (int32) each core reads, as in the design script.
inline constexpr int64_t kNpuRtpTiles = 0, kNpuRtpKChunks = 1, kNpuRtpTokens = 2, kNpuRtpLen = 4;

NpuRuntimeSequence MakeNpuRuntimeSequence(const NpuTilingPlan& plan);

// The recorded JSON form (npu/iron_record's "runtime" object), both ways.
// Parsing throws Error naming the field that is missing or malformed.
nlohmann::json NpuRuntimeSequenceToJson(const NpuRuntimeSequence& seq);
NpuRuntimeSequence ParseNpuRuntimeSequence(const nlohmann::json& runtime);

}  // namespace bitnet
