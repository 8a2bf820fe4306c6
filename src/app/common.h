// Flags shared by every command that runs the model.
#pragma once
#include <string>

#include "app/args.h"
#include "bitnet/bitnet.h"

namespace bitnet::app {

// What llama.cpp's -b / --batch-size means to a command: nothing (one
// sequence's prompt runs in the forward pass's own chunks), or, for serve, the
// per-step token budget of the batch scheduler (as llama-server's -b).
enum class BatchSizeFlag { kNoEffect, kServeStepBudget };

// -m, -t, -c, --device, --xclbin-dir, --output-type, --packed-scale,
// --kv-type, --ffn-act, and llama.cpp's model flags (AddLlamaModelFlags).
void AddModelFlags(Args& args, BatchSizeFlag batch_size = BatchSizeFlag::kNoEffect);
Options ModelOptionsFrom(const Args& args);

// --ffn-act auto|relu2|silu, for commands that load a model without AddModelFlags.
void AddFfnActFlag(Args& args);

// Flags a script written for llama-cli / llama-server / llama-bench carries:
// -ngl, -fa, -b, -ub, --mlock, --no-mmap, --log-disable. Accepted so the
// script runs; where one means nothing here, a one-line note says so.
void AddLlamaModelFlags(Args& args, BatchSizeFlag batch_size = BatchSizeFlag::kNoEffect);
// After the model is loaded: --mlock locks it in RAM (a warning if the
// system refuses), the others print their note unless --log-disable.
void ApplyLlamaModelFlags(const Args& args, BatchSizeFlag batch_size = BatchSizeFlag::kNoEffect);

// llama-cli's text flags, for generate and chat: --color, -e/--escape,
// -no-cnv, and --grammar / --grammar-file / --json-schema (not supported yet:
// CheckLlamaTextFlags throws for them).
void AddLlamaTextFlags(Args& args);
void CheckLlamaTextFlags(const Args& args);

// llama-cli's -e: \n \r \t \' \" \\ and \xHH become the characters; other
// backslashes stay as they are.
std::string ProcessEscapes(const std::string& text);

// --log-disable given: no notes, no device line, no timings.
bool LogDisabled(const Args& args);
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

}  // namespace bitnet::app
