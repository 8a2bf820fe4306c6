// AIE core kernels of the vector core of npu/designs/bitnet_layer.py: the
// float work of a layer (RMSNorm, int8 quantization) in bitnet_vector.h,
// which the host emulator compiles too; this file only gives it the C symbols
// the design's Kernel objects name.
//
// Status: NOT compiled with Peano and NOT run on hardware (no toolchain or
// NPU where it was written).
#include <stdint.h>

#include "bitnet_vector.h"

extern "C" {

void bitnet_vec_begin(uint8_t* state, int32_t width, int32_t eps_bits) {
  bitnet_npu::VecBegin(reinterpret_cast<bitnet_npu::VecState*>(state), width, eps_bits);
}

void bitnet_vec_norm(uint8_t* state, const float* in) {
  bitnet_npu::VecNormChunk(reinterpret_cast<bitnet_npu::VecState*>(state), in);
}

void bitnet_vec_finish(uint8_t* state, uint8_t* record) {
  bitnet_npu::VecFinish(reinterpret_cast<bitnet_npu::VecState*>(state), record);
}

void bitnet_vec_emit_x(uint8_t* state, int8_t* x) {
  bitnet_npu::VecEmitActivations(reinterpret_cast<bitnet_npu::VecState*>(state), x);
}

void bitnet_vec_emit_host(uint8_t* state, uint8_t* record) {
  bitnet_npu::VecEmitHost(reinterpret_cast<bitnet_npu::VecState*>(state), record);
}

}  // extern "C"
