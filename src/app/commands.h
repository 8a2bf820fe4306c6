// One function per subcommand; each parses its own flags (argv excludes the
// subcommand name) and returns the process exit code.
#pragma once

namespace bitnet::app {

int RunSynth(int argc, char** argv);
int RunConvert(int argc, char** argv);
int RunInfo(int argc, char** argv);
int RunEval(int argc, char** argv);
int RunGenerate(int argc, char** argv);
int RunTokenize(int argc, char** argv);
int RunDetokenize(int argc, char** argv);
int RunChat(int argc, char** argv);
int RunServe(int argc, char** argv);
int RunBench(int argc, char** argv);
// bench -npl ...: llama-batched-bench's test (bench_batched.cpp).
bool IsBatchedBench(int argc, char** argv);
int RunBatchedBench(int argc, char** argv);

}  // namespace bitnet::app
