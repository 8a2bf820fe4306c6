// What the batch scheduler's steps looked like, for /metrics: how many
// sequences and tokens each forward pass held, and how many requests wait.
#pragma once
#include <array>
#include <cstdint>

namespace bitnet::server {

struct SchedulerStats {
  // Upper bounds of the sequences-per-step histogram buckets (--parallel is at most 64).
  static constexpr std::array<int, 7> kSequenceBuckets = {1, 2, 4, 8, 16, 32, 64};

  uint64_t steps = 0;            // forward passes run
  uint64_t step_sequences = 0;   // sequences in them, summed
  uint64_t step_tokens = 0;      // tokens in them, summed
  int last_sequences = 0;
  int last_tokens = 0;
  std::array<uint64_t, kSequenceBuckets.size()> sequence_buckets{};  // steps with <= bound sequences (not cumulative)
  int prefilling = 0;  // admitted requests whose prompt has not all run yet
  int decoding = 0;

  void RecordStep(int sequences, int tokens) {
    ++steps;
    step_sequences += static_cast<uint64_t>(sequences);
    step_tokens += static_cast<uint64_t>(tokens);
    last_sequences = sequences;
    last_tokens = tokens;
    for (size_t b = 0; b < kSequenceBuckets.size(); ++b) {
      if (sequences <= kSequenceBuckets[b]) {
        ++sequence_buckets[b];
        break;
      }
    }
  }
};

}  // namespace bitnet::server
