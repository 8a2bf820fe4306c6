#!/usr/bin/env bash
# End-to-end checks of the bitnet CLI on tiny synthetic models.
#   cli_test.sh BITNET SIMPLE_GENERATE SHARED_DATA_DIR
set -uo pipefail
BITNET="$1"
EXAMPLE="$2"
DATA="${3:-}"
TOK="$DATA/bitnet-b1.58-2B-4T/tokenizer.json"
[ -f "$TOK" ] || TOK="$(dirname "$0")/../models/tokenizer.json"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { local what="$1"; shift; if "$@"; then ok; else fail "$what"; fi; }

# --- a model with the real tokenizer ---------------------------------------
"$BITNET" synth "$W/tiny" --preset tiny --seed 3 --tokenizer "$TOK" 2>/dev/null || fail "synth tiny"
"$BITNET" convert "$W/tiny" -o "$W/tiny.gguf" 2>/dev/null || fail "convert"
"$BITNET" convert "$W/tiny" -o "$W/tiny2.gguf" 2>/dev/null
check "convert twice gives identical bytes" cmp -s "$W/tiny.gguf" "$W/tiny2.gguf"

# eval writes [n][vocab] float32 logits.
"$BITNET" eval -m "$W/tiny" --ids 128000,791,6864 --dump-logits "$W/logits.bin" -t 2 >/dev/null 2>&1 || fail "eval"
check "eval logits size" [ "$(stat -c %s "$W/logits.bin")" -eq $((3 * 128256 * 4)) ]
"$BITNET" eval -m "$W/tiny.gguf" --ids 128000,791,6864 --dump-logits "$W/logits2.bin" >/dev/null 2>&1
check "eval: HF directory and converted GGUF give identical logits" cmp -s "$W/logits.bin" "$W/logits2.bin"

# generate --json, greedy: same ids from the directory and the GGUF, 16 of them.
ids_of() { python3 -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))'; }
a=$("$BITNET" generate -m "$W/tiny" --prompt-ids 128000,791 -n 16 --temp 0 --ignore-eos --json 2>/dev/null | ids_of)
b=$("$BITNET" generate -m "$W/tiny.gguf" --prompt-ids 128000,791 -n 16 --temp 0 --ignore-eos --json 2>/dev/null | ids_of)
check "generate gives 16 ids" [ "$(echo "$a" | tr ',' '\n' | wc -l)" -eq 16 ]
check "generate: directory and GGUF agree" [ "$a" = "$b" ]
c=$("$BITNET" generate -m "$W/tiny.gguf" --prompt-ids 128000,791 -n 16 --temp 0.8 -s 5 --ignore-eos --json 2>/dev/null | ids_of)
d=$("$BITNET" generate -m "$W/tiny.gguf" --prompt-ids 128000,791 -n 16 --temp 0.8 -s 5 --ignore-eos --json 2>/dev/null | ids_of)
check "same seed, same sampled ids" [ -n "$c" ] && [ "$c" = "$d" ]
json=$("$BITNET" generate -m "$W/tiny.gguf" -p "Hello" -n 4 --temp 0 --json 2>/dev/null)
check "generate --json has text and timings" python3 -c '
import json,sys; j=json.loads(sys.argv[1]); assert "text" in j and j["prompt_tokens_per_s"] >= 0 and j["ttft_ms"] > 0 and j["n_prompt"] == 2' "$json"

# The example program on the public API gives the CLI's greedy tokens.
ex=$("$EXAMPLE" "$W/tiny.gguf" 128000,791 2>/dev/null)
first8=$(echo "$a" | cut -d, -f1-8)
check "example program matches the CLI" [ "$ex" = "$first8" ]

# tokenize / detokenize round trip, special tokens not injectable by default.
check "tokenize" [ "$("$BITNET" tokenize -m "$W/tiny.gguf" -p "Hello world!")" = "[9906,1917,0]" ]
check "tokenize --bos" [ "$("$BITNET" tokenize -m "$W/tiny" -p "Hello world!" --bos)" = "[128000,9906,1917,0]" ]
check "special text is plain text by default" [ "$("$BITNET" tokenize -m "$W/tiny" -p "<|eot_id|>" | grep -c 128009)" -eq 0 ]
check "--special makes it special" [ "$("$BITNET" tokenize -m "$W/tiny" -p "<|eot_id|>" --special)" = "[128009]" ]
check "detokenize" [ "$("$BITNET" detokenize -m "$W/tiny.gguf" --ids 9906,1917,0)" = "Hello world!" ]

