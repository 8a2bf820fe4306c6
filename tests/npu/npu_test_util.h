// Shared helpers for the NPU tests: random ternary matrices and activations.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/ternary_layout.h"

namespace bitnet::npu_test {

struct RandomTernary {
  std::vector<int8_t> values;  // [rows][cols]
  std::vector<uint8_t> packed;  // CPU layout
  TernaryMatrixView view;
};

inline RandomTernary MakeRandomTernary(int64_t rows, int64_t cols, uint32_t seed) {
  RandomTernary m;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-1, 1);
  m.values.resize(static_cast<size_t>(rows * cols));
  for (auto& v : m.values) v = static_cast<int8_t>(dist(rng));
  m.packed = PackTernaryRows(m.values.data(), rows, cols);
  m.view.rows = rows;
  m.view.cols = cols;
  m.view.cols_padded = TernaryPaddedCols(cols);
  m.view.codes = m.packed.data();
  return m;
}

// [n][cols_padded] int8 over the full range (including -128), zero past cols.
inline std::vector<int8_t> MakeActivations(int n, int64_t cols, int64_t cols_padded, uint32_t seed,
                                           std::vector<int32_t>* sums) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-128, 127);
  std::vector<int8_t> x(static_cast<size_t>(n * cols_padded), 0);
  sums->assign(static_cast<size_t>(n), 0);
  for (int t = 0; t < n; ++t)
    for (int64_t k = 0; k < cols; ++k) {
      const auto v = static_cast<int8_t>(dist(rng));
      x[static_cast<size_t>(t * cols_padded + k)] = v;
      (*sums)[static_cast<size_t>(t)] += v;
    }
  return x;
}

}  // namespace bitnet::npu_test
