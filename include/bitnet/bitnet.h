// bitnet-npu public API: load a BitNet b1.58 model, run it, sample from it.
//
// Mirrors the seed's Python API: ModelArgs(use_kernel, xclbin_dir) -> Options,
// Transformer -> Model, make_cache(args, length) -> Model::NewCache(length),
// model(tokens, cache, start_pos) -> Model::Forward(tokens, cache, start_pos).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace bitnet {

const char* Version();

// The model's hyperparameters (docs/MODEL.md).
struct ModelConfig {
  int hidden = 2560;
  int n_layers = 30;
  int n_heads = 20;
  int n_kv_heads = 5;
  int head_dim = 128;
  int ffn = 6912;
  int vocab = 128256;
  int max_context = 4096;
  float norm_eps = 1e-5f;
  float rope_theta = 500000.0f;
  bool relu2 = true;  // FFN gate activation: relu(x)^2 (BitNet b1.58); false = SiLU
  int32_t bos_id = 128000;
  int32_t eos_id = 128001;
};

struct Options {
  int n_threads = 0;                   // 0: every hardware thread
  std::string device = "auto";         // auto | cpu | npu | npu-emu
  std::string xclbin_dir;              // empty: $BITNET_XCLBIN_DIR, else build/npu/<npu1|npu2>
  std::string output_type = "auto";    // tied output matrix: auto | bf16 | int8
  std::string packed_scale = "auto";   // packed HF weight_scale: auto | multiply | divide
  std::string kv_type = "auto";        // KV cache: auto (f16 for big caches, else f32) | f16 | f32
  std::string ffn_act = "auto";        // FFN gate: auto (what the file says or implies) | relu2 | silu
  bool verbose = true;                 // print the one-line device choice to stderr
};

// Key/value cache for one sequence. Holds positions [0, capacity()).
class KvCache {
 public:
  ~KvCache();
  int capacity() const;
  struct Impl;
  explicit KvCache(std::unique_ptr<Impl> impl);
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Scratch memory of one forward pass (the activations of every layer). A
// forward call with its own Activations needs no lock: several threads may
// run Forward / ForwardBatch at once, each with its own Activations and caches.
class Activations {
 public:
  ~Activations();
  struct Impl;
  explicit Activations(std::unique_ptr<Impl> impl);
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// One sequence of a batched forward pass: tokens at positions
// [start_pos, start_pos + tokens.size()) of the sequence whose keys/values
// are in cache, and logits wanted for its last n_logits tokens (0: none,
// e.g. for a prompt chunk that is not the last).
struct BatchItem {
  std::span<const int32_t> tokens;
  KvCache& cache;
  int start_pos = 0;
  int n_logits = 1;
};

struct ChatTurn {
  std::string role;  // system | user | assistant
  std::string content;
};

struct SamplingParams {
  float temperature = 0.6f;  // 0: greedy
  int top_k = 40;            // 0: off
  float top_p = 0.9f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  uint64_t seed = 0;
  // Throws Error naming the CLI flag of the first value out of range (--temp, --top-k, ...).
  void Validate() const;
};

class Model {
 public:
  // MODEL is a Hugging Face directory (config.json + safetensors) or a GGUF
  // file. Throws bitnet::Error (a std::runtime_error) naming file and field.
  static std::unique_ptr<Model> Load(const std::string& path, const Options& options = {});
  ~Model();

  const ModelConfig& config() const;
  // Human-readable description: format, tensor counts, bytes, scale convention.
  std::string Describe() const;
  // Bytes of the weights as loaded (ternary matrices, scales, norms, embedding,
  // a separate output matrix): llama-bench's model_size.
  uint64_t weight_bytes() const;
  // Which backend runs the BitLinears, and why (one line).
  const std::string& device_line() const;

  // A cache for up to `length` positions (<= config().max_context).
  std::unique_ptr<KvCache> NewCache(int length) const;

  // Runs tokens at positions [start_pos, start_pos + tokens.size()) through
  // the model, writing their keys/values into cache. Returns logits
  // [n][vocab] for the last n positions (n = 1: next-token logits; n =
  // tokens.size(): every position). One token is the decode path, several
  // the prefill path; both give the same numbers.
  // A batch of one sequence.
  std::vector<float> Forward(std::span<const int32_t> tokens, KvCache& cache, int start_pos, int n_logits = 1,
                             Activations* activations = nullptr);

  // Runs every sequence of the batch one step, each BitLinear once for all
  // their tokens; attention reads each sequence's own cache. Caches must be
  // distinct. Returns the logits of every item in order, item i's n_logits
  // rows of [vocab] after those of items 0..i-1. A sequence's logits are
  // bit-identical whatever it is batched with. activations: scratch owned by
  // the caller (null: borrowed from a pool inside the model for the call).
  std::vector<float> ForwardBatch(std::span<const BatchItem> batch, Activations* activations = nullptr);

