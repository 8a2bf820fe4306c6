// bitnet bench -npl 1,2,4,8: llama-batched-bench's test. For each B in -npl,
// B sequences each run a prompt of -npp tokens (all prompts in one batched
// forward: PP), then generate -ntg tokens each, one batched forward per step
// (TG). A last step runs one new -npp prompt while the other B - 1 sequences
// decode, the load a continuously batching server sees (MIX).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "app/args.h"
#include "app/commands.h"
#include "app/common.h"
#include "util/error.h"

namespace bitnet::app {
namespace {

std::vector<int> PositiveList(const std::string& text, const std::string& flag) {
  std::vector<int> out;
  for (int32_t v : ParseIdList(text, flag)) {
    Check(v >= 1, flag, "values must be >= 1");
    out.push_back(v);
  }
  return out;
}

std::vector<int32_t> RandomIds(int n, int vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, std::min(vocab, 128000) - 1);  // away from special tokens
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) id = dist(rng);
  return ids;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct BatchedResult {
  int pp = 0, tg = 0, b = 0;
  double t_pp = 0, t_tg = 0;  // seconds
  double t_mix = 0;           // one step: a new prompt of pp tokens while b - 1 sequences decode
  int n_kv() const { return b * (pp + tg); }
};

BatchedResult RunBatched(Model& model, Activations& activations, int pp, int tg, int b, std::mt19937& rng) {
  const int vocab = model.config().vocab;
  BatchedResult r{pp, tg, b};
  std::vector<std::unique_ptr<KvCache>> caches;          // [b]
  std::vector<std::vector<int32_t>> prompts;             // [b][pp]
  for (int s = 0; s < b; ++s) {
    caches.push_back(model.NewCache(pp + tg + 1));
    prompts.push_back(RandomIds(pp, vocab, rng));
  }
  std::vector<BatchItem> batch;
  for (int s = 0; s < b; ++s) batch.push_back({prompts[s], *caches[s], 0, 1});
  auto start = std::chrono::steady_clock::now();
  model.ForwardBatch(batch, &activations);
  r.t_pp = SecondsSince(start);

  std::vector<std::vector<int32_t>> next(static_cast<size_t>(b));  // [b][1] each sequence's next token
  start = std::chrono::steady_clock::now();
  for (int step = 0; step < tg; ++step) {
    batch.clear();
    for (int s = 0; s < b; ++s) {
      next[s] = RandomIds(1, vocab, rng);
      batch.push_back({next[s], *caches[s], pp + step, 1});
    }
    model.ForwardBatch(batch, &activations);
  }
  r.t_tg = SecondsSince(start);

  // Sequence 0 starts over with a new prompt; the others decode one more token.
  auto new_cache = model.NewCache(pp + 1);
  const std::vector<int32_t> new_prompt = RandomIds(pp, vocab, rng);
  batch.clear();
  batch.push_back({new_prompt, *new_cache, 0, 1});
  for (int s = 1; s < b; ++s) {
    next[s] = RandomIds(1, vocab, rng);
    batch.push_back({next[s], *caches[s], pp + tg, 1});
  }
  start = std::chrono::steady_clock::now();
  model.ForwardBatch(batch, &activations);
  r.t_mix = SecondsSince(start);
  return r;
}

}  // namespace

bool IsBatchedBench(int argc, char** argv) {
  for (int i = 0; i < argc; ++i)
    if (std::string(argv[i]) == "-npl" || std::string(argv[i]) == "--n-parallel") return true;
  return false;
}

