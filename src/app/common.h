// Flags shared by every command that runs the model.
#pragma once
#include <string>

#include "app/args.h"
#include "bitnet/bitnet.h"

namespace bitnet::app {

// -m, -t, -c, --device, --xclbin-dir, --output-type, --packed-scale.
void AddModelFlags(Args& args);
Options ModelOptionsFrom(const Args& args);
// -c, or the model's own context when -c is 0, capped at the model's maximum.
int ContextFrom(const Args& args, const Model& model);

// -s, --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n.
void AddSamplingFlags(Args& args);
// Flags given on the command line override the model's own defaults.
SamplingParams SamplingFrom(const Args& args, const Model& model);

// A tokenizer-independent model path: -m or the first positional.
std::string ModelPathFrom(const Args& args);

// Prompt from -p, -f or --prompt-ids (exactly one). BOS is added to text
// unless --no-bos; --special lets special-token text through.
std::vector<int32_t> PromptFrom(const Args& args, const Model& model);

// "prompt eval: ..., eval: ..., ttft ..." the way llama.cpp prints timings.
std::string FormatStats(const GenerationStats& stats);

}  // namespace bitnet::app