  // Scratch for forward calls, reusable call after call (one call at a time).
  std::unique_ptr<Activations> NewActivations() const;

  // Tokenizer (available when the model came with one).
  bool has_tokenizer() const;
  std::vector<int32_t> Tokenize(const std::string& text, bool parse_special = false) const;
  std::string Detokenize(std::span<const int32_t> ids) const;
  std::string TokenBytes(int32_t id) const;
  std::vector<int32_t> EncodeChat(std::span<const ChatTurn> messages, bool add_generation_prompt = true) const;
  bool IsEndOfGeneration(int32_t id) const;  // <|eot_id|> or <|end_of_text|>
  bool IsControlToken(int32_t id) const;     // special tokens such as <|eot_id|>, headers, reserved ids

  // The model's own sampling defaults: an HF directory's generation_config.json
  // (carried into converted files), else the published temperature 0.6, top-p 0.9.
  const SamplingParams& DefaultSampling() const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns generated ids into text for streaming: Push returns only complete
// UTF-8 characters, so no write ever splits one; end-of-turn ids print nothing.
class TextStream {
 public:
  explicit TextStream(const Model& model);
  ~TextStream();
  std::string Push(int32_t id);
  std::string Flush();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};


// Picks the next token from logits. Same seed + same logits -> same tokens.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  ~Sampler();
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> history);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct GenerationStats {
  int n_prompt = 0;         // prompt tokens given
  int n_prompt_eval = 0;    // prompt tokens actually run (the rest was reused from the cache)
  int n_generated = 0;
  double prompt_ms = 0.0;   // time to run the prompt
  double ttft_ms = 0.0;     // time to the first generated token
  double gen_ms = 0.0;      // time for the generated tokens after the first
  double prompt_tps() const { return prompt_ms > 0 ? n_prompt_eval * 1000.0 / prompt_ms : 0.0; }
  double gen_tps() const { return gen_ms > 0 && n_generated > 1 ? (n_generated - 1) * 1000.0 / gen_ms : 0.0; }
  // The three lines the CLI prints after a reply (prompt eval, generation, time to first token).
  std::string Format() const;
};

enum class FinishReason { kStop, kLength, kCancelled, kContextFull };

struct GenerationResult {
  std::vector<int32_t> ids;
  FinishReason finish = FinishReason::kLength;
  GenerationStats stats;
};

// A sequence with its KV cache. Run() keeps the longest prefix of the new
// prompt that is already in the cache and only runs the rest, so a chat turn
// or a reused server prompt costs only its new tokens.
class Generator {
 public:
  Generator(Model& model, int context_length);
  ~Generator();

  struct Params {
    int max_tokens = 128;
    bool ignore_eos = false;
    SamplingParams sampling;
  };
  // on_token(id) returns false to stop (finish kCancelled). Throws Error if
  // the prompt does not fit the context.
  GenerationResult Run(std::span<const int32_t> prompt, const Params& params,
                       const std::function<bool(int32_t)>& on_token = nullptr);
  void Reset();
  // Tokens whose keys/values are in the cache.
  const std::vector<int32_t>& cached_tokens() const;
  int context_length() const;

 private:
  Model& model_;
  std::unique_ptr<KvCache> cache_;
  std::vector<int32_t> cached_;
};

// Converts a model (HF directory or GGUF) into this project's single-file
// GGUF: packed ternary weights, scales, norms, embeddings, config and
// tokenizer. Deterministic; never leaves a partial output file.
struct ConvertOptions {
  std::string packed_scale = "auto";  // as Options::packed_scale
  // native: this engine's fast form; i2_s: laid out like bitnet.cpp's official
  // ggml-model-i2_s.gguf; tq2_0 / tq1_0: llama.cpp's ternary types.
  std::string format = "native";
  std::string ffn_act = "auto";  // as Options::ffn_act: the activation the output file records
};
void ConvertModel(const std::string& input, const std::string& output, const ConvertOptions& options = {});

// Random-weight models in exactly the Hugging Face layout, for tests and
// benchmarks: Gaussian master weights (not already ternary, so loading
// exercises ternarization), or the packed form made from the same weights.
struct SynthOptions {
  std::string preset = "tiny";  // tiny | 2b
  uint64_t seed = 1;
  bool packed = false;          // U8 codes + weight_scale ("offline") instead of bf16 ("online")
  std::string linear_class = "autobitlinear";  // packed: autobitlinear stores mean|W|, bitlinear 1/mean|W|
  std::string tokenizer;        // tokenizer.json to copy in, if any
  int shards = 1;               // > 1: model-0000i-of-0000n.safetensors + index
  int vocab = 0;                // > 0: override the preset's vocabulary size
  int n_threads = 0;            // 0: all cores
};
// Writes config.json, generation_config.json, the safetensors file(s) and
// (if given) tokenizer.json into dir. Deterministic for a given seed.
void WriteSyntheticModel(const std::string& dir, const SynthOptions& options);

}  // namespace bitnet
