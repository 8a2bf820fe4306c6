// bitnet: the command-line front end. Every subcommand is built on the
// public API in include/bitnet/bitnet.h.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "app/commands.h"
#include "bitnet/bitnet.h"

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
  std::fprintf(out, "\n'bitnet COMMAND --help' shows a command's options; 'bitnet --version' the version.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  const std::string cmd = argv[1];
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
  std::fprintf(stderr, "error: unknown command '%s'\n\n", cmd.c_str());
  PrintUsage(stderr);
  return 2;
}
