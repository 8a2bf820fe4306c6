#include "app/server/slot_pool.h"

#include <algorithm>

#include "util/error.h"

namespace bitnet::server {

SlotPool::SlotPool(const Model& model, int n_slots, int context_length) : context_length_(context_length) {
  Check(n_slots >= 1, "--parallel", "needs at least one slot");
  slots_.resize(n_slots);
  for (Slot& s : slots_) s.cache = model.NewCache(context_length);
}

SlotPool::~SlotPool() = default;

SlotPool::Lease::~Lease() { pool_.Release(index_); }

KvCache& SlotPool::Lease::cache() { return *pool_.slots_[index_].cache; }
std::vector<int32_t>& SlotPool::Lease::cached_tokens() { return pool_.slots_[index_].cached; }

int SlotPool::PickFree(std::span<const int32_t> prompt) const {
  // A slot is worth reusing when the prompt keeps at least half of its cache
  // (llama-server's similarity rule): then the longest shared prefix wins.
  // Otherwise take an empty slot, else the least recently used one, so a
  // prompt that merely shares <|begin_of_text|> does not wipe a useful cache.
  int reuse = -1, empty = -1, oldest = -1;
  size_t reuse_shared = 0;
  for (int i = 0; i < size(); ++i) {
    const Slot& s = slots_[i];
    if (s.busy) continue;
    const std::vector<int32_t>& cached = s.cached;
    const size_t n = std::min(cached.size(), prompt.size());
    const size_t shared = static_cast<size_t>(std::mismatch(cached.begin(), cached.begin() + n, prompt.begin()).first -
                                              cached.begin());
    if (shared > 0 && 2 * shared >= cached.size() && shared > reuse_shared) {
      reuse = i;
      reuse_shared = shared;
    }
    if (cached.empty() && empty < 0) empty = i;
    if (oldest < 0 || s.last_used < slots_[oldest].last_used) oldest = i;
  }
  return reuse >= 0 ? reuse : empty >= 0 ? empty : oldest;
}

std::unique_ptr<SlotPool::Lease> SlotPool::Acquire(std::span<const int32_t> prompt, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (shut_down_) return nullptr;
  const uint64_t ticket = next_ticket_++;
  queue_.push_back(ticket);
  // A waiter may take a slot once fewer requests are ahead of it than slots are free.
  auto my_turn = [&] {
    if (shut_down_) return true;
    const int free = size() - n_busy_;
    int ahead = 0;
    for (uint64_t t : queue_) {
      if (t == ticket) break;
      ++ahead;
    }
    return ahead < free;
  };
  const bool ready = cv_.wait_for(lock, timeout, my_turn);
  queue_.remove(ticket);
  if (!ready || shut_down_) {
    cv_.notify_all();  // those behind may now be first
    return nullptr;
  }
  const int index = PickFree(prompt);
  Slot& s = slots_[index];
  s.busy = true;
  s.last_used = ++use_clock_;
  ++n_busy_;
  return std::make_unique<Lease>(*this, index);
}

void SlotPool::Release(int index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    slots_[index].busy = false;
    --n_busy_;
  }
  cv_.notify_all();
}

void SlotPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
  }
  cv_.notify_all();
}

int SlotPool::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(queue_.size());
}

int SlotPool::busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return n_busy_;
}

}  // namespace bitnet::server