int RunBatchedBench(int argc, char** argv) {
  Args args("bench", "-m MODEL -npl 1,2,4,8 [-npp 128] [-ntg 128] [-t N] [--output-format md|jsonl]",
            "llama-batched-bench's test: B parallel sequences, each a prompt of PP tokens (run as one batch),\n"
            "then TG generated tokens each (one batched forward per step). S_TG is the aggregate decode\n"
            "speed of all B sequences. MIX: one step running a new PP prompt while B - 1 sequences decode.");
  args.Value({"-m", "--model"}, "PATH", "model: Hugging Face directory or GGUF file");
  args.Value({"-npl", "--n-parallel"}, "B,...", "numbers of parallel sequences", "1,2,4,8");
  args.Value({"-npp", "--n-prompt"}, "N,...", "prompt tokens per sequence", "128");
  args.Value({"-ntg", "--n-gen"}, "N,...", "generated tokens per sequence", "128");
  args.Value({"-t", "--threads"}, "N", "threads", std::to_string(std::max(1u, std::thread::hardware_concurrency())));
  args.Value({"--device"}, "DEV", "auto | cpu | npu | npu-emu", "auto");
  args.Value({"--output-type"}, "T", "output matrix: auto | bf16 | int8", "auto");
  args.Value({"--output-format"}, "FMT",
             "md | jsonl (llama-batched-bench's: one object per row with its field names, plus t_mix, speed_mix)",
             "md");
  if (!args.Parse(argc, argv)) return 0;
  const std::string format = args.Str("--output-format");
  Check(format == "md" || format == "jsonl", "--output-format", "expected md or jsonl, got '" + format + "'");
  const bool jsonl = format == "jsonl";
  const std::string path = ModelPathFrom(args);
  const std::vector<int> parallel = PositiveList(args.Str("--n-parallel"), "-npl");
  const std::vector<int> prompts = PositiveList(args.Str("--n-prompt"), "-npp");
  const std::vector<int> gens = PositiveList(args.Str("--n-gen"), "-ntg");

  Options o;
  o.n_threads = args.Int("--threads");
  o.device = args.Str("--device");
  o.output_type = args.Str("--output-type");
  o.verbose = false;
  auto model = Model::Load(path, o);
  auto activations = model->NewActivations();
  std::mt19937 rng(1234);
  for (int pp : prompts)
    for (int tg : gens)
      Check(pp + tg + 1 <= model->config().max_context, "-npp/-ntg",
            "prompt plus generation exceeds the context of " + std::to_string(model->config().max_context));
  RunBatched(*model, *activations, std::min(prompts[0], 16), 2, 1, rng);  // warm-up: pages, pool threads

  if (!jsonl) {
    std::printf("\nmain: n_threads = %d, device = %s\n\n", o.n_threads, model->device_line().c_str());
    std::printf("|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s "
                "| T_MIX s | S_MIX t/s |\n");
    std::printf("|-------|--------|------|--------|----------|----------|----------|----------|----------|----------"
                "|---------|-----------|\n");
  }
  for (int pp : prompts)
    for (int tg : gens)
      for (int b : parallel) {
        const BatchedResult r = RunBatched(*model, *activations, pp, tg, b, rng);
        const double t = r.t_pp + r.t_tg;
        const double speed_pp = r.b * r.pp / r.t_pp, speed_tg = r.b * r.tg / r.t_tg;
        const double speed_mix = (pp + (b - 1)) / r.t_mix;
        if (jsonl)
          std::printf("{\"n_threads\": %d, \"n_threads_batch\": %d, \"pp\": %d, \"tg\": %d, \"pl\": %d, "
                      "\"n_kv\": %d, \"t_pp\": %f, \"speed_pp\": %f, \"t_tg\": %f, \"speed_tg\": %f, \"t\": %f, "
                      "\"speed\": %f, \"t_mix\": %f, \"speed_mix\": %f}\n",
                      o.n_threads, o.n_threads, r.pp, r.tg, r.b, r.n_kv(), r.t_pp, speed_pp, r.t_tg, speed_tg, t,
                      r.n_kv() / t, r.t_mix, speed_mix);
        else
          std::printf("| %5d | %6d | %4d | %6d | %8.3f | %8.2f | %8.3f | %8.2f | %8.3f | %8.2f | %7.3f | %9.2f |\n",
                      r.pp, r.tg, r.b, r.n_kv(), r.t_pp, speed_pp, r.t_tg, speed_tg, t, r.n_kv() / t, r.t_mix,
                      speed_mix);
        std::fflush(stdout);
      }
  return 0;
}

}  // namespace bitnet::app
