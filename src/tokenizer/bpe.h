// Byte-level BPE over one pre-tokenized piece: merge ranks keyed by the pair of token ids.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/string_index.h"

namespace bitnet {

struct BpeScratch;

class BpeModel {
 public:
  BpeModel() = default;
  // byte_level[id]: the token's byte-level spelling; token_bytes[id]: its raw bytes; is_added[id]:
  // special/user tokens, which BPE never produces. merges: "left right" in rank order (byte-level).
  // where: the source and field named in errors, e.g. "tokenizer.json: model.merges".
  BpeModel(const std::vector<std::string>& byte_level, const std::vector<std::string>& token_bytes,
           const std::vector<bool>& is_added, const std::vector<std::string>& merges, bool ignore_merges,
           const std::string& where);

  // Appends the ids of one piece (raw bytes). Throws Error when a byte has no token of its own.
  void EncodePiece(std::string_view piece, std::vector<int32_t>& ids, BpeScratch& scratch) const;

  // The id of the non-added token whose raw bytes are exactly `bytes`, or -1.
  int32_t Find(std::string_view bytes) const;

 private:
  // Open addressing keyed by the id pair: the inner loop of encoding and of loading looks merges up.
  struct MergeSlot {
    uint64_t pair;  // kEmptyPair when unused
    int32_t rank;
    int32_t merged_id;
  };
  static constexpr uint64_t kEmptyPair = ~uint64_t{0};
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  size_t SlotOf(uint64_t pair) const;
  const MergeSlot* FindMerge(int32_t left, int32_t right) const;

  StringIndex id_of_bytes_;
  std::vector<MergeSlot> merge_slots_;
  int32_t byte_token_[256] = {};
  bool ignore_merges_ = false;
};

// Working memory for EncodePiece, reused across pieces so encoding does not allocate per piece.
struct BpeScratch {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    int32_t rank;
    int32_t left;
    int32_t right;
    int32_t left_id;
    int32_t right_id;
    int32_t merged_id;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

}  // namespace bitnet
