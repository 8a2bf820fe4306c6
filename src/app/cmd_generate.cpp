// generate, tokenize, detokenize.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/common.h"
#include "util/error.h"

namespace bitnet::app {
namespace {

void AddPromptFlags(Args& args) {
  args.Value({"-p", "--prompt"}, "TEXT", "prompt text");
  args.Value({"-f", "--file"}, "FILE", "read the prompt from a file");
  args.Value({"--prompt-ids"}, "IDS", "prompt as comma-separated token ids (no tokenizer needed)");
  args.Switch({"--no-bos"}, "do not add <|begin_of_text|> before a text prompt");
  args.Switch({"--special"}, "let special-token text in the prompt (e.g. <|eot_id|>) become special tokens");
}

const char* FinishName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kContextFull: return "context_full";
  }
  return "?";
}

}  // namespace

int RunGenerate(int argc, char** argv) {
  Args args("generate", "-m MODEL (-p TEXT | -f FILE | --prompt-ids IDS) [-n N] [sampling flags]",
            "Generates a continuation of the prompt, streaming it to stdout; timings go to stderr.");
  AddModelFlags(args);
  AddPromptFlags(args);
  AddSamplingFlags(args);
  AddLlamaTextFlags(args);
  args.Value({"-n", "--n-predict"}, "N", "tokens to generate (-1: until end of text or the context is full)", "128");
  args.Switch({"--ignore-eos"}, "keep generating past end-of-text / end-of-turn");
  args.Switch({"--json"}, "print one JSON object (ids, text, timings) instead of streaming");
  if (!args.Parse(argc, argv)) return 0;
  const int n_predict = args.Int("--n-predict");
  Check(n_predict >= -1, "-n", "must be >= -1 (-1: until end of text or the context is full)");
  CheckLlamaTextFlags(args);
  if (args.Has("--no-conversation") && !LogDisabled(args))
    std::fprintf(stderr, "note: -no-cnv has no effect here (generate is plain completion; bitnet chat is the conversation mode)\n");
  const Options options = ModelOptionsFrom(args);
  auto model = Model::Load(ModelPathFrom(args), options);
  ApplyLlamaModelFlags(args);
  const SamplingParams sampling = SamplingFrom(args, *model);
  const std::vector<int32_t> prompt = PromptFrom(args, *model);
  const int ctx = ContextFrom(args, *model);
  Check(static_cast<int>(prompt.size()) < ctx, "prompt",
        std::to_string(prompt.size()) + " tokens do not fit the context of " + std::to_string(ctx) + " (raise -c)");
  Generator gen(*model, ctx);
  Generator::Params params;
  const int room = ctx - static_cast<int>(prompt.size());
  params.max_tokens = n_predict < 0 ? room : std::min(n_predict, room);
  params.ignore_eos = args.Has("--ignore-eos");
  params.sampling = sampling;
  const bool json = args.Has("--json");
  const bool text_out = model->has_tokenizer();

  std::unique_ptr<TextStream> stream = text_out ? std::make_unique<TextStream>(*model) : nullptr;
  GenerationResult result;
  if (params.max_tokens > 0) {
    result = gen.Run(prompt, params, [&](int32_t id) {
      if (!json && text_out) {
        const std::string out = stream->Push(id);
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fflush(stdout);
      } else if (!json && !text_out) {
        std::printf("%d ", id);
        std::fflush(stdout);
      }
      return true;
    });
  }
  if (json) {
    nlohmann::ordered_json j;
    j["ids"] = result.ids;
    if (text_out) {
      std::vector<int32_t> shown;
      for (int32_t id : result.ids)
        if (params.ignore_eos || !model->IsEndOfGeneration(id)) shown.push_back(id);
      j["text"] = model->Detokenize(shown);
    }
    j["finish_reason"] = FinishName(result.finish);
    j["n_prompt"] = result.stats.n_prompt;
    j["n_generated"] = result.stats.n_generated;
    j["prompt_ms"] = result.stats.prompt_ms;
    j["prompt_tokens_per_s"] = result.stats.prompt_tps();
    j["ttft_ms"] = result.stats.ttft_ms;
    j["gen_tokens_per_s"] = result.stats.gen_tps();
    j["seed"] = sampling.seed;
    j["device"] = model->device_line();
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  } else {
    const std::string rest = text_out ? stream->Flush() : "";
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::printf("\n");
    std::fflush(stdout);
    if (!LogDisabled(args)) std::fprintf(stderr, "\n%s", result.stats.Format().c_str());
  }
  return 0;
}

int RunTokenize(int argc, char** argv) {
  Args args("tokenize", "-m MODEL -p TEXT [--bos] [--special]", "Prints the token ids of TEXT as a JSON array.");
  args.Value({"-m", "--model"}, "PATH", "model: Hugging Face directory or GGUF file");
  args.Value({"-p", "--prompt"}, "TEXT", "text to tokenize");
  args.Value({"-f", "--file"}, "FILE", "read the text from a file");
  args.Switch({"--bos"}, "prepend <|begin_of_text|>");
  args.Switch({"--special"}, "let special-token text become special tokens");
  if (!args.Parse(argc, argv)) return 0;
  Options o;
  o.verbose = false;
  o.n_threads = 1;
  auto model = Model::Load(ModelPathFrom(args), o);
  std::string text = args.Str("--prompt");
  if (args.Has("--file")) {
    std::ifstream in(args.Str("--file"), std::ios::binary);
    Check(in.good(), args.Str("--file"), "cannot open");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    Check(args.Has("--prompt"), "-p", "no text given");
  }
  std::vector<int32_t> ids;
  if (args.Has("--bos")) ids.push_back(model->config().bos_id);
  const std::vector<int32_t> body = model->Tokenize(text, args.Has("--special"));
  ids.insert(ids.end(), body.begin(), body.end());
  std::cout << nlohmann::json(ids).dump() << std::endl;
  return 0;
}

int RunDetokenize(int argc, char** argv) {
  Args args("detokenize", "-m MODEL --ids 9906,1917", "Prints the text of the token ids.");
  args.Value({"-m", "--model"}, "PATH", "model: Hugging Face directory or GGUF file");
  args.Value({"--ids"}, "IDS", "comma-separated token ids");
  if (!args.Parse(argc, argv)) return 0;
  Check(args.Has("--ids"), "--ids", "no token ids given");
  const std::vector<int32_t> ids = ParseIdList(args.Str("--ids"), "--ids");
  Options o;
  o.verbose = false;
  o.n_threads = 1;
  auto model = Model::Load(ModelPathFrom(args), o);
  const std::string text = model->Detokenize(ids);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::printf("\n");
  return 0;
}

}  // namespace bitnet::app
