#include "app/common.h"

#include <sys/mman.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "util/error.h"

namespace bitnet::app {

void AddModelFlags(Args& args, BatchSizeFlag batch_size) {
  args.Value({"-m", "--model"}, "PATH", "model: Hugging Face directory or GGUF file");
  args.Value({"-t", "--threads"}, "N", "threads (0: all cores)", "0");
  args.Value({"-c", "--ctx-size"}, "N", "context length (0: the model's, at most 4096)", "0");
  args.Value({"--device"}, "DEV", "auto | cpu | npu | npu-emu", "auto");
  args.Value({"--xclbin-dir"}, "DIR", "NPU xclbins (default $BITNET_XCLBIN_DIR or build/npu)");
  args.Value({"--output-type"}, "T", "output matrix: auto | bf16 | int8", "auto");
  args.Value({"--packed-scale"}, "MODE", "packed HF weight_scale: auto | multiply | divide", "auto");
  args.Value({"--kv-type"}, "T", "KV cache: auto (f16 once an f32 cache would pass 64 MiB) | f16 | f32", "auto");
  AddFfnActFlag(args);
  AddLlamaModelFlags(args, batch_size);
}

void AddFfnActFlag(Args& args) {
  args.Value({"--ffn-act"}, "A",
             "FFN gate: auto (the file's; llama.cpp 'bitnet' files of the 2B-4T family: relu2) | relu2 | silu", "auto");
}

void AddLlamaModelFlags(Args& args, BatchSizeFlag batch_size) {
  args.Value({"-ngl", "--n-gpu-layers", "--gpu-layers"}, "N", "llama.cpp compatibility: no effect (no GPU offload)");
  args.OptionalValue({"-fa", "--flash-attn"}, {"on", "off", "auto", "1", "0"}, "on",
                     "llama.cpp compatibility: no effect (one attention kernel)");
  if (batch_size == BatchSizeFlag::kServeStepBudget)
    args.Value({"-b", "--batch-size"}, "N",
               "most tokens one forward step runs: every slot's next token, then prompt chunks (>= --parallel)",
               "256");
  else
    args.Value({"-b", "--batch-size"}, "N", "llama.cpp compatibility: no effect (prefill runs 128-token chunks)");
  args.Value({"-ub", "--ubatch-size"}, "N", "llama.cpp compatibility: no effect (prefill runs 128-token chunks)");
  args.Switch({"--mlock"}, "lock the model in RAM (mlockall), as llama.cpp's --mlock");
  args.Switch({"--no-mmap"}, "llama.cpp compatibility: no effect (GGUF weights are always memory-mapped)");
  args.Switch({"--log-disable"}, "no device line, notes or timings on stderr");
}

bool LogDisabled(const Args& args) { return args.Has("--log-disable"); }

namespace {

void Note(const Args& args, const std::string& flag, const std::string& why) {
  if (!LogDisabled(args)) std::fprintf(stderr, "note: %s has no effect here (%s)\n", flag.c_str(), why.c_str());
}

}  // namespace

void ApplyLlamaModelFlags(const Args& args, BatchSizeFlag batch_size) {
  if (args.Has("-ngl")) Note(args, "-ngl", "no GPU offload: the ternary layers run on the NPU or the CPU, see --device");
  if (args.Has("-fa")) Note(args, "-fa", "there is one attention kernel, nothing to switch");
  if (args.Has("-b") && batch_size == BatchSizeFlag::kNoEffect) Note(args, "-b", "the prompt runs in 128-token chunks whatever the batch size");
  if (args.Has("-ub")) Note(args, "-ub", "the prompt runs in 128-token chunks whatever the batch size");
  if (args.Has("--no-mmap")) Note(args, "--no-mmap", "GGUF weights are always memory-mapped, read-only");
  // After loading, so the mapped weights are among the pages locked. Only the
  // current pages: MCL_FUTURE would make later allocations fail at the limit.
  if (args.Has("--mlock") && mlockall(MCL_CURRENT) != 0)
    std::fprintf(stderr, "warning: --mlock: could not lock the model in RAM (%s; see ulimit -l)\n", std::strerror(errno));
}

void AddLlamaTextFlags(Args& args) {
  args.Switch({"--color"}, "llama.cpp compatibility: no effect (output is plain text)");
  args.Switch({"-e", "--escape"}, "process escapes (\\n, \\t, \\xHH, ...) in the prompt, as llama-cli's -e");
  args.Switch({"-no-cnv", "--no-conversation"}, "llama.cpp compatibility: generate is plain completion already");
  args.Value({"--grammar"}, "GBNF", "not supported yet");
  args.Value({"--grammar-file"}, "FILE", "not supported yet");
  args.Value({"-j", "--json-schema"}, "SCHEMA", "not supported yet");
}

void CheckLlamaTextFlags(const Args& args) {
  for (const char* flag : {"--grammar", "--grammar-file", "--json-schema"})
    if (args.Has(flag)) throw Error(std::string(flag) + ": not supported yet (no constrained sampling in this engine)");
  if (args.Has("--color")) Note(args, "--color", "output is plain text");
}

std::string ProcessEscapes(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\' || i + 1 == in.size()) {
      out += in[i];
      continue;
    }
    const char c = in[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case 'x':
        if (i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) != 0 &&
            std::isxdigit(static_cast<unsigned char>(in[i + 2])) != 0) {
          out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
          i += 2;
          break;
        }
        [[fallthrough]];
      default:  // llama-cli keeps an unknown escape as written
        out += '\\';
        out += c;
    }
  }
  return out;
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
  o.ffn_act = args.Str("--ffn-act");
  o.verbose = !LogDisabled(args);
  // Validated though unused, so a typo in a copied script still says so.
  if (args.Has("-ngl")) Check(args.Int("-ngl") >= -1, "-ngl", "must be >= -1");
  for (const char* flag : {"-b", "-ub"})
    if (args.Has(flag)) Check(args.Int(flag) >= 1, flag, "must be >= 1");
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
  p.Validate();
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
  if (args.Has("--escape")) text = ProcessEscapes(text);
  std::vector<int32_t> ids;
  if (!args.Has("--no-bos")) ids.push_back(model.config().bos_id);
  const std::vector<int32_t> body = model.Tokenize(text, args.Has("--special"));
  ids.insert(ids.end(), body.begin(), body.end());
  Check(!ids.empty(), "prompt", "is empty");
  return ids;
}


}  // namespace bitnet::app
