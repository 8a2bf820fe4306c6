#include "tokenizer/string_index.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "util/error.h"

namespace bitnet {

StringIndex::StringIndex(size_t count) {
  slots_.assign(std::bit_ceil(std::max<size_t>(16, count * 2)), Slot{0, -1, 0, 0});
}

uint64_t StringIndex::Hash(std::string_view key) {
  // Eight bytes per multiply: tokens average a few bytes, so this beats a byte-at-a-time hash.
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = key.size() * kMul;
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) {
    uint64_t chunk;
    std::memcpy(&chunk, key.data() + i, 8);
    h = (h ^ chunk) * kMul;
    h ^= h >> 29;
  }
  if (i < key.size()) {
    uint64_t chunk = 0;
    std::memcpy(&chunk, key.data() + i, key.size() - i);
    h = (h ^ chunk) * kMul;
  }
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  return h ^ (h >> 32);
}

bool StringIndex::Insert(std::string_view key, int32_t id) {
  if (slots_.empty() || (count_ + 1) * 2 > slots_.size()) Grow();
  if (arena_.size() + key.size() > UINT32_MAX) throw Error("tokenizer: vocabulary text exceeds 4 GiB");
  const uint64_t h = Hash(key);
  const auto tag = static_cast<uint32_t>(h);
  const size_t mask = slots_.size() - 1;
  for (size_t i = (h >> 32) & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.id < 0) {
      slot = Slot{tag, id, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size())};
      arena_.append(key);
      ++count_;
      return true;
    }
    if (slot.hash == tag && KeyOf(slot) == key) return false;
  }
}

int32_t StringIndex::Find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const uint64_t h = Hash(key);
  const auto tag = static_cast<uint32_t>(h);
  const size_t mask = slots_.size() - 1;
  for (size_t i = (h >> 32) & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.id < 0) return -1;
    if (slot.hash == tag && KeyOf(slot) == key) return slot.id;
  }
}

void StringIndex::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<size_t>(16, old.size() * 2), Slot{0, -1, 0, 0});
  const size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.id < 0) continue;
    const uint64_t h = Hash(KeyOf(slot));
    size_t i = (h >> 32) & mask;
    while (slots_[i].id >= 0) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

}  // namespace bitnet
