// Several sequences decoded together: every step is one ForwardBatch call
// holding the next token of each sequence, so each BitLinear runs once for
// all of them. Prompts of different lengths join in the same first batch.
// Checks that each sequence gets exactly the tokens it gets decoded alone.
//
//   batched_generate MODEL
#include <bitnet/bitnet.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <vector>

namespace {

constexpr int kNewTokens = 8;

// Greedy continuation of one prompt, one sequence at a time.
std::vector<int32_t> GenerateAlone(bitnet::Model& model, const std::vector<int32_t>& prompt) {
  auto cache = model.NewCache(64);
  bitnet::Sampler greedy(bitnet::SamplingParams{.temperature = 0.0f});
  std::vector<float> logits = model.Forward(prompt, *cache, 0);
  std::vector<int32_t> out;
  for (int i = 0; i < kNewTokens; ++i) {
    out.push_back(greedy.Sample(logits, out));
    const int32_t last[1] = {out.back()};
    logits = model.Forward(last, *cache, static_cast<int>(prompt.size()) + i);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL\n", argv[0]);
    return 2;
  }
  try {
    bitnet::Options options;
    options.n_threads = 2;
    options.device = "cpu";
    auto model = bitnet::Model::Load(argv[1], options);
    const int32_t bos = model->config().bos_id;
    const std::vector<std::vector<int32_t>> prompts = {{bos, 11, 12, 13, 14, 15}, {bos, 7}, {bos, 300, 301, 302}};
    const int n_seq = static_cast<int>(prompts.size());
    const int vocab = model->config().vocab;

    std::vector<std::unique_ptr<bitnet::KvCache>> caches;  // one per sequence
    std::vector<std::unique_ptr<bitnet::Sampler>> samplers;  // one per sequence, its own params
    std::vector<std::vector<int32_t>> generated(n_seq);    // [sequence][step]
    std::vector<bitnet::BatchItem> batch;
    for (int s = 0; s < n_seq; ++s) {
      caches.push_back(model->NewCache(64));
      samplers.push_back(std::make_unique<bitnet::Sampler>(bitnet::SamplingParams{.temperature = 0.0f}));
      batch.push_back({prompts[s], *caches[s], 0, 1});
    }
    auto activations = model->NewActivations();  // scratch, reused every step
    std::vector<float> logits = model->ForwardBatch(batch, activations.get());  // [n_seq][vocab]
    for (int i = 0; i < kNewTokens; ++i) {
      batch.clear();
      for (int s = 0; s < n_seq; ++s) {
        const std::span<const float> own(logits.data() + static_cast<size_t>(s) * vocab, vocab);
        generated[s].push_back(samplers[s]->Sample(own, generated[s]));
        const int pos = static_cast<int>(prompts[s].size()) + i;
        batch.push_back({std::span<const int32_t>(&generated[s].back(), 1), *caches[s], pos, 1});
      }
      logits = model->ForwardBatch(batch, activations.get());
    }

    int mismatches = 0;
    for (int s = 0; s < n_seq; ++s) {
      std::printf("sequence %d:", s);
      for (int32_t id : generated[s]) std::printf(" %d", id);
      const bool same = generated[s] == GenerateAlone(*model, prompts[s]);
      std::printf("%s\n", same ? "" : "  (differs from the sequence decoded alone)");
      mismatches += !same;
    }
    return mismatches == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
