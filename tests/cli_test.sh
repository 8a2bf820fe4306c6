#!/usr/bin/env bash
# End-to-end checks of the bitnet CLI on tiny synthetic models.
#   cli_test.sh BITNET SIMPLE_GENERATE TOKENIZER_JSON
set -uo pipefail
BITNET="$1"
EXAMPLE="$2"
TOK="${3:-$(dirname "$0")/../models/tokenizer.json}"
[ -f "$TOK" ] || { echo "cli_test: no tokenizer at $TOK (run scripts/fetch_tokenizer.sh)" >&2; exit 1; }
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { local what="$1"; shift; if "$@"; then ok; else fail "$what"; fi; }
expect_error() {  # expect_error "text in the message" bitnet args...
  local want="$1"; shift
  local out
  out=$("$BITNET" "$@" 2>&1 >/dev/null)
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && echo "$out" | grep -q -- "$want"; then ok; else fail "bitnet $* -> rc $rc: $out"; fi
}

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

# --- llama.cpp's 'bitnet' files of the 2B-4T family ---------------------------
# A tq2_0 export renamed so its bitnet-npu.ffn_activation key is unknown: what
# llama.cpp's own converter writes. tiny has GQA and rope theta 500000.
python3 - "$W/tq.gguf" "$W/llamacpp.gguf" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
key = b"bitnet-npu.ffn_activation"
assert b.count(key) == 1
open(sys.argv[2], "wb").write(b.replace(key, b"bitnet-npu.ffn_activatioX"))
PY
info=$("$BITNET" info -m "$W/llamacpp.gguf" 2>&1)
check "info: a 2B-4T-like 'bitnet' file is relu^2 and says why" sh -c "echo \"\$1\" | grep -q 'relu^2 FFN gate (bitnet arch with Llama 3 vocab, GQA, rope theta 500000: the 2B-4T family'" _ "$info"
t=$("$BITNET" generate -m "$W/llamacpp.gguf" --prompt-ids 128000,791 -n 16 --temp 0 --ignore-eos --json 2>/dev/null | ids_of)
check "2B-4T-like 'bitnet' file gives the directory's tokens" [ "$t" = "$a" ]
s=$("$BITNET" generate -m "$W/llamacpp.gguf" --prompt-ids 128000,791 -n 16 --temp 0 --ignore-eos --json --ffn-act silu 2>/dev/null | ids_of)
check "--ffn-act silu changes the tokens" [ -n "$s" -a "$s" != "$a" ]
check "info names the --ffn-act override" sh -c "'$BITNET' info -m '$W/llamacpp.gguf' --ffn-act silu 2>/dev/null | grep -q 'SiLU FFN gate (--ffn-act silu'"
s2=$("$BITNET" generate -m "$W/tiny" --prompt-ids 128000,791 -n 16 --temp 0 --ignore-eos --json --ffn-act silu 2>/dev/null | ids_of)
check "--ffn-act silu on the directory matches the file" [ "$s" = "$s2" ]
"$BITNET" convert "$W/llamacpp.gguf" -o "$W/silu.gguf" --ffn-act silu 2>/dev/null
check "convert --ffn-act records the choice" sh -c "'$BITNET' info -m '$W/silu.gguf' 2>/dev/null | grep -q 'SiLU FFN gate'"
expect_error_early() { local out; out=$("$BITNET" "$@" 2>&1 >/dev/null); local rc=$?; [ $rc -ne 0 ] && [ $rc -lt 128 ] && echo "$out" | grep -q -- "--ffn-act"; }
check "--ffn-act gelu is an error" expect_error_early generate -m "$W/tiny.gguf" --prompt-ids 1 --ffn-act gelu
check "bench --ffn-act gelu is an error" expect_error_early bench -m "$W/tiny.gguf" -p 4 -n 0 -r 1 --ffn-act gelu

# --- llama.cpp habits ----------------------------------------------------------
gen() { "$BITNET" generate -m "$W/tiny.gguf" --prompt-ids 128000,791 -n 2 --temp 0 "$@"; }
for flag in "-ngl 99" "--n-gpu-layers 0" "-fa" "-fa on" "--flash-attn" "-b 512" "-ub 256" "--no-mmap" "--color"; do
  name=${flag%% *}
  case "$name" in --n-gpu-layers) name=-ngl ;; --flash-attn) name=-fa ;; esac
  # shellcheck disable=SC2086
  gen $flag >/dev/null 2>"$W/flag.err"
  rc=$?
  check "generate $flag runs and notes it" sh -c '[ "$1" -eq 0 ] && grep -q -- "$2" "$3"' _ "$rc" "^note: $name has no effect here (" "$W/flag.err"
