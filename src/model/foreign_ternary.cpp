#include "model/foreign_ternary.h"

#include <cmath>
#include <cstring>

#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "util/error.h"

namespace bitnet {
namespace {

std::string RowCol(int64_t r, int64_t c) { return "row " + std::to_string(r) + ", column " + std::to_string(c); }

// Each block's scale is the one d shared by its non-zero values, 0 if it has none.
void FillBlockScalesFromFloats(ForeignTernary& t, const std::vector<float>& f, const std::string& where) {
  const int64_t nb = BlocksPerRow(t.cols);
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      float d = 0.0f;
      for (int64_t c = b * kScaleBlock; c < std::min(t.cols, (b + 1) * kScaleBlock); ++c) {
        const float v = f[r * t.cols + c];
        Check(std::isfinite(v), where, "non-finite weight at " + RowCol(r, c));
        t.values[r * t.cols + c] = static_cast<int8_t>(v > 0 ? 1 : v < 0 ? -1 : 0);
        if (v == 0.0f) continue;
        if (d == 0.0f) d = std::fabs(v);
        Check(std::fabs(v) == d, where,
              "not ternary-valued: |w| = " + std::to_string(std::fabs(v)) + " at " + RowCol(r, c) +
                  " but " + std::to_string(d) + " earlier in its " + std::to_string(kScaleBlock) + "-weight block");
      }
      t.block_scales[r * nb + b] = d;
    }
}

bool BlockHasValues(const ForeignTernary& t, int64_t r, int64_t b) {
  for (int64_t c = b * kScaleBlock; c < std::min(t.cols, (b + 1) * kScaleBlock); ++c)
    if (t.values[r * t.cols + c] != 0) return true;
  return false;
}

// Row order after llama.cpp's permute, for one head: new row 2i + j holds old row j*dim/2 + i.
int64_t PermutedSource(int64_t new_row, int head_dim) {
  const int64_t h = new_row / head_dim, k = new_row % head_dim, half = head_dim / 2;
  return h * head_dim + (k % 2) * half + k / 2;
}

void MoveRows(ForeignTernary& t, int n_heads, int head_dim, bool forward) {
  Check(head_dim % 2 == 0 && t.rows == static_cast<int64_t>(n_heads) * head_dim, "rope permutation",
        "rows do not form " + std::to_string(n_heads) + " heads of " + std::to_string(head_dim));
  const int64_t nb = BlocksPerRow(t.cols);
  ForeignTernary out = t;
  for (int64_t r = 0; r < t.rows; ++r) {
    const int64_t s = PermutedSource(r, head_dim);
    const int64_t dst = forward ? r : s, src = forward ? s : r;
    std::memcpy(out.values.data() + dst * t.cols, t.values.data() + src * t.cols, static_cast<size_t>(t.cols));
    std::memcpy(out.block_scales.data() + dst * nb, t.block_scales.data() + src * nb, static_cast<size_t>(nb) * 4);
  }
  t = std::move(out);
}

}  // namespace

