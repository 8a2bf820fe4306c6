// Interactive chat in the model's own format, appending each turn to the KV cache.
// libedit (BSD licensed) through its readline-compatible header: line editing and history.
#include <editline/readline.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "app/commands.h"
#include "app/common.h"
#include "util/error.h"

namespace bitnet::app {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSigint(int) { g_interrupted = true; }

// One line of user input; false at end of input.
bool ReadLine(bool interactive, std::string* line) {
  if (interactive) {
    char* raw = readline("> ");
    if (raw == nullptr) return false;
    *line = raw;
    if (!line->empty()) add_history(raw);
    std::free(raw);
    return true;
  }
  return static_cast<bool>(std::getline(std::cin, *line));
}

}  // namespace

int RunChat(int argc, char** argv) {
  Args args("chat", "-m MODEL [-sys TEXT] [sampling flags]",
            "Multi-turn chat in the model's own format. Commands: /help lists them, /clear starts over, /bye quits;\n"
            "Ctrl-C stops the current reply. With stdin not a terminal, each line is one user message.");
  AddModelFlags(args);
  AddSamplingFlags(args);
  args.Value({"-sys", "--system"}, "TEXT", "system message");
  args.Value({"-n", "--n-predict"}, "N", "most tokens per reply (-1: until end of turn or context)", "-1");
  args.Switch({"--ignore-eos"}, "keep replying past end-of-turn (until -n or the context is full)");
  AddLlamaTextFlags(args);
  if (!args.Parse(argc, argv)) return 0;
  CheckLlamaTextFlags(args);
  Check(!args.Has("--no-conversation"), "-no-cnv",
        "chat is the conversation mode; for plain completion use bitnet generate");
  const int n_predict = args.Int("--n-predict");
  Check(n_predict >= -1, "-n", "must be >= -1 (-1: until end of turn or the context is full)");
  auto model = Model::Load(ModelPathFrom(args), ModelOptionsFrom(args));
  ApplyLlamaModelFlags(args);
  const bool quiet = LogDisabled(args);
  const SamplingParams sampling = SamplingFrom(args, *model);
  const int ctx = ContextFrom(args, *model);
  const bool interactive = isatty(STDIN_FILENO) != 0;
  const int32_t eot = model->Tokenize("<|eot_id|>", true).back();

  std::vector<int32_t> start;
  if (args.Has("--system")) {
    const std::string text = args.Has("--escape") ? ProcessEscapes(args.Str("--system")) : args.Str("--system");
    const ChatTurn sys{"system", text};
    start = model->EncodeChat(std::span<const ChatTurn>(&sys, 1), false);
  } else {
    start.push_back(model->config().bos_id);
  }
  std::vector<int32_t> conversation = start;
  Generator gen(*model, ctx);

  struct sigaction sa {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  if (interactive) std::fprintf(stderr, "chat: /help lists commands, /clear starts over, /bye quits, Ctrl-C stops a reply\n");

  std::string line;
  while (ReadLine(interactive, &line)) {
    if (line == "/bye") break;
    if (line == "/help") {
      std::fprintf(stderr,
                   "commands:\n"
                   "  /help   this list\n"
                   "  /clear  start a new conversation (the system message stays)\n"
                   "  /bye    quit (as does end of input, Ctrl-D)\n"
                   "Ctrl-C stops the current reply; any other line is your message.\n");
      continue;
    }
    if (line == "/clear") {
      conversation = start;
      gen.Reset();
      std::fprintf(stderr, "(conversation cleared)\n");
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const ChatTurn user{"user", line};
    std::vector<int32_t> turn = model->EncodeChat(std::span<const ChatTurn>(&user, 1), true);
    turn.erase(turn.begin());  // drop <|begin_of_text|>: the conversation already starts with it
    std::vector<int32_t> prompt = conversation;
    prompt.insert(prompt.end(), turn.begin(), turn.end());
    if (static_cast<int>(prompt.size()) + 1 >= ctx) {
      std::fprintf(stderr, "context full: %zu of %d tokens used; type /clear to start a new conversation\n",
                   prompt.size(), ctx);
      continue;
    }
    Generator::Params params;
    params.sampling = sampling;
    params.ignore_eos = args.Has("--ignore-eos");
    const int room = ctx - static_cast<int>(prompt.size());
    params.max_tokens = n_predict < 0 ? room : std::min(n_predict, room);
    g_interrupted = false;
    TextStream stream(*model);
    GenerationResult result = gen.Run(prompt, params, [&](int32_t id) {
      const std::string text = stream.Push(id);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return !g_interrupted.load();
    });
    const std::string rest = stream.Flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::printf("\n");
    std::fflush(stdout);
    conversation = prompt;
    conversation.insert(conversation.end(), result.ids.begin(), result.ids.end());
    if (result.ids.empty() || !model->IsEndOfGeneration(result.ids.back())) conversation.push_back(eot);
    if (result.finish == FinishReason::kCancelled) std::fprintf(stderr, "(reply stopped)\n");
    if (result.finish == FinishReason::kContextFull || static_cast<int>(conversation.size()) + 8 >= ctx)
      std::fprintf(stderr, "context full: %zu of %d tokens used; type /clear to start a new conversation\n",
                   conversation.size(), ctx);
    if (!quiet) std::fprintf(stderr, "%s", result.stats.Format().c_str());
  }
  return 0;
}

}  // namespace bitnet::app
