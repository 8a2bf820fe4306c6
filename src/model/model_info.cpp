#include <cmath>
#include <sstream>

#include "model/model_impl.h"
#include "util/error.h"

namespace bitnet {

void ApplyOutputType(ModelWeights& m, const std::string& output_type) {
  Check(output_type == "auto" || output_type == "bf16" || output_type == "int8", "--output-type",
        "expected auto, bf16 or int8, got '" + output_type + "'");
  if (output_type != "int8" || m.output.type == DenseType::kI8Row) return;
  // int8 per row: q = round_half_even(w * 127 / max|w_row|), value = q * max/127.
  const DenseMatrixView src = m.output;
  std::vector<int8_t> q(static_cast<size_t>(src.rows * src.cols));
  std::vector<float> scales(static_cast<size_t>(src.rows));
  std::vector<float> row(static_cast<size_t>(src.cols));
  for (int64_t r = 0; r < src.rows; ++r) {
    DenseRow(src, r, row.data());
    float max_abs = 0.0f;
    for (float v : row) max_abs = std::max(max_abs, std::fabs(v));
    const float scale = max_abs > 0 ? max_abs / 127.0f : 1.0f;
    for (int64_t c = 0; c < src.cols; ++c)
      q[r * src.cols + c] = static_cast<int8_t>(std::clamp(std::nearbyint(row[c] / scale), -127.0f, 127.0f));
    scales[r] = scale;
  }
  m.output.type = DenseType::kI8Row;
  m.output.data = m.Own(std::move(q));
  m.output.row_scales = m.Own(std::move(scales));
}

std::string DescribeWeights(const ModelWeights& m, const Tokenizer* tokenizer) {
  const ModelConfig& c = m.config;
  std::ostringstream out;
  out << "source:        " << m.source << "\n"
      << "format:        " << m.container << ", ternary weights from " << m.format << "\n"
      << "config:        hidden " << c.hidden << ", layers " << c.n_layers << ", heads " << c.n_heads << " (kv "
      << c.n_kv_heads << ", dim " << c.head_dim << "), ffn " << c.ffn << ", vocab " << c.vocab << ", context "
      << c.max_context << ", rope theta " << c.rope_theta << ", rms eps " << c.norm_eps << "\n"
      << "ffn gate:      " << m.activation_note << "\n"
      << "scales:        " << m.scale_convention << "\n";
  int64_t ternary_bytes = 0, ternary_weights = 0, n_tensors = 0;
  for (const LayerWeights& L : m.layers)
    for (const BitLinearWeights* bl : {&L.qkv, &L.o, &L.gate_up, &L.down}) {
      ternary_bytes += static_cast<int64_t>(bl->w.size_bytes());
      ternary_weights += bl->w.rows * bl->w.cols;
      n_tensors += static_cast<int64_t>(bl->ranges.size());
    }
  const int64_t norm_count = 1 + 4 * static_cast<int64_t>(m.layers.size());
  const bool tied = m.output.data == m.embed.data;
  out << "tensors:       " << n_tensors << " ternary projections (fused into " << 4 * m.layers.size()
      << " matrices), " << norm_count << " norms, embedding" << (tied ? " (tied output)" : " + output") << "\n"
      << "ternary:       " << ternary_weights << " weights, " << ternary_bytes << " bytes (2 bits each, packed rows)\n"
      << "embedding:     " << DenseTypeName(m.embed.type) << ", "
      << m.embed.rows * m.embed.cols * m.embed.bytes_per_element() << " bytes\n"
      << "output matrix: " << DenseTypeName(m.output.type) << (tied && m.output.type == m.embed.type ? " (shared with the embedding)" : "")
      << ", " << m.output.rows * m.output.cols * m.output.bytes_per_element() << " bytes\n"
      << "tokenizer:     ";
  if (tokenizer != nullptr)
    out << tokenizer->vocab_size() << " tokens (bos " << tokenizer->bos_id() << ", eos " << tokenizer->eos_id() << ", eot "
        << tokenizer->eot_id() << ")\n";
  else
    out << "none\n";
  return out.str();
}

}  // namespace bitnet
