// The server's slots: each is a KV cache with the tokens whose keys/values it
// holds, so a slot keeps the tokens of its last request and a new prompt that
// starts the same way only runs its new tokens (the BatchScheduler runs them). Requests queue in arrival order for a free
// slot, with a bounded wait.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "bitnet/bitnet.h"

namespace bitnet::server {

class SlotPool {
 public:
  SlotPool(const Model& model, int n_slots, int context_length);
  ~SlotPool();

  // A slot held by one request; returned to the pool when destroyed.
  class Lease {
   public:
    Lease(SlotPool& pool, int index) : pool_(pool), index_(index) {}
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    KvCache& cache();
    // The tokens whose keys/values are in cache(), in position order; whoever
    // holds the lease keeps it in step with what it writes into the cache.
    std::vector<int32_t>& cached_tokens();
    int index() const { return index_; }

   private:
    SlotPool& pool_;
    int index_;
  };

  // Waits (first come, first served) up to `timeout` for a free slot and takes
  // the free one whose cached tokens share the longest prefix with `prompt`
  // (when that keeps at least half of its cache; else an empty or the least
  // recently used slot).
  // Returns null on timeout or after Shutdown().
  std::unique_ptr<Lease> Acquire(std::span<const int32_t> prompt, std::chrono::milliseconds timeout);
  // Wakes every waiter with a null lease and refuses new ones.
  void Shutdown();

  int size() const { return static_cast<int>(slots_.size()); }
  int context_length() const { return context_length_; }
  int waiting() const;
  int busy() const;

 private:
  struct Slot {
    std::unique_ptr<KvCache> cache;
    std::vector<int32_t> cached;
    bool busy = false;
    uint64_t last_used = 0;
  };
  void Release(int index);
  int PickFree(std::span<const int32_t> prompt) const;  // caller holds mu_

  const int context_length_;
  std::vector<Slot> slots_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<uint64_t> queue_;  // tickets of waiting requests, oldest first
  uint64_t next_ticket_ = 0;
  uint64_t use_clock_ = 0;
  int n_busy_ = 0;
  bool shut_down_ = false;
};

}  // namespace bitnet::server
