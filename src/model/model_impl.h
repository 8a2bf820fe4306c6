// Model::Impl and the load steps model.cpp composes.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "bitnet/bitnet.h"
#include "model/forward.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

namespace bitnet {

namespace gguf {
class File;
}

struct Model::Impl {
  ModelWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> transformer;
  std::string device_line;
  std::string kv_type;  // Options::kv_type
  // Activations lent to forward calls that bring none; one per concurrent call.
  std::mutex spare_activations_mu;
  std::vector<std::unique_ptr<Activations>> spare_activations;


  const Tokenizer& tok() const;
};

// Weights from an HF directory or any GGUF file; *gguf_out receives the
// opened GGUF (for its tokenizer) when path is a file.
ModelWeights LoadWeights(const std::string& path, const Options& options, std::shared_ptr<gguf::File>* gguf_out);

// The tokenizer of a model: tokenizer.json beside an HF directory's weights,
// or the tokenizer.ggml.* arrays of a GGUF file. Null when there is none.
std::unique_ptr<Tokenizer> LoadTokenizerFor(const std::string& path, const gguf::File* gguf_file);

// GGUF files from bitnet.cpp and llama.cpp (I2_S, TQ2_0, TQ1_0).
ModelWeights LoadForeignGguf(std::shared_ptr<gguf::File> file, const Options& options);

// --output-type: "auto" | "bf16" | "int8" for the output matrix.
void ApplyOutputType(ModelWeights& weights, const std::string& output_type);
// --ffn-act: auto keeps the loader's choice; relu2 / silu override it (and say so in Describe).
void ApplyFfnActivation(ModelWeights& weights, const std::string& ffn_act);

// The text `bitnet info` prints.
std::string DescribeWeights(const ModelWeights& weights, const Tokenizer* tokenizer);

}  // namespace bitnet