done
gen --mlock >/dev/null 2>&1
check "--mlock runs (a warning at most)" [ $? -eq 0 ]
gen -ngl 99 -no-cnv >/dev/null 2>"$W/flag.err"
check "generate -no-cnv notes it" grep -q "note: -no-cnv has no effect here" "$W/flag.err"
gen -ngl 99 --log-disable >/dev/null 2>"$W/quiet.err"
check "--log-disable: no notes, device line or timings" [ ! -s "$W/quiet.err" ]
gen >/dev/null 2>"$W/loud.err"
check "without --log-disable there are timings (so the check above can fail)" grep -q "prompt eval" "$W/loud.err"
expect_error "not supported yet" generate -m "$W/tiny.gguf" --prompt-ids 1 --grammar 'root ::= "a"'
expect_error "not supported yet" generate -m "$W/tiny.gguf" --prompt-ids 1 --grammar-file /dev/null
expect_error "not supported yet" generate -m "$W/tiny.gguf" --prompt-ids 1 --json-schema '{}'
expect_error "not supported yet" chat -m "$W/tiny.gguf" --grammar x
expect_error "-ngl" generate -m "$W/tiny.gguf" --prompt-ids 1 -ngl many
expect_error "expects one of on, off" generate -m "$W/tiny.gguf" --prompt-ids 1 --flash-attn=maybe
expect_error "-ub" generate -m "$W/tiny.gguf" --prompt-ids 1 -ub 0
expect_error "plain completion" chat -m "$W/tiny.gguf" -no-cnv
for cmd in generate chat serve bench convert info eval; do
  check "$cmd takes --ffn-act" sh -c "'$BITNET' $cmd --help | grep -q -- '--ffn-act'"
