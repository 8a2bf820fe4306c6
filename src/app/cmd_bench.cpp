// bitnet bench: llama-bench's tests (pp N: prompt processing, tg N: token
// generation) and output formats, on any model this engine loads.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
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

// The checkout's short hash at configure time (src/app/CMakeLists.txt).
#ifndef BITNET_BUILD_COMMIT
#define BITNET_BUILD_COMMIT "unknown"
#endif

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
  if (bytes >= 1024.0 * 1024.0 * 1024.0)
    std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  else
    std::snprintf(buf, sizeof(buf), "%.2f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

// llama-bench's test_time: UTC, ISO 8601.
std::string TimeString() {
  const std::time_t t = std::time(nullptr);
  std::tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%FT%TZ", &tm);
  return buf;
}

std::string CpuInfo() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0)
      if (const size_t colon = line.find(": "); colon != std::string::npos) return line.substr(colon + 2);
  return "";
}

std::string TestName(const TestResult& r) {
  if (r.n_prompt > 0 && r.n_gen > 0) return "pp" + std::to_string(r.n_prompt) + "+tg" + std::to_string(r.n_gen);
  return r.n_prompt > 0 ? "pp" + std::to_string(r.n_prompt) : "tg" + std::to_string(r.n_gen);
}

// "12" or "12,34" -> ints >= 1; for llama-bench's list flags that mean nothing here.
void CheckIntList(const Args& args, const std::string& flag, int min_value) {
  if (args.Has(flag)) ParseIntList(args.Str(flag), flag, min_value);
}

}  // namespace