ForeignTernary DecodeForeignTernary(const gguf::TensorInfo& t, int64_t rows, int64_t cols, const std::string& where) {
  Check(t.dims == std::vector<uint64_t>{static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, where,
        "shape does not match the config: expected [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  Check(t.data != nullptr, where, std::string("type ") + GgmlTypeName(t.type) + " is not known to this build");
  ForeignTernary out;
  out.rows = rows;
  out.cols = cols;
  const int64_t n = rows * cols, nb = BlocksPerRow(cols);
  out.values.resize(static_cast<size_t>(n));
  out.block_scales.assign(static_cast<size_t>(rows * nb), 0.0f);
  std::vector<float> scales;
  switch (t.type) {
    case kGgmlI2_S: {
      // Blocks of 128 run over the flattened tensor; bitnet.cpp's kernels read
      // row r at byte r * cols / 4, so rows must be whole blocks.
      Check(cols % kTernaryBlock == 0, where, "I2_S rows must be a multiple of 128 weights");
      try {
        UnpackTernaryType(t.type, t.data, n, out.values.data(), &scales);
      } catch (const Error& e) {
        throw Error(where + ": " + e.what());
      }
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t b = 0; b < nb; ++b)
          if (BlockHasValues(out, r, b)) out.block_scales[r * nb + b] = scales[0];
      return out;
    }
    case kGgmlTQ2_0:
    case kGgmlTQ1_0: {
      try {
        UnpackTernaryType(t.type, t.data, n, out.values.data(), &scales);
      } catch (const Error& e) {
        throw Error(where + ": " + e.what());
      }
      // cols % 256 == 0 (the reader checked ne0 against the block size): ggml
      // blocks and scale blocks coincide.
      for (int64_t i = 0; i < rows * nb; ++i) {
        const bool used = BlockHasValues(out, i / nb, i % nb);
        Check(!used || (std::isfinite(scales[i]) && scales[i] > 0.0f), where,
              "block " + std::to_string(i) + " has weights but scale " + std::to_string(scales[i]));
        out.block_scales[i] = used ? scales[i] : 0.0f;
      }
      return out;
    }
    case kGgmlF32:
    case kGgmlF16:
    case kGgmlBF16: {
      std::vector<float> f(static_cast<size_t>(n));
      DequantizeRowToF32(t.type, t.data, f.data(), n);
      FillBlockScalesFromFloats(out, f, where);
      return out;
    }
    default:
      throw Error(where + ": type " + GgmlTypeName(t.type) +
                  " is not a ternary type this build reads (I2_S, TQ2_0, TQ1_0, or ternary-valued F32/F16/BF16)");
  }
}

void ApplyTensorScale(ForeignTernary& t, float factor) {
  for (float& d : t.block_scales) d *= factor;
}

void UnpermuteRopeRows(ForeignTernary& t, int n_heads, int head_dim) { MoveRows(t, n_heads, head_dim, false); }
void PermuteRopeRows(ForeignTernary& t, int n_heads, int head_dim) { MoveRows(t, n_heads, head_dim, true); }

ScaleShape ClassifyScales(const ForeignTernary& t, const std::string& where) {
  const int64_t nb = BlocksPerRow(t.cols);
  float first = 0.0f;
  bool uniform = true, per_row = true;
  for (int64_t r = 0; r < t.rows; ++r) {
    float row_d = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const float d = t.block_scales[r * nb + b];
      if (d == 0.0f) continue;
      Check(std::isfinite(d) && d > 0.0f, where, "scale " + std::to_string(d) + " in row " + std::to_string(r));
      if (first == 0.0f) first = d;
      if (row_d == 0.0f) row_d = d;
      uniform = uniform && d == first;
      per_row = per_row && d == row_d;
    }
  }
  return uniform ? ScaleShape::kUniform : per_row ? ScaleShape::kPerRow : ScaleShape::kPerBlock;
}

BitLinearWeights FuseForeignTernary(ModelWeights& m, const std::vector<const ForeignTernary*>& parts,
                                    const std::vector<std::string>& names) {
  const int64_t cols = parts[0]->cols, nb = BlocksPerRow(cols);
  int64_t rows = 0;
  bool per_block = false;
  std::vector<ScaleShape> shapes;
  for (size_t i = 0; i < parts.size(); ++i) {
    Check(parts[i]->cols == cols, names[i], "input width differs from the other fused projections");
    rows += parts[i]->rows;
    shapes.push_back(ClassifyScales(*parts[i], names[i]));
    per_block = per_block || shapes.back() == ScaleShape::kPerBlock;
  }
  BitLinearWeights out;
  std::vector<int8_t> fused(static_cast<size_t>(rows * cols));
  if (per_block) out.block_scales.assign(static_cast<size_t>(rows * nb), 0.0f);
  int64_t at = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const ForeignTernary& p = *parts[i];
    std::memcpy(fused.data() + at * cols, p.values.data(), p.values.size());
    if (per_block) {
      std::memcpy(out.block_scales.data() + at * nb, p.block_scales.data(), p.block_scales.size() * 4);
      out.ranges.push_back({at, at + p.rows, 1.0f});
    } else {
      // One range per run of rows with the same scale; rows without weights
      // join the run before them (their scale multiplies zero).
      float run = 0.0f;
      for (int64_t r = 0; r < p.rows; ++r) {
        float d = 0.0f;
        for (int64_t b = 0; b < nb && d == 0.0f; ++b) d = p.block_scales[r * nb + b];
        if (d == 0.0f) d = run != 0.0f ? run : 1.0f;
        if (r == 0 || d != run) {
          out.ranges.push_back({at + r, at + r + 1, d});
          run = d;
        } else {
          out.ranges.back().end = at + r + 1;
        }
      }
    }
    at += p.rows;
  }
  const uint8_t* codes = m.Own(PackTernaryRows(fused.data(), rows, cols));
  out.w = TernaryMatrixView{rows, cols, TernaryPaddedCols(cols), codes};
  return out;
}

std::vector<float> BlockScalesOf(const BitLinearWeights& bl, int64_t begin, int64_t end) {
  const int64_t nb = BlocksPerRow(bl.w.cols);
  std::vector<float> out(static_cast<size_t>((end - begin) * nb));
  if (!bl.block_scales.empty()) {
    std::memcpy(out.data(), bl.block_scales.data() + begin * nb, out.size() * 4);
    return out;
  }
  for (const RowRangeScale& range : bl.ranges)
    for (int64_t r = std::max(begin, range.begin); r < std::min(end, range.end); ++r)
      for (int64_t b = 0; b < nb; ++b) out[(r - begin) * nb + b] = range.scale;
  return out;
}

}  // namespace bitnet