# Piped chat: two turns; turn two runs only the new tokens.
printf 'Hi there\nsecond\n' | "$BITNET" chat -m "$W/tiny.gguf" -n 4 --temp 0 >"$W/chat.out" 2>"$W/chat.err"
check "chat exits cleanly" [ $? -eq 0 ]
check "chat prints two replies" [ "$(wc -l <"$W/chat.out")" -eq 2 ]
n_user=$("$BITNET" tokenize -m "$W/tiny.gguf" -p "User: second" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
n_asst=$("$BITNET" tokenize -m "$W/tiny.gguf" -p "Assistant: " | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
# New in turn two: the reply's last token (sampled, never run), <|eot_id|>, "User: second", <|eot_id|>, "Assistant: ".
want=$((1 + 1 + n_user + 1 + n_asst))
got=$(grep "prompt eval" "$W/chat.err" | sed -n 2p | sed 's/prompt eval: \([0-9]*\) tokens (\([0-9]*\) reused.*/\1/')
reused=$(grep "prompt eval" "$W/chat.err" | sed -n 2p | sed 's/prompt eval: \([0-9]*\) tokens (\([0-9]*\) reused.*/\2/')
check "chat turn two runs only new tokens (got $got, want $want)" [ "$got" = "$want" ]
check "chat turn two reuses the cache" [ "${reused:-0}" -gt 0 ]
printf 'a\n/clear\nb\n/bye\nnever\n' | "$BITNET" chat -m "$W/tiny.gguf" -n 2 --temp 0 >"$W/chat2.out" 2>"$W/chat2.err"
check "/clear and /bye" [ "$(wc -l <"$W/chat2.out")" -eq 2 ] && grep -q "cleared" "$W/chat2.err"
printf 'hello there\n' | "$BITNET" chat -m "$W/tiny.gguf" -c 8 -n 2 >/dev/null 2>"$W/chat3.err"
check "chat says when the context is full" grep -q "context full" "$W/chat3.err"

# Exports to other engines' GGUF layouts load back with the same greedy tokens.
"$BITNET" convert "$W/tiny" -o "$W/tq.gguf" --format tq2_0 2>"$W/tq.err"
check "tq2_0 export warns about upstream llama.cpp's SiLU" grep -q "SiLU" "$W/tq.err"
check "info on a llama.cpp-style file names the relu^2 choice" sh -c "'$BITNET' info -m '$W/tq.gguf' 2>/dev/null | grep -q 'relu^2'"
t=$("$BITNET" generate -m "$W/tq.gguf" --prompt-ids 128000,791 -n 16 --temp 0 --ignore-eos --json 2>/dev/null | ids_of)
check "tq2_0 export gives the directory's tokens" [ "$t" = "$a" ]
"$BITNET" convert "$W/tiny" -o "$W/i2s.gguf" --format i2_s 2>/dev/null
check "i2_s export is a bitnet-25 file" sh -c "'$BITNET' info -m '$W/i2s.gguf' 2>/dev/null | grep -q 'bitnet-25'"
check "i2_s export generates" sh -c "'$BITNET' generate -m '$W/i2s.gguf' --prompt-ids 128000,791 -n 4 --temp 0 --json >/dev/null 2>&1"

# --- help, version, bad input ------------------------------------------------
for cmd in generate chat serve bench convert info eval tokenize detokenize synth; do
  check "$cmd --help" "$BITNET" "$cmd" --help >/dev/null
done
check "--version" "$BITNET" --version >/dev/null
expect_error() {  # expect_error "text in the message" bitnet args...
  local want="$1"; shift
  local out
  out=$("$BITNET" "$@" 2>&1 >/dev/null)
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && echo "$out" | grep -q -- "$want"; then ok; else fail "bitnet $* -> rc $rc: $out"; fi
}
expect_error "unknown option '--bogus'" generate -m "$W/tiny.gguf" --bogus
expect_error "unknown command" frobnicate
expect_error "-n" generate -m "$W/tiny.gguf" --prompt-ids 1 -n abc
expect_error "outside the vocabulary" eval -m "$W/tiny.gguf" --ids 1,999999
expect_error "context" eval -m "$W/tiny.gguf" --ids 1,2,3,4,5 -c 4
expect_error "/nonexistent" generate -m /nonexistent --prompt-ids 1
expect_error "--device" generate -m "$W/tiny.gguf" --prompt-ids 1 --device tpu
head -c 1000 "$W/tiny.gguf" > "$W/trunc.gguf"
expect_error "trunc.gguf" info -m "$W/trunc.gguf"
expect_error "not a token id" detokenize -m "$W/tiny.gguf" --ids 1,x
expect_error "exactly one" generate -m "$W/tiny.gguf" -p a --prompt-ids 1
rm -f "$W/none.gguf"
expect_error "config.json" convert "$W" -o "$W/none.gguf"
check "failed convert leaves no file" [ ! -e "$W/none.gguf" ]

# Outputs that exist and are not regular files are refused, never replaced
# (as root, -o /dev/full used to become a regular file).
mkdir -p "$W/outdir"
expect_error "outdir: output exists and is a directory" convert "$W/tiny" -o "$W/outdir"
check "directory output left alone" [ -d "$W/outdir" ]
mkfifo "$W/out.fifo"
expect_error "a FIFO" convert "$W/tiny" -o "$W/out.fifo" --format tq2_0
check "FIFO output left alone" [ -p "$W/out.fifo" ]
expect_error "a FIFO" eval -m "$W/tiny.gguf" --ids 1,2 --dump-logits "$W/out.fifo"
check "no temporary files beside refused outputs" [ -z "$(ls "$W" | grep '\.tmp\.')" ]
if [ "$(id -u)" -eq 0 ] && mknod "$W/null" c 1 3 2>/dev/null; then
  expect_error "a character device" convert "$W/tiny" -o "$W/null"
  check "device node left a character device" [ -c "$W/null" ]
fi
# Side files that are FIFOs or directories: an error, not a hang.
cp -r "$W/tiny" "$W/fifo_model"
rm "$W/fifo_model/config.json" && mkfifo "$W/fifo_model/config.json"
out=$(timeout 20 "$BITNET" info -m "$W/fifo_model" 2>&1 >/dev/null)
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "$out" | grep -q "config.json: is a FIFO"; then ok; else fail "info on a FIFO config.json -> rc $rc: $out"; fi
rm "$W/fifo_model/config.json" && mkdir "$W/fifo_model/config.json"
expect_error "config.json: is a directory" info -m "$W/fifo_model"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
