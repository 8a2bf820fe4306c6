"""generate(): streaming, stop strings, max_tokens, and the CLI's tokens;
tokenize/detokenize/apply_chat_template; python3 -m bitnet_npu.generate vs bitnet chat."""
import json
import os
import subprocess
import sys

import pytest

from conftest import THREADS, load, run_cli

PROMPT = "The capital of France is"


def cli_generate_json(path, *flags):
    p = run_cli("generate", "-m", path, "-p", PROMPT, "-t", THREADS, "--device", "cpu", "--json", *flags)
    return json.loads(p.stdout.decode())


def test_tokenize_detokenize_match_the_cli(tiny, tiny_dir):
    ids = json.loads(run_cli("tokenize", "-m", tiny_dir, "-p", PROMPT, "--bos").stdout)
    assert tiny.tokenize(PROMPT, bos=True) == ids
    assert tiny.detokenize(ids[1:]) == PROMPT
    assert tiny.tokenize("<|eot_id|>", special=True) == [128009]


def test_apply_chat_template_is_the_chat_format(tiny):
    ids = tiny.apply_chat_template([{"role": "system", "content": "You are helpful."},
                                    {"role": "user", "content": "What is the capital of France?"}])
    assert ids == [128000, 2374, 25, 1472, 527, 11190, 13, 128009,
                   1502, 25, 3639, 374, 279, 6864, 315, 9822, 30, 128009, 72803, 25, 220]
    assert tiny.apply_chat_template([("user", "hi")], add_generation_prompt=False)[-1] == 128009


@pytest.mark.parametrize("flags,kw", [
    (["--temp", "0"], dict(temperature=0.0)),
    (["--temp", "0.9", "-s", "7"], dict(temperature=0.9, seed=7)),
    (["-s", "11"], dict(seed=11)),  # the model's own sampling defaults
])
def test_same_tokens_as_bitnet_generate(tiny, tiny_dir, flags, kw):
    ref = cli_generate_json(tiny_dir, "-n", "12", *flags)
    gen = tiny.generate(PROMPT, max_tokens=12, **kw)
    pieces = list(gen)
    assert gen.ids == ref["ids"]
    assert gen.finish_reason == ref["finish_reason"]
    assert gen.seed == ref["seed"] or "-s" not in flags


def test_streams_text_like_the_cli(tiny, tiny_dir):
    p = run_cli("generate", "-m", tiny_dir, "-p", PROMPT, "-n", "16", "--temp", "0", "-t", THREADS,
                "--device", "cpu", "--ignore-eos")
    gen = tiny.generate(PROMPT, max_tokens=16, temperature=0.0, ignore_eos=True)
    pieces = list(gen)
    assert len(pieces) > 1  # streamed, not all at the end
    assert all(isinstance(s, str) for s in pieces)
    assert "".join(pieces) + "\n" == p.stdout.decode("utf-8", "replace")
    assert gen.finish_reason == "length" and len(gen.ids) == 16
    assert gen.stats["n_generated"] == 16 and gen.stats["n_prompt"] == len(tiny.tokenize(PROMPT, bos=True))


@pytest.mark.parametrize("n", [0, 1, 5])
def test_max_tokens(tiny, n):
    gen = tiny.generate(PROMPT, max_tokens=n, temperature=0.0, ignore_eos=True)
    list(gen)
    assert len(gen.ids) == n and gen.finish_reason == "length"


def test_stop_strings_end_the_stream_and_are_not_included(tiny):
    full_gen = tiny.generate(PROMPT, max_tokens=24, temperature=0.0, ignore_eos=True)
    full = "".join(full_gen)
    assert len(full) >= 6, full
    stop = full[len(full) // 2: len(full) // 2 + 2]
    expected = full[: full.find(stop)]
    gen = tiny.generate(PROMPT, max_tokens=24, temperature=0.0, ignore_eos=True, stop=["\x00never", stop])
    text = "".join(gen)
    assert text == expected
    assert gen.finish_reason == "stop"
    assert len(gen.ids) <= len(full_gen.ids)
    assert gen.ids == full_gen.ids[: len(gen.ids)]
    # A single string works too, and a stop string never seen changes nothing.
    assert tiny.generate_text(PROMPT, max_tokens=24, temperature=0.0, ignore_eos=True, stop=stop) == expected
    assert tiny.generate_text(PROMPT, max_tokens=24, temperature=0.0, ignore_eos=True, stop="\x01") == full


def test_prompt_as_ids_and_cache_reuse(tiny):
    ids = tiny.tokenize(PROMPT, bos=True)
    a = tiny.generate(ids, max_tokens=4, temperature=0.0)
    list(a)
    # The next prompt extends the last one: only its new tokens run.
    b = tiny.generate(ids + a.ids, max_tokens=4, temperature=0.0)
    list(b)
    assert b.stats["n_prompt_eval"] < b.stats["n_prompt"]
    tiny.reset()
    c = tiny.generate(ids + a.ids, max_tokens=4, temperature=0.0)
    list(c)
    assert c.stats["n_prompt_eval"] == c.stats["n_prompt"] and c.ids == b.ids


def test_close_and_superseded_streams(tiny):
    gen = tiny.generate(PROMPT, max_tokens=50, temperature=0.0, ignore_eos=True)
    next(gen)
    gen.close()
    assert gen.finish_reason == "cancelled"
    assert list(gen) == []
    first = tiny.generate(PROMPT, max_tokens=50, temperature=0.0, ignore_eos=True)
    next(first)
    second = tiny.generate(PROMPT, max_tokens=2, temperature=0.0)
    with pytest.raises(RuntimeError, match="superseded"):
        next(first)
    list(second)


def test_model_without_tokenizer_streams_ids(tiny_packed_dir):
    model = load(tiny_packed_dir)
    gen = model.generate([1, 2, 3], max_tokens=3, temperature=0.0, ignore_eos=True)
    out = list(gen)
    assert out == gen.ids and all(isinstance(i, int) for i in out)
    with pytest.raises(RuntimeError, match="no tokenizer"):
        model.tokenize("hi")


def run_module(*args, stdin):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "bitnet_npu.generate", *map(str, args)], input=stdin,
                          capture_output=True, timeout=600, env=env)


def test_generate_py_chat_format_matches_bitnet_chat(tiny_dir):
    lines = b"hello there\nwhat is two plus two?\n/clear\nand again\n"
    ref = run_cli("chat", "-m", tiny_dir, "-s", "5", "-n", "10", "-t", THREADS, "--device", "cpu", stdin=lines)
    p = run_module(tiny_dir, "--chat_format", "--sampling", "--seed", "5", "--max_tokens", "10",
                   "--threads", THREADS, "--device", "cpu", stdin=lines)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == ref.stdout
    assert "(conversation cleared)" in p.stderr.decode()


def test_generate_py_greedy_completion_matches_bitnet_generate(tiny_dir):
    ref = run_cli("generate", "-m", tiny_dir, "-p", PROMPT, "-n", "8", "--temp", "0", "-t", THREADS,
                  "--device", "cpu")
    p = run_module(tiny_dir, "--prompt", PROMPT, "--max_tokens", "8", "--threads", THREADS, "--no_kernel",
                   stdin=b"")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == ref.stdout


def test_generate_py_errors_like_the_cli(tmp_path):
    p = run_module(tmp_path / "missing", stdin=b"")
    assert p.returncode == 1
    assert p.stderr.decode().startswith("error: ")
    assert "no such file or directory" in p.stderr.decode()
