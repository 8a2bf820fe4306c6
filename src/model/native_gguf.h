// This project's single-file model format: a GGUF file (architecture
// "bitnet-npu") holding the packed ternary weights exactly as the CPU kernels
// read them, so loading is a memory map. Layout (also in docs/FORMATS.md):
//   token_embd.weight        BF16/F16/F32  [vocab][hidden]   (tied output)
//   output.weight            optional, untied output matrix
//   output_int8.weight       I8 [vocab][hidden]  the output matrix per row in int8,
//   output_int8.scale        F32 [vocab]         value = q * scale (max|row| / 127),
//   output_int8.rowsum       I32 [vocab]         sum of each row's q (output_int8.h)
//   output_norm.weight       F32 [hidden]
//   blk.N.attn_norm.weight   F32 [hidden]
//   blk.N.attn_qkv.weight    BITNET_T2 [q+k+v rows][hidden]  (src/kernels/ternary_layout.h)
//   blk.N.attn_qkv.scale     F32 [3]   weight scales of the q, k, v row ranges
//   blk.N.attn_sub_norm.weight F32 [hidden]
//   blk.N.attn_output.weight BITNET_T2 [hidden][H*D], .scale F32 [1]
//   blk.N.ffn_norm.weight    F32 [hidden]
//   blk.N.ffn_gate_up.weight BITNET_T2 [2F][hidden], .scale F32 [2] (gate, up)
//   blk.N.ffn_sub_norm.weight F32 [F]
//   blk.N.ffn_down.weight    BITNET_T2 [hidden][F], .scale F32 [1]
// plus the model config under "bitnet-npu.*" (with format_version 1, the
// source format, the scale convention and the sampling defaults) and the
// tokenizer under "tokenizer.ggml.*".
#pragma once
#include <string>

#include "model/weights.h"

namespace bitnet {

class Tokenizer;
namespace gguf {
class File;
}

inline constexpr const char* kNativeArch = "bitnet-npu";

// Writes weights (+ tokenizer if non-null) as a native GGUF, atomically and
// deterministically.
void WriteNativeGguf(const ModelWeights& weights, const Tokenizer* tokenizer, const std::string& path);

// Loads a native GGUF opened as `file` (architecture "bitnet-npu"); weights
// point into the file's memory map, which the result keeps alive.
ModelWeights LoadNativeGguf(std::shared_ptr<gguf::File> file);

}  // namespace bitnet
