#include <algorithm>
#include <vector>

#include "backend/backend.h"
#include "kernels/dispatch.h"
#include "util/thread_pool.h"

namespace bitnet {
namespace {

// Products of up to this many tokens are a batched decode step (one token
// per sequence): the W2A8 mat_mul has a one-pass path for them that reads
// each weight once for all tokens (w2a8_avx512.cpp, w2a8_avx2.cpp).
constexpr int kSmallBatchTokens = 8;

class CpuBackend final : public Backend {
 public:
  // ActiveKernels() here, on the caller's thread: a bad BITNET_ISA throws
  // now, not inside a kernel on a worker thread.
  explicit CpuBackend(ThreadPool* pool) : pool_(pool), kernels_(*ActiveKernels().w2a8) {}

  std::string Name() const override {
    return std::string("cpu (") + kernels_.name + ", " + std::to_string(pool_->size()) + " threads)";
  }

  bool Supports(const TernaryMatrixView&) const override { return true; }

  int Upload(const TernaryMatrixView& w) override {
    matrices_.push_back(w);
    return static_cast<int>(matrices_.size()) - 1;
  }

  void MatMul(int handle, const int8_t* x, const int32_t* x_sums, int n, int32_t* y) override {
    const TernaryMatrixView& w = matrices_.at(static_cast<size_t>(handle));
    // Chunks taken from a shared counter, so a thread that loses its core to
    // another process does not hold up the step.
    if (n == 1) {
      // Decode: 256 rows (a few hundred KB of codes, 10-54 chunks per matrix).
      pool_->ParallelForChunks(w.rows, 256, [&](int64_t begin, int64_t end) {
        kernels_.mat_vec(w, begin, end, x, x_sums[0], y + begin);
      });
      return;
    }
    // Each mat_mul call first rearranges the whole batch of activations, so
    // chunks are bigger: about four per thread for a batched decode step
    // (memory-bound, so balance matters), two for a prefill. Multiples of 64
    // keep y chunks cache-line aligned.
    const int64_t per_thread = n <= kSmallBatchTokens ? 4 : 2;
    const int64_t chunk = std::max<int64_t>(64, (w.rows / (per_thread * pool_->size()) + 63) / 64 * 64);
    pool_->ParallelForChunks(w.rows, chunk, [&](int64_t begin, int64_t end) {
      kernels_.mat_mul(w, begin, end, x, x_sums, n, y, w.rows);
    });
  }

 private:
  ThreadPool* pool_;
  const W2A8Kernels& kernels_;
  std::vector<TernaryMatrixView> matrices_;
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(ThreadPool* pool) { return std::make_unique<CpuBackend>(pool); }

}  // namespace bitnet