int RunBench(int argc, char** argv) {
  if (IsBatchedBench(argc, argv)) return RunBatchedBench(argc, argv);
  Args args("bench", "-m MODEL [-p 128,512] [-n 128] [-pg 512,128] [-t 1,2] [-r 5] [-o md|csv|json|jsonl|sql]",
            "Measures prompt processing (ppN), token generation (tgN) and both in one run (ppN+tgM) in\n"
            "llama-bench's formats: mean +- standard deviation of tokens/s over -r repetitions, after one warm-up run.\n"
            "With -npl B,...: llama-batched-bench's test instead (bitnet bench -npl 1 --help).");
  args.Value({"-m", "--model"}, "PATH", "model: Hugging Face directory or GGUF file");
  args.Value({"-p", "--n-prompt"}, "N,...", "prompt lengths (0: none)", "512");
  args.Value({"-n", "--n-gen"}, "N,...", "generation lengths (0: none)", "128");
  args.Value({"-pg"}, "PP,TG", "also a prompt of PP tokens then TG generated, timed together (llama-bench's -pg)");
  args.Value({"-t", "--threads"}, "N,...", "thread counts", std::to_string(std::max(1u, std::thread::hardware_concurrency())));
  args.Value({"-r", "--repetitions"}, "N", "repetitions per test", "5");
  args.Value({"-o", "--output"}, "FMT", "md | csv | json | jsonl | sql (llama-bench's formats and field names)", "md");
  args.Switch({"--progress"}, "print each test and repetition on stderr as it starts");
  args.Value({"--device"}, "DEV", "auto | cpu | npu | npu-emu", "auto");
  args.Value({"--output-type"}, "T", "output matrix: auto | bf16 | int8", "auto");
  AddFfnActFlag(args);
  // llama-bench's flags that mean nothing here: accepted (values checked), with a note.
  args.Value({"-ngl", "--n-gpu-layers"}, "N,...", "llama-bench compatibility: no effect (no GPU offload)");
  args.Value({"-fa", "--flash-attn"}, "0|1,...", "llama-bench compatibility: no effect (one attention kernel)");
  args.Value({"-b", "--batch-size"}, "N,...", "llama-bench compatibility: no effect", "2048");
  args.Value({"-ub", "--ubatch-size"}, "N,...", "llama-bench compatibility: no effect", "512");
  args.Value({"-mmp", "--mmap"}, "0|1", "llama-bench compatibility: no effect (GGUF files are always mapped)");
  if (!args.Parse(argc, argv)) return 0;
  const std::string path = ModelPathFrom(args);
  const std::vector<int> prompts = ParseIntList(args.Str("--n-prompt"), "-p", 0);
  const std::vector<int> gens = ParseIntList(args.Str("--n-gen"), "-n", 0);
  const std::vector<int> threads = ParseIntList(args.Str("--threads"), "-t", 1);
  const int reps = args.Int("--repetitions");
  Check(reps >= 1 && reps <= 1000, "-r", "must be between 1 and 1000");
  const std::string fmt = args.Str("--output");
  Check(fmt == "md" || fmt == "csv" || fmt == "json" || fmt == "jsonl" || fmt == "sql", "-o",
        "expected md, csv, json, jsonl or sql, got '" + fmt + "'");
  std::vector<std::pair<int, int>> pg;
  if (args.Has("-pg")) {
    const std::vector<int> v = ParseIntList(args.Str("-pg"), "-pg", 1);
    Check(v.size() == 2, "-pg", "expected PP,TG (e.g. 512,128), got '" + args.Str("-pg") + "'");
    pg.emplace_back(v[0], v[1]);
  }
  CheckIntList(args, "-ngl", 0);
  CheckIntList(args, "-fa", 0);
  CheckIntList(args, "-b", 1);
  CheckIntList(args, "-ub", 1);
  CheckIntList(args, "-mmp", 0);
  const std::pair<const char*, const char*> notes[] = {
      {"-ngl", "no GPU offload: the ternary layers run on the NPU or the CPU, see --device"},
      {"-fa", "there is one attention kernel, nothing to switch"},
      {"-b", "the prompt runs in 128-token chunks whatever the batch size"},
      {"-ub", "the prompt runs in 128-token chunks whatever the batch size"},
      {"-mmp", "GGUF weights are always memory-mapped, read-only"}};
  for (const auto& [flag, why] : notes)
    if (args.Has(flag)) std::fprintf(stderr, "note: %s has no effect here (%s)\n", flag, why);
  const bool progress = args.Has("--progress");

  std::vector<TestResult> results;
  ModelConfig config;
  uint64_t weight_bytes = 0;
  std::vector<std::pair<int, int>> tests;
  for (int p : prompts)
    if (p > 0) tests.emplace_back(p, 0);
  for (int g : gens)
    if (g > 0) tests.emplace_back(0, g);
  tests.insert(tests.end(), pg.begin(), pg.end());
  const size_t n_tests = tests.size() * threads.size();
  for (int t : threads) {
    Options o;
    o.n_threads = t;
    o.device = args.Str("--device");
    o.output_type = args.Str("--output-type");
    o.ffn_act = args.Str("--ffn-act");
    o.verbose = false;
    auto model = Model::Load(path, o);
    config = model->config();
    weight_bytes = model->weight_bytes();
    std::mt19937 rng(1234);
    for (const auto& [n_prompt, n_gen] : tests) {
      const size_t index = results.size() + 1;
      const int ctx = std::min(config.max_context, n_prompt + n_gen + 1);
      TestResult r{n_prompt, n_gen, t, {}, BackendName(model->device_line())};
      // llama-bench's --progress lines, named as it names them.
      if (progress) std::fprintf(stderr, "bench: benchmark %zu/%zu: starting\nbench: benchmark %zu/%zu: warmup prompt run\n", index, n_tests, index, n_tests);
      RunOnce(*model, n_prompt, n_gen, ctx, rng);  // warm-up
      for (int i = 0; i < reps; ++i) {
        if (progress) std::fprintf(stderr, "bench: benchmark %zu/%zu: %s run %d/%d\n", index, n_tests, TestName(r).c_str(), i + 1, reps);
        r.ns.push_back(RunOnce(*model, n_prompt, n_gen, ctx, rng));
      }
      results.push_back(r);
      if (fmt == "md" && !progress) std::fprintf(stderr, ".");
    }
  }
  if (fmt == "md" && !progress) std::fprintf(stderr, "\n");

  const std::string model_type = "bitnet " + std::to_string(config.n_layers) + "L/" + std::to_string(config.hidden);
  const double n_params = static_cast<double>(config.vocab) * config.hidden +
                          static_cast<double>(config.n_layers) *
                              (static_cast<double>(config.hidden) * config.head_dim * (2 * config.n_heads + 2 * config.n_kv_heads) +
                               3.0 * config.hidden * config.ffn);
  struct stat st {};
  const bool is_file = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  const std::string test_time = TimeString();
  const std::string cpu_info = CpuInfo();
  // One row per test, llama-bench's fields in its order (samples only in json / jsonl, as there).
  auto row = [&](const TestResult& r, bool samples) {
    std::vector<double> ts;
    for (double ns : r.ns) ts.push_back(r.TokensPerSecond(ns));
    std::vector<uint64_t> ns_int;
    for (double ns : r.ns) ns_int.push_back(static_cast<uint64_t>(ns));
    nlohmann::ordered_json j = {{"build_commit", BITNET_BUILD_COMMIT},
                                {"build_number", 0},
                                {"cpu_info", cpu_info},
                                {"gpu_info", ""},
                                {"backends", r.backend},
                                {"model_filename", path},
                                {"model_type", model_type},
                                {"model_size", weight_bytes},
                                {"model_n_params", static_cast<uint64_t>(n_params)},
                                {"n_batch", args.Int("-b")},
                                {"n_ubatch", args.Int("-ub")},
                                {"n_threads", r.threads},
                                {"n_gpu_layers", 0},
                                {"flash_attn", false},
                                {"use_mmap", is_file},
                                {"n_prompt", r.n_prompt},
                                {"n_gen", r.n_gen},
                                {"test_time", test_time},
                                {"avg_ns", static_cast<uint64_t>(Mean(r.ns))},
                                {"stddev_ns", static_cast<uint64_t>(StdDev(r.ns))},
                                {"avg_ts", Mean(ts)},
                                {"stddev_ts", StdDev(ts)}};
    if (samples) {
      j["samples_ns"] = ns_int;
      j["samples_ts"] = ts;
    }
    return j;
  };
  auto text = [](const nlohmann::ordered_json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return std::string(v.get<bool>() ? "1" : "0");
    return v.dump();
  };
  if (fmt == "json") {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const TestResult& r : results) rows.push_back(row(r, true));
    std::cout << rows.dump(2) << std::endl;
  } else if (fmt == "jsonl") {
    for (const TestResult& r : results) std::cout << row(r, true).dump() << "\n";
  } else if (fmt == "csv") {
    bool header = true;
    for (const TestResult& r : results) {
      const nlohmann::ordered_json j = row(r, false);
      std::string names, values;
      for (const auto& [k, v] : j.items()) {
        names += (names.empty() ? "" : ",") + k;
        std::string quoted = "\"";
        for (char ch : text(v)) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        values += (values.empty() ? "" : ",") + quoted + "\"";
      }
      if (header) std::cout << names << "\n";
      header = false;
      std::cout << values << "\n";
    }
  } else if (fmt == "sql") {
    bool header = true;
    for (const TestResult& r : results) {
      const nlohmann::ordered_json j = row(r, false);
      if (header) {
        std::cout << "CREATE TABLE IF NOT EXISTS test (\n";
        size_t i = 0;
        for (const auto& [k, v] : j.items())
          std::cout << "  " << k << " "
                    << (v.is_string() ? "TEXT" : v.is_number_float() ? "REAL" : "INTEGER")
                    << (++i < j.size() ? ",\n" : "\n");
        std::cout << ");\n\n";
        header = false;
      }
      std::string names, values;
      for (const auto& [k, v] : j.items()) {
        names += (names.empty() ? "" : ", ") + k;
        std::string quoted = "'";
        for (char ch : text(v)) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
        values += (values.empty() ? "" : ", ") + quoted + "'";
      }
      std::cout << "INSERT INTO test (" << names << ") VALUES (" << values << ");\n";
    }
  } else {
    std::printf("| model | size | params | backend | threads | test | t/s |\n");
    std::printf("| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
    for (const TestResult& r : results) {
      std::vector<double> ts;
      for (double ns : r.ns) ts.push_back(r.TokensPerSecond(ns));
      std::printf("| %s | %s | %.2f B | %s | %d | %s | %.2f ± %.2f |\n", model_type.c_str(),
                  HumanBytes(static_cast<double>(weight_bytes)).c_str(), n_params / 1e9, r.backend.c_str(), r.threads,
                  TestName(r).c_str(), Mean(ts), StdDev(ts));
    }
  }
  return 0;
}

}  // namespace bitnet::app
