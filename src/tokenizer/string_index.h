// A flat, open-addressing map from byte strings to token ids. Loading a vocabulary does about a million
// lookups, and node-based std::unordered_map spent most of the load time on cache misses.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet {

class StringIndex {
 public:
  StringIndex() = default;
  // Room for `count` keys without growing.
  explicit StringIndex(size_t count);

  // Adds key -> id unless key is already present (the first id wins). Returns whether it was added.
  bool Insert(std::string_view key, int32_t id);
  // The id stored for key, or -1.
  int32_t Find(std::string_view key) const;
  size_t size() const { return count_; }

 private:
  // Everything a lookup needs but the key bytes sits in the slot, so a hit costs two cache misses.
  struct Slot {
    uint32_t hash;
    int32_t id;  // -1 when empty
    uint32_t offset;
    uint32_t length;
  };
  static uint64_t Hash(std::string_view key);
  std::string_view KeyOf(const Slot& slot) const { return std::string_view(arena_).substr(slot.offset, slot.length); }
  void Grow();

  std::vector<Slot> slots_;  // power-of-two size, at most half full
  std::string arena_;        // all keys back to back
  size_t count_ = 0;
};

}  // namespace bitnet
