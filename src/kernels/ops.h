// The float ops of a BitNet layer. Each runs the variant of the active kernel
// table (dispatch.h; BITNET_ISA=scalar forces the scalar loops).
#pragma once
#include <cstdint>
#include <vector>

namespace bitnet {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]; out may alias x.
void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out);

// RoPE angles for one position, Hugging Face layout: cos[i], sin[i] for
// i < head_dim / 2, angle = pos * theta^(-2i / head_dim).
struct RopeTable {
  int head_dim = 0;
  std::vector<double> inv_freq;  // [head_dim / 2]; double so angles at position 4095 stay exact to float precision
  RopeTable(int head_dim, double theta);
  void Angles(int pos, float* cos_out, float* sin_out) const;
};

// rotate_half RoPE in place on n_heads heads of head_dim floats each:
// dimension i pairs with i + head_dim/2.
void ApplyRope(float* heads, int n_heads, int head_dim, const float* cos, const float* sin);

// In-place softmax over n floats.
void Softmax(float* x, int64_t n);

// out[i] = max(gate[i], 0)^2 * up[i].
void Relu2Gate(const float* gate, const float* up, int64_t n, float* out);

// out[i] = silu(gate[i]) * up[i] (llama.cpp's "bitnet" architecture).
void SiluGate(const float* gate, const float* up, int64_t n, float* out);

float DotF32(const float* a, const float* b, int64_t n);

}  // namespace bitnet
