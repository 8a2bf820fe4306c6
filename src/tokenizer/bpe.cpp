#include "tokenizer/bpe.h"

#include <algorithm>
#include <bit>
#include <cstdio>

#include "util/error.h"

namespace bitnet {

BpeModel::BpeModel(const std::vector<std::string>& byte_level, const std::vector<std::string>& token_bytes,
                   const std::vector<bool>& is_added, const std::vector<std::string>& merges,
                   bool ignore_merges, const std::string& where)
    : ignore_merges_(ignore_merges) {
  std::fill(std::begin(byte_token_), std::end(byte_token_), -1);
  const auto n = static_cast<int32_t>(byte_level.size());

  size_t mergeable = 0;
  for (int32_t id = 0; id < n; ++id) mergeable += !is_added[id];
  StringIndex id_of_spelling(mergeable);
  id_of_bytes_ = StringIndex(mergeable);
  for (int32_t id = 0; id < n; ++id) {
    if (is_added[id]) continue;
    // A vocabulary listing one spelling twice keeps the lower id, as a string -> id map built in id
    // order would.
    id_of_spelling.Insert(byte_level[id], id);
    id_of_bytes_.Insert(token_bytes[id], id);
    if (token_bytes[id].size() == 1) {
      auto b = static_cast<uint8_t>(token_bytes[id][0]);
      if (byte_token_[b] < 0) byte_token_[b] = id;
    }
  }

  merge_slots_.assign(std::bit_ceil(std::max<size_t>(16, merges.size() * 2)), MergeSlot{kEmptyPair, 0, 0});
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& line = merges[rank];
    auto fail = [&](const std::string& what) {
      throw Error(where + "[" + std::to_string(rank) + "] \"" + Printable(line) + "\": " + what);
    };
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      fail("expected two tokens separated by one space");
    }
    const std::string_view left(line.data(), space);
    const std::string_view right(line.data() + space + 1, line.size() - space - 1);
    const int32_t left_id = id_of_spelling.Find(left);
    const int32_t right_id = id_of_spelling.Find(right);
    if (left_id < 0) fail("left token is not in the vocabulary");
    if (right_id < 0) fail("right token is not in the vocabulary");
    joined.assign(left);
    joined.append(right);
    const int32_t merged_id = id_of_spelling.Find(joined);
    if (merged_id < 0) fail("merged token is not in the vocabulary");
    // Hugging Face builds its merge map by inserting in rank order, so a repeated pair keeps its
    // last rank.
    const uint64_t pair = PairKey(left_id, right_id);
    MergeSlot& slot = merge_slots_[SlotOf(pair)];
    slot = MergeSlot{pair, static_cast<int32_t>(rank), merged_id};
  }
}

size_t BpeModel::SlotOf(uint64_t pair) const {
  const size_t mask = merge_slots_.size() - 1;
  size_t i = static_cast<size_t>((pair * 0x9E3779B97F4A7C15ull) >> 40) & mask;
  while (merge_slots_[i].pair != kEmptyPair && merge_slots_[i].pair != pair) i = (i + 1) & mask;
  return i;
}

const BpeModel::MergeSlot* BpeModel::FindMerge(int32_t left, int32_t right) const {
  if (merge_slots_.empty()) return nullptr;
  const MergeSlot& slot = merge_slots_[SlotOf(PairKey(left, right))];
  return slot.pair == kEmptyPair ? nullptr : &slot;
}

int32_t BpeModel::Find(std::string_view bytes) const {
  return id_of_bytes_.Find(bytes);
}

void BpeModel::EncodePiece(std::string_view piece, std::vector<int32_t>& ids, BpeScratch& scratch) const {
  if (piece.empty()) return;
  if (ignore_merges_ || piece.size() == 1) {
    // With ignore_merges a piece that is itself a token is emitted whole, even where the merges would
    // split it differently.
    if (int32_t whole = Find(piece); whole >= 0) {
      ids.push_back(whole);
      return;
    }
  }

  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  symbols.clear();
  heap.clear();
  const auto count = static_cast<int32_t>(piece.size());
  for (int32_t i = 0; i < count; ++i) {
    const auto byte = static_cast<uint8_t>(piece[i]);
    const int32_t id = byte_token_[byte];
    if (id < 0) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", byte);
      throw Error(std::string("tokenizer: byte ") + hex + " has no token in the vocabulary");
    }
    symbols.push_back({id, i - 1, i + 1 < count ? i + 1 : -1});
  }

  // Lowest rank first; among equal ranks the leftmost pair, as Hugging Face's BPE orders them.
  auto later = [](const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  };
  auto push_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const MergeSlot* merge = FindMerge(symbols[left].id, symbols[right].id);
    if (merge == nullptr) return;
    heap.push_back({merge->rank, left, right, symbols[left].id, symbols[right].id, merge->merged_id});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 0; i + 1 < count; ++i) push_pair(i, i + 1);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const BpeScratch::Candidate top = heap.back();
    heap.pop_back();
    auto& left = symbols[top.left];
    // A candidate goes stale when either side has since merged with something else.
    if (left.next != top.right || left.id != top.left_id || symbols[top.right].id != top.right_id) continue;
    auto& right = symbols[top.right];
    left.id = top.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.id = -1;
    right.next = -1;
    push_pair(left.prev, top.left);
    push_pair(top.left, left.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

}  // namespace bitnet
