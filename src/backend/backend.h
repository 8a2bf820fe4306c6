// Where BitLinear matrix products run. The model uploads each ternary matrix
// once at load and then asks for exact int32 products; scales and float
// conversion stay with the model, so every backend is compared bit-exact
// against the CPU reference on its int32 output.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/ternary_layout.h"

namespace bitnet {

class ThreadPool;

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu (avx2, 2 threads)", "npu (npu2, xrt)", "npu-emu", ...
  virtual std::string Name() const = 0;

  // Whether this backend can run products with w (shape limits, etc.).
  virtual bool Supports(const TernaryMatrixView& w) const = 0;

  // Makes w available to Run; called once per matrix at load. The view's
  // memory outlives the backend. Returns a handle for Run.
  virtual int Upload(const TernaryMatrixView& w) = 0;

  // For n tokens, x: [n][cols_padded] int8 (zero padded), x_sums: [n] (sum of
  // each token's activations), y: [n][rows] with
  // y[t][r] = sum_k W[r][k] * x[t][k], exact.
  virtual void MatMul(int handle, const int8_t* x, const int32_t* x_sums, int n, int32_t* y) = 0;

  // One token's norm, quantizer and product in one device dispatch:
  // xq = quantize(rmsnorm(x) * g) (per-token absmax int8, the formula of
  // kernels/quantize.h computed on the device), y = W · xq. x, g: [width];
  // xq: [cols_padded]; *scale = a, *sum = sum of xq; y: [rows] exact int32.
  // Returns false, touching nothing, when this backend does not fuse for
  // `handle` (the caller norms on the host and calls MatMul); the CPU backend
  // never does. The device's xq may differ from the host's by one in a few
  // elements (its float order differs), which is why it is returned: y is
  // exactly W · xq, checkable against MatMul on it.
  virtual bool NormMatMul(int /*handle*/, const float* /*x*/, const float* /*g*/, int64_t /*width*/, float /*eps*/,
                          int8_t* /*xq*/, float* /*scale*/, int32_t* /*sum*/, int32_t* /*y*/) {
    return false;
  }
};

// The CPU backend: the active W2A8 kernels, rows split across the pool.
std::unique_ptr<Backend> MakeCpuBackend(ThreadPool* pool);

}  // namespace bitnet
