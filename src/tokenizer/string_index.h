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
  struct Slot {
    uint32_t hash;
    int32_t entry;  // index into offsets_, -1 when empty
  };
  static uint64_t Hash(std::string_view key);
  std::string_view KeyOf(int32_t entry) const {
    return std::string_view(arena_).substr(offsets_[entry], offsets_[entry + 1] - offsets_[entry]);
  }
  void Grow();

  std::vector<Slot> slots_;  // power-of-two size, at most half full
  std::string arena_;        // all keys back to back
  std::vector<uint32_t> offsets_{0};
  std::vector<int32_t> ids_;
  size_t count_ = 0;
};

}  // namespace bitnet
