#!/bin/sh
# End-to-end: a tiny random model generates the same greedy tokens on the CPU
# backend and through the NPU emulator. Usage: cli_emu_vs_cpu.sh BITNET_BIN WORK_DIR
set -eu
bin=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
"$bin" synth "$work/model" --preset tiny >/dev/null
run() {
  "$bin" generate -m "$work/model" --prompt-ids 128000,791 -n 16 --temp 0 --json --device "$1" 2>"$work/$1.err" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["ids"])'
}
cpu=$(run cpu)
emu=$(run npu-emu)
echo "cpu:     $cpu"
echo "npu-emu: $emu"
if [ -z "$cpu" ] || [ "$cpu" != "$emu" ]; then
  echo "token ids differ between --device cpu and --device npu-emu" >&2
  cat "$work/npu-emu.err" >&2
  exit 1
fi
