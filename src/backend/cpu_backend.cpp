#include <algorithm>
#include <vector>

#include "backend/backend.h"
#include "kernels/dispatch.h"
#include "util/thread_pool.h"

namespace bitnet {
namespace {

// Up to this many tokens a product runs the decode kernel once per token over
// each chunk of rows instead of the prefill mat-mul: measured on the 2B shape,
// 2 threads, batched decode of 2 sequences ran 1.4-2.2x faster this way and 4
// sequences the same (docs/PERFORMANCE.md). Both are exact int32, so the
// choice never changes a result.
constexpr int kMatVecMaxTokens = 4;

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
    if (n <= kMatVecMaxTokens) {
      // Decode, alone or a few sequences batched: 256 rows (a few hundred KB
      // of codes, 10-54 chunks per matrix) read from memory once, then run
      // again from L2 for each further token.
      pool_->ParallelForChunks(w.rows, 256, [&](int64_t begin, int64_t end) {
        for (int t = 0; t < n; ++t)
          kernels_.mat_vec(w, begin, end, x + t * w.cols_padded, x_sums[t], y + t * w.rows + begin);
      });
      return;
    }
    // Prefill: about two chunks per thread, because each mat_mul call first
    // rearranges the whole batch of activations. Multiples of 64 keep y
    // chunks cache-line aligned.
    const int64_t chunk = std::max<int64_t>(64, (w.rows / (2 * pool_->size()) + 63) / 64 * 64);
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
