#!/usr/bin/env bash
# The main job: set up, build, and generate.
#   scripts/quickstart.sh            no model given: makes a 2B-shaped model with RANDOM weights
#                                     (its text is noise) and reports decode speed
#   scripts/quickstart.sh MODEL      a real model (HF directory or GGUF file): real text
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

model="${1:-}"
prompt="${PROMPT:-The capital of France is}"
if [ -z "$model" ]; then
  model=models/synthetic-2b.gguf
  if [ ! -f "$model" ]; then
    echo "quickstart: no model given; making a 2B-shaped synthetic model with RANDOM weights (text will be noise)"
    build/bitnet synth models/synthetic-2b --preset 2b --packed --tokenizer models/tokenizer.json
    build/bitnet convert models/synthetic-2b -o "$model"
    rm -rf models/synthetic-2b
  fi
  echo "quickstart: generating with $model (random weights: expect noise, look at the tokens/s)"
fi
build/bitnet generate -m "$model" -p "$prompt" -n 64 -t "$(nproc)" --temp 0.6 -s 42
