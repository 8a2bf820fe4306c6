#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace bitnet {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long a waiting thread polls before it blocks. Long enough to cover the
// serial work between two parallel regions of a decode step, short enough
// that an idle pool stops burning a core almost at once.
constexpr auto kSpinFor = std::chrono::microseconds(250);
// After this much pure spinning the poll yields between checks, so that on a
// busy or oversubscribed machine the thread we wait for can get the core.
constexpr auto kPureSpinFor = std::chrono::microseconds(20);

// Polls ready() until it is true (returns true) or kSpinFor has passed.
template <typename Ready>
bool SpinUntil(Ready ready) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      CpuRelax();
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    if (waited >= kSpinFor) return ready();
    if (waited >= kPureSpinFor) std::this_thread::yield();
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::HardwareThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto has_news = [&] {
      return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
    };
    if (!SpinUntil(has_news)) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, has_news);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    (*job_.load(std::memory_order_relaxed))(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // The caller may have stopped spinning; taking the lock orders this
      // notify after its predicate check, so the wake-up cannot be lost.
      std::lock_guard<std::mutex> lock(mu_);
      done_.notify_one();
    }
  }
}

void ThreadPool::RunOnAll(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  std::lock_guard<std::mutex> region(region_mu_);
  job_.store(&fn, std::memory_order_relaxed);
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    // Under the lock so a worker between its predicate check and its sleep
    // cannot miss the new generation.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  fn(0);
  auto all_done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!SpinUntil(all_done)) {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, all_done);
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t align,
                             const std::function<void(int64_t, int64_t)>& fn) {
  ParallelFor(n, align, [&](int, int64_t begin, int64_t end) { fn(begin, end); });
}

void ThreadPool::ParallelFor(int64_t n, int64_t align,
                             const std::function<void(int, int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  align = std::max<int64_t>(1, align);
  const int64_t units = (n + align - 1) / align;
  const int threads = static_cast<int>(std::min<int64_t>(n_threads_, units));
  if (threads <= 1) {
    fn(0, 0, n);
    return;
  }
  RunOnAll([&](int t) {
    if (t >= threads) return;
    const int64_t begin = std::min(n, units * t / threads * align);
    const int64_t end = std::min(n, units * (t + 1) / threads * align);
    if (begin < end) fn(t, begin, end);
  });
}

void ThreadPool::ParallelForChunks(int64_t n, int64_t chunk,
                                   const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(1, chunk);
  const int64_t chunks = (n + chunk - 1) / chunk;
  if (n_threads_ == 1 || chunks == 1) {
    fn(0, n);
    return;
  }
  std::atomic<int64_t> next{0};
  RunOnAll([&](int) {
    for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed))
      fn(c * chunk, std::min(n, (c + 1) * chunk));
  });
}

}  // namespace bitnet
