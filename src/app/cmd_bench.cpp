// bitnet bench: llama-bench's tests (pp N: prompt processing, tg N: token
// generation) and output formats, on any model this engine loads.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <thread>

#include "app/commands.h"
#include "app/common.h"
#include "util/error.h"

namespace bitnet::app {
namespace {

std::vector<int> ParseIntList(const std::string& text, const std::string& flag, int min_value) {
  std::vector<int> out;
  for (int32_t v : ParseIdList(text, flag)) {
    Check(v >= min_value, flag, "values must be >= " + std::to_string(min_value));
    out.push_back(v);
  }
  return out;
}

struct TestResult {
  int n_prompt = 0, n_gen = 0, threads = 0;
  std::vector<double> ns;
  std::string backend;  // one per repetition
  double TokensPerSecond(double sample_ns) const { return (n_prompt + n_gen) * 1e9 / sample_ns; }
};

double Mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }
double StdDev(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = Mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / (v.size() - 1));
}

// Random ids away from the special tokens, like llama-bench's.
std::vector<int32_t> RandomTokens(int n, int vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, std::min(vocab, 128000) - 1);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = dist(rng);
  return ids;
}

double RunOnce(Model& model, int n_prompt, int n_gen, int ctx, std::mt19937& rng) {
  auto cache = model.NewCache(ctx);
  const auto t0 = std::chrono::steady_clock::now();
  if (n_prompt > 0) model.Forward(RandomTokens(n_prompt, model.config().vocab, rng), *cache, 0, 1);
  int pos = n_prompt;
  if (n_gen > 0) {
    // tg measures decode alone, as llama-bench does: n_gen single-token steps.
    std::vector<int32_t> tok = RandomTokens(1, model.config().vocab, rng);
    for (int i = 0; i < n_gen; ++i) {
      model.Forward(tok, *cache, pos++, 1);
      tok[0] = RandomTokens(1, model.config().vocab, rng)[0];
    }
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
}

// "device: cpu (avx2, 2 threads) — ..." -> "cpu (avx2)": threads have their own column.
std::string BackendName(const std::string& device_line) {
  std::string s = device_line.substr(0, device_line.find(" —"));
  if (s.rfind("device: ", 0) == 0) s = s.substr(8);
  if (const size_t comma = s.find(", "); comma != std::string::npos && s.back() == ')') s = s.substr(0, comma) + ")";
  return s;
}

std::string HumanBytes(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

int RunBench(int argc, char** argv) {
  if (IsBatchedBench(argc, argv)) return RunBatchedBench(argc, argv);
  Args args("bench", "-m MODEL [-p 128,512] [-n 128] [-t 1,2] [-r 5] [-o md|json]",
            "Measures prompt processing (ppN) and token generation (tgN) speed in llama-bench's format:\n"
            "mean +- standard deviation of tokens/s over -r repetitions, after one warm-up run.\n"
            "With -npl B,...: llama-batched-bench's test instead (bitnet bench -npl 1 --help).");
  args.Value({"-m", "--model"}, "PATH", "model: Hugging Face directory or GGUF file");
  args.Value({"-p", "--n-prompt"}, "N,...", "prompt lengths (0: none)", "512");
  args.Value({"-n", "--n-gen"}, "N,...", "generation lengths (0: none)", "128");
  args.Value({"-t", "--threads"}, "N,...", "thread counts", std::to_string(std::max(1u, std::thread::hardware_concurrency())));
  args.Value({"-r", "--repetitions"}, "N", "repetitions per test", "5");
  args.Value({"-o", "--output"}, "FMT", "md | json", "md");
  args.Value({"--device"}, "DEV", "auto | cpu | npu | npu-emu", "auto");
  args.Value({"--output-type"}, "T", "output matrix: auto | bf16 | int8", "auto");
  if (!args.Parse(argc, argv)) return 0;
  const std::string path = ModelPathFrom(args);
  const std::vector<int> prompts = ParseIntList(args.Str("--n-prompt"), "-p", 0);
  const std::vector<int> gens = ParseIntList(args.Str("--n-gen"), "-n", 0);
  const std::vector<int> threads = ParseIntList(args.Str("--threads"), "-t", 1);
  const int reps = args.Int("--repetitions");
  Check(reps >= 1 && reps <= 1000, "-r", "must be between 1 and 1000");
  const std::string fmt = args.Str("--output");
  Check(fmt == "md" || fmt == "json", "-o", "expected md or json, got '" + fmt + "'");

  struct stat st {};
  double file_bytes = 0;
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) file_bytes = static_cast<double>(st.st_size);

  std::vector<TestResult> results;
  ModelConfig config;
  for (int t : threads) {
    Options o;
    o.n_threads = t;
    o.device = args.Str("--device");
    o.output_type = args.Str("--output-type");
    o.verbose = false;
    auto model = Model::Load(path, o);
    config = model->config();
    std::mt19937 rng(1234);
    auto run = [&](int n_prompt, int n_gen) {
      const int ctx = std::min(config.max_context, n_prompt + n_gen + 1);
      TestResult r{n_prompt, n_gen, t, {}, BackendName(model->device_line())};
      RunOnce(*model, n_prompt, n_gen, ctx, rng);  // warm-up
      for (int i = 0; i < reps; ++i) r.ns.push_back(RunOnce(*model, n_prompt, n_gen, ctx, rng));
      results.push_back(r);
      if (fmt == "md") std::fprintf(stderr, ".");
    };
    for (int p : prompts)
      if (p > 0) run(p, 0);
    for (int g : gens)
      if (g > 0) run(0, g);
  }
  if (fmt == "md") std::fprintf(stderr, "\n");

  const std::string model_type = "bitnet " + std::to_string(config.n_layers) + "L/" + std::to_string(config.hidden);
  const double n_params = static_cast<double>(config.vocab) * config.hidden +
                          static_cast<double>(config.n_layers) *
                              (static_cast<double>(config.hidden) * config.head_dim * (2 * config.n_heads + 2 * config.n_kv_heads) +
                               3.0 * config.hidden * config.ffn);
  if (fmt == "json") {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const TestResult& r : results) {
      std::vector<double> ts;
      for (double ns : r.ns) ts.push_back(r.TokensPerSecond(ns));
      std::vector<uint64_t> ns_int;
      for (double ns : r.ns) ns_int.push_back(static_cast<uint64_t>(ns));
      rows.push_back({{"build_commit", "bitnet-npu"},
                      {"build_number", 0},
                      {"backends", r.backend},
                      {"model_filename", path},
                      {"model_type", model_type},
                      {"model_size", static_cast<uint64_t>(file_bytes)},
                      {"model_n_params", static_cast<uint64_t>(n_params)},
                      {"n_threads", r.threads},
                      {"n_prompt", r.n_prompt},
                      {"n_gen", r.n_gen},
                      {"test_time", std::time(nullptr)},
                      {"avg_ns", static_cast<uint64_t>(Mean(r.ns))},
                      {"stddev_ns", static_cast<uint64_t>(StdDev(r.ns))},
                      {"avg_ts", Mean(ts)},
                      {"stddev_ts", StdDev(ts)},
                      {"samples_ns", ns_int},
                      {"samples_ts", ts}});
    }
    std::cout << rows.dump(2) << std::endl;
    return 0;
  }
  std::printf("| model | size | params | backend | threads | test | t/s |\n");
  std::printf("| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
  for (const TestResult& r : results) {
    std::vector<double> ts;
    for (double ns : r.ns) ts.push_back(r.TokensPerSecond(ns));
    const std::string test = r.n_prompt > 0 ? "pp" + std::to_string(r.n_prompt) : "tg" + std::to_string(r.n_gen);
    std::printf("| %s | %s | %.2f B | %s | %d | %s | %.2f ± %.2f |\n", model_type.c_str(),
                file_bytes > 0 ? HumanBytes(file_bytes).c_str() : "-", n_params / 1e9,
                r.backend.c_str(), r.threads, test.c_str(), Mean(ts), StdDev(ts));
  }
  return 0;
}

}  // namespace bitnet::app
