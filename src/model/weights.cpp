#include "model/weights.h"

#include <cstring>

namespace bitnet {

BitLinearWeights FuseBitLinear(ModelWeights& m, const std::vector<const int8_t*>& parts,
                               const std::vector<int64_t>& part_rows, const std::vector<float>& scales, int64_t cols) {
  int64_t rows = 0;
  for (int64_t r : part_rows) rows += r;
  std::vector<int8_t> fused(static_cast<size_t>(rows * cols));
  BitLinearWeights out;
  int64_t at = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::memcpy(fused.data() + at * cols, parts[i], static_cast<size_t>(part_rows[i] * cols));
    out.ranges.push_back({at, at + part_rows[i], scales[i]});
    at += part_rows[i];
  }
  const uint8_t* codes = m.Own(PackTernaryRows(fused.data(), rows, cols));
  out.w = TernaryMatrixView{rows, cols, TernaryPaddedCols(cols), codes};
  return out;
}

}  // namespace bitnet
