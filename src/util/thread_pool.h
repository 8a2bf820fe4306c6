// A persistent pool of worker threads: created once, woken per parallel region,
// so no op ever pays for thread creation. Idle workers spin briefly before
// sleeping, because a decode step runs a parallel region every few tens of
// microseconds and a futex wake-up costs about as much as a small region.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace bitnet {

class ThreadPool {
 public:
  // n_threads includes the calling thread: ThreadPool(1) runs everything inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index) once on each of the size() threads and waits for all.
  // Safe to call from several threads at once: their regions take turns on
  // the pool (each region still uses every worker).
  void RunOnAll(const std::function<void(int)>& fn);

  // Splits [0, n) into size() contiguous chunks, each a multiple of `align`
  // (except the last), and runs fn(begin, end) on each thread. Waits.
  void ParallelFor(int64_t n, int64_t align, const std::function<void(int64_t, int64_t)>& fn);
  // The same split, with fn(worker, begin, end): worker < size() is the index
  // of the thread running the range, for per-thread scratch.
  void ParallelFor(int64_t n, int64_t align, const std::function<void(int, int64_t, int64_t)>& fn);

  // Hands out [0, n) in chunks of `chunk` items (the last may be shorter)
  // from a shared counter: a thread that is descheduled (another process on
  // the core) leaves its share to the others instead of stalling the region,
  // as a fixed split would. Each chunk runs exactly once; which thread runs
  // it is not fixed, so fn must not depend on it. Waits.
  void ParallelForChunks(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t)>& fn);

  // Number of hardware threads, at least 1.
  static int HardwareThreads();

 private:
  void WorkerLoop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex region_mu_;  // one parallel region at a time, whichever thread asks
  std::mutex mu_;
  std::condition_variable wake_, done_;
  // job_ is published by the release increment of generation_; the mutex is
  // taken only to hand over to threads that gave up spinning and sleep.
  std::atomic<const std::function<void(int)>*> job_{nullptr};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace bitnet
