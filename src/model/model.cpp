// Model: the public API over loaders, the forward pass and the tokenizer.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sstream>

#include "backend/device.h"
#include "bitnet/bitnet.h"
#include "formats/gguf.h"
#include "model/forward.h"
#include "model/load_hf.h"
#include "model/model_impl.h"
#include "model/native_gguf.h"
#include "tokenizer/chat_format.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace bitnet {

const char* Version() { return "0.1.0"; }

KvCache::KvCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KvCache::~KvCache() = default;
int KvCache::capacity() const { return impl_->capacity; }

Activations::Activations(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Activations::~Activations() = default;

std::unique_ptr<Tokenizer> LoadTokenizerFor(const std::string& path, const gguf::File* gguf_file) {
  namespace fs = std::filesystem;
  if (gguf_file != nullptr) {
    if (!gguf_file->Has("tokenizer.ggml.tokens")) return nullptr;
    std::vector<int64_t> types64 = gguf_file->GetIntArray("tokenizer.ggml.token_type");
    std::vector<int32_t> types(types64.begin(), types64.end());
    return std::make_unique<Tokenizer>(Tokenizer::FromVocab(gguf_file->GetStringArray("tokenizer.ggml.tokens"),
                                                            gguf_file->GetStringArray("tokenizer.ggml.merges"),
                                                            std::move(types), path));
  }
  const fs::path json = fs::path(path) / "tokenizer.json";
  if (!fs::exists(json)) return nullptr;
  return std::make_unique<Tokenizer>(Tokenizer::FromJsonFile(json.string()));
}

namespace {

std::string DefaultXclbinDir() {
  if (const char* env = std::getenv("BITNET_XCLBIN_DIR"); env != nullptr && *env != '\0') return env;
  return "build/npu";
}

}  // namespace

ModelWeights LoadWeights(const std::string& path, const Options& options, std::shared_ptr<gguf::File>* gguf_out) {
  namespace fs = std::filesystem;
  if (!fs::exists(path)) throw Error(path + ": no such file or directory");
  if (fs::is_directory(path)) return LoadHfDirectory(path, options.packed_scale);
  std::shared_ptr<gguf::File> file = gguf::File::Open(path);
  *gguf_out = file;
  const std::string arch = file->GetString("general.architecture");
  if (arch == kNativeArch) return LoadNativeGguf(file);
  return LoadForeignGguf(file, options);
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::Load(const std::string& path, const Options& options) {
  auto impl = std::make_unique<Impl>();
  std::shared_ptr<gguf::File> gguf_file;
  impl->weights = LoadWeights(path, options, &gguf_file);
  impl->tokenizer = LoadTokenizerFor(path, gguf_file.get());
  if (impl->tokenizer != nullptr)
    Check(impl->tokenizer->vocab_size() <= impl->weights.config.vocab, path,
          "tokenizer has " + std::to_string(impl->tokenizer->vocab_size()) + " tokens but the model only " +
              std::to_string(impl->weights.config.vocab));
  Check(options.kv_type == "auto" || options.kv_type == "f16" || options.kv_type == "f32", "--kv-type",
        "expected auto, f16 or f32, got '" + options.kv_type + "'");
  impl->kv_type = options.kv_type;
  ApplyOutputType(impl->weights, options.output_type);
  ApplyFfnActivation(impl->weights, options.ffn_act);
  const int threads = options.n_threads > 0 ? options.n_threads : ThreadPool::HardwareThreads();
  impl->pool = std::make_unique<ThreadPool>(threads);
  BackendChoice choice = MakeBackend(ParseDevice(options.device),
                                     options.xclbin_dir.empty() ? DefaultXclbinDir() : options.xclbin_dir,
                                     impl->pool.get());
  impl->backend = std::move(choice.backend);
  impl->device_line = choice.reason;
  if (options.verbose) std::fprintf(stderr, "%s\n", impl->device_line.c_str());
  impl->transformer = std::make_unique<Transformer>(impl->weights, *impl->backend, *impl->pool);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const ModelConfig& Model::config() const { return impl_->weights.config; }
const std::string& Model::device_line() const { return impl_->device_line; }

std::string Model::Describe() const { return DescribeWeights(impl_->weights, impl_->tokenizer.get()); }

std::unique_ptr<KvCache> Model::NewCache(int length) const {
  const ModelConfig& c = config();
  Check(length >= 1 && length <= c.max_context, "-c",
        "context length " + std::to_string(length) + " is outside [1, " + std::to_string(c.max_context) + "]");
  return std::make_unique<KvCache>(
      std::make_unique<KvCache::Impl>(c.n_layers, length, c.n_kv_heads * c.head_dim, impl_->kv_type));
}

namespace {

// Activations lent from the model's spares for one call, returned at the end
// of it (also when the call throws); a new one when all are in use.
class BorrowedActivations {
 public:
  explicit BorrowedActivations(Model::Impl& model) : model_(model) {
    {
      std::lock_guard<std::mutex> lock(model_.spare_activations_mu);
      if (!model_.spare_activations.empty()) {
        activations_ = std::move(model_.spare_activations.back());
        model_.spare_activations.pop_back();
      }
    }
    if (activations_ == nullptr) activations_ = std::make_unique<Activations>(std::make_unique<Activations::Impl>());
  }
  ~BorrowedActivations() {
    std::lock_guard<std::mutex> lock(model_.spare_activations_mu);
    model_.spare_activations.push_back(std::move(activations_));
  }
  BorrowedActivations(const BorrowedActivations&) = delete;
  BorrowedActivations& operator=(const BorrowedActivations&) = delete;
  Activations::Impl& get() { return activations_->impl(); }

 private:
  Model::Impl& model_;
  std::unique_ptr<Activations> activations_;
};

}  // namespace

std::vector<float> Model::Forward(std::span<const int32_t> tokens, KvCache& cache, int start_pos, int n_logits,
                                  Activations* activations) {
  const BatchItem one[] = {{tokens, cache, start_pos, n_logits}};
  return ForwardBatch(one, activations);
}

std::unique_ptr<Activations> Model::NewActivations() const {
  return std::make_unique<Activations>(std::make_unique<Activations::Impl>());
}

std::vector<float> Model::ForwardBatch(std::span<const BatchItem> batch, Activations* activations) {
  Check(!batch.empty(), "forward", "empty batch");
  const int64_t vocab = config().vocab;
  std::vector<SequenceStep> steps;  // [batch]
  int64_t total_logits = 0;
  for (const BatchItem& item : batch) {
    Check(!item.tokens.empty(), "forward", "no tokens");
    const int n = static_cast<int>(item.tokens.size());
    const int n_logits = std::clamp(item.n_logits, 0, n);
    steps.push_back({item.tokens.data(), n, item.start_pos, &item.cache.impl(), n_logits, nullptr});
    total_logits += n_logits;
  }
  std::vector<float> logits(static_cast<size_t>(total_logits * vocab));  // [total_logits][vocab]
  float* next = logits.data();
  for (SequenceStep& step : steps) {
    step.logits = next;
    next += static_cast<size_t>(step.n_logits) * vocab;
  }

  if (activations != nullptr) {
    impl_->transformer->Forward(steps, activations->impl());
  } else {
    BorrowedActivations scratch(*impl_);
    impl_->transformer->Forward(steps, scratch.get());
  }
  return logits;
}

const SamplingParams& Model::DefaultSampling() const { return impl_->weights.sampling; }

bool Model::has_tokenizer() const { return impl_->tokenizer != nullptr; }

const Tokenizer& Model::Impl::tok() const {
  if (tokenizer == nullptr)
    throw Error(weights.source + ": no tokenizer (put tokenizer.json in the model directory, or convert with it)");
  return *tokenizer;
}

std::vector<int32_t> Model::Tokenize(const std::string& text, bool parse_special) const {
  return impl_->tok().Encode(text, parse_special);
}

std::string Model::Detokenize(std::span<const int32_t> ids) const { return impl_->tok().Decode(ids); }

std::string Model::TokenBytes(int32_t id) const { return impl_->tok().TokenBytes(id); }

std::vector<int32_t> Model::EncodeChat(std::span<const ChatTurn> messages, bool add_generation_prompt) const {
  std::vector<ChatMessage> converted;
  for (const ChatTurn& m : messages) converted.push_back({m.role, m.content});
  return bitnet::EncodeChat(impl_->tok(), converted, add_generation_prompt);
}

bool Model::IsControlToken(int32_t id) const {
  return impl_->tokenizer != nullptr && impl_->tokenizer->IsSpecial(id);
}

bool Model::IsEndOfGeneration(int32_t id) const {
  if (impl_->tokenizer != nullptr) return IsEndOfTurn(*impl_->tokenizer, id);
  return id == config().eos_id;
}

struct TextStream::Impl {
  const Model& model;
  Utf8StreamDecoder decoder;
};

TextStream::TextStream(const Model& model) : impl_(new Impl{model, {}}) {}
TextStream::~TextStream() = default;

std::string TextStream::Push(int32_t id) {
  // Control tokens (end of turn, headers, reserved ids) are not text: like
  // llama-cli, a stream does not print them.
  if (impl_->model.IsEndOfGeneration(id) || impl_->model.IsControlToken(id)) return "";
  return impl_->decoder.Push(impl_->model.TokenBytes(id));
}

std::string TextStream::Flush() { return impl_->decoder.Flush(); }

}  // namespace bitnet
