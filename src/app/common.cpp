#include "app/common.h"

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

#include "util/error.h"

namespace bitnet::app {

void AddModelFlags(Args& args) {
  args.Value({"-m", "--model"}, "PATH", "model: Hugging Face directory or GGUF file");
  args.Value({"-t", "--threads"}, "N", "threads (0: all cores)", "0");
  args.Value({"-c", "--ctx-size"}, "N", "context length (0: the model's, at most 4096)", "0");
  args.Value({"--device"}, "DEV", "auto | cpu | npu | npu-emu", "auto");
  args.Value({"--xclbin-dir"}, "DIR", "NPU xclbins (default $BITNET_XCLBIN_DIR or build/npu)");
  args.Value({"--output-type"}, "T", "output matrix: auto | bf16 | int8", "auto");
  args.Value({"--packed-scale"}, "MODE", "packed HF weight_scale: auto | multiply | divide", "auto");
  args.Value({"--kv-type"}, "T", "KV cache: auto (f16 once an f32 cache would pass 64 MiB) | f16 | f32", "auto");
}

Options ModelOptionsFrom(const Args& args) {
  Options o;
  o.n_threads = args.Int("--threads");
  Check(o.n_threads >= 0 && o.n_threads <= 512, "-t", "thread count must be between 0 and 512");
  o.device = args.Str("--device");
  o.xclbin_dir = args.Str("--xclbin-dir");
  o.output_type = args.Str("--output-type");
  o.packed_scale = args.Str("--packed-scale");
  o.kv_type = args.Str("--kv-type");
  return o;
}

int ContextFrom(const Args& args, const Model& model) {
  const int c = args.Int("--ctx-size");
  const int max = model.config().max_context;
  Check(c >= 0 && c <= max, "-c", "context length " + std::to_string(c) + " is outside [1, " + std::to_string(max) + "]");
  return c == 0 ? max : c;
}

void AddSamplingFlags(Args& args) {
  args.Value({"-s", "--seed"}, "N", "random seed (-1: random)", "-1");
  args.Value({"--temp"}, "T", "temperature, 0: greedy (default: the model's generation config, 0.6)");
  args.Value({"--top-k"}, "N", "top-k sampling, 0: off (default: the model's, else 40)");
  args.Value({"--top-p"}, "P", "top-p sampling, 1: off (default: the model's generation config, 0.9)");
  args.Value({"--min-p"}, "P", "min-p sampling (0: off)", "0");
  args.Value({"--repeat-penalty"}, "F", "repetition penalty (1: off)", "1.0");
  args.Value({"--repeat-last-n"}, "N", "tokens the penalty looks back over (-1: all)", "64");
}

SamplingParams SamplingFrom(const Args& args, const Model& model) {
  SamplingParams p = model.DefaultSampling();
  const int64_t seed = args.Int64("--seed");
  p.seed = seed < 0 ? static_cast<uint64_t>(std::random_device{}()) : static_cast<uint64_t>(seed);
  if (args.Has("--temp")) p.temperature = args.Float("--temp");
  if (args.Has("--top-k")) p.top_k = args.Int("--top-k");
  if (args.Has("--top-p")) p.top_p = args.Float("--top-p");
  p.min_p = args.Float("--min-p");
  p.repeat_penalty = args.Float("--repeat-penalty");
  p.repeat_last_n = args.Int("--repeat-last-n");
  Check(p.temperature >= 0, "--temp", "must be >= 0");
  Check(p.top_k >= 0, "--top-k", "must be >= 0");
  Check(p.top_p > 0 && p.top_p <= 1, "--top-p", "must be in (0, 1]");
  Check(p.min_p >= 0 && p.min_p <= 1, "--min-p", "must be in [0, 1]");
  Check(p.repeat_penalty > 0, "--repeat-penalty", "must be > 0");
  return p;
}

std::string ModelPathFrom(const Args& args) {
  if (args.Has("--model")) return args.Str("--model");
  throw Error("-m: no model given (a Hugging Face directory or a GGUF file)");
}

std::vector<int32_t> PromptFrom(const Args& args, const Model& model) {
  const int given = args.Has("--prompt") + args.Has("--file") + args.Has("--prompt-ids");
  Check(given == 1, "prompt", "give exactly one of -p TEXT, -f FILE or --prompt-ids IDS");
  if (args.Has("--prompt-ids")) return ParseIdList(args.Str("--prompt-ids"), "--prompt-ids");
  std::string text;
  if (args.Has("--file")) {
    std::ifstream in(args.Str("--file"), std::ios::binary);
    Check(in.good(), args.Str("--file"), "cannot open prompt file");
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  } else {
    text = args.Str("--prompt");
  }
  std::vector<int32_t> ids;
  if (!args.Has("--no-bos")) ids.push_back(model.config().bos_id);
  const std::vector<int32_t> body = model.Tokenize(text, args.Has("--special"));
  ids.insert(ids.end(), body.begin(), body.end());
  Check(!ids.empty(), "prompt", "is empty");
  return ids;
}

std::string FormatStats(const GenerationStats& s) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "prompt eval: %d tokens (%d reused from cache) in %.1f ms, %.2f tokens/s\n"
                "generation:  %d tokens, %.2f tokens/s\n"
                "time to first token: %.1f ms\n",
                s.n_prompt_eval, s.n_prompt - s.n_prompt_eval, s.prompt_ms, s.prompt_tps(), s.n_generated,
                s.gen_tps(), s.ttft_ms);
  return buf;
}

}  // namespace bitnet::app
