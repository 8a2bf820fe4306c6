#include <cmath>
#include <sstream>

#include "kernels/output_int8.h"
#include "model/model_impl.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace bitnet {

// --output-type auto: int8 once the float matrix passes this size. There the
// output pass is a memory-bound read of the whole matrix every token, and int8
// halves it: on the 2B shape decode goes from 8.5 to 12 tokens/s at a logit
// error of 0.8% of the range and 94% top-1 agreement on random weights
// (docs/PERFORMANCE.md, tests/perf_paths_test.cpp). Smaller matrices stay in
// CPU caches, where int8 saves nothing and the float matrix is exact.
constexpr int64_t kAutoInt8AboveBytes = int64_t{64} << 20;


namespace {

// The int8-per-row form of a float matrix, built in parallel straight into
// the buffers the weights keep (no full-size temporary).
void BuildInt8Output(ModelWeights& m) {
  const DenseMatrixView src = m.output;
  auto q = std::make_shared<std::vector<int8_t>>(static_cast<size_t>(src.rows * src.cols));
  auto scales = std::make_shared<std::vector<float>>(static_cast<size_t>(src.rows));
  auto sums = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(src.rows));
  ThreadPool pool(ThreadPool::HardwareThreads());
  pool.ParallelFor(src.rows, 256, [&](int64_t begin, int64_t end) {
    DenseMatrixView part = src;
    part.rows = end - begin;
    part.data = static_cast<const uint8_t*>(src.data) + begin * src.cols * src.bytes_per_element();
    int8_t* out = q->data() + begin * src.cols;
    QuantizeDenseRowsInt8(part, out, scales->data() + begin);
    Int8RowSums(out, part.rows, src.cols, sums->data() + begin);
  });
  m.storage.push_back(q);
  m.storage.push_back(scales);
  m.storage.push_back(sums);
  m.output.int8_data = q->data();
  m.output.int8_scales = scales->data();
  m.output.int8_sums = sums->data();
}

}  // namespace

void ApplyOutputType(ModelWeights& m, const std::string& output_type) {
  Check(output_type == "auto" || output_type == "bf16" || output_type == "int8", "--output-type",
        "expected auto, bf16 or int8, got '" + output_type + "'");
  const int64_t float_bytes = m.output.rows * m.output.cols * m.output.bytes_per_element();
  const std::string chosen =
      output_type != "auto" ? output_type : float_bytes > kAutoInt8AboveBytes ? "int8" : "bf16";
  if (chosen != "int8" || m.output.type == DenseType::kI8Row) return;
  // A converted file carries the int8 form; other sources build it here.
  if (m.output.int8_data == nullptr) BuildInt8Output(m);
  DenseMatrixView& o = m.output;
  o.type = DenseType::kI8Row;
  o.data = o.int8_data;
  o.row_scales = o.int8_scales;
  o.row_sums = o.int8_sums;
}

void ApplyFfnActivation(ModelWeights& m, const std::string& ffn_act) {
  Check(ffn_act == "auto" || ffn_act == "relu2" || ffn_act == "silu", "--ffn-act",
        "expected auto, relu2 or silu, got '" + ffn_act + "'");
  if (ffn_act == "auto") return;
  const bool was = m.config.relu2;
  m.config.relu2 = ffn_act == "relu2";
  // Keep the loader's reasoning visible: it is what a user overriding it wants to compare against.
  m.activation_note = std::string(m.config.relu2 ? "relu^2" : "SiLU") + " FFN gate (--ffn-act " + ffn_act +
                      "; the file alone gives " + (was ? "relu^2" : "SiLU") + ": " + m.activation_note + ")";
}

uint64_t Model::weight_bytes() const {
  const ModelWeights& m = impl_->weights;
  auto floats = [](const std::vector<float>& v) { return static_cast<uint64_t>(v.size() * sizeof(float)); };
  auto dense = [](const DenseMatrixView& d) { return static_cast<uint64_t>(d.rows * d.cols * d.bytes_per_element()); };
  uint64_t n = dense(m.embed) + floats(m.final_norm);
  if (m.output.data != m.embed.data) n += dense(m.output);
  for (const LayerWeights& L : m.layers) {
    n += floats(L.attn_norm) + floats(L.attn_sub_norm) + floats(L.ffn_norm) + floats(L.ffn_sub_norm);
    for (const BitLinearWeights* bl : {&L.qkv, &L.o, &L.gate_up, &L.down})
      n += bl->w.size_bytes() + floats(bl->block_scales) + bl->ranges.size() * sizeof(RowRangeScale);
  }
  return n;
}

std::string DescribeWeights(const ModelWeights& m, const Tokenizer* tokenizer) {
  const ModelConfig& c = m.config;
  // Container, format and notes quote strings from the file itself.
  auto text = [](const std::string& s) { return Printable(s, 1024); };
  std::ostringstream out;
  out << "source:        " << text(m.source) << "\n"
      << "format:        " << text(m.container) << ", ternary weights from " << text(m.format) << "\n"
      << "config:        hidden " << c.hidden << ", layers " << c.n_layers << ", heads " << c.n_heads << " (kv "
      << c.n_kv_heads << ", dim " << c.head_dim << "), ffn " << c.ffn << ", vocab " << c.vocab << ", context "
      << c.max_context << ", rope theta " << c.rope_theta << ", rms eps " << c.norm_eps << "\n"
      << "ffn gate:      " << text(m.activation_note) << "\n"
      << "scales:        " << text(m.scale_convention) << "\n";
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
