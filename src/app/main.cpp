// bitnet: the command-line front end. Every subcommand is built on the
// public API in include/bitnet/bitnet.h.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "app/commands.h"
#include "bitnet/bitnet.h"
#include "util/progress.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

const Command kCommands[] = {
    {"generate", bitnet::app::RunGenerate, "generate text from a prompt"},
    {"chat", bitnet::app::RunChat, "interactive chat in the model's format"},
    {"serve", bitnet::app::RunServe, "OpenAI-compatible HTTP server"},
    {"bench", bitnet::app::RunBench, "llama-bench style speed test (ppN / tgN)"},
    {"convert", bitnet::app::RunConvert, "convert a model into one fast GGUF file"},
    {"info", bitnet::app::RunInfo, "show a model's config, tensors and conventions"},
    {"eval", bitnet::app::RunEval, "run token ids and dump the logits of every position"},
    {"tokenize", bitnet::app::RunTokenize, "text -> token ids"},
    {"detokenize", bitnet::app::RunDetokenize, "token ids -> text"},
    {"synth", bitnet::app::RunSynth, "write a random-weight model in the Hugging Face layout"},
};

void PrintUsage(FILE* out) {
  std::fprintf(out, "bitnet %s: BitNet b1.58 inference (W2A8 kernels, NPU with CPU fallback)\n\nusage: bitnet COMMAND [options]\n\ncommands:\n",
               bitnet::Version());
  for (const Command& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.help);
  std::fprintf(out, "\n'bitnet COMMAND --help' or 'bitnet help COMMAND' shows a command's options; 'bitnet --version' the version.\n");
}

// Levenshtein distance, for "did you mean" on a mistyped command.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

const Command* Nearest(const std::string& name) {
  const Command* best = nullptr;
  size_t best_d = 0;
  for (const Command& c : kCommands) {
    const size_t d = EditDistance(name, c.name);
    if (best == nullptr || d < best_d) best = &c, best_d = d;
  }
  // A suggestion only when it is plausibly a typo: about a third of the letters wrong at most.
  return best_d <= std::max<size_t>(2, name.size() / 3) ? best : nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  // Progress lines are for the person at the terminal; Progress itself stays
  // silent when stderr is not one.
  bitnet::EnableProgress(true);
  std::string cmd = argv[1];
  // "bitnet help CMD" is "bitnet CMD --help", as in git.
  std::string help_flag = "--help";
  if (cmd == "help" && argc >= 3) {
    cmd = argv[2];
    argv[2] = help_flag.data();  // run() gets argv + 2: just --help
    argc = 3;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintUsage(stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    std::printf("bitnet %s\n", bitnet::Version());
    return 0;
  }
  for (const Command& c : kCommands) {
    if (cmd != c.name) continue;
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  if (const Command* near = Nearest(cmd); near != nullptr) {
    std::fprintf(stderr, "error: unknown command '%s' (did you mean '%s'?)\n", cmd.c_str(), near->name);
    return 2;
  }
  std::fprintf(stderr, "error: unknown command '%s'\n\n", cmd.c_str());
  PrintUsage(stderr);
  return 2;
}
