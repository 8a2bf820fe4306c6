// synth, convert, info, eval: commands about the model itself.
#include <cstdio>
#include <iostream>

#include "app/commands.h"
#include "app/common.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace bitnet::app {

int RunSynth(int argc, char** argv) {
  Args args("synth", "OUT_DIR [--preset tiny|2b] [--seed N] [--packed] [--tokenizer FILE]",
            "Writes a random-weight BitNet model in the exact Hugging Face layout. Its weights are random,\n"
            "so the text it generates is noise: it is for tests and speed measurements.");
  args.AllowPositional(1);
  args.Value({"--preset"}, "NAME", "tiny | 2b", "tiny");
  args.Value({"--seed"}, "N", "random seed", "1");
  args.Switch({"--packed"}, "write the packed form (U8 codes + weight_scale) instead of bf16");
  args.Value({"--linear-class"}, "C", "packed scale convention: autobitlinear | bitlinear", "autobitlinear");
  args.Value({"--tokenizer"}, "FILE", "tokenizer.json to copy into the model directory");
  args.Value({"--shards"}, "N", "split the weights over N safetensors files", "1");
  args.Value({"--vocab"}, "N", "override the vocabulary size (0: the preset's)", "0");
  args.Value({"-t", "--threads"}, "N", "threads (0: all cores)", "0");
  if (!args.Parse(argc, argv)) return 0;
  Check(args.positional().size() == 1, "synth", "give the output directory (see bitnet synth --help)");
  SynthOptions o;
  o.preset = args.Str("--preset");
  o.seed = static_cast<uint64_t>(args.Int64("--seed"));
  o.packed = args.Has("--packed");
  o.linear_class = args.Str("--linear-class");
  o.tokenizer = args.Str("--tokenizer");
  o.shards = args.Int("--shards");
  o.vocab = args.Int("--vocab");
  o.n_threads = args.Int("--threads");
  WriteSyntheticModel(args.positional()[0], o);
  std::fprintf(stderr, "wrote a synthetic %s model (%s, random weights: its text is noise) to %s\n", o.preset.c_str(),
               o.packed ? "packed" : "bf16", args.positional()[0].c_str());
  return 0;
}

int RunConvert(int argc, char** argv) {
  Args args("convert", "INPUT -o OUTPUT.gguf",
            "Converts a Hugging Face directory (bf16 or packed) or a GGUF file into this engine's single-file\n"
            "GGUF: packed ternary weights, scales, norms, embeddings, config and tokenizer; loading it is a memory map.");
  args.AllowPositional(1);
  args.Value({"-o", "--output"}, "FILE", "output GGUF file");
  args.Value({"--packed-scale"}, "MODE", "packed HF weight_scale: auto | multiply | divide", "auto");
  args.Value({"--format"}, "F",
             "native (this engine) | i2_s (bitnet.cpp) | tq2_0, tq1_0 (llama.cpp: computes a 2B-4T with SiLU, wrongly)",
             "native");
  AddFfnActFlag(args);
  if (!args.Parse(argc, argv)) return 0;
  Check(args.positional().size() == 1, "convert", "give the input model (see bitnet convert --help)");
  Check(args.Has("--output"), "-o", "no output file given");
  ConvertOptions o;
  o.packed_scale = args.Str("--packed-scale");
  o.format = args.Str("--format");
  o.ffn_act = args.Str("--ffn-act");
  ConvertModel(args.positional()[0], args.Str("--output"), o);
  std::fprintf(stderr, "wrote %s\n", args.Str("--output").c_str());
  return 0;
}

int RunInfo(int argc, char** argv) {
  Args args("info", "-m MODEL", "Prints the model's config, tensors, bytes per format and the conventions detected.");
  AddModelFlags(args);
  if (!args.Parse(argc, argv)) return 0;
  Options o = ModelOptionsFrom(args);
  o.verbose = false;
  auto model = Model::Load(ModelPathFrom(args), o);
  ApplyLlamaModelFlags(args);
  std::cout << model->Describe() << model->device_line() << "\n";
  return 0;
}

int RunEval(int argc, char** argv) {
  Args args("eval", "-m MODEL --ids 128000,791,6864 [--dump-logits FILE]",
            "Runs the ids through the prefill path and writes the logits of every position as float32\n"
            "little-endian, [n_ids][vocab]. Uses the exact paths unless told otherwise: the float output matrix\n"
            "(--output-type bf16) and, for a cache sized to the ids, a float32 KV cache.");
  AddModelFlags(args);
  args.Value({"--ids"}, "IDS", "comma-separated token ids");
  args.Value({"--dump-logits"}, "FILE", "write all logits here");
  if (!args.Parse(argc, argv)) return 0;
  Check(args.Has("--ids"), "--ids", "no token ids given");
  const std::vector<int32_t> ids = ParseIdList(args.Str("--ids"), "--ids");
  Options options = ModelOptionsFrom(args);
  // eval is for checking numbers: the float output matrix unless asked otherwise.
  if (!args.Has("--output-type")) options.output_type = "bf16";
  auto model = Model::Load(ModelPathFrom(args), options);
  ApplyLlamaModelFlags(args);
  // The cache holds just these ids unless -c says otherwise: a small cache
  // also keeps the exact float32 KV type (see docs/PERFORMANCE.md).
  const int ctx = args.Int("--ctx-size") == 0 ? static_cast<int>(ids.size()) : ContextFrom(args, *model);
  Check(static_cast<int>(ids.size()) <= std::min(ctx, model->config().max_context), "--ids",
        std::to_string(ids.size()) + " ids do not fit the context of " +
            std::to_string(std::min(ctx, model->config().max_context)));
  auto cache = model->NewCache(ctx);
  const std::vector<float> logits = model->Forward(ids, *cache, 0, static_cast<int>(ids.size()));
  if (args.Has("--dump-logits")) {
    AtomicFileWriter out(args.Str("--dump-logits"));
    out.Write(logits.data(), logits.size() * sizeof(float));
    out.Commit();
  }
  const int vocab = model->config().vocab;
  for (size_t t = 0; t < ids.size(); ++t) {
    const float* row = logits.data() + t * vocab;
    int best = 0;
    for (int v = 1; v < vocab; ++v)
      if (row[v] > row[best]) best = v;
    std::printf("position %zu: id %d -> argmax %d (logit %.4f)\n", t, ids[t], best, row[best]);
  }
  return 0;
}

}  // namespace bitnet::app
