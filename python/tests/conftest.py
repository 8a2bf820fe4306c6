"""Fixtures: tiny random-weight models made by `bitnet synth`, and the CLI.

Environment (set by CTest; defaults fit a checkout built into build/):
  PYTHONPATH       build/python (the bitnet_npu package)
  BITNET_CLI       build/bitnet
  BITNET_TOKENIZER models/tokenizer.json
"""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = os.environ.get("BITNET_CLI", str(ROOT / "build" / "bitnet"))
TOKENIZER = os.environ.get("BITNET_TOKENIZER", str(ROOT / "models" / "tokenizer.json"))
THREADS = "2"


def run_cli(*args, stdin=None, check=True):
    """Runs bitnet; returns the CompletedProcess (bytes stdout, text stderr)."""
    p = subprocess.run([CLI, *map(str, args)], input=stdin, capture_output=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"bitnet {' '.join(map(str, args))} failed: {p.stderr.decode()}")
    return p


def cli_error(*args):
    """The message of a failing CLI command (its 'error: ' line)."""
    p = run_cli(*args, check=False)
    assert p.returncode != 0, f"bitnet {args} unexpectedly succeeded"
    lines = [l for l in p.stderr.decode().splitlines() if l.startswith("error: ")]
    assert lines, p.stderr.decode()
    return lines[-1][len("error: "):]


@pytest.fixture(scope="session")
def cli():
    if not os.path.exists(CLI):
        pytest.skip(f"{CLI} is not built")
    return CLI


@pytest.fixture(scope="session")
def has_tokenizer():
    return os.path.exists(TOKENIZER)


@pytest.fixture(scope="session")
def tiny_dir(cli, has_tokenizer, tmp_path_factory):
    """A tiny bf16 model in the Hugging Face layout, with the real tokenizer."""
    if not has_tokenizer:
        pytest.skip(f"{TOKENIZER} is missing (scripts/fetch_tokenizer.sh)")
    d = tmp_path_factory.mktemp("tiny")
    run_cli("synth", d, "--preset", "tiny", "--seed", "3", "--tokenizer", TOKENIZER, "-t", THREADS)
    return str(d)


@pytest.fixture(scope="session")
def tiny_packed_dir(cli, tmp_path_factory):
    """A tiny packed model (U8 codes + weight_scale), small vocabulary, no tokenizer."""
    d = tmp_path_factory.mktemp("tiny_packed")
    run_cli("synth", d, "--preset", "tiny", "--seed", "5", "--packed", "--vocab", "1000", "-t", THREADS)
    return str(d)


@pytest.fixture(scope="session")
def tiny_gguf(cli, tiny_dir, tmp_path_factory):
    """tiny_dir converted to this engine's GGUF."""
    f = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    run_cli("convert", tiny_dir, "-o", f)
    return str(f)


def load(path, **kw):
    from bitnet_npu import ModelArgs, Transformer

    kw.setdefault("threads", int(THREADS))
    kw.setdefault("use_kernel", False)
    return Transformer.from_pretrained(path, ModelArgs(**kw))


@pytest.fixture(scope="session")
def tiny(tiny_dir):
    return load(tiny_dir)