done
printf 'hi\n' | "$BITNET" chat -m "$W/tiny.gguf" -n 2 -ngl 99 -fa -b 64 --color >/dev/null 2>"$W/chatflags.err"
rc=$?
check "chat takes llama-cli's flags with notes" sh -c '[ "$1" -eq 0 ] && grep -q "note: -ngl has no effect" "$2" && grep -q "note: --color has no effect" "$2"' _ "$rc" "$W/chatflags.err"
# -e: the escape becomes a newline, as in llama-cli; without -e it stays two characters.
n_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["n_prompt"])'; }
n_nl=$("$BITNET" tokenize -m "$W/tiny.gguf" --bos -p "$(printf 'Hi\n\n\nthere')" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
n_lit=$("$BITNET" tokenize -m "$W/tiny.gguf" --bos -p 'Hi\n\n\nthere' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
check "test premise: a newline and a literal \\n tokenize differently" [ "$n_nl" != "$n_lit" ]
e=$("$BITNET" generate -m "$W/tiny.gguf" -p 'Hi\n\n\nthere' -e -n 1 --temp 0 --json 2>/dev/null | n_of)
check "-e turns \\n into a newline" [ "$e" = "$n_nl" ]
e=$("$BITNET" generate -m "$W/tiny.gguf" -p 'Hi\n\n\nthere' -n 1 --temp 0 --json 2>/dev/null | n_of)
check "without -e \\n stays literal" [ "$e" = "$n_lit" ]
e=$("$BITNET" generate -m "$W/tiny.gguf" -p 'Hi\x0a\n\x0Athere' --escape -n 1 --temp 0 --json 2>/dev/null | n_of)
check "-e understands \\xHH" [ "$e" = "$n_nl" ]
# -n -1: until the context is full.
n=$("$BITNET" generate -m "$W/tiny.gguf" --prompt-ids 128000,791 -c 16 -n -1 --temp 0 --ignore-eos --json 2>/dev/null | ids_of | tr ',' '\n' | wc -l)
check "generate -n -1 runs to the end of the context (got $n, want 14)" [ "$n" -eq 14 ]
expect_error "-n" generate -m "$W/tiny.gguf" --prompt-ids 1 -n -2
# help CMD, nearest-command suggestion.
check "bitnet help generate = generate --help" [ "$("$BITNET" help generate)" = "$("$BITNET" generate --help)" ]
check "generate --help lists -ngl" sh -c "'$BITNET' generate --help | grep -q -- '-ngl'"
expect_error "did you mean 'generate'" genrate -m x
expect_error "did you mean 'bench'" bnech
expect_error "unknown command 'help-me'" help-me
# chat: /help, --ignore-eos.
printf '/help\n/bye\n' | "$BITNET" chat -m "$W/tiny.gguf" -n 2 >"$W/help.out" 2>"$W/help.err"
check "chat /help lists the commands" sh -c "grep -q '/clear' '$W/help.err' && grep -q '/bye' '$W/help.err' && grep -q '/help' '$W/help.err'"
check "chat /help is not sent to the model" [ ! -s "$W/help.out" ]
printf 'hi\n' | "$BITNET" chat -m "$W/tiny.gguf" -n 6 --temp 0 --ignore-eos >/dev/null 2>"$W/ie.err"
check "chat --ignore-eos gives -n tokens" grep -q "generation:  6 tokens" "$W/ie.err"
# bench: llama-bench's formats and fields, -pg, --progress, model_size, build_commit.
B=("$BITNET" bench -m "$W/tiny.gguf" -p 8 -n 4 -pg 8,4 -r 1 -t 1)
"${B[@]}" -o json >"$W/b.json" 2>/dev/null
check "bench json: llama-bench fields, real model_size and build_commit, the -pg test" python3 - "$W/b.json" <<'PY'
import json, re, sys
rows = json.load(open(sys.argv[1]))
assert [(r["n_prompt"], r["n_gen"]) for r in rows] == [(8, 0), (0, 4), (8, 4)], rows
for r in rows:
    for k in ("build_commit", "backends", "model_filename", "model_type", "model_size", "model_n_params", "n_threads",
              "n_batch", "n_ubatch", "n_gpu_layers", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts"):
        assert k in r, k
    assert re.fullmatch(r"[0-9a-f]{4,}|unknown", r["build_commit"]), r["build_commit"]
    assert r["build_commit"] != "bitnet-npu"
    assert 100000 < r["model_size"] < 200000000, r["model_size"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["test_time"])
PY
"${B[@]}" -o jsonl >"$W/b.jsonl" 2>/dev/null
check "bench jsonl: one object per test" python3 -c '
import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; assert len(rows) == 3 and rows[2]["n_gen"] == 4' "$W/b.jsonl"
"${B[@]}" -o csv >"$W/b.csv" 2>/dev/null
check "bench csv: header and quoted values" python3 -c '
import csv,sys; rows=list(csv.DictReader(open(sys.argv[1]))); assert len(rows) == 3 and rows[0]["build_commit"] and int(rows[0]["model_size"]) > 0 and float(rows[2]["avg_ts"]) > 0
assert open(sys.argv[1]).readline().startswith("build_commit,build_number,")' "$W/b.csv"
"${B[@]}" -o sql >"$W/b.sql" 2>/dev/null
check "bench sql loads into sqlite" python3 -c '
import sqlite3,sys; db=sqlite3.connect(":memory:"); db.executescript(open(sys.argv[1]).read())
assert db.execute("select count(*), max(n_gen) from test").fetchone() == (3, 4)' "$W/b.sql"
"${B[@]}" >"$W/b.md" 2>/dev/null
check "bench md names the -pg test pp8+tg4" grep -q "| pp8+tg4 |" "$W/b.md"
"${B[@]}" --progress -o json >/dev/null 2>"$W/b.err"
check "bench --progress" grep -q "benchmark 3/3: starting" "$W/b.err"
# bench -npl: llama-batched-bench's table and jsonl rows, one per (pp, tg, B).
N=("$BITNET" bench -m "$W/tiny.gguf" -npl 1,3 -npp 4 -ntg 2 -t 1)
"${N[@]}" >"$W/n.md" 2>/dev/null
check "bench -npl md: a row per B" python3 -c '
import sys; rows=[l for l in open(sys.argv[1]) if l.startswith("|") and l.split("|")[1].strip().isdigit()]
assert [l.split("|")[3].strip() for l in rows] == ["1", "3"], rows
assert all(float(l.split("|")[8]) > 0 for l in rows), rows' "$W/n.md"
"${N[@]}" --output-format jsonl >"$W/n.jsonl" 2>/dev/null
check "bench -npl jsonl: llama-batched-bench fields" python3 -c '
import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]
assert [(r["pp"], r["tg"], r["pl"], r["n_kv"]) for r in rows] == [(4, 2, 1, 6), (4, 2, 3, 18)], rows
assert all(r["speed_tg"] > 0 and r["t"] > 0 and "speed_mix" in r for r in rows), rows' "$W/n.jsonl"
expect_error "--output-format: expected md or jsonl, got 'csv'" bench -m "$W/tiny.gguf" -npl 1 --output-format csv
"${B[@]}" -ngl 99 -fa 1 -b 2048 -ub 512 -mmp 0 -o json >/dev/null 2>"$W/b.err"
rc=$?
check "bench takes llama-bench's -ngl -fa -b -ub -mmp" sh -c '[ "$1" -eq 0 ] && grep -q "note: -ngl has no effect here" "$2"' _ "$rc" "$W/b.err"
expect_error "-o" bench -m "$W/tiny.gguf" -o xml
expect_error "-pg" bench -m "$W/tiny.gguf" -pg 512

# --- progress on a terminal only ------------------------------------------------
long_ids="128000$(for i in $(seq 1 299); do printf ',%d' $((i + 100)); done)"
"$BITNET" synth "$W/p1" --preset tiny 2>"$W/p1.err"
"$BITNET" convert "$W/tiny" -o "$W/p1.gguf" 2>"$W/p2.err"
"$BITNET" generate -m "$W/tiny.gguf" --prompt-ids "$long_ids" -n 1 --temp 0 >/dev/null 2>"$W/p3.err"
check "no progress when stderr is not a TTY" sh -c "! grep -q '%' '$W/p1.err' '$W/p2.err' '$W/p3.err' && ! grep -q \"\$(printf '\\r')\" '$W/p1.err' '$W/p2.err' '$W/p3.err'"
if command -v script >/dev/null; then
  tty_run() { script -qec "$1" /dev/null </dev/null 2>&1; }
  out=$(tty_run "'$BITNET' synth '$W/p2' --preset tiny")
  check "synth shows progress on a TTY" sh -c "echo \"\$1\" | grep -q 'synth \[.*%'" _ "$out"
  out=$(tty_run "'$BITNET' convert '$W/tiny' -o '$W/p3.gguf'")
  check "convert shows progress on a TTY" sh -c "echo \"\$1\" | grep -q 'loading \[.*%' && echo \"\$1\" | grep -q \"\$(printf '\\r')loading\"" _ "$out"
  out=$(tty_run "'$BITNET' generate -m '$W/tiny.gguf' --prompt-ids '$long_ids' -n 1 --temp 0")
  check "a long prefill shows progress on a TTY" sh -c "echo \"\$1\" | grep -q 'prompt \[.*100%'" _ "$out"
  out=$(tty_run "'$BITNET' generate -m '$W/tiny.gguf' --prompt-ids 128000,791 -n 1 --temp 0")
  check "a short prompt shows none" sh -c "! echo \"\$1\" | grep -q 'prompt \['" _ "$out"
  a2=$(script -qec "'$BITNET' generate -m '$W/tiny.gguf' --prompt-ids '$long_ids' -n 8 --temp 0 --ignore-eos --json" /dev/null </dev/null 2>/dev/null | grep -o '{"ids".*}' | ids_of)
  b2=$("$BITNET" generate -m "$W/tiny.gguf" --prompt-ids "$long_ids" -n 8 --temp 0 --ignore-eos --json 2>/dev/null | ids_of)
  check "the sliced prefill on a TTY gives the same tokens" [ -n "$b2" -a "$a2" = "$b2" ]
else
  fail "script (util-linux) is needed for the TTY progress checks"
fi

# --- help, version, bad input ------------------------------------------------
for cmd in generate chat serve bench convert info eval tokenize detokenize synth; do
  check "$cmd --help" "$BITNET" "$cmd" --help >/dev/null
done
check "--version" "$BITNET" --version >/dev/null
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
